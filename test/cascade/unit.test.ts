import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CircuitBreaker } from '../../src/cascade/breaker.ts';
import { BranchyCascadeError, CascadeHopError } from '../../src/cascade/errors.ts';
import { PLAN_FILE, planUnit, readPlan, splitModel, writePlan } from '../../src/cascade/plan.ts';
import type { Transport } from '../../src/cascade/types.ts';
import { CascadeUnit } from '../../src/cascade/unit.ts';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import type { EngineName } from '../../src/engine/types.ts';
import { runAllExits } from '../../src/infer/all-exits.ts';
import { runEarlyExit } from '../../src/infer/runner.ts';
import { loadModelDir, saveModelDir, updateManifest } from '../../src/io/model-dir.ts';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { openModel } from '../../src/open/open-model.ts';
import { randomBatch, tempDir, tinySpec } from '../helpers.ts';
import { digits } from '../serve/fixtures.ts';
import { quantileScore } from './seeded-resnet.ts';

/** A successor in this process: frames go straight to its `answerFrame`; it counts calls and can fail on demand. */
function inProcess(successor: CascadeUnit, maxFrameBytes?: number) {
  const t = {
    calls: 0,
    fail: undefined as string | undefined,
    transport: {
      kind: 'in-process',
      target: successor.unit.name,
      maxFrameBytes,
      async forward(frame: Uint8Array) {
        t.calls++;
        if (t.fail) throw new CascadeHopError(t.fail, `failing on purpose: ${t.fail}`);
        return successor.answerFrame(frame);
      },
      async close() {},
    } satisfies Transport,
  };
  return t;
}

async function tinyModel(): Promise<string> {
  await useBackend('cpu');
  const spec = tinySpec();
  const net = new TfjsNetwork(spec, undefined, 3);
  const dir = join(tempDir(), 'tiny');
  saveModelDir(dir, { spec, weights: net.weights() });
  net.dispose();
  return dir;
}

describe('the circuit breaker', () => {
  it('opens after consecutive failures, lets one probe through after the wait, and closes on its success', () => {
    let now = 0;
    const b = new CircuitBreaker({ failures: 3, probeAfterMs: 100 }, () => now);
    assert.equal(b.state, 'closed');
    b.failure();
    b.failure();
    b.success();
    b.failure();
    b.failure();
    assert.equal(b.state, 'closed', 'a success in between resets the count');
    b.failure();
    assert.equal(b.state, 'open');
    assert.equal(b.allow(), false);
    now = 99;
    assert.equal(b.allow(), false);
    now = 100;
    assert.equal(b.allow(), true);
    assert.equal(b.state, 'probing');
    assert.equal(b.allow(), false, 'one probe at a time');
    b.failure();
    assert.equal(b.state, 'open', 'a failed probe opens it again');
    now = 250;
    assert.equal(b.allow(), true);
    b.success();
    assert.equal(b.state, 'closed');
    assert.equal(b.allow(), true);
  });
});

for (const engine of ['ort', 'tfjs'] as EngineName[]) {
  describe(`units in one process, on ${engine}`, () => {
    let planDir: string;
    let modelDir: string;
    let units: CascadeUnit[] = [];

    before(async () => {
      modelDir = await tinyModel();
      planDir = join(tempDir(), 'tiny-plan');
      writePlan(planDir, splitModel(loadModelDir(modelDir), { at: [1, 2], names: ['a', 'b', 'c'] }));
    });

    after(async () => {
      for (const u of units) await u.close();
      units = [];
    });

    it('a 3-unit chain answers as runEarlyExit on the whole network, each unit loading only its own stages', async () => {
      const c = await CascadeUnit.open(planDir, 'c', { open: { engine, backend: 'cpu' } });
      const b = await CascadeUnit.open(planDir, 'b', { open: { engine, backend: 'cpu' }, successor: inProcess(c).transport });
      const a = await CascadeUnit.open(planDir, 'a', { open: { engine, backend: 'cpu' }, successor: inProcess(b).transport });
      units.push(a, b, c);
      assert.deepEqual(
        [a, b, c].map((u) => u.net.spec.stages.length),
        [1, 1, 1],
      );
      const { net } = await openModel(modelDir, { engine, backend: 'cpu' });
      const x = randomBatch([60, 6, 6, 1], 5);
      const all = await runAllExits(net, x);
      const q = (exit: number, share: number) => quantileScore(all.probs[exit], all.classes, share);
      for (const thresholds of [
        [0, 0],
        [q(0, 0.3), q(1, 0.5)],
        [q(0, 0.6), q(1, 0.2)],
        [1.09, 1.09],
      ]) {
        const { results: expected } = await runEarlyExit(net, x, { thresholds });
        const results = await a.process(x, thresholds);
        assert.deepEqual(
          results.map((r) => [r.label, r.exit, r.route?.unit, r.route?.hops, r.route?.degraded]),
          expected.map((r) => [r.label, r.exit, ['a', 'b', 'c'][r.exit - 1], r.exit - 1, false]),
          `thresholds [${thresholds}]`,
        );
      }
      net.dispose();
    });
  });
}

