/**
 * The planner's cost model: what one sample costs, exit by exit, when a network's units run on given tiers.
 *
 * A sample that leaves at exit k, answered by unit j, pays (every term one the units pay, in the order they pay
 * it):
 *
 * - the first unit's handling of the client's HTTP request outside the model (a JSON predict request, as its tier
 *   profile measured it: `request-cost.ts`) and its micro-batching wait (its predict route waits up to
 *   `--max-wait-ms` for other requests);
 * - for each unit i before j: its stages and exit heads on its tier (with `forward: input`, also the stages before
 *   its own, which it recomputes), encoding the features frame of one sample there, sending it (bytes / bandwidth
 *   plus the route's round-trip time), the successor's handling of that HTTP request (a binary one, as its tier's
 *   profile measured it), its micro-batching wait, decoding the frame on the successor's tier, and, on the way
 *   back, encoding the answer frame there, sending it (bytes / bandwidth) and decoding it on unit i's tier;
 * - unit j's stages up to k and exit heads from its first exit up to k;
 * - on every unit that computes, the engine's extra time on a request that comes after idling, and on every
 *   micro-batching wait, how much longer than its nominal length it holds a lone request (both measured with the
 *   request cost; a wait of 0 runs at once).
 *
 * Compute, frame and request costs are the profile's divided by the tier's speed factor: its sustained one, or,
 * for a tier under a CPU quota whose expected busy time per quota period at the offered load fits the quota's
 * budget, its burst one (a quota does not slow work that stops before the period's budget is spent). Compute is
 * the profile's per-piece typical costs (stage and exit head timed apart); frame costs are a fixed cost plus a
 * cost per byte (measured, see `codec-cost.ts`); frame sizes are exact (`featureBytes`). The figures of a
 * threshold vector weight these per-exit costs by the share of validation samples leaving at each exit. Latency
 * is that of one request at a time (batch 1, no queueing); throughput uses the batched costs at the sustained
 * speed, and leaves the per-request cost out (a full batch is one request).
 *
 * @module
 */
import type { StoredCostProfile } from '../calibrate/types.ts';
import type { RequestCost } from './request-cost.ts';
import type { ExitResult } from '../infer/types.ts';
import { networkFacts } from '../spec/shapes.ts';
import type { NetworkSpec } from '../spec/types.ts';
import { encodeAnswers } from './answer-frame.ts';
import { codecMs, scaleCodec, type CodecCost } from './codec-cost.ts';
import { featureBytes } from './feature-codec.ts';
import type { TierPower } from './tiers.ts';
import type { FeatureDtype, ForwardMode } from './types.ts';

/** What computing and serialising cost on one tier, per sample, already divided by its speed factor. */
export interface TierCosts {
  name: string;
  /** Stage n's cost at index n-1, ms per sample at batch 1. */
  stageMs: number[];
  /** Exit head n's cost (with the criterion) at index n-1, ms per sample at batch 1. */
  exitMs: number[];
  /** The same per sample at the profile's batch size. */
  stageMsBatched: number[];
  exitMsBatched: number[];
  codec: CodecCost;
  /**
   * What handling one HTTP request costs the tier's unit outside its model, in ms: a client's JSON predict request
   * (the first unit) and a predecessor's binary frame (a successor). Absent: not measured, charged 0.
   */
  requestMs?: { json: number; frame: number };
  /** The engine's extra time on a request after idling, ms per unit that computes (charged with the request costs). */
  idleEngineMs?: number;
  /** How much longer than its nominal length a micro-batching wait holds a lone request there, ms. */
  waitLateMs?: number;
  /**
   * The tier is held to a CPU quota: work that stops within `budgetMs` of CPU per `periodMs` runs `speedup`
   * times as fast as the costs above say (they are at the sustained speed).
   */
  burst?: TierBurst;
  power?: TierPower;
}

/** A CPU quota's burst: how much faster than its sustained speed a tier runs while its period's budget lasts. */
export interface TierBurst {
  /** The burst speed over the sustained speed (the two speed factors' ratio), ≥ 1 in practice. */
  speedup: number;
  /** CPU time the quota grants per period, ms (its share of a core × the period). */
  budgetMs: number;
  periodMs: number;
}

