import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { flood, knownAnswers, slowClients, SLOW_KINDS, validClient, type KnownSample } from '../../bench/hostile.ts';
import { metricValue, startServerProcess, type ServerProcess } from '../../bench/server-process.ts';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { digits } from './fixtures.ts';

const MODEL = 'b-lenet-mnist';
const PATH = `/v1/models/${MODEL}/predict`;

/** `branchy serve` of the shipped B-LeNet, a real process on loopback, with these connection flags. */
function serve(flags: string[]): Promise<ServerProcess> {
  return startServerProcess(['serve', SHIPPED_MODEL_DIR, '--port', '0', '--log-level', 'error', ...flags]);
}

/**
 * A metric of the server, read as soon as the server takes a connection again: right after a flood closes, the
 * server may not yet have seen every close, and drops the connection of the metrics request itself. Also says how
 * many of its requests were refused so.
 */
async function metricWhenServed(url: string, series: string, attempts = 100): Promise<{ value: number; refused: number }> {
  for (let refused = 0; ; refused++) {
    try {
      return { value: await metricValue(url, series), refused };
    } catch (error) {
      if (refused + 1 === attempts) throw error;
      await sleep(50);
    }
  }
}

/** Polls `branchy_connections_open` until it is `expected` (the metrics request's own connection counts). */
async function openConnectionsSettle(url: string, expected: number): Promise<number> {
  let open = Number.NaN;
  for (let i = 0; i < 200; i++) {
    open = (await metricWhenServed(url, 'branchy_connections_open')).value;
    if (open === expected) break;
    await sleep(50);
  }
  return open;
}

describe('200 slow connections beside a valid client (a real branchy serve)', () => {
  const SLOW = 200;
  let server: ServerProcess;
  let known: KnownSample[];

  before(async () => {
    server = await serve(['--headers-timeout-ms', '1000', '--request-timeout-ms', '2000', '--keep-alive-timeout-ms', '1000']);
    known = await knownAnswers(server.url, MODEL, digits(20));
  });
  after(async () => {
    await server.stop();
  });

  it('the valid client gets every answer right while 200 slow connections are open, and the timeouts close every slow one', async () => {
    const slow = slowClients({ port: server.port, count: SLOW, path: PATH, byteEveryMs: 100 });
    try {
      await slow.ready;
      // Every slow connection is held by the server before the valid client starts (+1: the metrics request's own).
      assert.equal(await openConnectionsSettle(server.url, SLOW + 1), SLOW + 1, 'the server holds the 200 slow connections');

      const valid = await validClient({ url: server.url, model: MODEL, samples: known, requests: 100 });
      assert.deepEqual(valid.failures, []);
      assert.equal(valid.correct, 100);

      await slow.firstClosed;
      const stats = slow.stats();
      assert.ok(stats.closedByServer >= SLOW, `the server closed ${stats.closedByServer} slow connections`);
      assert.equal(stats.closedWithoutReply, 0, 'every slow connection was answered before it was closed');
      for (const kind of SLOW_KINDS) {
        const k = stats.byKind.get(kind)!;
        // A trickled head or body is cut off by its timeout with 408; an idle one is answered 200 and then closed.
        const expected = kind === 'idle' ? 200 : 408;
        assert.deepEqual([...k.byStatus.keys()], [expected], `${kind}: replies by status ${JSON.stringify([...k.byStatus])}`);
        assert.ok(k.closedByServer >= Math.floor(SLOW / SLOW_KINDS.length), `${kind}: ${k.closedByServer} closed by the server`);
      }
      const cutOff = stats.byKind.get('headers')!.closedByServer + stats.byKind.get('body')!.closedByServer;
      const timeouts = await metricValue(server.url, 'branchy_connection_errors_total{code="SERVE_REQUEST_TIMEOUT"}');
      assert.ok(timeouts >= cutOff, `${timeouts} timeouts counted; the slow clients saw ${cutOff}`);
    } finally {
      await slow.stop();
    }
    assert.equal(await openConnectionsSettle(server.url, 1), 1, 'no connection is left open once the slow clients are gone');
    assert.ok(server.running());
  });
});

describe('a flood of connections beyond --max-connections (a real branchy serve)', () => {
  const MAX = 50;
  const FLOOD = 150;
  let server: ServerProcess;
  let known: KnownSample[];

  before(async () => {
    server = await serve(['--max-connections', String(MAX)]);
    known = await knownAnswers(server.url, MODEL, digits(10));
  });
  after(async () => {
    await server.stop();
  });

  it('drops the excess at once, counts it in branchy_connections_dropped_total, and a valid client succeeds after the flood', async () => {
    const openBefore = await openConnectionsSettle(server.url, 1);
    assert.equal(openBefore, 1);
    const droppedBefore = await metricValue(server.url, 'branchy_connections_dropped_total');
    assert.equal(droppedBefore, 0);
    const crowd = flood({ port: server.port, count: FLOOD, settleMs: 30_000 });
    const outcomes = await crowd.settled;
    await crowd.close();

    assert.equal(outcomes.waiting, 0, `every connection was answered or closed: ${JSON.stringify(outcomes)}`);
    assert.ok(outcomes.answered >= 1 && outcomes.answered <= MAX, `${outcomes.answered} answered; the limit is ${MAX}`);
    const refused = outcomes.closed + outcomes.reset;
    assert.equal(outcomes.answered + refused, FLOOD);
    assert.ok(refused >= FLOOD - MAX, `${refused} refused`);
    const droppedAfter = await metricWhenServed(server.url, 'branchy_connections_dropped_total');
    // Every connection refused is counted: the flood's, and those of metrics requests sent before its closes were seen.
    assert.equal(
      droppedAfter.value - droppedBefore,
      refused + droppedAfter.refused,
      `${refused} of the flood and ${droppedAfter.refused} metrics requests refused`,
    );

    const valid = await validClient({ url: server.url, model: MODEL, samples: known, requests: 50 });
    assert.deepEqual(valid.failures, []);
    assert.equal(valid.correct, 50);
    assert.equal(await openConnectionsSettle(server.url, 1), 1, 'the flood left no connection open');
    assert.ok(server.running());
  });
});
