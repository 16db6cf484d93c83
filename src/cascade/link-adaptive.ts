/**
 * Link-adaptive exits: a cascade's first unit holding a latency SLO watches the hop to its successor and moves
 * along the model's calibrated Pareto front as the link changes: when the uplink slows, to points where more
 * samples leave at its own exits; when it recovers, back toward the plan's point.
 *
 * What it measures, each smoothed (exponentially weighted, weight `alpha` for a new value):
 * - the round trip: probe frames (no features) timed to the successor and back, less the successor's own time;
 * - the link's time per byte: every hop that carries features, less that round trip and the successor's time, per
 *   byte beyond a probe's;
 * - the successor's time per hop (its answer frames say it), and the hops' deviation from the estimate;
 * - the samples arriving per second and the unit's own time per batch.
 *
 * What it predicts, per front point p whose share f(p) of samples goes on: a forwarded sample takes
 * B = own time + round trip + one sample's frame / bandwidth + the successor's time, plus waiting for the link,
 * which carries λ·f(p) frames a second of s ms each (utilisation ρ = λ·f(p)·s). The share of all samples slower
 * than the SLO S is f(p) · P(forwarded > S), with P(forwarded > S) ≤ P(jitter > (S−B)/2) + ρ·e^(−(1−ρ)(S−B)/(2s))
 * (the hops' jitter, and an M/M/1 queue's waiting-time tail), 1 when B ≥ S or ρ ≥ 1. The jitter's tail is the
 * share of the window's recent forwarded hops whose latency exceeded the estimate by more than (S−B)/2; with
 * fewer than 8 of them, an exponential tail of the smoothed deviation, e^(−(S−B)/(2·dev)). A p99 SLO holds while
 * that share stays under 1%.
 *
 * Rules: the point in force is the most accurate (up to the plan's) whose predicted share over the SLO is at most
 * `margin` × 1%. It moves to a cheaper point as soon as the current one breaks that (at most once per
 * `holdDownMs`), and to a costlier one only when that point's prediction is under half of it and `holdMs` has
 * passed since the last move. Until both the round trip and the bandwidth are measured it keeps the plan's point.
 *
 * Pure: it is told the clock, so it is tested with made-up hops.
 *
 * @module
 */
import { BranchyCascadeError } from './errors.ts';
import { p99, type CurrentOperatingPoint, type OperatingPointController, type OperatingPointMove } from '../serve/adaptive.ts';
import type { PlanFront } from './types.ts';

/** Tuning of {@link LinkAdaptiveController}; every field but `sloMs` has a default. */
export interface LinkAdaptiveOptions {
  /** The p99 latency to hold, in ms. */
  sloMs: number;
  /** Share of the 1% tail budget the chosen point may be predicted to use (default 0.5). */
  margin?: number;
  /** Weight of a new measurement in the smoothed estimates (default 0.25). */
  alpha?: number;
  /** Least time between a move and a move to a costlier point, in ms (default 2000). */
  holdMs?: number;
  /** Least time between moves to cheaper points, in ms (default 250). */
  holdDownMs?: number;
  /** Window over which arrivals and request latencies are counted, in ms (default 5000). */
  windowMs?: number;
}

/** One hop as the unit timed it. */
export interface HopObservation {
  /** Round trip as the sender measured it, ms. */
  ms: number;
  /** The successor's own time, from its answer frame (0 when it does not say). */
  serviceMs: number;
  /** Bytes of the frame sent. */
  sentBytes: number;
  /** Samples it carried; 0 for a probe. */
  samples: number;
  /** The unit's own time on the batch before the hop, ms (absent for probes). */
  ownMs?: number;
}

/** What the controller believes of the link, for `/v1/unit` and metrics. */
export interface LinkEstimate {
  /** Round trip without features, ms (null until a probe came back). */
  rttMs: number | null;
  /** Bandwidth toward the successor, Mbit/s (null until a hop with features came back). */
  mbitPerS: number | null;
  /** The successor's time per hop, ms. */
  serviceMs: number;
  /** Mean absolute deviation of hops from the estimate, ms. */
  deviationMs: number;
  /** The unit's own time per batch, ms. */
  ownMs: number;
  /** Samples arriving per second over the window. */
  arrivalsPerS: number;
  /** Hops observed (probes included). */
  hops: number;
}

