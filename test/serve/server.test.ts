import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { runEarlyExit } from '../../src/infer/index.ts';
import { createServer, encodeInputsFrame, type BranchyServer } from '../../src/serve/index.ts';
import { maxAbsDiff, uncalibratedCopy } from '../helpers.ts';
import { bodyOf, calibratedCopy, digits, listen, predictJson, served, type InProcessModel } from './fixtures.ts';

interface Answer {
  label: number;
  class: string;
  exit: number;
  score: number;
  probs?: number[];
}

/** The value of one sample line of Prometheus text, e.g. `branchy_batch_size_count{model="m"}`. */
function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `no series ${series} in\n${text}`);
  return Number(line.slice(series.length + 1));
}

describe('branchy serve: HTTP API on 127.0.0.1', () => {
  let model: InProcessModel;
  let server: BranchyServer;
  let url: string;
  const samples = digits(24, 100);

  before(async () => {
    model = await served(SHIPPED_MODEL_DIR, 'b-lenet-mnist');
    ({ server, url } = await listen([model], { maxWaitMs: 5 }));
  });
  after(async () => {
    await server?.close();
    await model?.host.close();
  });

  it('answers JSON inputs as the in-process early-exit runner does, per sample', async () => {
    const res = await predictJson(url, 'b-lenet-mnist', samples, '?probs=1');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { results: Answer[]; thresholds: number[]; timing: { batchSize: number; queueMs: number } };
    const data = new Float32Array(samples.length * 784);
    samples.forEach((s, i) => data.set(s, i * 784));
    const { results } = await runEarlyExit(model.net, { data, shape: [samples.length, 28, 28, 1] });
    assert.equal(body.results.length, samples.length);
    body.results.forEach((r, i) => {
      assert.equal(r.label, results[i].label, `sample ${i}`);
      assert.equal(r.class, String(results[i].label));
      assert.equal(r.exit, results[i].exit, `sample ${i}`);
      assert.ok(Math.abs(r.score - results[i].score) < 1e-5);
      assert.ok(maxAbsDiff(r.probs as number[], results[i].probs) < 1e-5);
    });
    assert.deepEqual(body.thresholds, model.manifest.spec.policy.thresholds);
    assert.ok(body.timing.batchSize >= samples.length);
  });

  it('answers a binary tensor frame exactly as the same samples sent as JSON', async () => {
    const data = new Float32Array(samples.length * 784);
    samples.forEach((s, i) => data.set(s, i * 784));
    const framed = await fetch(`${url}/v1/models/b-lenet-mnist/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bodyOf(encodeInputsFrame(data, [samples.length, 28, 28, 1])),
    });
    assert.equal(framed.status, 200);
    const flat = await fetch(`${url}/v1/models/b-lenet-mnist/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bodyOf(encodeInputsFrame(data, [samples.length, 784])),
    });
    const json = await predictJson(url, 'b-lenet-mnist', samples);
    const strip = (b: { results: Answer[] }) => b.results.map(({ label, exit }) => ({ label, exit }));
    const a = strip((await framed.json()) as { results: Answer[] });
    assert.deepEqual(a, strip((await json.json()) as { results: Answer[] }));
    assert.deepEqual(a, strip((await flat.json()) as { results: Answer[] }));
  });

  it('thresholds from the query or a header override the model’s; probabilities only when asked', async () => {
    const none = (await (await predictJson(url, 'b-lenet-mnist', samples, '?thresholds=0')).json()) as { results: Answer[]; thresholds: number[] };
    assert.deepEqual(none.thresholds, [0]);
    assert.ok(
      none.results.every((r) => r.exit === 2 && r.probs === undefined),
      'threshold 0 lets nothing leave early',
    );
    const all = (await (
      await predictJson(url, 'b-lenet-mnist', samples, '', { 'x-branchy-thresholds': String(Math.log(10)), 'x-branchy-probs': '1' })
    ).json()) as { results: Answer[] };
    assert.ok(
      all.results.every((r) => r.exit === 1 && r.probs?.length === 10),
      'ln 10 lets everything leave at exit 1',
    );
    const bad = await predictJson(url, 'b-lenet-mnist', samples, '?thresholds=0.1,0.2');
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { code: string }).code, 'EXIT_THRESHOLD_COUNT');
  });

  it('lists models and describes one with its spec, thresholds and cost profile', async () => {
    const list = (await (await fetch(`${url}/v1/models`)).json()) as { models: { name: string; thresholds: number[]; calibrated: boolean }[] };
    assert.deepEqual(
      list.models.map((m) => m.name),
      ['b-lenet-mnist'],
    );
    assert.equal(list.models[0].calibrated, true, 'the shipped B-LeNet is calibrated on full MNIST');
    const one = (await (await fetch(`${url}/v1/models/b-lenet-mnist`)).json()) as { spec: { name: string }; thresholds: number[]; costProfile?: unknown };
    assert.equal(one.spec.name, 'b-lenet');
    assert.deepEqual(one.thresholds, model.manifest.spec.policy.thresholds);
    const missing = await fetch(`${url}/v1/models/nope`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { code: string }).code, 'SERVE_UNKNOWN_MODEL');
  });

  it('health and readiness answer; metrics are Prometheus text with the counters, histograms and gauges', async () => {
    assert.deepEqual(await (await fetch(`${url}/healthz`)).json(), { status: 'ok' });
    assert.equal((await fetch(`${url}/readyz`)).status, 200);
    const res = await fetch(`${url}/metrics`);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const line of text.trimEnd().split('\n')) {
      assert.match(line, /^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{([a-z_]+="[^"]*",?)*\})? (-?[\d.e+-]+|\+Inf|NaN))$/, line);
    }
    assert.ok(metric(text, 'branchy_exits_total{model="b-lenet-mnist",exit="1"}') > 0);
    assert.ok(metric(text, 'branchy_batch_size_count{model="b-lenet-mnist"}') >= 1);
    assert.equal(metric(text, 'branchy_queue_depth{model="b-lenet-mnist"}'), 0);
    assert.ok(metric(text, 'branchy_http_errors_total{code="EXIT_THRESHOLD_COUNT"}') >= 1);
    assert.ok(metric(text, 'branchy_http_requests_total{route="/v1/models/:name/predict",method="POST",status="200"}') >= 4);
  });

  it('parallel clients each get their own samples back from shared batches', async () => {
    const before = await (await fetch(`${url}/metrics`)).text();
    const batchesBefore = metric(before, 'branchy_batch_size_count{model="b-lenet-mnist"}');
    const mine = digits(48, 300);
    const alone = await runEarlyExit(model.net, { data: Float32Array.from(mine.flatMap((s) => Array.from(s))), shape: [48, 28, 28, 1] });
    const answers = await Promise.all(
      mine.map(async (s, i) => ({
        i,
        body: (await (await predictJson(url, 'b-lenet-mnist', [s])).json()) as { results: Answer[]; timing: { batchSize: number } },
      })),
    );
    for (const { i, body } of answers) {
      assert.equal(body.results.length, 1);
      assert.equal(body.results[0].label, alone.results[i].label, `client ${i}`);
      assert.ok(Math.abs(body.results[0].score - alone.results[i].score) < 1e-5, `client ${i}`);
    }
    const text = await (await fetch(`${url}/metrics`)).text();
    const batches = metric(text, 'branchy_batch_size_count{model="b-lenet-mnist"}') - batchesBefore;
    assert.ok(batches < 48, `48 requests ran in ${batches} batches`);
    assert.ok(
      answers.some((a) => a.body.timing.batchSize > 1),
      'some request shared its batch',
    );
  });

  it('refuses requests past the queue limit with 503 and Retry-After; those queued are still answered', async () => {
    const small = createServer([model], { queueLimit: 4, maxWaitMs: 60_000, maxBatch: 64 });
    const smallUrl = await small.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const pair = samples.slice(0, 2);
      const queued = [predictJson(smallUrl, 'b-lenet-mnist', pair), predictJson(smallUrl, 'b-lenet-mnist', pair)];
      for (let poll = 0; poll < 1000 && metric(await (await fetch(`${smallUrl}/metrics`)).text(), 'branchy_queue_depth{model="b-lenet-mnist"}') < 4; poll++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const refused = await predictJson(smallUrl, 'b-lenet-mnist', pair);
      assert.equal(refused.status, 503);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      assert.equal(((await refused.json()) as { code: string }).code, 'SERVE_QUEUE_FULL');
      const tooMany = await predictJson(smallUrl, 'b-lenet-mnist', samples.slice(0, 5));
      assert.equal(tooMany.status, 413);
      assert.equal(((await tooMany.json()) as { code: string }).code, 'SERVE_TOO_MANY_SAMPLES');
      const closed = small.close();
      assert.deepEqual(
        (await Promise.all(queued)).map((r) => r.status),
        [200, 200],
      );
      await closed;
    } finally {
      await small.close();
    }
  });

  it('with a token, refuses requests without it or with another (401) and answers with it; health stays open', async () => {
    const token = 'a-long-enough-test-token-1234';
    const guarded = createServer([model], { token });
    const gUrl = await guarded.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      assert.equal((await fetch(`${gUrl}/v1/models`)).status, 401);
      const wrong = await fetch(`${gUrl}/v1/models`, { headers: { authorization: 'Bearer not-the-token' } });
      assert.equal(wrong.status, 401);
      assert.equal(((await wrong.json()) as { code: string }).code, 'SERVE_UNAUTHORIZED');
      assert.equal((await predictJson(gUrl, 'b-lenet-mnist', samples.slice(0, 1))).status, 401);
      assert.equal((await predictJson(gUrl, 'b-lenet-mnist', samples.slice(0, 1), '', { authorization: `Bearer ${token}` })).status, 200);
      assert.equal((await fetch(`${gUrl}/healthz`)).status, 200);
    } finally {
      await guarded.close();
    }
  });

  it('refuses an SLO for a model without calibration, naming it', async () => {
    const bare = await served(uncalibratedCopy(SHIPPED_MODEL_DIR), 'b-lenet-mnist');
    try {
      assert.throws(
        () => createServer([bare], { sloMs: 50 }),
        (e: Error & { code?: string }) => e.code === 'SERVE_NOT_CALIBRATED' && /b-lenet-mnist.*has none; calibrate it first/.test(e.message),
      );
    } finally {
      await bare.host.close();
    }
  });
});

