/**
 * Training throughput (samples/s) of joint training, batch 64, Adam with the paper's settings and default exit
 * weights, in one run and alternating rounds:
 *  - tfjs-wasm with tfjs-backend-wasm's own kernels for the gradients it has and tfjs's Adam (the state before branchy
 *    replaced the slow ones; branchy's kernels for the gradients wasm lacks are needed either way),
 *  - tfjs-wasm with branchy's kernels (what `useWasmTrainingKernels()` sets up, as `trainNetwork` does on wasm),
 *  - PyTorch CPU (bench/train-speed-torch.py) on the same network spec, samples, batch size, optimiser and exit
 *    weights, at `--threads` threads (tfjs-wasm runs one thread in Node, so 1 is the fair comparison) and at 2.
 * Networks: b-lenet on real MNIST digits (mnist package), b-alexnet and b-resnet20 (3 blocks per group) on seeded
 * random 32x32x3 data. Warm-up steps are excluded. `--profile` adds a per-kernel profile of both wasm kernel sets.
 *
 * Run: node --import tsx bench/train-speed.ts [--steps 20] [--baseline-steps 4] [--warmup 3] [--rounds 2]
 *      [--threads 1] [--networks b-lenet,b-alexnet,b-resnet20] [--profile] [--no-torch]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Rng } from '../src/common/rng.ts';
import { mnistSplits, subset, type Dataset } from '../src/data/index.ts';
import { replacedWasmKernelNames, useWasmTrainingKernels } from '../src/engine/tfjs/kernels/index.ts';
import { AdamUpdate } from '../src/engine/tfjs/kernels/AdamUpdate.ts';
import { useBackend } from '../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../src/engine/tfjs/network.ts';
import { DEFAULT_TRAIN_OPTIONS, trainNetwork } from '../src/train/index.ts';
import { resolveExitWeights } from '../src/train/options.ts';
import { zooModel } from '../src/zoo/index.ts';
import { formatTable } from '../src/report/text-table.ts';
import type { NetworkSpec } from '../src/spec/types.ts';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '20' },
    'baseline-steps': { type: 'string', default: '4' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    threads: { type: 'string', default: '1' },
    networks: { type: 'string', default: 'b-lenet,b-alexnet,b-resnet20' },
    profile: { type: 'boolean', default: false },
    'no-torch': { type: 'boolean', default: false },
  },
});
const steps = Number(values.steps);
const baselineSteps = Number(values['baseline-steps']);
const warmup = Number(values.warmup);
const rounds = Number(values.rounds);
const threads = Number(values.threads);
const networks = values.networks.split(',');
const batch = DEFAULT_TRAIN_OPTIONS.batchSize;

// tfjs-wasm's own kernels, taken before `useWasmTrainingKernels` replaces them, so each round can train with either set. The
// tfjs set also goes without branchy's fused Adam step (the optimiser then runs tfjs's Adam ops).
const builtIn = new Map(replacedWasmKernelNames().map((name) => [name, tf.getKernel(name, 'wasm')!]));
await useBackend('wasm');
useWasmTrainingKernels();
const branchy = new Map(replacedWasmKernelNames().map((name) => [name, tf.getKernel(name, 'wasm')!]));
const fusedAdam = tf.getKernel(AdamUpdate, 'wasm')!;
type KernelSet = 'tfjs' | 'branchy';
function useKernels(set: KernelSet): void {
  for (const [name, config] of set === 'tfjs' ? builtIn : branchy) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(config);
  }
  if (tf.getKernel(AdamUpdate, 'wasm') !== undefined) tf.unregisterKernel(AdamUpdate, 'wasm');
  if (set === 'branchy') tf.registerKernel(fusedAdam);
}

/** Whether kernel timers record: only during the measured steps. */
let recording = false;

