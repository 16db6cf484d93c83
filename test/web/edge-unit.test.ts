import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { fetchTransport } from '../../src/cascade/fetch-transport.ts';
import { createUnitServer, httpTransport } from '../../src/cascade/http.ts';
import { splitModel, writePlan } from '../../src/cascade/plan.ts';
import { CascadeUnit } from '../../src/cascade/unit.ts';
import { runAllExits } from '../../src/infer/all-exits.ts';
import { loadModelDir } from '../../src/io/model-dir.ts';
import { featureBytes } from '../../src/cascade/feature-codec.ts';
import type { DeploymentPlan } from '../../src/cascade/types.ts';
import type { EdgePageConfig } from '../../src/cascade/web-config.ts';
import { nodeOrtEngine } from '../../src/engine/ort/node-engine.ts';
import type { LoadedNetwork } from '../../src/engine/types.ts';
import { runEarlyExit } from '../../src/infer/runner.ts';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { openModel } from '../../src/open/open-model.ts';
import { EdgeUnit } from '../../src/web/edge-unit.ts';
import { tradeOffAt } from '../../src/web/trade-off.ts';
import { fetchUnit } from '../../src/web/unit-files.ts';
import { quantileScore, seededResnet20 } from '../cascade/seeded-resnet.ts';
import { randomBatch, tempDir } from '../helpers.ts';
import { digits } from '../serve/fixtures.ts';
import { cloudWithPage, fakeBundle, lenetPlan } from './fixtures.ts';

const SAMPLES = digits(24, 500);

/** The page's unit on onnxruntime-node, loaded as the page loads it: files fetched from the server and checked. */
async function pageUnit(url: string): Promise<{ config: EdgePageConfig; edge: EdgeUnit }> {
  const config = (await (await fetch(`${url}/web/config.json`)).json()) as EdgePageConfig;
  const base = `${url}${config.unitUrl}`;
  const { source } = await fetchUnit(base, config.modelId);
  const net = await (await nodeOrtEngine({ threads: 1 })).load(source);
  const edge = new EdgeUnit(config, net, { transport: fetchTransport({ url: `${url}${config.successor.url}`, from: config.unit.name }) });
  return { config, edge };
}

