import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { normalize } from '../../src/data/index.ts';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import { runEarlyExit } from '../../src/infer/index.ts';
import { maxAbsDiff, randomBatch, tinySpec } from '../helpers.ts';

describe("the spec's input normalisation", () => {
  before(() => useBackend('wasm'));

  it('a network whose spec stores mean and std answers raw inputs as the same weights answer inputs normalised by hand', async () => {
    const stats = { mean: [0.4], std: [0.25] };
    const plain = new TfjsNetwork(tinySpec(), undefined, 7);
    const normalising = new TfjsNetwork(tinySpec({ input: { shape: [6, 6, 1], normalization: stats } }), plain.weights());
    const raw = randomBatch([5, 6, 6, 1], 3, 0.5);
    const byHand = { data: normalize(raw.data, 1, stats), shape: raw.shape };
    const thresholds = [0.4, 0.8];
    const a = await runEarlyExit(normalising, raw, { thresholds });
    const b = await runEarlyExit(plain, byHand, { thresholds });
    assert.deepEqual(
      a.results.map((r) => r.exit),
      b.results.map((r) => r.exit),
    );
    a.results.forEach((r, i) => assert.ok(maxAbsDiff(r.probs, b.results[i].probs) < 1e-5, `sample ${i}`));
    const unnormalised = await runEarlyExit(plain, raw, { thresholds });
    assert.ok(
      unnormalised.results.some((r, i) => maxAbsDiff(r.probs, a.results[i].probs) > 1e-3),
      'the normalisation changes the answers',
    );
    plain.dispose();
    normalising.dispose();
  });
});
