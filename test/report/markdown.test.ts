import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultSvgNames, PLOT_NAMES, renderMarkdownReport } from '../../src/report/index.ts';
import { sampleReportData } from './sample-data.ts';

describe('renderMarkdownReport', () => {
  const data = sampleReportData();

  it('references one SVG file per plot, by the given names', () => {
    const md = renderMarkdownReport(data, defaultSvgNames());
    for (const name of PLOT_NAMES) assert.match(md, new RegExp(`!\\[[^\\]]+\\]\\(${name}\\.svg\\)`), name);
    const custom = renderMarkdownReport(data, { pareto: 'plots/front (val).svg', 'exit-share': 'a.svg', 'exit-accuracy': 'b.svg', 'cost-profile': 'c.svg' });
    assert.ok(custom.includes('](plots/front%20%28val%29.svg)'));
  });

  it('carries the same figures as the HTML report', () => {
    const md = renderMarkdownReport(data);
    const chosen = data.front[data.chosen.index];
    for (const text of [
      '# Calibration report: mnist-lenet-b3',
      '## Test split at the chosen thresholds',
      '## Validation Pareto front',
      '## Exits',
      '## Cost profile',
      '98.97%',
      '0.149 ms',
      '0.204 ms',
      '-0.14 pts',
      '1,281,600',
    ]) {
      assert.ok(md.includes(text), text);
    }
    // The chosen row is bold in every cell.
    assert.ok(md.includes(`| **${data.chosen.index} (chosen)** | **0.560, 0.420** | **${(chosen.accuracy * 100).toFixed(2)}%** |`));
  });

  it('writes tables GitHub can read: header, alignment row, and equal cell counts', () => {
    const md = renderMarkdownReport(data);
    const blocks = md.split('\n\n').filter((b) => b.startsWith('|'));
    assert.equal(blocks.length, 4);
    for (const block of blocks) {
      const lines = block.split('\n');
      assert.match(lines[1], /^\|( :?---+:? \|)+$/);
      const cells = (line: string) => line.split(/(?<!\\)\|/).length;
      for (const line of lines) assert.equal(cells(line), cells(lines[0]), line);
    }
  });

  it('escapes text from the data', () => {
    const md = renderMarkdownReport(sampleReportData({ model: { ...data.model, name: 'a|b *c* <d> [e](f)', description: '# not a heading\nsecond line' } }));
    assert.ok(md.includes('# Calibration report: a\\|b \\*c\\* \\<d\\> \\[e\\](f)'));
    assert.ok(md.includes('\n\\# not a heading second line\n'));
  });
});
