import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ortWeb from 'onnxruntime-web';
import { SHIPPED_MODEL_DIR } from '../../../src/io/shipped-models.ts';
import { ortEngine } from '../../../src/engine/ort/index.ts';
import { nodeOrtEngine } from '../../../src/engine/ort/node-engine.ts';
import { loadModelDir } from '../../../src/io/index.ts';
import { maxAbsDiff, randomBatch } from '../../helpers.ts';

describe('the ort engine over onnxruntime-web (the page’s runtime)', () => {
  it('gives the same stages and exits as over onnxruntime-node', async () => {
    ortWeb.env.wasm.numThreads = 1;
    const model = loadModelDir(SHIPPED_MODEL_DIR);
    const web = await ortEngine(ortWeb, { runtime: 'ort-wasm' }).load(model);
    const node = await (await nodeOrtEngine()).load(model);
    assert.equal(web.runtime, 'ort-wasm');
    let a = randomBatch([3, 28, 28, 1], 4);
    let b = a;
    for (let n = 1; n <= 2; n++) {
      a = await web.stage(n, a);
      b = await node.stage(n, b);
      assert.ok(maxAbsDiff(a.data, b.data) < 1e-4, `stage ${n}`);
      assert.ok(maxAbsDiff((await web.exit(n, a)).data, (await node.exit(n, b)).data) < 1e-5, `exit ${n}`);
    }
    web.dispose();
    node.dispose();
  });
});