/** A CPU quota as a tiers file states it. */
export interface TierQuota {
  /** The share of one core the quota grants (0.2: 20 ms of CPU per 100 ms). */
  cpuShare: number;
  /** The CFS period, ms (default 100, Linux's). */
  periodMs: number;
  /** The tier's speed factor while a burst lasts, as `speedFactor` is its sustained one. */
  burstSpeedFactor: number;
}

/** Which speed a tier's costs were taken at, and why. */
export interface TierSpeed {
  tier: string;
  /** `fixed`: no quota; `burst`: within the quota's budget; `sustained`: beyond it. */
  mode: 'fixed' | 'burst' | 'sustained';
  /** For a tier under a quota: its expected busy ms per period at the offered load (at the burst speed), and the budget. */
  busyPerPeriodMs?: number;
  budgetMs?: number;
}

/** A route from one unit's tier to its successor's. */
export interface HopLink {
  mbitPerS: number;
  rttMs: number;
}

/** Where a network's units run. */
export interface Placement {
  /** The last stage of every unit but the last, ascending (`splitModel`'s `at`); empty for the whole network on one tier. */
  cuts: number[];
  /** One tier per unit (`cuts.length + 1`). */
  tiers: TierCosts[];
  /** The route from unit i's tier to unit i+1's, per hop (`cuts.length`). */
  hops: HopLink[];
  forward: ForwardMode;
}

/** What the units assume besides the placement. */
export interface CostModelOptions {
  /** The dtype features travel in (default `f32`). */
  featureDtype?: FeatureDtype;
  /** Each successor's micro-batching wait per frame, in ms (`branchy unit --max-wait-ms` on a successor, default 0). */
  maxWaitMs?: number;
  /** The first unit's micro-batching wait per request, in ms (default 2, as `branchy unit` waits there; 0 when calling `process` directly). */
  requestWaitMs?: number;
  /**
   * Requests per second offered to the first unit (default 0: one request alone), which decides whether a tier
   * under a CPU quota stays within its budget.
   */
  requestsPerS?: number;
  /** Charge each unit's HTTP request handling (default true; false when units are called in-process). */
  chargeRequests?: boolean;
}

/** Where a sample's time goes, in ms. */
export interface CostTerms {
  computeMs: number;
  codecMs: number;
  transferMs: number;
  waitMs: number;
  /** HTTP request handling outside the model: the first unit's and each receiving successor's. */
  requestMs: number;
}

/** One sample leaving at one exit. */
export interface ExitCost {
  /** 1-based, in the whole network's numbering. */
  exit: number;
  /** The index of the unit that answers. */
  unit: number;
  latencyMs: number;
  terms: CostTerms;
  /** The first tier's time computing and serialising, and waiting for the rest of the chain. */
  deviceBusyMs: number;
  deviceIdleMs: number;
  /** busyW × busy + idleW × idle + J/byte × bytes it sent, in mJ (NaN without power figures). */
  deviceEnergyMj: number;
  /** Bytes of the features frames the units sent for it (the device's are `deviceSentBytes`). */
  sentBytes: number;
  deviceSentBytes: number;
  /** Per unit, its tier's time computing, serialising and handling requests for this sample. */
  busyMs: number[];
}

/** The expected figures of a placement at one operating point. */
export interface PlacementFigures {
  /** The median and mean over validation samples of the per-exit latency, at batch 1. */
  latencyP50Ms: number;
  latencyMeanMs: number;
  /** The first tier's expected energy per sample, mJ. */
  deviceEnergyMj: number;
  /** Expected bytes of features frames sent per sample, over every hop. */
  sentBytes: number;
  /**
   * Samples per second the chain sustains with full batches: the least of each tier's 1000 / (batched ms per
   * sample) and each link's bandwidth / (bytes per sample each way); `null` when nothing bounds it.
   */
  throughputPerS: number | null;
  perExit: ExitCost[];
  /** Per unit, the speed its tier's costs were taken at. */
  speeds: TierSpeed[];
}

/** Bytes per millisecond of a link of `mbitPerS` Mbit/s. */
const bytesPerMs = (mbitPerS: number) => (mbitPerS * 1e6) / 8 / 1000;

/** A stored piece's typical cost (older profiles lack it: their median). */
const typical = (t: { typicalMs?: number; p50Ms: number }) => t.typicalMs ?? t.p50Ms;

