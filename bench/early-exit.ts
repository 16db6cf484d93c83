/**
 * Early exit as calibrated vs the network without exits, batch 1 and batch 256, same run, same engine:
 * calibrated B-LeNet (thresholds from `branchy calibrate`, chosen on the validation split) against LeNet on the
 * test split. Prints accuracy, mean latency per sample, the speed-up, and the ratio of the achieved speed-up to the
 * one the cost model predicted (target ≥ 0.9: the runtime's own overhead must not eat the gain).
 *
 * Run: node --import tsx bench/early-exit.ts [--model DIR] [--baseline DIR] [--rounds N]
 * The model directory must have been calibrated first: branchy calibrate models/b-lenet-mnist
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { formatTable, ms, percent } from '../src/report/text-table.ts';
import { mnistSplits } from '../src/data/index.ts';
import { useBackend } from '../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../src/engine/tfjs/network.ts';
import type { LoadedNetwork } from '../src/engine/types.ts';
import type { EarlyExitOptions } from '../src/infer/index.ts';
import { timedRun } from './timed-runs.ts';
import { loadModelDir, readStoredCalibration } from '../src/io/index.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: fileURLToPath(new URL('../models/b-lenet-mnist', import.meta.url)) },
    baseline: { type: 'string', default: fileURLToPath(new URL('../models/lenet-mnist', import.meta.url)) },
    rounds: { type: 'string', default: '3' },
  },
});
await useBackend('wasm');
const model = loadModelDir(values.model!);
const calibration = readStoredCalibration(model.manifest, model.dir);
if (!calibration) throw new Error(`${values.model} is not calibrated; run: branchy calibrate ${values.model}`);
const chosen = calibration.front[calibration.chosen];
const branchy = TfjsNetwork.fromSource(model);
const base = TfjsNetwork.fromSource(loadModelDir(values.baseline!));
const test = mnistSplits(1).test;
const policy: EarlyExitOptions = { thresholds: chosen.thresholds, criterion: calibration.criterion };

/** Mean ms per sample and accuracy of a network over the test split in batches of `size`. */
function run(net: LoadedNetwork, size: number, options: EarlyExitOptions) {
  return timedRun(net, test, size, options);
}

const rounds = Number(values.rounds);
const rows: (string | number)[][] = [
  ['batch', 'network', 'test accuracy', 'leaving at exit 1', 'ms per sample', 'speed-up', 'predicted', 'achieved / predicted'],
];
for (const size of [1, 256]) {
  await run(branchy, size, policy); // warm-up, also for the engine's per-shape set-up
  await run(base, size, {});
  const early = { msPerSample: 0, accuracy: 0, exitShare: [0] };
  const plain = { msPerSample: 0, accuracy: 0 };
  // Alternate the two networks so drift in the machine's speed hits both alike.
  for (let r = 0; r < rounds; r++) {
    const e = await run(branchy, size, policy);
    const b = await run(base, size, {});
    early.msPerSample += e.msPerSample / rounds;
    plain.msPerSample += b.msPerSample / rounds;
    early.accuracy = e.accuracy;
    early.exitShare = e.exitShare;
    plain.accuracy = b.accuracy;
  }
  const profile = calibration.profile;
  const costs = size === 1 ? profile.costToExit : profile.costToExitBatched;
  const expected = early.exitShare.reduce((sum, s, n) => sum + s * costs[n], 0);
  const predicted = (size === 1 ? profile.finalOnlyCost : profile.finalOnlyCostBatched) / expected;
  const speedup = plain.msPerSample / early.msPerSample;
  rows.push([
    size,
    'b-lenet, early exit',
    percent(early.accuracy),
    percent(early.exitShare[0], 1),
    ms(early.msPerSample),
    `${speedup.toFixed(2)}x`,
    `${predicted.toFixed(2)}x`,
    (speedup / predicted).toFixed(2),
  ]);
  rows.push([size, 'lenet', percent(plain.accuracy), '-', ms(plain.msPerSample), '1.00x', '', '']);
}
console.log(`Calibrated early exit vs no exits on tfjs-wasm, ${test.count} MNIST test digits (mnist package, split seed 1), ${rounds} alternating rounds.`);
console.log(
  `Thresholds [${chosen.thresholds.map((t) => t.toPrecision(4))}] (${calibration.criterion}) chosen on the validation split: ${calibration.constraint}.`,
);
console.log('Predicted: from the cost profile stored by calibrate (b-lenet without its branch vs the exit shares measured here); lenet is that same trunk.\n');
console.log(formatTable(rows));
branchy.dispose();
base.dispose();
