/**
 * Do thresholds chosen on a validation split hold on the test split? For a calibrated model, the samples of its
 * validation and test splits (neither seen in training) are pooled and cut at random into validation and test
 * halves, 20 times. On each validation half, thresholds are chosen by each rule and budget — `--max-drop P`
 * (net accuracy drop), `--max-loss P` (samples an early exit gets wrong where the final exit is right), and each
 * with `--confidence C` (the rule's upper confidence bound within P) — on the exact Pareto front with the costs
 * profiled once on this machine. The table prints, per rule and budget, how often the test drop stayed within the
 * budget, the mean and worst test drop, and the mean share answered early (what the rule pays for its safety).
 *
 * Run: node --import tsx bench/threshold-splits.ts [--model models/b-lenet-mnist] [--data mnist] [--split-seed 1]
 *      [--splits 20] [--budgets 0.2,0.5,1] [--confidence 0.95]
 */
import { parseArgs } from 'node:util';
import { chooseGuardedPoint, chooseOperatingPoint, paretoFront, profileCosts, type GuardedConstraint } from '../src/calibrate/index.ts';
import { Rng } from '../src/common/rng.ts';
import { loadDataSource } from '../src/data/index.ts';
import { getCriterion } from '../src/exit/index.ts';
import { allExitsOver, argmaxRow, type AllExitsResult } from '../src/infer/index.ts';
import { openModel } from '../src/open/open-model.ts';
import { formatTable } from '../src/report/text-table.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/b-lenet-mnist' },
    data: { type: 'string', default: 'mnist' },
    'split-seed': { type: 'string', default: '1' },
    splits: { type: 'string', default: '20' },
    budgets: { type: 'string', default: '0.2,0.5,1' },
    confidence: { type: 'string', default: '0.95' },
  },
});
const budgets = values.budgets.split(',').map((b) => Number(b) / 100);
const confidence = Number(values.confidence);
const splits = Number(values.splits);

const { model, net } = await openModel(values.model);
const criterion = getCriterion(model.spec.policy.criterion);
const data = loadDataSource(values.data, Number(values['split-seed']));
const pool = {
  x: Float32Array.from([...data.validation.x, ...data.test.x]),
  y: Uint8Array.from([...data.validation.y, ...data.test.y]),
  shape: data.validation.shape,
  count: data.validation.count + data.test.count,
};
const profile = await profileCosts(net, data.validation, { batch1Samples: 200, batchSize: 256 });
const table = await allExitsOver(net, pool);
net.dispose();

function rows(t: AllExitsResult, idx: Uint32Array): AllExitsResult {
  const C = t.classes;
  return {
    count: idx.length,
    classes: C,
    probs: t.probs.map((p) => {
      const out = new Float32Array(idx.length * C);
      idx.forEach((i, r) => out.set(p.subarray(i * C, (i + 1) * C), r * C));
      return out;
    }),
  };
}

/** Test accuracy drop (final alone minus early exit) and share answered early, for thresholds. */
function onTest(t: AllExitsResult, labels: Uint8Array, thresholds: number[]): { drop: number; early: number } {
  const C = t.classes;
  const last = t.probs.length - 1;
  let right = 0;
  let finalRight = 0;
  let early = 0;
  for (let i = 0; i < t.count; i++) {
    let exit = last;
    for (let n = 0; n < last; n++)
      if (criterion.score(t.probs[n], C, i * C) < thresholds[n]) {
        exit = n;
        break;
      }
    if (exit < last) early++;
    if (argmaxRow(t.probs[exit], i * C, C) === labels[i]) right++;
    if (argmaxRow(t.probs[last], i * C, C) === labels[i]) finalRight++;
  }
  return { drop: (finalRight - right) / t.count, early: early / t.count };
}

type Rule = { name: string; choose: (budget: number) => GuardedConstraint | { maxDrop: number } };
const rules: Rule[] = [
  { name: '--max-drop P', choose: (b) => ({ maxDrop: b }) },
  { name: '--max-loss P', choose: (b) => ({ maxLoss: b }) },
  { name: `--max-drop P --confidence ${confidence}`, choose: (b) => ({ maxDrop: b, confidence }) },
  { name: `--max-loss P --confidence ${confidence}`, choose: (b) => ({ maxLoss: b, confidence }) },
];
const results = new Map<string, { drops: number[]; early: number[] }>();
const half = Math.floor(pool.count / 2);
for (let s = 0; s < splits; s++) {
  const order = new Rng(1000 + s).permutation(pool.count);
  const val = order.slice(0, half);
  const test = order.slice(half);
  const valTable = rows(table, val);
  const testTable = rows(table, test);
  const valY = Uint8Array.from(val, (i) => pool.y[i]);
  const testY = Uint8Array.from(test, (i) => pool.y[i]);
  const front = paretoFront(valTable, valY, criterion, profile.costToExit, { baselineCost: profile.finalOnlyCost });
  for (const rule of rules)
    for (const budget of budgets) {
      const c = rule.choose(budget);
      const point = 'maxLoss' in c || 'confidence' in c ? chooseGuardedPoint(front, valTable, valY, criterion, c).point : chooseOperatingPoint(front, c);
      const r = onTest(testTable, testY, point.thresholds);
      const key = `${rule.name}|${budget}`;
      const entry = results.get(key) ?? { drops: [], early: [] };
      entry.drops.push(r.drop);
      entry.early.push(r.early);
      results.set(key, entry);
    }
}

const pts = (x: number) => `${(100 * x).toFixed(2)}`;
const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
process.stdout.write(
  `${model.spec.name} (${values.model}), ${data.source}: validation and test pooled (${pool.count} samples), ${splits} random halves of ${half} / ${pool.count - half}; costs profiled on ${profile.runtime}\n\n`,
);
process.stdout.write(
  formatTable([
    ['rule', 'budget P (points)', 'test drop within P', 'mean test drop', 'worst test drop', 'answered early (mean)'],
    ...[...results.entries()].map(([key, r]) => {
      const [name, budget] = key.split('|');
      const within = r.drops.filter((d) => d <= Number(budget) + 1e-12).length;
      return [name, pts(Number(budget)), `${within}/${r.drops.length}`, pts(mean(r.drops)), pts(Math.max(...r.drops)), `${(100 * mean(r.early)).toFixed(1)}%`];
    }),
  ]) + '\n',
);
