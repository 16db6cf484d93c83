/**
 * The cascade of deployment units on loopback, each figure beside a baseline measured in the same run.
 *
 * 1. Per-hop latency at batch 1: a front unit in this process (`CascadeUnit.open(plan, 'device', { successor })`)
 *    against a real successor process (`branchy unit … --unit cloud`), over HTTP and over NATS, for B-LeNet (the
 *    shipped model cut at stage 1) and a seeded B-ResNet-20 (10 classes, cut at stage 1), at threshold 0 so that
 *    every sample goes on; the successor with its default micro-batching wait (`--max-wait-ms 2`) and with
 *    `--max-wait-ms 0`. Baseline: the same samples through the whole network in this process (`runEarlyExit`),
 *    in alternating rounds; p50 and p99 over every timed call of a path, and the hop's own round trip.
 * 2. Bytes on the wire per offloaded sample (f32, f16, int8 features; the raw input with `--forward input` at each
 *    dtype), from real frames at batch 1 and per sample at batch 64, next to the raw input as uint8, float32 and
 *    PNG; and the mean bytes per request over the 1,000 test digits at the model's thresholds against sending
 *    every input to the cloud.
 * 3. Accuracy of each choice over the same pass: label agreement with f32, accuracy against the true labels.
 * 4. Throughput of the 2-unit B-LeNet chain over HTTP (`branchy unit` device → cloud, two processes) under
 *    closed-loop clients sending one-digit binary frames (`bench/load.ts`) vs single-process `branchy serve` of the
 *    same model, alternating.
 * 5. A degraded answer once the circuit breaker is open (successor killed) vs the front unit alone (no successor).
 *
 * Every process is a child of this one on 127.0.0.1 and is stopped before it exits. Without a nats-server (on
 * `PATH`, in /usr/sbin, or `--nats-server`) the NATS rows are left out.
 *
 * Run: node --import tsx bench/cascade.ts [--samples 1000] [--rounds 4] [--warmup 100] [--seconds 3]
 *      [--load-rounds 2] [--connections 1,8,32] [--threads 1] [--nats-server PATH]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as connectTcp, createServer as createTcpServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { httpTransport } from '../src/cascade/http.ts';
import { natsTransport, unitSubject } from '../src/cascade/nats.ts';
import { splitModel, writePlan } from '../src/cascade/plan.ts';
import { FEATURE_DTYPES, type DeploymentPlan, type FeatureDtype, type Transport } from '../src/cascade/types.ts';
import { CascadeUnit } from '../src/cascade/unit.ts';
import { Rng } from '../src/common/rng.ts';
import { mnistSplits } from '../src/data/index.ts';
import { encodePng } from '../src/data/png.ts';
import { useBackend } from '../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../src/engine/tfjs/network.ts';
import type { Batch } from '../src/engine/types.ts';
import { runEarlyExit, type ExitResult } from '../src/infer/index.ts';
import { loadModelDir, saveModelDir } from '../src/io/model-dir.ts';
import { SHIPPED_MODEL_DIR } from '../src/io/shipped-models.ts';
import { openModel } from '../src/open/open-model.ts';
import { formatTable, percent } from '../src/report/text-table.ts';
import { encodeInputsFrame } from '../src/serve/index.ts';
import { zooModel } from '../src/zoo/index.ts';
import { closedLoopLoad } from './load.ts';

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '3' },
    'load-rounds': { type: 'string', default: '2' },
    connections: { type: 'string', default: '1,8,32' },
    threads: { type: 'string', default: '1' },
    'nats-server': { type: 'string' },
  },
});

function bounded(flag: string, text: string, min: number, max: number, integer = true): number {
  const v = Number(text);
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new RangeError(`--${flag} is ${JSON.stringify(text)}; expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}.`);
  }
  return v;
}

const SAMPLES = bounded('samples', values.samples, 10, 100_000);
const ROUNDS = bounded('rounds', values.rounds, 1, 100);
const WARMUP = bounded('warmup', values.warmup, 0, 10_000);
const SECONDS = bounded('seconds', values.seconds, 0.5, 60, false);
const LOAD_ROUNDS = bounded('load-rounds', values['load-rounds'], 1, 20);
const CONNECTIONS = values.connections.split(',').map((c) => bounded('connections', c.trim(), 1, 256));
const THREADS = bounded('threads', values.threads, 1, 64);
const NATS_SERVER = values['nats-server'] ?? findOnPath('nats-server', ['/usr/sbin', '/usr/local/sbin']);
if (values['nats-server'] !== undefined && !existsSync(values['nats-server'])) {
  throw new RangeError(`--nats-server is ${JSON.stringify(values['nats-server'])}, which does not exist; give the nats-server binary, or leave it out.`);
}

const BIN = fileURLToPath(new URL('../bin/branchy.js', import.meta.url));
const PER = 784;
const LENET_SHAPE = [28, 28, 1] as const;
/** Probes held off while the open circuit is timed, so that every timed call meets an open breaker. */
const PROBE_HELD_OFF_MS = 600_000;

