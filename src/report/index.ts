/**
 * Calibration reports: an offline HTML page or Markdown with SVG plots, rendered in Node from a
 * {@link CalibrationReportData}.
 */
export { PLOT_NAMES, type CalibrationReportData, type CostPiece, type FrontPoint, type PlotName, type ReportSvgs } from './types.ts';
export { costProfileSpec, exitAccuracySpec, exitShareSpec, paretoSpec, reportPlotSpecs } from './plots.ts';
export { renderReportSvgs, renderSvg, type RenderSvgOptions } from './render-svg.ts';
export { renderHtmlReport } from './html.ts';
export { defaultSvgNames, renderMarkdownReport } from './markdown.ts';
export { writeReport, type ReportFormat } from './write.ts';
