import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PLOT_NAMES, writeReport } from '../../src/report/index.ts';
import { tempDir } from '../helpers.ts';
import { sampleReportData } from './sample-data.ts';

const quiet = { onWarning: (m: string) => assert.fail(m) };

describe('writeReport', () => {
  it('writes report.md and the SVG files it references, creating the directory', async () => {
    const dir = join(tempDir(), 'nested', 'report');
    const written = await writeReport(dir, sampleReportData(), 'md', quiet);
    assert.deepEqual(written, [...PLOT_NAMES.map((n) => join(dir, `${n}.svg`)), join(dir, 'report.md')]);
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    for (const target of md.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)) {
      const svg = readFileSync(join(dir, decodeURIComponent(target[1])), 'utf8');
      assert.ok(svg.startsWith('<svg'), target[1]);
    }
    assert.deepEqual(readdirSync(dir).sort(), [...PLOT_NAMES.map((n) => `${n}.svg`), 'report.md'].sort(), 'no temporary files left');
  });

  it('writes one self-contained index.html and replaces an earlier one', async () => {
    const dir = tempDir();
    await writeReport(dir, sampleReportData(), 'html', quiet);
    const renamed = sampleReportData({ model: { ...sampleReportData().model, name: 'second' } });
    const [path] = await writeReport(dir, renamed, 'html', quiet);
    assert.equal(path, join(dir, 'index.html'));
    const html = readFileSync(path, 'utf8');
    assert.ok(html.includes('Calibration report: second'));
    assert.equal(html.match(/<svg/g)?.length, PLOT_NAMES.length);
    assert.deepEqual(readdirSync(dir), ['index.html']);
  });

  it('leaves the directory alone when the data cannot be rendered', async () => {
    const dir = join(tempDir(), 'never');
    await assert.rejects(writeReport(dir, sampleReportData({ chosen: { index: -1, constraint: 'x' } }), 'html', quiet));
    assert.equal(existsSync(dir), false);
  });

  it('rejects an unknown format', async () => {
    await assert.rejects(writeReport(tempDir(), sampleReportData(), 'pdf' as 'html'), /unknown format "pdf"/);
  });
});
