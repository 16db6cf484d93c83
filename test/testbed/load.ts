/**
 * Open-loop load on a cascade's first unit: single-sample requests at a fixed rate, each sent on its schedule
 * whether or not earlier ones came back (as independent clients would), bounded in count and time; and figures
 * over windows of the answers (p50, p99, accuracy, share answered on the first unit, operating points seen).
 *
 * @module
 */
import type { PredictReply, TestbedCascade } from './cascade.ts';

/** One request as sent and answered. */
export interface Answered {
  /** When it was sent, ms since the load began. */
  at: number;
  ms: number;
  status: number;
  correct: boolean;
  /** The unit that answered. */
  unit: string;
  /** The operating point it was answered at, when the unit adapts. */
  point?: number;
}

/** Labelled samples to cycle through. */
export interface LabelledSamples {
  x: readonly Float32Array[];
  y: readonly number[];
}

/**
 * Sends `ratePerS` requests a second for `durationMs`, at most `maxInFlight` outstanding (a request that would
 * exceed it is sent when one returns); resolves when every request has come back. `onTick(elapsedMs)` runs
 * between sends (e.g. to change a link's rate mid-run).
 */
export async function openLoop(
  cascade: TestbedCascade,
  samples: LabelledSamples,
  options: { ratePerS: number; durationMs: number; first?: number; maxInFlight?: number; onTick?: (elapsedMs: number) => void },
): Promise<Answered[]> {
  const { ratePerS, durationMs } = options;
  const maxInFlight = options.maxInFlight ?? 256;
  const count = Math.floor((ratePerS * durationMs) / 1000);
  const out: Answered[] = [];
  const pending = new Set<Promise<void>>();
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const due = started + (i * 1000) / ratePerS;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    options.onTick?.(performance.now() - started);
    while (pending.size >= maxInFlight) await Promise.race(pending);
    const k = ((options.first ?? 0) + i) % samples.x.length;
    const at = performance.now() - started;
    const p: Promise<void> = cascade
      .predict([samples.x[k]])
      .then((r: PredictReply) => {
        const result = r.results[0];
        out.push({
          at,
          ms: r.ms,
          status: r.status,
          correct: result?.label === samples.y[k],
          unit: result?.unit ?? '',
          ...(r.point === undefined ? {} : { point: r.point }),
        });
      })
      .catch(() => {
        out.push({ at, ms: performance.now() - started - at, status: 0, correct: false, unit: '' });
      })
      .finally(() => pending.delete(p));
    pending.add(p);
  }
  await Promise.all(pending);
  return out.sort((a, b) => a.at - b.at);
}

/** Figures over the answers sent in [fromMs, toMs). */
export interface WindowFigures {
  requests: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  accuracy: number;
  /** Share answered by the first unit. */
  firstUnitShare: number;
  /** The operating points answered at, and how often. */
  points: Record<string, number>;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** The figures of the answers sent between `fromMs` and `toMs`; `firstUnit` names the plan's first unit. */
export function windowFigures(answers: readonly Answered[], fromMs: number, toMs: number, firstUnit: string): WindowFigures {
  const inside = answers.filter((a) => a.at >= fromMs && a.at < toMs);
  const ok = inside.filter((a) => a.status === 200);
  const ms = ok.map((a) => a.ms).sort((a, b) => a - b);
  const points: Record<string, number> = {};
  for (const a of ok) if (a.point !== undefined) points[a.point] = (points[a.point] ?? 0) + 1;
  return {
    requests: inside.length,
    failed: inside.length - ok.length,
    p50Ms: quantile(ms, 0.5),
    p99Ms: quantile(ms, 0.99),
    accuracy: ok.length === 0 ? NaN : ok.filter((a) => a.correct).length / ok.length,
    firstUnitShare: ok.length === 0 ? NaN : ok.filter((a) => a.unit === firstUnit).length / ok.length,
    points,
  };
}
