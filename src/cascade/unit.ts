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
import { decodeAnswers, encodeAnswers } from './answer-frame.ts';
import { CircuitBreaker, type BreakerOptions } from './breaker.ts';
import { BranchyCascadeError, CascadeHopError } from './errors.ts';
import { decodeFeatures, encodeFeatures, featureBytes } from './feature-codec.ts';
import { planUnit, readPlan } from './plan.ts';
import { isSharedPlanDir, readSharedPlan, sharedUnitView, type SharedFrontPlan, type SharedUnitView } from './shared-plan.ts';
import { toFrontClasses } from '../infer/shared-path.ts';
import { argmaxRow } from '../infer/argmax.ts';
import { runUnit } from './run-unit.ts';
import type { DeploymentPlan, FeatureDtype, Transport, UnitPlan } from './types.ts';
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
  /** A front unit of a shared successor: its adapter, which maps the features it hands on to the common shape. */
  private readonly adapter?: LoadedNetwork;
  /** A shared successor: the fronts whose frames it answers, by the path id their frames carry. */
  private readonly routes?: Map<string, SharedFrontPlan>;

  private constructor(
    plan: DeploymentPlan,
    unit: UnitPlan,
    net: LoadedNetwork,
    options: UnitOptions,
    shared: { adapter?: LoadedNetwork; routes?: Map<string, SharedFrontPlan> } = {},
  ) {
    this.plan = plan;
    this.unit = unit;
    this.net = net;
    this.adapter = shared.adapter;
    this.routes = shared.routes;
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
    const { net } = await openModel(dir, { engine: 'ort', ...options.open });
    const adapter = view.adapterDir === undefined ? undefined : (await openModel(view.adapterDir, { engine: 'ort', ...options.open })).net;
    if (options.successor?.maxFrameBytes !== undefined && unit.successor !== undefined) {
      const meta = { modelId: plan.modelId, stage: unit.stages[1], thresholds: plan.spec.policy.thresholds, from: unit.name };
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
    return new CascadeUnit(plan, unit, net, options, { adapter, routes: view.routes });
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
    const run = await runUnit(this.net, this.unit, x, { thresholds: t, criterion: this.criterion, depth: spec.stages.length });
    const results: (ExitResult | undefined)[] = run.answered.map((r) => r && { ...r, route: { unit: this.unit.name, hops: 0, degraded: false, path: [] } });
    if (run.rows.length > 0) {
      const features = this.adapter ? await this.adapter.stage(1, run.features!) : run.features!;
      const handed = await this.handOn(this.plan.forward === 'input' ? selectRows(x, run.rows) : features, run.fallback, t);
      run.rows.forEach((row, i) => (results[row] = handed[i]));
    }
    return results as ExitResult[];
  }

  private degraded(fallback: readonly ExitResult[], reason: string): ExitResult[] {
    this.metrics?.degraded.labels({ unit: this.unit.name, reason }).inc(fallback.length);
    return fallback.map((r) => ({ ...r, route: { unit: this.unit.name, hops: 0, degraded: true, reason, path: [] } }));
  }

  private async handOn(sent: Batch, fallback: readonly ExitResult[], thresholds: readonly number[]): Promise<ExitResult[]> {
    if (this.successor === undefined) return this.degraded(fallback, 'no successor');
    if (!this.breaker.allow()) return this.degraded(fallback, 'circuit open');
    const classes = this.plan.spec.classes.length;
    const stage = this.plan.forward === 'input' ? 0 : this.unit.stages[1];
    const per = sent.shape[0] > 0 ? sent.data.length / sent.shape[0] : 0;
    const sampleShape = sent.shape.slice(1);
    const limit = this.successor.maxFrameBytes;
    const meta = { modelId: this.plan.modelId, stage, thresholds: [...thresholds], from: this.unit.name };
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
        this.metrics?.hopSeconds.labels({ unit: this.unit.name }).observe(hop.ms / 1000);
        this.metrics?.hopBytes.labels({ unit: this.unit.name, direction: 'sent' }).inc(frame.length);
        this.metrics?.hopBytes.labels({ unit: this.unit.name, direction: 'received' }).inc(reply.length);
        for (const r of decodeAnswers(reply, n, classes)) {
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

  /**
   * Answers one features frame from a predecessor: checks that it comes from this plan's model and the stage this
   * unit continues from, in this unit's input shape, then runs it micro-batched with other frames.
   *
   * @throws BranchyCascadeError `CASCADE_WRONG_MODEL`, `CASCADE_WRONG_STAGE` (409), `CASCADE_BAD_SHAPE`,
   *   `CASCADE_BAD_DTYPE`, `CASCADE_BAD_FRAME` (400).
   */
  async answerFrame(bytes: Uint8Array): Promise<Uint8Array> {
    this.metrics?.frames.labels({ unit: this.unit.name }).inc();
    try {
      const { batch, meta } = decodeFeatures(bytes);
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
        return encodeAnswers(this.inFrontClasses(answer.results, route), route.classes.length);
      }
      const answer = await this.batcher.submit(batch, meta.thresholds.join(','));
      return encodeAnswers(answer.results, this.plan.spec.classes.length);
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

  /** The successor's answers read in a front's classes, with exits numbered as in the front's path. */
  private inFrontClasses(results: readonly ExitResult[], route: SharedFrontPlan): ExitResult[] {
    const union = this.plan.spec.classes.length;
    const classes = route.classes.length;
    return results.map((r) => {
      const probs = toFrontClasses(r.probs, 1, union, route.classMap);
      return { ...r, probs, label: argmaxRow(probs, 0, classes), score: this.criterion.score(probs, classes, 0), exit: r.exit + route.cut };
    });
  }

  /** Stops the successor transport and frees the networks. */
  async close(): Promise<void> {
    await this.successor?.close();
    this.net.dispose();
    this.adapter?.dispose();
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

/** The per-sample shape a unit sends: its last stage's features, or the raw input when the plan forwards input. */
function sentShape(plan: DeploymentPlan, unit: UnitPlan): number[] {
  if (plan.forward === 'input') return [...plan.spec.input.shape];
  const next = plan.units[unit.index + 1];
  return [...next.inputShape];
}
