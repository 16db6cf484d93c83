/**
 * The plan's first unit running in the page: it answers from its own exits when one passes the threshold, else
 * hands its last stage's features (or the raw input, when the plan says so) to the unit behind the server, and
 * answers from its last exit, degraded, when that server cannot answer. What `CascadeUnit` does on a server, for
 * one sample at a time and with the timings the page shows. No DOM: the page and the tests drive it alike.
 *
 * @module
 */
import {
  CircuitBreaker,
  CascadeHopError,
  BranchyCascadeError,
  decodeAnswers,
  encodeFeatures,
  featureBytes,
  getCriterion,
  runUnit,
  type Batch,
  type EdgePageConfig,
  type ExitCriterion,
  type ExitResult,
  type FeatureDtype,
  type LoadedNetwork,
  type Transport,
} from '../index.ts';

/** Where an answer came from. */
export type AnswerPlace = 'browser' | 'server' | 'degraded';

/** One sample's answer, with what it cost. */
export interface EdgeAnswer {
  /** The answer shown: the browser's exit, the server's, or the browser's last exit when the server could not answer. */
  result: ExitResult;
  /** The browser's own last exit it reached: shown before the server answers. */
  local: ExitResult;
  place: AnswerPlace;
  /** Why the answer is degraded (`unreachable`, `timeout`, `circuit open`, `successor error: CODE`, …). */
  reason?: string;
  /** The browser's unit: its stages, exit heads and criterion, in ms. */
  browserMs: number;
  /** The hop to the server, from sending the frame to its answer, in ms (offloaded samples). */
  hopMs?: number;
  /** From the input to the answer shown, in ms. */
  totalMs: number;
  /** Bytes of the frame sent (0 when the browser answered). */
  sentBytes: number;
  receivedBytes: number;
}

/** Per test sample: the browser exits' scores and labels, and the server's answer when it gave one. */
export interface EvaluatedSample {
  /** Per exit of the browser's unit, in order. */
  scores: number[];
  labels: number[];
  /** The server's label for the sample, had it been handed on. */
  server?: number;
  truth: number;
}

/** A test batch run through both sides once, so that any threshold's trade-off follows without running again. */
export interface BatchEvaluation {
  samples: EvaluatedSample[];
  /** Why the server gave no answers, when it did not. */
  reason?: string;
  /** Bytes of one sample's frame, as the page sends it. */
  frameBytes: number;
}

/** How the page's unit runs. */
export interface EdgeUnitOptions {
  /** The way to the server's unit. */
  transport: Transport;
  /** What features travel as (default `f32`). */
  featureDtype?: FeatureDtype;
  breaker?: CircuitBreaker;
  /** Samples per frame when a test batch is handed on (default 50). */
  chunk?: number;
}

const now = () => performance.now();

/** The first unit of a plan, loaded in the page. */
export class EdgeUnit {
  readonly config: EdgePageConfig;
  readonly net: LoadedNetwork;
  readonly breaker: CircuitBreaker;
  featureDtype: FeatureDtype;
  private readonly transport: Transport;
  private readonly criterion: ExitCriterion;
  private readonly chunk: number;

  constructor(config: EdgePageConfig, net: LoadedNetwork, options: EdgeUnitOptions) {
    this.config = config;
    this.net = net;
    this.transport = options.transport;
    this.featureDtype = options.featureDtype ?? 'f32';
    this.breaker = options.breaker ?? new CircuitBreaker();
    this.criterion = getCriterion(config.criterion);
    this.chunk = options.chunk ?? 50;
  }

  /** Exits the page consults: 1 .. the unit's last stage. */
  get exits(): number {
    return this.config.unit.stages[1];
  }

  /** The whole network's thresholds with every exit of the browser's unit at `threshold`. */
  thresholds(threshold: number): number[] {
    return this.config.thresholds.map((t, i) => (i < this.exits ? threshold : t));
  }

  /** The range the criterion's scores lie in, for the threshold's slider. */
  scoreRange(): readonly [number, number] {
    return this.criterion.range(this.config.classes.length);
  }

  /** Bytes of a frame of `count` samples, as the page would send them now. */
  frameBytes(count = 1, threshold = this.config.thresholds[0] ?? 0): number {
    return featureBytes(this.config.sentShape, count, this.featureDtype, this.meta(threshold));
  }

  /** Bytes of a frame of `count` raw inputs in f32: what sending the image instead would cost. */
  inputFrameBytes(count = 1, threshold = this.config.thresholds[0] ?? 0): number {
    return featureBytes(this.config.inputShape, count, 'f32', { ...this.meta(threshold), stage: 0 });
  }

  private meta(threshold: number) {
    return {
      modelId: this.config.modelId,
      stage: this.config.forward === 'input' ? 0 : this.config.unit.stages[1],
      thresholds: this.thresholds(threshold),
      from: this.config.unit.name,
    };
  }

  /** Runs the browser's unit on a batch; samples whose score passes `threshold` are answered. */
  run(x: Batch, threshold: number) {
    return runUnit(this.net, this.config.unit, x, {
      thresholds: this.thresholds(threshold),
      criterion: this.criterion,
      depth: this.config.thresholds.length + 1,
    });
  }