describe('branchy serve: load-adaptive operating points', () => {
  let model: InProcessModel;
  let calibration: { chosen: number; front: { accuracy: number; thresholds: number[] }[] };

  before(async () => {
    model = await served(await calibratedCopy(), 'calibrated');
    calibration = model.manifest.calibration as typeof calibration;
  });
  after(() => model?.host.close());

  it('moves to cheaper points under a burst, says so in each response, and comes back when load falls', async () => {
    assert.ok(calibration.chosen > 0, 'the calibrated choice has cheaper points to move to');
    const { server, url } = await listen([model], { sloMs: 2, adaptive: { windowMs: 300, holdMs: 20, minObservations: 5 } });
    try {
      const seen = new Set<number>();
      const burst = digits(32, 500);
      for (let wave = 0; wave < 200 && ![...seen].some((i) => i < calibration.chosen); wave++) {
        const replies = await Promise.all(burst.map((s) => predictJson(url, 'calibrated', [s])));
        for (const r of replies) {
          if (r.status !== 200) {
            assert.equal(r.status, 503);
            assert.equal(((await r.json()) as { code: string }).code, 'SERVE_OVERLOADED');
            continue;
          }
          const body = (await r.json()) as { thresholds: number[]; operatingPoint: { index: number; accuracy: number; thresholds: number[] } };
          const point = calibration.front[body.operatingPoint.index];
          assert.deepEqual(body.operatingPoint.thresholds, point.thresholds);
          assert.deepEqual(body.thresholds, point.thresholds);
          assert.equal(body.operatingPoint.accuracy, point.accuracy);
          seen.add(body.operatingPoint.index);
        }
      }
      assert.ok(
        [...seen].some((i) => i < calibration.chosen),
        `points used: ${[...seen]}`,
      );
      assert.ok([...seen].every((i) => i <= calibration.chosen));
      let index = -1;
      for (let poll = 0; poll < 200 && index !== calibration.chosen; poll++) {
        await new Promise((r) => setTimeout(r, 50));
        index = ((await (await fetch(`${url}/v1/models/calibrated`)).json()) as { operatingPoint: { index: number } }).operatingPoint.index;
      }
      assert.equal(index, calibration.chosen, 'back at the calibrated choice once idle');
      const text = await (await fetch(`${url}/metrics`)).text();
      assert.ok(metric(text, 'branchy_operating_point_moves_total{model="calibrated",direction="cheaper"}') >= 1);
      assert.ok(metric(text, 'branchy_operating_point_moves_total{model="calibrated",direction="costlier"}') >= 1);
      assert.equal(metric(text, 'branchy_operating_point{model="calibrated"}'), calibration.chosen);
    } finally {
      await server.close();
    }
  });
});
