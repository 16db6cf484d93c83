/**
 * Checks the placement planner's predictions on the namespace testbed (test/testbed/): calibrates a copy of the
 * shipped B-LeNet on this machine, plans it on the sample tiers (examples/tiers.json), runs the K candidates the
 * planner expects to be fastest as real `branchy unit` processes on the testbed's hosts, and compares their
 * measured end-to-end latency with the expected one; then the chosen plan against the whole network served on the
 * device and on the cloud.
 *
 * The testbed cannot make a tier faster than this machine, and its device is a CPU quota; so before planning it
 * measures the device's sustained slowdown (a fixed loop in its cgroup against the loop's CPU time outside) and its
 * burst slowdown (short bursts of the loop after idling, which a quota does not slow), and plans a second time with
 * the tiers file's device speed factor replaced by the measured sustained one, the device's quota stated with the
 * measured burst factor, the cloud's speed factor by 1 (the testbed's cloud is this machine), and the offered load
 * of the run's pace. Predictions are compared with the measurements under that second plan; both are printed.
 *
 * Needs root, iproute2, the cgroup-v1 CPU controller and the built CLI (`npm run build`).
 *
 * The device's processes run with node's `--no-memory-reducer` ({@link QUOTA_NODE_FLAGS}) unless `--memory-reducer`.
 *
 * Each run's digits are cut into `--rounds` blocks; a round runs every candidate's block (and device-only's and
 * cloud-only's), each on freshly started units after `--warmup` untimed requests, in order in even rounds and
 * reversed in odd ones.
 *
 * After the runs it calibrates a second copy and prints every candidate's expected mean under that profile too: the
 * per-request cost the profile measures in a few seconds drifts with the machine over minutes, and the second
 * figure shows how much of a gap is the first profile's moment.
 *
 * Run: node --import tsx bench/testbed/predict.ts [--requests 200] [--rounds 5] [--warmup 100] [--top 4]
 *        [--tiers examples/tiers.json] [--cpu 0.2] [--gap-ms 0] [--threads N] [--memory-reducer] [--all-points] [--json]
 *
 * @module
 */
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { CostModelOptions, TierQuota } from '../../src/cascade/cost-model.ts';
import { placementSetup } from '../../src/cascade/placement-input.ts';
import { readPlan } from '../../src/cascade/plan.ts';
import type { RequestCost } from '../../src/cascade/request-cost.ts';
import { readTierProfile } from '../../src/cascade/tier-profile.ts';
import {
  bestCandidate,
  compareCandidates,
  planCandidates,
  unitsOf,
  writePlacementPlan,
  type PlanCandidate,
  type PlannerResult,
} from '../../src/cascade/planner.ts';
import { mnistSplits } from '../../src/data/index.ts';
import { loadModelDir, type LoadedModelDir } from '../../src/io/model-dir.ts';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { formatTable } from '../../src/report/text-table.ts';
import { tempDir } from '../../test/helpers.ts';
import { startCascade } from '../../test/testbed/cascade.ts';
import { measureBandwidth, measureBurstSlowdown, measurePredict, measureRtt, measureSlowdown, median } from '../../test/testbed/measure.ts';
import { available, createTestbed, RELAY_PRIORITY, type Testbed } from '../../test/testbed/testbed.ts';
import { placeUnits, type TiersConfig } from './tiers.ts';

const BIN = fileURLToPath(new URL('../../bin/branchy.js', import.meta.url));
const RELAY = fileURLToPath(new URL('../../test/testbed/relay.ts', import.meta.url));
/** The sample tiers file the planner issue names. */
export const EXAMPLE_TIERS = fileURLToPath(new URL('../../examples/tiers.json', import.meta.url));
/** The constraint `branchy plan` uses by default: at most 0.2 points below the final exit's accuracy. */
export const MAX_DROP = 0.002;
/**
 * The options `branchy plan` uses by default: f32 features, and no batching wait on a successor (as `branchy unit`
 * runs one by default; the first unit is charged its 2 ms).
 */