function findOnPath(name: string, extra: string[]): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...extra].filter(Boolean);
  return dirs.map((d) => join(d, name)).find((p) => existsSync(p));
}

// ---- processes -----------------------------------------------------------------------------------------------

const children = new Set<ChildProcess>();
const work = mkdtempSync(join(tmpdir(), 'branchy-bench-cascade-'));
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

/** A child process this bench started. */
interface Child {
  child: ChildProcess;
  url: string;
  /** SIGTERM, then SIGKILL after 5 s; resolves once it has exited. */
  stop(): Promise<void>;
  /** SIGKILL at once, as a crash would. */
  kill(): Promise<void>;
}

function track(child: ChildProcess, url: string): Child {
  children.add(child);
  const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit').then(() => {});
  void exited.then(() => children.delete(child));
  const halt = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const force = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(force);
    }
    children.delete(child);
  };
  return { child, url, stop: () => halt('SIGTERM'), kill: () => halt('SIGKILL') };
}

/** Runs `node bin/branchy.js …args` and resolves once it prints the address it listens on. */
async function startBranchy(args: string[]): Promise<Child & { banner: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const handle = track(child, '');
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`'branchy ${args.join(' ')}' did not listen within 60 s: ${err}`)), 60_000);
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`'branchy ${args.join(' ')}' exited with ${code} before listening: ${err}`));
      });
    });
    return { ...handle, url, banner: out.trim().split('\n')[0] };
  } catch (error) {
    await handle.kill();
    throw error;
  }
}

async function freePort(): Promise<number> {
  const server = createTcpServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => (socket.destroy(), resolve(false)));
  });
}

