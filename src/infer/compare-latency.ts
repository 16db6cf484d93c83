import type { LoadedNetwork } from '../engine/types.ts';
import { evaluateExits, measureLatency, type ExitEvaluation, type LabelledSamples, type LatencyMeasurement } from './evaluate.ts';
import type { EarlyExitOptions } from './runner.ts';
import type { DataMatchOptions } from '../spec/data-match.ts';

/** A model's headline figures (`branchy demo` and `branchy eval` print them): per-exit accuracy and shares, and batch-1 latency with and without early exit. */
export interface ModelReport {
  evaluation: ExitEvaluation;
  earlyExit: LatencyMeasurement;
  finalOnly: LatencyMeasurement;
  speedup: number;
  runtime: string;
}

/**
 * Evaluates a network on samples and times batch-1 inference with early exit and with the final exit only, in one run.
 *
 * @throws BranchyDataError `DATA_MODEL_MISMATCH` (before anything runs) when the samples do not fit the network: see
 *   `evaluateExits`.
 */
export async function measureModel(
  net: LoadedNetwork,
  samples: LabelledSamples,
  options: DataMatchOptions & { thresholds?: number[]; criterion?: string; latencySamples?: number },
): Promise<ModelReport> {
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
  options: EarlyExitOptions & DataMatchOptions;
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
  return {
    x: samples.x.subarray(start * row, end * row),
    y: samples.y.subarray(start, end),
    shape: samples.shape,
    count: end - start,
    classes: samples.classes,
    unnamedClasses: samples.unnamedClasses,
  };
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
