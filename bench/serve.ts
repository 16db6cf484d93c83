/**
 * `branchy serve` under load, next to in-process batched inference of the same samples in the same run.
 *
 * Every server measurement runs twice: batches on the inference thread (the default) and on the HTTP thread
 * (`--no-inference-thread`).
 *
 * 1. Throughput: 64 concurrent single-sample clients (closed loop, binary frames; one round with JSON bodies too)
 *    against the real server, a child process on 127.0.0.1, vs `runEarlyExit` in this process over the same digits
 *    in batches of `--max-batch`; rounds alternate. Target ratio ≥ 0.7. Two load generators, each in turn (their
 *    order alternates by round): autocannon, and the lean one of `bench/load.ts`, which spends less CPU per request.
 *    The CPU time of the load generator (this process) and of the server is shown per second of the run and per
 *    request: the generator shares the cores with the server.
 * 2. Latency at 50% and 100% of that mode's throughput (with `bench/load.ts`): `fixedRateLoad` at a fixed rate
 *    over 256 connections opened beforehand, latencies corrected for coordinated omission (counted from the time
 *    each request fell due).
 * 3. 2x overload: the same at twice the inference-thread throughput, against servers without and with `--slo-ms`;
 *    p50/p99 of the answered (200) replies (corrected, and as measured), the share refused (503), and the calibrated accuracy
 *    of the operating points that answered.
 *
 * The model is a calibrated copy of the shipped B-LeNet, made with the real `branchy calibrate` in a temp dir.
 *
 * Run: node --import tsx bench/serve.ts [--seconds 5] [--rounds 2] [--slo-ms 50] [--max-batch 64]
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
// @ts-expect-error autocannon ships no type declarations.
import autocannon from 'autocannon';
import { SHIPPED_MODEL_DIR } from '../src/io/shipped-models.ts';
import { openModel } from '../src/open/open-model.ts';
import { formatTable, percent } from '../src/report/text-table.ts';
import { mnistSplits } from '../src/data/index.ts';
import { runEarlyExit } from '../src/infer/index.ts';
import { readManifest, readStoredCalibration } from '../src/io/index.ts';
import { encodeInputsFrame } from '../src/serve/index.ts';
import { closedLoopLoad, fixedRateLoad } from './load.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    'slo-ms': { type: 'string', default: '50' },
    'max-batch': { type: 'string', default: '64' },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const SLO_MS = Number(values['slo-ms']);
const MAX_BATCH = Number(values['max-batch']);
const CONNECTIONS = 64;
const BIN = fileURLToPath(new URL('../bin/branchy.js', import.meta.url));

const work = mkdtempSync(join(tmpdir(), 'branchy-bench-serve-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const modelDir = join(work, 'b-lenet');
cpSync(SHIPPED_MODEL_DIR, modelDir, { recursive: true });
await promisify(execFile)(process.execPath, [BIN, 'calibrate', modelDir, '--profile-samples', '50', '--batch-size', '64']);
const stored = readStoredCalibration(readManifest(modelDir), modelDir);
if (stored === undefined) throw new Error(`'${modelDir}' has no calibration after calibrating it`);
const calibration = stored;

const test = mnistSplits(1).test;
const PER = 784;
const frames = Array.from({ length: test.count }, (_, i) => Buffer.from(encodeInputsFrame(test.x.slice(i * PER, (i + 1) * PER), [1, PER])));
const jsonBodies = Array.from({ length: 256 }, (_, i) => JSON.stringify({ inputs: [Array.from(test.x.subarray(i * PER, (i + 1) * PER))] }));

/** Starts the real `branchy serve` as a child process; resolves with its URL. */
async function startServer(extra: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', modelDir, '--port', '0', '--log-level', 'error', '--max-batch', String(MAX_BATCH), ...extra], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  return { child, url };
}

/**
 * The server's own p99 of predict requests (from fastify's receipt of the request to its reply, without time
 * spent in socket buffers or the load generator), as the upper bound of its histogram bucket, in ms.
 */
