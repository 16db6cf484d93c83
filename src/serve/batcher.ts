/**
 * The micro-batcher: concurrent requests to one model wait in a bounded queue for up to `maxWaitMs` or until
 * `maxBatch` samples are queued, then run as one batch; each request gets its own samples' results back.
 *
 * Requests carry a group key (their threshold vector): the runner takes one threshold vector per call, so a
 * batch only ever holds requests of one group. The oldest queued request's group forms the next batch, filled
 * with that group's requests in arrival order; other groups keep their place. A request larger than `maxBatch`
 * is split over several batches.
 *
 * Decisions are taken in a `setImmediate` callback, after the event loop has read every request that arrived
 * while the previous batch ran (a batch blocks the thread), so those requests join the next batch.
 *
 * @module
 */
import type { Batch } from '../engine/types.ts';
import type { ExitResult } from '../infer/types.ts';
import { BranchyServeError } from './errors.ts';

/** How the batcher behaves. */
export interface BatcherOptions {
  /** Most samples in one batch. */
  maxBatch: number;
  /** Longest a request waits for others before its batch runs, in ms. */
  maxWaitMs: number;
  /** Most samples waiting (not yet running); beyond that requests are refused with 503. */
  queueLimit: number;
  /**
   * Refuse a request (503) when the queue ahead of it, at recent batches' run time, would take longer than this,
   * in ms. Set from the SLO, so that overload the operating points cannot absorb is shed rather than
   * queued past the SLO. Default: no such limit.
   */
  maxQueueDelayMs?: number;
}

/**
 * One run of the model over a batch of one group. `modelMs`, when given, is how long the model itself took where
 * it ran (an inference thread): the batcher judges queue delays by it rather than by the time until this thread
 * heard back, which a busy HTTP thread stretches.
 */
export type BatchRun<Info> = (x: Batch, group: string) => Promise<{ results: ExitResult[]; info: Info; modelMs?: number }>;

/** What a request gets back. */
export interface BatchedAnswer<Info> {
  results: ExitResult[];
  /** What the run of the request's (last) batch reported. */
  info: Info;
  /** Samples in that batch. */
  batchSize: number;
  /** From arrival to its first batch's start, and that batch's run time, in ms. */
  queueMs: number;
  runMs: number;
}

/** What the batcher reports after each batch, for metrics and the load-adaptive controller. */
export interface BatchReport {
  size: number;
  runMs: number;
  /** Per request finished by this batch: from arrival to its answer, in ms. */
  latenciesMs: number[];
  /** Per request started in this batch: from arrival to the batch's start, in ms. */
  queueDelaysMs: number[];
  results: ExitResult[];
}

interface Pending<Info> {
  data: Float32Array;
  count: number;
  group: string;
  arrivedAt: number;
  startedAt?: number;
  taken: number;
  done: number;
  failed: boolean;
  results: ExitResult[];
  resolve(answer: BatchedAnswer<Info>): void;
  reject(error: unknown): void;
}

interface Slice<Info> {
  request: Pending<Info>;
  from: number;
  count: number;
}

/** A micro-batcher for one model. */
export class MicroBatcher<Info> {
  private queue: Pending<Info>[] = [];
  private queued = 0;
  private running = false;
  private immediate?: NodeJS.Immediate;
  private timer?: NodeJS.Timeout;
  private closing = false;
  private hurry = false;
  private idleWaiters: (() => void)[] = [];
  /** Decayed sums over recent batches of 1, size, size², run time and size × run time: the fit of {@link runModel}. */
  private fit = { n: 0, size: 0, size2: 0, ms: 0, sizeMs: 0 };

  private readonly options: BatcherOptions;
  private readonly sampleShape: readonly number[];
  private readonly run: BatchRun<Info>;
  private readonly onBatch: (report: BatchReport) => void;
  private readonly now: () => number;

  constructor(
    options: BatcherOptions,
    sampleShape: readonly number[],
    run: BatchRun<Info>,
    onBatch: (report: BatchReport) => void = () => {},
    now: () => number = () => performance.now(),
  ) {
    this.options = options;
    this.sampleShape = sampleShape;
    this.run = run;
    this.onBatch = onBatch;
    this.now = now;
  }

