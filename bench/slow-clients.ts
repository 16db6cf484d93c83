/**
 * A valid client's latency with and without slow connections open beside it, in the same run.
 *
 * The server is the real `branchy serve` of the shipped B-LeNet (a child process on 127.0.0.1, default connection
 * flags). The valid client sends single-sample JSON predict requests one at a time over one keep-alive connection
 * and checks every answer against the calm server's. The slow connections (`--slow`, default 200: trickled heads,
 * trickled bodies and idle keep-alives in turn, one byte per `--byte-every-ms` each) are held by a process of their
 * own, so that their clock does not share the valid client's event loop; the server closes them by its timeouts and
 * they are opened again at once. Rounds alternate which condition goes first.
 *
 * Run: node --import tsx bench/slow-clients.ts [--slow 200] [--requests 1000] [--rounds 3] [--byte-every-ms 100]
 *        [--headers-timeout-ms MS] [--request-timeout-ms MS] [--keep-alive-timeout-ms MS]  (the server's; shorter
 *        ones make it close and the slow clients reopen their connections during a run)
 * (the server runs the built dist/: `npm run build` after changing src/)
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { mnistSplits } from '../src/data/index.ts';
import { SHIPPED_MODEL_DIR } from '../src/io/shipped-models.ts';
import { formatTable } from '../src/report/text-table.ts';
import { knownAnswers, percentileOfSorted, validClient, type SlowClientStats } from './hostile.ts';
import { metricValue, processStats, startServerProcess } from './server-process.ts';
import { startSlowClientsProcess } from './slow-clients-process.ts';

const { values } = parseArgs({
  options: {
    slow: { type: 'string', default: '200' },
    requests: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    'byte-every-ms': { type: 'string', default: '100' },
    'headers-timeout-ms': { type: 'string' },
    'request-timeout-ms': { type: 'string' },
    'keep-alive-timeout-ms': { type: 'string' },
  },
});
/** The server's connection flags given here (the others keep `branchy serve`'s defaults). */
const SERVER_FLAGS = (['headers-timeout-ms', 'request-timeout-ms', 'keep-alive-timeout-ms'] as const).flatMap((f) =>
  values[f] === undefined ? [] : [`--${f}`, values[f]],
);
const SLOW = Number(values.slow);
const REQUESTS = Number(values.requests);
const ROUNDS = Number(values.rounds);
const BYTE_EVERY_MS = Number(values['byte-every-ms']);
const MODEL = 'b-lenet-mnist';
const PATH = `/v1/models/${MODEL}/predict`;

type Condition = 'calm' | 'slow';

/** One condition's measurement in one round. */
interface Run {
  round: number;
  condition: Condition;
  latenciesMs: Float64Array;
  correct: number;
  failures: string[];
  /** Connections the server held just before the valid client started (the metrics request's own included). */
  openOnServer: number;
  serverCpuMs: number;
  slowStats?: SlowClientStats;
}

const ms = (v: number) => `${v.toFixed(2)} ms`;
const load = () =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');
console.log(`load average at start: ${load()}`);

const test = mnistSplits(1).test;
const inputs = Array.from({ length: 100 }, (_, i) => test.x.slice(i * 784, (i + 1) * 784));
const server = await startServerProcess(['serve', SHIPPED_MODEL_DIR, '--port', '0', '--log-level', 'error', ...SERVER_FLAGS]);
console.log(`server: branchy serve ${SHIPPED_MODEL_DIR} ${SERVER_FLAGS.join(' ') || '(default connection flags)'}`);
const runs: Run[] = [];
try {
  const known = await knownAnswers(server.url, MODEL, inputs);
  await validClient({ url: server.url, model: MODEL, samples: known, requests: 200 });

  for (let round = 1; round <= ROUNDS; round++) {
    const order: Condition[] = round % 2 === 1 ? ['calm', 'slow'] : ['slow', 'calm'];
    for (const condition of order) {
      const slow = condition === 'slow' ? await startSlowClientsProcess({ port: server.port, count: SLOW, path: PATH, byteEveryMs: BYTE_EVERY_MS }) : undefined;
      const openOnServer = await metricValue(server.url, 'branchy_connections_open');
      const cpuBefore = processStats(server.pid).cpuSeconds;
      const valid = await validClient({ url: server.url, model: MODEL, samples: known, requests: REQUESTS });
      const serverCpuMs = (processStats(server.pid).cpuSeconds - cpuBefore) * 1000;
      const slowStats = await slow?.stop();
      runs.push({ round, condition, latenciesMs: valid.latenciesMs, correct: valid.correct, failures: valid.failures, openOnServer, serverCpuMs, slowStats });
    }
  }
} finally {
  await server.stop();
}

const row = (label: string, group: Run[]) => {
  const sorted = Float64Array.from(group.flatMap((r) => [...r.latenciesMs])).sort();
  const sent = group.length * REQUESTS;
  const cpu = group.reduce((a, r) => a + r.serverCpuMs, 0);
  return [
    label,
    sent,
    group.reduce((a, r) => a + r.correct, 0),
    Math.min(...group.map((r) => r.openOnServer)),
    ms(percentileOfSorted(sorted, 50)),
    ms(percentileOfSorted(sorted, 99)),
    ms(sorted[sorted.length - 1]),
    ms(cpu / sent),
  ];
};
const header = ['condition', 'requests', 'correct', 'open conns', 'p50', 'p99', 'max', 'server CPU/req'];
const label = (c: Condition) => (c === 'calm' ? 'no slow connections' : `${SLOW} slow connections`);

console.log(`\nValid client beside slow connections: ${REQUESTS} single-sample JSON requests per run, one at a time, ${ROUNDS} rounds\n`);
console.log(formatTable([header, ...runs.map((r) => row(`round ${r.round}: ${label(r.condition)}`, [r]))]));
console.log('\nAll rounds\n');
console.log(
  formatTable([
    header,
    ...(['calm', 'slow'] as const).map((c) =>
      row(
        label(c),
        runs.filter((r) => r.condition === c),
      ),
    ),
  ]),
);

const slowRuns = runs.filter((r) => r.slowStats !== undefined);
if (slowRuns.length > 0) {
  console.log('\nSlow connections per run (closed by the server by its timeouts, and opened again)\n');
  const rows = slowRuns.map((r) => {
    const s = r.slowStats!;
    const kinds = [...s.byKind].map(([k, v]) => `${k} ${v.closedByServer} (${[...v.byStatus].map(([st, n]) => `${n}x${st}`).join(' ') || '-'})`).join(', ');
    return [`round ${r.round}`, s.opened, s.closedByServer, s.closedWithoutReply, kinds];
  });
  console.log(formatTable([['run', 'opened', 'closed by server', 'closed without reply', 'closed by kind (replies)'], ...rows]));
}

const failures = runs.flatMap((r) => r.failures.map((f) => `round ${r.round} ${r.condition}: ${f}`));
if (failures.length > 0) {
  console.log(`\n${failures.length} valid requests not answered right:\n${failures.slice(0, 20).join('\n')}`);
  process.exitCode = 1;
}
console.log(`\nload average at end: ${load()}`);
