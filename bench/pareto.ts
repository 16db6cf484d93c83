/**
 * Exact accuracy/cost Pareto front (`paretoFront`) on a realistic synthetic exit table, against a simple baseline
 * run in the same process: the paper-style grid of 10 thresholds per exit (every combination evaluated on every
 * sample). Prints the timings (best of a few runs), the front size, the candidate cuts per exit, the search
 * counters, and what the grid misses compared with the exact front.
 *
 * The table: 3 early exits + final, 10 classes, exit accuracies about 80/90/95/98 %, with confidence correlated
 * with correctness and across exits (a shared per-sample difficulty), seeded.
 *
 * Run: node --import tsx bench/pareto.ts [--samples 10000] [--runs 5] [--seed 1] [--criterion entropy]
 *      [--accuracies 0.8,0.9,0.95,0.98]
 */
import { parseArgs } from 'node:util';
import { chooseOperatingPoint, paretoFront, type ParetoStats } from '../src/calibrate/pareto.ts';
import type { OperatingConstraint, ParetoPoint } from '../src/calibrate/types.ts';
import { Rng } from '../src/common/rng.ts';
import { firstPassingExit, getCriterion, type ExitCriterion } from '../src/exit/index.ts';
import type { AllExitsResult } from '../src/infer/index.ts';

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '5' },
    seed: { type: 'string', default: '1' },
    criterion: { type: 'string', default: 'entropy' },
    accuracies: { type: 'string', default: '0.8,0.9,0.95,0.98' },
  },
});
const samples = Number(values.samples);
const runs = Number(values.runs);
const seed = Number(values.seed);
const accuracies = values.accuracies.split(',').map(Number);
const criterion = getCriterion(values.criterion);
const classes = 10;
// Cost to reach and evaluate each exit, in units of the first exit: later stages cost more, as in B-ResNet-style
// networks where the trunk grows wider.
const costToExit = accuracies.map((_, n) => 1 + 0.9 * n + 0.1 * n * n);

/** Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9): places each exit's mean. */
function probit(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  if (p < 0.02425) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - 0.02425) return -probit(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/**
 * Each sample has a difficulty shared by all exits; at exit n it is right when μ_n − 0.8·difficulty + 0.6·noise > 0
 * (so P(right) = Φ(μ_n) = the exit's accuracy). The predicted class's logit grows with the margin of that latent
 * value, far more for right answers than for wrong ones, so confidence tracks correctness without separating it
 * perfectly, and a sample hard at one exit tends to be hard at the next.
 */
function realisticTable(count: number, accs: number[], tableSeed: number): { table: AllExitsResult; labels: Uint8Array } {
  const rng = new Rng(tableSeed);
  const labels = new Uint8Array(count).map(() => rng.int(classes));
  const rho = 0.8;
  const difficulty = Float64Array.from({ length: count }, () => rng.normal());
  const probs = accs.map((acc) => {
    const mu = probit(acc);
    const p = new Float32Array(count * classes);
    for (let i = 0; i < count; i++) {
      const z = mu - rho * difficulty[i] + Math.sqrt(1 - rho * rho) * rng.normal();
      const right = z > 0;
      const predicted = right ? labels[i] : (labels[i] + 1 + rng.int(classes - 1)) % classes;
      const boost = 2.5 + 2.2 * Math.abs(z) * (right ? 1 : 0.35) + 0.5 * rng.normal();
      let sum = 0;
      for (let c = 0; c < classes; c++) {
        const logit = 0.5 * rng.normal() + (c === predicted ? boost : 0) + (!right && c === labels[i] ? 0.8 : 0);
        p[i * classes + c] = Math.exp(logit);
        sum += p[i * classes + c];
      }
      for (let c = 0; c < classes; c++) p[i * classes + c] /= sum;
    }
    return p;
  });
  return { table: { count, classes, probs }, labels };
}

/** The baseline: 10 thresholds per exit, evenly spaced over the criterion's range, every combination applied to every sample. */
function gridFront(table: AllExitsResult, labels: Uint8Array, crit: ExitCriterion, costs: number[]): ParetoPoint[] {
  const { count: N, classes: C, probs } = table;
  const X = probs.length;
  const E = X - 1;
  const scores = probs.map((p) => Float64Array.from({ length: N }, (_, i) => crit.score(p, C, i * C)));
  const right = probs.map((p) =>
    Uint8Array.from({ length: N }, (_, i) => {
      let best = 0;
      for (let c = 1; c < C; c++) if (p[i * C + c] > p[i * C + best]) best = c;
      return best === labels[i] ? 1 : 0;
    }),
  );
  const upper = crit.range(C)[1];
  const grid = Array.from({ length: 10 }, (_, k) => (upper * k) / 9);
  const finalCorrect = right[E].reduce((a, b) => a + b, 0);
  const points: ParetoPoint[] = [];
  const thresholds = new Array<number>(E).fill(0);
  const perSample = new Array<number>(X);
  const visit = (n: number): void => {
    if (n < E) {
      for (const t of grid) {
        thresholds[n] = t;
        visit(n + 1);
      }
      return;
    }
    const counts = new Array<number>(X).fill(0);
    let correct = 0;
    for (let i = 0; i < N; i++) {
      for (let m = 0; m < X; m++) perSample[m] = scores[m][i];
      const e = firstPassingExit(perSample, thresholds);
      counts[e]++;
      correct += right[e][i];
    }
    const exitShare = counts.map((k) => k / N);
    const expectedCost = exitShare.reduce((s, share, m) => s + share * costs[m], 0);
    points.push({
      thresholds: thresholds.slice(),
      accuracy: correct / N,
      expectedCost,
      exitShare,
      speedUp: costs[E] / expectedCost,
      accuracyDrop: (finalCorrect - correct) / N,
    });
  };
  visit(0);
  points.sort((a, b) => a.expectedCost - b.expectedCost || b.accuracy - a.accuracy);
  const front: ParetoPoint[] = [];
  for (const p of points) if (front.length === 0 || p.accuracy > front[front.length - 1].accuracy) front.push(p);
  return front;
}

function bestOf<T>(n: number, f: () => T): { ms: number; value: T } {
  let ms = Infinity;
  let value = f();
  for (let r = 0; r < n; r++) {
    const t0 = performance.now();
    value = f();
    ms = Math.min(ms, performance.now() - t0);
  }
  return { ms, value };
}

const { table, labels } = realisticTable(samples, accuracies, seed);
const exitAccuracy = table.probs.map((p) => {
  let ok = 0;
  for (let i = 0; i < samples; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (p[i * classes + c] > p[i * classes + best]) best = c;
    if (best === labels[i]) ok++;
  }
  return ok / samples;
});

let stats: ParetoStats | undefined;
const exact = bestOf(runs, () => paretoFront(table, labels, criterion, costToExit, { onStats: (s) => (stats = s) }));
const grid = bestOf(Math.max(1, Math.min(runs, 3)), () => gridFront(table, labels, criterion, costToExit));
// A fixed amount of plain arithmetic, to tell a slow machine from a slow algorithm.
const reference = bestOf(3, () => {
  const a = new Float64Array(1e6).map((_, i) => i % 7);
  let s = 0;
  for (let k = 0; k < 100; k++) for (let i = 0; i < a.length; i++) s += a[i];
  return s;
});

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
console.log(
  `Exit table: ${samples} samples, ${classes} classes, ${accuracies.length - 1} early exits + final; exit accuracies ${exitAccuracy.map(pct).join(' / ')}; criterion ${criterion.name}; seed ${seed}; costToExit [${costToExit.map((c) => c.toFixed(2)).join(', ')}].`,
);
console.log(`Machine reference: 100M float adds in ${reference.ms.toFixed(0)} ms (about 70–100 ms on a current laptop core).`);
console.log();
console.log(`paretoFront (exact)           best of ${runs}: ${exact.ms.toFixed(1)} ms, ${exact.value.length} points on the front`);
console.log(
  `grid 10 thresholds per exit   best of ${Math.max(1, Math.min(runs, 3))}: ${grid.ms.toFixed(1)} ms, ${grid.value.length} points on its front (${10 ** (accuracies.length - 1)} combinations)`,
);
console.log(`ratio exact / grid: ${(exact.ms / grid.ms).toFixed(2)}`);
if (stats !== undefined) {
  console.log(`distinct cuts per early exit:      ${stats.distinctCuts.join(' / ')}`);
  console.log(`candidate cuts after the reduction: ${stats.candidates.join(' / ')}`);
  console.log(
    `search: ${stats.sweeps} sweeps, ${stats.pruned} subtrees pruned, ${stats.skipped} cuts skipped as dominated, ${stats.breaks} early level ends, ${stats.improvements} improvements`,
  );
}
console.log();
const constraints: OperatingConstraint[] = [{ maxDrop: 0 }, { maxDrop: 0.005 }, { maxDrop: 0.01 }, { targetSpeedup: 2 }, { targetSpeedup: 3 }];
const show = (p: ParetoPoint | undefined) =>
  p === undefined ? 'none' : `accuracy ${pct(p.accuracy)}, cost ${p.expectedCost.toFixed(3)}, speed-up ${p.speedUp.toFixed(2)}x`;
const attempt = (front: ParetoPoint[], c: OperatingConstraint) => {
  try {
    return chooseOperatingPoint(front, c);
  } catch {
    return undefined;
  }
};
console.log(`final exit only: accuracy ${pct(exitAccuracy[exitAccuracy.length - 1])}, cost ${costToExit[costToExit.length - 1].toFixed(3)}`);
for (const c of constraints) {
  console.log(`${JSON.stringify(c).padEnd(20)} exact: ${show(attempt(exact.value, c))}`);
  console.log(`${''.padEnd(20)} grid:  ${show(attempt(grid.value, c))}`);
}