/**
 * A tier's costs from a cost profile, a codec cost and (when measured) a request cost measured on a machine, for a
 * tier `speedFactor` times as fast as that machine; with `quota`, a tier held to a CPU quota whose sustained speed
 * factor is `speedFactor` and whose burst speed factor is the quota's.
 */
export function tierCosts(
  name: string,
  profile: StoredCostProfile,
  codec: CodecCost,
  options: { speedFactor?: number; power?: TierPower; request?: RequestCost; quota?: TierQuota } = {},
): TierCosts {
  const speed = options.speedFactor ?? 1;
  const { request, quota } = options;
  const depth = profile.pieces.length / 2;
  const piece = (kind: 'stage' | 'exit', n: number) => profile.pieces.find((p) => p.kind === kind && p.index === n)!;
  const series = (kind: 'stage' | 'exit', batched: boolean) =>
    Array.from({ length: depth }, (_, i) => typical(batched ? piece(kind, i + 1).batched : piece(kind, i + 1).batch1) / speed);
  return {
    name,
    stageMs: series('stage', false),
    exitMs: series('exit', false),
    stageMsBatched: series('stage', true),
    exitMsBatched: series('exit', true),
    codec: scaleCodec(codec, speed),
    ...(request ? { requestMs: { json: request.json.overheadMs / speed, frame: request.frame.overheadMs / speed } } : {}),
    ...(request?.idle ? { idleEngineMs: request.idle.extraMs / speed } : {}),
    ...(request?.wait ? { waitLateMs: request.wait.lateMs } : {}),
    ...(quota ? { burst: { speedup: quota.burstSpeedFactor / speed, budgetMs: quota.cpuShare * quota.periodMs, periodMs: quota.periodMs } } : {}),
    ...(options.power ? { power: options.power } : {}),
  };
}

/** `tier`'s costs on a machine `speedup` times as fast. */
function spedUp(tier: TierCosts, speedup: number): TierCosts {
  if (speedup === 1) return tier;
  const div = (xs: readonly number[]) => xs.map((v) => v / speedup);
  return {
    ...tier,
    stageMs: div(tier.stageMs),
    exitMs: div(tier.exitMs),
    stageMsBatched: div(tier.stageMsBatched),
    exitMsBatched: div(tier.exitMsBatched),
    codec: scaleCodec(tier.codec, speedup),
    ...(tier.requestMs ? { requestMs: { json: tier.requestMs.json / speedup, frame: tier.requestMs.frame / speedup } } : {}),
    ...(tier.idleEngineMs === undefined ? {} : { idleEngineMs: tier.idleEngineMs / speedup }),
  };
}

/** A representative answer to one sample, as unit `from` of `names` encodes it for a sample answered by `answering`. */
function answerBytes(classes: number, names: readonly string[], from: number, answering: number): number {
  const probs = new Float32Array(classes).fill(1 / classes);
  const path = names.slice(from + 1, answering + 1).map((unit) => ({ unit, ms: 1.2345678901234567, sentBytes: 18_000, receivedBytes: 300 }));
  const result: ExitResult = {
    label: 0,
    probs,
    exit: 1,
    score: 0.1234567890123456,
    route: { unit: names[answering], hops: path.length, degraded: false, path },
  };
  return encodeAnswers([result], classes).length;
}

/** The stages a unit runs (`from..last`) and the exits it consults (`first..last`), 1-based. */
function unitBounds(depth: number, cuts: readonly number[], forward: ForwardMode): { from: number; first: number; last: number }[] {
  const bounds = [0, ...cuts, depth];
  return bounds.slice(1).map((last, i) => ({ first: bounds[i] + 1, last, from: forward === 'input' ? 1 : bounds[i] + 1 }));
}

/**
 * The per-exit costs and expected figures of a placement at one operating point.
 *
 * @param spec the whole network (for the shapes of what each unit sends and its class count).
 * @param modelId the plan's model id (it is in every frame's header, so it counts in the frame's size).
 * @param point the operating point: one threshold per early exit (they travel in every frame's header) and the
 *   share of samples leaving at each exit.
 */
