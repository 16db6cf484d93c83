import { BranchyIoError, type IoErrorCode } from '../../common/errors.ts';
import { Rng } from '../../common/rng.ts';
import type { Batch, OnnxSource } from '../types.ts';
import { OrtNetwork, type OrtModule } from './network.ts';
import type { NetworkSpec } from '../../spec/types.ts';

/** What an ONNX network must satisfy to be imported. */
export interface OnnxNetworkExpectation {
  /** Per-sample input, [height, width, channels]. */
  inputShape: [number, number, number];
  classes: number;
}

/** Shapes seen while checking an ONNX network: each stage's per-sample output. */
export interface OnnxNetworkShapes {
  stageOutputs: number[][];
  /** Each segment's per-sample output as its file returns it (the same as `stageOutputs` without `stageSegments`). */
  segmentOutputs: number[][];
}

const DYNAMIC_BATCH_HINT =
  "export every piece with a dynamic batch dimension (torch.onnx.export(..., dynamic_axes={'input': {0: 'batch'}, 'output': {0: 'batch'}})).";

/** Whether stage 1 runs on the first sample of `x` alone. */
async function runsOnOne(net: OrtNetwork, x: Batch): Promise<boolean> {
  const per = x.data.length / x.shape[0];
  try {
    await net.stage(1, { data: x.data.subarray(0, per), shape: [1, ...x.shape.slice(1)] });
    return true;
  } catch {
    return false;
  }
}

function fail(code: IoErrorCode, message: string): never {
  throw new BranchyIoError(code, message);
}

/**
 * Checks that a set of per-stage ONNX models forms an early-exit network: every file loads in onnxruntime, the
 * shapes chain (stage n's output feeds stage n+1 and exit n), every exit returns one value per class
 * (probabilities that sum to 1 unless `exitOutput` is `logits`), and the batch dimension is free. It runs the
 * pieces on a small random batch.
 *
 * @throws BranchyIoError `ONNX_BAD_MODEL`, `IMPORT_SHAPE_CHAIN`, `IMPORT_CLASS_COUNT`, `IMPORT_FIXED_BATCH` or
 *   `IMPORT_EXIT_NOT_PROBS`, naming the piece.
 */
export async function inspectOnnxNetwork(ort: OrtModule, onnx: OnnxSource, expected: OnnxNetworkExpectation): Promise<OnnxNetworkShapes> {
  const segments = onnx.stageSegments ?? onnx.stages.map(() => 1);
  const depth = segments.length;
  const spec: NetworkSpec = {
    format: 'branchy/1',
    name: 'import',
    input: { shape: expected.inputShape },
    classes: Array.from({ length: expected.classes }, (_, i) => String(i)),
    stages: segments.map(() => ({ layers: [] })),
    exits: onnx.exits.map(() => ({ layers: [] })),
    policy: { criterion: 'entropy', thresholds: new Array<number>(Math.max(depth - 1, 0)).fill(0) },
    imported: 'onnx',
  };
  const net = await OrtNetwork.create(ort, spec, onnx);
  // Exit n follows stage n's last segment, whose file is stage_k.onnx; its own file is exit_k.onnx.
  const lastSegment = segments.map((_, n) => segments.slice(0, n + 1).reduce((a, b) => a + b, 0));
  const exitFile = (n: number) => `exit_${lastSegment[n - 1]}.onnx`;
  try {
    const batch = 2;
    const rng = new Rng(1);
    const x: Batch = {
      data: new Float32Array(batch * expected.inputShape.reduce((a, b) => a * b, 1)).map(() => rng.next()),
      shape: [batch, ...expected.inputShape],
    };
    const stageOutputs: number[][] = [];
    const segmentOutputs: number[][] = [];
    let features = x;
    let k = 0;
    for (let n = 1; n <= depth; n++) {
      for (let s = 0; s < segments[n - 1]; s++) {
        k++;
        const from =
          k === 1
            ? `the input [batch, ${expected.inputShape.join(', ')}] (${onnx.inputLayout === 'nchw' ? 'given to it as NCHW' : 'NHWC'})`
            : `${onnx.stageSegments ? `stage_${k - 1}.onnx` : `stage ${k - 1}`}'s output [batch, ${segmentOutputs[k - 2].join(', ')}]`;
        try {
          features = await net.segment(k, features);
        } catch (error) {
          if (k === 1 && (await runsOnOne(net, x))) fail('IMPORT_FIXED_BATCH', `stage_1.onnx takes a batch of 1 only; ${DYNAMIC_BATCH_HINT}`);
          fail('IMPORT_SHAPE_CHAIN', `stage_${k}.onnx cannot take ${from}: ${(error as Error).message}`);
        }
        if (features.shape[0] !== batch)
          fail('IMPORT_FIXED_BATCH', `stage_${k}.onnx returned a batch of ${features.shape[0]} for ${batch} inputs; ${DYNAMIC_BATCH_HINT}`);
        segmentOutputs.push(features.shape.slice(1));
      }
      stageOutputs.push(features.shape.slice(1));
      let probs: Batch;
      try {
        probs = await net.exit(n, features);
      } catch (error) {
        fail('IMPORT_SHAPE_CHAIN', `${exitFile(n)} cannot take stage ${n}'s output [batch, ${stageOutputs[n - 1].join(', ')}]: ${(error as Error).message}`);
      }
      if (probs.shape.length !== 2 || probs.shape[1] !== expected.classes)
        fail('IMPORT_CLASS_COUNT', `${exitFile(n)} returns [${probs.shape.join(', ')}]; expected [batch, ${expected.classes}] (one value per class).`);
      if (probs.shape[0] !== batch)
        fail('IMPORT_FIXED_BATCH', `${exitFile(n)} returned a batch of ${probs.shape[0]} for ${batch} inputs; ${DYNAMIC_BATCH_HINT}`);
      for (let r = 0; r < batch; r++) {
        const row = probs.data.subarray(r * expected.classes, (r + 1) * expected.classes);
        const sum = row.reduce((a, b) => a + b, 0);
        if (Math.abs(sum - 1) > 1e-3 || row.some((p) => p < 0))
          fail(
            'IMPORT_EXIT_NOT_PROBS',
            `${exitFile(n)} returns values that are not probabilities (a row sums to ${sum.toPrecision(4)}); if it returns logits, import it with exitOutput 'logits'.`,
          );
      }
    }
    return { stageOutputs, segmentOutputs };
  } finally {
    net.dispose();
  }
}
