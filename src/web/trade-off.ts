/**
 * The threshold's trade-off on a labelled batch: at threshold T, the share of samples the browser answers (the
 * first of its exits whose score is below T) and the accuracy of the answers shown (the browser's, else the
 * server's; the browser's last exit, degraded, where the server gave none).
 *
 * @module
 */
import type { EvaluatedSample } from './edge-unit.ts';

/** The trade-off at one threshold. */
export interface TradeOffPoint {
  threshold: number;
  /** Share of the samples answered in the browser, in [0, 1]. */
  browserShare: number;
  /** Share of the answers shown that are right, in [0, 1]. */
  accuracy: number;
  /** Samples handed to the server. */
  offloaded: number;
  /** Samples answered from the browser's last exit because the server gave no answer. */
  degraded: number;
}

/** The trade-off at `threshold` over `samples`. */
export function tradeOffAt(samples: readonly EvaluatedSample[], threshold: number): TradeOffPoint {
  let browser = 0;
  let right = 0;
  let degraded = 0;
  for (const s of samples) {
    const exit = s.scores.findIndex((score) => score < threshold);
    let label: number;
    if (exit >= 0) {
      browser++;
      label = s.labels[exit];
    } else if (s.server !== undefined) label = s.server;
    else {
      degraded++;
      label = s.labels[s.labels.length - 1];
    }
    if (label === s.truth) right++;
  }
  const n = samples.length;
  return { threshold, browserShare: n ? browser / n : 0, accuracy: n ? right / n : 0, offloaded: n - browser, degraded };
}

/** The trade-off at `steps + 1` thresholds evenly spaced over `range`. */
export function tradeOffCurve(samples: readonly EvaluatedSample[], range: readonly [number, number], steps = 100): TradeOffPoint[] {
  const [lo, hi] = range;
  return Array.from({ length: steps + 1 }, (_, i) => tradeOffAt(samples, lo + ((hi - lo) * i) / steps));
}