  /**
   * A batch's run time as `perBatch + perSample × size`, fitted by least squares to recent batches. A per-sample
   * rate alone would charge the fixed cost of a batch (handing it over, the engine's calls per stage) to each of
   * its samples: small batches, as a lightly fed queue makes, would predict long queues and shed requests the model
   * could take.
   */
  private runModel(): { perBatch: number; perSample: number } {
    const { n, size, size2, ms, sizeMs } = this.fit;
    if (n === 0 || size === 0) return { perBatch: 0, perSample: 0 };
    const det = n * size2 - size * size;
    if (det > 1e-9 * n * size2) {
      const perSample = (n * sizeMs - size * ms) / det;
      const perBatch = (ms - perSample * size) / n;
      if (perSample >= 0 && perBatch >= 0) return { perBatch, perSample };
      if (perSample < 0) return { perBatch: ms / n, perSample: 0 };
    }
    // One batch size only (or a fit through the origin): its time per sample.
    return { perBatch: 0, perSample: ms / size };
  }

  /**
   * How long the samples queued now would take to run, in ms, at recent batches' speed: the batches they fill
   * (up to `maxBatch` each) at their fitted run time.
   */
  expectedQueueDelayMs(samples = this.queued): number {
    if (samples === 0) return 0;
    const { perBatch, perSample } = this.runModel();
    return Math.ceil(samples / this.options.maxBatch) * perBatch + samples * perSample;
  }

  /** Samples waiting for a batch. */
  get queuedSamples(): number {
    return this.queued;
  }

  /**
   * The error a request would be refused with now because the queue ahead of it
   * ({@link expectedQueueDelayMs}) would take longer than `maxQueueDelayMs`; `undefined` when it would be taken. Lets the server refuse
   * before reading a request's body.
   */
  overloaded(): BranchyServeError | undefined {
    const { maxQueueDelayMs } = this.options;
    if (maxQueueDelayMs === undefined) return undefined;
    // Only the samples ahead count: a request to an empty queue is always taken, so batches keep running and the
    // estimate keeps tracking the model.
    const aheadMs = this.expectedQueueDelayMs();
    if (aheadMs <= maxQueueDelayMs) return undefined;
    return new BranchyServeError(
      'SERVE_OVERLOADED',
      `the queue ahead (${this.queued} samples, about ${Math.round(aheadMs)} ms) would hold this request past the latency objective; retry after 1 s.`,
      503,
      { retryAfterSeconds: 1 },
    );
  }

  /**
   * Queues `x`'s samples in `group` and resolves with their results once they have run.
   *
   * @throws BranchyServeError `SERVE_QUEUE_FULL` (503, with a retry delay) when the queue cannot take them,
   *   `SERVE_SHUTTING_DOWN` (503) after {@link close}.
   */
  submit(x: Batch, group: string): Promise<BatchedAnswer<Info>> {
    const count = x.shape[0];
    if (this.closing)
      return Promise.reject(
        new BranchyServeError('SERVE_SHUTTING_DOWN', 'the server is shutting down; retry on another instance.', 503, { retryAfterSeconds: 1 }),
      );
    if (this.queued + count > this.options.queueLimit) {
      const retryAfterSeconds = Math.max(1, Math.ceil(this.expectedQueueDelayMs(this.queued + count) / 1000));
      return Promise.reject(
        new BranchyServeError(
          'SERVE_QUEUE_FULL',
          `the queue holds ${this.queued} of at most ${this.options.queueLimit} samples and cannot take ${count} more; retry after ${retryAfterSeconds} s.`,
          503,
          { retryAfterSeconds },
        ),
      );
    }
    const overloaded = this.overloaded();
    if (overloaded !== undefined) return Promise.reject(overloaded);
    return new Promise((resolve, reject) => {
      this.queue.push({
        data: x.data,
        count,
        group,
        arrivedAt: this.now(),
        taken: 0,
        done: 0,
        failed: false,
        results: new Array<ExitResult>(count),
        resolve,
        reject,
      });
      this.queued += count;
      this.wake();
    });
  }

