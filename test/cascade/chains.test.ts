import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { splitModel, writePlan } from '../../src/cascade/plan.ts';
import type { DeploymentPlan } from '../../src/cascade/types.ts';
import type { Batch, LoadedNetwork } from '../../src/engine/types.ts';
import { runAllExits } from '../../src/infer/all-exits.ts';
import { loadModelDir } from '../../src/io/model-dir.ts';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { openModel } from '../../src/open/open-model.ts';
import { randomBatch, tempDir } from '../helpers.ts';
import { digits } from '../serve/fixtures.ts';
import { quantileScore, seededResnet20 } from './seeded-resnet.ts';
import { expectSame, startUnit, type RunningUnit } from './units.ts';

describe('a 3-unit cascade of a seeded B-ResNet-20 over HTTP (device → edge → cloud)', () => {
  let planDir: string;
  let plan: DeploymentPlan;
  let net: LoadedNetwork;
  let x: Batch;
  const units: RunningUnit[] = [];

  before(async () => {
    const { dir: modelDir, spec } = await seededResnet20();
    planDir = join(tempDir(), 'resnet-plan');
    plan = writePlan(planDir, splitModel(loadModelDir(modelDir), { at: [1, 2], names: ['device', 'edge', 'cloud'] }));
    ({ net } = await openModel(modelDir, { engine: 'ort' }));
    x = randomBatch([40, ...spec.input.shape], 11);
    const cloud = await startUnit(planDir, 'cloud');
    const edge = await startUnit(planDir, 'edge', '--successor', cloud.url);
    const device = await startUnit(planDir, 'device', '--successor', edge.url);
    units.push(device, edge, cloud);
  });

  after(async () => {
    for (const u of units) await u.stop();
    net?.dispose();
  });

  it('answers (label, exit, unit) as runEarlyExit does, with samples leaving at every unit', async () => {
    const all = await runAllExits(net, x);
    const names = ['device', 'edge', 'cloud'];
    for (const shares of [
      [0.3, 0.5],
      [0.6, 0.2],
      [0, 0],
    ]) {
      const thresholds = shares.map((s, i) => (s === 0 ? 0 : quantileScore(all.probs[i], all.classes, s)));
      const results = await expectSame(net, units[0], plan.model, x, thresholds, (exit) => names[exit - 1]);
      for (const r of results) {
        assert.equal(r.hops, names.indexOf(r.unit));
        assert.deepEqual(
          r.path.map((h) => h.unit),
          names.slice(1, r.hops + 1),
        );
      }
      if (shares[0] > 0) assert.ok(new Set(results.map((r) => r.unit)).size === 3, `every unit answers some at [${thresholds}]`);
    }
  });
});

describe('a 2-unit B-LeNet cascade forwarding the raw input (split --forward input)', () => {
  let planDir: string;
  let plan: DeploymentPlan;
  let net: LoadedNetwork;
  const units: RunningUnit[] = [];

  before(async () => {
    planDir = join(tempDir(), 'lenet-input');
    plan = writePlan(planDir, splitModel(loadModelDir(SHIPPED_MODEL_DIR), { at: [1], names: ['device', 'cloud'], forward: 'input' }));
    ({ net } = await openModel(SHIPPED_MODEL_DIR, { engine: 'ort' }));
    const cloud = await startUnit(planDir, 'cloud');
    units.push(await startUnit(planDir, 'device', '--successor', cloud.url), cloud);
  });

  after(async () => {
    for (const u of units) await u.stop();
    net?.dispose();
  });

  it('the successor runs from stage 1 on the 784-byte digit and answers as runEarlyExit does', async () => {
    assert.deepEqual(plan.units[1].stages, [1, 2]);
    assert.equal(plan.units[1].takes, 'input');
    const samples = digits(80, 500);
    const data = new Float32Array(samples.length * 784);
    samples.forEach((s, i) => data.set(s, i * 784));
    const results = await expectSame(net, units[0], plan.model, { data, shape: [samples.length, 28, 28, 1] }, [0.05], (exit) =>
      exit === 1 ? 'device' : 'cloud',
    );
    const hop = results.find((r) => r.unit === 'cloud')?.path[0];
    assert.ok(hop, 'some go to the cloud');
  });
});
