import type { ModelReport } from '../infer/index.ts';
import { formatTable, ms, percent } from '../report/text-table.ts';

/** The report as text tables. */
export function formatModelReport(name: string, data: string, r: ModelReport): string {
  const e = r.evaluation;
  const exits = formatTable([
    ['exit', 'accuracy (every sample)', 'leaving here', 'accuracy of those leaving'],
    ...e.exitAccuracy.map((a, i) => [
      `${i + 1}${i === e.exitAccuracy.length - 1 ? ' (final)' : ''}`,
      percent(a),
      percent(e.exitShare[i], 1),
      percent(e.leavingAccuracy[i]),
    ]),
  ]);
  const summary = formatTable([
    ['network', 'accuracy', 'mean batch-1 latency', 'p95', 'speed-up'],
    ['early exit', percent(e.accuracy), ms(r.earlyExit.meanMs), ms(r.earlyExit.p95Ms), `${r.speedup.toFixed(2)}x`],
    ['final exit only', percent(e.finalAccuracy), ms(r.finalOnly.meanMs), ms(r.finalOnly.p95Ms), '1.00x'],
  ]);
  return [
    `${name} on ${data}: ${e.count} samples, criterion ${e.criterion}, thresholds [${e.thresholds.map((t) => +t.toPrecision(4)).join(', ')}], ${r.runtime}`,
    '',
    exits,
    '',
    summary,
    '',
    `Accuracy over all ${e.count} samples; latency over ${r.earlyExit.samples} of them, one at a time, after warm-up. Timers include every exit head and the criterion.`,
  ].join('\n');
}
