import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Rng } from '../../src/common/rng.ts';
import { nodeOrtEngine } from '../../src/engine/ort/node-engine.ts';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import type { Batch, LoadedNetwork } from '../../src/engine/types.ts';
import { entropyCriterion, firstPassingExit, getCriterion, listCriteria } from '../../src/exit/index.ts';
import { evaluateExits, runAllExits, runEarlyExit } from '../../src/infer/index.ts';
import { randomBatch, tinySpec } from '../helpers.ts';

/** Wraps a network and records how many samples each stage and exit head saw. */
function counting(net: LoadedNetwork) {
  const seen = { stage: [] as number[], exit: [] as number[] };
  const wrapped: LoadedNetwork = {
    spec: net.spec,
    runtime: net.runtime,
    stage: (n: number, x: Batch) => ((seen.stage[n - 1] = (seen.stage[n - 1] ?? 0) + x.shape[0]), net.stage(n, x)),
    exit: (n: number, x: Batch) => ((seen.exit[n - 1] = (seen.exit[n - 1] ?? 0) + x.shape[0]), net.exit(n, x)),
    dispose: () => net.dispose(),
  };
  return { wrapped, seen };
}

/** The same seeded network on each engine: the suite below runs once per engine. */
const engines: { name: string; open: () => Promise<LoadedNetwork> }[] = [
  { name: 'tfjs', open: async () => new TfjsNetwork(tinySpec(), undefined, 5) },
  {
    name: 'ort',
    open: async () => {
      const tfjs = new TfjsNetwork(tinySpec(), undefined, 5);
      const weights = tfjs.weights();
      tfjs.dispose();
      return (await nodeOrtEngine()).load({ spec: tinySpec(), weights });
    },
  },
];

for (const engine of engines)
  describe(`early-exit runner on ${engine.name}`, () => {
    let net: LoadedNetwork;
    const batch = randomBatch([64, 6, 6, 1], 3);
    before(async () => {
      await useBackend('cpu');
      net = await engine.open();
    });

    it('answers like the all-exits pass with the first passing exit, for random thresholds and every criterion', async () => {
      const table = await runAllExits(net, batch);
      const rng = new Rng(11);
      for (const criterion of listCriteria()) {
        const [lo, hi] = criterion.range(3);
        for (let trial = 0; trial < 25; trial++) {
          const thresholds = [lo + rng.next() * (hi - lo), lo + rng.next() * (hi - lo)];
          const { results } = await runEarlyExit(net, batch, { thresholds, criterion: criterion.name });
          for (let i = 0; i < 64; i++) {
            const scores = table.probs.map((p) => criterion.score(p, 3, i * 3));
            const expected = firstPassingExit(scores, thresholds);
            assert.equal(results[i].exit, expected + 1, `${criterion.name} trial ${trial} sample ${i}`);
            const probs = table.probs[expected].subarray(i * 3, i * 3 + 3);
            for (let c = 0; c < 3; c++) assert.ok(Math.abs(results[i].probs[c] - probs[c]) < 1e-6);
            assert.equal(results[i].label, probs.indexOf(Math.max(...probs)));
            assert.ok(Math.abs(results[i].score - scores[expected]) < 1e-6);
          }
        }
      }
    });

    it('samples that pass exit 1 never reach stage 2', async () => {
      const { wrapped, seen } = counting(net);
      const { results, timing } = await runEarlyExit(wrapped, batch, { thresholds: [0.9, 0.9] });
      const atOne = results.filter((r) => r.exit === 1).length;
      const atTwo = results.filter((r) => r.exit === 2).length;
      assert.ok(atOne > 0 && atOne < 64, `a threshold that splits the batch (${atOne} left at exit 1)`);
      assert.deepEqual(
        seen.stage,
        [64, 64 - atOne, 64 - atOne - atTwo].filter((n) => n > 0),
      );
      assert.deepEqual(timing.entered.slice(0, seen.stage.length), seen.stage);
    });

    it('threshold 0 sends every sample to the final exit; the final exit answers whatever is left', async () => {
      const { results } = await runEarlyExit(net, batch, { thresholds: [0, 0] });
      assert.ok(results.every((r) => r.exit === 3));
      const all = await runEarlyExit(net, batch, { thresholds: [Math.log(3), Math.log(3)] });
      assert.ok(all.results.every((r) => r.exit === 1 || r.score >= Math.log(3) - 1e-6));
    });

    it('final-only mode runs no early exit head', async () => {
      const { wrapped, seen } = counting(net);
      const { results } = await runEarlyExit(wrapped, batch, { finalOnly: true });
      assert.deepEqual(Array.from(seen.exit), [undefined, undefined, 64]);
      const table = await runAllExits(net, batch);
      results.forEach((r, i) => assert.equal(r.score.toFixed(5), entropyCriterion.score(table.probs[2], 3, i * 3).toFixed(5)));
    });

    it('uses the spec policy when no thresholds are given', async () => {
      const a = await runEarlyExit(net, batch);
      const b = await runEarlyExit(net, batch, { thresholds: net.spec.policy.thresholds, criterion: getCriterion('entropy') });
      assert.deepEqual(
        a.results.map((r) => r.exit),
        b.results.map((r) => r.exit),
      );
    });

    it('refuses thresholds of the wrong count with a coded error', async () => {
      await assert.rejects(runEarlyExit(net, batch, { thresholds: [0.1] }), { code: 'EXIT_THRESHOLD_COUNT' });
    });

    it("refuses another criterion without thresholds on its scale (the model's are entropy thresholds)", async () => {
      await assert.rejects(runEarlyExit(net, batch, { criterion: 'max-prob' }), { code: 'EXIT_THRESHOLDS_REQUIRED' });
      await assert.doesNotReject(runEarlyExit(net, batch, { criterion: 'max-prob', thresholds: [0.2, 0.2] }));
    });

    it('evaluateExits agrees with the runner sample by sample', async () => {
      const labels = new Uint8Array(64).map((_, i) => i % 3);
      const samples = { x: batch.data, y: labels, shape: [6, 6, 1], count: 64 };
      const thresholds = [0.8, 0.95];
      const evaluation = await evaluateExits(net, samples, { thresholds, batchSize: 10 });
      const { results } = await runEarlyExit(net, batch, { thresholds });
      const share = [1, 2, 3].map((e) => results.filter((r) => r.exit === e).length / 64);
      assert.deepEqual(evaluation.exitShare, share);
      assert.equal(evaluation.accuracy, results.filter((r, i) => r.label === labels[i]).length / 64);
    });
  });
