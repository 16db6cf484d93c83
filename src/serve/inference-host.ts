/**
 * Where a served model's batches run: on the HTTP thread ({@link InThreadHost}) or on an inference thread of its
 * own ({@link WorkerInferenceHost}), so that the HTTP thread reads, validates and answers requests while a batch
 * runs. The batcher and server see only {@link InferenceHost}.
 *
 * @module
 */
import { Worker } from 'node:worker_threads';
import type { OpenModelOptions } from '../open/open-model.ts';
import type { Batch, LoadedNetwork } from '../engine/types.ts';
import { unpackResults } from '../infer/packed-results.ts';
import { runEarlyExit } from '../infer/runner.ts';
import type { ExitResult } from '../infer/types.ts';
import type { BranchyErrorCode } from '../common/errors.ts';
import { BranchyServeError, type ServeErrorCode } from './errors.ts';

/** One batch's results and how long the runner took on it where it ran (without handing the batch over). */
export interface HostRun {
  results: ExitResult[];
  runMs: number;
}

/** Runs early-exit inference for one model, one batch at a time. */
export interface InferenceHost {
  /** The engine the batches run on (`LoadedNetwork.runtime`: `ort-cpu`, `tfjs-wasm`, …). */
  readonly runtime: string;
  /** Early-exit results for every sample of `x`, in order, at `thresholds` (one per early exit, validated). */
  run(x: Batch, thresholds: readonly number[]): Promise<HostRun>;
  /** Releases the network and whatever else the host holds, once no batch runs. */
  close(): Promise<void>;
}

/** Runs batches on the calling thread, on a network it takes over (and disposes on {@link close}). */
export class InThreadHost implements InferenceHost {
  readonly runtime: string;

  private readonly net: LoadedNetwork;

  constructor(net: LoadedNetwork) {
    this.net = net;
    this.runtime = net.runtime;
  }

  async run(x: Batch, thresholds: readonly number[]): Promise<HostRun> {
    const started = performance.now();
    const { results } = await runEarlyExit(this.net, x, { thresholds });
    return { results, runMs: performance.now() - started };
  }

  private closed = false;

  async close(): Promise<void> {
    if (!this.closed) this.net.dispose();
    this.closed = true;
  }
}

/** A batch sent to an inference thread; `data` is transferred. */
export interface WorkerRequest {
  id: number;
  data: Float32Array;
  shape: number[];
  thresholds: number[];
}

/** An error as an inference thread reports it: the HTTP status and body `errorReply` gives. */
export interface WorkerFailure {
  status: number;
  code: ServeErrorCode | BranchyErrorCode;
  message: string;
}

/** What an inference thread posts back; the arrays of `results` are transferred. */
export type WorkerReply =
  | { type: 'ready'; runtime: string }
  | { type: 'failed'; error: WorkerFailure }
  | { type: 'results'; id: number; runMs: number; labels: Int32Array; exits: Int32Array; scores: Float64Array; probs: Float32Array }
  | { type: 'error'; id: number; error: WorkerFailure };

const WORKER_ENTRY = new URL('./inference-worker.js', import.meta.url);

function unpack(reply: Extract<WorkerReply, { type: 'results' }>): HostRun {
  return { results: unpackResults(reply), runMs: reply.runMs };
}

const asError = (f: WorkerFailure) => new BranchyServeError(f.code, f.message, f.status);

interface InFlight {
  resolve(run: HostRun): void;
  reject(error: unknown): void;
}

/**
 * Runs batches on a `worker_threads` Worker that opens the model directory itself with `openModel(dir, options)`.
 * Inputs and results travel as transferred buffers. When the thread dies, the batches in flight fail with a 503
 * `SERVE_INFERENCE_CRASHED` and a new thread is started; an error a batch raises fails that batch alone (with the
 * status the error maps to) and keeps the thread.
 *
 * @example
 * const host = await WorkerInferenceHost.start('models/b-lenet-mnist', { engine: 'tfjs', backend: 'wasm' });
 */
export class WorkerInferenceHost implements InferenceHost {
  private current!: Worker;
  private ready!: Promise<void>;
  private nextId = 0;
  private inFlight = new Map<number, InFlight>();
  private closing = false;
  private restarts = 0;
  private loadedRuntime = '';

  private readonly dir: string;
  private readonly options: OpenModelOptions;
  private readonly name: string;