for (const forward of ['features', 'input'] as const) {
  describe(`the page's unit against a real unit server (forwarding ${forward})`, () => {
    let plan: DeploymentPlan;
    let whole: LoadedNetwork;
    let cloud: Awaited<ReturnType<typeof cloudWithPage>>;
    let config: EdgePageConfig;
    let edge: EdgeUnit;

    before(async () => {
      const made = lenetPlan(forward);
      plan = made.plan;
      cloud = await cloudWithPage(made.planDir);
      ({ config, edge } = await pageUnit(cloud.url));
      ({ net: whole } = await openModel(SHIPPED_MODEL_DIR, { engine: 'ort', threads: 1 }));
    });

    after(async () => {
      edge?.dispose();
      whole?.dispose();
      await cloud?.server.close();
    });

    it('answers as runEarlyExit on the whole network, at every threshold, from the browser or the server', async () => {
      for (const threshold of [0, 0.4618, 2.3]) {
        const data = new Float32Array(SAMPLES.length * 784);
        SAMPLES.forEach((s, i) => data.set(s, i * 784));
        const { results: expected } = await runEarlyExit(whole, { data, shape: [SAMPLES.length, 28, 28, 1] }, { thresholds: [threshold] });
        for (let i = 0; i < SAMPLES.length; i++) {
          const a = await edge.classify(SAMPLES[i], threshold);
          assert.equal(a.place, expected[i].exit === 1 ? 'browser' : 'server', `sample ${i} at ${threshold}`);
          assert.equal(a.result.label, expected[i].label, `sample ${i} at ${threshold}`);
          assert.equal(a.result.exit, expected[i].exit);
          assert.ok(Math.abs(a.result.score - expected[i].score) < 1e-4);
        }
      }
    });

    it(`sends a frame of the ${forward === 'input' ? 'raw input' : "first stage's features"}, of the size the page states, and times each part`, async () => {
      let onLocal: number | undefined;
      const a = await edge.classify(SAMPLES[0], 0, (local) => (onLocal = local.exit));
      assert.equal(onLocal, 1, "the browser exit's answer comes first");
      assert.equal(a.place, 'server');
      const shape = forward === 'input' ? [28, 28, 1] : plan.units[1].inputShape;
      assert.deepEqual(config.sentShape, shape);
      const expected = featureBytes(shape, 1, 'f32', { modelId: plan.modelId, stage: forward === 'input' ? 0 : 1, thresholds: [0], from: 'device' });
      assert.equal(a.sentBytes, expected);
      assert.equal(edge.frameBytes(1, 0), expected);
      assert.deepEqual(
        a.result.route?.path.map((h) => [h.unit, h.sentBytes]),
        [['cloud', expected]],
      );
      assert.ok(a.browserMs > 0 && a.hopMs! > 0 && a.totalMs >= a.browserMs + a.hopMs!);
      edge.featureDtype = 'int8';
      const small = await edge.classify(SAMPLES[0], 0);
      assert.equal(
        small.sentBytes,
        featureBytes(shape, 1, 'int8', { modelId: plan.modelId, stage: forward === 'input' ? 0 : 1, thresholds: [0], from: 'device' }),
      );
      assert.equal(small.result.label, a.result.label);
      edge.featureDtype = 'f32';
    });

    it("evaluates a labelled batch once, so that any threshold's trade-off follows", async () => {
      const data = new Float32Array(SAMPLES.length * 784);
      SAMPLES.forEach((s, i) => data.set(s, i * 784));
      const truth = Array.from({ length: SAMPLES.length }, () => 0);
      const evaluation = await edge.evaluate({ data, shape: [SAMPLES.length, 28, 28, 1] }, truth, 0.46);
      assert.equal(evaluation.reason, undefined);
      for (const threshold of [0, 0.4618, 2.3]) {
        const { results } = await runEarlyExit(whole, { data, shape: [SAMPLES.length, 28, 28, 1] }, { thresholds: [threshold] });
        const point = tradeOffAt(
          evaluation.samples.map((s, i) => ({ ...s, truth: results[i].label })),
          threshold,
        );
        assert.equal(point.accuracy, 1, `the trade-off's answers are the cascade's at ${threshold}`);
        assert.equal(point.browserShare, results.filter((r) => r.exit === 1).length / SAMPLES.length);
      }
    });
  });
}

describe("the page's unit when the server does not answer", () => {
  it('answers from the browser exit, degraded (unreachable), then at once once the breaker opens', async () => {
    const { planDir } = lenetPlan();
    const cloud = await cloudWithPage(planDir);
    const { edge } = await pageUnit(cloud.url);
    await cloud.server.close();
    try {
      const first = await edge.classify(SAMPLES[1], 0);
      assert.equal(first.place, 'degraded');
      assert.equal(first.reason, 'unreachable');
      assert.equal(first.result.exit, 1);
      assert.equal(first.result.route?.degraded, true);
      for (let i = 0; i < 2; i++) await edge.classify(SAMPLES[1], 0);
      const open = await edge.classify(SAMPLES[1], 0);
      assert.equal(open.reason, 'circuit open');
      assert.equal(open.sentBytes, 0);
      const batch = await edge.evaluate({ data: SAMPLES[1], shape: [1, 28, 28, 1] }, [0], 0);
      assert.equal(batch.reason, 'unreachable');
      assert.equal(tradeOffAt(batch.samples, 0).degraded, 1);
    } finally {
      edge.dispose();
    }
  });

  it('answers degraded (timeout) when the server takes longer than the deadline', async () => {
    const { planDir } = lenetPlan();
    const cloud = await cloudWithPage(planDir, { deadlineMs: 50 });
    const { config, edge: fast } = await pageUnit(cloud.url);
    fast.dispose();
    const slow = async (input: RequestInfo | URL, init?: RequestInit) => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      return fetch(input, init);
    };
    const { source } = await fetchUnit(`${cloud.url}${config.unitUrl}`, config.modelId);
    const edge = new EdgeUnit(config, await (await nodeOrtEngine({ threads: 1 })).load(source), {
      transport: fetchTransport({ url: `${cloud.url}${config.successor.url}`, from: 'device', fetch: slow }),
    });
    try {
      const a = await edge.classify(SAMPLES[2], 0);
      assert.equal(a.place, 'degraded');
      assert.equal(a.reason, 'timeout');
    } finally {
      edge.dispose();
      await cloud.server.close();
    }
  });
});

