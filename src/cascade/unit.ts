/**
 * A running deployment unit: its own stages and exits, loaded on an engine, and the way to its successor. The
 * first unit takes raw input; a successor takes features frames, checks who sent them, micro-batches them with
 * other predecessors' frames and answers with an answer frame.
 *
 * @module
 */
import { join } from 'node:path';
import { selectRows } from '../engine/batch.ts';
import type { Batch, LoadedNetwork } from '../engine/types.ts';
import { getCriterion, validateThresholds, type ExitCriterion } from '../exit/index.ts';
import type { ExitResult } from '../infer/types.ts';
import { readManifest } from '../io/model-dir.ts';
import { openModel, type OpenModelOptions } from '../open/open-model.ts';
import { MicroBatcher } from '../serve/batcher.ts';
import type { Counter, Histogram, MetricsRegistry } from '../serve/metrics.ts';
import { decodeAnswerFrame, encodeAnswers } from './answer-frame.ts';
import { CircuitBreaker, type BreakerOptions } from './breaker.ts';
import { BranchyCascadeError, CascadeHopError } from './errors.ts';
import { decodeUnitFrame, encodeFeatures, encodeProbe, featureBytes } from './feature-codec.ts';
import { LinkAdaptiveController, type LinkAdaptiveOptions } from './link-adaptive.ts';
import { planUnit, readPlan } from './plan.ts';
import { isSharedPlanDir, readSharedPlan, sharedUnitView, type SharedFrontPlan, type SharedUnitView } from './shared-plan.ts';
import { inUnionClasses, toFrontClasses } from '../infer/shared-path.ts';
import { argmaxRow } from '../infer/argmax.ts';
import { runUnit } from './run-unit.ts';
import type { DeploymentPlan, FeatureDtype, FeaturesMeta, Transport, UnitPlan } from './types.ts';
import type { HopTiming } from '../infer/types.ts';

/** How a unit runs. */
export interface UnitOptions {
  /** Engine options for the unit's network (default: onnxruntime, which the unit's ONNX files run on). */
  open?: OpenModelOptions;
  /** The way to the successor; without one, a unit that has a successor in the plan answers degraded. */
  successor?: Transport;
  /** Deadline of one hop, in ms (default 1000). */
  hopTimeoutMs?: number;
  /** The dtype features travel in (default: the plan's placement's, when `branchy plan` wrote it, else `f32`). */
  featureDtype?: FeatureDtype;
  breaker?: BreakerOptions;
  /** Micro-batching of the frames a successor receives (defaults: 64 samples, 2 ms, 4096 queued). */
  batching?: { maxBatch?: number; maxWaitMs?: number; queueLimit?: number };
  /** Where the unit's counters go (the unit's `/metrics`). */
  metrics?: MetricsRegistry;
  /**
   * Hold a p99 latency SLO over the link to the successor (first unit only): measure each hop and move along the
   * plan's calibrated front as the link changes (see {@link LinkAdaptiveController}). `probeEveryMs` (default
   * 1000) is how often it probes the successor: one frame without features, and one of a single sample when no
   * hop carried features since the last probe.
   */
  slo?: LinkAdaptiveOptions & { probeEveryMs?: number };
}

interface UnitMetrics {
  forwarded: Counter;
  degraded: Counter;
  hopSeconds: Histogram;
  hopBytes: Counter;
  frames: Counter;
  refused: Counter;
}

