import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { BranchyArgumentError, BranchyIoError } from '../../common/errors.ts';
import type { NetworkSpec } from '../../spec/types.ts';
import type { Batch, LoadedNetwork, OnnxSource } from '../types.ts';

/**
 * The parts of an onnxruntime module the engine uses. `onnxruntime-node` and `onnxruntime-web` both provide
 * them (they re-export `onnxruntime-common`), so the caller picks the runtime and the engine imports neither.
 */
export interface OrtModule {
  InferenceSession: typeof InferenceSession;
  Tensor: typeof Tensor;
}

/** How onnxruntime sessions are set up. */
export interface OrtSessionOptions {
  /** Intra-op threads per session; onnxruntime chooses when absent (one per physical core). */
  threads?: number;
  /** Shown as `LoadedNetwork.runtime`, e.g. `ort-cpu` (Node) or `ort-wasm` (browser). */
  runtime?: string;
}

type PieceKind = 'stage' | 'exit';

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

function nhwcToNchw(x: Batch): Batch {
  const [n, h, w, c] = x.shape;
  const out = new Float32Array(x.data.length);
  for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < c; ch++) {
    out[((b * c + ch) * h + y) * w + xx] = x.data[((b * h + y) * w + xx) * c + ch];
  }
  return { data: out, shape: [n, c, h, w] };
}

/**
 * A network run by onnxruntime: one inference session per stage and exit head, created once when the network
 * is loaded and reused for every batch.
 */
export class OrtNetwork implements LoadedNetwork {
  readonly spec: NetworkSpec;
  readonly runtime: string;
  private readonly sessions: { stage: InferenceSession[]; exit: InferenceSession[] };

  private constructor(spec: NetworkSpec, runtime: string, sessions: { stage: InferenceSession[]; exit: InferenceSession[] }, private readonly ort: OrtModule, private readonly onnx: OnnxSource) {
    this.spec = spec;
    this.runtime = runtime;
    this.sessions = sessions;
  }

  /**
   * Creates a session for every piece.
   *
   * @throws BranchyIoError `ONNX_BAD_MODEL` naming the piece onnxruntime cannot load.
   */
  static async create(ort: OrtModule, spec: NetworkSpec, onnx: OnnxSource, options: OrtSessionOptions = {}): Promise<OrtNetwork> {
    const depth = spec.stages.length;
    if (onnx.stages.length !== depth || onnx.exits.length !== depth) {
      throw new BranchyIoError('ONNX_PIECE_COUNT', `'${spec.name}' has ${depth} stages and exits; got ${onnx.stages.length} stage and ${onnx.exits.length} exit ONNX models.`);
    }
    const sessionOptions: InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', executionMode: 'sequential', interOpNumThreads: 1, logSeverityLevel: 3 };
    if (options.threads !== undefined) sessionOptions.intraOpNumThreads = options.threads;
    const open = async (kind: PieceKind, bytes: Uint8Array, n: number) => {
      try {
        return await ort.InferenceSession.create(bytes, sessionOptions);
      } catch (error) {
        throw new BranchyIoError('ONNX_BAD_MODEL', `onnxruntime cannot load ${kind} ${n} of '${spec.name}': ${(error as Error).message}`, { cause: error });
      }
    };
    const stage: InferenceSession[] = [];
    const exit: InferenceSession[] = [];
    for (let i = 0; i < depth; i++) {
      stage.push(await open('stage', onnx.stages[i], i + 1));
      exit.push(await open('exit', onnx.exits[i], i + 1));
    }
    return new OrtNetwork(spec, options.runtime ?? 'ort', { stage, exit }, ort, onnx);
  }

  private session(kind: PieceKind, n: number): InferenceSession {
    const list = this.sessions[kind];
    if (!Number.isInteger(n) || n < 1 || n > list.length) {
      throw new BranchyArgumentError('ENGINE_BAD_INDEX', `${kind} ${n} does not exist; network '${this.spec.name}' has ${list.length} (numbered from 1).`);
    }
    return list[n - 1];
  }

  private async run(kind: PieceKind, n: number, x: Batch): Promise<Batch> {
    const session = this.session(kind, n);
    let input = x;
    if (kind === 'stage' && n === 1) {
      const expected = this.spec.input.shape;
      const per = x.shape.slice(1);
      if (per.length !== 3 || per.some((d, i) => d !== expected[i])) {
        throw new BranchyArgumentError('ENGINE_BAD_SHAPE', `stage 1 of '${this.spec.name}' takes [batch, ${expected.join(', ')}]; got [${x.shape.join(', ')}].`);
      }
      if (this.onnx.inputLayout === 'nchw') input = nhwcToNchw(x);
    }
    let output: Tensor;
    try {
      const feeds = { [session.inputNames[0]]: new this.ort.Tensor('float32', input.data, input.shape) };
      output = (await session.run(feeds))[session.outputNames[0]];
    } catch (error) {
      throw new BranchyArgumentError('ENGINE_RUN_FAILED', `${kind} ${n} of '${this.spec.name}' failed on a [${x.shape.join(', ')}] batch: ${(error as Error).message}`, { cause: error });
    }
    const data = output.data;
    if (!(data instanceof Float32Array)) throw new BranchyIoError('ONNX_BAD_OUTPUT', `${kind} ${n} of '${this.spec.name}' returned ${output.type}; expected float32.`);
    const shape = output.dims.slice();
    if (kind === 'exit' && this.onnx.exitOutput === 'logits') return { data: softmaxRows(data, shape[1]), shape };
    return { data, shape };
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
    for (const s of [...this.sessions.stage, ...this.sessions.exit]) void s.release();
    this.sessions.stage.length = 0;
    this.sessions.exit.length = 0;
  }
}
