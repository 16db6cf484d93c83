import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeAnswers } from '../../src/cascade/answer-frame.ts';
import { encodeFeatures } from '../../src/cascade/feature-codec.ts';
import { natsTransport, unitSubject } from '../../src/cascade/nats.ts';
import { splitModel, writePlan } from '../../src/cascade/plan.ts';
import type { DeploymentPlan } from '../../src/cascade/types.ts';
import type { Batch, LoadedNetwork } from '../../src/engine/types.ts';
import { runAllExits } from '../../src/infer/all-exits.ts';
import { runEarlyExit } from '../../src/infer/runner.ts';
import { loadModelDir } from '../../src/io/model-dir.ts';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { openModel } from '../../src/open/open-model.ts';
import { branchy, randomBatch, tempDir } from '../helpers.ts';
import { NATS_SERVER_PACKAGE, startNatsServer, type NatsServer } from '../nats-server.ts';
import { digits } from '../serve/fixtures.ts';
import { needs } from '../system-packages.ts';
import { quantileScore, seededResnet20 } from './seeded-resnet.ts';
import { expectSame, predict, startUnit, type RunningUnit } from './units.ts';

const SAMPLES = digits(100, 200);

async function framesReceived(unit: RunningUnit): Promise<number> {
  const text = await (await fetch(`${unit.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('branchy_cascade_frames_received_total{'));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('a 2-unit B-LeNet cascade over a real nats-server', { skip: needs(NATS_SERVER_PACKAGE) }, () => {
  let nats: NatsServer;
  let planDir: string;
  let plan: DeploymentPlan;
  let net: LoadedNetwork;
  const clouds: RunningUnit[] = [];
  let device: RunningUnit;

  before(async () => {
    nats = await startNatsServer();
    planDir = join(tempDir(), 'lenet-nats');
    plan = writePlan(planDir, splitModel(loadModelDir(SHIPPED_MODEL_DIR), { at: [1], names: ['device', 'cloud'] }));
    ({ net } = await openModel(SHIPPED_MODEL_DIR, { engine: 'ort' }));
    clouds.push(await startUnit(planDir, 'cloud', '--nats', nats.url), await startUnit(planDir, 'cloud', '--nats', nats.url));
    device = await startUnit(planDir, 'device', '--nats', nats.url, '--probe-after-ms', '200');
  });

  after(async () => {
    await device?.stop();
    for (const c of clouds) await c.stop();
    await nats?.stop();
    net?.dispose();
  });

  it('answers (label, exit, unit) as runEarlyExit does, for several threshold vectors', async () => {
    const data = new Float32Array(SAMPLES.length * 784);
    SAMPLES.forEach((s, i) => data.set(s, i * 784));
    for (const thresholds of [[0], [0.05], [0.4618], [2.3]]) {
      const { results: expected } = await runEarlyExit(net, { data, shape: [SAMPLES.length, 28, 28, 1] }, { thresholds });
      const { status, results } = await predict(device.url, plan.model, SAMPLES, thresholds);
      assert.equal(status, 200);
      assert.deepEqual(
        results.map((r) => [r.label, r.exit, r.unit, r.degraded]),
        expected.map((r) => [r.label, r.exit, r.exit === 1 ? 'device' : 'cloud', false]),
        `thresholds [${thresholds}]`,
      );
    }
  });

  it('two replicas of the cloud unit in one queue group both serve, each a fair share', async () => {
    const before = await Promise.all(clouds.map(framesReceived));
    for (let i = 0; i < 80; i++) {
      const { results } = await predict(device.url, plan.model, [SAMPLES[i % SAMPLES.length]], [0]);
      assert.equal(results[0].unit, 'cloud');
    }
    const counts = (await Promise.all(clouds.map(framesReceived))).map((n, i) => n - before[i]);
    assert.equal(
      counts.reduce((a, b) => a + b),
      80,
    );
    for (const n of counts) assert.ok(n >= 20, `each replica got at least a quarter: ${counts.join(' / ')}`);
  });

  it("'branchy units' lists the live units from the NATS services protocol", async () => {
    const r = await branchy('units', '--nats', nats.url, '--json');
    assert.equal(r.code, 0, r.stderr);
    const { units } = JSON.parse(r.stdout) as { units: { unit: string; model: string; modelId: string; stages: number[]; subject: string }[] };
    assert.deepEqual(units.map((u) => u.unit).sort(), ['cloud', 'cloud', 'device'], 'the device and the two cloud replicas');
    for (const u of units) {
      assert.equal(u.model, plan.model);
      assert.equal(u.modelId, plan.modelId);
      assert.deepEqual(u.stages, u.unit === 'cloud' ? [2, 2] : [1, 1]);
      assert.equal(u.subject, `branchy.${plan.model}.${plan.id}.${u.unit}`);
    }
    const table = await branchy('units', '--nats', nats.url);
    assert.match(table.stdout, new RegExp(`cloud +${plan.model} `));
  });

  it('a client on NATS sends frames of raw input to the first unit by subject and gets the same answers', async () => {
    const client = await natsTransport({ url: nats.url, subject: unitSubject(plan, 'device'), name: 'test-client' });
    const x = { data: new Float32Array(16 * 784), shape: [16, 28, 28, 1] };
    SAMPLES.slice(0, 16).forEach((s, i) => x.data.set(s, i * 784));
    const frame = encodeFeatures(x, 'f32', { modelId: plan.modelId, stage: 0, thresholds: [0.05], from: 'test-client' });
    const answers = decodeAnswers(await client.forward(frame, 2000), 16, plan.spec.classes.length);
    const { results } = await predict(device.url, plan.model, SAMPLES.slice(0, 16), [0.05]);
    assert.deepEqual(
      answers.map((a) => [a.label, a.exit, a.route?.unit]),
      results.map((r) => [r.label, r.exit, r.unit]),
    );
    await client.close();
  });

  it('with every replica gone, requests are answered degraded at once (no responders); a replica back, full answers resume', async () => {
    for (const c of clouds.splice(0)) await c.kill();
    const started = performance.now();
    const { status, results } = await predict(device.url, plan.model, SAMPLES.slice(0, 20), [0]);
    assert.equal(status, 200);
    assert.ok(
      results.every((r) => r.degraded && r.unit === 'device' && ['no responders', 'circuit open'].includes(r.reason ?? '')),
      JSON.stringify(results[0]),
    );
    assert.ok(performance.now() - started < 900, 'well before the 1 s hop deadline');
    clouds.push(await startUnit(planDir, 'cloud', '--nats', nats.url));
    let full = false;
    const restarted = performance.now();
    while (!full && performance.now() - restarted < 10_000) {
      const { results } = await predict(device.url, plan.model, SAMPLES.slice(0, 20), [0]);
      full = results.every((r) => !r.degraded && r.unit === 'cloud');
      if (!full) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(full, 'full answers resumed');
  });
});

describe('a 3-unit cascade of a seeded B-ResNet-20 over a real nats-server', { skip: needs(NATS_SERVER_PACKAGE) }, () => {
  let nats: NatsServer;
  let plan: DeploymentPlan;
  let net: LoadedNetwork;
  let x: Batch;
  const units: RunningUnit[] = [];

  before(async () => {
    nats = await startNatsServer();
    const { dir, spec } = await seededResnet20();
    const planDir = join(tempDir(), 'resnet-nats');
    plan = writePlan(planDir, splitModel(loadModelDir(dir), { at: [1, 2], names: ['device', 'edge', 'cloud'] }));
    ({ net } = await openModel(dir, { engine: 'ort' }));
    x = randomBatch([30, ...spec.input.shape], 13);
    units.push(await startUnit(planDir, 'cloud', '--nats', nats.url), await startUnit(planDir, 'edge', '--nats', nats.url));
    units.unshift(await startUnit(planDir, 'device', '--nats', nats.url));
  });

  after(async () => {
    for (const u of units) await u.stop();
    await nats?.stop();
    net?.dispose();
  });

  it('answers (label, exit, unit) as runEarlyExit does, with samples leaving at every unit', async () => {
    const all = await runAllExits(net, x);
    const names = ['device', 'edge', 'cloud'];
    const thresholds = [0.3, 0.5].map((s, i) => quantileScore(all.probs[i], all.classes, s));
    const results = await expectSame(net, units[0], plan.model, x, thresholds, (exit) => names[exit - 1]);
    assert.equal(new Set(results.map((r) => r.unit)).size, 3);
    for (const r of results)
      assert.deepEqual(
        r.path.map((h) => h.unit),
        names.slice(1, r.hops + 1),
      );
  });
});