function unitMetrics(registry: MetricsRegistry): UnitMetrics {
  return {
    forwarded: registry.counter('branchy_cascade_forwarded_samples_total', 'Samples this unit handed to its successor.', ['unit']),
    degraded: registry.counter('branchy_cascade_degraded_samples_total', "Samples answered from this unit's last exit because its successor could not.", [
      'unit',
      'reason',
    ]),
    hopSeconds: registry.histogram(
      'branchy_cascade_hop_seconds',
      'Round trip of one hop to the successor, as this unit measured it.',
      ['unit'],
      [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    ),
    hopBytes: registry.counter('branchy_cascade_hop_bytes_total', 'Bytes this unit sent to and received from its successor.', ['unit', 'direction']),
    frames: registry.counter('branchy_cascade_frames_received_total', 'Features frames this unit received.', ['unit']),
    refused: registry.counter('branchy_cascade_frames_refused_total', 'Features frames this unit refused.', ['unit', 'code']),
  };
}

/** A deployment unit, ready to run. */
export class CascadeUnit {
  readonly plan: DeploymentPlan;
  readonly unit: UnitPlan;
  readonly net: LoadedNetwork;
  readonly featureDtype: FeatureDtype;
  readonly breaker: CircuitBreaker;
  private readonly criterion: ExitCriterion;
  private readonly successor?: Transport;
  private readonly hopTimeoutMs: number;
  private readonly metrics?: UnitMetrics;
  private readonly batcher: MicroBatcher<null>;
  /** Present when the unit holds a latency SLO over its link ({@link UnitOptions.slo}). */
  readonly controller?: LinkAdaptiveController;
  private probeTimer?: NodeJS.Timeout;
  private probing = false;
  private readonly probeEveryMs: number;
  private lastFeaturesHop = -Infinity;
  /** A front unit of a shared successor: its adapter, which maps the features it hands on to the common shape. */
  private readonly adapter?: LoadedNetwork;
  /** A shared successor: the fronts whose frames it answers, by the path id their frames carry. */
  private readonly routes?: Map<string, SharedFrontPlan>;
  /** A shared successor of a plan that answers in the union: it answers every front in its own classes. */
  private readonly unionAnswers: boolean;

  private constructor(
    plan: DeploymentPlan,
    unit: UnitPlan,
    net: LoadedNetwork,
    options: UnitOptions,
    shared: { adapter?: LoadedNetwork; routes?: Map<string, SharedFrontPlan>; answers?: 'front' | 'union' } = {},
  ) {
    this.plan = plan;
    this.unit = unit;
    this.net = net;
    this.adapter = shared.adapter;
    this.routes = shared.routes;
    this.unionAnswers = shared.answers === 'union';
    this.criterion = getCriterion(plan.spec.policy.criterion);
    this.successor = options.successor;
    this.hopTimeoutMs = options.hopTimeoutMs ?? 1000;
    this.featureDtype = options.featureDtype ?? plan.placement?.featureDtype ?? 'f32';
    this.breaker = new CircuitBreaker(options.breaker);
    this.metrics = options.metrics && unitMetrics(options.metrics);
    const batching = options.batching ?? {};
    this.batcher = new MicroBatcher<null>(
      { maxBatch: batching.maxBatch ?? 64, maxWaitMs: batching.maxWaitMs ?? 2, queueLimit: batching.queueLimit ?? 4096 },
      unit.inputShape,
      async (x, group) => ({ results: await this.process(x, group.split(',').filter(Boolean).map(Number)), info: null }),
    );
    this.probeEveryMs = options.slo?.probeEveryMs ?? 1000;
    if (options.slo !== undefined) {
      const shape = sentShape(plan, unit);
      const meta = this.metaOf(plan.spec.policy.thresholds);
      const probeBytes = encodeProbe(meta).length;
      const controller = new LinkAdaptiveController(
        plan.front!,
        unit.stages[1],
        (n) => (n === 0 ? probeBytes : featureBytes(shape, n, this.featureDtype, meta)),
        options.slo,
        performance.now(),
      );
      this.controller = controller;
      if (options.metrics) {
        const labels = { unit: unit.name };
        options.metrics
          .gauge('branchy_cascade_link_rtt_seconds', 'Round trip to the successor without features, smoothed, as this unit measured it.', ['unit'])
          .track(labels, () => (controller.estimate(performance.now()).rttMs ?? NaN) / 1000);
        options.metrics
          .gauge('branchy_cascade_link_bits_per_second', 'Bandwidth toward the successor, smoothed, as this unit measured it.', ['unit'])
          .track(labels, () => (controller.estimate(performance.now()).mbitPerS ?? NaN) * 1e6);
      }
      this.probeTimer = setInterval(() => void this.probe(), this.probeEveryMs);
      this.probeTimer.unref();
    }
  }

  /**
   * Opens unit `name` of the plan in `planDir`: reads the plan, loads only that unit's model directory and checks
   * that it belongs to the plan. A shared successor's plan (`writeSharedPlan`) is run as the chain front →
   * successor seen from the unit: a front unit also loads its adapter; the successor takes every front's frames.
   *
   * @throws BranchyCascadeError `CASCADE_BAD_PLAN`, `CASCADE_UNKNOWN_UNIT`; the errors of `openModel`.
   */
  static async open(planDir: string, name: string, options: UnitOptions = {}): Promise<CascadeUnit> {
    const view = unitOfPlan(planDir, name);
    const { plan, unit, dir } = view;
    const manifest = readManifest(dir);
    if (manifest.modelId !== plan.modelId) {
      throw new BranchyCascadeError(
        'CASCADE_BAD_PLAN',
        `unit directory '${dir}' belongs to model ${String(manifest.modelId).slice(0, 12)}…; the plan is for ${plan.modelId.slice(0, 12)}….`,
      );
    }
    if (options.slo !== undefined) checkSlo(plan, unit, options);
    const opened = (await openModel(dir, { engine: 'ort', ...options.open })).net;
    // A front of a plan that answers in the union: its exits' answers are mapped into the successor's classes.
    const net = view.classMap ? inUnionClasses(opened, plan.spec.classes, view.classMap) : opened;
    const adapter = view.adapterDir === undefined ? undefined : (await openModel(view.adapterDir, { engine: 'ort', ...options.open })).net;
    if (options.successor?.maxFrameBytes !== undefined && unit.successor !== undefined) {
      const meta = frameMeta(plan, unit, plan.spec.policy.thresholds);
      const one = featureBytes(sentShape(plan, unit), 1, options.featureDtype ?? plan.placement?.featureDtype ?? 'f32', meta);
      if (one > options.successor.maxFrameBytes) {
        net.dispose();
        adapter?.dispose();
        throw new BranchyCascadeError(
          'CASCADE_FRAME_TOO_LARGE',
          `one sample's frame is ${one} bytes; ${options.successor.kind} to '${options.successor.target}' carries at most ${options.successor.maxFrameBytes} bytes per message. Send a smaller dtype (f16, int8) or forward the input.`,
        );
      }
    }
    return new CascadeUnit(plan, unit, net, options, { adapter, routes: view.routes, answers: view.answers });
  }

  /**
   * Runs a batch through this unit and, for the samples it cannot answer, through its successors. Every result
   * carries its route; a sample whose successor failed is answered from this unit's last exit, `degraded`.
   *
   * @param thresholds the whole network's thresholds (one per early exit), validated.
   */
  async process(x: Batch, thresholds: readonly number[]): Promise<ExitResult[]> {
    const spec = this.plan.spec;
    const t = thresholds.length === 0 ? spec.policy.thresholds : thresholds;
    validateThresholds(t, spec.stages.length - 1, this.criterion, spec.classes.length);
    const started = performance.now();
    const run = await runUnit(this.net, this.unit, x, { thresholds: t, criterion: this.criterion, depth: spec.stages.length });
    const ownMs = performance.now() - started;
    this.controller?.observeBatch(performance.now(), x.shape[0], ownMs);
    const results: (ExitResult | undefined)[] = run.answered.map((r) => r && { ...r, route: { unit: this.unit.name, hops: 0, degraded: false, path: [] } });
    if (run.rows.length > 0) {
      const features = this.adapter ? await this.adapter.stage(1, run.features!) : run.features!;
      const handed = await this.handOn(this.plan.forward === 'input' ? selectRows(x, run.rows) : features, run.fallback, t, ownMs);
      run.rows.forEach((row, i) => (results[row] = handed[i]));
    }
    return results as ExitResult[];
  }

  private degraded(fallback: readonly ExitResult[], reason: string): ExitResult[] {
    this.metrics?.degraded.labels({ unit: this.unit.name, reason }).inc(fallback.length);
    return fallback.map((r) => ({ ...r, route: { unit: this.unit.name, hops: 0, degraded: true, reason, path: [] } }));
  }

  private async handOn(sent: Batch, fallback: readonly ExitResult[], thresholds: readonly number[], ownMs: number): Promise<ExitResult[]> {
    if (this.successor === undefined) return this.degraded(fallback, 'no successor');
    if (!this.breaker.allow()) return this.degraded(fallback, 'circuit open');
    const classes = this.plan.spec.classes.length;
    const per = sent.shape[0] > 0 ? sent.data.length / sent.shape[0] : 0;
    const sampleShape = sent.shape.slice(1);
    const limit = this.successor.maxFrameBytes;
    const meta = this.metaOf(thresholds);
    let chunk = sent.shape[0];
    while (limit !== undefined && chunk > 1 && featureBytes(sampleShape, chunk, this.featureDtype, meta) > limit) chunk = Math.ceil(chunk / 2);
    const out: ExitResult[] = [];
    try {
      for (let start = 0; start < sent.shape[0]; start += chunk) {
        const n = Math.min(chunk, sent.shape[0] - start);
        const part: Batch = { data: sent.data.subarray(start * per, (start + n) * per), shape: [n, ...sampleShape] };
        const frame = encodeFeatures(part, this.featureDtype, meta);
        const started = performance.now();
        const reply = await this.successor.forward(frame, this.hopTimeoutMs);
        const hop: HopTiming = { unit: this.unit.successor!, ms: performance.now() - started, sentBytes: frame.length, receivedBytes: reply.length };
        const answer = decodeAnswerFrame(reply, n, classes);
        this.controller?.observeHop({ ms: hop.ms, serviceMs: answer.serviceMs ?? 0, sentBytes: frame.length, samples: n, ownMs });
        this.lastFeaturesHop = performance.now();
        this.metrics?.hopSeconds.labels({ unit: this.unit.name }).observe(hop.ms / 1000);
        this.metrics?.hopBytes.labels({ unit: this.unit.name, direction: 'sent' }).inc(frame.length);
        this.metrics?.hopBytes.labels({ unit: this.unit.name, direction: 'received' }).inc(reply.length);
        for (const r of answer.results) {
          const route = r.route ?? { unit: hop.unit, hops: 0, degraded: false, path: [] };
          out.push({ ...r, route: { ...route, hops: route.hops + 1, path: [hop, ...route.path] } });
        }
      }
    } catch (error) {
      this.breaker.failure();
      const reason =
        error instanceof CascadeHopError ? error.reason : error instanceof BranchyCascadeError ? `successor error: ${error.code}` : 'successor error';
      return [...out, ...this.degraded(fallback.slice(out.length), reason)];
    }
    this.breaker.success();
    this.metrics?.forwarded.labels({ unit: this.unit.name }).inc(sent.shape[0]);
    return out;
  }

  /** What every frame this unit sends says of itself. */
  private metaOf(thresholds: readonly number[]): Omit<FeaturesMeta, 'dtype'> {
    return frameMeta(this.plan, this.unit, thresholds);
  }

  /**
   * Times the link for the SLO controller: a probe frame, then, when no hop carried features since the last
   * probe, a frame of one all-zero sample (its answer is dropped). A failed probe is not counted anywhere: the
   * hops that carry samples feed the breaker.
   */
  private async probe(): Promise<void> {
    if (this.probing || this.successor === undefined || this.controller === undefined) return;
    this.probing = true;
    const since = performance.now();
    const point = this.controller.current().thresholds;
    try {
      const frames: [Uint8Array, number][] = [[encodeProbe(this.metaOf(point)), 0]];
      if (this.lastFeaturesHop < since - this.probeEveryMs) {
        const shape = sentShape(this.plan, this.unit);
        const zeros: Batch = { data: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape: [1, ...shape] };
        frames.push([encodeFeatures(zeros, this.featureDtype, this.metaOf(point)), 1]);
      }
      for (const [frame, samples] of frames) {
        const started = performance.now();
        const reply = await this.successor.forward(frame, this.hopTimeoutMs);
        const ms = performance.now() - started;
        const { serviceMs } = decodeAnswerFrame(reply, samples, this.plan.spec.classes.length);
        this.controller.observeHop({ ms, serviceMs: serviceMs ?? 0, sentBytes: frame.length, samples });
      }
    } catch {
      // The successor or the link is down: the next probe, or the next hop, finds out again.
    } finally {
      this.probing = false;
    }
  }

  /**
   * Answers one features frame from a predecessor: checks that it comes from this plan's model and the stage this
   * unit continues from, in this unit's input shape, then runs it micro-batched with other frames.
   *
   * @throws BranchyCascadeError `CASCADE_WRONG_MODEL`, `CASCADE_WRONG_STAGE` (409), `CASCADE_BAD_SHAPE`,
   *   `CASCADE_BAD_DTYPE`, `CASCADE_BAD_FRAME` (400).
   */
  async answerFrame(bytes: Uint8Array): Promise<Uint8Array> {
    const received = performance.now();
    this.metrics?.frames.labels({ unit: this.unit.name }).inc();
    try {
      const frame = decodeUnitFrame(bytes);
      const { meta } = frame;
      const route = this.routes && this.routeOf(meta.modelId, meta.thresholds.length);
      const expectedStage = route ? route.cut : this.unit.takes === 'input' ? 0 : this.unit.firstExit - 1;
      if (!route && meta.modelId !== this.plan.modelId) {
        throw new BranchyCascadeError(
          'CASCADE_WRONG_MODEL',
          `the frame comes from model ${meta.modelId.slice(0, 12)}…; unit '${this.unit.name}' runs ${this.plan.model} ${this.plan.modelId.slice(0, 12)}….`,
          409,
        );
      }
      if (meta.stage !== expectedStage) {
        throw new BranchyCascadeError(
          'CASCADE_WRONG_STAGE',
          `the frame holds ${meta.stage === 0 ? 'the raw input' : `stage ${meta.stage}'s features`}; unit '${this.unit.name}' continues from ${expectedStage === 0 ? 'the raw input' : `stage ${expectedStage}`}.`,
          409,
        );
      }
      const classes = route && !this.unionAnswers ? route.classes.length : this.plan.spec.classes.length;
      if (frame.kind === 'probe') return encodeAnswers([], classes, performance.now() - received);
      const { batch } = frame;
      const shape = batch.shape.slice(1);
      if (shape.length !== this.unit.inputShape.length || shape.some((d, i) => d !== this.unit.inputShape[i])) {
        throw new BranchyCascadeError(
          'CASCADE_BAD_SHAPE',
          `the frame's samples are [${shape.join(', ')}]; unit '${this.unit.name}' takes [${this.unit.inputShape.join(', ')}].`,
        );
      }
      if (route) {
        // The successor's own early exits come after the front's in the path's thresholds; frames of every front
        // with the same ones are batched together.
        const answer = await this.batcher.submit(batch, meta.thresholds.slice(route.cut).join(','));
        return encodeAnswers(this.inFrontClasses(answer.results, route), classes, performance.now() - received);
      }
      const answer = await this.batcher.submit(batch, meta.thresholds.join(','));
      return encodeAnswers(answer.results, classes, performance.now() - received);
    } catch (error) {
      if (error instanceof BranchyCascadeError) this.metrics?.refused.labels({ unit: this.unit.name, code: error.code }).inc();
      throw error;
    }
  }

  /** A shared successor's route for a frame's path id, whose thresholds must be that path's. */
  private routeOf(pathId: string, thresholds: number): SharedFrontPlan {
    const route = this.routes!.get(pathId);
    if (route === undefined) {
      throw new BranchyCascadeError(
        'CASCADE_WRONG_MODEL',
        `the frame comes from path ${pathId.slice(0, 12)}…; unit '${this.unit.name}' answers the fronts ${[...this.routes!.values()].map((f) => `${f.name} (${f.pathId.slice(0, 12)}…)`).join(', ')}.`,
        409,
      );
    }
    const expected = route.cut + this.plan.spec.stages.length - 1;
    if (thresholds !== expected) {
      throw new BranchyCascadeError(
        'CASCADE_BAD_FRAME',
        `the frame carries ${thresholds} thresholds; front '${route.name}''s path has ${expected} early exits.`,
      );
    }
    return route;
  }

  /**
   * The successor's answers as a front's path gives them: exits numbered as in the path, read in the front's
   * classes (unless the plan answers in the union).
   */
  private inFrontClasses(results: readonly ExitResult[], route: SharedFrontPlan): ExitResult[] {
    if (this.unionAnswers) return results.map((r) => ({ ...r, exit: r.exit + route.cut }));
    const union = this.plan.spec.classes.length;
    const classes = route.classes.length;
    return results.map((r) => {
      const probs = toFrontClasses(r.probs, 1, union, route.classMap);
      return { ...r, probs, label: argmaxRow(probs, 0, classes), score: this.criterion.score(probs, classes, 0), exit: r.exit + route.cut };
    });
  }

  /** Stops the successor transport and frees the networks. */
  async close(): Promise<void> {
    clearInterval(this.probeTimer);
    await this.successor?.close();
    this.net.dispose();
    this.adapter?.dispose();
  }
}

/**
 * A link SLO needs the first unit, a successor to reach and the model's calibrated front in the plan (a shared
 * plan's front unit: its path's front, which the plan carries per front).
 *
 * @throws BranchyCascadeError `CASCADE_BAD_SLO`, `CASCADE_NO_SUCCESSOR`, `CASCADE_NOT_CALIBRATED`.
 */
function checkSlo(plan: DeploymentPlan, unit: UnitPlan, options: UnitOptions): void {
  if (unit.index !== 0) {
    throw new BranchyCascadeError(
      'CASCADE_BAD_SLO',
      `unit '${unit.name}' is not the plan's first unit; a latency SLO is held where requests arrive, on '${plan.units[0].name}'.`,
      500,
    );
  }
  if (options.successor === undefined) {
    throw new BranchyCascadeError('CASCADE_NO_SUCCESSOR', `unit '${unit.name}' holds a latency SLO over its link, but has no successor to reach.`, 500);
  }
  if (plan.front === undefined || plan.front.criterion !== plan.spec.policy.criterion) {
    throw new BranchyCascadeError(
      'CASCADE_NOT_CALIBRATED',
      plan.successorModel === undefined
        ? `plan of ${plan.model} carries no calibrated front for criterion '${plan.spec.policy.criterion}'; calibrate the model, then split or plan it again.`
        : `plan of ${plan.model} carries no calibrated front for front '${unit.name}' (its successor was trained before shared plans carried one); train the successor again (or attach the front again), then split it again.`,
      500,
    );
  }
}

/**
 * Unit `name` of the plan in `planDir` as it runs: its chain plan and place in it, its model directory, and for a
 * shared successor's plan its adapter (a front) or its routes (the successor).
 *
 * @throws BranchyCascadeError `CASCADE_BAD_PLAN`, `CASCADE_UNKNOWN_UNIT`.
 */
export function unitOfPlan(planDir: string, name: string): SharedUnitView {
  if (isSharedPlanDir(planDir)) {
    const shared = readSharedPlan(planDir);
    return sharedUnitView(planDir, shared, name, readManifest(planUnitDir(planDir, shared, name)).spec);
  }
  const plan = readPlan(planDir);
  return { plan, ...planUnit(planDir, plan, name) };
}

/** The model directory of unit `name` of a shared plan (its spec tells the unit's view of the plan). */
function planUnitDir(planDir: string, plan: { successor: { name: string }; fronts: { name: string }[] }, name: string): string {
  if (name !== plan.successor.name && !plan.fronts.some((f) => f.name === name)) {
    throw new BranchyCascadeError(
      'CASCADE_UNKNOWN_UNIT',
      `plan '${planDir}' has no unit '${name}'; its units: ${[...plan.fronts.map((f) => f.name), plan.successor.name].join(', ')}.`,
    );
  }
  return join(planDir, name);
}

/** What a frame unit `unit` sends says of itself: the model, the stage it holds (0: the raw input), the thresholds, the sender. */
function frameMeta(plan: DeploymentPlan, unit: UnitPlan, thresholds: readonly number[]): Omit<FeaturesMeta, 'dtype'> {
  return { modelId: plan.modelId, stage: plan.forward === 'input' ? 0 : unit.stages[1], thresholds: [...thresholds], from: unit.name };
}

/** The per-sample shape a unit sends: its last stage's features, or the raw input when the plan forwards input. */
function sentShape(plan: DeploymentPlan, unit: UnitPlan): number[] {
  if (plan.forward === 'input') return [...plan.spec.input.shape];
  const next = plan.units[unit.index + 1];
  return [...next.inputShape];
}