async function serverP99(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const buckets = [...text.matchAll(/^branchy_http_request_duration_seconds_bucket\{route="\/v1\/models\/:name\/predict",le="([^"]+)"\} (\d+)$/gm)].map(
    (m) => ({ le: Number(m[1]), count: Number(m[2]) }),
  );
  const total = buckets.at(-1)?.count ?? 0;
  return 1000 * (buckets.find((b) => b.count >= 0.99 * total)?.le ?? Number.NaN);
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc. */
function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds this process (the load generator) has used so far. */
function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

let runtime = '';

/** Samples per second of in-process early-exit inference over the test digits in batches of `MAX_BATCH`. */
async function inProcess(seconds: number): Promise<number> {
  const { net } = await openModel(modelDir, { backend: 'wasm' });
  runtime = net.runtime;
  const thresholds = calibration.front[calibration.chosen].thresholds;
  for (let s = 0; s + MAX_BATCH <= test.count; s += MAX_BATCH)
    await runEarlyExit(net, { data: test.x.subarray(s * PER, (s + MAX_BATCH) * PER), shape: [MAX_BATCH, 28, 28, 1] }, { thresholds });
  let samples = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    for (let s = 0; s + MAX_BATCH <= test.count; s += MAX_BATCH) {
      await runEarlyExit(net, { data: test.x.subarray(s * PER, (s + MAX_BATCH) * PER), shape: [MAX_BATCH, 28, 28, 1] }, { thresholds });
      samples += MAX_BATCH;
    }
  }
  const rate = samples / ((performance.now() - start) / 1000);
  net.dispose();
  return rate;
}

interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}

/** 64 closed-loop clients, one sample per request, for `seconds` (autocannon). */
async function closedLoop(url: string, seconds: number, kind: 'frame' | 'json'): Promise<CannonResult> {
  const bodies = kind === 'frame' ? frames.slice(0, 256) : jsonBodies;
  const requests = bodies.map((body) => ({
    method: 'POST',
    path: '/v1/models/b-lenet/predict',
    headers: { 'content-type': kind === 'frame' ? 'application/octet-stream' : 'application/json' },
    body,
  }));
  return (await autocannon({ url, connections: CONNECTIONS, duration: seconds, requests })) as CannonResult;
}

const GENERATORS = ['autocannon', 'load.ts'] as const;
type Generator = (typeof GENERATORS)[number];

/** What one closed-loop run gives, whichever generator ran it. */
interface ClosedLoopResult {
  /** Replies (any status) per second. */
  perSecond: number;
  replies: number;
  p50: number;
  p99: number;
  /** Replies other than 200, and requests without a reply. */
  failed: number;
}

/** 64 closed-loop clients sending single-sample frames for `seconds`, driven by `generator`. */
async function closedLoopWith(generator: Generator, url: string, seconds: number): Promise<ClosedLoopResult> {
  if (generator === 'autocannon') {
    const r = await closedLoop(url, seconds, 'frame');
    return { perSecond: r.requests.average, replies: r.requests.total, p50: r.latency.p50, p99: r.latency.p99, failed: r.non2xx + r.errors };
  }
  const requests = frames
    .slice(0, 256)
    .map((body) => ({ method: 'POST', path: '/v1/models/b-lenet/predict', headers: { 'content-type': 'application/octet-stream' }, body }));
  const r = await closedLoopLoad({ port: Number(new URL(url).port), connections: CONNECTIONS, seconds, requests });
  return {
    perSecond: r.replies / r.seconds,
    replies: r.replies,
    p50: quantile([...r.latenciesMs], 0.5),
    p99: quantile([...r.latenciesMs], 0.99),
    failed: r.replies - (r.byStatus.get(200) ?? 0) + r.errors,
  };
}

