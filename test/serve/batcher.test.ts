import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import type { Batch } from '../../src/engine/types.ts';
import { runEarlyExit } from '../../src/infer/index.ts';
import { MicroBatcher, type BatcherOptions, type BatchReport } from '../../src/serve/batcher.ts';
import { randomBatch, tinySpec } from '../helpers.ts';

const SHAPE = [6, 6, 1];
const PER = 36;

/** Sample i of `x` as its own one-sample batch. */
const one = (x: Batch, i: number): Batch => ({ data: x.data.slice(i * PER, (i + 1) * PER), shape: [1, ...SHAPE] });
const rows = (x: Batch, from: number, count: number): Batch => ({ data: x.data.slice(from * PER, (from + count) * PER), shape: [count, ...SHAPE] });

describe('micro-batcher', () => {
  let net: TfjsNetwork;
  const x = randomBatch([40, ...SHAPE], 21);

  before(async () => {
    await useBackend('cpu');
    net = new TfjsNetwork(tinySpec(), undefined, 9);
  });

  /** A batcher over the real runner that records each batch's size and group. */
  function batcher(options: BatcherOptions) {
    const batches: { size: number; group: string }[] = [];
    const reports: BatchReport[] = [];
    const b = new MicroBatcher<string>(
      options,
      SHAPE,
      async (batch, group) => {
        batches.push({ size: batch.shape[0], group });
        const { results } = await runEarlyExit(net, batch, { thresholds: group.split(',').map(Number) });
        return { results, info: group };
      },
      (r) => reports.push(r),
    );
    return { b, batches, reports };
  }

  it('gathers concurrent requests into one batch and gives each its own results', async () => {
    const { b, batches, reports } = batcher({ maxBatch: 64, maxWaitMs: 50, queueLimit: 100 });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => b.submit(one(x, i), '0.5,0.5')));
    const alone = await runEarlyExit(net, rows(x, 0, 20), { thresholds: [0.5, 0.5] });
    assert.deepEqual(batches, [{ size: 20, group: '0.5,0.5' }]);
    answers.forEach((a, i) => {
      assert.equal(a.results.length, 1);
      assert.equal(a.results[0].label, alone.results[i].label);
      assert.equal(a.results[0].exit, alone.results[i].exit);
      assert.ok(Math.abs(a.results[0].score - alone.results[i].score) < 1e-6);
      assert.equal(a.batchSize, 20);
      assert.equal(a.info, '0.5,0.5');
    });
    assert.equal(reports[0].latenciesMs.length, 20);
    assert.equal(reports[0].queueDelaysMs.length, 20);
  });

  it('never mixes threshold groups in a batch; the oldest request’s group goes first', async () => {
    const { b, batches } = batcher({ maxBatch: 64, maxWaitMs: 50, queueLimit: 100 });
    const all = `${Math.log(3)},${Math.log(3)}`;
    const groups = ['0,0', all, '0,0', all, '0,0'];
    const answers = await Promise.all(groups.map((g, i) => b.submit(one(x, i), g)));
    assert.deepEqual(batches, [
      { size: 3, group: '0,0' },
      { size: 2, group: all },
    ]);
    answers.forEach((a, i) => assert.equal(a.results[0].exit, groups[i] === '0,0' ? 3 : 1));
  });

  it('splits a request larger than the batch limit over several batches, in order', async () => {
    const { b, batches } = batcher({ maxBatch: 16, maxWaitMs: 0, queueLimit: 100 });
    const answer = await b.submit(rows(x, 0, 40), '0.5,0.5');
    const alone = await runEarlyExit(net, rows(x, 0, 40), { thresholds: [0.5, 0.5] });
    assert.deepEqual(
      batches.map((s) => s.size),
      [16, 16, 8],
    );
    assert.deepEqual(
      answer.results.map((r) => r.label),
      alone.results.map((r) => r.label),
    );
  });

  it('refuses what the queue cannot hold with SERVE_QUEUE_FULL and a retry delay', async () => {
    const { b } = batcher({ maxBatch: 64, maxWaitMs: 30, queueLimit: 5 });
    const first = b.submit(rows(x, 0, 4), '0.5,0.5');
    await assert.rejects(
      b.submit(rows(x, 4, 2), '0.5,0.5'),
      (e: Error & { code?: string; status?: number; retryAfterSeconds?: number }) =>
        e.code === 'SERVE_QUEUE_FULL' && e.status === 503 && (e.retryAfterSeconds ?? 0) >= 1,
    );
    assert.equal(b.queuedSamples, 4);
    assert.equal((await first).results.length, 4);
    assert.equal(b.queuedSamples, 0);
  });

  it('sheds a request when the queue ahead would outlast the delay limit, but always takes one to an empty queue', async () => {
    const { b } = batcher({ maxBatch: 4, maxWaitMs: 30, queueLimit: 100, maxQueueDelayMs: 0 });
    assert.equal((await b.submit(one(x, 0), '0.5,0.5')).results.length, 1, 'an empty queue takes the request');
    assert.equal(b.overloaded(), undefined);
    const first = b.submit(rows(x, 0, 2), '0.5,0.5');
    assert.equal(b.overloaded()?.code, 'SERVE_OVERLOADED', 'the server can refuse before reading a body');
    await assert.rejects(b.submit(one(x, 2), '0.5,0.5'), (e: Error & { code?: string; status?: number }) => e.code === 'SERVE_OVERLOADED' && e.status === 503);
    assert.equal((await first).results.length, 2);
    assert.equal(b.overloaded(), undefined);
    assert.equal((await b.submit(one(x, 3), '0.5,0.5')).results.length, 1, 'taken again once the queue drained');
  });

  it('judges the queue ahead by a fixed cost per batch plus a cost per sample, so small batches do not inflate it', async () => {
    // A fake clock: each batch takes 2 ms plus 0.1 ms per sample.
    let clock = 0;
    const b = new MicroBatcher<null>(
      { maxBatch: 64, maxWaitMs: 0, queueLimit: 1000, maxQueueDelayMs: 10 },
      SHAPE,
      async (batch) => {
        clock += 2 + 0.1 * batch.shape[0];
        return { results: (await runEarlyExit(net, batch, { thresholds: [0.5, 0.5] })).results, info: null };
      },
      undefined,
      () => clock,
    );
    assert.equal(b.expectedQueueDelayMs(64), 0, 'nothing run yet, nothing known');
    for (const size of [1, 1, 2, 1, 30, 1, 3]) await b.submit(rows(x, 0, size), 'g');
    assert.ok(Math.abs(b.expectedQueueDelayMs(64) - (2 + 6.4)) < 1e-6, `64 samples: one batch, ${b.expectedQueueDelayMs(64)} ms`);
    assert.ok(Math.abs(b.expectedQueueDelayMs(100) - (2 * 2 + 10)) < 1e-6, `100 samples: two batches, ${b.expectedQueueDelayMs(100)} ms`);
    assert.equal(b.expectedQueueDelayMs(0), 0);

    // A run that reports the model's own time (as an inference thread does) is judged by it, not by the wall clock.
    const threaded = new MicroBatcher<null>(
      { maxBatch: 64, maxWaitMs: 0, queueLimit: 1000 },
      SHAPE,
      async (batch) => {
        clock += 50;
        return { results: (await runEarlyExit(net, batch, { thresholds: [0.5, 0.5] })).results, info: null, modelMs: 1 + 0.01 * batch.shape[0] };
      },
      undefined,
      () => clock,
    );
    for (const size of [1, 4, 2, 16]) await threaded.submit(rows(x, 0, size), 'g');
    assert.ok(Math.abs(threaded.expectedQueueDelayMs(64) - (1 + 0.64)) < 1e-6, `${threaded.expectedQueueDelayMs(64)} ms`);
  });

  it('close runs what is queued at once, then refuses new requests', async () => {
    const { b, batches } = batcher({ maxBatch: 64, maxWaitMs: 60_000, queueLimit: 100 });
    const queued = b.submit(rows(x, 0, 3), '0.5,0.5');
    await b.close();
    assert.equal((await queued).results.length, 3);
    assert.deepEqual(
      batches.map((s) => s.size),
      [3],
    );
    await assert.rejects(b.submit(one(x, 0), '0.5,0.5'), (e: Error & { code?: string }) => e.code === 'SERVE_SHUTTING_DOWN');
  });

  it('a failing run rejects only the requests of its batch', async () => {
    const b = new MicroBatcher<null>({ maxBatch: 2, maxWaitMs: 0, queueLimit: 100 }, SHAPE, async (batch) => {
      const { results } = await runEarlyExit(net, batch, { thresholds: [Number.NaN, 0] });
      return { results, info: null };
    });
    await assert.rejects(b.submit(one(x, 0), 'g'), (e: Error & { code?: string }) => e.code === 'EXIT_THRESHOLD_VALUE');
    await b.idle();
    assert.equal(b.queuedSamples, 0);
  });
});
