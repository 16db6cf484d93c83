import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadOnnxruntimeNode, nodeOrtEngine } from '../../../src/engine/ort/node-engine.ts';
import { ortEngine } from '../../../src/engine/ort/index.ts';
import { useBackend } from '../../../src/engine/tfjs/index.ts';
import { randomBatch, tinySpec } from '../../helpers.ts';
import { seededSource } from './seeded-source.ts';

describe('nodeOrtEngine (native sessions called directly)', () => {
  before(async () => {
    await useBackend('cpu');
  });

  it('returns exactly what onnxruntime-node public sessions return, piece by piece and fused', async () => {
    const source = seededSource(tinySpec(), 6);
    const direct = await (await nodeOrtEngine({ threads: 1 })).load(source);
    const viaPublic = await ortEngine(await loadOnnxruntimeNode(), { threads: 1 }).load(source);
    let features = randomBatch([3, 6, 6, 1], 4);
    for (let n = 1; n <= 3; n++) {
      const a = await direct.stage(n, features);
      const b = await viaPublic.stage(n, features);
      assert.deepEqual(a.shape, b.shape);
      assert.deepEqual(a.data, b.data, `stage ${n}`);
      assert.deepEqual((await direct.exit(n, a)).data, (await viaPublic.exit(n, b)).data, `exit ${n}`);
      const fa = await direct.stageAndExit!(n, features);
      const fb = await viaPublic.stageAndExit!(n, features);
      assert.deepEqual(fa.probs.data, fb.probs.data, `fused ${n}`);
      if (n < 3) assert.deepEqual((await fa.features([2, 0])).data, (await fb.features([2, 0])).data, `fused ${n} features`);
      features = a;
    }
    direct.dispose();
    viaPublic.dispose();
  });

  it('reports a model onnxruntime cannot load and a batch a piece cannot take with coded errors', async () => {
    const source = seededSource(tinySpec(), 6);
    const engine = await nodeOrtEngine();
    const garbage = {
      stages: [new Uint8Array([1, 2, 3]), new Uint8Array(1), new Uint8Array(1)],
      exits: [new Uint8Array(1), new Uint8Array(1), new Uint8Array(1)],
    };
    await assert.rejects(engine.load({ ...source, onnx: garbage }), { code: 'ONNX_BAD_MODEL', message: /stage 1 of 'tiny'/ });
    const net = await engine.load(source);
    await assert.rejects(net.stage(2, randomBatch([1, 5, 5, 2], 1)), {
      code: 'ENGINE_RUN_FAILED',
      message: /stage 2 of 'tiny' failed on a \[1, 5, 5, 2\] batch/,
    });
    await assert.rejects(net.stageAndExit!(2, randomBatch([1, 5, 5, 2], 1)), { code: 'ENGINE_RUN_FAILED', message: /stage 2 \+ exit 2 of 'tiny'/ });
    net.dispose();
  });
});