interface OpenLoopResult {
  offered: number;
  /** Replies of any status per second: below `offered` when the generator or the host cannot keep the rate. */
  repliedPerSecond: number;
  answeredPerSecond: number;
  p50: number;
  p99: number;
  refused: number;
  failed: number;
  /** Requests that fell due but found no free connection before the end (the server held every one). */
  unsent: number;
  points: Map<number, number>;
  /** p50/p99 of the answered (200) replies from their actual send time, not corrected for coordinated omission. */
  answeredP50: number;
  answeredP99: number;
  /** The server's own p99 (bucket bound), when read. */
  serverP99?: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/**
 * Sends single-sample frames at a fixed `rate` per second for `seconds` (`fixedRateLoad` of `bench/load.ts` over
 * 256 connections opened beforehand; latencies corrected for coordinated omission, i.e. counted from the time each
 * request fell due, and as measured from its send).
 */
async function fixedRate(url: string, rate: number, seconds: number): Promise<OpenLoopResult> {
  const points = new Map<number, number>();
  const onReply = (status: number, body: Buffer) => {
    if (status !== 200) return;
    const index = (JSON.parse(body.toString()) as { operatingPoint?: { index: number } }).operatingPoint?.index ?? -1;
    points.set(index, (points.get(index) ?? 0) + 1);
  };
  const requests = frames
    .slice(0, 256)
    .map((body) => ({ method: 'POST', path: '/v1/models/b-lenet/predict', headers: { 'content-type': 'application/octet-stream' }, body }));
  const r = await fixedRateLoad({ port: Number(new URL(url).port), connections: 256, rate, seconds, requests, onReply });
  const answered = r.byStatus.get(200) ?? 0;
  const refused = r.byStatus.get(503) ?? 0;
  const corrected = [...(r.correctedMs.get(200) ?? [])];
  const measured = [...(r.measuredMs.get(200) ?? [])];
  return {
    offered: rate,
    repliedPerSecond: r.replies / r.seconds,
    answeredPerSecond: answered / r.seconds,
    p50: quantile(corrected, 0.5),
    p99: quantile(corrected, 0.99),
    refused,
    failed: r.replies - answered - refused + r.errors,
    unsent: r.due - r.sent,
    points,
    answeredP50: quantile(measured, 0.5),
    answeredP99: quantile(measured, 0.99),
  };
}

const fmt = (x: number, digits = 1) => x.toFixed(digits);

const MODES: [string, string[]][] = [
  ['inference thread', []],
  ['HTTP thread', ['--no-inference-thread']],
];
const loadBefore = loadavg();

// 1. Throughput, alternating rounds: in-process, then each server mode under each generator.
const rows: string[][] = [
  [
    'round',
    'generator',
    'in-process (samples/s)',
    ...MODES.flatMap(([mode]) => [`${mode}: req/s`, 'ratio', 'p50 / p99 (ms)', 'failed', 'CPU s/s server / generator', 'CPU us/req server / generator']),
  ],
];
const ratios = MODES.map(() => GENERATORS.map(() => [] as number[]));
const serverRates = MODES.map(() => GENERATORS.map(() => [] as number[]));
const cpuPerRequest = MODES.map(() => GENERATORS.map(() => ({ server: [] as number[], generator: [] as number[] })));
const servers = await Promise.all(MODES.map(([, extra]) => startServer(extra)));
for (const s of servers) for (const g of GENERATORS) await closedLoopWith(g, s.url, 1);
for (let round = 1; round <= ROUNDS; round++) {
  const local = await inProcess(SECONDS);
  const order = round % 2 === 1 ? [0, 1] : [1, 0];
  const cells = GENERATORS.map(() => [] as string[]);
  for (const [m, s] of servers.entries()) {
    for (const g of order) {
      const [serverCpu, ownCpu, wall] = [cpuSecondsOf(s.child.pid as number), ownCpuSeconds(), performance.now()];
      const served = await closedLoopWith(GENERATORS[g], s.url, SECONDS);
      const elapsed = (performance.now() - wall) / 1000;
      const [serverUsed, ownUsed] = [cpuSecondsOf(s.child.pid as number) - serverCpu, ownCpuSeconds() - ownCpu];
      ratios[m][g].push(served.perSecond / local);
      serverRates[m][g].push(served.perSecond);
      cpuPerRequest[m][g].server.push((1e6 * serverUsed) / served.replies);
      cpuPerRequest[m][g].generator.push((1e6 * ownUsed) / served.replies);
      cells[g].push(
        fmt(served.perSecond, 0),
        fmt(served.perSecond / local, 2),
        `${fmt(served.p50)} / ${fmt(served.p99)}`,
        String(served.failed),
        `${fmt(serverUsed / elapsed, 2)} / ${fmt(ownUsed / elapsed, 2)}`,
        `${fmt((1e6 * serverUsed) / served.replies, 0)} / ${fmt((1e6 * ownUsed) / served.replies, 0)}`,
      );
    }
  }
  for (const g of order) rows.push([String(round), GENERATORS[g], fmt(local, 0), ...cells[g]]);
}
const viaJson = await Promise.all(servers.map((s) => closedLoop(s.url, SECONDS, 'json')));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
// The fixed-rate runs below use bench/load.ts, so they are set from its closed-loop throughput.
const throughput = serverRates.map((perGenerator) => mean(perGenerator[1]));

// 2. Latency at 50% and 100% of each mode's throughput.
const latency: [string, OpenLoopResult][] = [];
for (const [m, s] of servers.entries()) {
  latency.push([`${MODES[m][0]}, 50%`, await fixedRate(s.url, 0.5 * throughput[m], SECONDS)]);
  latency.push([`${MODES[m][0]}, 100%`, await fixedRate(s.url, throughput[m], SECONDS)]);
}
for (const s of servers) await stopServer(s.child);

// 3. 2x overload of the inference-thread throughput, without and with --slo-ms, in both modes.
const overload: [string, OpenLoopResult][] = [];
for (const [mode, modeArgs] of MODES) {
  for (const [label, extra] of [
    ['without --slo-ms', []],
    [`--slo-ms ${SLO_MS}`, ['--slo-ms', String(SLO_MS)]],
  ] as [string, string[]][]) {
    const s = await startServer([...modeArgs, ...extra]);
    await closedLoop(s.url, 1, 'frame');
    const r = await fixedRate(s.url, 2 * throughput[0], SECONDS);
    r.serverP99 = await serverP99(s.url);
    overload.push([`${mode}, ${label}`, r]);
    await stopServer(s.child);
  }
}
const loadAfter = loadavg();

const chosen = calibration.front[calibration.chosen];
function pointsText(r: OpenLoopResult): string {
  let n = 0;
  let acc = 0;
  const parts: string[] = [];
  for (const [index, count] of [...r.points].sort((a, b) => a[0] - b[0])) {
    const accuracy = index < 0 ? chosen.accuracy : calibration.front[index].accuracy;
    n += count;
    acc += count * accuracy;
    parts.push(
      `${index < 0 ? 'model thresholds' : `#${index}`}: ${percent(
        count /
          Math.max(
            1,
            [...r.points.values()].reduce((a, b) => a + b, 0),
          ),
        0,
      )}`,
    );
  }
  return `${percent(acc / Math.max(1, n))} (${parts.join(', ')})`;
}

const openLoopRow = (label: string, r: OpenLoopResult) => {
  const total = r.refused + r.failed + [...r.points.values()].reduce((a, b) => a + b, 0);
  return [
    label,
    fmt(r.offered, 0),
    fmt(r.repliedPerSecond, 0),
    fmt(r.answeredPerSecond, 0),
    `${fmt(r.p50)} / ${fmt(r.p99)}`,
    `${fmt(r.answeredP50)} / ${fmt(r.answeredP99)}`,
    `${r.refused} (${percent(r.refused / Math.max(1, total), 0)})`,
    String(r.failed),
    String(r.unsent),
  ];
};
const openLoopHead = [
  'server',
  'target (req/s)',
  'replies (req/s)',
  'answered 200 (req/s)',
  'p50 / p99 of 200s, corrected (ms)',
  'p50 / p99 of 200s, as measured (ms)',
  'refused (503)',
  'failed',
  'due, not sent',
];
const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(', ');

process.stdout.write(
  [
    `B-LeNet (calibrated copy; chosen point #${calibration.chosen} of ${calibration.front.length}: thresholds [${chosen.thresholds.map((t) => +t.toPrecision(4)).join(', ')}], validation accuracy ${percent(chosen.accuracy)}), ${runtime}, max batch ${MAX_BATCH}, ${SECONDS} s per measurement`,
    `load average (1, 5, 15 min): ${load(loadBefore)} before, ${load(loadAfter)} after`,
    '',
    'Throughput: 64 concurrent single-sample clients vs in-process batched inference (same samples, same run)',
    formatTable(rows),
    ...MODES.flatMap(([mode], m) => [
      ...GENERATORS.map(
        (g, i) =>
          `${mode}, ${g}: mean ratio ${fmt(mean(ratios[m][i]), 2)} (target >= 0.7); CPU per request ${fmt(mean(cpuPerRequest[m][i].server), 0)} us server, ${fmt(mean(cpuPerRequest[m][i].generator), 0)} us generator`,
      ),
      `${mode}: JSON bodies instead of frames (autocannon): ${fmt(viaJson[m].requests.average, 0)} req/s, p50/p99 ${viaJson[m].latency.p50}/${viaJson[m].latency.p99} ms`,
    ]),
    '',
    `Latency under a fixed offered rate (bench/load.ts fixedRateLoad, 256 connections; throughput with load.ts: ${MODES.map(([mode], m) => `${mode} ${fmt(throughput[m], 0)} req/s`).join(', ')})`,
    formatTable([openLoopHead, ...latency.map(([label, r]) => openLoopRow(label, r))]),
    '',
    `2x overload (${fmt(2 * throughput[0], 0)} req/s offered), same run`,
    formatTable([
      [...openLoopHead, 'server-side p99 (ms, bucket bound)', 'accuracy of the points that answered (validation)'],
      ...overload.map(([label, r]) => [...openLoopRow(label, r), `<= ${r.serverP99}`, pointsText(r)]),
    ]),
    ...MODES.map(
      ([mode], m) => `SLO ${SLO_MS} ms, ${mode}: p99 of answered requests ${overload[2 * m + 1][1].p99 <= SLO_MS ? 'held' : 'NOT held'} with --slo-ms`,
    ),
    '',
  ].join('\n'),
);
