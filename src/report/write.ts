/**
 * Writes a report to a directory. Each file is written to a temporary name and renamed into place, so a reader
 * (or a crash) never sees half a file; for Markdown the SVGs go first, so `report.md` never points at a missing
 * picture.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { renderHtmlReport } from './html.ts';
import { defaultSvgNames, renderMarkdownReport } from './markdown.ts';
import { renderReportSvgs, type RenderSvgOptions } from './render-svg.ts';
import { PLOT_NAMES, type CalibrationReportData } from './types.ts';

/** `html`: one self-contained `index.html`. `md`: `report.md` with one `.svg` file per plot beside it. */
export type ReportFormat = 'html' | 'md';

/**
 * Renders the report and writes it into `dir` (created if missing), replacing earlier files of the same names.
 * @returns the absolute paths written, the main file last.
 */
export async function writeReport(dir: string, data: CalibrationReportData, format: ReportFormat, options: RenderSvgOptions = {}): Promise<string[]> {
  if (format !== 'html' && format !== 'md') throw new TypeError(`writeReport: unknown format ${JSON.stringify(format)} (html or md)`);
  const root = resolve(dir);
  // Render everything before touching the directory: a failing plot leaves the old report as it was.
  const svgs = await renderReportSvgs(data, options);
  const files: [string, string][] = [];
  if (format === 'html') {
    files.push(['index.html', renderHtmlReport(data, svgs)]);
  } else {
    const names = defaultSvgNames();
    for (const name of PLOT_NAMES) files.push([names[name], svgs[name]]);
    files.push(['report.md', renderMarkdownReport(data, names)]);
  }
  await mkdir(root, { recursive: true });
  const written: string[] = [];
  for (const [name, text] of files) {
    const path = join(root, name);
    await writeAtomic(path, text);
    written.push(path);
  }
  return written;
}

/** Writes beside the target and renames: a rename within one directory replaces the file in one step. */
async function writeAtomic(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temp, text, 'utf8');
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
