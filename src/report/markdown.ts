/**
 * The report as Markdown (CommonMark with GitHub tables), the plots as SVG files beside it: readable in a
 * repository browser or a pull request, where inline SVG and styles are stripped.
 */
import { buildReportContent, type Table } from './content.ts';
import { PLOT_NAMES, type CalibrationReportData, type PlotName } from './types.ts';

/** The SVG file names `writeReport` uses: `pareto.svg`, `exit-share.svg`, … */
export function defaultSvgNames(): Record<PlotName, string> {
  return Object.fromEntries(PLOT_NAMES.map((name) => [name, `${name}.svg`])) as Record<PlotName, string>;
}

/**
 * Renders the report as Markdown.
 * @param svgNames where each plot's SVG file is, relative to the Markdown file.
 */
export function renderMarkdownReport(data: CalibrationReportData, svgNames: Record<PlotName, string> = defaultSvgNames()): string {
  const content = buildReportContent(data);
  const out: string[] = [`# ${inline(content.title)}`, ''];
  if (content.description) out.push(paragraph(content.description), '');
  for (const f of content.facts) out.push(`- **${inline(f.label)}:** ${inline(f.value)}`);
  for (const section of content.sections) {
    out.push('', `## ${inline(section.heading)}`, '');
    if (section.lead) out.push(paragraph(section.lead), '');
    for (const plot of section.plots) {
      out.push(`![${inline(plot.alt)}](${linkTarget(svgNames[plot.name])})`, '', `*${inline(plot.caption)}*`, '');
    }
    for (const table of section.tables) out.push(tableMarkdown(table), '');
  }
  out.push('---', '', paragraph(content.footer), '');
  // Sections each open with a blank line, so one after a table would make two.
  return out.join('\n').replace(/\n{3,}/g, '\n\n');
}

/**
 * Escapes text so Markdown shows it as written: punctuation that could open emphasis, code, links, HTML or
 * entities, and the pipe that would split a table cell. Newlines would end a table row or a list item, so
 * whitespace runs become one space.
 */
function inline(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/[\\`*_[\]<>|&#~!]/g, (c) => `\\${c}`);
}

/** Like {@link inline}, and a paragraph may not start with something that makes it a list, a heading or a quote. */
function paragraph(text: string): string {
  return inline(text.trim()).replace(/^([-+*>=]|\d+[.)])/, (m) => m.replace(/[-+*>=.)]/, (c) => `\\${c}`));
}

/** A relative link target with the characters that would end or break it percent-encoded. */
function linkTarget(path: string): string {
  return path
    .split('/')
    .map((part) => encodeURIComponent(part).replace(/[()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}

function tableMarkdown(table: Table): string {
  // An empty header cell is fine in GitHub tables, but a lone space keeps stricter parsers happy.
  const row = (cells: string[]) => `| ${cells.map((c) => (c === '' ? ' ' : c)).join(' | ')} |`;
  const lines = [row(table.head.map(inline)), `|${table.align.map((a) => (a === 'right' ? ' ---: ' : ' :--- ')).join('|')}|`];
  for (const r of table.rows) lines.push(row(r.cells.map((c) => (r.highlight && c !== '' ? `**${inline(c)}**` : inline(c)))));
  if (table.note) lines.push('', `*${inline(table.note)}*`);
  return lines.join('\n');
}
