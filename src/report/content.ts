/**
 * What the report says, independent of how it is written out: the HTML and Markdown renderers both walk this
 * structure, so the two formats cannot drift apart. All text here is plain (unescaped); each renderer escapes
 * for its own format.
 */
import { formatCount, formatMs, formatPercent, formatPoints, formatSeconds, formatSpeedup, formatThreshold } from './format.ts';
import type { CalibrationReportData, PlotName } from './types.ts';

/** A labelled fact of the report's header. */
export interface Fact {
  label: string;
  value: string;
}

/** A table of already formatted cells. */
export interface Table {
  head: string[];
  /** Per column; numbers read best right-aligned. */
  align: ('left' | 'right')[];
  rows: { cells: string[]; highlight?: boolean }[];
  /** Said under the table, e.g. which rows were left out. */
  note?: string;
}

/** A plot as the report places it. */
export interface PlotRef {
  name: PlotName;
  /** Text alternative for readers who cannot see the picture. */
  alt: string;
  caption: string;
}

/** One section: a heading, an optional lead paragraph, plots, then tables. */
export interface Section {
  heading: string;
  lead?: string;
  plots: PlotRef[];
  tables: Table[];
}

/** The whole report. */
export interface ReportContent {
  title: string;
  description?: string;
  facts: Fact[];
  sections: Section[];
  footer: string;
}

/** Front tables longer than this are thinned to about this many rows (the plot still shows every point). */
const MAX_FRONT_ROWS = 25;

/**
 * Builds the report's content from its data.
 * @throws RangeError when `chosen.index` does not point into `front`.
 */