  /**
   * Answers one sample (`[height, width, channels]` pixels in [0, 1]). `onLocal` hears the browser exit's result as
   * soon as it is known, before any hop.
   */
  async classify(pixels: Float32Array, threshold: number, onLocal?: (local: ExitResult, browserMs: number) => void): Promise<EdgeAnswer> {
    const started = now();
    const x: Batch = { data: pixels, shape: [1, ...this.config.inputShape] };
    const run = await this.run(x, threshold);
    const browserMs = now() - started;
    const answered = run.answered[0];
    const local = answered ?? run.fallback[0];
    onLocal?.(local, browserMs);
    const done = (a: Omit<EdgeAnswer, 'local' | 'browserMs' | 'totalMs'>): EdgeAnswer => ({ ...a, local, browserMs, totalMs: now() - started });
    if (answered) {
      return done({
        result: { ...answered, route: { unit: this.config.unit.name, hops: 0, degraded: false, path: [] } },
        place: 'browser',
        sentBytes: 0,
        receivedBytes: 0,
      });
    }
    const sent = this.config.forward === 'input' ? x : run.features!;
    const frame = encodeFeatures(sent, this.featureDtype, this.meta(threshold));
    const degraded = (reason: string): EdgeAnswer =>
      done({
        result: { ...local, route: { unit: this.config.unit.name, hops: 0, degraded: true, reason, path: [] } },
        place: 'degraded',
        reason,
        sentBytes: reason === 'circuit open' ? 0 : frame.length,
        receivedBytes: 0,
      });
    if (!this.breaker.allow()) return degraded('circuit open');
    const hopStarted = now();
    let reply: Uint8Array;
    let result: ExitResult;
    try {
      reply = await this.transport.forward(frame, this.config.successor.deadlineMs);
      [result] = decodeAnswers(reply, 1, this.config.classes.length);
    } catch (error) {
      this.breaker.failure();
      return degraded(hopReason(error));
    }
    this.breaker.success();
    const hopMs = now() - hopStarted;
    const hop = { unit: this.config.successor.unit, ms: hopMs, sentBytes: frame.length, receivedBytes: reply.length };
    const route = result.route ?? { unit: hop.unit, hops: 0, degraded: false, path: [] };
    return done({
      result: { ...result, route: { ...route, hops: route.hops + 1, path: [hop, ...route.path] } },
      place: route.degraded ? 'degraded' : 'server',
      ...(route.degraded ? { reason: `${route.unit}: ${route.reason}` } : {}),
      hopMs,
      sentBytes: frame.length,
      receivedBytes: reply.length,
    });
  }

  /**
   * Runs a labelled batch through the browser's exits and hands every sample to the server once, so that the
   * threshold's trade-off (`tradeOffAt`) is known for any threshold. A server that cannot answer leaves the
   * samples without `server`, and the reason.
   */
  async evaluate(x: Batch, truth: ArrayLike<number>, threshold: number): Promise<BatchEvaluation> {
    const count = x.shape[0];
    const classes = this.config.classes.length;
    const samples: EvaluatedSample[] = Array.from({ length: count }, (_, i) => ({ scores: [], labels: [], truth: truth[i] }));
    let features = x;
    for (let n = 1; n <= this.exits; n++) {
      features = await this.net.stage(n, features);
      const probs = (await this.net.exit(n, features)).data;
      for (let i = 0; i < count; i++) {
        const offset = i * classes;
        samples[i].scores.push(this.criterion.score(probs, classes, offset));
        let best = 0;
        for (let c = 1; c < classes; c++) if (probs[offset + c] > probs[offset + best]) best = c;
        samples[i].labels.push(best);
      }
    }
    const sent = this.config.forward === 'input' ? x : features;
    const per = sent.data.length / count;
    let reason: string | undefined;
    for (let start = 0; start < count && reason === undefined; start += this.chunk) {
      const n = Math.min(this.chunk, count - start);
      const part: Batch = { data: sent.data.subarray(start * per, (start + n) * per), shape: [n, ...sent.shape.slice(1)] };
      try {
        const reply = await this.transport.forward(encodeFeatures(part, this.featureDtype, this.meta(threshold)), this.config.successor.deadlineMs * 4);
        decodeAnswers(reply, n, classes).forEach((r, i) => (samples[start + i].server = r.label));
      } catch (error) {
        reason = hopReason(error);
        for (const s of samples) delete s.server;
      }
    }
    return { samples, frameBytes: this.frameBytes(1, threshold), ...(reason ? { reason } : {}) };
  }

  /**
   * Times the browser's unit at batch 1: `passes` passes over `inputs`, one sample at a time, after `warmup`
   * untimed runs. Returns each pass's mean ms per sample: a page that is not cross-origin isolated reads a clock in
   * steps of 0.1 ms, too coarse for one run of a small unit, but fine for a pass of many.
   */
  async time(inputs: readonly Float32Array[], passes = 5, warmup = 10): Promise<number[]> {
    const shape = [1, ...this.config.inputShape];
    for (let i = 0; i < warmup; i++) await this.run({ data: inputs[i % inputs.length], shape }, -Infinity);
    const means: number[] = [];
    for (let p = 0; p < passes; p++) {
      const started = now();
      for (const data of inputs) await this.run({ data, shape }, -Infinity);
      means.push((now() - started) / inputs.length);
    }
    return means;
  }

  /** Frees the network. */
  dispose(): void {
    this.net.dispose();
  }
}

/** The short reason a hop failed, as units report it. */
function hopReason(error: unknown): string {
  if (error instanceof CascadeHopError) return error.reason;
  if (error instanceof BranchyCascadeError) return `successor error: ${error.code}`;
  return 'successor error';
}
