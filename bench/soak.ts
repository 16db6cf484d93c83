/**
 * A bounded soak of `branchy serve`: the real server (a child process on 127.0.0.1, the shipped B-LeNet, default
 * flags) under a mixed load of valid and malformed requests for `--minutes` (default 2), with slow connections held
 * open beside it the whole time. It reports the requests sent by kind, the replies by error code (as the clients saw
 * them and as the server counted them), the server's resident memory and open file descriptors (/proc/PID) at the
 * start, at the end of every minute and at the end (goal: flat), and the valid requests' p50/p99 per minute.
 *
 * The load is {@link mixedLoad}: `--connections` clients (default 4) one request after another, each request's kind
 * drawn from {@link MIX} by a seeded generator; every valid answer is checked against the calm server's. The slow
 * connections (`--slow`, default 20: trickled heads and bodies, idle keep-alives) live in a process of their own and
 * are reopened as the server's timeouts close them.
 *
 * It stops itself: the load ends after `--minutes`, and a watchdog kills the server and exits 1 if the whole run
 * takes two minutes longer than that.
 *
 * Run: node --import tsx bench/soak.ts [--minutes 2] [--connections 4] [--slow 20] [--seed 1]
 * (the server runs the built dist/: `npm run build` after changing src/)
 */
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { mnistSplits } from '../src/data/index.ts';
import { SHIPPED_MODEL_DIR } from '../src/io/shipped-models.ts';
import { formatTable } from '../src/report/text-table.ts';
import { knownAnswers, MIX, mixedLoad, percentileOfSorted, validClient, type MixedLoadResult, type RequestKind } from './hostile.ts';
import { metricFamily, metricValue, processStats, startServerProcess, type ProcessStats } from './server-process.ts';
import { startSlowClientsProcess } from './slow-clients-process.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '2' },
    connections: { type: 'string', default: '4' },
    slow: { type: 'string', default: '20' },
    seed: { type: 'string', default: '1' },
  },
});
const MINUTES = Number(values.minutes);
const CONNECTIONS = Number(values.connections);
const SLOW = Number(values.slow);
const SEED = Number(values.seed);
if (!(MINUTES > 0) || !Number.isInteger(CONNECTIONS) || CONNECTIONS < 1 || !Number.isInteger(SLOW) || SLOW < 0) {
  throw new RangeError(`--minutes must be > 0, --connections an integer >= 1 and --slow an integer >= 0; got ${MINUTES}, ${CONNECTIONS}, ${SLOW}`);
}
const MODEL = 'b-lenet-mnist';

const load = () =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const ms = (v: number) => `${v.toFixed(2)} ms`;

const server = await startServerProcess(['serve', SHIPPED_MODEL_DIR, '--port', '0', '--log-level', 'error']);
const watchdog = setTimeout(
  () => {
    console.error(`the soak overran ${MINUTES} + 2 minutes: stopping the server`);
    server.child.kill('SIGKILL');
    process.exit(1);
  },
  (MINUTES + 2) * 60_000,
);
watchdog.unref();

/** The server's resident memory and descriptors at one moment, with its connections then. */
interface Snapshot extends ProcessStats {
  when: string;
  connectionsOpen: number;
}
const snapshots: Snapshot[] = [];
const snapshot = async (when: string) => {
  const connectionsOpen = await metricValue(server.url, 'branchy_connections_open');
  snapshots.push({ when, connectionsOpen, ...processStats(server.pid) });
};

/** Waits (up to 30 s) until the server holds no connection but the metrics request's own. */
const settle = async () => {
  for (let i = 0; i < 300 && (await metricValue(server.url, 'branchy_connections_open')) > 1; i++) await sleep(100);
};

interface Minute {
  minute: number;
  result: MixedLoadResult;
}
const minutes: Minute[] = [];
let serverErrors: Map<string, number> | undefined;
let connectionErrors: Map<string, number> | undefined;
let slowTimeouts: number | undefined;
console.log(`load average at start: ${load()}`);
try {
  await snapshot('listening');
  const test = mnistSplits(1).test;
  const known = await knownAnswers(
    server.url,
    MODEL,
    Array.from({ length: 100 }, (_, i) => test.x.slice(i * 784, (i + 1) * 784)),
  );
  await validClient({ url: server.url, model: MODEL, samples: known, requests: 200 });
  await settle();
  await snapshot('start (warmed up, idle)');

  const slow = SLOW > 0 ? await startSlowClientsProcess({ port: server.port, count: SLOW, path: `/v1/models/${MODEL}/predict` }) : undefined;
  const whole = Math.ceil(MINUTES);
  for (let m = 1; m <= whole; m++) {
    const seconds = Math.min(60, (MINUTES - (m - 1)) * 60);
    const result = await mixedLoad({ url: server.url, model: MODEL, samples: known, connections: CONNECTIONS, seconds, seed: SEED * 1000 + m });
    minutes.push({ minute: m, result });
    await snapshot(`end of minute ${m} (under load)`);
    if (!server.running()) throw new Error(`the server exited during minute ${m}: ${server.stderr()}`);
  }
  // The server's counts are read while the slow connections are still open: closing them mid-request would add to them.
  await sleep(1000);
  serverErrors = await metricFamily(server.url, 'branchy_http_errors_total');
  connectionErrors = await metricFamily(server.url, 'branchy_connection_errors_total');
  const slowStats = await slow?.stop();
  slowTimeouts = slowStats === undefined ? 0 : (slowStats.byStatus.get(408) ?? 0);
  if (slowStats !== undefined) {
    const kinds = [...slowStats.byKind].map(([k, v]) => `${k} ${v.closedByServer} (${[...v.byStatus].map(([st, n]) => `${n}x${st}`).join(' ') || '-'})`);
    console.log(
      `slow connections: ${SLOW} held, ${slowStats.opened} opened, ${slowStats.closedByServer} closed by the server, ${slowStats.closedWithoutReply} without a reply; by kind: ${kinds.join(', ')}`,
    );
  }
  await settle();
  await snapshot('end (load stopped, idle)');
} finally {
  await server.stop();
  clearTimeout(watchdog);
}

