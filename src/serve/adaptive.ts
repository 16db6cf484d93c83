/**
 * Load-adaptive exits: under overload, move along the model's calibrated Pareto front to cheaper threshold
 * vectors (more samples leave early) so that the p99 latency stays under the SLO; when load falls, move back
 * toward the calibrated choice.
 *
 * The controller is a pure function of what it is told (latencies, busy time, the clock), so it is tested with a
 * fake clock. Rules, checked at most once per `holdMs` after a move and only on observations made since it:
 * - p99 latency of the window above `overloadShare` × SLO → step to a cheaper point (expected cost at most
 *   `costStep` × the current one's, or the next cheaper);
 * - p99 below `calmShare` × SLO, and the busy share predicted at the next costlier point (measured busy share ×
 *   cost ratio) below `maxUtilization` → step back toward the chosen point, never past it.
 * The gap between the two latency bands and the utilisation forecast keep it from oscillating under steady load.
 *
 * @module
 */
import { BranchyArgumentError } from '../common/errors.ts';
import type { OperatingPoint } from '../calibrate/types.ts';

/** Tuning of {@link LoadAdaptiveController}; every field has a default. */
export interface AdaptiveOptions {
  /** The p99 latency to hold, in ms. */
  sloMs: number;
  /** Sliding window of observations, in ms (default max(1000, 20 × SLO)). */
  windowMs?: number;
  /** Least time between moves, in ms (default window / 4). */
  holdMs?: number;
  /** Observations needed for a decision before a whole window has passed (default 50). */
  minObservations?: number;
  /** Step cheaper when p99 exceeds this share of the SLO (default 0.8). */
  overloadShare?: number;
  /** Consider stepping back when p99 is under this share of the SLO (default 0.4). */
  calmShare?: number;
  /** Step back only if the busy share forecast at the costlier point stays under this (default 0.7). */
  maxUtilization?: number;
  /** Cost ratio of one step (default 0.85). */
  costStep?: number;
  /**
   * Cost per sample of each front point the steps and the forecast are judged by, e.g. at the batch size the
   * server runs (see {@link batchedCosts}); default each point's `expectedCost` (batch 1).
   */
  costs?: readonly number[];
}

/**
 * Each point's expected cost per sample at the profile's batched size: Σ over exits of its exit share × the
 * batched cost to reach that exit. What a server running micro-batches pays, unlike `expectedCost` (batch 1).
 */
export function batchedCosts(front: readonly OperatingPoint[], costToExitBatched: readonly number[]): number[] {
  return front.map((p) => p.exitShare.reduce((sum, share, n) => sum + share * costToExitBatched[n], 0));
}

/** The operating point in force, as responses and `/metrics` report it. */
export interface CurrentOperatingPoint {
  /** Index in the calibrated front (cheapest first). */
  index: number;
  /** Index of the calibrated choice. */
  chosen: number;
  thresholds: number[];
  /** Validation accuracy of this point, from calibration. */
  accuracy: number;
  /** Expected cost per sample (batch 1, ms) from calibration. */
  expectedCost: number;
}

/** A move of the controller, for logs. */
export interface OperatingPointMove {
  from: number;
  to: number;
  /** The p99 latency it saw over its window, ms. */
  p99Ms: number;
  /** The busy share of what it watches: the model's (load), or the link's (a cascade's first unit). */
  utilization: number;
}

/**
 * What the server asks of an operating-point controller: the point in force, what its requests took, and now and
 * then whether to move. {@link LoadAdaptiveController} follows the load; a cascade's first unit brings one that
 * follows its link to the successor.
 */
export interface OperatingPointController {
  current(): CurrentOperatingPoint;
  /** One request's latency (arrival to answer) at time `now`. */
  observeLatency(now: number, ms: number): void;
  /** The model was busy `ms` on a batch ending at `now`. */
  observeBusy(now: number, ms: number): void;
  /** Decides whether to move; returns the move made, if any. */
  update(now: number): OperatingPointMove | undefined;
}

/** The 99th percentile of `values` (0 for none). */
export function p99(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)];
}

/** Walks a calibrated Pareto front to hold a latency SLO. */
export class LoadAdaptiveController implements OperatingPointController {
  private index: number;
  private lastMove: number;
  private latencies: { at: number; ms: number }[] = [];
  private busy: { at: number; ms: number }[] = [];
  private readonly o: Required<Omit<AdaptiveOptions, 'costs'>>;
  private readonly costs: readonly number[];