describe('degraded answers', () => {
  let units: CascadeUnit[] = [];
  let planDir: string;

  before(async () => {
    planDir = join(tempDir(), 'lenet');
    writePlan(planDir, splitModel(loadModelDir(SHIPPED_MODEL_DIR), { at: [1], names: ['device', 'cloud'] }));
  });

  after(async () => {
    for (const u of units) await u.close();
    units = [];
  });

  it("answer from the unit's last exit with the reason; the breaker then stops calling; a probe brings full answers back", async () => {
    const cloud = await CascadeUnit.open(planDir, 'cloud');
    const link = inProcess(cloud);
    // The probe waits long enough that a loaded machine cannot turn an open circuit's calls into probes.
    const device = await CascadeUnit.open(planDir, 'device', { successor: link.transport, breaker: { failures: 2, probeAfterMs: 600 } });
    units.push(device, cloud);
    const samples = digits(30, 0);
    const x = { data: new Float32Array(30 * 784), shape: [30, 28, 28, 1] };
    samples.forEach((s, i) => x.data.set(s, i * 784));
    const full = await device.process(x, [0]);
    assert.ok(full.every((r) => r.route?.unit === 'cloud' && r.exit === 2));
    link.fail = 'timeout';
    for (const reason of ['timeout', 'timeout', 'circuit open', 'circuit open']) {
      const calls = link.calls;
      const answers = await device.process(x, [0]);
      assert.ok(
        answers.every((r) => r.route?.degraded && r.route.reason === reason && r.route.unit === 'device' && r.exit === 1),
        `${reason}: ${JSON.stringify(answers[0].route)}`,
      );
      assert.equal(link.calls - calls, reason === 'circuit open' ? 0 : 1, 'an open circuit does not call the successor');
    }
    link.fail = undefined;
    await new Promise((r) => setTimeout(r, 650));
    const back = await device.process(x, [0]);
    assert.ok(
      back.every((r) => !r.route?.degraded && r.route?.unit === 'cloud'),
      'the probe succeeded and closed the circuit',
    );
    assert.equal(device.breaker.state, 'closed');
  });

  it('a unit with a successor in the plan but no transport answers degraded, reason "no successor"', async () => {
    const device = await CascadeUnit.open(planDir, 'device');
    units.push(device);
    const [r] = await device.process({ data: digits(1, 3)[0], shape: [1, 28, 28, 1] }, [0]);
    assert.deepEqual([r.route?.degraded, r.route?.reason, r.exit], [true, 'no successor', 1]);
  });

  it('f16 and int8 features give the same answers as f32 on nearly every digit, in half and a quarter of the bytes', async () => {
    const cloud = await CascadeUnit.open(planDir, 'cloud');
    units.push(cloud);
    const samples = digits(200, 100);
    const x = { data: new Float32Array(200 * 784), shape: [200, 28, 28, 1] };
    samples.forEach((s, i) => x.data.set(s, i * 784));
    const answers: Record<string, { labels: number[]; bytes: number }> = {};
    for (const featureDtype of ['f32', 'f16', 'int8'] as const) {
      const device = await CascadeUnit.open(planDir, 'device', { successor: inProcess(cloud).transport, featureDtype });
      units.push(device);
      const results = await device.process(x, [0]);
      answers[featureDtype] = { labels: results.map((r) => r.label), bytes: results[0].route!.path[0].sentBytes };
    }
    const agree = (d: string) => answers[d].labels.filter((l, i) => l === answers.f32.labels[i]).length / 200;
    assert.ok(agree('f16') >= 0.995, `f16 agrees on ${agree('f16')}`);
    assert.ok(agree('int8') >= 0.98, `int8 agrees on ${agree('int8')}`);
    assert.ok(
      answers.f16.bytes < 0.51 * answers.f32.bytes && answers.int8.bytes < 0.27 * answers.f32.bytes,
      JSON.stringify(answers, (k, v) => (k === 'labels' ? undefined : v)),
    );
  });

  it('a frame limit: one sample over it is refused at start naming both sizes; batches are split to fit under it', async () => {
    const cloud = await CascadeUnit.open(planDir, 'cloud');
    units.push(cloud);
    await assert.rejects(CascadeUnit.open(planDir, 'device', { successor: inProcess(cloud, 10_000).transport }), (e: BranchyCascadeError) => {
      assert.equal(e.code, 'CASCADE_FRAME_TOO_LARGE');
      assert.match(e.message, /one sample's frame is 18\d{3} bytes; .* at most 10000 bytes/);
      return true;
    });
    const link = inProcess(cloud, 10_000);
    const device = await CascadeUnit.open(planDir, 'device', { successor: link.transport, featureDtype: 'int8' });
    units.push(device);
    const x = { data: new Float32Array(8 * 784), shape: [8, 28, 28, 1] };
    digits(8, 40).forEach((s, i) => x.data.set(s, i * 784));
    const results = await device.process(x, [0]);
    assert.ok(results.every((r) => r.route?.unit === 'cloud'));
    assert.ok(link.calls >= 4, `8 int8 samples of about 4.5 KB went in several frames under 10,000 bytes (${link.calls})`);
  });
});

describe('plans', () => {
  it('refuse cuts outside the network, names that do not fit and cuts whose features are not a feature map', async () => {
    const model = loadModelDir(SHIPPED_MODEL_DIR);
    for (const [options, pattern] of [
      [{ at: [2] }, /expected ascending stages from 1 to 1/],
      [{ at: [0] }, /expected ascending stages/],
      [{ at: [1], names: ['only'] }, /do not fit 2 units/],
      [{ at: [1], names: ['a', 'a'] }, /distinct/],
      [{ at: [1], names: ['a', 'b.c'] }, /letters, digits/],
    ] as const) {
      assert.throws(
        () => splitModel(model, options),
        (e: BranchyCascadeError) => e.code === 'CASCADE_BAD_CUT' && pattern.test(e.message),
      );
    }
    await useBackend('cpu');
    const spec = tinySpec({
      stages: [...tinySpec().stages, { layers: [{ type: 'dense', units: 6 }, { type: 'relu' }] }],
      exits: [...tinySpec().exits, { layers: [{ type: 'dense', units: 3 }] }],
      policy: { criterion: 'entropy', thresholds: [0.5, 0.5, 0.5] },
    });
    const net = new TfjsNetwork(spec, undefined, 1);
    const dir = join(tempDir(), 'deep');
    saveModelDir(dir, { spec, weights: net.weights() });
    net.dispose();
    assert.throws(
      () => splitModel(loadModelDir(dir), { at: [3] }),
      (e: BranchyCascadeError) => e.code === 'CASCADE_BAD_CUT' && /outputs \[8\]; a unit's input must be a feature map/.test(e.message),
    );
  });

  it('readPlan and CascadeUnit.open refuse a missing or malformed plan, an unknown unit and a unit directory of another model', async () => {
    const planDir = join(tempDir(), 'p');
    assert.throws(() => readPlan(planDir), { code: 'CASCADE_BAD_PLAN', message: /does not exist/ });
    const plan = writePlan(planDir, splitModel(loadModelDir(SHIPPED_MODEL_DIR), { at: [1] }));
    assert.throws(() => planUnit(planDir, plan, 'nope'), { code: 'CASCADE_UNKNOWN_UNIT', message: /its units: unit1, unit2/ });
    writeFileSync(join(planDir, PLAN_FILE), JSON.stringify({ ...plan, units: plan.units.slice(0, 1) }));
    assert.throws(() => readPlan(planDir), { code: 'CASCADE_BAD_PLAN', message: /at least 2 units/ });
    writeFileSync(join(planDir, PLAN_FILE), JSON.stringify({ ...plan, units: [plan.units[0], { ...plan.units[1], firstExit: 1 }] }));
    assert.throws(() => readPlan(planDir), { code: 'CASCADE_BAD_PLAN', message: /units\[1\]/ });
    writeFileSync(join(planDir, PLAN_FILE), '{"format": "branchy-plan/1"');
    assert.throws(() => readPlan(planDir), { code: 'CASCADE_BAD_PLAN', message: /not valid JSON/ });
    writeFileSync(join(planDir, PLAN_FILE), JSON.stringify(plan));
    updateManifest(join(planDir, 'unit2'), (m) => ({ ...m, modelId: 'e'.repeat(64) }));
    await assert.rejects(CascadeUnit.open(planDir, 'unit2'), { code: 'CASCADE_BAD_PLAN', message: /belongs to model eeeeeeeeeeee/ });
  });
});