/** Self time per kernel (a kernel that runs another is charged without it) while `run` trains and `recording`. */
function profileKernels(run: () => Promise<void>): Promise<Map<string, { calls: number; ms: number }>> {
  const table = new Map<string, { calls: number; ms: number }>();
  const nested: number[] = [];
  const originals = tf.getKernelsForBackend('wasm');
  for (const config of originals) {
    const inner = config.kernelFunc;
    tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel({
      ...config,
      kernelFunc: (args) => {
        if (!recording) return inner(args);
        const started = performance.now();
        nested.push(0);
        try {
          return inner(args);
        } finally {
          const total = performance.now() - started;
          const inside = nested.pop()!;
          if (nested.length > 0) nested[nested.length - 1] += total;
          const row = table.get(config.kernelName) ?? { calls: 0, ms: 0 };
          row.calls++;
          row.ms += total - inside;
          table.set(config.kernelName, row);
        }
      },
    });
  }
  return run().then(() => {
    for (const config of originals) {
      tf.unregisterKernel(config.kernelName, 'wasm');
      tf.registerKernel(config);
    }
    return table;
  });
}

function randomImages(count: number, seed: number, shape: [number, number, number]): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(count * shape[0] * shape[1] * shape[2]);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const y = new Uint8Array(count).map(() => rng.int(10));
  return { x, y, shape, count, classes: Array.from({ length: 10 }, (_, i) => `class ${i}`) };
}

interface Bench {
  name: string;
  spec: NetworkSpec;
  data: Dataset;
}

function benchFor(name: string, samples: number): Bench {
  const spec = zooModel(name).build();
  if (name === 'b-lenet') {
    const train = mnistSplits(1).train;
    return {
      name,
      spec,
      data: subset(
        train,
        Uint32Array.from({ length: samples }, (_, i) => i % train.count),
      ),
    };
  }
  return { name, spec, data: randomImages(samples, 1, [32, 32, 3]) };
}

/** Samples/s of `count` training steps after the warm-up, through the real training loop; optionally profiled. */
async function wasmThroughput(
  b: Bench,
  set: KernelSet,
  count: number,
  profile: boolean,
): Promise<{ samplesPerSecond: number; msPerStep: number; kernels?: Map<string, { calls: number; ms: number }> }> {
  useKernels(set);
  const net = new TfjsNetwork(b.spec, undefined, 1);
  const train = subset(
    b.data,
    Uint32Array.from({ length: (warmup + count) * batch }, (_, i) => i),
  );
  let started = 0;
  let seconds = 0;
  let kernels: Map<string, { calls: number; ms: number }> | undefined;
  const run = () =>
    trainNetwork(
      net,
      { train, validation: subset(b.data, new Uint32Array([0])) },
      { ...DEFAULT_TRAIN_OPTIONS, epochs: 1 },
      {
        onEvent: (e) => {
          if (e.type !== 'step') return;
          if (e.step === warmup) {
            recording = true;
            started = performance.now();
          }
          if (e.step === warmup + count) {
            seconds = (performance.now() - started) / 1000;
            recording = false;
          }
        },
      },
    ).then(() => undefined);
  if (profile) kernels = await profileKernels(run);
  else await run();
  net.dispose();
  useKernels('branchy');
  if (kernels) {
    for (const row of kernels.values()) {
      row.ms /= count;
      row.calls /= count;
    }
  }
  return { samplesPerSecond: (count * batch) / seconds, msPerStep: (seconds * 1000) / count, kernels };
}