  /** From now on runs batches without waiting for them to fill (still taking new requests): for shutdown. */
  flush(): void {
    this.hurry = true;
    this.wake();
  }

  /** Refuses new requests, runs every queued one without waiting, and resolves when none is left. */
  close(): Promise<void> {
    this.closing = true;
    this.wake();
    return this.idle();
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private wake(): void {
    if (this.immediate === undefined) this.immediate = setImmediate(() => this.decide());
  }

  private decide(): void {
    this.immediate = undefined;
    if (this.running || this.queue.length === 0) return;
    const waited = this.now() - this.queue[0].arrivedAt;
    if (this.closing || this.hurry || this.queued >= this.options.maxBatch || waited >= this.options.maxWaitMs) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      void this.runNext();
    } else if (this.timer === undefined) {
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.wake();
        },
        Math.max(0, this.options.maxWaitMs - waited),
      );
    }
  }

  /** Takes the oldest request's group, in arrival order, up to `maxBatch` samples. */
  private takeBatch(): Slice<Info>[] {
    const group = this.queue[0].group;
    const slices: Slice<Info>[] = [];
    let size = 0;
    for (const request of this.queue) {
      if (size === this.options.maxBatch) break;
      if (request.group !== group) continue;
      const count = Math.min(request.count - request.taken, this.options.maxBatch - size);
      slices.push({ request, from: request.taken, count });
      request.taken += count;
      size += count;
    }
    this.queue = this.queue.filter((r) => r.taken < r.count);
    this.queued -= size;
    return slices;
  }

  private async runNext(): Promise<void> {
    this.running = true;
    const slices = this.takeBatch();
    const size = slices.reduce((n, s) => n + s.count, 0);
    const per = this.sampleShape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size * per);
    let at = 0;
    for (const { request, from, count } of slices) {
      data.set(request.data.subarray(from * per, (from + count) * per), at * per);
      at += count;
    }
    const startedAt = this.now();
    const queueDelaysMs: number[] = [];
    for (const { request } of slices) {
      if (request.startedAt === undefined) {
        request.startedAt = startedAt;
        queueDelaysMs.push(startedAt - request.arrivedAt);
      }
    }
    try {
      const { results, info, modelMs } = await this.run({ data, shape: [size, ...this.sampleShape] }, slices[0].request.group);
      const finishedAt = this.now();
      const runMs = finishedAt - startedAt;
      const f = this.fit;
      const ms = modelMs ?? runMs;
      this.fit = { n: 0.9 * f.n + 1, size: 0.9 * f.size + size, size2: 0.9 * f.size2 + size * size, ms: 0.9 * f.ms + ms, sizeMs: 0.9 * f.sizeMs + size * ms };
      const latenciesMs: number[] = [];
      at = 0;
      for (const { request, from, count } of slices) {
        for (let i = 0; i < count; i++) request.results[from + i] = results[at + i];
        at += count;
        request.done += count;
        if (request.done === request.count && !request.failed) {
          latenciesMs.push(finishedAt - request.arrivedAt);
          request.resolve({ results: request.results, info, batchSize: size, queueMs: (request.startedAt as number) - request.arrivedAt, runMs });
        }
      }
      this.onBatch({ size, runMs, latenciesMs, queueDelaysMs, results });
    } catch (error) {
      for (const { request } of slices) {
        if (!request.failed) request.reject(error);
        request.failed = true;
      }
      const failed = new Set(slices.map((s) => s.request));
      this.queued -= this.queue.filter((r) => failed.has(r)).reduce((n, r) => n + r.count - r.taken, 0);
      this.queue = this.queue.filter((r) => !failed.has(r));
    } finally {
      this.running = false;
      if (this.queue.length > 0) this.wake();
      else this.idleWaiters.splice(0).forEach((resolve) => resolve());
    }
  }
}
