import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { BranchyArgumentError, BranchyIoError } from '../../common/errors.ts';
import type { NetworkSpec } from '../../spec/types.ts';
import { nchwToNhwc, nhwcToNchw, selectRows } from '../batch.ts';

export { nchwToNhwc };
import type { Batch, LoadedNetwork, OnnxSource, StageAndExit } from '../types.ts';
import type { FeatureShape } from '../../spec/shapes.ts';
import { ONNX_FUSED_FEATURES, ONNX_FUSED_PROBS, pieceInputShape, type FusedModels } from './export.ts';

/**
 * The parts of an onnxruntime module the engine uses. `onnxruntime-node` and `onnxruntime-web` both provide
 * them (they re-export `onnxruntime-common`), so the caller picks the runtime and the engine imports neither.
 */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<OrtSession> };
  Tensor: typeof Tensor;
}

/** The parts of an onnxruntime inference session the engine uses. */
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: InferenceSession.FeedsType): Promise<InferenceSession.ReturnType>;
  release(): Promise<void>;
}

/** How onnxruntime sessions are set up. */
export interface OrtSessionOptions {
  /** Intra-op threads per session; onnxruntime chooses when absent (one per physical core). */
  threads?: number;
  /** Shown as `LoadedNetwork.runtime`, e.g. `ort-cpu` (Node) or `ort-wasm` (browser). */
  runtime?: string;
  /** How fused calls carry features to the next stage (see `CarryMode`); `auto` (the default) measures per stage. */
  carry?: 'auto' | CarryMode;
  /**
   * Per early exit n (index n-1), the share of the samples reaching stage n expected to go on past exit n, e.g.
   * from the model's calibration (`goingOnShares`); `auto` weighs running stage n again by it. Default
   * `RECOMPUTE_WHEN_SHARE_GOING_ON` for every exit.
   */
  goingOn?: readonly number[];
}

/**
 * Per early exit n (index n-1), the share of the samples that reach stage n and go on past exit n, from the
 * share of all samples leaving at each exit (an operating point's `exitShare`).
 */
export function goingOnShares(exitShare: readonly number[]): number[] {
  const out: number[] = [];
  let reaching = exitShare.reduce((a, b) => a + b, 0);
  for (let n = 0; n < exitShare.length - 1; n++) {
    out.push(reaching > 0 ? Math.max(0, (reaching - exitShare[n]) / reaching) : 0);
    reaching -= exitShare[n];
  }
  return out;
}

/**
 * How a fused stage-and-exit call hands stage n's features to stage n+1. `fetch` copies every sample's features
 * out of the call with the probabilities. `recompute` fetches only the probabilities and runs stage n again, alone,
 * for the samples that go on: cheaper when the stage is cheap next to copying its output and most samples leave
 * at exit n, as early exit intends.
 */
export type CarryMode = 'fetch' | 'recompute';

/**
 * The share of samples assumed to go on past an early exit when `carry` is `auto` and no `goingOn` is given:
 * stage n is recomputed when the fused call without features, plus this share of the stage's own cost, is
 * cheaper than the call with them.
 */
export const RECOMPUTE_WHEN_SHARE_GOING_ON = 0.1;

type PieceKind = 'stage' | 'exit';

interface Sessions {
  /** Per stage, its chain of sessions (one, or one per segment of an imported trunk). */
  stage: OrtSession[][];
  exit: OrtSession[];
  /** Stage n followed by exit n in one graph (`fusedGraph`), when the network was built from layers. */
  fused: OrtSession[];
}

function softmaxRows(data: Float32Array, classes: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let o = 0; o < data.length; o += classes) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, data[o + c]);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += out[o + c] = Math.exp(data[o + c] - max);
    for (let c = 0; c < classes; c++) out[o + c] /= sum;
  }
  return out;
}

/**
 * Chooses a stage's carry mode by timing, at batch 1 on zeros, its two fused sessions and the stage alone: the
 * best of 7 interleaved rounds, each of enough calls to last about 0.2 ms. Recompute when the probabilities-only
 * call plus the stage again for the share of samples that go on (`goingOn`) beats fetching features for all.
 */
