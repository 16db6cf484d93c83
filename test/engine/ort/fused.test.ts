import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { nodeOrtEngine } from '../../../src/engine/ort/node-engine.ts';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHIPPED_MODEL_DIR } from '../../../src/io/shipped-models.ts';
import { exportNetwork, fusedGraph, goingOnShares, ONNX_FUSED_FEATURES, ONNX_FUSED_PROBS, type OrtNetwork } from '../../../src/engine/ort/index.ts';
import { openModel } from '../../../src/open/open-model.ts';
import { useBackend } from '../../../src/engine/tfjs/index.ts';
import type { Batch, LoadedNetwork } from '../../../src/engine/types.ts';
import { runEarlyExit } from '../../../src/infer/index.ts';
import { listZoo } from '../../../src/zoo/index.ts';
import { maxAbsDiff, randomBatch, tinySpec } from '../../helpers.ts';
import { seededSource } from './seeded-source.ts';

/** Largest difference between the fused call and stage n then exit n, over every stage, on the same inputs. */
async function fusedDifferences(net: LoadedNetwork, x: Batch): Promise<{ piece: string; diff: number }[]> {
  assert.ok(net.stageAndExit, `${net.spec.name} on ort offers the fused call`);
  const stageAndExit = net.stageAndExit.bind(net);
  const out: { piece: string; diff: number }[] = [];
  const depth = net.spec.stages.length;
  let features = x;
  for (let n = 1; n <= depth; n++) {
    const fused = await stageAndExit(n, features);
    const stage = await net.stage(n, features);
    const probs = await net.exit(n, stage);
    assert.deepEqual(fused.probs.shape, probs.shape, `exit ${n} shape`);
    out.push({ piece: `exit ${n}`, diff: maxAbsDiff(fused.probs.data, probs.data) });
    if (n === depth) await assert.rejects(fused.features([0]), { code: 'ENGINE_NO_FEATURES' });
    else {
      const carried = await fused.features(Array.from({ length: x.shape[0] }, (_, i) => i));
      assert.deepEqual(carried.shape, stage.shape, `stage ${n} shape`);
      let scale = 1;
      for (const v of stage.data) scale = Math.max(scale, Math.abs(v));
      out.push({ piece: `stage ${n}`, diff: maxAbsDiff(carried.data, stage.data) / scale });
    }
    features = stage;
  }
  return out;
}

/** Counts the engine calls a network receives, passing each on to the real network. */
function counted(net: LoadedNetwork): { net: LoadedNetwork; calls: string[] } {
  const calls: string[] = [];
  const fused = net.stageAndExit?.bind(net);
  return {
    calls,
    net: {
      spec: net.spec,
      runtime: net.runtime,
      stage: (n, x) => (calls.push(`stage ${n}`), net.stage(n, x)),
      exit: (n, x) => (calls.push(`exit ${n}`), net.exit(n, x)),
      ...(fused ? { stageAndExit: (n: number, x: Batch) => (calls.push(`fused ${n}`), fused(n, x)) } : {}),
      dispose: () => net.dispose(),
    },
  };
}