export function placementFigures(
  spec: NetworkSpec,
  modelId: string,
  placement: Placement,
  point: { thresholds: readonly number[]; exitShare: readonly number[] },
  options: CostModelOptions = {},
): PlacementFigures {
  const depth = spec.stages.length;
  const classes = spec.classes.length;
  const dtype = options.featureDtype ?? 'f32';
  const { cuts, tiers, hops, forward } = placement;
  const units = unitBounds(depth, cuts, forward);
  const names = tiers.map((t) => t.name);
  const facts = networkFacts(spec);
  // What unit i sends its successor for one sample, and the answer it gets back for a sample unit j answers.
  const frameBytes = cuts.map((cut, i) => {
    const stage = forward === 'input' ? 0 : cut;
    const shape = forward === 'input' ? spec.input.shape : facts.stages[cut - 1].output;
    return featureBytes(shape, 1, dtype, { modelId, stage, thresholds: [...point.thresholds], from: names[i] });
  });
  const answer = (i: number, j: number) => answerBytes(classes, names, i, j);
  const compute = (at: readonly TierCosts[]) => (i: number, upTo: number, batched: boolean) => {
    const t = at[i];
    let ms = 0;
    for (let g = units[i].from; g <= upTo; g++) ms += (batched ? t.stageMsBatched : t.stageMs)[g - 1];
    for (let g = units[i].first; g <= upTo; g++) ms += (batched ? t.exitMsBatched : t.exitMs)[g - 1];
    return ms;
  };
  const share = point.exitShare;
  const evaluate = (at: readonly TierCosts[]) => exitCosts(units, at, hops, frameBytes, answer, compute(at), dtype, options);
  // A tier under a quota runs at its burst speed when its busy time per period, at that speed, fits the budget.
  const burstAll = tiers.map((t) => (t.burst ? spedUp(t, t.burst.speedup) : t));
  const atBurst = tiers.some((t) => t.burst) ? evaluate(burstAll) : undefined;
  const perSecond = options.requestsPerS ?? 0;
  const speeds: TierSpeed[] = tiers.map((t, i) => {
    if (!t.burst || !atBurst) return { tier: t.name, mode: 'fixed' };
    const reached = atBurst.filter((e, index) => share[index] > 0 && e.busyMs[i] > 0);
    const lone = Math.max(0, ...reached.map((e) => e.busyMs[i]));
    const expected = atBurst.reduce((sum, e, index) => sum + share[index] * e.busyMs[i], 0);
    const busyPerPeriodMs = Math.max(lone, ((perSecond * t.burst.periodMs) / 1000) * expected);
    const mode = busyPerPeriodMs <= t.burst.budgetMs ? 'burst' : 'sustained';
    return { tier: t.name, mode, busyPerPeriodMs, budgetMs: t.burst.budgetMs };
  });
  const effective = tiers.map((t, i) => (speeds[i].mode === 'burst' ? burstAll[i] : t));
  const perExit = evaluate(effective);
  const expect = (f: (e: ExitCost) => number) => perExit.reduce((sum, e, i) => sum + share[i] * f(e), 0);
  return {
    latencyP50Ms: median(perExit, share),
    latencyMeanMs: expect((e) => e.latencyMs),
    deviceEnergyMj: expect((e) => e.deviceEnergyMj),
    sentBytes: expect((e) => e.sentBytes),
    throughputPerS: throughput(units, tiers, hops, share, frameBytes, answer, compute(tiers), dtype),
    perExit,
    speeds,
  };
}