async function measureCarry(
  ort: OrtModule,
  shape: FeatureShape,
  sessions: { probsOnly: OrtSession; withFeatures: OrtSession; stage: OrtSession },
  goingOn: number,
): Promise<CarryMode> {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const run = (s: OrtSession) => () => s.run({ [s.inputNames[0]]: new ort.Tensor('float32', data, [1, ...shape]) });
  const calls = [run(sessions.withFeatures), run(sessions.probsOnly), run(sessions.stage)];
  let t = performance.now();
  for (const call of calls) await call();
  const repeats = Math.min(8, Math.max(1, Math.ceil((0.2 * calls.length) / (performance.now() - t))));
  const best = [Infinity, Infinity, Infinity];
  for (let round = 0; round < 7; round++) {
    for (const [k, call] of calls.entries()) {
      t = performance.now();
      for (let r = 0; r < repeats; r++) await call();
      best[k] = Math.min(best[k], (performance.now() - t) / repeats);
    }
  }
  const [withFeatures, probsOnly, stageAlone] = best;
  return probsOnly + goingOn * stageAlone < withFeatures ? 'recompute' : 'fetch';
}

/**
 * A network run by onnxruntime: one inference session per stage and exit head, and, when fused graphs are given,
 * one per stage n followed by exit head n (`stageAndExit`), created once when the network is loaded and reused
 * for every batch.
 */
export class OrtNetwork implements LoadedNetwork {
  readonly spec: NetworkSpec;
  readonly runtime: string;
  /** Present when the network has fused stage-and-exit sessions (built from layers; not for imported ONNX). */
  readonly stageAndExit?: (n: number, x: Batch) => Promise<StageAndExit>;
  /** Per stage before the last (index n-1), how its fused call carries features on; empty without fused sessions. */
  readonly carry: readonly CarryMode[];
  readonly featureLayout: 'nhwc' | 'nchw';
  private readonly sessions: Sessions;

  private readonly ort: OrtModule;
  private readonly onnx: OnnxSource;

  private constructor(spec: NetworkSpec, runtime: string, sessions: Sessions, carry: CarryMode[], ort: OrtModule, onnx: OnnxSource) {
    this.ort = ort;
    this.onnx = onnx;
    this.spec = spec;
    this.runtime = runtime;
    this.sessions = sessions;
    this.carry = carry;
    this.featureLayout = onnx.inputLayout ?? 'nhwc';
    if (sessions.fused.length > 0) this.stageAndExit = (n, x) => this.runFused(n, x);
  }

