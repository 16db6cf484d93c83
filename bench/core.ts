/**
 * Core figures, measured in one run on this machine:
 *  1. B-LeNet (shipped model, thresholds chosen on the validation split) vs LeNet (shipped baseline, no exits):
 *     test accuracy, share leaving at exit 1, mean batch-1 latency and the speed-up.
 *  2. Training throughput (samples/s, batch 64, joint B-LeNet) on tfjs-wasm vs the tfjs cpu backend.
 *
 * Run: node --import tsx bench/core.ts [--latency-samples N] [--train-steps N] [--cpu-steps N]
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { mnistSplits, subset } from '../src/data/index.ts';
import { useBackend, type TfjsBackend } from '../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../src/engine/tfjs/network.ts';
import { evaluateExits, measureLatency, runEarlyExit } from '../src/infer/index.ts';
import { loadModelDir } from '../src/io/index.ts';
import { DEFAULT_TRAIN_OPTIONS, trainNetwork } from '../src/train/index.ts';
import { bLenet } from '../src/zoo/index.ts';
import { formatTable, ms, percent } from '../src/report/text-table.ts';

const { values } = parseArgs({
  options: {
    'latency-samples': { type: 'string', default: '1000' },
    'train-steps': { type: 'string', default: '60' },
    'cpu-steps': { type: 'string', default: '3' },
  },
});
const latencySamples = Number(values['latency-samples']);
const models = (name: string) => fileURLToPath(new URL(`../models/${name}`, import.meta.url));
const splits = mnistSplits(1);

async function latencyTable(): Promise<void> {
  await useBackend('wasm');
  const branchy = TfjsNetwork.fromSource(loadModelDir(models('b-lenet-mnist')));
  const base = TfjsNetwork.fromSource(loadModelDir(models('lenet-mnist')));
  const evaluation = await evaluateExits(branchy, splits.test);
  // Interleave the two networks in rounds so drift in machine load hits both alike.
  const rounds = 4;
  const per = Math.floor(latencySamples / rounds);
  const acc = { early: [] as number[], base: [] as number[], finalOnly: [] as number[] };
  const time = { early: 0, base: 0, finalOnly: 0 };
  for (let r = 0; r < rounds; r++) {
    const part = subset(
      splits.test,
      Uint32Array.from({ length: per }, (_, i) => r * per + i),
    );
    const e = await measureLatency(branchy, part);
    const b = await measureLatency(base, part);
    const f = await measureLatency(branchy, part, { finalOnly: true });
    time.early += e.meanMs / rounds;
    time.base += b.meanMs / rounds;
    time.finalOnly += f.meanMs / rounds;
    acc.early.push(e.accuracy);
    acc.base.push(b.accuracy);
    acc.finalOnly.push(f.accuracy);
  }
  const baseEval = await evaluateExits(base, splits.test);
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  console.log(
    `Batch-1 latency on tfjs-wasm, ${rounds * per} MNIST test digits one at a time (mnist package, split seed 1); thresholds [${evaluation.thresholds.map((t) => t.toPrecision(4))}] chosen on the validation split.\n`,
  );
  console.log(
    formatTable([
      ['network', 'test accuracy', 'leaving at exit 1', 'mean latency', 'speed-up vs lenet'],
      ['b-lenet, early exit', percent(evaluation.accuracy), percent(evaluation.exitShare[0], 1), ms(time.early), `${(time.base / time.early).toFixed(2)}x`],
      ['b-lenet, final exit only', percent(evaluation.finalAccuracy), '-', ms(time.finalOnly), `${(time.base / time.finalOnly).toFixed(2)}x`],
      ['lenet (baseline)', percent(baseEval.finalAccuracy), '-', ms(time.base), '1.00x'],
    ]),
  );
  console.log(`\n(batch-1 accuracy check: early ${percent(mean(acc.early))}, lenet ${percent(mean(acc.base))})\n`);
  // Where a batch-1 answer's time goes, per stage and exit head (each timer covers its piece as the runner pays it).
  const sums = { stage: [0, 0], exit: [0, 0], entered: [0, 0] };
  const n = Math.min(latencySamples, splits.test.count);
  const row = 28 * 28;
  for (let i = 0; i < n; i++) {
    const { timing } = await runEarlyExit(branchy, { data: splits.test.x.subarray(i * row, (i + 1) * row), shape: [1, 28, 28, 1] });
    for (let k = 0; k < 2; k++) {
      sums.stage[k] += timing.stageMs[k];
      sums.exit[k] += timing.exitMs[k];
      sums.entered[k] += timing.entered[k];
    }
  }
  console.log(
    formatTable([
      ['piece', 'samples entering', 'mean time per entering sample'],
      ...[0, 1].flatMap((k) => [
        [`stage ${k + 1}`, sums.entered[k], ms(sums.stage[k] / Math.max(sums.entered[k], 1))],
        [`exit ${k + 1} (head + softmax + criterion)`, sums.entered[k], ms(sums.exit[k] / Math.max(sums.entered[k], 1))],
      ]),
    ]),
  );
  console.log('');
  branchy.dispose();
  base.dispose();
}

async function trainThroughput(backend: TfjsBackend, steps: number): Promise<number> {
  await useBackend(backend);
  const batch = 64;
  const train = subset(
    splits.train,
    Uint32Array.from({ length: steps * batch }, (_, i) => i),
  );
  const net = new TfjsNetwork(bLenet(), undefined, 1);
  let started = 0;
  let first = true;
  await trainNetwork(
    net,
    { train, validation: subset(splits.validation, new Uint32Array([0, 1])) },
    { ...DEFAULT_TRAIN_OPTIONS, epochs: 1, batchSize: batch },
    {
      onEvent: (e) => {
        // The first step pays one-off costs (kernel set-up, Adam slots): time from the second step on.
        if (e.type === 'step' && first) {
          first = false;
          started = performance.now();
        }
      },
    },
  );
  const seconds = (performance.now() - started) / 1000;
  net.dispose();
  return ((steps - 1) * batch) / seconds;
}

await latencyTable();
const wasm = await trainThroughput('wasm', Number(values['train-steps']));
const cpu = await trainThroughput('cpu', Number(values['cpu-steps']));
console.log(`Training throughput, joint B-LeNet (2 exits), batch 64, Adam, real MNIST digits:\n`);
console.log(
  formatTable([
    ['backend', 'samples/s', 'vs cpu'],
    ['tfjs-wasm', wasm.toFixed(0), `${(wasm / cpu).toFixed(1)}x`],
    ['tfjs-cpu', cpu.toFixed(1), '1.0x'],
  ]),
);