const sum = (f: (m: MixedLoadResult) => number) => minutes.reduce((a, m) => a + f(m.result), 0);
const sentOf = (r: MixedLoadResult) => [...r.sent.values()].reduce((a, b) => a + b, 0);
console.log(`\nSoak: ${MINUTES} min, ${CONNECTIONS} clients of mixed load, ${SLOW} slow connections, seed ${SEED}\n`);
console.log(
  formatTable([
    ['minute', 'requests', 'valid', 'valid correct', 'wrong replies', 'valid p50', 'valid p99', 'valid max'],
    ...minutes.map(({ minute, result: r }) => {
      const sorted = Float64Array.from(r.valid.map((v) => v.ms)).sort();
      return [
        minute,
        sentOf(r),
        r.validSent,
        r.validCorrect,
        r.wrong.length,
        ms(percentileOfSorted(sorted, 50)),
        ms(percentileOfSorted(sorted, 99)),
        ms(sorted[sorted.length - 1]),
      ];
    }),
  ]),
);

const kinds = Object.keys(MIX) as RequestKind[];
const byCode = new Map<string, number>();
for (const { result } of minutes) for (const [code, n] of result.byCode) byCode.set(code, (byCode.get(code) ?? 0) + n);
console.log(`\nRequests by kind: ${kinds.map((k) => `${k} ${sum((r) => r.sent.get(k) ?? 0)}`).join(', ')} (total ${sum(sentOf)})`);
// What the server must have counted for what was sent: every reply's code, an aborted body as cut off, a slow connection's 408.
const expected = new Map([...byCode].filter(([c]) => c !== '200'));
expected.set(
  'SERVE_BODY_INCOMPLETE',
  sum((r) => r.sent.get('aborted-body') ?? 0),
);
expected.set('SERVE_REQUEST_TIMEOUT', slowTimeouts ?? 0);
const counted = new Map<string, number>();
for (const family of [serverErrors, connectionErrors]) for (const [labels, n] of family ?? []) counted.set(/code="([^"]+)"/.exec(labels)?.[1] ?? labels, n);
const codes = [...new Set([...expected.keys(), ...counted.keys()])].sort();
console.log(`\nError replies by code (${byCode.get('200') ?? 0} requests answered 200)\n`);
console.log(formatTable([['code', 'the clients saw', 'the server counted'], ...codes.map((c) => [c, expected.get(c) ?? 0, counted.get(c) ?? 0])]));
console.log(
  'the clients saw: the codes of the replies to the mixed load; for SERVE_BODY_INCOMPLETE the aborted bodies sent (no reply is due), for SERVE_REQUEST_TIMEOUT the slow connections answered 408 (read just after the server counts)',
);

console.log('\nServer process (/proc/PID)\n');
console.log(formatTable([['when', 'RSS', 'open fds', 'connections open'], ...snapshots.map((s) => [s.when, mib(s.rssBytes), s.fds, s.connectionsOpen])]));
const start = snapshots.find((s) => s.when.startsWith('start'));
const end = snapshots.at(-1);
if (start !== undefined && end !== undefined && end !== start) {
  console.log(
    `\nfrom start to end: RSS ${end.rssBytes >= start.rssBytes ? '+' : ''}${mib(end.rssBytes - start.rssBytes)}, open fds ${end.fds - start.fds >= 0 ? '+' : ''}${end.fds - start.fds}`,
  );
}

const wrong = minutes.flatMap((m) => m.result.wrong.map((w) => `minute ${m.minute}: ${w}`));
if (wrong.length > 0) {
  console.log(`\n${wrong.length} replies not what their request must get:\n${wrong.slice(0, 20).join('\n')}`);
  process.exitCode = 1;
}
console.log(`\nload average at end: ${load()}`);
