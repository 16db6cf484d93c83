/**
 * What the server keeps per model: its micro-batcher, wired to the model's inference host and to the per-model
 * metric series, and, under an SLO, its load-adaptive operating-point controller.
 *
 * @module
 */
import type { Batch } from '../engine/types.ts';
import { readStoredCalibration, type StoredCalibration } from '../io/stored-calibration.ts';
import { LoadAdaptiveController, batchedCosts, type AdaptiveOptions, type CurrentOperatingPoint, type OperatingPointController } from './adaptive.ts';
import { MicroBatcher, type BatchReport } from './batcher.ts';
import { BranchyServeError } from './errors.ts';
import type { ServedModel } from './model-set.ts';
import type { ServerMetrics } from './server-metrics.ts';

/** Group key of requests that use the server's own thresholds (the adaptive point or the model's). */
export const SERVER_THRESHOLDS = 'server';
/** Share of the SLO a request may spend queued before it is shed (the rest is its batch and HTTP). */
const SLO_QUEUE_SHARE = 0.5;

/** What a batch run reports with its results: the thresholds it ran at and, in adaptive mode, the point in force. */
export interface BatchInfo {
  thresholds: number[];
  point?: CurrentOperatingPoint;
}

/** One served model as the server runs it. */
export interface ModelRuntime {
  served: ServedModel;
  calibration?: StoredCalibration;
  batcher: MicroBatcher<BatchInfo>;
  /** Present in adaptive mode (`sloMs` set) or when the model brings its own ({@link ServedModel.controller}). */
  controller?: OperatingPointController;
}

/** How every model's batcher and controller run (the server's options, defaults applied). */
export interface ModelRuntimeOptions {
  maxBatch: number;
  maxWaitMs: number;
  queueLimit: number;
  sloMs?: number;
  adaptive?: Omit<AdaptiveOptions, 'sloMs'>;
}

/**
 * Wires one model: a controller on its calibrated front when `sloMs` is set, a batcher running its host at the
 * thresholds of each request's group, and its metric series (batch sizes, samples, exits, queue delay and depth,
 * operating point).
 *
 * @throws BranchyServeError `SERVE_NOT_CALIBRATED` when `sloMs` is set and the model has no stored calibration for
 *   its criterion (one for another criterion serves without an SLO, and is described as such);
 *   BranchyIoError `MODEL_BAD_CALIBRATION` when its stored calibration is malformed.
 */
export function createModelRuntime(served: ServedModel, options: ModelRuntimeOptions, metrics: ServerMetrics): ModelRuntime {
  const calibration = served.controller ? undefined : readStoredCalibration(served.manifest, served.dir);
  if (
    served.controller === undefined &&
    options.sloMs !== undefined &&
    (calibration === undefined || calibration.criterion !== served.manifest.spec.policy.criterion)
  ) {
    throw new BranchyServeError(
      'SERVE_NOT_CALIBRATED',
      `an SLO of ${options.sloMs} ms needs each model's calibrated Pareto front, and model '${served.name}' (${served.dir}) has ${calibration === undefined ? 'none' : `one for criterion '${calibration.criterion}', not its own '${served.manifest.spec.policy.criterion}'`}; calibrate it first.`,
      500,
    );
  }
  const controller: OperatingPointController | undefined =
    served.controller ??
    (options.sloMs === undefined || calibration === undefined
      ? undefined
      : new LoadAdaptiveController(
          calibration.front,
          calibration.chosen,
          { costs: batchedCosts(calibration.front, calibration.profile.costToExitBatched), ...options.adaptive, sloMs: options.sloMs },
          performance.now(),
        ));
  const spec = served.manifest.spec;
  const host = served.host;
  const labels = { model: served.name };
  const run = async (x: Batch, group: string) => {
    const point = group === SERVER_THRESHOLDS ? controller?.current() : undefined;
    const thresholds = group === SERVER_THRESHOLDS ? (point?.thresholds ?? spec.policy.thresholds) : group.split(',').map(Number);
    const { results, runMs } = await host.run(x, thresholds);
    return { results, info: { thresholds, point }, modelMs: runMs };
  };
  const series = {
    batchSizes: metrics.batchSizes.labels(labels),
    samples: metrics.samples.labels(labels),
    queueDelay: metrics.queueDelay.labels(labels),
    exits: spec.stages.map((_, i) => metrics.exits.labels({ model: served.name, exit: String(i + 1) })),
  };
  const onBatch = (report: BatchReport) => {
    const now = performance.now();
    series.batchSizes.observe(report.size);
    series.samples.inc(report.size);
    const perExit = new Array<number>(spec.stages.length).fill(0);
    for (const r of report.results) perExit[r.exit - 1]++;
    perExit.forEach((n, i) => n > 0 && series.exits[i].inc(n));
    for (const ms of report.queueDelaysMs) series.queueDelay.observe(ms / 1000);
    if (controller) {
      controller.observeBusy(now, report.runMs);
      for (const ms of report.latenciesMs) controller.observeLatency(now, ms);
    }
  };
  const batcher = new MicroBatcher<BatchInfo>(
    {
      maxBatch: options.maxBatch,
      maxWaitMs: options.maxWaitMs,
      queueLimit: options.queueLimit,
      maxQueueDelayMs: options.sloMs === undefined ? undefined : SLO_QUEUE_SHARE * options.sloMs,
    },
    spec.input.shape,
    run,
    onBatch,
  );
  metrics.queueDepth.track(labels, () => batcher.queuedSamples);
  if (controller) {
    metrics.pointIndex.track(labels, () => controller.current().index);
    metrics.pointAccuracy.track(labels, () => controller.current().accuracy);
  }
  return { served, calibration, batcher, controller };
}
