/**
 * Vega-Lite specs for the report's plots. Pure functions of the report data: no rendering here, so a spec can
 * be checked, saved or rendered elsewhere (see `render-svg.ts`).
 *
 * The data is inlined as `values`: a spec never names a URL, so rendering it needs no loader.
 */
import type { TopLevelSpec } from 'vega-lite';
// Labels inside the plots use the tables' formats, so a figure read off a plot matches the table.
import { formatMs as ms, formatPercent as pct } from './format.ts';
import type { CalibrationReportData, PlotName } from './types.ts';

/** Colours chosen to stay apart for the common kinds of colour blindness (Okabe–Ito). */
const COLOR = { front: '#0072B2', chosen: '#D55E00', baseline: '#000000', validation: '#0072B2', test: '#E69F00', stage: '#56B4E9', exit: '#009E73' };

/**
 * Shared look: no chart frame, readable font sizes, white background (the SVG may be viewed on its own, where a
 * transparent background would take the viewer's colour).
 */
const CONFIG = {
  background: 'white',
  padding: 8,
  font: 'sans-serif',
  view: { stroke: null },
  axis: { labelFontSize: 12, titleFontSize: 13, titleFontWeight: 'normal', titlePadding: 8, labelColor: '#333', titleColor: '#111' },
  legend: { labelFontSize: 12, titleFontSize: 12, titleFontWeight: 'normal', orient: 'top', labelLimit: 400 },
} as const;

const exitLabel = (i: number) => `exit ${i + 1}`;

/** Accuracy against mean cost per sample for every point of the validation front, the chosen point and the no-exit baseline labelled. */
export function paretoSpec(data: CalibrationReportData): TopLevelSpec {
  const chosen = data.front[data.chosen.index];
  const front = data.front.map((p, i) => ({ index: i, cost: p.expectedCost, accuracy: p.accuracy }));
  const marked = [
    {
      series: 'chosen thresholds',
      cost: chosen.expectedCost,
      accuracy: chosen.accuracy,
      label: `chosen: ${pct(chosen.accuracy)} at ${ms(chosen.expectedCost)}`,
    },
    {
      series: 'no early exit',
      cost: data.baseline.cost,
      accuracy: data.baseline.accuracy,
      label: `no early exit: ${pct(data.baseline.accuracy)} at ${ms(data.baseline.cost)}`,
    },
  ];
  // One colour/shape scale across the layers, so a single legend explains all three kinds of point.
  const color = {
    field: 'series',
    type: 'nominal',
    title: null,
    scale: { domain: ['validation front', 'chosen thresholds', 'no early exit'], range: [COLOR.front, COLOR.chosen, COLOR.baseline] },
  } as const;
  const shape = {
    field: 'series',
    type: 'nominal',
    title: null,
    scale: { domain: ['validation front', 'chosen thresholds', 'no early exit'], range: ['circle', 'circle', 'diamond'] },
  } as const;
  const x = { field: 'cost', type: 'quantitative', title: 'mean cost per sample (ms, batch 1, cost model)', scale: { zero: false, nice: true } } as const;
  const y = { field: 'accuracy', type: 'quantitative', title: 'validation accuracy', axis: { format: '.1%' }, scale: { zero: false, nice: true } } as const;
  const label = (datum: (typeof marked)[number], align: 'left' | 'right', color: string) => ({
    data: { values: [datum] },
    mark: { type: 'text' as const, align, baseline: 'top' as const, dx: align === 'left' ? 9 : -9, dy: 7, fontSize: 12, fontWeight: 'bold' as const, color },
    encoding: { x, y, text: { field: 'label', type: 'nominal' as const } },
  });
  return {
    width: 860,
    height: 340,
    config: CONFIG,
    layer: [
      {
        data: { values: [marked[1]] },
        mark: { type: 'rule', strokeDash: [4, 4], color: '#888' },
        encoding: { y: { field: 'accuracy', type: 'quantitative' } },
      },
      {
        data: { values: front.map((p) => ({ ...p, series: 'validation front' })) },
        mark: { type: 'line', point: { filled: true, size: 30 }, strokeWidth: 1.5 },
        encoding: { x, y, color, shape, order: { field: 'cost', type: 'quantitative' } },
      },
      {
        data: { values: marked },
        mark: { type: 'point', filled: true, size: 150, stroke: 'white', strokeWidth: 1, opacity: 1 },
        encoding: { x, y, color, shape },
      },
      // Below and to the right of a point is empty on a Pareto front (nothing there is both cheaper and more
      // accurate than what lies left of it), and the part left of the baseline, below the flat top of the curve,
      // is empty too: labels placed there do not cover other points. Fixed colours, not the shared scale, so the
      // labels add nothing to the legend.
      label(marked[0], 'left', COLOR.chosen),
      label(marked[1], 'right', COLOR.baseline),
    ],
  };
}

