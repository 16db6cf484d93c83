import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { nodeOrtEngine, loadOnnxruntimeNode } from '../../../src/engine/ort/node-engine.ts';
import { encodeOnnxModel, exportPiece, type OrtModule } from '../../../src/engine/ort/index.ts';
import { ProtoWriter } from '../../../src/engine/ort/protobuf.ts';
import { useBackend } from '../../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../../src/engine/tfjs/network.ts';
import type { Batch, LoadedNetwork, ModelSource } from '../../../src/engine/types.ts';
import type { LayerSpec, NetworkSpec } from '../../../src/spec/types.ts';
import { listZoo } from '../../../src/zoo/index.ts';
import { maxAbsDiff, randomBatch, tinySpec } from '../../helpers.ts';
import { seededSource } from './seeded-source.ts';

/**
 * Agreement required: 1e-4, relative to the largest magnitude in the piece's output when that exceeds 1 (deep
 * ResNet trunks reach activations in the thousands, where float32 rounding alone exceeds 1e-4 absolute).
 */
const TOLERANCE = 1e-4;

/** A one-stage network around `layers`, with an exit head that flattens and classifies. */
function layerSpec(name: string, shape: [number, number, number], layers: LayerSpec[], extra: Partial<NetworkSpec> = {}): NetworkSpec {
  return {
    format: 'branchy/1',
    name,
    input: { shape },
    classes: ['a', 'b', 'c'],
    stages: [{ layers }],
    exits: [
      {
        layers: [
          ...(layers.some((l) => l.type === 'flatten' || l.type === 'globalAvgPool') ? [] : [{ type: 'flatten' } as const]),
          { type: 'dense', units: 3 },
        ],
      },
    ],
    policy: { criterion: 'entropy', thresholds: [] },
    ...extra,
  };
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

/** Largest (scaled) difference between tfjs and ort over every stage and exit, on the same inputs to each piece. */
async function pieceDifferences(tfjs: LoadedNetwork, ort: LoadedNetwork, x: Batch): Promise<{ piece: string; diff: number }[]> {
  const out: { piece: string; diff: number }[] = [];
  let features = x;
  for (let n = 1; n <= tfjs.spec.stages.length; n++) {
    const a = await tfjs.stage(n, features);
    const b = await ort.stage(n, features);
    assert.deepEqual(b.shape, a.shape, `stage ${n} shape`);
    out.push({ piece: `stage ${n}`, diff: maxAbsDiff(a.data, b.data) / Math.max(1, maxAbs(a.data)) });
    const pa = await tfjs.exit(n, a);
    const pb = await ort.exit(n, a);
    assert.deepEqual(pb.shape, pa.shape, `exit ${n} shape`);
    out.push({ piece: `exit ${n}`, diff: maxAbsDiff(pa.data, pb.data) });
    features = a;
  }
  return out;
}

async function assertParity(source: ModelSource, batch: number, seed = 7): Promise<void> {
  const tfjs = TfjsNetwork.fromSource(source);
  const ort = await (await nodeOrtEngine()).load(source);
  try {
    const x = randomBatch([batch, ...source.spec.input.shape], seed);
    for (const { piece, diff } of await pieceDifferences(tfjs, ort, x))
      assert.ok(diff <= TOLERANCE, `${source.spec.name} ${piece}: ort differs from tfjs by ${diff}`);
  } finally {
    tfjs.dispose();
    ort.dispose();
  }
}

describe('ONNX protobuf writer', () => {
  let ort: OrtModule;
  before(async () => {
    ort = await loadOnnxruntimeNode();
  });

  it('writes varints as protobuf does, negative int64 as ten bytes', () => {
    assert.deepEqual([...new ProtoWriter().varint(1, 300).finish()], [0x08, 0xac, 0x02]);
    assert.deepEqual([...new ProtoWriter().varint(2, -1).finish()], [0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert.deepEqual([...new ProtoWriter().string(3, 'ab').finish()], [0x1a, 0x02, 0x61, 0x62]);
    assert.deepEqual([...new ProtoWriter().float(4, 1).finish()], [0x25, 0x00, 0x00, 0x80, 0x3f]);
  });

  it('onnxruntime loads a hand-built model and computes it, with a symbolic batch dimension', async () => {
    const bytes = encodeOnnxModel({
      producerName: 'test',
      producerVersion: '1',
      graph: {
        name: 'affine',
        nodes: [
          { opType: 'Mul', inputs: ['x', 'scale'], outputs: ['scaled'] },
          { opType: 'Add', inputs: ['scaled', 'shift'], outputs: ['y'] },
          { opType: 'Softmax', inputs: ['y'], outputs: ['p'], attributes: [{ name: 'axis', int: -1 }] },
        ],
        initializers: [
          { name: 'scale', dims: [2], data: new Float32Array([2, -1]) },
          { name: 'shift', dims: [2], data: new Float32Array([0.5, 0]) },
        ],
        inputs: [{ name: 'x', shape: ['n', 2] }],
        outputs: [{ name: 'p', shape: ['n', 2] }],
      },
    });
    const session = await ort.InferenceSession.create(bytes);
    for (const n of [1, 3]) {
      const x = new Float32Array(2 * n).map((_, i) => i / 4);
      const { p } = await session.run({ x: new ort.Tensor('float32', x, [n, 2]) });
      assert.deepEqual(p.dims, [n, 2]);
      for (let r = 0; r < n; r++) {
        const a = 2 * x[2 * r] + 0.5;
        const b = -x[2 * r + 1];
        const expected = Math.exp(a) / (Math.exp(a) + Math.exp(b));
        assert.ok(Math.abs((p.data as Float32Array)[2 * r] - expected) < 1e-6);
      }
    }
    await session.release();
  });
});

describe('ONNX export equals the tfjs engine', () => {
  before(async () => {
    await useBackend('cpu');
  });

  const cases: [string, [number, number, number], LayerSpec[]][] = [
    ['conv valid, stride 2x1, no bias', [7, 6, 2], [{ type: 'conv2d', filters: 3, kernel: [3, 2], stride: [2, 1], bias: false }]],
    ["conv 'same' stride 2 on odd sizes (asymmetric pads)", [7, 9, 2], [{ type: 'conv2d', filters: 4, kernel: 3, stride: 2, padding: 'same' }]],
    ["conv 'same' stride 2 on even sizes, even kernel", [8, 6, 1], [{ type: 'conv2d', filters: 2, kernel: 4, stride: 2, padding: 'same' }]],
    ['conv explicit pads [1, 2]', [5, 5, 3], [{ type: 'conv2d', filters: 2, kernel: 3, padding: [1, 2] }]],
    ['conv explicit pad 3 (B-LeNet)', [6, 6, 1], [{ type: 'conv2d', filters: 2, kernel: 5, padding: 3 }]],
    ['max pool floor mode, stride 1', [5, 6, 2], [{ type: 'maxPool', size: 3, stride: 1 }]],
    ['max pool ceil mode, 2x2 on odd sizes', [7, 5, 2], [{ type: 'maxPool', size: 2, padding: 'ceil' }]],
    ['max pool ceil mode, 3x3 stride 2 (padded windows)', [7, 9, 2], [{ type: 'maxPool', size: 3, stride: 2, padding: 'ceil' }]],
    ['avg pool floor mode', [6, 6, 2], [{ type: 'avgPool', size: 2, stride: 1 }]],
    ['avg pool ceil mode where tfjs averages real values only', [5, 6, 2], [{ type: 'avgPool', size: 2, padding: 'ceil' }]],
    ['avg pool ceil mode where tfjs counts the padding', [7, 9, 2], [{ type: 'avgPool', size: 3, stride: 2, padding: 'ceil' }]],
    ['avg pool ceil mode 4x4 stride 2', [9, 9, 1], [{ type: 'avgPool', size: 4, stride: 2, padding: 'ceil' }]],
    ['global average pool', [4, 5, 3], [{ type: 'globalAvgPool' }]],
    ['relu and dropout', [3, 3, 2], [{ type: 'relu' }, { type: 'dropout', rate: 0.5 }]],
    ['LRN with default settings', [4, 4, 7], [{ type: 'lrn' }]],
    ['LRN with a wide window and strong alpha', [3, 3, 6], [{ type: 'lrn', depthRadius: 3, bias: 2, alpha: 0.05, beta: 0.5 }]],
    ['batch norm on feature maps with moving statistics', [4, 4, 3], [{ type: 'batchNorm', epsilon: 1e-3 }]],
    ['batch norm on a flat vector', [2, 2, 2], [{ type: 'flatten' }, { type: 'dense', units: 5 }, { type: 'batchNorm' }]],
    [
      'flatten keeps the NHWC order after convolutions',
      [4, 4, 2],
      [{ type: 'conv2d', filters: 3, kernel: 3, padding: 'same' }, { type: 'flatten' }, { type: 'dense', units: 4, bias: false }],
    ],
    ['residual block, identity shortcut', [5, 5, 4], [{ type: 'residual', filters: 4 }]],
    ['residual block, stride 2 with projection shortcut', [7, 7, 3], [{ type: 'residual', filters: 5, stride: 2 }]],
  ];
  for (const [name, shape, layers] of cases) {
    it(name, async () => {
      await assertParity(seededSource(layerSpec(name, shape, layers), 3), 3);
    });
  }

  it('input normalisation before stage 1', async () => {
    const spec = layerSpec('normalised', [3, 3, 2], [{ type: 'conv2d', filters: 2, kernel: 2 }], {
      input: { shape: [3, 3, 2], normalization: { mean: [0.5, -1], std: [2, 0.25] } },
    });
    await assertParity(seededSource(spec, 4), 2);
  });

  it('a stage that keeps a flat input flat, and an exit with no layers', async () => {
    await assertParity(seededSource(tinySpec(), 5), 4);
  });

  it('refuses a layer it cannot export, naming it', () => {
    const spec = layerSpec('odd', [3, 3, 1], [{ type: 'relu' }]);
    const source = seededSource(spec, 1);
    (source.spec.stages[0].layers as unknown[]).push({ type: 'maxout', pieces: 2 });
    assert.throws(
      () => exportPiece(source, 'stage', 1),
      (e: Error & { code?: string }) => e.code === 'ONNX_UNSUPPORTED_LAYER' && /"maxout"/.test(e.message) && /stages\[0\]\.layers\[1\]/.test(e.message),
    );
  });

  it('refuses a missing weight with the weight named', () => {
    const source = seededSource(tinySpec(), 1);
    delete source.weights['stage2.1.kernel'];
    assert.throws(() => exportPiece(source, 'stage', 2), { code: 'MODEL_MISSING_WEIGHT', message: /stage2\.1\.kernel/ });
  });
});

describe('every zoo network on ort equals tfjs, stage by stage and exit by exit', () => {
  before(async () => {
    await useBackend('cpu');
  });
  for (const entry of listZoo()) {
    it(entry.name, async () => {
      // ResNet-110 on the cpu backend takes tens of seconds per sample; batch 1 keeps it to one pass.
      const batch = entry.name.includes('110') ? 1 : 2;
      await assertParity(seededSource(entry.build(), 9), batch);
    });
  }
});
