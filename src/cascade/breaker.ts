/** When a circuit breaker opens and how it probes. */
export interface BreakerOptions {
  /** Consecutive failed hops that open the circuit (default 3). */
  failures?: number;
  /** How long it stays open before one request may probe the successor, in ms (default 1000). */
  probeAfterMs?: number;
}

/** `closed`: hops go through; `open`: answered degraded at once; `probing`: one hop tests the successor. */
export type BreakerState = 'closed' | 'open' | 'probing';

/**
 * A circuit breaker in front of a unit's successor. After `failures` consecutive failed hops it opens: the unit
 * stops waiting for the hop deadline and answers degraded at once. After `probeAfterMs` one hop is let through;
 * if it succeeds the circuit closes and full answers resume, otherwise it opens again.
 */
export class CircuitBreaker {
  private readonly failuresToOpen: number;
  private readonly probeAfterMs: number;
  private readonly now: () => number;
  private failures = 0;
  private openedAt = 0;
  private current: BreakerState = 'closed';

  constructor(options: BreakerOptions = {}, now: () => number = () => performance.now()) {
    this.failuresToOpen = options.failures ?? 3;
    this.probeAfterMs = options.probeAfterMs ?? 1000;
    this.now = now;
  }

  /** The state now. */
  get state(): BreakerState {
    return this.current;
  }

  /** Whether a hop may go now; when open and due, this hop becomes the probe. */
  allow(): boolean {
    if (this.current === 'closed') return true;
    if (this.current === 'open' && this.now() - this.openedAt >= this.probeAfterMs) {
      this.current = 'probing';
      return true;
    }
    return false;
  }

  /** A hop succeeded. */
  success(): void {
    this.failures = 0;
    this.current = 'closed';
  }

  /** A hop failed. */
  failure(): void {
    this.failures++;
    if (this.current === 'probing' || this.failures >= this.failuresToOpen) {
      this.current = 'open';
      this.openedAt = this.now();
    }
  }
}
