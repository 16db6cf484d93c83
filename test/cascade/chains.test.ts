import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { splitModel, writePlan } from '../../src/cascade/plan.ts';
import type { DeploymentPlan } from '../../src/cascade/types.ts';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import type { Batch, LoadedNetwork } from '../../src/engine/types.ts';
import { getCriterion } from '../../src/exit/index.ts';
import { runAllExits } from '../../src/infer/all-exits.ts';
import { runEarlyExit } from '../../src/infer/runner.ts';
import { loadModelDir, saveModelDir } from '../../src/io/model-dir.ts';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { openModel } from '../../src/open/open-model.ts';
import { zooModel } from '../../src/zoo/index.ts';
import { randomBatch, tempDir } from '../helpers.ts';
import { digits } from '../serve/fixtures.ts';
import { predict, startUnit, type RunningUnit } from './units.ts';

/** The score at which a given share of samples passes exit n, from every exit's probabilities. */
function quantileScore(probs: Float32Array, classes: number, share: number): number {
  const criterion = getCriterion('entropy');
  const scores = Array.from({ length: probs.length / classes }, (_, i) => criterion.score(probs, classes, i * classes)).sort((a, b) => a - b);
  return scores[Math.floor(share * (scores.length - 1))];
}

function rows(batch: Batch): Float32Array[] {
  const per = batch.data.length / batch.shape[0];
  return Array.from({ length: batch.shape[0] }, (_, i) => batch.data.slice(i * per, (i + 1) * per));
}

async function expectSame(net: LoadedNetwork, front: RunningUnit, model: string, x: Batch, thresholds: number[], unitOfExit: (exit: number) => string) {
  const { results: expected } = await runEarlyExit(net, x, { thresholds });
  const { status, results } = await predict(front.url, model, rows(x), thresholds);
  assert.equal(status, 200);
  assert.deepEqual(
    results.map((r) => [r.label, r.exit, r.unit, r.degraded]),
    expected.map((r) => [r.label, r.exit, unitOfExit(r.exit), false]),
    `thresholds [${thresholds}]`,
  );
  return results;
}

describe('a 3-unit cascade of a seeded B-ResNet-20 over HTTP (device → edge → cloud)', () => {
  let planDir: string;
  let plan: DeploymentPlan;
  let net: LoadedNetwork;
  let x: Batch;
  const units: RunningUnit[] = [];

  before(async () => {
    await useBackend('cpu');
    const spec = zooModel('b-resnet20').build({ classes: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'] });
    const seeded = new TfjsNetwork(spec, undefined, 7);
    const modelDir = join(tempDir(), 'b-resnet20');
    saveModelDir(modelDir, { spec, weights: seeded.weights() });
    seeded.dispose();
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
