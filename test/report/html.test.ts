import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { PLOT_NAMES, renderHtmlReport, renderReportSvgs, type ReportSvgs } from '../../src/report/index.ts';
import { sampleReportData } from './sample-data.ts';

describe('renderHtmlReport', () => {
  const data = sampleReportData();
  let svgs: ReportSvgs;
  let html: string;
  before(async () => {
    svgs = await renderReportSvgs(data, { onWarning: (m) => assert.fail(m) });
    html = renderHtmlReport(data, svgs);
  });

  it('is one HTML document', () => {
    assert.ok(html.startsWith('<!DOCTYPE html>'));
    assert.equal(html.match(/<html/g)?.length, 1);
    assert.match(html, /<title>Calibration report: mnist-lenet-b3<\/title>/);
  });

  it('inlines every plot', () => {
    for (const name of PLOT_NAMES) {
      // Everything after the root tag's attributes, which lose their namespace declarations when inlined.
      const body = svgs[name].slice(svgs[name].indexOf('>') + 1);
      assert.ok(html.includes(body), `${name} is inline`);
    }
    assert.equal(html.match(/<svg/g)?.length, PLOT_NAMES.length);
    assert.equal(html.match(/<svg[^>]* role="img" aria-label="[^"]+"/g)?.length, PLOT_NAMES.length);
  });

  it('names no URL and loads nothing', () => {
    assert.doesNotMatch(html, /https?:\/\//i);
    assert.doesNotMatch(html, /\/\/[a-z0-9.-]+\.[a-z]{2,}\//i, 'no protocol-relative URL');
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /<link|<img|<iframe|@import|url\(/i);
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  });

  it('gives no two elements the same id', () => {
    const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('shows the header facts', () => {
    for (const text of [
      'mnist-lenet-b3: 3 exits, 10 classes, 454,500 parameters',
      '5,000 validation samples, 10,000 test samples',
      'entropy',
      'tfjs-wasm',
      'AMD EPYC 7B13, 2 cores, Node v20.20.2',
      'max drop 0.2 points',
      '3 min 7 s',
    ]) {
      assert.ok(html.includes(text), text);
    }
  });

  it("shows the chosen point's figures and highlights its row", () => {
    const chosen = data.front[data.chosen.index];
    const row = html.match(/<tr class="chosen">(.*?)<\/tr>/)?.[1] ?? '';
    assert.ok(row.includes(`${data.chosen.index} (chosen)`));
    assert.ok(row.includes('0.560, 0.420'));
    assert.ok(row.includes(`${(chosen.accuracy * 100).toFixed(2)}%`));
    assert.ok(row.includes(`${chosen.expectedCost.toFixed(3)} ms`));
    assert.ok(row.includes('-0.20 pts'));
    assert.equal(html.match(/<tr class="chosen">/g)?.length, 1);
  });

  it('puts the test split at the chosen thresholds next to the no-exit network', () => {
    const t = data.test;
    for (const text of ['98.97%', '99.11%', '-0.14 pts', '0.149 ms', '0.204 ms', `${t.measuredSpeedup.toFixed(2)}×`, `${t.predictedSpeedup.toFixed(2)}×`]) {
      assert.ok(html.includes(text), text);
    }
    assert.ok(html.includes('speed-up, measured') && html.includes('speed-up, predicted by the cost model'));
  });

  it('shows per-exit accuracy, shares and the cost profile', () => {
    for (const text of ['94.31%', '98.12%', '46.92%', '48.12%', '0.053 ms', '0.156 ms', '1,281,600', '401,500', '0.131 ms'])
      assert.ok(html.includes(text), text);
  });

  it('thins a long front but keeps the chosen point', () => {
    const rows = html.match(/<tr(?: class="chosen")?><td class="num">\d+/g) ?? [];
    assert.ok(rows.length < data.front.length && rows.length >= 15, `${rows.length} rows`);
    assert.match(html, /Showing \d+ of 31 points/);
  });

  it('escapes text from the data', () => {
    const evil = sampleReportData({
      model: { ...data.model, name: 'net <b>&</b> "q"', description: '<script>alert(1)</script>' },
      data: { ...data.data, source: "a & b's <data>" },
    });
    const out = renderHtmlReport(evil, svgs);
    assert.ok(out.includes('<title>Calibration report: net &lt;b&gt;&amp;&lt;/b&gt; &quot;q&quot;</title>'));
    assert.ok(out.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
    assert.ok(out.includes('a &amp; b&#39;s &lt;data&gt;'));
    assert.doesNotMatch(out, /<b>|<script/);
  });

  it('rejects a chosen index outside the front', () => {
    assert.throws(() => renderHtmlReport(sampleReportData({ chosen: { index: 99, constraint: 'x' } }), svgs), RangeError);
  });
});
