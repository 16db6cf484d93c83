import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { profileCosts } from '../../src/calibrate/cost-profile.ts';
import { nodeOrtEngine } from '../../src/engine/ort/node-engine.ts';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import type { Batch, LoadedNetwork } from '../../src/engine/types.ts';
import { randomBatch, tinySpec } from '../helpers.ts';
import { seededSource } from '../engine/ort/seeded-source.ts';

const DELAY_MS = 4;

/** The real network, with every fused call made at least DELAY_MS slower than its pieces run alone. */
function slowFused(net: LoadedNetwork): LoadedNetwork {
  const fused = net.stageAndExit!.bind(net);
  return {
    spec: net.spec,
    runtime: net.runtime,
    stage: (n, x) => net.stage(n, x),
    exit: (n, x) => net.exit(n, x),
    stageAndExit: (n: number, x: Batch) => {
      const until = performance.now() + DELAY_MS;
      while (performance.now() < until);
      return fused(n, x);
    },
    dispose: () => net.dispose(),
  };
}

describe('profileCosts', () => {
  const x = randomBatch([8, 6, 6, 1], 2);
  const samples = { x: x.data, y: new Uint8Array(8), shape: [6, 6, 1], count: 8 };
  const options = { batch1Samples: 8, batchSize: 4, batches: 2, warmup: 1 };
  let net: LoadedNetwork;
  before(async () => {
    await useBackend('cpu');
    net = await (await nodeOrtEngine({ threads: 1 })).load(seededSource(tinySpec(), 1));
  });

  it('builds costToExit and finalOnlyCost from the fused calls when the network offers them', async () => {
    const profile = await profileCosts(slowFused(net), samples, options);
    // Every fused call waits DELAY_MS, so only sums of fused timers can reach these bounds.
    profile.costToExit.forEach((c, i) => assert.ok(c >= DELAY_MS * (i + 1), `costToExit[${i}] = ${c}`));
    profile.costToExitBatched.forEach((c, i) => assert.ok(c >= (DELAY_MS * (i + 1)) / options.batchSize, `costToExitBatched[${i}] = ${c}`));
    assert.ok(profile.finalOnlyCost >= DELAY_MS, `finalOnlyCost ${profile.finalOnlyCost}`);
    assert.ok(profile.finalOnlyCostBatched >= DELAY_MS / options.batchSize);
    // Final-only runs stages 1 and 2 alone and only stage 3 fused: two fused calls fewer than reaching exit 3.
    assert.ok(profile.finalOnlyCost < profile.costToExit[2] - DELAY_MS, `${profile.finalOnlyCost} vs ${profile.costToExit[2]}`);
    assert.deepEqual(
      profile.pieces.map((p) => `${p.kind} ${p.index}`),
      ['stage 1', 'exit 1', 'stage 2', 'exit 2', 'stage 3', 'exit 3'],
    );
  });

  it('sums the stage and exit rows when the network has no fused call', async () => {
    const plain: LoadedNetwork = { spec: net.spec, runtime: net.runtime, stage: (n, b) => net.stage(n, b), exit: (n, b) => net.exit(n, b), dispose: () => {} };
    const profile = await profileCosts(plain, samples, options);
    const row = (kind: string, n: number) => profile.pieces.find((p) => p.kind === kind && p.index === n)!;
    let sum = 0;
    for (let n = 1; n <= 3; n++) {
      sum += row('stage', n).batch1.typicalMs + row('exit', n).batch1.typicalMs;
      assert.ok(Math.abs(profile.costToExit[n - 1] - sum) < 1e-9, `costToExit[${n - 1}]`);
    }
    const finalOnly = row('stage', 1).batch1.typicalMs + row('stage', 2).batch1.typicalMs + row('stage', 3).batch1.typicalMs + row('exit', 3).batch1.typicalMs;
    assert.ok(Math.abs(profile.finalOnlyCost - finalOnly) < 1e-9);
  });

  it('a burst of load on a few samples moves the mean but not the typical cost the totals use', async () => {
    const burstMs = 40;
    let stageCalls = 0;
    const bursty: LoadedNetwork = {
      spec: net.spec,
      runtime: net.runtime,
      stage: (n, b) => {
        // Two single-sample calls of stage 1, within one block of 20, stall as if the process lost the CPU.
        if (n === 1 && b.shape[0] === 1 && [25, 26].includes(++stageCalls)) {
          const until = performance.now() + burstMs;
          while (performance.now() < until);
        }
        return net.stage(n, b);
      },
      exit: (n, b) => net.exit(n, b),
      dispose: () => {},
    };
    const many = randomBatch([60, 6, 6, 1], 3);
    const profile = await profileCosts(bursty, { x: many.data, y: new Uint8Array(60), shape: [6, 6, 1], count: 60 }, { ...options, batch1Samples: 60 });
    const stage1 = profile.pieces[0].batch1;
    assert.ok(stage1.meanMs > stage1.typicalMs + burstMs / 60, `mean ${stage1.meanMs} vs typical ${stage1.typicalMs}`);
    assert.ok(stage1.typicalMs < burstMs / 20, `typical ${stage1.typicalMs}`);
    assert.ok(profile.costToExit[0] < burstMs / 20, `costToExit[0] ${profile.costToExit[0]}`);
    net.dispose();
  });
});
