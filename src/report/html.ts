/**
 * The report as one self-contained HTML page: inline CSS and inline SVG, no scripts, no fonts, no URLs, so it
 * opens the same from a file, an e-mail attachment or an air-gapped machine.
 */
import { buildReportContent, type PlotRef, type Table } from './content.ts';
import type { CalibrationReportData, ReportSvgs } from './types.ts';

/** Escapes text for HTML element content and double-quoted attribute values. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

// System fonts only: a web font would be a download, and the page must work offline.
const CSS = `
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1a1a1a; background: #fff; margin: 0; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 1.6em; margin: 0 0 0.2em; overflow-wrap: anywhere; }
h2 { font-size: 1.25em; margin: 2em 0 0.5em; padding-bottom: 0.2em; border-bottom: 1px solid #ddd; }
p { margin: 0.5em 0; }
.description { color: #444; margin-bottom: 1em; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.25em 1.2em; margin: 1em 0; padding: 12px 16px; background: #f6f7f9; border: 1px solid #e3e5e8; border-radius: 4px; }
dl.facts dt { font-weight: 600; color: #333; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.plots { display: flex; flex-wrap: wrap; align-items: flex-end; gap: 16px 24px; margin: 1em 0; }
figure { margin: 0; max-width: 100%; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 0.87em; color: #555; margin-top: 4px; max-width: 60ch; }
/* Wide tables scroll on their own instead of widening the page on a narrow screen. */
.table-wrap { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.93em; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e3e5e8; vertical-align: top; }
th { text-align: left; font-weight: 600; border-bottom: 2px solid #ccc; background: #fafafa; }
td.num, th.num { text-align: right; }
/* Figures never break inside a cell; only the row labels in the first column may wrap. */
td + td, th + th, td.num { white-space: nowrap; }
tr.chosen td { background: #fff1e0; font-weight: 600; }
.note { font-size: 0.87em; color: #555; }
footer { margin-top: 3em; font-size: 0.85em; color: #666; }
`;

/**
 * Renders the report as one HTML page with the plots inline.
 *
 * Takes the plots already rendered (see `renderReportSvgs`) because SVG rendering is asynchronous while
 * building the page is not; `writeReport` does both.
 */
export function renderHtmlReport(data: CalibrationReportData, svgs: ReportSvgs): string {
  const content = buildReportContent(data);
  const e = escapeHtml;
  const out: string[] = [];
  out.push('<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">');
  out.push('<meta name="viewport" content="width=device-width, initial-scale=1">');
  // Forbids every fetch, so a stray reference cannot leak a request when the file is opened.
  out.push(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`);
  out.push(`<title>${e(content.title)}</title>`, `<style>${CSS}</style>`, '</head>', '<body>', '<main>');
  out.push(`<h1>${e(content.title)}</h1>`);
  if (content.description) out.push(`<p class="description">${e(content.description)}</p>`);
  out.push('<dl class="facts">', ...content.facts.map((f) => `<dt>${e(f.label)}</dt><dd>${e(f.value)}</dd>`), '</dl>');
  for (const section of content.sections) {
    out.push('<section>', `<h2>${e(section.heading)}</h2>`);
    if (section.lead) out.push(`<p>${e(section.lead)}</p>`);
    if (section.plots.length) out.push('<div class="plots">', ...section.plots.map((p) => figure(p, svgs[p.name])), '</div>');
    for (const table of section.tables) out.push(tableHtml(table));
    out.push('</section>');
  }
  out.push(`<footer>${e(content.footer)}</footer>`, '</main>', '</body>', '</html>', '');
  return out.join('\n');
}

function figure(plot: PlotRef, svg: string): string {
  return `<figure>${inlineSvg(svg, plot.alt)}<figcaption>${escapeHtml(plot.caption)}</figcaption></figure>`;
}

/**
 * Prepares a standalone SVG document for inlining: HTML needs no namespace declarations (the parser puts `<svg>`
 * in the SVG namespace itself), and dropping them leaves the page without a single URL. The picture gets a role
 * and a text alternative.
 */
function inlineSvg(svg: string, alt: string): string {
  const start = svg.indexOf('<svg');
  const end = svg.indexOf('>', start);
  if (start !== 0 || end < 0) throw new Error('renderHtmlReport: plot is not an SVG document');
  const open = svg
    .slice(0, end)
    .replace(/\s+xmlns(:[\w-]+)?="[^"]*"/g, '')
    .replace(/\s+version="[^"]*"/, '');
  return `${open} role="img" aria-label="${escapeHtml(alt)}"${svg.slice(end)}`;
}

function tableHtml(table: Table): string {
  const cls = (i: number) => (table.align[i] === 'right' ? ' class="num"' : '');
  const head = `<tr>${table.head.map((h, i) => `<th${cls(i)}>${escapeHtml(h)}</th>`).join('')}</tr>`;
  const rows = table.rows.map((r) => `<tr${r.highlight ? ' class="chosen"' : ''}>${r.cells.map((c, i) => `<td${cls(i)}>${escapeHtml(c)}</td>`).join('')}</tr>`);
  const note = table.note ? `\n<p class="note">${escapeHtml(table.note)}</p>` : '';
  return `<div class="table-wrap"><table>\n<thead>${head}</thead>\n<tbody>\n${rows.join('\n')}\n</tbody>\n</table></div>${note}`;
}
