import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeAnswerFrame } from '../../src/cascade/answer-frame.ts';
import { decodeUnitFrame, encodeProbe } from '../../src/cascade/feature-codec.ts';
import { readPlan, splitModel, writePlan } from '../../src/cascade/plan.ts';
import type { DeploymentPlan } from '../../src/cascade/types.ts';
import { loadModelDir } from '../../src/io/model-dir.ts';
import { readStoredCalibration } from '../../src/io/stored-calibration.ts';
import { branchy, tempDir } from '../helpers.ts';
import { calibratedCopy, digits } from '../serve/fixtures.ts';
import { predict, startUnit, type RunningUnit } from './units.ts';

interface UnitDescription {
  slo?: {
    operatingPoint: { index: number; chosen: number; thresholds: number[] };
    link: { rttMs: number | null; mbitPerS: number | null; hops: number; serviceMs: number };
    forecast: { index: number; forwardShare: number; overSloShare: number }[];
  };
}

async function describeUnit(url: string): Promise<UnitDescription> {
  return (await (await fetch(`${url}/v1/unit`)).json()) as UnitDescription;
}

async function until<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value).slice(0, 400)} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a first unit holding a latency SLO over its link (real processes on 127.0.0.1)', () => {
  let planDir: string;
  let plan: DeploymentPlan;
  let cloud: RunningUnit;
  let device: RunningUnit;
  let modelDir: string;

  before(async () => {
    modelDir = await calibratedCopy();
    planDir = join(tempDir(), 'lenet');
    plan = writePlan(planDir, splitModel(loadModelDir(modelDir), { at: [1], names: ['device', 'cloud'] }));
    cloud = await startUnit(planDir, 'cloud');
    device = await startUnit(planDir, 'device', '--successor', cloud.url, '--slo-ms', '500', '--probe-every-ms', '100');
  });

  after(async () => {
    await device?.stop();
    await cloud?.stop();
  });

  it("the plan carries the model's calibrated front, with the plan's thresholds as its chosen point", () => {
    const model = loadModelDir(modelDir);
    const calibration = readStoredCalibration(model.manifest, model.dir)!;
    assert.ok(plan.front);
    assert.equal(plan.front.points.length, calibration.front.length);
    assert.deepEqual(plan.front.points[plan.front.chosen].thresholds, plan.spec.policy.thresholds);
    assert.deepEqual(readPlan(planDir).front, plan.front);
  });

  it('measures the round trip and the bandwidth from its probes, and keeps the plan’s point on a fast link', async () => {
    const d = await until(
      'link estimate',
      () => describeUnit(device.url),
      (v) => v.slo?.link.rttMs !== null && v.slo?.link.mbitPerS !== null && (v.slo?.link.hops ?? 0) >= 4,
    );
    const slo = d.slo!;
    assert.ok(slo.link.rttMs! > 0 && slo.link.rttMs! < 100, `rtt ${slo.link.rttMs}`);
    assert.ok(slo.link.mbitPerS! > 10, `loopback bandwidth ${slo.link.mbitPerS}`);
    assert.equal(slo.operatingPoint.index, plan.front!.chosen);
    assert.equal(slo.forecast.length, plan.front!.points.length);
    const metrics = await (await fetch(`${device.url}/metrics`)).text();
    assert.match(metrics, /branchy_cascade_link_rtt_seconds\{unit="device"\} \d/);
    assert.match(metrics, /branchy_cascade_link_bits_per_second\{unit="device"\} \d/);
  });

  it('answers at the point in force and says which', async () => {
    const r = await predict(device.url, plan.model, digits(5, 0));
    assert.equal(r.status, 200);
    assert.equal(r.results.length, 5);
    const body = r.body as { operatingPoint?: { index: number; thresholds: number[] } };
    assert.equal(body.operatingPoint?.index, plan.front!.chosen);
    assert.deepEqual(body.operatingPoint?.thresholds, plan.front!.points[plan.front!.chosen].thresholds);
  });

  it('a successor answers a probe with an empty answer and its service time, and refuses one from another model', async () => {
    const meta = { modelId: plan.modelId, stage: 1, thresholds: plan.spec.policy.thresholds, from: 'test' };
    const probe = encodeProbe(meta);
    assert.equal(decodeUnitFrame(probe).kind, 'probe');
    const ok = await fetch(`${cloud.url}/v1/units/cloud/forward`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.from(probe),
    });
    assert.equal(ok.status, 200);
    const answer = decodeAnswerFrame(new Uint8Array(await ok.arrayBuffer()), 0, plan.spec.classes.length);
    assert.deepEqual(answer.results, []);
    assert.ok(answer.serviceMs! >= 0 && answer.serviceMs! < 100);
    const wrong = await fetch(`${cloud.url}/v1/units/cloud/forward`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.from(encodeProbe({ ...meta, modelId: 'f'.repeat(64) })),
    });
    assert.equal(wrong.status, 409);
    assert.equal(wrong.headers.get('branchy-error'), 'CASCADE_WRONG_MODEL');
  });

  it('refuses --slo-ms where it cannot hold: a successor unit, no successor, a plan without a calibrated front', async () => {
    const onSuccessor = await branchy('unit', planDir, '--unit', 'cloud', '--slo-ms', '50');
    assert.equal(onSuccessor.code, 2);
    assert.match(onSuccessor.stderr, /CASCADE_BAD_SLO: unit 'cloud' is not the plan's first unit/);
    const alone = await branchy('unit', planDir, '--unit', 'device', '--slo-ms', '50');
    assert.equal(alone.code, 2);
    assert.match(alone.stderr, /CASCADE_NO_SUCCESSOR/);
    const model = loadModelDir(modelDir);
    const bare = join(tempDir(), 'bare');
    writePlan(bare, splitModel({ ...model, manifest: { ...model.manifest, calibration: undefined } }, { at: [1], names: ['device', 'cloud'] }));
    assert.equal(readPlan(bare).front, undefined);
    const uncalibrated = await branchy('unit', bare, '--unit', 'device', '--slo-ms', '50', '--successor', cloud.url);
    assert.equal(uncalibrated.code, 2);
    assert.match(uncalibrated.stderr, /CASCADE_NOT_CALIBRATED: plan of .* carries no calibrated front/);
  });
});