describe('fused stage-and-exit sessions on ort', () => {
  before(async () => {
    await useBackend('cpu');
  });

  it('the fused graph has the stage input, the probabilities and, before the last stage, the features', () => {
    const source = seededSource(tinySpec(), 3);
    const first = fusedGraph(source, 1);
    assert.deepEqual(
      first.inputs.map((v) => v.shape),
      [['batch', 6, 6, 1]],
    );
    assert.deepEqual(
      first.outputs.map((v) => [v.name, v.shape]),
      [
        [ONNX_FUSED_PROBS, ['batch', 3]],
        [ONNX_FUSED_FEATURES, ['batch', 6, 6, 4]],
      ],
    );
    assert.deepEqual(
      fusedGraph(source, 3).outputs.map((v) => v.name),
      [ONNX_FUSED_PROBS],
    );
    assert.deepEqual(
      fusedGraph(source, 1, false).outputs.map((v) => v.name),
      [ONNX_FUSED_PROBS],
    );
    assert.ok(!fusedGraph(source, 1, false).nodes.some((node) => node.outputs.includes(ONNX_FUSED_FEATURES)));
    assert.throws(() => fusedGraph(source, 3, true), { code: 'ONNX_BAD_PIECE' });
    assert.throws(() => fusedGraph(source, 4), { code: 'ONNX_BAD_PIECE' });
  });

  for (const entry of listZoo()) {
    it(`${entry.name}: fused output equals stage then exit to 1e-5`, async () => {
      const net = await (await nodeOrtEngine()).load(seededSource(entry.build(), 9));
      try {
        const batch = entry.name.includes('110') ? 1 : 2;
        for (const { piece, diff } of await fusedDifferences(net, randomBatch([batch, ...net.spec.input.shape], 5))) {
          assert.ok(diff <= 1e-5, `${entry.name} ${piece}: fused differs from the separate pieces by ${diff}`);
        }
      } finally {
        net.dispose();
      }
    });
  }

  it('fetching and recomputing features give the same answers, probabilities and features bit for bit', async () => {
    const source = seededSource(tinySpec(), 7);
    const fetch = (await (await nodeOrtEngine({ threads: 1, carry: 'fetch' })).load(source)) as OrtNetwork;
    const recompute = (await (await nodeOrtEngine({ threads: 1, carry: 'recompute' })).load(source)) as OrtNetwork;
    assert.deepEqual(fetch.carry, ['fetch', 'fetch']);
    assert.deepEqual(recompute.carry, ['recompute', 'recompute']);
    const x = randomBatch([6, 6, 6, 1], 11);
    for (const n of [1, 2]) {
      const input = n === 1 ? x : await fetch.stage(1, x);
      const a = await fetch.stageAndExit!(n, input);
      const b = await recompute.stageAndExit!(n, input);
      assert.deepEqual(a.probs, b.probs, `exit ${n}`);
      for (const rows of [[0, 1, 2, 3, 4, 5], [4, 1], [5], []]) assert.deepEqual(await a.features(rows), await b.features(rows), `stage ${n} rows ${rows}`);
    }
    for (const thresholds of [
      [0, 0],
      [0.9, 0.95],
      [1.0986, 1.0986],
    ]) {
      const a = await runEarlyExit(fetch, x, { thresholds });
      const b = await runEarlyExit(recompute, x, { thresholds });
      assert.deepEqual(a.results, b.results, `thresholds ${thresholds}`);
    }
    fetch.dispose();
    recompute.dispose();
  });

  it('auto chooses a carry mode per stage before the last', async () => {
    const net = (await (await nodeOrtEngine({ threads: 1 })).load(seededSource(tinySpec(), 7))) as OrtNetwork;
    assert.equal(net.carry.length, 2);
    assert.ok(
      net.carry.every((m) => m === 'fetch' || m === 'recompute'),
      net.carry.join(),
    );
    net.dispose();
  });

  it('the runner makes one call per stage reached, and the final-only path fuses the last stage only', async () => {
    const source = seededSource(tinySpec(), 4);
    const ort = await (await nodeOrtEngine({ carry: 'fetch' })).load(source);
    const { net, calls } = counted(ort);
    const x = randomBatch([4, 6, 6, 1], 8);
    const all = await runEarlyExit(net, x, { thresholds: [0, 0] });
    assert.deepEqual(calls.splice(0), ['fused 1', 'fused 2', 'fused 3']);
    assert.ok(all.results.every((r) => r.exit === 3));
    await runEarlyExit(net, x, { thresholds: [1.0986, 1.0986] });
    assert.deepEqual(calls.splice(0), ['fused 1']);
    const finalOnly = await runEarlyExit(net, x, { finalOnly: true });
    assert.deepEqual(calls.splice(0), ['stage 1', 'stage 2', 'fused 3']);
    finalOnly.results.forEach((r, i) => assert.ok(maxAbsDiff(r.probs, all.results[i].probs) < 1e-6));
    ort.dispose();
  });

  it('a network imported from ONNX has no fused call and runs its pieces one call each', async () => {
    const source = seededSource(tinySpec(), 4);
    const onnx = exportNetwork(source);
    const spec = {
      ...source.spec,
      imported: 'onnx' as const,
      stages: source.spec.stages.map(() => ({ layers: [] })),
      exits: source.spec.exits.map(() => ({ layers: [] })),
    };
    const imported = await (await nodeOrtEngine()).load({ spec, weights: {}, onnx });
    const built = await (await nodeOrtEngine()).load(source);
    assert.equal(imported.stageAndExit, undefined);
    const { net, calls } = counted(imported);
    const x = randomBatch([4, 6, 6, 1], 8);
    const a = await runEarlyExit(net, x, { thresholds: [0, 0] });
    assert.deepEqual(calls, ['stage 1', 'exit 1', 'stage 2', 'exit 2', 'stage 3', 'exit 3']);
    const b = await runEarlyExit(built, x, { thresholds: [0, 0] });
    a.results.forEach((r, i) => assert.ok(maxAbsDiff(r.probs, b.results[i].probs) < 1e-5));
    imported.dispose();
    built.dispose();
  });
});

describe('goingOnShares', () => {
  it('turns the share leaving at each exit into the share of those reaching each early exit that go on', () => {
    const rounded = (xs: number[]) => xs.map((v) => Math.round(v * 1e9) / 1e9);
    assert.deepEqual(rounded(goingOnShares([0.8, 0.2])), [0.2]);
    assert.deepEqual(rounded(goingOnShares([0.5, 0.25, 0.25])), [0.5, 0.5]);
    assert.deepEqual(goingOnShares([1, 0, 0]), [0, 0]);
    assert.deepEqual(goingOnShares([0, 0, 1]), [1, 1]);
    assert.deepEqual(goingOnShares([1]), []);
  });

  it('openModel on a calibrated model directory loads ort with a carry mode for every early exit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'branchy-carry-'));
    try {
      cpSync(SHIPPED_MODEL_DIR, dir, { recursive: true });
      const manifest = JSON.parse(readFileSync(join(dir, 'branchy.json'), 'utf8'));
      manifest.calibration = { chosen: 0, front: [{ thresholds: [0.5], exitShare: [0.9, 0.1] }] };
      writeFileSync(join(dir, 'branchy.json'), JSON.stringify(manifest));
      const { net } = await openModel(dir, { engine: 'ort', threads: 1 });
      assert.equal((net as OrtNetwork).carry.length, 1);
      net.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
