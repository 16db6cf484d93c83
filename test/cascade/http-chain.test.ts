import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeFeatures } from '../../src/cascade/feature-codec.ts';
import { readPlan, splitModel, writePlan } from '../../src/cascade/plan.ts';
import type { DeploymentPlan } from '../../src/cascade/types.ts';
import type { LoadedNetwork } from '../../src/engine/types.ts';
import { runEarlyExit } from '../../src/infer/runner.ts';
import { loadModelDir } from '../../src/io/model-dir.ts';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { openModel } from '../../src/open/open-model.ts';
import { branchy, tempDir } from '../helpers.ts';
import { digits } from '../serve/fixtures.ts';
import { predict, startUnit, type RunningUnit } from './units.ts';

const SAMPLES = digits(120, 300);
const THRESHOLD_VECTORS = [[0], [0.05], [0.4618], [1.2], [2.3]];

async function reference(net: LoadedNetwork, thresholds: number[]) {
  const data = new Float32Array(SAMPLES.length * 784);
  SAMPLES.forEach((s, i) => data.set(s, i * 784));
  const { results } = await runEarlyExit(net, { data, shape: [SAMPLES.length, 28, 28, 1] }, { thresholds });
  return results;
}

async function post(url: string, unit: string, body: Uint8Array): Promise<{ status: number; code?: string }> {
  const r = await fetch(`${url}/v1/units/${unit}/forward`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: Buffer.from(body),
  });
  const text = await r.text();
  return { status: r.status, code: r.status === 200 ? undefined : (JSON.parse(text) as { code: string }).code };
}

