import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SHIPPED_MODEL_DIR } from '../../../src/io/shipped-models.ts';
import { mnistSplits } from '../../../src/data/index.ts';
import { nodeOrtEngine } from '../../../src/engine/ort/node-engine.ts';
import { tfjsEngine } from '../../../src/engine/tfjs/index.ts';
import { runEarlyExit } from '../../../src/infer/index.ts';
import { loadModelDir } from '../../../src/io/index.ts';

describe('the shipped B-LeNet on both engines', () => {
  it('makes the same early-exit decision and answer for every digit of the MNIST test split', async () => {
    const model = loadModelDir(SHIPPED_MODEL_DIR);
    const test = mnistSplits(1).test;
    const x = { data: test.x, shape: [test.count, ...test.shape] };
    const tfjs = await tfjsEngine('wasm').load(model);
    const ort = await (await nodeOrtEngine()).load(model);
    const a = await runEarlyExit(tfjs, x);
    const b = await runEarlyExit(ort, x);
    assert.equal(test.count, 1000);
    assert.equal(tfjs.runtime, 'tfjs-wasm');
    assert.equal(ort.runtime, 'ort-cpu');
    const exits = a.results.map((r) => r.exit);
    assert.ok(exits.includes(1) && exits.includes(2), 'the thresholds split the digits between the exits');
    assert.deepEqual(
      b.results.map((r) => r.exit),
      exits,
    );
    assert.deepEqual(
      b.results.map((r) => r.label),
      a.results.map((r) => r.label),
    );
    a.results.forEach((r, i) => assert.ok(Math.abs(r.score - b.results[i].score) < 1e-4, `digit ${i}: entropy ${r.score} vs ${b.results[i].score}`));
    tfjs.dispose();
    ort.dispose();
  });
});
