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
  const depth = onnx.stages.length;
  const spec: NetworkSpec = {
    format: 'branchy/1',
    name: 'import',
    input: { shape: expected.inputShape },
    classes: Array.from({ length: expected.classes }, (_, i) => String(i)),
    stages: onnx.stages.map(() => ({ layers: [] })),
    exits: onnx.exits.map(() => ({ layers: [] })),
    policy: { criterion: 'entropy', thresholds: new Array<number>(Math.max(depth - 1, 0)).fill(0) },
    imported: 'onnx',
  };
  const net = await OrtNetwork.create(ort, spec, onnx);
  try {
    const batch = 2;
    const rng = new Rng(1);
    const x: Batch = {
      data: new Float32Array(batch * expected.inputShape.reduce((a, b) => a * b, 1)).map(() => rng.next()),
      shape: [batch, ...expected.inputShape],
    };
    const stageOutputs: number[][] = [];
    let features = x;
    for (let n = 1; n <= depth; n++) {
      const from =
        n === 1
          ? `the input [batch, ${expected.inputShape.join(', ')}] (${onnx.inputLayout === 'nchw' ? 'given to it as NCHW' : 'NHWC'})`
          : `stage ${n - 1}'s output [batch, ${stageOutputs[n - 2].join(', ')}]`;
      try {
        features = await net.stage(n, features);
      } catch (error) {
        if (n === 1 && (await runsOnOne(net, x))) fail('IMPORT_FIXED_BATCH', `stage_1.onnx takes a batch of 1 only; ${DYNAMIC_BATCH_HINT}`);
        fail('IMPORT_SHAPE_CHAIN', `stage_${n}.onnx cannot take ${from}: ${(error as Error).message}`);
      }
      if (features.shape[0] !== batch)
        fail('IMPORT_FIXED_BATCH', `stage_${n}.onnx returned a batch of ${features.shape[0]} for ${batch} inputs; ${DYNAMIC_BATCH_HINT}`);
      stageOutputs.push(features.shape.slice(1));
      let probs: Batch;
      try {
        probs = await net.exit(n, features);
      } catch (error) {
        fail('IMPORT_SHAPE_CHAIN', `exit_${n}.onnx cannot take stage ${n}'s output [batch, ${stageOutputs[n - 1].join(', ')}]: ${(error as Error).message}`);
      }
      if (probs.shape.length !== 2 || probs.shape[1] !== expected.classes)
        fail('IMPORT_CLASS_COUNT', `exit_${n}.onnx returns [${probs.shape.join(', ')}]; expected [batch, ${expected.classes}] (one value per class).`);
      if (probs.shape[0] !== batch)
        fail('IMPORT_FIXED_BATCH', `exit_${n}.onnx returned a batch of ${probs.shape[0]} for ${batch} inputs; ${DYNAMIC_BATCH_HINT}`);
      for (let r = 0; r < batch; r++) {
        const row = probs.data.subarray(r * expected.classes, (r + 1) * expected.classes);
        const sum = row.reduce((a, b) => a + b, 0);
        if (Math.abs(sum - 1) > 1e-3 || row.some((p) => p < 0))
          fail(
            'IMPORT_EXIT_NOT_PROBS',
            `exit_${n}.onnx returns values that are not probabilities (a row sums to ${sum.toPrecision(4)}); if it returns logits, import it with exitOutput 'logits'.`,
          );
      }
    }
    return { stageOutputs };
  } finally {
    net.dispose();
  }
}