export const PLAN_OPTIONS: CostModelOptions = { featureDtype: 'f32', maxWaitMs: 0 };
/** `branchy serve`'s batching wait, as device-only and cloud-only run it (and a first unit waits by default). */
const SERVE_WAIT_MS = 2;
const SPIN_ITERATIONS = 10_000_000;
/** A burst of the loop: about 2 ms on this machine's core, a tenth of the device's 20 ms budget per period. */
export const BURST_ITERATIONS = 60_000;
/** Bursts timed, and the idle time before each (longer than a CFS period, so each starts with a full budget). */
export const BURSTS = 40;
export const BURST_GAP_MS = 150;
const START_MS = 30_000;
/**
 * Node's flags for the device's processes unless `--memory-reducer`: V8's memory reducer runs up to three full
 * collections 0.7 s apart when a process allocates slowly, as a unit serving one client does, and under a 20% quota
 * each spends a period's budget (docs/cascade.md, "A unit under a CPU quota").
 */
export const QUOTA_NODE_FLAGS = ['--no-memory-reducer'];

/** A calibrated copy of the shipped B-LeNet and the tier profile of this machine. */
export interface CalibratedCopy {
  dir: string;
  profile: string;
  model: LoadedModelDir;
}

/**
 * Copies the shipped B-LeNet to a temporary directory and calibrates it on this machine with the real CLI
 * (`branchy calibrate COPY --data mnist --profile-out PROFILE`, with `engineArgs` such as `--threads 1`: the
 * profile, its per-request cost included, is measured on the engine as the units will run it).
 */