/** Each exit's cost on tiers `at` (one per unit). */
function exitCosts(
  units: readonly { from: number; first: number; last: number }[],
  at: readonly TierCosts[],
  hops: readonly HopLink[],
  frameBytes: readonly number[],
  answer: (i: number, j: number) => number,
  compute: (i: number, upTo: number, batched: boolean) => number,
  dtype: FeatureDtype,
  options: CostModelOptions,
): ExitCost[] {
  const maxWaitMs = options.maxWaitMs ?? 0;
  const requestWaitMs = options.requestWaitMs ?? 2;
  const charged = options.chargeRequests !== false;
  const handling = (i: number, kind: 'json' | 'frame') => (charged ? (at[i].requestMs?.[kind] ?? 0) : 0);
  const idle = (i: number) => (charged ? (at[i].idleEngineMs ?? 0) : 0);
  // A wait of 0 runs at once; a positive one holds a lone request its nominal length and the timer's lateness.
  const wait = (i: number, nominalMs: number) => (nominalMs > 0 ? nominalMs + (charged ? (at[i].waitLateMs ?? 0) : 0) : 0);
  const depth = units[units.length - 1].last;
  const perExit: ExitCost[] = [];
  for (let k = 1; k <= depth; k++) {
    const j = units.findIndex((u) => k >= u.first && k <= u.last);
    const terms: CostTerms = { computeMs: 0, codecMs: 0, transferMs: 0, waitMs: wait(0, requestWaitMs), requestMs: handling(0, 'json') };
    const busyMs = units.map(() => 0);
    busyMs[0] = terms.requestMs;
    let sentBytes = 0;
    for (let i = 0; i < j; i++) {
      const bytes = frameBytes[i];
      const back = answer(i + 1, j);
      const c = compute(i, units[i].last, false) + idle(i);
      const sendSide = codecMs(at[i].codec.features[dtype].encode, bytes) + codecMs(at[i].codec.answers.decode, back);
      const receiveSide = codecMs(at[i + 1].codec.features[dtype].decode, bytes) + codecMs(at[i + 1].codec.answers.encode, back);
      const received = handling(i + 1, 'frame');
      terms.computeMs += c;
      terms.codecMs += sendSide + receiveSide;
      terms.transferMs += (bytes + back) / bytesPerMs(hops[i].mbitPerS) + hops[i].rttMs;
      terms.waitMs += wait(i + 1, maxWaitMs);
      terms.requestMs += received;
      busyMs[i] += c + sendSide;
      busyMs[i + 1] += receiveSide + received;
      sentBytes += bytes;
    }
    const last = compute(j, k, false) + idle(j);
    terms.computeMs += last;
    busyMs[j] += last;
    const latencyMs = terms.computeMs + terms.codecMs + terms.transferMs + terms.waitMs + terms.requestMs;
    const deviceBusyMs = busyMs[0];
    const deviceSentBytes = j > 0 ? frameBytes[0] : 0;
    const deviceIdleMs = latencyMs - deviceBusyMs;
    const p = at[0].power;
    const deviceEnergyMj = p ? p.busyW * deviceBusyMs + p.idleW * deviceIdleMs + 1000 * p.joulesPerByteSent * deviceSentBytes : NaN;
    perExit.push({ exit: k, unit: j, latencyMs, terms, deviceBusyMs, deviceIdleMs, deviceEnergyMj, sentBytes, deviceSentBytes, busyMs });
  }
  return perExit;
}

/** The latency below which half the samples finish: the exits sorted by latency, weighted by their shares. */
function median(perExit: readonly ExitCost[], share: readonly number[]): number {
  const order = perExit.map((e, i) => ({ ms: e.latencyMs, share: share[i] })).sort((a, b) => a.ms - b.ms);
  let cumulative = 0;
  for (const o of order) {
    cumulative += o.share;
    if (cumulative >= 0.5 - 1e-12) return o.ms;
  }
  return order[order.length - 1].ms;
}

/** Samples per second with full batches: the busiest tier's and the busiest link's bound, whichever is lower. */
function throughput(
  units: readonly { first: number; last: number }[],
  tiers: readonly TierCosts[],
  hops: readonly HopLink[],
  share: readonly number[],
  frameBytes: readonly number[],
  answer: (i: number, j: number) => number,
  compute: (i: number, upTo: number, batched: boolean) => number,
  dtype: FeatureDtype,
): number | null {
  let bound = Infinity;
  units.forEach((u, i) => {
    let busy = 0;
    let up = 0;
    let down = 0;
    share.forEach((s, index) => {
      const k = index + 1;
      if (k < u.first || s === 0) return;
      const j = units.findIndex((v) => k >= v.first && k <= v.last);
      busy += s * compute(i, Math.min(k, u.last), true);
      if (i > 0) busy += s * (tiers[i].codec.features[dtype].decode.msPerByte * frameBytes[i - 1] + tiers[i].codec.answers.encode.msPerByte * answer(i, j));
      if (k > u.last) {
        busy += s * (tiers[i].codec.features[dtype].encode.msPerByte * frameBytes[i] + tiers[i].codec.answers.decode.msPerByte * answer(i + 1, j));
        up += s * frameBytes[i];
        down += s * answer(i + 1, j);
      }
    });
    if (busy > 0) bound = Math.min(bound, 1000 / busy);
    if (i < hops.length && Math.max(up, down) > 0) bound = Math.min(bound, (1000 * bytesPerMs(hops[i].mbitPerS)) / Math.max(up, down));
  });
  return Number.isFinite(bound) ? bound : null;
}
