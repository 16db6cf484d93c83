/**
 * The cascade's contracts: a deployment plan (a network cut into units), what travels between units, and how a
 * unit reaches its successor. A unit knows neither how its successor works nor where its input came from: it
 * sees only these types.
 *
 * @module
 */
import type { NetworkSpec } from '../spec/types.ts';

/** Header naming the unit that sent a frame (HTTP and NATS). */
export const FROM_HEADER = 'branchy-from';

/** Header a unit sets on an error reply, with the error's code; the body is JSON `{code, message}`. */
export const ERROR_HEADER = 'branchy-error';

/** How a unit hands on the samples it cannot answer: its last stage's features, or the raw input. */
export type ForwardMode = 'features' | 'input';

/** The element type features travel in: f32 as computed, f16 (half the bytes), int8 with a per-channel scale. */
export type FeatureDtype = 'f32' | 'f16' | 'int8';

/** The feature dtypes, in the order of their size on the wire. */
export const FEATURE_DTYPES: readonly FeatureDtype[] = ['f32', 'f16', 'int8'];

/** One deployment unit D_i = (M_i, N_i, j) of a plan. */
export interface UnitPlan {
  /** Unit name, e.g. `device`; also its directory in the plan and its subject on NATS. */
  name: string;
  /** 0-based position in the chain. */
  index: number;
  /** First and last stage the unit runs, 1-based and inclusive, in the whole network's numbering. */
  stages: [number, number];
  /** First exit the unit consults (its own exits); before it, the unit only runs stages (`forward: input`). */
  firstExit: number;
  /** Shape of one sample of the unit's input: the raw input, or the features of stage `firstExit - 1`. */
  inputShape: number[];
  /** What the unit takes: raw input (`input`) or features of stage `firstExit - 1` (`features`). */
  takes: 'input' | 'features';
  /** The unit's successor's name; none for the last unit. */
  successor?: string;
}

/** What the placement planner minimises: mean latency, the first tier's energy, or bytes sent per sample. */
export type PlanObjective = 'latency' | 'energy' | 'bytes';

/** The planner objectives. */
export const PLAN_OBJECTIVES: readonly PlanObjective[] = ['latency', 'energy', 'bytes'];

/** Where `branchy plan` placed a plan's units, and what it expected of them at the plan's thresholds. */
export interface PlanPlacement {
  /** The tier of each unit, in order (each unit is named after its tier). */
  tiers: string[];
  objective: PlanObjective;
  /** The accuracy constraint the thresholds meet, in words. */
  constraint: string;
  /** The dtype features travel in, which the figures assume (`branchy unit` takes it as its default). */
  featureDtype: FeatureDtype;
  /** Each unit's micro-batching wait the figures assume, in ms. */
  maxWaitMs: number;
  /** The operating point's validation accuracy and share leaving at each exit. */
  accuracy: number;
  exitShare: number[];
  /**
   * Per sample at batch 1: latency median and mean (ms), the first tier's energy (mJ; `null` without its power
   * figures), bytes of features sent; and samples per second with full batches (`null`: unbounded).
   */
  expected: { latencyP50Ms: number; latencyMeanMs: number; deviceEnergyMj: number | null; sentBytes: number; throughputPerS: number | null };
}

/** `plan.json`: how a network was cut, and the identity every unit checks its input against. */
export interface DeploymentPlan {
  format: 'branchy-plan/1';
  /** The network's name (the predict route's model name on the first unit). */
  model: string;
  /**
   * The producing model's id: a SHA-256 over its spec and weight files. Every features frame carries it and every
   * unit checks it, so a frame from another network or version is refused.
   */
  modelId: string;
  /**
   * The plan's id: 12 hex digits of a SHA-256 over the model id, the forward mode and every unit's name and stages.
   * Two plans of one model differ in it, so their units never share a NATS subject or queue group.
   */
  id: string;
  /** The whole network, as it was split (thresholds, classes, input, criterion). */
  spec: NetworkSpec;
  forward: ForwardMode;
  units: UnitPlan[];
  /** Where the planner placed the units (`branchy plan`); absent from a plan `branchy split` wrote. */
  placement?: PlanPlacement;
  /**
   * In a front unit's view of a shared successor's plan: the successor network's name, which its unit's NATS
   * subject carries (every front reaches the one successor subject).
   */
  successorModel?: string;
  /**
   * The model's calibrated Pareto front, when the model was calibrated for its criterion: what a first unit
   * holding a latency SLO moves along as its link changes (`branchy unit --slo-ms`).
   */
  front?: PlanFront;
}

/** A calibrated front as a plan carries it. */
export interface PlanFront {
  criterion: string;
  /** The validation front, cheapest first: thresholds, accuracy, expected cost (ms at batch 1) and exit shares. */
  points: { thresholds: number[]; accuracy: number; expectedCost: number; exitShare: number[] }[];
  /** Index of the plan's own operating point (its thresholds) in `points`: the most accurate point a unit uses. */
  chosen: number;
}

/** What a unit's input frame says about itself (the frame's `__metadata__`, strings on the wire). */
export interface FeaturesMeta {
  /** `DeploymentPlan.modelId` of the network that computed the tensor. */
  modelId: string;
  /** The stage whose output the tensor is (0: the raw input). */
  stage: number;
  /** The dtype the features travel in; int8 frames also carry a per-channel `scale` tensor. */
  dtype: FeatureDtype;
  /** Thresholds of the whole network's early exits for this request (the first unit's, passed along). */
  thresholds: number[];
  /** Name of the unit that sent it. */
  from: string;
}

/** How a cascade answered a sample (kept with the result: `ExitResult.route`). */
export type { ExitRoute as CascadeRoute, HopTiming } from '../infer/types.ts';

/** A unit's successor, reached over some transport. */
export interface Transport {
  /** `http` or `nats`. */
  readonly kind: string;
  /** Where it sends, for messages (`http://127.0.0.1:8080`, `nats://…/branchy.lenet.cloud`). */
  readonly target: string;
  /**
   * Largest frame the transport carries in one message, when it has a limit (NATS's `max_payload`); the unit
   * splits batches to stay under it.
   */
  readonly maxFrameBytes?: number;
  /**
   * Sends one features frame and resolves with the successor's answer frame.
   *
   * @throws CascadeHopError when the successor does not answer within `deadlineMs`, cannot be reached, has no
   *   responders, or answers with an error.
   */
  forward(frame: Uint8Array, deadlineMs: number): Promise<Uint8Array>;
  /** Closes connections. */
  close(): Promise<void>;
}

/** Answers frames for one unit: what a transport's server side calls with each frame it receives. */
export type FrameHandler = (frame: Uint8Array) => Promise<Uint8Array>;