export function calibratedCopy(engineArgs: readonly string[] = []): CalibratedCopy {
  const root = tempDir();
  const dir = join(root, 'lenet');
  const profile = join(root, 'profile.json');
  cpSync(SHIPPED_MODEL_DIR, dir, { recursive: true });
  execFileSync(process.execPath, [BIN, 'calibrate', dir, '--data', 'mnist', '--profile-out', profile, ...engineArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { dir, profile, model: loadModelDir(dir) };
}

interface RawTiers {
  format: string;
  tiers: { name: string; speedFactor?: number; profile?: string; power?: unknown; quota?: TierQuota }[];
  links: { between: [string, string]; mbitPerS: number; rttMs: number }[];
}

/**
 * The testbed chain a tiers file describes: its tiers in order, each consecutive pair joined by its link, the first
 * tier held to `cpu` of a core.
 *
 * @throws Error when two consecutive tiers have no link of their own.
 */
export function testbedTiers(tiersPath: string, cpu: number): TiersConfig {
  const raw = JSON.parse(readFileSync(tiersPath, 'utf8')) as RawTiers;
  return {
    tiers: raw.tiers.map((t, i) => {
      const next = raw.tiers[i + 1];
      const link = next && raw.links.find((l) => l.between.includes(t.name) && l.between.includes(next.name));
      if (next && !link) throw new Error(`'${tiersPath}': no link between ${t.name} and ${next.name}.`);
      return { name: t.name, ...(i === 0 ? { cpu } : {}), ...(link ? { uplink: { mbit: link.mbitPerS, rttMs: link.rttMs } } : {}) };
    }),
  };
}

/**
 * Writes the tiers file the testbed matches: `tiersPath` with the first tier's speed factor replaced by
 * `deviceSpeed` (and, with `quota`, the device's CPU quota stated), every other tier's by 1 (the testbed's hosts
 * are this machine) and every tier's costs from the tier profile `profile` (measured here). Returns its path.
 */
export function testbedTiersFile(tiersPath: string, profile: string, deviceSpeed: number, out: string, quota?: TierQuota): string {
  const raw = JSON.parse(readFileSync(tiersPath, 'utf8')) as RawTiers;
  const speed = +deviceSpeed.toPrecision(4);
  raw.tiers = raw.tiers.map((t, i) => ({
    ...t,
    speedFactor: i === 0 ? speed : 1,
    profile: resolve(profile),
    ...(i === 0 && quota ? { quota: { ...quota, burstSpeedFactor: Math.max(speed, +quota.burstSpeedFactor.toPrecision(4)) } } : {}),
  }));
  writeFileSync(out, `${JSON.stringify(raw, null, 2)}\n`);
  return out;
}

/** Plans `model` on a tiers file as `branchy plan --objective latency [--requests-per-s R]` does. */
export function plan(model: LoadedModelDir, tiersPath: string, requestsPerS = 0): PlannerResult & { best: PlanCandidate; criterion: string } {
  const { input, calibration } = placementSetup(model, tiersPath, { ...PLAN_OPTIONS, requestsPerS });
  const result = planCandidates(input, { maxDrop: MAX_DROP });
  return { ...result, best: bestCandidate(result.candidates, 'latency'), criterion: calibration.criterion };
}

/** What identifies a plan apart from its operating point. */
export const shapeOf = (c: PlanCandidate): string => `${c.tiers.join('>')}|${c.cuts.join(',')}|${c.forward}`;

/**
 * The `k` plans that meet the constraint with the least expected mean latency, best first; with `distinct`, only the
 * best operating point of each placement and forwarding mode (neighbouring points of one placement differ by
 * hundredths of a millisecond, which the testbed cannot resolve).
 */
export function topCandidates(candidates: readonly PlanCandidate[], k: number, distinct: boolean): PlanCandidate[] {
  const sorted = candidates.filter((c) => c.meets && !c.reference).sort(compareCandidates('latency'));
  const seen = new Set<string>();
  const out: PlanCandidate[] = [];
  for (const c of sorted) {
    if (distinct && seen.has(shapeOf(c))) continue;
    seen.add(shapeOf(c));
    out.push(c);
    if (out.length === k) break;
  }
  return out;
}

/** Measured end-to-end latency of single-sample requests, and how many were answered right. */
export interface Measured {
  ms: number[];
  /** Which unit answered each request (`serve` for a whole network served). */
  units: string[];
  p50: number;
  mean: number;
  p99: number;
  correct: number;
  count: number;
  degraded: number;
  /** Per answering unit (or `serve`), its count and mean latency. */
  byUnit: Record<string, { count: number; mean: number }>;
  /**
   * The first tier's CPU quota over the measured requests: the 100 ms periods in which it was throttled, and the
   * throttled time per request (cgroup v1 `throttled_time`, summed over the machine's per-CPU run queues).
   */
  throttled?: { periods: number; msPerRequest: number };
}

/** Idle time between measured requests, in ms (0: back to back). */
export interface Pace {
  gapMs: number;
  /** The first tier's cgroup, whose `cpu.stat` counts its throttling. */
  cgroup?: string;
}

/** The nearest-rank percentile `p` (0-100). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const meanOf = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

type Answer = { label: number; exit: number; unit?: string; degraded?: boolean };
/** Single digits and their labels. */
type Digits = { samples: readonly Float32Array[]; labels: ArrayLike<number> };

/**
 * Measures a predict route from a client process on `host` (`measurePredict`: an application there, outside the
 * tier's CPU cgroup), one digit at a time after `warmup` unmeasured requests; with the pace's cgroup, counts the
 * periods in which the tier was throttled.
 */
async function measure(
  testbed: Testbed,
  host: string,
  to: { host: string; port: number },
  path: string,
  digits: Digits,
  warmup: number,
  pace: Pace,
): Promise<Measured> {
  const run = await measurePredict<Answer>(testbed, host, to, path, digits.samples, { gapMs: pace.gapMs, warmup, cgroup: pace.cgroup });
  let correct = 0;
  let degraded = 0;
  const units = run.answers.map((r, i) => {
    if (r.status !== 200 || r.results.length !== 1) throw new Error(`request ${i} answered ${r.status}: ${JSON.stringify(r.results).slice(0, 300)}`);
    const a = r.results[0];
    if (a.label === digits.labels[i]) correct++;
    if (a.degraded) degraded++;
    return a.unit ?? 'serve';
  });
  const t = run.throttled;
  return summary(run.ms, units, correct, degraded, t ? { periods: t.periods, msPerRequest: t.ns / 1e6 / run.ms.length } : undefined);
}

/** The figures of requests from their round trips, the units that answered them and their counts. */
function summary(ms: number[], units: string[], correct: number, degraded: number, throttled: Measured['throttled']): Measured {
  const byUnit: Record<string, number[]> = {};
  units.forEach((u, i) => (byUnit[u] ??= []).push(ms[i]));
  return {
    ms,
    units,
    p50: percentile(ms, 50),
    mean: meanOf(ms),
    p99: percentile(ms, 99),
    correct,
    count: ms.length,
    degraded,
    byUnit: Object.fromEntries(Object.entries(byUnit).map(([u, v]) => [u, { count: v.length, mean: meanOf(v) }])),
    ...(throttled ? { throttled } : {}),
  };
}

/** The `r`-th of `rounds` contiguous blocks of `digits`. */
export function blockOf(digits: Digits, r: number, rounds: number): Digits {
  const from = Math.floor((r * digits.samples.length) / rounds);
  const to = Math.floor(((r + 1) * digits.samples.length) / rounds);
  return { samples: digits.samples.slice(from, to), labels: Array.prototype.slice.call(digits.labels, from, to) as number[] };
}

/** The measurements of several blocks as one. */
export function merged(parts: readonly Measured[]): Measured {
  const sum = (f: (p: Measured) => number) => parts.reduce((a, p) => a + f(p), 0);
  const count = sum((p) => p.count);
  const throttled = parts.every((p) => p.throttled)
    ? { periods: sum((p) => p.throttled!.periods), msPerRequest: sum((p) => p.throttled!.msPerRequest * p.count) / count }
    : undefined;
  return summary(
    parts.flatMap((p) => p.ms),
    parts.flatMap((p) => p.units),
    sum((p) => p.correct),
    sum((p) => p.degraded),
    throttled,
  );
}

/** `count` single digits of the mnist test split (the one the model was not calibrated on) and their labels. */
export function testDigits(count: number): { samples: Float32Array[]; labels: Uint8Array } {
  const { test } = mnistSplits(1);
  const size = test.x.length / test.count;
  const n = Math.min(count, test.count);
  return { samples: Array.from({ length: n }, (_, i) => test.x.slice(i * size, (i + 1) * size)), labels: test.y.slice(0, n) };
}

/**
 * Writes `candidate`'s plan and runs it on the testbed: its units as `branchy unit` processes on the hosts of their
 * tiers (units are named after their tiers), `samples` one at a time from a client on the first tier after `warmup`
 * unmeasured requests.
 */
export async function runCandidate(
  testbed: Testbed,
  config: TiersConfig,
  model: LoadedModelDir,
  candidate: PlanCandidate,
  criterion: string,
  digits: Digits,
  warmup: number,
  gapMs = 0,
  engineArgs: readonly string[] = [],
  nodeFlagsFor: Readonly<Record<string, readonly string[]>> = {},
): Promise<Measured> {
  const dir = join(tempDir(), `plan-${candidate.id}`);
  writePlacementPlan(dir, model, candidate, { objective: 'latency', constraint: 'at most 0.2 points lost', criterion, options: PLAN_OPTIONS });
  const plan = readPlan(dir);
  const unitArgs = ['--hop-timeout-ms', '5000', '--feature-dtype', 'f32', ...engineArgs];
  const cascade = await startCascade(testbed, dir, placeUnits(plan, config), unitArgs, {}, nodeFlagsFor);
  try {
    const first = cascade.placement[plan.units[0].name];
    const to = { host: testbed.address(first), port: cascade.units.get(plan.units[0].name)!.port };
    return await measure(testbed, first, to, `/v1/models/${cascade.model}/predict`, digits, warmup, { gapMs, cgroup: testbed.cgroup(first) });
  } finally {
    await cascade.stop();
  }
}

/** Resolves with the port a process prints in `listening on http://HOST:PORT`, or rejects when it exits first. */
function listening(child: ReturnType<Testbed['run']>, what: string): Promise<{ port: number; models: string }> {
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not listen within ${START_MS} ms: ${err}`)), START_MS);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on http:\/\/[\d.]+:(\d+) \(models: ([^)]*)\)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePort({ port: Number(m[1]), models: m[2] });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before listening: ${err}`));
    });
  });
}

