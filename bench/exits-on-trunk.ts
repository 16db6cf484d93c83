/**
 * Exits added to a trained trunk (`branchy add-exits`, then `calibrate`) against that trunk alone: batch-1 latency
 * on onnxruntime over the test split, in alternating rounds of the same run, and the speed-up the calibration's cost
 * profile predicted. Made for an imported ONNX trunk (examples/pytorch-trunk/), but any trunk and its exits-added
 * model directory will do.
 *
 * Run: node --import tsx bench/exits-on-trunk.ts --model DIR --trunk DIR [--data mnist] [--samples N] [--rounds N] [--threads N]
 */
import { parseArgs } from 'node:util';
import { loadDataSource, subset } from '../src/data/index.ts';
import type { LoadedNetwork } from '../src/engine/types.ts';
import { timeAlternating, type LatencyContender } from '../src/infer/index.ts';
import { readStoredCalibration } from '../src/io/index.ts';
import { openModel } from '../src/open/open-model.ts';
import { formatTable, ms, percent } from '../src/report/text-table.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    trunk: { type: 'string' },
    data: { type: 'string', default: 'mnist' },
    samples: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1' },
  },
});
if (values.model === undefined || values.trunk === undefined) throw new Error('usage: exits-on-trunk.ts --model DIR --trunk DIR [--data D]');
const threads = Number(values.threads);
const { model, net } = await openModel(values.model, { engine: 'ort', threads });
const { net: trunk } = await openModel(values.trunk, { engine: 'ort', threads });
const calibration = readStoredCalibration(model.manifest, model.dir);
if (!calibration) throw new Error(`${values.model} is not calibrated; run: branchy calibrate ${values.model} --data ${values.data}`);
const chosen = calibration.front[calibration.chosen];
const splits = loadDataSource(values.data!, 1);
const test = subset(
  splits.test,
  Uint32Array.from({ length: Math.min(Number(values.samples), splits.test.count) }, (_, i) => i),
);

const contenders: [string, LatencyContender][] = [
  ['with exits, early exit', { net, options: { thresholds: chosen.thresholds, criterion: calibration.criterion } }],
  ['with exits, final exit only', { net, options: { finalOnly: true } }],
  ['trunk alone', { net: trunk as LoadedNetwork, options: {} }],
];
await timeAlternating(
  contenders.map(([, c]) => c),
  test,
  Math.min(100, test.count),
); // warm-up
const totals = contenders.map(() => ({ meanMs: 0, p50Ms: 0, p95Ms: 0, accuracy: 0, exitShare: [] as number[] }));
const rounds = Number(values.rounds);
for (let r = 0; r < rounds; r++) {
  const measured = await timeAlternating(
    contenders.map(([, c]) => c),
    test,
  );
  measured.forEach((m, i) => {
    totals[i].meanMs += m.meanMs / rounds;
    totals[i].p50Ms += m.p50Ms / rounds;
    totals[i].p95Ms += m.p95Ms / rounds;
    totals[i].accuracy = m.accuracy;
    totals[i].exitShare = m.exitShare;
  });
}
const base = totals[2].meanMs;
const profile = calibration.profile;
const expected = totals[0].exitShare.reduce((sum, s, n) => sum + s * profile.costToExit[n], 0);
const rows: (string | number)[][] = [['network', 'test accuracy', 'leaving at exit 1', 'mean ms', 'p50 ms', 'p95 ms', 'speed-up over the trunk']];
contenders.forEach(([name], i) =>
  rows.push([
    name,
    percent(totals[i].accuracy),
    i === 0 ? percent(totals[i].exitShare[0], 1) : '-',
    ms(totals[i].meanMs),
    ms(totals[i].p50Ms),
    ms(totals[i].p95Ms),
    `${(base / totals[i].meanMs).toFixed(2)}x`,
  ]),
);
console.log(
  `${model.spec.name} on ${net.runtime} (${threads} thread), batch 1, ${test.count} test samples of ${splits.source}, ${rounds} rounds alternating the three.`,
);
console.log(
  `Thresholds [${chosen.thresholds.map((t) => t.toPrecision(4))}] (${calibration.criterion}) chosen on the validation split: ${calibration.constraint}.`,
);
console.log(
  `Predicted by the calibration's cost profile at the exit shares measured here: ${(profile.finalOnlyCost / expected).toFixed(2)}x over the final exit only.\n`,
);
console.log(formatTable(rows));
net.dispose();
trunk.dispose();
