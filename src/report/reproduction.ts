import { BRANCHYNET_TABLE_I_SOURCE, type PaperPair } from './branchynet-table-1.ts';

/** How one trained network did, measured on the test split. */
export interface MeasuredNetwork {
  /** Zoo name, e.g. `b-lenet`. */
  model: string;
  /** Its model directory. */
  dir: string;
  /** Test accuracy as deployed: early exit under the chosen thresholds (for a baseline, its only exit). */
  accuracy: number;
  /** Each exit's test accuracy if it answered for every sample, final last. */
  exitAccuracy: number[];
  /** Mean batch-1 time per test sample, in ms, as deployed. */
  meanMs: number;
  p95Ms: number;
  /** Share of test samples leaving at each exit, final last. */
  exitShare: number[];
  /** Thresholds per early exit (empty for a baseline). */
  thresholds: number[];
  epochs: number;
  trainSamples: number;
  /** Wall-clock seconds of each training epoch. */
  epochSeconds: number[];
}

/** A baseline and its branchy form trained, calibrated and timed side by side on one data set. */
export interface MeasuredPair {
  baseline: MeasuredNetwork;
  branchy: MeasuredNetwork;
  /** The branchy network with its early exits skipped (the trunk alone), timed in the same rounds. */
  branchyFinalOnlyMs: number;
  /** Validation figures of the chosen operating point. */
  validation: { accuracy: number; finalAccuracy: number; predictedSpeedup: number };
  /** The paper's figures for this pair, when it reports them. */
  paper?: PaperPair;
}

/** One data set of a reproduction run. */
export interface MeasuredDataset {
  /** As given to `--data`, e.g. `fashion-mnist`. */
  name: string;
  title: string;
  source: string;
  counts: { train: number; validation: number; test: number };
  /** Test samples timed one at a time. */
  latencySamples: number;
  pairs: MeasuredPair[];
}

/** A data set the run could not use, and how to provide it. */
export interface AbsentDataset {
  name: string;
  reason: string;
  howTo: string;
}

/** Everything `branchy reproduce` measured. */
export interface ReproductionReport {
  command: string;
  machine: { cpu: string; cores: number; node: string };
  runtime: string;
  startedAt: string;
  minutes: number;
  /** The training recipe in words. */
  recipe: string;
  /** The threshold constraint in words. */
  constraint: string;
  datasets: MeasuredDataset[];
  absent: AbsentDataset[];
}

const pct = (share: number) => (100 * share).toFixed(2);
const list = (values: number[], format: (v: number) => string) => (values.length === 0 ? '-' : values.map(format).join(', '));
const threshold = (t: number) => (t === Infinity ? '∞' : `${+t.toPrecision(3)}`);
const mean = (xs: number[]) => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

function pairRows(pair: MeasuredPair, paperName: (model: string) => string): string[] {
  const { baseline, branchy, paper } = pair;
  const gain = baseline.meanMs / branchy.meanMs;
  const rows: string[] = [];
  if (paper) rows.push(`| ${paper.baseline.network} | paper | ${paper.baseline.accuracyPercent.toFixed(2)} | ${paper.baseline.timeMs} | - | - | - |`);
  rows.push(`| ${paperName(baseline.model)} | here | ${pct(baseline.accuracy)} | ${baseline.meanMs.toFixed(3)} | - | - | - |`);
  if (paper) {
    const b = paper.branchy;
    rows.push(
      `| ${b.network} | paper | ${b.accuracyPercent.toFixed(2)} | ${b.timeMs} | ${b.gain}x | ${list(b.thresholds ?? [], String)} | ${list(b.exitPercent ?? [], String)} |`,
    );
  }
  rows.push(
    `| ${paperName(branchy.model)} | here | ${pct(branchy.accuracy)} | ${branchy.meanMs.toFixed(3)} | ${gain.toFixed(2)}x | ${list(branchy.thresholds, threshold)} | ${list(branchy.exitShare, (s) => (100 * s).toFixed(1))} |`,
  );
  return rows;
}