/** What the controller predicts at one front point. */
export interface PointForecast {
  index: number;
  /** Share of samples handed on. */
  forwardShare: number;
  /** Latency of a forwarded sample before waiting for the link, ms. */
  forwardedMs: number;
  /** Utilisation of the link by forwarded frames. */
  linkUtilization: number;
  /** Predicted share of all samples slower than the SLO. */
  overSloShare: number;
}

/** The tail the SLO bounds: a p99 allows 1% of samples over it. */
const TAIL_SHARE = 0.01;
/** Hops in the window needed before the jitter's tail is counted rather than modelled. */
const MIN_RESIDUALS = 8;

const ewma = (old: number | null, value: number, alpha: number) => (old === null ? value : old + alpha * (value - old));

/** Walks a plan's calibrated front to hold a latency SLO over a changing link. */
export class LinkAdaptiveController implements OperatingPointController {
  private readonly points: PlanFront['points'];
  private readonly chosen: number;
  private readonly forwardShares: number[];
  private readonly frameBytes: (samples: number) => number;
  private readonly o: Required<LinkAdaptiveOptions>;
  private index: number;
  private lastMove: number;
  private rtt: number | null = null;
  private msPerByte: number | null = null;
  private service: number | null = null;
  private deviation = 0;
  private own: number | null = null;
  private hops = 0;
  private arrivals: { at: number; samples: number }[] = [];
  private latencies: { at: number; ms: number }[] = [];
  /** Per recent hop with features: when, and by how much its latency exceeded the estimate at the time (ms). */
  private residuals: { at: number; ms: number }[] = [];
  private readonly started: number;

  /**
   * @param front the plan's calibrated front (`DeploymentPlan.front`).
   * @param handsOnAfter the unit's last stage: samples leaving at later exits cross the link.
   * @param frameBytes bytes of a features frame of `samples` samples, as the unit sends it (0: a probe).
   * @param now the clock's reading at start.
   * @throws BranchyCascadeError `CASCADE_BAD_SLO` for an SLO that is not a positive number or tuning out of range.
   */
  constructor(front: PlanFront, handsOnAfter: number, frameBytes: (samples: number) => number, options: LinkAdaptiveOptions, now: number) {
    if (!(options.sloMs > 0 && Number.isFinite(options.sloMs))) {
      throw new BranchyCascadeError('CASCADE_BAD_SLO', `'sloMs' is ${options.sloMs}; expected a positive number of milliseconds.`, 500);
    }
    this.o = { margin: 0.5, alpha: 0.25, holdMs: 2000, holdDownMs: 250, windowMs: 5000, ...options };
    const { margin, alpha } = this.o;
    if (!(margin > 0 && margin <= 1) || !(alpha > 0 && alpha <= 1)) {
      throw new BranchyCascadeError('CASCADE_BAD_SLO', `'margin' is ${margin} and 'alpha' is ${alpha}; expected both in (0, 1].`, 500);
    }
    this.points = front.points;
    this.chosen = front.chosen;
    this.forwardShares = front.points.map((p) => p.exitShare.slice(handsOnAfter).reduce((a, b) => a + b, 0));
    this.frameBytes = frameBytes;
    this.index = front.chosen;
    this.lastMove = now;
    this.started = now;
  }

  current(): CurrentOperatingPoint {
    const p = this.points[this.index];
    return { index: this.index, chosen: this.chosen, thresholds: p.thresholds, accuracy: p.accuracy, expectedCost: p.expectedCost };
  }

  observeLatency(now: number, ms: number): void {
    this.latencies.push({ at: now, ms });
  }

  /** Batch run times come in through {@link observeBatch}, which also counts the samples. */
  observeBusy(): void {}

  /** A batch of `samples` the unit ran, taking `ownMs` of its own before handing any on. */
  observeBatch(now: number, samples: number, ownMs: number): void {
    this.arrivals.push({ at: now, samples });
    this.own = ewma(this.own, ownMs, this.o.alpha);
  }

