import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readPlan, splitModel, writePlan } from '../../src/cascade/plan.ts';
import { mnistSplits, subset } from '../../src/data/index.ts';
import { loadOnnxruntimeNode } from '../../src/engine/ort/node-engine.ts';
import type { Batch, LoadedNetwork } from '../../src/engine/types.ts';
import { runAllExits } from '../../src/infer/all-exits.ts';
import { loadModelDir, modelIdOf } from '../../src/io/model-dir.ts';
import { openModel } from '../../src/open/open-model.ts';
import { addExits } from '../../src/train/add-exits.ts';
import { DEFAULT_TRAIN_OPTIONS } from '../../src/train/index.ts';
import { tempDir } from '../helpers.ts';
import { importedLenetChain } from '../train/lenet-chain.ts';
import { quantileScore } from './seeded-resnet.ts';
import { expectSame, startUnit, type RunningUnit } from './units.ts';

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('split of an imported ONNX chain with exits added (import-onnx --no-exits, add-exits, split)', () => {
  let chain: string;
  let model: string;
  let planDir: string;
  let net: LoadedNetwork;
  let x: Batch;
  const units: RunningUnit[] = [];

  before(async () => {
    chain = await importedLenetChain();
    const all = mnistSplits(1);
    const first = (n: number) => Uint32Array.from({ length: n }, (_, i) => i);
    const splits = { ...all, train: subset(all.train, first(800)), validation: subset(all.validation, first(300)), test: subset(all.test, first(60)) };
    model = tempDir();
    await addExits({
      from: chain,
      out: model,
      exits: [{ position: 1 }, { position: 2 }],
      splits,
      options: { ...DEFAULT_TRAIN_OPTIONS, mode: 'frozen', epochs: 1, batchSize: 64, seed: 3 },
      backend: 'wasm',
      maxDrop: 0.01,
      ort: loadOnnxruntimeNode,
      log: () => {},
    });
    planDir = join(tempDir(), 'plan');
    writePlan(planDir, splitModel(loadModelDir(model), { at: [1, 2], names: ['device', 'edge', 'cloud'] }));
    ({ net } = await openModel(model));
    x = { data: splits.test.x, shape: [splits.test.count, 28, 28, 1] };
    const cloud = await startUnit(planDir, 'cloud');
    const edge = await startUnit(planDir, 'edge', '--successor', cloud.url);
    units.push(await startUnit(planDir, 'device', '--successor', edge.url), edge, cloud);
  });

  after(async () => {
    for (const u of units) await u.stop();
    net?.dispose();
  });

  it('each unit holds its stages’ segment files byte for byte, and the plan names the model by its ONNX files too', () => {
    const plan = readPlan(planDir);
    assert.deepEqual(
      plan.units.map((u) => [u.name, u.stages, u.inputShape]),
      [
        ['device', [1, 1], [28, 28, 1]],
        ['edge', [2, 2], [30, 30, 5]],
        ['cloud', [3, 3], [9, 9, 10]],
      ],
    );
    assert.equal(plan.modelId, modelIdOf(loadModelDir(model).manifest));
    const source = loadModelDir(model).manifest.onnx!;
    assert.equal(source.stages.length, 3, 'one segment a stage');
    for (const [unit, k] of [
      ['device', 1],
      ['edge', 2],
      ['cloud', 3],
    ] as const) {
      const dir = join(planDir, unit);
      assert.equal(sha(join(dir, 'stage_1.onnx')), sha(join(chain, `stage_${k}.onnx`)), `${unit}'s stage`);
      const manifest = loadModelDir(dir).manifest;
      assert.equal(manifest.spec.imported, 'onnx');
      assert.equal(manifest.modelId, plan.modelId);
    }
    assert.equal(sha(join(planDir, 'cloud', 'exit_1.onnx')), sha(join(chain, 'exit_3.onnx')), 'the imported classifier');
  });

  it('answers (label, exit, unit) as runEarlyExit does on the whole network, with samples leaving at every unit', async () => {
    const all = await runAllExits(net, x);
    const names = ['device', 'edge', 'cloud'];
    for (const shares of [
      [0.4, 0.3],
      [0, 0],
    ]) {
      const thresholds = shares.map((s, i) => (s === 0 ? 0 : quantileScore(all.probs[i], all.classes, s)));
      const results = await expectSame(net, units[0], loadModelDir(model).spec.name, x, thresholds, (exit) => names[exit - 1]);
      if (shares[0] > 0) assert.equal(new Set(results.map((r) => r.unit)).size, 3, `every unit answers some at [${thresholds}]`);
    }
  });

  it('two imported networks with the same spec but other ONNX files have different ids', () => {
    const manifest = loadModelDir(chain).manifest;
    const other = structuredClone(manifest);
    other.onnx!.stages[1].sha256 = 'f'.repeat(64);
    assert.notEqual(modelIdOf(other), modelIdOf(manifest));
    const exitChanged = structuredClone(manifest);
    exitChanged.onnx!.exits.at(-1)!.sha256 = 'f'.repeat(64);
    assert.notEqual(modelIdOf(exitChanged), modelIdOf(manifest), 'the imported classifier counts');
  });
});
