/**
 * The HTTP inference server (Node only): fastify app, wire format, micro-batcher, load-adaptive operating
 * points and Prometheus metrics.
 *
 * @module
 */
export { createServer, type BranchyServer, type ServeOptions } from './server.ts';
export { MicroBatcher, type BatcherOptions, type BatchedAnswer, type BatchReport, type BatchRun } from './batcher.ts';
export { LoadAdaptiveController, batchedCosts, type AdaptiveOptions, type CurrentOperatingPoint, type OperatingPointMove } from './adaptive.ts';
export { MetricsRegistry, Counter, Gauge, Histogram, METRICS_CONTENT_TYPE } from './metrics.ts';
export { findModelDirs, openModels, openInProcess, openOnInferenceThread, MODEL_NAME_PATTERN, type ModelDirEntry, type ModelOpener, type ServedModel, type SkippedModel } from './model-set.ts';
export { inputsFromJson, inputsFromFrame, encodeInputsFrame, predictOptions, INPUT_TENSOR, THRESHOLDS_HEADER, PROBS_HEADER, type PredictOptions } from './wire.ts';
export { InThreadHost, WorkerInferenceHost, type HostRun, type InferenceHost } from './inference-host.ts';
export { BranchyServeError, errorReply, type ErrorBody } from './errors.ts';
