/**
 * `branchy serve` under load, next to in-process batched inference of the same samples in the same run.
 *
 * 1. Throughput: 64 concurrent single-sample clients (autocannon, closed loop, binary frames; one round with JSON
 *    bodies too) against the real server, a child process on 127.0.0.1, vs `runEarlyExit` in this process over
 *    the same digits in batches of `--max-batch`; rounds alternate. Target ratio ≥ 0.7.
 * 2. Latency at 50% and 100% of that throughput: autocannon at a fixed overall rate over 256 connections,
 *    latencies corrected for coordinated omission (counted from each request's intended send time).
 * 3. 2x overload: the same at twice that throughput, against a server without and one with `--slo-ms`; p50/p99 of
 *    all replies, the share refused (503), and the calibrated accuracy of the operating points that answered.
 *
 * The model is a calibrated copy of the shipped B-LeNet, made with the real `branchy calibrate` in a temp dir.
 *
 * Run: node --import tsx bench/serve.ts [--seconds 5] [--rounds 2] [--slo-ms 50] [--max-batch 64]
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
// @ts-expect-error autocannon ships no type declarations.
import autocannon from 'autocannon';
import type { StoredCalibration } from '../src/calibrate/index.ts';
import { SHIPPED_MODEL_DIR, openModel } from '../src/cli/open-model.ts';
import { formatTable, percent } from '../src/cli/table.ts';
import { mnistSplits } from '../src/data/index.ts';
import { runEarlyExit } from '../src/infer/index.ts';
import { encodeInputsFrame } from '../src/serve/index.ts';

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
const calibration = JSON.parse(readFileSync(join(modelDir, 'branchy.json'), 'utf8')).calibration as StoredCalibration;

const test = mnistSplits(1).test;
const PER = 784;
const frames = Array.from({ length: test.count }, (_, i) => Buffer.from(encodeInputsFrame(test.x.slice(i * PER, (i + 1) * PER), [1, PER])));
const jsonBodies = Array.from({ length: 256 }, (_, i) => JSON.stringify({ inputs: [Array.from(test.x.subarray(i * PER, (i + 1) * PER))] }));

/** Starts the real `branchy serve` as a child process; resolves with its URL. */
async function startServer(extra: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', modelDir, '--port', '0', '--log-level', 'error', '--max-batch', String(MAX_BATCH), ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
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

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Samples per second of in-process early-exit inference over the test digits in batches of `MAX_BATCH`. */
async function inProcess(seconds: number): Promise<number> {
  const { net } = await openModel(modelDir, { backend: 'wasm' });
  const thresholds = calibration.front[calibration.chosen].thresholds;
  for (let s = 0; s + MAX_BATCH <= test.count; s += MAX_BATCH) await runEarlyExit(net, { data: test.x.subarray(s * PER, (s + MAX_BATCH) * PER), shape: [MAX_BATCH, 28, 28, 1] }, { thresholds });
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
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}

/** 64 closed-loop clients, one sample per request, for `seconds`. */
async function closedLoop(url: string, seconds: number, kind: 'frame' | 'json'): Promise<CannonResult> {
  const bodies = kind === 'frame' ? frames.slice(0, 256) : jsonBodies;
  const requests = bodies.map((body) => ({ method: 'POST', path: '/v1/models/b-lenet/predict', headers: { 'content-type': kind === 'frame' ? 'application/octet-stream' : 'application/json' }, body }));
  return (await autocannon({ url, connections: CONNECTIONS, duration: seconds, requests })) as CannonResult;
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
  points: Map<number, number>;
}

/**
 * Sends single-sample frames at a fixed `rate` per second for `seconds` (autocannon `overallRate` over 256
 * connections, latencies corrected for coordinated omission, i.e. counted from each request's intended send time).
 * p50/p99 cover every reply, 503s included.
 */
async function fixedRate(url: string, rate: number, seconds: number): Promise<OpenLoopResult> {
  const points = new Map<number, number>();
  let answered = 0;
  let refused = 0;
  let failed = 0;
  const onResponse = (status: number, body: string) => {
    if (status === 200) {
      answered++;
      const index = (JSON.parse(body) as { operatingPoint?: { index: number } }).operatingPoint?.index ?? -1;
      points.set(index, (points.get(index) ?? 0) + 1);
    } else if (status === 503) refused++;
    else failed++;
  };
  const requests = frames.slice(0, 256).map((body) => ({ method: 'POST', path: '/v1/models/b-lenet/predict', headers: { 'content-type': 'application/octet-stream' }, body, onResponse }));
  const r = (await autocannon({ url, connections: 256, duration: seconds, overallRate: Math.round(rate), requests })) as CannonResult & { duration: number };
  return { offered: rate, repliedPerSecond: r.requests.average, answeredPerSecond: answered / r.duration, p50: r.latency.p50, p99: r.latency.p99, refused, failed: failed + r.errors, points };
}

const fmt = (x: number, digits = 1) => x.toFixed(digits);

// 1. Throughput, alternating rounds.
const rows: string[][] = [['round', 'in-process (samples/s)', 'server, 64 clients, frames (req/s)', 'ratio', 'p50 / p99 (ms)', 'non-2xx']];
const ratios: number[] = [];
const serverRates: number[] = [];
const plain = await startServer([]);
await closedLoop(plain.url, 1, 'frame');
for (let round = 1; round <= ROUNDS; round++) {
  const local = await inProcess(SECONDS);
  const served = await closedLoop(plain.url, SECONDS, 'frame');
  ratios.push(served.requests.average / local);
  serverRates.push(served.requests.average);
  rows.push([String(round), fmt(local, 0), fmt(served.requests.average, 0), fmt(served.requests.average / local, 2), `${served.latency.p50} / ${served.latency.p99}`, String(served.non2xx + served.errors)]);
}
const viaJson = await closedLoop(plain.url, SECONDS, 'json');
const throughput = serverRates.reduce((a, b) => a + b, 0) / serverRates.length;

// 2. Latency at 50% and 100% of the measured throughput.
const half = await fixedRate(plain.url, 0.5 * throughput, SECONDS);
const full = await fixedRate(plain.url, throughput, SECONDS);
await stopServer(plain.child);

// 3. 2x overload, without and with --slo-ms.
const overload: [string, OpenLoopResult][] = [];
for (const [label, extra] of [['without --slo-ms', []], [`--slo-ms ${SLO_MS}`, ['--slo-ms', String(SLO_MS)]]] as [string, string[]][]) {
  const s = await startServer(extra);
  await closedLoop(s.url, 1, 'frame');
  overload.push([label, await fixedRate(s.url, 2 * throughput, SECONDS)]);
  await stopServer(s.child);
}

const chosen = calibration.front[calibration.chosen];
function pointsText(r: OpenLoopResult): string {
  let n = 0;
  let acc = 0;
  const parts: string[] = [];
  for (const [index, count] of [...r.points].sort((a, b) => a[0] - b[0])) {
    const accuracy = index < 0 ? chosen.accuracy : calibration.front[index].accuracy;
    n += count;
    acc += count * accuracy;
    parts.push(`${index < 0 ? 'model thresholds' : `#${index}`}: ${percent(count / Math.max(1, [...r.points.values()].reduce((a, b) => a + b, 0)), 0)}`);
  }
  return `${percent(acc / Math.max(1, n))} (${parts.join(', ')})`;
}

process.stdout.write(
  [
    `B-LeNet (calibrated copy; chosen point #${calibration.chosen} of ${calibration.front.length}: thresholds [${chosen.thresholds.map((t) => +t.toPrecision(4)).join(', ')}], validation accuracy ${percent(chosen.accuracy)}), tfjs-wasm, max batch ${MAX_BATCH}, ${SECONDS} s per measurement`,
    '',
    'Throughput: 64 concurrent single-sample clients vs in-process batched inference (same samples, same run)',
    formatTable(rows),
    `mean ratio ${fmt(ratios.reduce((a, b) => a + b, 0) / ratios.length, 2)} (target >= 0.7); JSON bodies instead of frames: ${fmt(viaJson.requests.average, 0)} req/s, p50/p99 ${viaJson.latency.p50}/${viaJson.latency.p99} ms`,
    '',
    `Latency under a fixed offered rate (autocannon overallRate, corrected for coordinated omission; throughput = ${fmt(throughput, 0)} req/s)`,
    formatTable([
      ['load', 'target (req/s)', 'replies (req/s)', 'answered 200 (req/s)', 'p50 (ms)', 'p99 (ms)', '503', 'failed'],
      ...[['50%', half], ['100%', full]].map(([label, r]) => {
        const x = r as OpenLoopResult;
        return [label as string, fmt(x.offered, 0), fmt(x.repliedPerSecond, 0), fmt(x.answeredPerSecond, 0), fmt(x.p50), fmt(x.p99), String(x.refused), String(x.failed)];
      }),
    ]),
    '',
    `2x overload (${fmt(2 * throughput, 0)} req/s offered), same run`,
    formatTable([
      ['server', 'target (req/s)', 'replies (req/s)', 'answered 200 (req/s)', 'p50 (ms)', 'p99 (ms)', 'refused (503)', 'failed', 'accuracy of the points that answered (validation)'],
      ...overload.map(([label, r]) => [label, fmt(r.offered, 0), fmt(r.repliedPerSecond, 0), fmt(r.answeredPerSecond, 0), fmt(r.p50), fmt(r.p99), `${r.refused} (${percent(r.refused / Math.max(1, r.refused + r.failed + [...r.points.values()].reduce((a, b) => a + b, 0)), 0)})`, String(r.failed), pointsText(r)]),
    ]),
    `SLO ${SLO_MS} ms: p99 ${overload[1][1].p99 <= SLO_MS ? 'held' : 'NOT held'} with --slo-ms`,
    '',
  ].join('\n'),
);