  /**
   * @param front the calibrated front, cheapest first (`StoredCalibration.front`).
   * @param chosen index of the calibrated choice: the most expensive point the controller uses.
   * @param now the clock's reading at start.
   * @throws BranchyArgumentError `SERVE_BAD_FRONT` for an empty front or a chosen index outside it,
   *   `SERVE_BAD_SLO` for an SLO that is not a positive number.
   */
  private readonly front: readonly OperatingPoint[];
  private readonly chosen: number;

  constructor(front: readonly OperatingPoint[], chosen: number, options: AdaptiveOptions, now: number) {
    this.front = front;
    this.chosen = chosen;
    if (front.length === 0 || !Number.isInteger(chosen) || chosen < 0 || chosen >= front.length) {
      throw new BranchyArgumentError(
        'SERVE_BAD_FRONT',
        `the calibrated front has ${front.length} points and the chosen index is ${chosen}; expected a non-empty front containing it.`,
      );
    }
    if (!(options.sloMs > 0 && Number.isFinite(options.sloMs))) {
      throw new BranchyArgumentError('SERVE_BAD_SLO', `'sloMs' is ${options.sloMs}; expected a positive number of milliseconds.`);
    }
    if (options.costs !== undefined && (options.costs.length !== front.length || !options.costs.every((c) => c >= 0 && Number.isFinite(c)))) {
      throw new BranchyArgumentError(
        'SERVE_BAD_FRONT',
        `'costs' has ${options.costs.length} entries for a front of ${front.length} points; expected one finite, non-negative cost per point.`,
      );
    }
    const { costs, ...tuning } = options;
    this.costs = costs ?? front.map((p) => p.expectedCost);
    const windowMs = options.windowMs ?? Math.max(1000, 20 * options.sloMs);
    this.o = {
      windowMs,
      holdMs: windowMs / 4,
      minObservations: 50,
      overloadShare: 0.8,
      calmShare: 0.4,
      maxUtilization: 0.7,
      costStep: 0.85,
      ...tuning,
    };
    this.index = chosen;
    this.lastMove = now;
  }

  /** The point in force. */
  current(): CurrentOperatingPoint {
    const p = this.front[this.index];
    return { index: this.index, chosen: this.chosen, thresholds: p.thresholds, accuracy: p.accuracy, expectedCost: p.expectedCost };
  }

  /** One request's latency (arrival to answer) at time `now`. */
  observeLatency(now: number, ms: number): void {
    this.latencies.push({ at: now, ms });
  }

  /** The model was busy `ms` on a batch ending at `now`. */
  observeBusy(now: number, ms: number): void {
    this.busy.push({ at: now, ms });
  }

  /** Decides whether to move; returns the move made, if any. */
  update(now: number): OperatingPointMove | undefined {
    const since = Math.max(this.lastMove, now - this.o.windowMs);
    this.latencies = this.latencies.filter((x) => x.at >= since);
    this.busy = this.busy.filter((x) => x.at >= since);
    const elapsed = now - this.lastMove;
    if (elapsed < this.o.holdMs) return undefined;
    if (this.latencies.length < this.o.minObservations && elapsed < this.o.windowMs) return undefined;
    const tail = p99(this.latencies.map((x) => x.ms));
    const span = Math.max(1e-9, now - since);
    const utilization = this.busy.reduce((s, x) => s + x.ms, 0) / span;
    let to = this.index;
    if (tail > this.o.overloadShare * this.o.sloMs) to = this.cheaper();
    else if (tail < this.o.calmShare * this.o.sloMs && this.index < this.chosen) {
      const next = this.costlier();
      const forecast = (utilization * this.costs[next]) / this.costs[this.index];
      if (forecast < this.o.maxUtilization) to = next;
    }
    if (to === this.index) return undefined;
    const move = { from: this.index, to, p99Ms: tail, utilization };
    this.index = to;
    this.lastMove = now;
    this.latencies = [];
    this.busy = [];
    return move;
  }

  /** The most accurate point costing at most `costStep` × the current one, or the next cheaper one. */
  private cheaper(): number {
    if (this.index === 0) return 0;
    const limit = this.costs[this.index] * this.o.costStep;
    let i = this.index - 1;
    while (i > 0 && this.costs[i] > limit) i--;
    return i;
  }

  /** The costliest point up to the chosen one costing at most the current one / `costStep`, or the next costlier. */
  private costlier(): number {
    const limit = this.costs[this.index] / this.o.costStep;
    let i = this.index + 1;
    while (i < this.chosen && this.costs[i + 1] <= limit) i++;
    return i;
  }
}