describe("fetching the page's unit", () => {
  it('refuses a file whose bytes do not match branchy.json, and a unit of another model', async () => {
    const { planDir } = lenetPlan();
    const cloud = await cloudWithPage(planDir);
    try {
      const config = (await (await fetch(`${cloud.url}/web/config.json`)).json()) as EdgePageConfig;
      const base = `${cloud.url}${config.unitUrl}`;
      const tampered = async (input: RequestInfo | URL) => {
        const response = await fetch(input);
        const bytes = new Uint8Array(await response.arrayBuffer());
        if (String(input).endsWith('.onnx')) bytes[bytes.length - 1] ^= 1;
        return new Response(bytes, { status: response.status });
      };
      await assert.rejects(fetchUnit(base, config.modelId, { fetch: tampered }), { code: 'MODEL_CHECKSUM' });
      await assert.rejects(fetchUnit(base, '0'.repeat(64)), { code: 'CASCADE_WRONG_MODEL' });
      const { source, bytes } = await fetchUnit(base, config.modelId, { onnx: false });
      assert.equal(source.onnx, undefined, 'tfjs needs only the weights');
      assert.ok(bytes > 20_000);
    } finally {
      await cloud.server.close();
    }
  });
});

describe("the page's unit in front of a 3-unit plan (page → edge --web → cloud)", () => {
  it('answers as runEarlyExit at every exit, and says so when the last unit is down and edge answers degraded', async () => {
    const { dir, spec } = await seededResnet20();
    const planDir = join(tempDir(), 'resnet-plan');
    const plan = writePlan(planDir, splitModel(loadModelDir(dir), { at: [1, 2], names: ['device', 'edge', 'cloud'] }));
    const open = { engine: 'ort' as const, threads: 1 };
    const cloud = createUnitServer(await CascadeUnit.open(planDir, 'cloud', { open }));
    const cloudUrl = await cloud.app.listen({ host: '127.0.0.1', port: 0 });
    const edgeUnit = await CascadeUnit.open(planDir, 'edge', { open, successor: httpTransport({ url: cloudUrl, unit: 'cloud', from: 'edge' }) });
    const edge = createUnitServer(edgeUnit, { web: { planDir, bundleDir: fakeBundle() } });
    const edgeUrl = await edge.app.listen({ host: '127.0.0.1', port: 0 });
    const { net: whole } = await openModel(dir, open);
    const { config, edge: page } = await pageUnit(edgeUrl);
    try {
      assert.equal(config.samples, undefined, 'no shipped batch fits these classes');
      const x = randomBatch([24, ...spec.input.shape], 5);
      const all = await runAllExits(whole, x);
      const thresholds = [quantileScore(all.probs[0], 10, 0.3), quantileScore(all.probs[1], 10, 0.5)];
      const { results: expected } = await runEarlyExit(whole, x, { thresholds });
      assert.deepEqual([...new Set(expected.map((r) => r.exit))].sort(), [1, 2, 3], 'samples leave at every exit');
      // The page moves only its own exit's threshold and sends the plan's for edge's: make that one ours.
      config.thresholds[1] = thresholds[1];
      const per = x.data.length / x.shape[0];
      const run = async () => {
        const out = [];
        for (let i = 0; i < x.shape[0]; i++) out.push(await page.classify(x.data.slice(i * per, (i + 1) * per), thresholds[0]));
        return out;
      };
      const answers = await run();
      assert.deepEqual(
        answers.map((a) => [a.result.label, a.result.exit, a.place, a.result.route?.unit]),
        expected.map((r) => [r.label, r.exit, r.exit === 1 ? 'browser' : 'server', r.exit === 1 ? 'device' : r.exit === 2 ? 'edge' : 'cloud']),
      );
      await cloud.close();
      const down = await run();
      for (const [i, a] of down.entries()) {
        if (expected[i].exit === 3) {
          assert.equal(a.place, 'degraded');
          // Edge's breaker opens after its third failed hop, and then answers at once.
          assert.match(a.reason ?? '', /^edge: (unreachable|circuit open)$/);
          assert.equal(a.result.exit, 2, "edge's last exit answers");
        } else assert.equal(a.result.exit, expected[i].exit);
      }
      assert.equal(plan.units[1].name, 'edge');
    } finally {
      page.dispose();
      whole.dispose();
      await edge.close();
      await cloud.close().catch(() => undefined);
    }
  });
});