/** Share of samples leaving at each exit at the chosen thresholds, validation next to test. */
export function exitShareSpec(data: CalibrationReportData): TopLevelSpec {
  const chosen = data.front[data.chosen.index];
  const exits = chosen.exitShare.map((_, i) => exitLabel(i));
  const values = [
    ...chosen.exitShare.map((share, i) => ({ exit: exitLabel(i), split: 'validation', share })),
    ...data.test.exitShare.map((share, i) => ({ exit: exitLabel(i), split: 'test', share })),
  ];
  const x = { field: 'exit', type: 'nominal', title: null, sort: exits, axis: { labelAngle: 0 } } as const;
  const xOffset = { field: 'split', type: 'nominal', sort: ['validation', 'test'] } as const;
  // Not `as const`: Vega-Lite's types want a mutable domain array.
  const y = { field: 'share', type: 'quantitative' as const, title: 'share of samples', axis: { format: '.0%' }, scale: { domain: [0, 1] } };
  return {
    width: 420,
    height: 280,
    config: CONFIG,
    data: { values },
    encoding: { x, xOffset, y },
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          color: { field: 'split', type: 'nominal', title: 'split', sort: ['validation', 'test'], scale: { range: [COLOR.validation, COLOR.test] } },
        },
      },
      { mark: { type: 'text', baseline: 'bottom', dy: -3, fontSize: 11 }, encoding: { text: { field: 'share', type: 'quantitative', format: '.2%' } } },
    ],
  };
}

/**
 * Accuracy of each exit alone on the validation split as dots, with the early-exit network at the chosen
 * thresholds as a rule. Dots, not bars: exit accuracies sit within a few points of each other near 100%, where
 * bars from zero all look the same.
 */
export function exitAccuracySpec(data: CalibrationReportData): TopLevelSpec {
  const chosen = data.front[data.chosen.index];
  const exits = data.perExitAccuracy.map((_, i) => exitLabel(i));
  const values = data.perExitAccuracy.map((accuracy, i) => ({ exit: exitLabel(i), accuracy }));
  const y = {
    field: 'accuracy',
    type: 'quantitative',
    title: 'accuracy of the exit alone',
    axis: { format: '.1%' },
    scale: { zero: false, nice: true },
  } as const;
  return {
    width: 420,
    height: 280,
    config: CONFIG,
    layer: [
      {
        data: { values: [{ accuracy: chosen.accuracy, label: `early exit, chosen thresholds: ${pct(chosen.accuracy)}` }] },
        layer: [
          { mark: { type: 'rule', color: COLOR.chosen, strokeDash: [5, 3], strokeWidth: 1.5 }, encoding: { y } },
          // Left end: exit 1 is usually the least accurate, so its dot sits far below the line there.
          {
            mark: { type: 'text', align: 'left', baseline: 'bottom', x: 4, dy: -4, fontSize: 11, color: COLOR.chosen },
            encoding: { y, text: { field: 'label', type: 'nominal' } },
          },
        ],
      },
      {
        data: { values },
        encoding: { x: { field: 'exit', type: 'nominal', title: null, sort: exits, axis: { labelAngle: 0 } }, y },
        layer: [
          { mark: { type: 'point', filled: true, size: 110, color: COLOR.validation, opacity: 1 } },
          {
            mark: { type: 'text', align: 'left', baseline: 'middle', dx: 10, fontSize: 11 },
            encoding: { text: { field: 'accuracy', type: 'quantitative', format: '.2%' } },
          },
        ],
      },
    ],
  };
}

/** Batch-1 time per sample of each stage and exit head: the bar is the mean, the whisker reaches the 95th percentile. */
export function costProfileSpec(data: CalibrationReportData): TopLevelSpec {
  const values = data.costProfile.pieces.map((p) => ({ piece: `${p.kind} ${p.index}`, kind: p.kind, mean: p.batch1MeanMs, p95: p.batch1P95Ms }));
  const pieces = values.map((v) => v.piece);
  const x = { field: 'piece', type: 'nominal', title: null, sort: pieces, axis: { labelAngle: pieces.length > 8 ? -45 : 0 } } as const;
  return {
    width: Math.max(420, 48 * pieces.length),
    height: 280,
    config: CONFIG,
    data: { values },
    encoding: { x },
    layer: [
      {
        mark: { type: 'bar', width: { band: 0.7 } },
        encoding: {
          y: { field: 'mean', type: 'quantitative', title: 'ms per sample (batch 1)' },
          color: {
            field: 'kind',
            type: 'nominal',
            title: 'piece',
            sort: ['stage', 'exit'],
            scale: { domain: ['stage', 'exit'], range: [COLOR.stage, COLOR.exit] },
          },
        },
      },
      { mark: { type: 'rule', color: '#333' }, encoding: { y: { field: 'mean', type: 'quantitative' }, y2: { field: 'p95' } } },
      { mark: { type: 'tick', color: '#333', thickness: 2, size: 14 }, encoding: { y: { field: 'p95', type: 'quantitative' } } },
    ],
  };
}

/** Every plot's spec, by name. */
export function reportPlotSpecs(data: CalibrationReportData): Record<PlotName, TopLevelSpec> {
  return { pareto: paretoSpec(data), 'exit-share': exitShareSpec(data), 'exit-accuracy': exitAccuracySpec(data), 'cost-profile': costProfileSpec(data) };
}
