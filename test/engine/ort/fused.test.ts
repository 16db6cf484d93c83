import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { nodeOrtEngine } from '../../../src/engine/ort/node-engine.ts';
import { exportNetwork, fusedGraph, ONNX_FUSED_FEATURES, ONNX_FUSED_PROBS } from '../../../src/engine/ort/index.ts';
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
    if (n === depth) assert.equal(fused.features, null, 'the last stage returns no features');
    else {
      assert.ok(fused.features);
      assert.deepEqual(fused.features.shape, stage.shape, `stage ${n} shape`);
      let scale = 1;
      for (const v of stage.data) scale = Math.max(scale, Math.abs(v));
      out.push({ piece: `stage ${n}`, diff: maxAbsDiff(fused.features.data, stage.data) / scale });
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
    assert.deepEqual(first.inputs.map((v) => v.shape), [['batch', 6, 6, 1]]);
    assert.deepEqual(first.outputs.map((v) => [v.name, v.shape]), [
      [ONNX_FUSED_PROBS, ['batch', 3]],
      [ONNX_FUSED_FEATURES, ['batch', 6, 6, 4]],
    ]);
    assert.deepEqual(fusedGraph(source, 3).outputs.map((v) => v.name), [ONNX_FUSED_PROBS]);
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

  it('the runner makes one call per stage reached, and the final-only path fuses the last stage only', async () => {
    const source = seededSource(tinySpec(), 4);
    const ort = await (await nodeOrtEngine()).load(source);
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
    const spec = { ...source.spec, imported: 'onnx' as const, stages: source.spec.stages.map(() => ({ layers: [] })), exits: source.spec.exits.map(() => ({ layers: [] })) };
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