  /** A hop to the successor came back. */
  observeHop(hop: HopObservation, now = performance.now()): void {
    const { alpha } = this.o;
    this.hops++;
    const net = Math.max(0, hop.ms - hop.serviceMs);
    if (hop.samples === 0) {
      this.rtt = ewma(this.rtt, net, alpha);
      return;
    }
    this.service = ewma(this.service, hop.serviceMs, alpha);
    if (this.rtt === null) return;
    const bytes = hop.sentBytes - this.frameBytes(0);
    if (bytes <= 0) return;
    if (this.msPerByte !== null) {
      const own = this.own ?? 0;
      const excess = (hop.ownMs ?? own) + net + hop.serviceMs - (own + this.rtt + bytes * this.msPerByte + (this.service ?? 0));
      this.deviation = ewma(this.deviation, Math.abs(excess), alpha);
      this.residuals.push({ at: now, ms: excess });
    }
    this.msPerByte = ewma(this.msPerByte, Math.max(0, net - this.rtt) / bytes, alpha);
  }

  /** The link as measured so far. */
  estimate(now: number): LinkEstimate {
    this.trim(now);
    return {
      rttMs: this.rtt,
      mbitPerS: this.msPerByte === null ? null : this.msPerByte > 0 ? 8 / (this.msPerByte * 1000) : Infinity,
      serviceMs: this.service ?? 0,
      deviationMs: this.deviation,
      ownMs: this.own ?? 0,
      arrivalsPerS: this.arrivalRate(now),
      hops: this.hops,
    };
  }

  /** The prediction at every front point, cheapest first; empty until the link is measured. */
  forecast(now: number): PointForecast[] {
    if (this.rtt === null || this.msPerByte === null) return [];
    const slo = this.o.sloMs;
    const lambda = this.arrivalRate(now) / 1000;
    const frameMs = (this.frameBytes(1) - this.frameBytes(0)) * this.msPerByte;
    const forwardedMs = (this.own ?? 0) + this.rtt + frameMs + (this.service ?? 0);
    const dev = Math.max(this.deviation, 1e-3);
    const residuals = this.residuals.map((r) => r.ms);
    const slack = slo - forwardedMs;
    const jitter = residuals.length >= MIN_RESIDUALS ? residuals.filter((r) => r > slack / 2).length / residuals.length : Math.exp(-slack / (2 * dev));
    return this.forwardShares.map((f, index) => {
      const rho = lambda * f * frameMs;
      const over = slack <= 0 || rho >= 1 ? 1 : Math.min(1, jitter + (frameMs > 0 ? rho * Math.exp((-(1 - rho) * slack) / (2 * frameMs)) : 0));
      return { index, forwardShare: f, forwardedMs, linkUtilization: rho, overSloShare: f * over };
    });
  }

  update(now: number): OperatingPointMove | undefined {
    const forecast = this.forecast(now);
    if (forecast.length === 0) return undefined;
    const budget = this.o.margin * TAIL_SHARE;
    const elapsed = now - this.lastMove;
    let to = this.index;
    if (forecast[this.index].overSloShare > budget && elapsed >= this.o.holdDownMs) {
      to = this.mostAccurateWithin(forecast, budget);
    } else if (this.index < this.chosen && elapsed >= this.o.holdMs) {
      const up = this.mostAccurateWithin(forecast, budget / 2);
      if (up > this.index) to = up;
    }
    if (to === this.index) return undefined;
    const move = { from: this.index, to, p99Ms: p99(this.latencies.map((l) => l.ms)), utilization: forecast[to].linkUtilization };
    this.index = to;
    this.lastMove = now;
    return move;
  }

  /** The most accurate point up to the plan's predicted within `budget`; none: the one predicted least over. */
  private mostAccurateWithin(forecast: readonly PointForecast[], budget: number): number {
    for (let i = this.chosen; i >= 0; i--) if (forecast[i].overSloShare <= budget) return i;
    let best = 0;
    for (let i = 1; i <= this.chosen; i++) if (forecast[i].overSloShare < forecast[best].overSloShare) best = i;
    return best;
  }

  private arrivalRate(now: number): number {
    this.trim(now);
    const span = Math.min(this.o.windowMs, now - this.started);
    return span > 0 ? (this.arrivals.reduce((s, a) => s + a.samples, 0) * 1000) / span : 0;
  }

  private trim(now: number): void {
    const since = now - this.o.windowMs;
    if (this.arrivals.length > 0 && this.arrivals[0].at < since) this.arrivals = this.arrivals.filter((a) => a.at >= since);
    if (this.latencies.length > 0 && this.latencies[0].at < since) this.latencies = this.latencies.filter((l) => l.at >= since);
    if (this.residuals.length > 0 && this.residuals[0].at < since) this.residuals = this.residuals.filter((r) => r.at >= since);
  }
}