/** `nats-server -a 127.0.0.1 -p PORT`, once it accepts connections. */
async function startNats(path: string): Promise<Child> {
  const port = await freePort();
  const handle = track(spawn(path, ['-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'ignore'] }), `nats://127.0.0.1:${port}`);
  for (let i = 0; i < 250; i++) {
    if (handle.child.exitCode !== null) break;
    if (await accepts(port)) return handle;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await handle.kill();
  throw new Error(`${path} did not accept connections on 127.0.0.1:${port} within 5 s`);
}

/** CPU seconds (user + system, every thread) a process has used so far. */
function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

// ---- figures -------------------------------------------------------------------------------------------------

function quantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** p50 and p99 of `xs`, in ms. */
function p5099(xs: readonly number[]): [number, number] {
  const sorted = [...xs].sort((a, b) => a - b);
  return [quantile(sorted, 0.5), quantile(sorted, 0.99)];
}

const f = (x: number, digits = 3) => (Number.isNaN(x) ? '-' : x.toFixed(digits));
const pair = ([a, b]: [number, number], digits = 3) => `${f(a, digits)} / ${f(b, digits)}`;
const thousands = (x: number) => Math.round(x).toLocaleString('en-US');
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const bytesOf = (r: ExitResult) => sum((r.route?.path ?? []).map((h) => h.sentBytes));
const receivedOf = (r: ExitResult) => sum((r.route?.path ?? []).map((h) => h.receivedBytes));

/** Rows `from`..`from + count` of the test digits, as a batch. */
function digits(test: { x: Float32Array }, from: number, count: number): Batch {
  return { data: test.x.subarray(from * PER, (from + count) * PER), shape: [count, ...LENET_SHAPE] };
}

/** `items` rotated left by `by`: each round starts with another contender. */
function rotated<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

// ---- set-up --------------------------------------------------------------------------------------------------

const loadBefore = loadavg();
const started = performance.now();
const test = mnistSplits(1).test;
const open = { threads: THREADS };

const lenetModel = loadModelDir(SHIPPED_MODEL_DIR);
const lenetPlanDir = join(work, 'lenet');
const lenetPlan = writePlan(lenetPlanDir, splitModel(lenetModel, { at: [1], names: ['device', 'cloud'] }));
const inputPlanDir = join(work, 'lenet-input');
writePlan(inputPlanDir, splitModel(lenetModel, { at: [1], names: ['device', 'cloud'], forward: 'input' }));

await useBackend('cpu');
const resnetSpec = zooModel('b-resnet20').build({ classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] });
const seeded = new TfjsNetwork(resnetSpec, undefined, 7);
const resnetDir = join(work, 'b-resnet20');
saveModelDir(resnetDir, { spec: resnetSpec, weights: seeded.weights() });
seeded.dispose();
const resnetPlanDir = join(work, 'resnet');
const resnetPlan = writePlan(resnetPlanDir, splitModel(loadModelDir(resnetDir), { at: [1], names: ['device', 'cloud'] }));

const resnetShape = resnetSpec.input.shape;
const resnetPer = resnetShape[0] * resnetShape[1] * resnetShape[2];
const rng = new Rng(11);
const resnetPool = Float32Array.from({ length: 64 * resnetPer }, () => rng.next());

/** The two waits a successor is run with: its default micro-batching wait, and none. */
const WAITS = [2, 0] as const;
const unitArgs = ['--threads', String(THREADS), '--log-level', 'error'];

// Two NATS servers: the successors of each wait form their own queue group (one subject per plan and unit).
const nats = NATS_SERVER === undefined ? undefined : await Promise.all(WAITS.map(() => startNats(NATS_SERVER)));
const cloudOf = async (planDir: string, wait: number, natsUrl?: string) =>
  startBranchy(['unit', planDir, '--unit', 'cloud', '--port', '0', '--max-wait-ms', String(wait), ...(natsUrl ? ['--nats', natsUrl] : []), ...unitArgs]);
const clouds = {
  lenet: await Promise.all(WAITS.map((w, i) => cloudOf(lenetPlanDir, w, nats?.[i].url))),
  resnet: await Promise.all(WAITS.map((w, i) => cloudOf(resnetPlanDir, w, nats?.[i].url))),
};
// The input-forwarding plan has the same model and unit names, hence the same NATS subject: HTTP only.
const inputCloud = await cloudOf(inputPlanDir, 0);
const setUpSeconds = (performance.now() - started) / 1000;

// ---- 1. per-hop latency --------------------------------------------------------------------------------------

interface Network {
  name: string;
  planDir: string;
  plan: DeploymentPlan;
  modelDir: string;
  thresholds: number[];
  sample(i: number): Batch;
  clouds: Child[];
}

const networks: Network[] = [
  {
    name: 'B-LeNet',
    planDir: lenetPlanDir,
    plan: lenetPlan,
    modelDir: SHIPPED_MODEL_DIR,
    thresholds: lenetPlan.spec.policy.thresholds.map(() => 0),
    sample: (i) => digits(test, i % test.count, 1),
    clouds: clouds.lenet,
  },
  {
    name: 'B-ResNet-20',
    planDir: resnetPlanDir,
    plan: resnetPlan,
    modelDir: resnetDir,
    thresholds: resnetPlan.spec.policy.thresholds.map(() => 0),
    sample: (i) => ({ data: resnetPool.subarray((i % 64) * resnetPer, ((i % 64) + 1) * resnetPer), shape: [1, ...resnetShape] }),
    clouds: clouds.resnet,
  },
];

interface HopPath {
  transport: 'HTTP' | 'NATS';
  wait: number;
  unit: CascadeUnit;
  chainMs: number[];
  hopMs: number[];
  /** Calls whose answer did not come from the successor. */
  failed: number;
}

async function transportTo(kind: 'HTTP' | 'NATS', cloud: Child, natsUrl: string | undefined, plan: DeploymentPlan): Promise<Transport> {
  if (kind === 'HTTP') return httpTransport({ url: cloud.url, unit: 'cloud', from: 'device' });
  return natsTransport({ url: natsUrl as string, subject: unitSubject(plan, 'cloud'), name: `${plan.model}.device` });
}

interface HopFigures {
  network: Network;
  runtime: string;
  baselineMs: number[];
  paths: HopPath[];
}

async function perHop(network: Network): Promise<HopFigures> {
  const { net } = await openModel(network.modelDir, { engine: 'ort', ...open });
  const paths: HopPath[] = [];
  for (const [w, wait] of WAITS.entries()) {
    for (const transport of nats ? (['HTTP', 'NATS'] as const) : (['HTTP'] as const)) {
      const successor = await transportTo(transport, network.clouds[w], nats?.[w].url, network.plan);
      const unit = await CascadeUnit.open(network.planDir, 'device', { open, successor });
      paths.push({ transport, wait, unit, chainMs: [], hopMs: [], failed: 0 });
    }
  }
  const baselineMs: number[] = [];
  const baseline = async (i: number, keep: boolean) => {
    const t = performance.now();
    await runEarlyExit(net, network.sample(i), { thresholds: network.thresholds });
    if (keep) baselineMs.push(performance.now() - t);
  };
  const chain = (path: HopPath) => async (i: number, keep: boolean) => {
    const t = performance.now();
    const [r] = await path.unit.process(network.sample(i), network.thresholds);
    const ms = performance.now() - t;
    if (!keep) return;
    if (r.route?.unit !== 'cloud' || r.route.degraded) path.failed++;
    else {
      path.chainMs.push(ms);
      path.hopMs.push(r.route.path[0].ms);
    }
  };
  const contenders = [baseline, ...paths.map(chain)];
  for (const run of contenders) for (let i = 0; i < WARMUP; i++) await run(i, false);
  const perRound = Math.ceil(SAMPLES / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    const count = Math.min(perRound, SAMPLES - round * perRound);
    for (const run of rotated(contenders, round)) for (let i = 0; i < count; i++) await run(round * perRound + i, true);
  }
  const runtime = net.runtime;
  net.dispose();
  for (const p of paths) await p.unit.close();
  return { network, runtime, baselineMs, paths };
}

const hops: HopFigures[] = [];
for (const network of networks) hops.push(await perHop(network));
const GOAL_MS: Record<'HTTP' | 'NATS', number> = { HTTP: 0.5, NATS: 1 };

// ---- 2 and 3. bytes on the wire and accuracy ---------------------------------------------------------------

interface Choice {
  name: string;
  planDir: string;
  dtype: FeatureDtype;
  cloud: Child;
}

const choices: Choice[] = [
  ...FEATURE_DTYPES.map((dtype) => ({ name: `features ${dtype}`, planDir: lenetPlanDir, dtype, cloud: clouds.lenet[1] })),
  ...FEATURE_DTYPES.map((dtype) => ({ name: `input ${dtype}`, planDir: inputPlanDir, dtype, cloud: inputCloud })),
];

interface ChoiceFigures {
  choice: Choice;
  /** Bytes sent and received for one digit at batch 1 (every sample sent on). */
  one: { sent: number; received: number };
  /** Per sample of a batch of 64 digits. */
  perSampleOf64: { sent: number; received: number };
  /** At the model's thresholds, one digit per request, over the test digits. */
  labels: Int32Array;
  correct: number;
  forwarded: number;
  degraded: number;
  sentTotal: number;
  receivedTotal: number;
}

async function wire(choice: Choice): Promise<ChoiceFigures> {
  const successor = httpTransport({ url: choice.cloud.url, unit: 'cloud', from: 'device' });
  const unit = await CascadeUnit.open(choice.planDir, 'device', { open, successor, featureDtype: choice.dtype });
  const zero = lenetPlan.spec.policy.thresholds.map(() => 0);
  const [one] = await unit.process(digits(test, 0, 1), zero);
  const batch = await unit.process(digits(test, 0, 64), zero);
  const labels = new Int32Array(test.count);
  let correct = 0;
  let forwarded = 0;
  let degraded = 0;
  let sentTotal = 0;
  let receivedTotal = 0;
  for (let i = 0; i < test.count; i++) {
    const [r] = await unit.process(digits(test, i, 1), []);
    labels[i] = r.label;
    if (r.label === test.y[i]) correct++;
    if (r.route?.degraded) degraded++;
    if ((r.route?.hops ?? 0) > 0) forwarded++;
    sentTotal += bytesOf(r);
    receivedTotal += receivedOf(r);
  }
  await unit.close();
  return {
    choice,
    one: { sent: bytesOf(one), received: receivedOf(one) },
    perSampleOf64: { sent: bytesOf(batch[0]) / 64, received: receivedOf(batch[0]) / 64 },
    labels,
    correct,
    forwarded,
    degraded,
    sentTotal,
    receivedTotal,
  };
}

const wires: ChoiceFigures[] = [];
for (const choice of choices) wires.push(await wire(choice));

/** int8 quantises per channel over the whole frame: the same pass in frames of 64 digits. */
async function int8InBatches(): Promise<{ labels: Int32Array; correct: number; sentPerSample: number }> {
  const successor = httpTransport({ url: clouds.lenet[1].url, unit: 'cloud', from: 'device' });
  const unit = await CascadeUnit.open(lenetPlanDir, 'device', { open, successor, featureDtype: 'int8' });
  const labels = new Int32Array(test.count);
  let correct = 0;
  let sent = 0;
  for (let from = 0; from < test.count; from += 64) {
    const count = Math.min(64, test.count - from);
    const results = await unit.process(digits(test, from, count), []);
    const hop = results.find((r) => (r.route?.hops ?? 0) > 0);
    if (hop) sent += bytesOf(hop);
    results.forEach((r, i) => {
      labels[from + i] = r.label;
      if (r.label === test.y[from + i]) correct++;
    });
  }
  await unit.close();
  return { labels, correct, sentPerSample: sent / test.count };
}
const int8Of64 = await int8InBatches();

/** The f32 chain against the whole network in one process, at the model's thresholds. */
async function singleProcessLabels(): Promise<{ labels: Int32Array; exits: Int32Array }> {
  const { net } = await openModel(SHIPPED_MODEL_DIR, { engine: 'ort', ...open });
  const { results } = await runEarlyExit(net, digits(test, 0, test.count), { thresholds: lenetPlan.spec.policy.thresholds });
  net.dispose();
  return { labels: Int32Array.from(results, (r) => r.label), exits: Int32Array.from(results, (r) => r.exit) };
}
const single = await singleProcessLabels();

const pngBytes = Array.from({ length: test.count }, (_, i) => encodePng(test.x.subarray(i * PER, (i + 1) * PER), LENET_SHAPE).length);
const pngOfFirst = pngBytes[0];
const pngMean = sum(pngBytes) / test.count;
const inputFrameBytes = encodeInputsFrame(test.x.slice(0, PER), [1, ...LENET_SHAPE]).length;

// ---- 4. throughput of the chain vs branchy serve -------------------------------------------------------------

const chainDevice = await startBranchy(['unit', lenetPlanDir, '--unit', 'device', '--port', '0', '--successor', clouds.lenet[0].url, ...unitArgs]);
const serve = await startBranchy(['serve', SHIPPED_MODEL_DIR, '--port', '0', '--threads', String(THREADS), '--log-level', 'error']);
const serveModel = /\(models: ([^,)]+)/.exec(serve.banner)?.[1] ?? 'b-lenet-mnist';
const frames = Array.from({ length: 256 }, (_, i) => Buffer.from(encodeInputsFrame(test.x.slice(i * PER, (i + 1) * PER), [1, ...LENET_SHAPE])));

interface Server {
  name: string;
  url: string;
  model: string;
  /** The processes that answer its requests. */
  pids: number[];
}

const servers: Server[] = [
  { name: 'chain device → cloud (HTTP)', url: chainDevice.url, model: lenetPlan.model, pids: [chainDevice.child.pid!, clouds.lenet[0].child.pid!] },
  { name: 'branchy serve (one process)', url: serve.url, model: serveModel, pids: [serve.child.pid!] },
];

interface LoadFigures {
  perSecond: number[];
  latencies: number[];
  failed: number;
  cpuUsPerRequest: number[];
}

async function drive(server: Server, connections: number, seconds: number) {
  const requests = frames.map((body) => ({
    method: 'POST',
    path: `/v1/models/${server.model}/predict`,
    headers: { 'content-type': 'application/octet-stream' },
    body,
  }));
  const cpu = sum(server.pids.map(cpuSecondsOf));
  const r = await closedLoopLoad({ port: Number(new URL(server.url).port), connections, seconds, requests });
  const used = sum(server.pids.map(cpuSecondsOf)) - cpu;
  const ok = r.byStatus.get(200) ?? 0;
  return { perSecond: ok / r.seconds, latencies: [...r.latenciesMs], failed: r.replies - ok + r.errors, cpuUs: (1e6 * used) / Math.max(1, r.replies) };
}

const loads = servers.map(() => CONNECTIONS.map((): LoadFigures => ({ perSecond: [], latencies: [], failed: 0, cpuUsPerRequest: [] })));
for (const server of servers) await drive(server, Math.max(...CONNECTIONS), 1);
for (let round = 0; round < LOAD_ROUNDS; round++) {
  for (const [c, connections] of CONNECTIONS.entries()) {
    for (const s of rotated([0, 1], round + c)) {
      const r = await drive(servers[s], connections, SECONDS);
      const into = loads[s][c];
      into.perSecond.push(r.perSecond);
      into.latencies.push(...r.latencies);
      into.failed += r.failed;
      into.cpuUsPerRequest.push(r.cpuUs);
    }
  }
}
await chainDevice.stop();
await serve.stop();

// ---- 5. degraded answers with the circuit open ---------------------------------------------------------------

interface Degraded {
  name: string;
  unit: CascadeUnit;
  /** Calls until the breaker opened, and their reasons and times. */
  toOpen: { reason: string; ms: number }[];
  ms: number[];
  reasons: Set<string>;
}

async function degradedFigures(): Promise<Degraded[]> {
  const zero = lenetPlan.spec.policy.thresholds.map(() => 0);
  const fronts: Degraded[] = [];
  const breaker = { probeAfterMs: PROBE_HELD_OFF_MS };
  const add = async (name: string, successor?: Transport) =>
    fronts.push({
      name,
      unit: await CascadeUnit.open(lenetPlanDir, 'device', { open, successor, ...(successor ? { breaker } : {}) }),
      toOpen: [],
      ms: [],
      reasons: new Set(),
    });
  await add('HTTP, circuit open', httpTransport({ url: clouds.lenet[1].url, unit: 'cloud', from: 'device' }));
  if (nats) await add('NATS, circuit open', await transportTo('NATS', clouds.lenet[1], nats[1].url, lenetPlan));
  await add('front unit alone (no successor)');
  // A full answer through each first, so that connections are up when the successor dies.
  for (const front of fronts) await front.unit.process(digits(test, 0, 1), zero);
  await clouds.lenet[1].kill();
  for (const front of fronts.filter((d) => d.name.includes('circuit'))) {
    for (let i = 0; i < 50 && front.unit.breaker.state !== 'open'; i++) {
      const t = performance.now();
      const [r] = await front.unit.process(digits(test, i, 1), zero);
      front.toOpen.push({ reason: r.route?.reason ?? (r.route?.degraded ? '?' : 'answered'), ms: performance.now() - t });
    }
  }
  const call = (front: Degraded) => async (i: number, keep: boolean) => {
    const t = performance.now();
    const [r] = await front.unit.process(digits(test, i % test.count, 1), zero);
    if (keep) {
      front.ms.push(performance.now() - t);
      front.reasons.add(r.route?.degraded ? (r.route.reason ?? '?') : 'not degraded');
    }
  };
  const contenders = fronts.map(call);
  for (const run of contenders) for (let i = 0; i < WARMUP; i++) await run(i, false);
  const perRound = Math.ceil(SAMPLES / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    const count = Math.min(perRound, SAMPLES - round * perRound);
    for (const run of rotated(contenders, round)) for (let i = 0; i < count; i++) await run(round * perRound + i, true);
  }
  for (const front of fronts) await front.unit.close();
  return fronts;
}
const degraded = await degradedFigures();

// ---- stop everything -----------------------------------------------------------------------------------------

await Promise.all([...clouds.lenet, ...clouds.resnet, inputCloud].map((c) => c.stop()));
if (nats) await Promise.all(nats.map((n) => n.stop()));
const loadAfter = loadavg();
const totalSeconds = (performance.now() - started) / 1000;

// ---- report --------------------------------------------------------------------------------------------------

const hopRows: string[][] = [
  [
    'network (features per sample)',
    'path',
    'successor --max-wait-ms',
    'chain p50 / p99 (ms)',
    'in process p50 / p99 (ms)',
    'added p50 / p99 (ms)',
    'hop round trip p50 / p99 (ms)',
    'goal (B-LeNet, added p50)',
    'failed',
  ],
];
for (const h of hops) {
  const base = p5099(h.baselineMs);
  for (const p of h.paths) {
    const chain = p5099(p.chainMs);
    const added: [number, number] = [chain[0] - base[0], chain[1] - base[1]];
    const goal = GOAL_MS[p.transport];
    const verdict = h.network.name === 'B-LeNet' ? `<= ${goal} ms: ${added[0] <= goal ? 'met' : `missed (${f(added[0])} ms)`}` : '-';
    hopRows.push([
      `${h.network.name} [${h.network.plan.units[1].inputShape.join('x')}]`,
      p.transport,
      String(p.wait),
      pair(chain),
      pair(base),
      pair(added),
      pair(p5099(p.hopMs)),
      verdict,
      String(p.failed),
    ]);
  }
}

const f32 = wires[0];
const wireRows: string[][] = [
  [
    'what travels',
    'batch 1: sent / received (B)',
    'batch 64: per sample sent / received (B)',
    'sent ÷ uint8 input (784 B)',
    'sent ÷ its PNG',
    'sent ÷ float32 input frame',
  ],
];
for (const w of wires) {
  wireRows.push([
    w.choice.name,
    `${thousands(w.one.sent)} / ${thousands(w.one.received)}`,
    `${f(w.perSampleOf64.sent, 1)} / ${f(w.perSampleOf64.received, 1)}`,
    `${f(w.one.sent / PER, 2)}x`,
    `${f(w.one.sent / pngOfFirst, 2)}x`,
    `${f(w.one.sent / inputFrameBytes, 2)}x`,
  ]);
}

const agree = (a: Int32Array, b: Int32Array) => a.reduce((n, v, i) => n + (v === b[i] ? 1 : 0), 0) / a.length;
const meanRows: string[][] = [
  [
    'what travels',
    'forwarded',
    'mean B / request sent (received)',
    'cloud-only uint8 (784 B) ÷ mean',
    `cloud-only PNG (${f(pngMean, 0)} B) ÷ mean`,
    `cloud-only float32 frame (${inputFrameBytes} B) ÷ mean`,
    'agreement with f32',
    'accuracy',
    'degraded',
  ],
];
for (const w of wires) {
  const mean = w.sentTotal / test.count;
  meanRows.push([
    w.choice.name,
    percent(w.forwarded / test.count, 1),
    `${f(mean, 1)} (${f(w.receivedTotal / test.count, 1)})`,
    f(PER / mean, 2),
    f(pngMean / mean, 2),
    f(inputFrameBytes / mean, 2),
    percent(agree(w.labels, f32.labels), 1),
    percent(w.correct / test.count, 1),
    String(w.degraded),
  ]);
}
meanRows.push([
  'features int8, frames of 64',
  percent(f32.forwarded / test.count, 1),
  f(int8Of64.sentPerSample, 1),
  f(PER / int8Of64.sentPerSample, 2),
  f(pngMean / int8Of64.sentPerSample, 2),
  f(inputFrameBytes / int8Of64.sentPerSample, 2),
  percent(agree(int8Of64.labels, f32.labels), 1),
  percent(int8Of64.correct / test.count, 1),
  '-',
]);
const singleAccuracy = single.labels.reduce((n, l, i) => n + (l === test.y[i] ? 1 : 0), 0) / test.count;
const singleForwarded = single.exits.reduce((n, e) => n + (e > 1 ? 1 : 0), 0) / test.count;

const loadRows: string[][] = [['connections', 'server', 'samples/s (median of rounds)', 'p50 / p99 (ms)', 'CPU us / request (its processes)', 'failed']];
for (const [c, connections] of CONNECTIONS.entries()) {
  for (const [s, server] of servers.entries()) {
    const l = loads[s][c];
    const median = (xs: number[]) =>
      quantile(
        [...xs].sort((a, b) => a - b),
        0.5,
      );
    loadRows.push([
      String(connections),
      server.name,
      f(median(l.perSecond), 0),
      pair(p5099(l.latencies), 2),
      f(median(l.cpuUsPerRequest), 0),
      String(l.failed),
    ]);
  }
}

const degradedRows: string[][] = [['front unit', 'calls until open (reasons, ms each)', 'p50 / p99 (ms)', 'reasons of the timed answers']];
for (const d of degraded) {
  degradedRows.push([
    d.name,
    d.toOpen.length === 0 ? '-' : `${d.toOpen.length} (${d.toOpen.map((t) => `${t.reason} ${f(t.ms, 2)}`).join(', ')})`,
    pair(p5099(d.ms)),
    [...d.reasons].join(', '),
  ]);
}

const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(', ');
const thresholdsText = lenetPlan.spec.policy.thresholds.map((t) => +t.toPrecision(4)).join(', ');
process.stdout.write(
  [
    `machine: ${cpus()[0]?.model ?? '?'}, ${cpus().length} cores, node ${process.version}; load average (1, 5, 15 min) ${load(loadBefore)} before, ${load(loadAfter)} after`,
    `options: --samples ${SAMPLES} --rounds ${ROUNDS} --warmup ${WARMUP} --seconds ${SECONDS} --load-rounds ${LOAD_ROUNDS} --connections ${CONNECTIONS.join(',')} --threads ${THREADS}; nats-server: ${NATS_SERVER ?? 'not found, NATS rows skipped'}`,
    `engine: ${hops[0].runtime}, onnxruntime intra-op threads ${THREADS} in every process; set-up ${f(setUpSeconds, 1)} s, whole run ${f(totalSeconds, 1)} s`,
    '',
    `1. Per-hop latency at batch 1, threshold 0 (every sample goes on): front unit in this process, successor a 'branchy unit' process; ${SAMPLES} timed calls per path in ${ROUNDS} alternating rounds with the whole network in this process (runEarlyExit)`,
    formatTable(hopRows),
    '',
    `2. Bytes on the wire per offloaded B-LeNet sample (real frames over HTTP; raw input: 784 B as uint8, 3,136 B as float32, ${inputFrameBytes} B as a float32 predict frame, PNG ${pngOfFirst} B for this digit and ${f(pngMean, 1)} B on average)`,
    formatTable(wireRows),
    '',
    `3. One digit per request over the ${test.count} test digits at the model's thresholds [${thresholdsText}] (answered on the device: nothing sent). DDNN's headline: 20x less than sending every input to the cloud.`,
    formatTable(meanRows),
    `single process (runEarlyExit, same thresholds): accuracy ${percent(singleAccuracy, 1)}, ${percent(singleForwarded, 1)} past exit 1; the f32 chain agrees on ${percent(agree(f32.labels, single.labels), 1)} of labels`,
    '',
    `4. Throughput, one digit per request (binary frames, bench/load.ts closed loop), ${LOAD_ROUNDS} alternating rounds of ${SECONDS} s; both at the model's thresholds, successor at its defaults`,
    formatTable(loadRows),
    '',
    `5. A degraded answer at batch 1 once the successor process is killed and the breaker is open (3 failures; probes held off), vs the front unit alone; ${SAMPLES} calls each, ${ROUNDS} alternating rounds`,
    formatTable(degradedRows),
    '',
  ].join('\n'),
);