const here = fileURLToPath(new URL('.', import.meta.url));
const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
const work = mkdtempSync(join(tmpdir(), 'branchy-train-speed-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

function torchThroughput(b: Bench, torchThreads: number): number {
  const specFile = join(work, `${b.name}.json`);
  const dataFile = join(work, `${b.name}.bin`);
  writeFileSync(specFile, JSON.stringify(b.spec));
  const [h, w, c] = b.data.shape as [number, number, number];
  const header = new Int32Array([b.data.count, h, w, c]);
  writeFileSync(
    dataFile,
    Buffer.concat([Buffer.from(header.buffer), Buffer.from(b.data.x.buffer, b.data.x.byteOffset, b.data.x.byteLength), Buffer.from(b.data.y)]),
  );
  const o = DEFAULT_TRAIN_OPTIONS;
  const args = [
    join(here, 'train-speed-torch.py'),
    '--spec',
    specFile,
    '--data',
    dataFile,
    '--batch',
    String(batch),
    '--steps',
    String(steps),
    '--warmup',
    String(warmup),
    '--threads',
    String(torchThreads),
    '--lr',
    String(o.learningRate),
    '--beta1',
    String(o.beta1),
    '--beta2',
    String(o.beta2),
    '--exit-weights',
    resolveExitWeights(undefined, b.spec.stages.length).join(','),
  ];
  const r = spawnSync(python!, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`PyTorch twin failed for ${b.name}: ${r.stderr}`);
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { samplesPerSecond: number }).samplesPerSecond;
}

const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
try {
  const benches = networks.map((n) => benchFor(n, (warmup + Math.max(steps, baselineSteps)) * batch));
  const figures = new Map(benches.map((b) => [b.name, { tfjs: [] as number[], branchy: [] as number[], torch: [] as number[], torch2: [] as number[] }]));
  for (let r = 0; r < rounds; r++) {
    for (const b of benches) {
      const f = figures.get(b.name)!;
      f.tfjs.push((await wasmThroughput(b, 'tfjs', baselineSteps, false)).samplesPerSecond);
      f.branchy.push((await wasmThroughput(b, 'branchy', steps, false)).samplesPerSecond);
      if (python && !values['no-torch']) {
        f.torch.push(torchThroughput(b, threads));
        if (threads !== 2) f.torch2.push(torchThroughput(b, 2));
      }
      console.error(`round ${r + 1}/${rounds}: ${b.name} done`);
    }
  }
  const withTorch = python !== undefined && !values['no-torch'];
  console.log(
    `Joint training throughput, samples/s, batch ${batch}, Adam (lr ${DEFAULT_TRAIN_OPTIONS.learningRate}, β ${DEFAULT_TRAIN_OPTIONS.beta1}/${DEFAULT_TRAIN_OPTIONS.beta2}), default exit weights; mean of ${rounds} alternating rounds; ${warmup} warm-up steps excluded; wasm with branchy's kernels and PyTorch ${steps} steps, wasm with tfjs's kernels ${baselineSteps}.\n`,
  );
  if (!withTorch)
    console.log(
      python
        ? 'PyTorch skipped (--no-torch).\n'
        : "PyTorch skipped: neither python3 nor /usr/bin/python3 can 'import torch' (Debian: apt-get install python3-torch).\n",
    );
  const header = ['network', 'wasm, tfjs kernels', 'wasm, branchy kernels', 'speed-up'];
  if (withTorch) header.push(`PyTorch, ${threads} thread${threads === 1 ? '' : 's'}`, 'wasm / PyTorch', ...(threads !== 2 ? ['PyTorch, 2 threads'] : []));
  const rows: (string | number)[][] = [header];
  for (const b of benches) {
    const f = figures.get(b.name)!;
    const row: (string | number)[] = [b.name, mean(f.tfjs).toFixed(0), mean(f.branchy).toFixed(0), `${(mean(f.branchy) / mean(f.tfjs)).toFixed(1)}x`];
    if (withTorch)
      row.push(mean(f.torch).toFixed(0), `${(mean(f.branchy) / mean(f.torch)).toFixed(2)}x`, ...(threads !== 2 ? [mean(f.torch2).toFixed(0)] : []));
    rows.push(row);
  }
  console.log(formatTable(rows));

  if (values.profile) {
    for (const b of benches) {
      for (const set of ['tfjs', 'branchy'] as const) {
        const { msPerStep, kernels } = await wasmThroughput(b, set, set === 'tfjs' ? baselineSteps : steps, true);
        const sorted = [...kernels!.entries()].sort((x, y) => y[1].ms - x[1].ms);
        const inKernels = sorted.reduce((s, [, k]) => s + k.ms, 0);
        console.log(
          `\nPer-kernel self time, ${b.name}, wasm with ${set} kernels: ${msPerStep.toFixed(1)} ms per step (timers on), ${inKernels.toFixed(1)} ms in kernels\n`,
        );
        console.log(
          formatTable([
            ['kernel', 'calls/step', 'ms/step', 'share of step'],
            ...sorted.slice(0, 16).map(([name, k]) => [name, k.calls.toFixed(0), k.ms.toFixed(2), `${((100 * k.ms) / msPerStep).toFixed(1)}%`]),
            ['(outside kernels)', '', Math.max(0, msPerStep - inKernels).toFixed(2), `${((100 * Math.max(0, msPerStep - inKernels)) / msPerStep).toFixed(1)}%`],
          ]),
        );
      }
    }
  }
} catch (error) {
  // tfjs-wasm's own uncaught-exception handler would dump its minified source instead of the error.
  console.error(error);
  process.exitCode = 1;
}
