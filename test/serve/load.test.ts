import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { closedLoopLoad, fixedRateLoad, type LoadRequest } from '../../bench/load.ts';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { encodeInputsFrame, type BranchyServer } from '../../src/serve/index.ts';
import { digits, listen, served, type InProcessModel } from './fixtures.ts';

/** The value of one series in the server's Prometheus text (0 when absent). */
async function metric(url: string, series: string): Promise<number> {
  const line = (await (await fetch(`${url}/metrics`)).text()).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

const predicted = (status: number) => `branchy_http_requests_total{route="/v1/models/:name/predict",method="POST",status="${status}"}`;

describe('bench/load.ts: the closed-loop load generator', () => {
  let model: InProcessModel;
  let server: BranchyServer;
  let url: string;

  before(async () => {
    model = await served(SHIPPED_MODEL_DIR, 'b-lenet-mnist');
    ({ server, url } = await listen([model], { maxWaitMs: 1 }));
  });
  after(async () => {
    await server?.close();
    await model?.host.close();
  });

  it('counts 200 and non-200 replies of the real server exactly as the server counts them', async () => {
    const frame = { 'content-type': 'application/octet-stream' };
    const requests: LoadRequest[] = [
      ...digits(3).map((d) => ({ method: 'POST', path: '/v1/models/b-lenet-mnist/predict', headers: frame, body: encodeInputsFrame(d, [1, 784]) })),
      { method: 'POST', path: '/v1/models/b-lenet-mnist/predict', headers: frame, body: encodeInputsFrame(digits(1)[0], [784, 1]) },
      { method: 'POST', path: '/v1/models/no-such-model/predict', headers: frame, body: encodeInputsFrame(digits(1)[0], [1, 784]) },
      {
        method: 'POST',
        path: '/v1/models/b-lenet-mnist/predict',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [digits(1)[0].slice(0, 5)] }),
      },
    ];
    const before = await Promise.all([200, 400, 404].map((s) => metric(url, predicted(s))));
    const r = await closedLoopLoad({ port: Number(new URL(url).port), connections: 8, seconds: 0.5, requests });
    const served200 = (await metric(url, predicted(200))) - before[0];
    const served400 = (await metric(url, predicted(400))) - before[1];
    const served404 = (await metric(url, predicted(404))) - before[2];
    assert.equal(r.errors, 0);
    assert.ok((r.byStatus.get(200) ?? 0) > 0 && (r.byStatus.get(400) ?? 0) > 0 && (r.byStatus.get(404) ?? 0) > 0, `statuses: ${[...r.byStatus]}`);
    assert.deepEqual([...r.byStatus.keys()].sort(), [200, 400, 404]);
    assert.equal(r.byStatus.get(200), served200);
    assert.equal(r.byStatus.get(400), served400);
    assert.equal(r.byStatus.get(404), served404);
    assert.equal(r.replies, served200 + served400 + served404);
    assert.equal(r.latenciesMs.length, r.replies);
    // Each connection cycles through the six requests in turn: three valid for every three refused.
    assert.ok(Math.abs(served200 - (served400 + served404)) <= 8 * 3, `${served200} answered, ${served400 + served404} refused`);
  });

  it('at a fixed rate, sends what falls due, counts every reply as the server does and times it from when it fell due', async () => {
    const frame = { 'content-type': 'application/octet-stream' };
    const requests: LoadRequest[] = [
      { method: 'POST', path: '/v1/models/b-lenet-mnist/predict', headers: frame, body: encodeInputsFrame(digits(1)[0], [1, 784]) },
      { method: 'POST', path: '/v1/models/no-such-model/predict', headers: frame, body: encodeInputsFrame(digits(1)[0], [1, 784]) },
    ];
    const before = await Promise.all([200, 404].map((s) => metric(url, predicted(s))));
    const labels: number[] = [];
    const r = await fixedRateLoad({
      port: Number(new URL(url).port),
      connections: 16,
      rate: 200,
      seconds: 0.5,
      requests,
      onReply: (status, body) => status === 200 && labels.push((JSON.parse(body.toString()) as { results: { label: number }[] }).results[0].label),
    });
    assert.equal(r.due, 100);
    assert.equal(r.errors, 0);
    assert.equal(r.replies, r.sent);
    assert.equal(r.byStatus.get(200), (await metric(url, predicted(200))) - before[0]);
    assert.equal(r.byStatus.get(404), (await metric(url, predicted(404))) - before[1]);
    assert.equal(labels.length, r.byStatus.get(200));
    assert.ok(
      labels.every((l) => l === labels[0]),
      'the same digit, the same label',
    );
    for (const status of [200, 404]) {
      const corrected = r.correctedMs.get(status) as Float64Array;
      const measured = r.measuredMs.get(status) as Float64Array;
      assert.equal(corrected.length, r.byStatus.get(status));
      // Counted from when it fell due, a reply is never faster than counted from when it was written.
      corrected.forEach((ms, i) => assert.ok(ms >= measured[i] - 1e-9, `${status} #${i}: ${ms} < ${measured[i]}`));
    }
  });

  it('counts a request whose connection fails without a reply as an error', async () => {
    const closed = await listen([model]);
    const port = Number(new URL(closed.url).port);
    await closed.server.close();
    const r = await closedLoopLoad({ port, connections: 2, seconds: 0.05, requests: [{ method: 'GET', path: '/healthz' }] });
    assert.equal(r.replies, 0);
    assert.ok(r.errors >= 2, `errors: ${r.errors}`);
  });
});
