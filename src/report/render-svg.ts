/**
 * Vega-Lite spec → SVG string, in Node, with no canvas, no browser and no network.
 *
 * Vega's headless `View` with `renderer: 'none'` lays the scene out and `toSVG()` writes it as text. Without
 * the optional `canvas` package Vega estimates text widths from the font size instead of measuring glyphs,
 * which is why the specs leave generous room around labels.
 */
import { View, logger, parse, Warn, type Loader } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { reportPlotSpecs } from './plots.ts';
import { PLOT_NAMES, type CalibrationReportData, type ReportSvgs } from './types.ts';

/** How {@link renderSvg} reports Vega's and Vega-Lite's warnings. */
export interface RenderSvgOptions {
  /** Called once per warning; by default warnings go to `console.warn`. */
  onWarning?: (message: string) => void;
}

/**
 * A loader that refuses everything and notes what was asked for. Report specs carry their data inline, so any
 * load is a mistake, and a report must never reach out to the network (or the file system) while it is written.
 * Vega only logs a failed load and draws an empty chart, hence the note: the caller turns it into an error.
 */
function offlineLoader(refused: string[]): Loader {
  const refuse = (uri: string): Promise<never> => {
    refused.push(uri);
    return Promise.reject(new Error(`report plots load nothing; refused to load ${JSON.stringify(uri)}`));
  };
  return { load: refuse, sanitize: refuse, http: refuse, file: refuse };
}

/**
 * Renders one Vega-Lite spec to a standalone SVG document (with its `xmlns`, so it also works as an `.svg` file).
 * @throws Error when the spec asks to load anything (data, images), which is refused, or when Vega logs an
 *   error while rendering.
 */
export async function renderSvg(spec: TopLevelSpec, options: RenderSvgOptions = {}): Promise<string> {
  const onWarning = options.onWarning ?? ((message: string) => console.warn(`report plot: ${message}`));
  const errors: string[] = [];
  // Vega logs some failures (a throwing operator, a failed load) instead of throwing them; they are collected
  // here and thrown after rendering, so a half-drawn chart never passes for a finished one.
  const log = logger(Warn, undefined, (_method, level, args) => {
    const message = args.map(String).join(' ');
    if (level === 'ERROR') errors.push(message);
    else if (level === 'WARN') onWarning(message);
  });
  const vegaSpec = compile(spec, { logger: log }).spec;
  const refused: string[] = [];
  const view = new View(parse(vegaSpec), { renderer: 'none', loader: offlineLoader(refused), logger: log });
  try {
    const svg = await view.toSVG();
    if (refused.length)
      throw new Error(`renderSvg: the spec tried to load ${refused.map((u) => JSON.stringify(u)).join(', ')}; report plots must carry their data inline`);
    if (errors.length) throw new Error(`renderSvg: ${errors.join('; ')}`);
    return svg;
  } finally {
    // Drops the view's timers and listeners so a long-lived process does not keep every report alive.
    view.finalize();
  }
}

/** Renders every plot of the report, by name. */
export async function renderReportSvgs(data: CalibrationReportData, options: RenderSvgOptions = {}): Promise<ReportSvgs> {
  const specs = reportPlotSpecs(data);
  const out = {} as ReportSvgs;
  for (const name of PLOT_NAMES) out[name] = await renderSvg(specs[name], options);
  return out;
}
