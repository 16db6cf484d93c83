import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { Rng } from '../../src/common/rng.ts';
import { createDataset, type DatasetSplits } from '../../src/data/index.ts';
import { encodeOnnxModel } from '../../src/engine/ort/index.ts';
import { loadOnnxruntimeNode } from '../../src/engine/ort/node-engine.ts';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import { loadModelDir } from '../../src/io/index.ts';
import { importOnnxDir } from '../../src/open/import-onnx.ts';
import { openModel } from '../../src/open/open-model.ts';
import { addExits } from '../../src/train/add-exits.ts';
import { DEFAULT_TRAIN_OPTIONS } from '../../src/train/index.ts';
import { trunkCut } from '../../src/train/trunk-cut.ts';
import { maxAbsDiff, tempDir } from '../helpers.ts';

const sin = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin(seed * 5 + i * 1.3));

/** A PyTorch-shaped trunk of two segments: NCHW conv + relu on [batch, 1, 4, 4], then flatten + linear to 3 logits. */
function pytorchChain(dir: string): void {
  const model = (
    name: string,
    nodes: Parameters<typeof encodeOnnxModel>[0]['graph']['nodes'],
    initializers: Parameters<typeof encodeOnnxModel>[0]['graph']['initializers'],
    input: (number | string)[],
    output: (number | string)[],
  ) =>
    encodeOnnxModel({
      producerName: 'test',
      producerVersion: '1',
      graph: { name, nodes, initializers, inputs: [{ name: 'input', shape: input }], outputs: [{ name: 'output', shape: output }] },
    });
  writeFileSync(
    join(dir, 'stage_1.onnx'),
    model(
      's1',
      [
        {
          opType: 'Conv',
          inputs: ['input', 'W', 'B'],
          outputs: ['c'],
          attributes: [
            { name: 'pads', ints: [1, 1, 1, 1] },
            { name: 'kernel_shape', ints: [3, 3] },
          ],
        },
        { opType: 'Relu', inputs: ['c'], outputs: ['output'] },
      ],
      [
        { name: 'W', dims: [2, 1, 3, 3], data: sin(18, 1) },
        { name: 'B', dims: [2], data: Float32Array.from([0.1, -0.1]) },
      ],
      ['batch', 1, 4, 4],
      ['batch', 2, 4, 4],
    ),
  );
  writeFileSync(
    join(dir, 'stage_2.onnx'),
    model(
      's2',
      [
        { opType: 'Flatten', inputs: ['input'], outputs: ['f'], attributes: [{ name: 'axis', int: 1 }] },
        { opType: 'Gemm', inputs: ['f', 'W', 'B'], outputs: ['output'] },
      ],
      [
        { name: 'W', dims: [32, 3], data: sin(96, 2) },
        { name: 'B', dims: [3], data: new Float32Array(3) },
      ],
      ['batch', 2, 4, 4],
      ['batch', 3],
    ),
  );
  writeFileSync(join(dir, 'exit_2.onnx'), model('e2', [{ opType: 'Identity', inputs: ['input'], outputs: ['output'] }], [], ['batch', 3], ['batch', 3]));
}

function randomSplit(count: number, seed: number) {
  const rng = new Rng(seed);
  return createDataset({
    x: Float32Array.from({ length: count * 16 }, () => rng.next()),
    y: Uint8Array.from({ length: count }, () => rng.int(3)),
    shape: [4, 4, 1],
    classes: ['a', 'b', 'c'],
  });
}

describe('a PyTorch-shaped (NCHW) ONNX trunk', () => {
  let chain: string;
  before(async () => {
    await useBackend('wasm');
    chain = tempDir();
    pytorchChain(chain);
    await importOnnxDir(chain, await loadOnnxruntimeNode(), {
      classes: ['a', 'b', 'c'],
      inputShape: [4, 4, 1],
      inputLayout: 'nchw',
      exitOutput: 'logits',
      criterion: 'entropy',
      noExits: true,
    });
  });

  it('reads its NCHW segment boundary as [h, w, c], and its native head sees NHWC features on onnxruntime', async () => {
    const model = loadModelDir(chain);
    const cut = await trunkCut(model, loadOnnxruntimeNode);
    assert.deepEqual(cut.boundaryShape(1), [4, 4, 2]);
    const splits: DatasetSplits = { train: randomSplit(64, 1), validation: randomSplit(32, 2), test: randomSplit(32, 3), source: 'random' };
    const out = tempDir();
    await addExits({
      from: chain,
      out,
      exits: [{ position: 1, head: 'fc' }],
      splits,
      options: { ...DEFAULT_TRAIN_OPTIONS, mode: 'frozen', epochs: 1, batchSize: 16, seed: 1 },
      backend: 'wasm',
      maxDrop: 0.5,
      ort: loadOnnxruntimeNode,
      log: () => {},
    });
    const result = loadModelDir(out);
    assert.deepEqual(result.spec.stages[0].output, [4, 4, 2]);
    const { net } = await openModel(out);
    const x = { data: splits.test.x.subarray(0, 4 * 16), shape: [4, 4, 4, 1] };
    const nchw = await net.stage(1, x);
    assert.deepEqual(nchw.shape, [4, 2, 4, 4]);
    const viaOrt = await net.exit(1, nchw);
    net.dispose();
    // The same head on tfjs, fed the features transposed here by hand.
    const nhwc = new Float32Array(nchw.data.length);
    for (let b = 0; b < 4; b++)
      for (let c = 0; c < 2; c++)
        for (let y = 0; y < 4; y++) for (let xx = 0; xx < 4; xx++) nhwc[((b * 4 + y) * 4 + xx) * 2 + c] = nchw.data[((b * 2 + c) * 4 + y) * 4 + xx];
    const head = new TfjsNetwork(
      {
        ...result.spec,
        imported: undefined,
        input: { shape: [4, 4, 2] },
        stages: [{ layers: [] }],
        exits: [result.spec.exits[0]],
        policy: { criterion: 'entropy', thresholds: [] },
      },
      Object.fromEntries(Object.entries(result.weights).filter(([name]) => name.startsWith('exit1.'))),
    );
    const viaTfjs = await head.exit(1, { data: nhwc, shape: [4, 4, 4, 2] });
    head.dispose();
    assert.ok(maxAbsDiff(viaOrt.data, viaTfjs.data) < 1e-5, `max diff ${maxAbsDiff(viaOrt.data, viaTfjs.data)}`);
  });
});