/** A relay of the testbed's kind started by this bench (for a server bound to a namespace's loopback). */
async function relay(testbed: Testbed, host: string, listen: string, to: string, delayMs: number): Promise<number | undefined> {
  const child = testbed.run(host, [process.execPath, '--import', 'tsx', RELAY, '--listen', listen, '--to', to, '--delay-ms', String(delayMs)], {
    cpuLimit: false,
    priority: RELAY_PRIORITY,
  });
  let out = '';
  return new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay in ${host} did not listen within ${START_MS} ms`)), START_MS);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{"listening"'));
      if (line === undefined) return;
      clearTimeout(timer);
      resolvePort((JSON.parse(line) as { listening: { port?: number } }).listening.port);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`relay in ${host} exited with ${code}`));
    });
  });
}

/**
 * Serves the whole network with `branchy serve` on `host` (bound to its namespace's loopback, in its CPU cgroup if
 * it has one) and measures it from a client on the first tier: through the links' delay when `host` is another
 * tier. The testbed's `destroy` stops the processes.
 */
export async function runServed(
  testbed: Testbed,
  first: string,
  host: string,
  modelDir: string,
  thresholds: readonly number[],
  digits: Digits,
  warmup: number,
  gapMs = 0,
  engineArgs: readonly string[] = [],
  nodeFlags: readonly string[] = [],
): Promise<Measured> {
  const serve = testbed.run(host, [
    process.execPath,
    ...nodeFlags,
    BIN,
    'serve',
    modelDir,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--max-wait-ms',
    String(SERVE_WAIT_MS),
    '--no-inference-thread',
    '--log-level',
    'warn',
    ...engineArgs,
  ]);
  try {
    const { port, models } = await listening(serve, `branchy serve on ${host}`);
    let to = { host: '127.0.0.1', port };
    if (host !== first) {
      // As testbed.connect does: a relay in `host`, on its address toward the client, holding each chunk back half the RTT.
      const address = testbed.address(host, first);
      const relayPort = await relay(testbed, host, `${address}:0`, `127.0.0.1:${port}`, testbed.pathRttMs(first, host) / 2);
      to = { host: address, port: relayPort! };
    }
    const name = models.split(', ')[0];
    const path = `/v1/models/${name}/predict?thresholds=${thresholds.join(',')}`;
    return await measure(testbed, first, to, path, digits, warmup, { gapMs, cgroup: testbed.cgroup(first) });
  } finally {
    serve.kill('SIGTERM');
  }
}

/** The device's sustained and burst slowdowns: a long loop in its cgroup, and short bursts after idling. */
export async function measureDeviceSpeed(testbed: Testbed, device: string) {
  const slow = await measureSlowdown(testbed, device, SPIN_ITERATIONS);
  const burst = await measureBurstSlowdown(testbed, device, BURST_ITERATIONS, BURSTS, BURST_GAP_MS);
  return {
    slowdown: slow.slowdown,
    speedFactor: 1 / slow.slowdown,
    loopMs: { freeCpu: slow.freeCpuMs, limited: slow.limitedMs },
    burst: { slowdown: burst.slowdown, speedFactor: 1 / burst.slowdown, loopMs: { cpu: burst.cpuMs, limited: burst.limitedMs } },
  };
}

/** The quota `cpu` of a core on `testbed`'s `device` as a tiers file states it, with the measured burst speed factor. */
export function deviceQuota(testbed: Testbed, device: string, cpu: number, burstSpeedFactor: number): TierQuota {
  const group = testbed.cgroup(device);
  const periodMs = group === undefined ? 100 : Number(readFileSync(join(group, 'cpu.cfs_period_us'), 'utf8')) / 1000;
  return { cpuShare: cpu, periodMs, burstSpeedFactor };
}

/** What the testbed gives: each link's payload rate and round trip, and the device's slowdowns. */
export async function measureTestbed(testbed: Testbed, device: string) {
  const links = [];
  for (const link of testbed.links) {
    const bytes = Math.max(1 << 20, Math.round(((link.mbit * 1e6) / 8) * 0.5));
    const up = await measureBandwidth(testbed, link.from, link.to, bytes);
    const rtt = median(await measureRtt(testbed, link.from, link.to, 15));
    links.push({ link: `${link.from}→${link.to}`, mbit: link.mbit, rttMs: link.rttMs, measuredMbit: up.mbit, measuredRttMs: rtt });
  }
  return { links, ...(await measureDeviceSpeed(testbed, device)) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tiers: { type: 'string', default: EXAMPLE_TIERS },
      requests: { type: 'string', default: '200' },
      warmup: { type: 'string', default: '100' },
      'memory-reducer': { type: 'boolean', default: false },
      top: { type: 'string', default: '4' },
      cpu: { type: 'string', default: '0.2' },
      'gap-ms': { type: 'string', default: '0' },
      threads: { type: 'string' },
      rounds: { type: 'string', default: '5' },
      'all-points': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const fail = (m: string): never => {
    process.stderr.write(`bench/testbed/predict.ts: ${m}\n`);
    process.exit(2);
  };
  const reason = available();
  if (reason !== false) fail(`no testbed here: ${reason}.`);
  const requests = Number(values.requests);
  const top = Number(values.top);
  const warmup = Number(values.warmup);
  const rounds = Number(values.rounds);
  const gapMs = Number(values['gap-ms']);
  const engineArgs = values.threads === undefined ? [] : ['--threads', values.threads];
  const deviceFlags = values['memory-reducer'] ? [] : QUOTA_NODE_FLAGS;
  if (!(requests > 0 && Number.isInteger(requests) && top > 0 && Number.isInteger(top))) fail('--requests and --top must be positive integers.');
  if (!(Number.isInteger(rounds) && rounds > 0 && rounds <= requests)) fail('--rounds must be a positive integer, at most --requests.');
  const load = [loadavg()];
  const copy = calibratedCopy(engineArgs);
  const request = readTierProfile(copy.profile).request;
  const tiersPath = resolve(values.tiers!);
  const config = testbedTiers(tiersPath, Number(values.cpu));
  const device = config.tiers[0].name;
  const digits = testDigits(requests);
  const testbed = await createTestbed({
    links: config.tiers.slice(0, -1).map((t, i) => ({ from: t.name, to: config.tiers[i + 1].name, mbit: t.uplink!.mbit, rttMs: t.uplink!.rttMs })),
    cpu: { [device]: Number(values.cpu) },
  });
  try {
    const measured = await measureTestbed(testbed, device);
    const shipped = plan(copy.model, tiersPath);
    const quota = deviceQuota(testbed, device, Number(values.cpu), measured.burst.speedFactor);
    const matchedPath = testbedTiersFile(tiersPath, copy.profile, measured.speedFactor, join(tempDir(), 'tiers-testbed.json'), quota);
    // One client, one request at a time: it offers 1000 / (gap + latency) requests a second; 1000 / gap bounds it
    // from above, and back to back the latency alone (taken from a plan for one request alone).
    const requestsPerS = gapMs > 0 ? 1000 / gapMs : 1000 / plan(copy.model, matchedPath).best.figures.latencyMeanMs;
    const matched = plan(copy.model, matchedPath, requestsPerS);
    const chosen = topCandidates(matched.candidates, top, !values['all-points']);
    const reference = matched.candidates.find((c) => c.reference && c.point === matched.best.point);
    // The same candidate (placement, forwarding and front point) as planned from other figures.
    const sameIn = (other: { candidates: readonly PlanCandidate[] }, c: PlanCandidate) =>
      other.candidates.find((o) => shapeOf(o) === shapeOf(c) && o.point === c.point)!;
    const expectedOf = (c: PlanCandidate) => ({ p50: c.figures.latencyP50Ms, mean: c.figures.latencyMeanMs });
    // Every run is cut into `rounds` blocks of the digits, each block a fresh start of its units or server; a
    // round runs every candidate's block (and device-only's and cloud-only's), in order in even rounds and reversed
    // in odd ones, so that the machine's drift over the minutes of the run and one process's luck fall on all alike.
    const cloud = config.tiers[config.tiers.length - 1].name;
    const entries = [
      ...chosen.map((c) => ({
        key: `#${c.id}`,
        run: (d: Digits) => runCandidate(testbed, config, copy.model, c, matched.criterion, d, warmup, gapMs, engineArgs, { [device]: deviceFlags }),
      })),
      {
        key: 'device only',
        run: (d: Digits) => runServed(testbed, device, device, copy.dir, matched.best.thresholds, d, warmup, gapMs, engineArgs, deviceFlags),
      },
      { key: 'cloud only', run: (d: Digits) => runServed(testbed, device, cloud, copy.dir, matched.best.thresholds, d, warmup, gapMs, engineArgs) },
    ];
    const parts = new Map<string, Measured[]>(entries.map((e) => [e.key, []]));
    for (let r = 0; r < rounds; r++) {
      const block = blockOf(digits, r, rounds);
      for (const e of r % 2 === 0 ? entries : [...entries].reverse()) parts.get(e.key)!.push(await e.run(block));
    }
    const runs = chosen.map((c) => ({ candidate: c, measured: merged(parts.get(`#${c.id}`)!) }));
    const deviceOnly = merged(parts.get('device only')!);
    const cloudOnly = merged(parts.get('cloud only')!);
    load.push(loadavg());
    // The per-request cost drifts with the machine over minutes; a second calibration after the runs shows how
    // much of a gap between measured and expected is the first profile's moment.
    const after = calibratedCopy(engineArgs);
    const requestAfter = readTierProfile(after.profile).request;
    const afterPlan = plan(
      copy.model,
      testbedTiersFile(tiersPath, after.profile, measured.speedFactor, join(tempDir(), 'tiers-after.json'), quota),
      requestsPerS,
    );
    const depth = copy.model.spec.stages.length;
    const bestMeasured = Math.min(...runs.map((r) => r.measured.mean));
    const chosenRun = runs.find((r) => r.candidate === matched.best)!;
    const report = {
      loadAverage: load.map((l) => l.map((v) => +v.toFixed(2))),
      measured,
      speedFactor: {
        tiersFile: (JSON.parse(readFileSync(tiersPath, 'utf8')) as RawTiers).tiers[0].speedFactor ?? 1,
        measured: measured.speedFactor,
        burst: measured.burst.speedFactor,
      },
      quota,
      requestsPerS,
      deviceNodeFlags: deviceFlags,
      requestCost: request ?? null,
      requestCostAfter: requestAfter ?? null,
      candidates: runs.map(({ candidate: c, measured: m }) => {
        const after = expectedOf(sameIn(afterPlan, c));
        return {
          id: c.id,
          units: unitsOf(c, depth),
          forward: c.forward,
          thresholds: c.thresholds,
          validationAccuracy: c.accuracy,
          expected: {
            ...expectedOf(c),
            perExit: c.figures.perExit.map((e) => e.latencyMs),
            terms: c.figures.perExit.map((e) => e.terms),
            speeds: c.figures.speeds,
          },
          expectedShippedFactor: expectedOf(sameIn(shipped, c)),
          expectedProfileAfter: after,
          measured: { p50: m.p50, mean: m.mean, p99: m.p99, byUnit: m.byUnit, testAccuracy: m.correct / m.count, degraded: m.degraded, throttled: m.throttled },
          ratio: { mean: m.mean / c.figures.latencyMeanMs, p50: m.p50 / c.figures.latencyP50Ms, meanProfileAfter: m.mean / after.mean },
        };
      }),
      chosen: {
        id: matched.best.id,
        shippedChoice: shipped.best.id,
        measuredBest: chosenRun.measured.mean === bestMeasured,
        within10: chosenRun.measured.mean <= 1.1 * bestMeasured,
      },
      deviceOnly: {
        expected: reference?.figures.latencyMeanMs ?? null,
        speeds: reference?.figures.speeds ?? null,
        p50: deviceOnly.p50,
        mean: deviceOnly.mean,
        p99: deviceOnly.p99,
        testAccuracy: deviceOnly.correct / deviceOnly.count,
        throttled: deviceOnly.throttled,
      },
      cloudOnly: {
        p50: cloudOnly.p50,
        mean: cloudOnly.mean,
        p99: cloudOnly.p99,
        testAccuracy: cloudOnly.correct / cloudOnly.count,
        throttled: cloudOnly.throttled,
      },
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return;
    }
    const f = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '-');
    const requestLine = (whose: string, r: RequestCost | undefined) =>
      r
        ? `per request outside the model (${whose}: median of ${r.method.requests} at ${r.method.gapMs} ms gaps on loopback): JSON ${f(r.json.overheadMs, 3)} ms, binary ${f(r.frame.overheadMs, 3)} ms; engine after idling ${f(r.idle?.pacedMs ?? NaN, 3)} ms vs ${f(r.idle?.backToBackMs ?? NaN, 3)} back to back (charged ${f(r.idle?.extraMs ?? 0, 3)} per unit); a ${r.wait?.nominalMs ?? '-'} ms batching wait ${f(r.wait?.lateMs ?? 0, 3)} ms late`
        : `${whose} has no per-request cost: charged 0`;
    const lines = [
      `${copy.model.spec.name} calibrated here (${copy.dir}); tiers ${tiersPath}; ${requests} single digits of the mnist test split per run in ${rounds} rounds of blocks, each block after ${warmup} unmeasured, ${gapMs > 0 ? `${gapMs} ms idle between requests` : 'back to back'}, onnxruntime threads ${values.threads ?? "onnxruntime's choice"}; the device's processes run with ${deviceFlags.length > 0 ? `node ${deviceFlags.join(' ')}` : "V8's memory reducer on"}`,
      `load average (1, 5, 15 min) at the start ${report.loadAverage[0].join(', ')}, at the end ${report.loadAverage[1].join(', ')}`,
      '',
      formatTable([
        ['link', 'Mbit/s asked', 'payload Mbit/s', 'RTT ms asked', 'RTT ms (median of 15)'],
        ...measured.links.map((l) => [l.link, l.mbit, f(l.measuredMbit), l.rttMs, f(l.measuredRttMs)]),
      ]),
      `${device}: cpu ${values.cpu} of a core; a fixed loop ${f(measured.slowdown)}x slower than its CPU time outside (${f(measured.loopMs.limited, 0)} ms vs ${f(measured.loopMs.freeCpu, 0)} ms): speed factor ${f(measured.speedFactor, 3)} measured, ${report.speedFactor.tiersFile} in the tiers file`,
      `${device}: ${BURSTS} bursts of the loop, ${BURST_GAP_MS} ms apart, ${f(measured.burst.slowdown)}x their CPU time (median ${f(measured.burst.loopMs.limited, 3)} ms vs ${f(measured.burst.loopMs.cpu, 3)} ms): burst speed factor ${f(measured.burst.speedFactor, 3)}; quota ${quota.cpuShare} of a core per ${quota.periodMs} ms`,
      requestLine('the profile', request),
      requestLine('a second profile, calibrated after the runs', requestAfter),
      `offered load given to the planner: ${f(requestsPerS, 1)} requests/s (${gapMs > 0 ? `1000 / the ${gapMs} ms gap` : '1000 / the expected mean of one request alone'})`,
      `planner with the tiers file as it is: best #${shipped.best.id} ${unitsOf(shipped.best, depth)} ${shipped.best.forward}, ${f(shipped.best.figures.latencyMeanMs)} ms mean`,
      `planner with the testbed's figures (device ${f(measured.speedFactor, 3)}, edge and cloud 1): best #${matched.best.id} ${unitsOf(matched.best, depth)} ${matched.best.forward}, ${f(matched.best.figures.latencyMeanMs)} ms mean`,
      `run: the ${top} best ${values['all-points'] ? 'candidates' : 'placements × forwarding (each at its best point)'} by expected mean; device-only is the planner's reference row #${reference?.id ?? '-'} (run with 'branchy serve' on the device); the enumeration has no cloud-only candidate (its first unit is always on the first tier), so cloud-only is 'branchy serve' on the cloud with the raw input sent from the device, measured only`,
      '',
      formatTable([
        [
          '',
          '#',
          'units',
          'forward',
          'thr',
          'exp p50',
          'exp mean',
          'exp mean (0.154)',
          'exp per exit',
          'device speed',
          'p50',
          'mean',
          'p99',
          'by unit (n: mean)',
          'mean ratio',
          '±20%',
          'exp mean, ratio (profile after)',
          'test acc',
          'throttled periods',
        ],
        ...report.candidates.map((c) => [
          c.id === matched.best.id ? '*' : '',
          c.id,
          c.units,
          c.forward,
          c.thresholds.map((t) => +t.toPrecision(4)).join(','),
          f(c.expected.p50),
          f(c.expected.mean),
          f(c.expectedShippedFactor.mean),
          c.expected.perExit.map((v) => f(v, 1)).join(' / '),
          c.expected.speeds[0].mode,
          f(c.measured.p50),
          f(c.measured.mean),
          f(c.measured.p99),
          Object.entries(c.measured.byUnit)
            .map(([u, v]) => `${u} ${v.count}: ${f(v.mean, 1)}`)
            .join('; '),
          f(c.ratio.mean),
          Math.abs(c.ratio.mean - 1) <= 0.2 ? 'yes' : 'no',
          `${f(c.expectedProfileAfter.mean)}, ${f(c.ratio.meanProfileAfter)}`,
          `${(100 * c.measured.testAccuracy).toFixed(1)}%`,
          c.measured.throttled?.periods ?? '-',
        ]),
      ]),
      '',
      `chosen #${matched.best.id}: measured mean ${f(chosenRun.measured.mean)} ms; best measured ${f(bestMeasured)} ms: ${report.chosen.measuredBest ? 'the measured best' : report.chosen.within10 ? 'within 10% of the measured best' : 'NOT within 10% of the measured best'}`,
      '',
      formatTable([
        ['', 'expected mean', 'p50', 'mean', 'p99', `test accuracy (${requests})`, 'throttled periods'],
        [
          'chosen plan',
          f(matched.best.figures.latencyMeanMs),
          f(chosenRun.measured.p50),
          f(chosenRun.measured.mean),
          f(chosenRun.measured.p99),
          `${((100 * chosenRun.measured.correct) / requests).toFixed(1)}%`,
          chosenRun.measured.throttled?.periods ?? '-',
        ],
        [
          'device only',
          f(reference?.figures.latencyMeanMs ?? NaN),
          f(deviceOnly.p50),
          f(deviceOnly.mean),
          f(deviceOnly.p99),
          `${((100 * deviceOnly.correct) / requests).toFixed(1)}%`,
          deviceOnly.throttled?.periods ?? '-',
        ],
        [
          'cloud only',
          '-',
          f(cloudOnly.p50),
          f(cloudOnly.mean),
          f(cloudOnly.p99),
          `${((100 * cloudOnly.correct) / requests).toFixed(1)}%`,
          cloudOnly.throttled?.periods ?? '-',
        ],
      ]),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await testbed.destroy();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main();