export function buildReportContent(data: CalibrationReportData): ReportContent {
  const { front, chosen: choice, baseline, test } = data;
  if (!Number.isInteger(choice.index) || choice.index < 0 || choice.index >= front.length) {
    throw new RangeError(`chosen.index ${choice.index} is not a point of the front (${front.length} points)`);
  }
  const chosen = front[choice.index];
  const exits = Math.max(data.model.exits, data.perExitAccuracy.length, chosen.exitShare.length);
  const exitNames = Array.from({ length: exits }, (_, i) => `exit ${i + 1}`);
  const shares = (s: number[]) => s.map(formatPercent).join(' / ');
  const thresholds = (t: number[]) => (t.length ? t.map(formatThreshold).join(', ') : '–');

  const facts: Fact[] = [
    {
      label: 'Model',
      value: `${data.model.name}: ${data.model.exits} exits, ${formatCount(data.model.classes)} classes, ${data.model.params === null ? 'parameters unknown (imported from ONNX)' : `${formatCount(data.model.params)} parameters`}`,
    },
    {
      label: 'Data',
      value: `${data.data.source}; ${formatCount(data.data.validationCount)} validation samples, ${formatCount(data.data.testCount)} test samples`,
    },
    { label: 'Criterion', value: data.criterion },
    { label: 'Runtime', value: data.runtime },
    {
      label: 'Machine',
      value: `${data.machine.cpu}, ${formatCount(data.machine.cores)} cores, Node ${data.machine.node}; measured ${data.machine.measuredAt}`,
    },
    { label: 'Thresholds chosen by', value: `${choice.constraint} (front point #${choice.index})` },
    { label: 'Calibration time', value: formatSeconds(data.calibrationSeconds) },
  ];

  const result: Section = {
    heading: 'Test split at the chosen thresholds',
    lead:
      `Thresholds ${thresholds(chosen.thresholds)} (${data.criterion}), chosen on the validation split, run on ` +
      `${formatCount(data.data.testCount)} test samples next to the same network without early exits, in the same run. ` +
      `Samples leaving at ${exitNames.join(' / ')}: ${shares(test.exitShare)}.`,
    plots: [],
    tables: [
      {
        head: ['', 'early exit (chosen)', 'no early exit', 'difference'],
        align: ['left', 'right', 'right', 'right'],
        rows: [
          { cells: ['accuracy', formatPercent(test.accuracy), formatPercent(test.finalAccuracy), formatPoints(test.accuracy - test.finalAccuracy)] },
          {
            cells: [
              'mean latency per sample (batch 1)',
              formatMs(test.earlyExitMeanMs),
              formatMs(test.finalOnlyMeanMs),
              formatMs(test.earlyExitMeanMs - test.finalOnlyMeanMs),
            ],
          },
          { cells: ['speed-up, measured', formatSpeedup(test.measuredSpeedup), formatSpeedup(1), ''] },
          { cells: ['speed-up, predicted by the cost model', formatSpeedup(test.predictedSpeedup), formatSpeedup(1), ''] },
        ],
      },
    ],
  };

  const frontRows = frontRowIndices(front.length, choice.index);
  const frontSection: Section = {
    heading: 'Validation Pareto front',
    lead:
      `${front.length} operating points on ${formatCount(data.data.validationCount)} validation samples, cheapest first. ` +
      `Chosen: #${choice.index} (${choice.constraint}), ${formatPercent(chosen.accuracy)} at ${formatMs(chosen.expectedCost)}. ` +
      `No early exit (final exit alone): ${formatPercent(baseline.accuracy)} at ${formatMs(baseline.cost)}.`,
    plots: [
      {
        name: 'pareto',
        alt: `Validation accuracy against mean cost per sample for ${front.length} threshold settings; chosen point ${formatPercent(chosen.accuracy)} at ${formatMs(chosen.expectedCost)}, no early exit ${formatPercent(baseline.accuracy)} at ${formatMs(baseline.cost)}.`,
        caption:
          'Accuracy against expected cost per sample (cost model, batch 1) for each point of the front; the dashed line is the accuracy without early exits.',
      },
    ],
    tables: [
      {
        head: ['#', 'thresholds', 'accuracy', 'vs no exit', 'mean cost', 'predicted speed-up', `share at ${exitNames.join(' / ')}`],
        align: ['right', 'left', 'right', 'right', 'right', 'right', 'left'],
        rows: frontRows.map((i) => {
          const p = front[i];
          const isChosen = i === choice.index;
          return {
            highlight: isChosen,
            cells: [
              isChosen ? `${i} (chosen)` : String(i),
              thresholds(p.thresholds),
              formatPercent(p.accuracy),
              formatPoints(p.accuracy - baseline.accuracy),
              formatMs(p.expectedCost),
              formatSpeedup(baseline.cost / p.expectedCost),
              shares(p.exitShare),
            ],
          };
        }),
        note:
          frontRows.length < front.length
            ? `Showing ${frontRows.length} of ${front.length} points: evenly spaced, plus the chosen point and its neighbours. The plot shows every point.`
            : undefined,
      },
    ],
  };

  const exitSection: Section = {
    heading: 'Exits',
    lead: `Each exit's own accuracy on every validation sample, and where samples leave at the chosen thresholds.`,
    plots: [
      {
        name: 'exit-share',
        alt: `Share of samples leaving at each exit at the chosen thresholds: validation ${shares(chosen.exitShare)}, test ${shares(test.exitShare)}.`,
        caption: 'Share of samples leaving at each exit at the chosen thresholds.',
      },
      {
        name: 'exit-accuracy',
        alt: `Validation accuracy of each exit alone: ${data.perExitAccuracy.map(formatPercent).join(', ')}.`,
        caption: 'Accuracy of each exit alone on the validation split; the dashed line is the early-exit network at the chosen thresholds.',
      },
    ],
    tables: [
      {
        head: ['exit', 'accuracy alone (validation)', 'threshold', 'share (validation)', 'share (test)', 'cost to reach'],
        align: ['left', 'right', 'right', 'right', 'right', 'right'],
        rows: exitNames.map((name, i) => ({
          cells: [
            name,
            formatPercent(data.perExitAccuracy[i]),
            // The final exit has no threshold: it answers for every sample still left.
            i < chosen.thresholds.length ? formatThreshold(chosen.thresholds[i]) : 'final',
            formatPercent(chosen.exitShare[i]),
            formatPercent(test.exitShare[i]),
            formatMs(data.costProfile.costToExit[i]),
          ],
        })),
      },
    ],
  };

  const pieces = data.costProfile.pieces;
  const costSection: Section = {
    heading: 'Cost profile',
    lead: `Time per sample of each stage and exit head on ${data.runtime}, after warm-up. "Cost to reach" an exit counts the stages and exit heads before it and the criterion.`,
    plots: [
      {
        name: 'cost-profile',
        alt: `Batch-1 time per sample: ${pieces.map((p) => `${p.kind} ${p.index} ${formatMs(p.batch1MeanMs)}`).join(', ')}.`,
        caption: 'Batch-1 time per sample of each piece: bar = mean, whisker = 95th percentile.',
      },
    ],
    tables: [
      {
        head: ['piece', 'batch-1 mean', 'batch-1 p95', 'batched mean', 'batch size', 'FLOPs', 'parameters'],
        align: ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
        rows: pieces.map((p) => ({
          cells: [
            `${p.kind} ${p.index}`,
            formatMs(p.batch1MeanMs),
            formatMs(p.batch1P95Ms),
            formatMs(p.batchedMeanMs),
            formatCount(p.batchSize),
            formatCount(p.flops ?? NaN),
            formatCount(p.params ?? NaN),
          ],
        })),
      },
    ],
  };

  return {
    title: `Calibration report: ${data.model.name}`,
    description: data.model.description,
    facts,
    sections: [result, frontSection, exitSection, costSection],
    footer: `Written by branchy. Times are wall-clock on the machine above; the cost model predicts from the batch-1 means.`,
  };
}

/** Which front points a table shows: all of a short front; otherwise evenly spaced ones, the ends, and the chosen point with its neighbours. */
export function frontRowIndices(count: number, chosen: number): number[] {
  if (count <= MAX_FRONT_ROWS) return Array.from({ length: count }, (_, i) => i);
  const keep = new Set<number>([0, count - 1, chosen - 1, chosen, chosen + 1].filter((i) => i >= 0 && i < count));
  const spaced = MAX_FRONT_ROWS - keep.size;
  for (let k = 0; k < spaced; k++) keep.add(Math.round((k * (count - 1)) / (spaced - 1)));
  return [...keep].sort((a, b) => a - b);
}
