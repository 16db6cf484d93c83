import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { runEarlyExit } from '../../src/infer/index.ts';
import { type InferenceHost } from '../../src/serve/index.ts';
import { WorkerInferenceHost } from '../../src/serve/inference-host.ts';
import { maxAbsDiff } from '../helpers.ts';
import { digits, listen, predictJson, served, type InProcessModel } from './fixtures.ts';

interface Answer {
  label: number;
  exit: number;
  score: number;
  probs?: number[];
}

const flat = (samples: Float32Array[]) => {
  const data = new Float32Array(samples.length * 784);
  samples.forEach((s, i) => data.set(s, i * 784));
  return data;
};

async function queueDepth(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('branchy_queue_depth{model="b-lenet-mnist"} '));
  return Number(line?.split(' ')[1]);
}

describe('branchy serve: batches on an inference thread', () => {
  let model: InProcessModel;
  let host: WorkerInferenceHost;

  before(async () => {
    model = await served(SHIPPED_MODEL_DIR, 'b-lenet-mnist');
    host = await WorkerInferenceHost.start(SHIPPED_MODEL_DIR, { engine: 'tfjs', backend: 'wasm' }, 'b-lenet-mnist');
  });
  after(async () => {
    await host?.close();
    await model?.host.close();
  });

  it('answers real digits as the in-process early-exit runner does, probabilities included', async () => {
    assert.equal(host.runtime, model.net.runtime);
    const { server, url } = await listen([{ ...model, host }], { maxWaitMs: 5 });
    try {
      const samples = digits(24, 700);
      const res = await predictJson(url, 'b-lenet-mnist', samples, '?probs=1');
      assert.equal(res.status, 200);
      const body = (await res.json()) as { results: Answer[] };
      const { results } = await runEarlyExit(model.net, { data: flat(samples), shape: [samples.length, 28, 28, 1] });
      assert.equal(body.results.length, samples.length);
      body.results.forEach((r, i) => {
        assert.equal(r.label, results[i].label, `sample ${i}`);
        assert.equal(r.exit, results[i].exit, `sample ${i}`);
        assert.ok(Math.abs(r.score - results[i].score) < 1e-5, `sample ${i}`);
        assert.ok(maxAbsDiff(r.probs as number[], results[i].probs) < 1e-5, `sample ${i}`);
      });
      const forced = (await (await predictJson(url, 'b-lenet-mnist', samples.slice(0, 4), '?thresholds=0')).json()) as { results: Answer[] };
      assert.ok(
        forced.results.every((r) => r.exit === 2),
        'request thresholds reach the thread',
      );
    } finally {
      await server.close();
    }
  });

  it('parallel clients each get their own samples back from shared batches', async () => {
    const { server, url } = await listen([{ ...model, host }], { maxWaitMs: 5 });
    try {
      const mine = digits(48, 900);
      const alone = await runEarlyExit(model.net, { data: flat(mine), shape: [48, 28, 28, 1] });
      const answers = await Promise.all(
        mine.map(async (s) => (await (await predictJson(url, 'b-lenet-mnist', [s])).json()) as { results: Answer[]; timing: { batchSize: number } }),
      );
      answers.forEach((body, i) => {
        assert.equal(body.results.length, 1);
        assert.equal(body.results[0].label, alone.results[i].label, `client ${i}`);
        assert.ok(Math.abs(body.results[0].score - alone.results[i].score) < 1e-5, `client ${i}`);
      });
      assert.ok(
        answers.some((a) => a.timing.batchSize > 1),
        'some request shared its batch',
      );
    } finally {
      await server.close();
    }
  });

  it('an error raised by a batch fails that batch with its code and keeps the thread', async () => {
    const thread = host.worker.threadId;
    await assert.rejects(
      host.run({ data: flat(digits(2)), shape: [2, 28, 28, 1] }, [Number.NaN]),
      (e: Error & { code?: string; status?: number }) => e.code?.startsWith('EXIT_') === true && e.status === 400,
    );
    assert.equal(host.worker.threadId, thread);
    const run = await host.run({ data: flat(digits(2)), shape: [2, 28, 28, 1] }, [0.5]);
    assert.equal(run.results.length, 2);
    assert.ok(run.runMs > 0, 'the thread reports how long the batch took there');
  });

  it('a crash of the thread fails its batch with a 503 JSON error; a new thread answers the next requests', async () => {
    const crashing = await WorkerInferenceHost.start(SHIPPED_MODEL_DIR, { engine: 'tfjs', backend: 'wasm' }, 'b-lenet-mnist');
    let crashed = false;
    // The real thread is stopped while the first batch is handed to it.
    const killFirstBatch: InferenceHost = {
      runtime: crashing.runtime,
      run(x, thresholds) {
        const answer = crashing.run(x, thresholds);
        if (!crashed) void crashing.worker.terminate();
        crashed = true;
        return answer;
      },
      close: () => crashing.close(),
    };
    const { server, url } = await listen([{ ...model, host: killFirstBatch }], { maxWaitMs: 1 });
    try {
      const failed = await predictJson(url, 'b-lenet-mnist', digits(3, 50));
      assert.equal(failed.status, 503);
      assert.ok(Number(failed.headers.get('retry-after')) >= 1);
      assert.equal(((await failed.json()) as { code: string }).code, 'SERVE_INFERENCE_CRASHED');
      const samples = digits(3, 50);
      const again = await predictJson(url, 'b-lenet-mnist', samples);
      assert.equal(again.status, 200);
      const { results } = await runEarlyExit(model.net, { data: flat(samples), shape: [3, 28, 28, 1] });
      assert.deepEqual(
        ((await again.json()) as { results: Answer[] }).results.map((r) => r.label),
        results.map((r) => r.label),
      );
      assert.equal(crashing.restartCount, 1);
      await crashing.worker.terminate();
      assert.equal((await predictJson(url, 'b-lenet-mnist', samples)).status, 200, 'a thread that dies idle is replaced too');
      assert.equal(crashing.restartCount, 2);
    } finally {
      await server.close();
      await crashing.close();
    }
  });

  it('shutdown answers every queued request on the thread, then stops it', async () => {
    const draining = await WorkerInferenceHost.start(SHIPPED_MODEL_DIR, { engine: 'tfjs', backend: 'wasm' }, 'b-lenet-mnist');
    const { server, url } = await listen([{ ...model, host: draining }], { maxWaitMs: 60_000 });
    const replies = digits(16, 200).map((s) => predictJson(url, 'b-lenet-mnist', [s]));
    for (let poll = 0; poll < 500 && (await queueDepth(url)) < 16; poll++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await queueDepth(url), 16);
    const exited = new Promise<number>((resolve) => draining.worker.once('exit', resolve));
    await server.close();
    assert.deepEqual(
      (await Promise.all(replies)).map((r) => r.status),
      new Array(16).fill(200),
    );
    await draining.close();
    await exited;
    await assert.rejects(
      draining.run({ data: flat(digits(1)), shape: [1, 28, 28, 1] }, [0.5]),
      (e: Error & { code?: string }) => e.code === 'SERVE_SHUTTING_DOWN',
    );
  });
});
