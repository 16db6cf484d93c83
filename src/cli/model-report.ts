import type { LoadedNetwork } from '../engine/types.ts';
import type { EarlyExitOptions, ExitEvaluation, LabelledSamples, LatencyMeasurement } from '../infer/index.ts';
import { evaluateExits, measureLatency } from '../infer/index.ts';
import { formatTable, ms, percent } from './table.ts';

/** The figures `demo` and `eval` print: per-exit accuracy and shares, and batch-1 latency with and without early exit. */
export interface ModelReport {
  evaluation: ExitEvaluation;
  earlyExit: LatencyMeasurement;
  finalOnly: LatencyMeasurement;
  speedup: number;
  runtime: string;
}

/** Evaluates a network on samples and times batch-1 inference with early exit and with the final exit only, in one run. */
export async function measureModel(net: LoadedNetwork, samples: LabelledSamples, options: { thresholds?: number[]; criterion?: string; latencySamples?: number }): Promise<ModelReport> {
  const evaluation = await evaluateExits(net, samples, options);
  const [earlyExit, finalOnly] = await timeAlternating(
    [
      { net, options },
      { net, options: { ...options, finalOnly: true } },
    ],
    samples,
    options.latencySamples,
  );
  return { evaluation, earlyExit, finalOnly, speedup: finalOnly.meanMs / earlyExit.meanMs, runtime: net.runtime };
}

/** A network and how to run it, for {@link timeAlternating}. */
export interface LatencyContender {
  net: LoadedNetwork;
  options: EarlyExitOptions;
}

/**
 * Batch-1 latency of several networks (or run modes) on the first `count` samples (default all), in four rounds:
 * each round times every contender on its own quarter of the samples, so a change in the machine's speed during
 * the run hits all of them alike.
 */
export async function timeAlternating(contenders: LatencyContender[], samples: LabelledSamples, count = samples.count): Promise<LatencyMeasurement[]> {
  const n = Math.min(count, samples.count);
  const rounds = Math.min(4, n);
  const parts = contenders.map(() => [] as LatencyMeasurement[]);
  for (let r = 0; r < rounds; r++) {
    const part = sliceSamples(samples, Math.floor((r * n) / rounds), Math.floor(((r + 1) * n) / rounds));
    for (const [i, c] of contenders.entries()) parts[i].push(await measureLatency(c.net, part, c.options));
  }
  return parts.map(combine);
}

function sliceSamples(samples: LabelledSamples, start: number, end: number): LabelledSamples {
  const row = samples.x.length / samples.count;
  return { x: samples.x.subarray(start * row, end * row), y: samples.y.subarray(start, end), shape: samples.shape, count: end - start };
}

/** Joins measurements of consecutive parts: means (and the median, approximately) weighted by samples; p95 as the worst part's. */
function combine(parts: LatencyMeasurement[]): LatencyMeasurement {
  const n = parts.reduce((a, p) => a + p.samples, 0);
  const weighted = (pick: (p: LatencyMeasurement) => number) => parts.reduce((a, p) => a + pick(p) * p.samples, 0) / n;
  return {
    samples: n,
    meanMs: weighted((p) => p.meanMs),
    p50Ms: weighted((p) => p.p50Ms),
    p95Ms: Math.max(...parts.map((p) => p.p95Ms)),
    accuracy: weighted((p) => p.accuracy),
    exitShare: parts[0].exitShare.map((_, i) => weighted((p) => p.exitShare[i])),
  };
}

/** The report as text tables. */
export function formatModelReport(name: string, data: string, r: ModelReport): string {
  const e = r.evaluation;
  const exits = formatTable([
    ['exit', 'accuracy (every sample)', 'leaving here', 'accuracy of those leaving'],
    ...e.exitAccuracy.map((a, i) => [`${i + 1}${i === e.exitAccuracy.length - 1 ? ' (final)' : ''}`, percent(a), percent(e.exitShare[i], 1), percent(e.leavingAccuracy[i])]),
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
