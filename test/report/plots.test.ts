import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { PLOT_NAMES, renderReportSvgs, renderSvg, reportPlotSpecs, type ReportSvgs } from '../../src/report/index.ts';
import { sampleReportData } from './sample-data.ts';

/** Text nodes of an SVG document, unescaped enough to compare with plain strings. */
function svgTexts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1].replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>'));
}

describe('report plots', () => {
  const data = sampleReportData();
  let svgs: ReportSvgs;
  const warnings: string[] = [];
  before(async () => {
    svgs = await renderReportSvgs(data, { onWarning: (m) => warnings.push(m) });
  });

  it('renders every plot to a standalone SVG document without warnings', () => {
    assert.deepEqual(Object.keys(svgs).sort(), [...PLOT_NAMES].sort());
    for (const name of PLOT_NAMES) {
      const svg = svgs[name];
      assert.ok(svg.startsWith('<svg'), `${name} starts with <svg`);
      assert.ok(svg.trimEnd().endsWith('</svg>'), `${name} ends with </svg>`);
      assert.match(svg, /^<svg[^>]* xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, `${name} is usable as an .svg file`);
      assert.match(svg, /^<svg[^>]* width="\d+" height="\d+"/);
      assert.doesNotMatch(svg, /<script|<image|<foreignObject/i);
    }
    assert.deepEqual(warnings, []);
  });

  it('labels the Pareto front: axis titles, the chosen point and the baseline', () => {
    const texts = svgTexts(svgs.pareto);
    assert.ok(texts.includes('validation accuracy'));
    assert.ok(texts.includes('mean cost per sample (ms, batch 1, cost model)'));
    const chosen = data.front[data.chosen.index];
    assert.ok(texts.includes(`chosen: ${(chosen.accuracy * 100).toFixed(2)}% at ${chosen.expectedCost.toFixed(3)} ms`), texts.join(' | '));
    assert.ok(texts.includes('no early exit: 99.12% at 0.190 ms'));
    for (const legend of ['validation front', 'chosen thresholds', 'no early exit']) assert.ok(texts.includes(legend), legend);
    // One point per front entry plus the two marked ones, each a path with its own aria label.
    assert.equal((svgs.pareto.match(/aria-roledescription="point"/g) ?? []).length, data.front.length + 2);
  });

  it('labels the exit-share bars for both splits', () => {
    const texts = svgTexts(svgs['exit-share']);
    for (const t of ['share of samples', 'exit 1', 'exit 2', 'exit 3', 'validation', 'test', '48.12%']) assert.ok(texts.includes(t), t);
  });

  it('labels per-exit accuracy and the chosen early-exit accuracy', () => {
    const texts = svgTexts(svgs['exit-accuracy']);
    for (const t of ['accuracy of the exit alone', '94.31%', '98.12%', '99.12%', 'early exit, chosen thresholds: 98.92%']) assert.ok(texts.includes(t), t);
  });

  it('labels every stage and exit of the cost profile', () => {
    const texts = svgTexts(svgs['cost-profile']);
    for (const t of ['ms per sample (batch 1)', 'stage 1', 'exit 1', 'stage 3', 'exit 3', 'stage', 'exit']) assert.ok(texts.includes(t), t);
    // Bars for the means and ticks for the 95th percentiles.
    assert.equal((svgs['cost-profile'].match(/aria-roledescription="bar"/g) ?? []).length, data.costProfile.pieces.length);
    assert.equal((svgs['cost-profile'].match(/aria-roledescription="tick"/g) ?? []).length, data.costProfile.pieces.length);
  });

  it('builds specs with inline data only', () => {
    const json = JSON.stringify(reportPlotSpecs(data));
    assert.doesNotMatch(json, /"url"|https?:/);
  });

  it('refuses a spec that loads data instead of fetching it', async () => {
    await assert.rejects(
      renderSvg(
        { data: { url: 'https://example.com/data.csv' }, mark: 'point', encoding: { x: { field: 'a', type: 'quantitative' } } },
        { onWarning: () => {} },
      ),
      /tried to load "https:\/\/example\.com\/data\.csv"/,
    );
  });

  it('keeps the exit plots readable with more exits than usual', async () => {
    const six = sampleReportData({ perExitAccuracy: [0.9, 0.93, 0.95, 0.97, 0.98, 0.99] });
    six.front = six.front.map((p) => ({ ...p, exitShare: [0.3, 0.2, 0.1, 0.1, 0.1, 0.2] }));
    six.test = { ...six.test, exitShare: [0.3, 0.2, 0.1, 0.1, 0.1, 0.2] };
    const out = await renderReportSvgs(six, { onWarning: (m) => assert.fail(m) });
    assert.ok(svgTexts(out['exit-share']).includes('exit 6'));
    assert.ok(svgTexts(out['exit-accuracy']).includes('exit 6'));
  });
});
