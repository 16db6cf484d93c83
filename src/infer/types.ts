/** The answer for one sample. */
export interface ExitResult {
  /** Index of the predicted class. */
  label: number;
  /** Class probabilities at the exit that answered. */
  probs: Float32Array;
  /** The exit that answered, 1-based; the last exit is the final classifier. */
  exit: number;
  /** The criterion's score at that exit (entropy in nats by default); lower = more confident. */
  score: number;
  /** How the sample travelled, when a cascade of deployment units answered it (see `branchy/node`'s cascade). */
  route?: ExitRoute;
}

/** One hop of a cascade: the unit reached, the round trip as the sender measured it, and the bytes moved. */
export interface HopTiming {
  unit: string;
  ms: number;
  sentBytes: number;
  receivedBytes: number;
}

/** How a cascade of deployment units answered one sample. */
export interface ExitRoute {
  /** The unit whose exit answered. */
  unit: string;
  /** Units the sample travelled through after the first (0 when the first unit answered). */
  hops: number;
  /** True when a unit answered from its own last exit because its successor could not. */
  degraded: boolean;
  /** Why, when degraded: `timeout`, `unreachable`, `no responders`, `circuit open`, `no successor`, `successor refused: CODE` (4xx), `successor error: CODE` (5xx). */
  reason?: string;
  /** The hops after the first unit, in order. */
  path: HopTiming[];
}

/** Where the time of one early-exit run went, in milliseconds. Every figure includes what a user pays. */
export interface RunTiming {
  totalMs: number;
  /**
   * Per stage n (index n-1), including carrying the features of the samples that go on to stage n+1. On an
   * engine with a fused call (`LoadedNetwork.stageAndExit`) this covers stage n and exit head n together.
   */
  stageMs: number[];
  /** Per exit n: head + softmax + criterion; the criterion only when fused. */
  exitMs: number[];
  /** Samples that entered stage n (index n-1). */
  entered: number[];
}

/** An early-exit run over one batch. */
export interface RunResult {
  results: ExitResult[];
  timing: RunTiming;
}