  /**
   * Creates a session for every piece, and for every stage the fused stage-and-exit session from `fused` (one
   * entry per stage, from `exportFused`; none for a network imported from ONNX, whose pieces are then run one call
   * each). Before the last stage the carry mode decides which fused graph is kept: probabilities only
   * (`recompute`) or with features (`fetch`); with `carry: 'auto'` both are loaded, timed, and one released.
   *
   * @throws BranchyIoError `ONNX_BAD_MODEL` naming the piece onnxruntime cannot load, after releasing the sessions
   *   already created.
   */
  static async create(ort: OrtModule, spec: NetworkSpec, onnx: OnnxSource, options: OrtSessionOptions = {}, fused: FusedModels[] = []): Promise<OrtNetwork> {
    const depth = spec.stages.length;
    const segments = onnx.stageSegments ?? new Array<number>(depth).fill(1);
    const files = segments.reduce((a, b) => a + b, 0);
    if (segments.length !== depth || onnx.stages.length !== files || onnx.exits.length !== depth || (fused.length !== 0 && fused.length !== depth)) {
      throw new BranchyIoError(
        'ONNX_PIECE_COUNT',
        `'${spec.name}' has ${depth} stages (${files} ONNX segments) and exits; got ${onnx.stages.length} stage, ${onnx.exits.length} exit and ${fused.length} fused ONNX models.`,
      );
    }
    const sessionOptions: InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      interOpNumThreads: 1,
      logSeverityLevel: 3,
    };
    if (options.threads !== undefined) sessionOptions.intraOpNumThreads = options.threads;
    // Every session holds native memory until released: those opened before a failure are released with it.
    const opened = new Set<OrtSession>();
    const open = async (kind: PieceKind | 'fused', bytes: Uint8Array, n: number) => {
      try {
        const session = await ort.InferenceSession.create(bytes, sessionOptions);
        opened.add(session);
        return session;
      } catch (error) {
        throw new BranchyIoError('ONNX_BAD_MODEL', `onnxruntime cannot load ${kind} ${n} of '${spec.name}': ${(error as Error).message}`, { cause: error });
      }
    };
    const release = async (session: OrtSession) => {
      opened.delete(session);
      await session.release();
    };
    try {
      const stage: OrtSession[][] = [];
      const exit: OrtSession[] = [];
      let file = 0;
      for (let i = 0; i < depth; i++) {
        const chain: OrtSession[] = [];
        for (let k = 0; k < segments[i]; k++) chain.push(await open('stage', onnx.stages[file++], i + 1));
        stage.push(chain);
        exit.push(await open('exit', onnx.exits[i], i + 1));
      }
      const fusedSessions: OrtSession[] = [];
      const carry: CarryMode[] = [];
      const wanted = options.carry ?? 'auto';
      for (const [i, models] of fused.entries()) {
        const n = i + 1;
        if (!models.withFeatures) {
          fusedSessions.push(await open('fused', models.probsOnly, n));
          continue;
        }
        const sessions = {
          probsOnly: wanted === 'fetch' ? undefined : await open('fused', models.probsOnly, n),
          withFeatures: wanted === 'recompute' ? undefined : await open('fused', models.withFeatures, n),
        };
        let mode: CarryMode;
        if (wanted === 'auto') {
          const both = { probsOnly: sessions.probsOnly!, withFeatures: sessions.withFeatures!, stage: stage[i][0] };
          mode = await measureCarry(ort, pieceInputShape(spec, 'stage', n), both, options.goingOn?.[i] ?? RECOMPUTE_WHEN_SHARE_GOING_ON);
          await release(mode === 'recompute' ? both.withFeatures : both.probsOnly);
        } else mode = wanted;
        carry.push(mode);
        fusedSessions.push((mode === 'recompute' ? sessions.probsOnly : sessions.withFeatures)!);
      }
      return new OrtNetwork(spec, options.runtime ?? 'ort', { stage, exit, fused: fusedSessions }, carry, ort, onnx);
    } catch (error) {
      await Promise.allSettled([...opened].map(release));
      throw error;
    }
  }

  private session<K extends keyof Sessions>(kind: K, n: number): Sessions[K][number] {
    const list = this.sessions[kind];
    if (!Number.isInteger(n) || n < 1 || n > list.length) {
      throw new BranchyArgumentError('ENGINE_BAD_INDEX', `${kind} ${n} does not exist; network '${this.spec.name}' has ${list.length} (numbered from 1).`);
    }
    return list[n - 1];
  }

  /** Stage 1's input as its session takes it, checked against the spec. */
  private stageInput(n: number, x: Batch): Batch {
    if (n !== 1) return x;
    const expected = this.spec.input.shape;
    const per = x.shape.slice(1);
    if (per.length !== 3 || per.some((d, i) => d !== expected[i])) {
      throw new BranchyArgumentError('ENGINE_BAD_SHAPE', `stage 1 of '${this.spec.name}' takes [batch, ${expected.join(', ')}]; got [${x.shape.join(', ')}].`);
    }
    return this.onnx.inputLayout === 'nchw' ? nhwcToNchw(x) : x;
  }

  /** Runs one session on one input and returns its outputs by name as batches. */
  private async call(what: string, session: OrtSession, input: Batch): Promise<Record<string, Batch>> {
    let outputs: InferenceSession.ReturnType;
    try {
      outputs = await session.run({ [session.inputNames[0]]: new this.ort.Tensor('float32', input.data, input.shape) });
    } catch (error) {
      throw new BranchyArgumentError(
        'ENGINE_RUN_FAILED',
        `${what} of '${this.spec.name}' failed on a [${input.shape.join(', ')}] batch: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const out: Record<string, Batch> = {};
    for (const [name, tensor] of Object.entries(outputs)) {
      const data = tensor.data;
      if (!(data instanceof Float32Array))
        throw new BranchyIoError('ONNX_BAD_OUTPUT', `${what} of '${this.spec.name}' returned ${tensor.type}; expected float32.`);
      out[name] = { data, shape: tensor.dims.slice() };
    }
    return out;
  }

  private async runOne(what: string, session: OrtSession, input: Batch): Promise<Batch> {
    return (await this.call(what, session, input))[session.outputNames[0]];
  }

  private async run(kind: PieceKind, n: number, x: Batch): Promise<Batch> {
    if (kind === 'stage') {
      const chain = this.session('stage', n);
      let y = this.stageInput(n, x);
      for (const [k, session] of chain.entries()) y = await this.runOne(chain.length > 1 ? `stage ${n} (segment ${k + 1})` : `stage ${n}`, session, y);
      return y;
    }
    const native = this.spec.exits[n - 1]?.layers.length > 0;
    const session = this.session('exit', n);
    if (native) return this.runOne(`exit ${n}`, session, this.onnx.inputLayout === 'nchw' ? nchwToNhwc(x) : x);
    const output = await this.runOne(`exit ${n}`, session, x);
    if (this.onnx.exitOutput === 'logits') return { data: softmaxRows(output.data, output.shape[1]), shape: output.shape };
    return output;
  }

  private async runFused(n: number, x: Batch): Promise<StageAndExit> {
    const session = this.session('fused', n);
    const last = n === this.sessions.fused.length;
    const outputs = await this.call(`stage ${n} + exit ${n}`, session, this.stageInput(n, x));
    const fetched = outputs[ONNX_FUSED_FEATURES];
    return {
      probs: outputs[ONNX_FUSED_PROBS],
      features: async (rows) => {
        if (last) throw new BranchyArgumentError('ENGINE_NO_FEATURES', `stage ${n} is the last of '${this.spec.name}'; nothing runs after it.`);
        return fetched ? selectRows(fetched, rows) : this.stage(n, selectRows(x, rows));
      },
    };
  }

  /** How many ONNX segments the trunk has, over all stages (the stage count unless a stage is a chain of them). */
  get segmentCount(): number {
    return this.sessions.stage.reduce((a, chain) => a + chain.length, 0);
  }

  /**
   * Segment k (1-based over the whole trunk) on a batch: NHWC input (k = 1) or segment k-1's output → segment k's
   * output, as the ONNX file returns it (NCHW for a PyTorch chain). Finding exit positions inside a stage uses it.
   */
  segment(k: number, x: Batch): Promise<Batch> {
    const all = this.sessions.stage.flat();
    if (!Number.isInteger(k) || k < 1 || k > all.length)
      throw new BranchyArgumentError('ENGINE_BAD_INDEX', `segment ${k} does not exist; the trunk of '${this.spec.name}' has ${all.length} (numbered from 1).`);
    return this.runOne(`segment ${k}`, all[k - 1], k === 1 ? this.stageInput(1, x) : x);
  }

  /** Stage n on a batch: NHWC input (n = 1) or stage n-1's features → stage n's features. */
  stage(n: number, x: Batch): Promise<Batch> {
    return this.run('stage', n, x);
  }

  /** Exit head n on stage n's features → probabilities [batch, classes]. */
  exit(n: number, features: Batch): Promise<Batch> {
    return this.run('exit', n, features);
  }

  dispose(): void {
    for (const s of [...this.sessions.stage.flat(), ...this.sessions.exit, ...this.sessions.fused]) void s.release();
    this.sessions.stage.length = 0;
    this.sessions.exit.length = 0;
    this.sessions.fused.length = 0;
  }
}