  private constructor(dir: string, options: OpenModelOptions, name: string) {
    this.dir = dir;
    this.options = options;
    this.name = name;
  }

  /**
   * Starts the thread and resolves once it has opened the model.
   *
   * @throws the error opening the model raised in the thread, as a BranchyServeError with its code.
   */
  static async start(dir: string, options: OpenModelOptions = {}, name = dir): Promise<WorkerInferenceHost> {
    const host = new WorkerInferenceHost(dir, options, name);
    host.spawn();
    try {
      await host.ready;
    } catch (error) {
      await host.close();
      throw error;
    }
    return host;
  }

  /** The engine the thread runs the model on, as the thread reported once it had opened the model. */
  get runtime(): string {
    return this.loadedRuntime;
  }

  /** The thread running now (replaced after a crash). */
  get worker(): Worker {
    return this.current;
  }

  /** Threads started after a crash. */
  get restartCount(): number {
    return this.restarts;
  }

  private spawn(): void {
    const worker = new Worker(WORKER_ENTRY, { workerData: { dir: this.dir, open: this.options } });
    this.current = worker;
    let loaded = false;
    this.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (reply: WorkerReply) => {
        if (reply.type === 'ready') {
          loaded = true;
          this.loadedRuntime = reply.runtime;
          resolve();
        } else if (reply.type === 'failed') reject(asError(reply.error));
        else {
          const pending = this.inFlight.get(reply.id);
          this.inFlight.delete(reply.id);
          if (reply.type === 'results') pending?.resolve(unpack(reply));
          else pending?.reject(asError(reply.error));
        }
      });
      worker.on('error', (error) =>
        reject(
          new BranchyServeError('SERVE_INFERENCE_CRASHED', `the inference thread of model '${this.name}' failed: ${error.message}`, 503, {
            retryAfterSeconds: 1,
            cause: error,
          }),
        ),
      );
      worker.on('exit', (code) => {
        reject(
          new BranchyServeError('SERVE_INFERENCE_CRASHED', `the inference thread of model '${this.name}' exited (code ${code}) before it was ready.`, 503, {
            retryAfterSeconds: 1,
          }),
        );
        if (this.current !== worker) return;
        const lost = [...this.inFlight.values()];
        this.inFlight.clear();
        const error = new BranchyServeError(
          'SERVE_INFERENCE_CRASHED',
          `the inference thread of model '${this.name}' stopped (exit code ${code}) while running this batch; retry.`,
          503,
          { retryAfterSeconds: 1 },
        );
        lost.forEach((p) => p.reject(error));
        // A thread that never loaded the model is not restarted here (that could loop); the next batch retries.
        if (!this.closing && loaded) {
          this.restarts++;
          this.spawn();
        }
      });
    });
    // A failed start is reported to the batch that waits for it; nobody else needs to hear of it.
    this.ready.catch(() => {});
  }

  async run(x: Batch, thresholds: readonly number[]): Promise<HostRun> {
    if (this.closing)
      throw new BranchyServeError('SERVE_SHUTTING_DOWN', 'the server is shutting down; retry on another instance.', 503, { retryAfterSeconds: 1 });
    try {
      await this.ready;
    } catch (error) {
      if (this.closing) throw error;
      this.restarts++;
      this.spawn();
      await this.ready;
    }
    const id = this.nextId++;
    const worker = this.current;
    return new Promise<HostRun>((resolve, reject) => {
      this.inFlight.set(id, { resolve, reject });
      // The batcher builds a fresh array per batch, so its buffer can move; a view into a larger buffer is copied.
      const data = x.data.byteOffset === 0 && x.data.byteLength === x.data.buffer.byteLength ? x.data : x.data.slice();
      const request: WorkerRequest = { id, data, shape: [...x.shape], thresholds: [...thresholds] };
      worker.postMessage(request, [data.buffer as ArrayBuffer]);
    });
  }

  /** Waits for the batches in flight, then stops the thread. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled(
      [...this.inFlight.values()].map(
        (p) =>
          new Promise<void>((resolve) => {
            const { resolve: ok, reject: fail } = p;
            p.resolve = (r) => {
              ok(r);
              resolve();
            };
            p.reject = (e) => {
              fail(e);
              resolve();
            };
          }),
      ),
    );
    await this.current.terminate();
  }
}