/** Display names as the paper writes them. */
const DISPLAY: Record<string, string> = {
  lenet: 'LeNet',
  'b-lenet': 'B-LeNet',
  alexnet: 'AlexNet',
  'b-alexnet': 'B-AlexNet',
  resnet110: 'ResNet-110',
  'b-resnet110': 'B-ResNet-110',
  resnet20: 'ResNet-20',
  'b-resnet20': 'B-ResNet-20',
};
const displayName = (model: string) => DISPLAY[model] ?? model;

/**
 * The reproduction as Markdown: per data set a table in the layout of the paper's Table I, the paper's rows beside
 * the ones measured here; then per-exit detail, training time per epoch, absent data sets, and how it was run.
 */
export function renderReproductionMarkdown(r: ReproductionReport): string {
  const out: string[] = [
    '# BranchyNet reproduction',
    '',
    `Command: \`${r.command}\``,
    '',
    `Machine: ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}; engine ${r.runtime}; started ${r.startedAt}, ${r.minutes.toFixed(1)} minutes in all.`,
    '',
    `Recipe: ${r.recipe}`,
    '',
    `Thresholds: chosen on the validation split by an exact Pareto search over threshold vectors (entropy criterion), ${r.constraint}; everything below is measured on the test split.`,
    '',
    `Paper rows: ${BRANCHYNET_TABLE_I_SOURCE}. Times are mean batch-1 milliseconds per test sample; "here" times come from one process timing the baseline, the branchy network with early exit and its trunk alone in alternating rounds on the same samples, so read the gain (baseline time / branchy time) rather than absolute times.`,
  ];
  for (const d of r.datasets) {
    out.push(
      '',
      `## ${d.title}`,
      '',
      `Data: ${d.source}; ${d.counts.train} train / ${d.counts.validation} validation / ${d.counts.test} test samples; ${d.latencySamples} test samples timed one at a time.`,
      '',
    );
    out.push('| Network | Source | Acc. (%) | Time (ms) | Gain | Thrshld. T | Exit (%) |', '|---|---|---|---|---|---|---|');
    for (const pair of d.pairs) out.push(...pairRows(pair, displayName));
    if (d.pairs.every((p) => !p.paper)) out.push('', 'The paper reports no figures for this data set.');
    out.push('');
    for (const p of d.pairs) {
      const b = p.branchy;
      out.push(
        `- ${displayName(b.model)}: each exit alone on the test split ${b.exitAccuracy.map((a, i) => `exit ${i + 1} ${pct(a)}%`).join(', ')}; ` +
          `trunk alone (early exits skipped) ${p.branchyFinalOnlyMs.toFixed(3)} ms, so early exit gains ${(p.branchyFinalOnlyMs / b.meanMs).toFixed(2)}x over its own trunk; ` +
          `on the validation split the chosen point reaches ${pct(p.validation.accuracy)}% (final exit ${pct(p.validation.finalAccuracy)}%) with a predicted speed-up of ${p.validation.predictedSpeedup.toFixed(2)}x.`,
      );
    }
  }
  out.push(
    '',
    '## Training time',
    '',
    '| Data set | Network | Epochs | Train samples | Seconds per epoch (mean) | Samples per second |',
    '|---|---|---|---|---|---|',
  );
  for (const d of r.datasets) {
    for (const p of d.pairs) {
      for (const n of [p.baseline, p.branchy]) {
        const s = mean(n.epochSeconds);
        out.push(`| ${d.name} | ${displayName(n.model)} | ${n.epochs} | ${n.trainSamples} | ${s.toFixed(1)} | ${Math.round(n.trainSamples / s)} |`);
      }
    }
  }
  if (r.absent.length > 0) {
    out.push('', '## Absent data sets', '');
    for (const a of r.absent) out.push(`- ${a.name}: ${a.reason} ${a.howTo}`);
  }
  return `${out.join('\n')}\n`;
}