describe('a 2-unit cascade of B-LeNet over HTTP (real processes on 127.0.0.1)', () => {
  let planDir: string;
  let plan: DeploymentPlan;
  let net: LoadedNetwork;
  let cloud: RunningUnit;
  let device: RunningUnit;

  before(async () => {
    planDir = join(tempDir(), 'lenet');
    plan = writePlan(planDir, splitModel(loadModelDir(SHIPPED_MODEL_DIR), { at: [1], names: ['device', 'cloud'] }));
    ({ net } = await openModel(SHIPPED_MODEL_DIR, { engine: 'ort' }));
    cloud = await startUnit(planDir, 'cloud');
    device = await startUnit(planDir, 'device', '--successor', cloud.url, '--hop-timeout-ms', '2000', '--probe-after-ms', '200');
  });

  after(async () => {
    await device?.stop();
    await cloud?.stop();
    net?.dispose();
  });

  it("split writes plan.json and unit directories holding only the unit's stages and exits", () => {
    assert.deepEqual(readPlan(planDir), plan);
    assert.equal(plan.units.length, 2);
    assert.deepEqual(
      plan.units.map((u) => [u.name, u.stages, u.takes, u.inputShape]),
      [
        ['device', [1, 1], 'input', [28, 28, 1]],
        ['cloud', [2, 2], 'features', [30, 30, 5]],
      ],
    );
    for (const unit of ['device', 'cloud']) {
      const files = readdirSync(join(planDir, unit)).sort();
      assert.deepEqual(files, ['branchy.json', 'exit_1.onnx', 'exit_1.safetensors', 'stage_1.onnx', 'stage_1.safetensors'], unit);
      const manifest = loadModelDir(join(planDir, unit)).manifest;
      assert.equal(manifest.modelId, plan.modelId);
      assert.equal(manifest.spec.stages.length, 1);
    }
  });

  it('answers (label, exit, unit) exactly as single-process runEarlyExit at f32, for several threshold vectors', async () => {
    for (const thresholds of THRESHOLD_VECTORS) {
      const expected = await reference(net, thresholds);
      const { status, results } = await predict(device.url, plan.model, SAMPLES, thresholds);
      assert.equal(status, 200);
      assert.deepEqual(
        results.map((r) => [r.label, r.exit, r.unit, r.degraded]),
        expected.map((r) => [r.label, r.exit, r.exit === 1 ? 'device' : 'cloud', false]),
        `thresholds [${thresholds}]`,
      );
      results.forEach((r, i) => {
        assert.ok(Math.abs(r.score - expected[i].score) <= 1e-6 * Math.max(1, expected[i].score), `sample ${i}: score ${r.score} vs ${expected[i].score}`);
        assert.equal(r.hops, r.unit === 'cloud' ? 1 : 0);
        if (r.unit === 'cloud')
          assert.ok(r.path.length === 1 && r.path[0].unit === 'cloud' && r.path[0].sentBytes > 0 && r.path[0].receivedBytes > 0, JSON.stringify(r.path));
      });
    }
  });

  it('refuses frames from another model, another stage, of a wrong shape or dtype, or truncated, typed, with a 4xx', async () => {
    const features = { data: new Float32Array(2 * 30 * 30 * 5), shape: [2, 30, 30, 5] };
    const meta = { modelId: plan.modelId, stage: 1, thresholds: [0.5], from: 'test' };
    assert.equal((await post(cloud.url, 'cloud', encodeFeatures(features, 'f32', meta))).status, 200, 'a right frame is answered');
    const cases: [string, Uint8Array, number, string][] = [
      ['another model', encodeFeatures(features, 'f32', { ...meta, modelId: 'f'.repeat(64) }), 409, 'CASCADE_WRONG_MODEL'],
      ['another stage', encodeFeatures(features, 'f32', { ...meta, stage: 0 }), 409, 'CASCADE_WRONG_STAGE'],
      ['a wrong shape', encodeFeatures({ data: new Float32Array(2 * 28 * 28), shape: [2, 28, 28, 1] }, 'f32', meta), 400, 'CASCADE_BAD_SHAPE'],
      ['truncated', encodeFeatures(features, 'f32', meta).subarray(0, 500), 400, 'CASCADE_BAD_FRAME'],
      ['not a frame', new TextEncoder().encode('{"inputs": []}'), 400, 'CASCADE_BAD_FRAME'],
    ];
    for (const [what, body, status, code] of cases) assert.deepEqual(await post(cloud.url, 'cloud', body), { status, code }, what);
    const f16 = encodeFeatures(features, 'f16', meta);
    const asF32 = Buffer.from(f16);
    // The same bytes, claiming another dtype in their metadata: the codec refuses the mismatch.
    const text = asF32.toString('latin1').replace('"dtype":"f16"', '"dtype":"f32"');
    assert.equal((await post(cloud.url, 'cloud', Buffer.from(text, 'latin1'))).code, 'CASCADE_BAD_DTYPE');
  });

  it('the last unit killed under a bounded load: every request is answered (degraded or full), none lost; restarted, full answers resume', async () => {
    const thresholds = [0.05];
    const toCloud = (await reference(net, thresholds)).filter((r) => r.exit === 2).length;
    assert.ok(toCloud > 10, 'enough samples go to the cloud');
    let sent = 0;
    let answered = 0;
    let degraded = 0;
    const reasons = new Set<string>();
    const loop = async (rounds: number) => {
      for (let i = 0; i < rounds; i++) {
        sent++;
        const { status, results } = await predict(device.url, plan.model, SAMPLES.slice(0, 24), thresholds);
        assert.equal(status, 200);
        answered++;
        for (const r of results) {
          if (r.degraded) {
            degraded++;
            reasons.add(r.reason ?? '');
            assert.equal(r.unit, 'device');
            assert.equal(r.exit, 1);
          }
        }
      }
    };
    const load = Promise.all([loop(40), loop(40), loop(40)]);
    await new Promise((r) => setTimeout(r, 300));
    const port = cloud.port;
    await cloud.kill();
    await load;
    assert.equal(answered, sent, 'sent = answered');
    assert.ok(degraded > 0, 'some answers were degraded');
    assert.ok(
      [...reasons].every((r) => ['unreachable', 'circuit open', 'timeout'].includes(r)),
      [...reasons].join(', '),
    );
    const metrics = await (await fetch(`${device.url}/metrics`)).text();
    assert.match(metrics, /branchy_cascade_degraded_samples_total\{unit="device",reason="(unreachable|circuit open)"\} [1-9]/);

    cloud = await startUnit(planDir, 'cloud', '--port', String(port));
    const started = performance.now();
    let full = false;
    while (!full && performance.now() - started < 10_000) {
      const { results } = await predict(device.url, plan.model, SAMPLES, thresholds);
      full = results.every((r) => !r.degraded) && results.some((r) => r.unit === 'cloud');
      if (!full) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(full, 'full answers resumed after the restart');
    assert.ok(performance.now() - started < 5000, `within a few seconds (${Math.round(performance.now() - started)} ms)`);
  });

  it("'branchy split' on the command line writes the same plan", async () => {
    const out = join(tempDir(), 'cli-plan');
    const r = await branchy('split', SHIPPED_MODEL_DIR, '--at', '1', '--names', 'device,cloud', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cut into 2 units/);
    assert.deepEqual(readPlan(out), plan);
    const bad = await branchy('split', SHIPPED_MODEL_DIR, '--at', '2', '--out', join(tempDir(), 'x'));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /CASCADE_BAD_CUT/);
  });
});
