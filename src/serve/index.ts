/**
 * `branchy/serve`: the HTTP inference server (Node only). `createServer` builds the fastify app over opened
 * models; `findModelDirs`, `openModels` and the openers find and load them as `branchy serve` does; the wire
 * helpers and constants are for clients that send binary tensor frames.
 *
 * @module
 */
export { createServer, type BranchyServer, type ServeOptions } from './server.ts';
export type { AdaptiveOptions } from './adaptive.ts';
export { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './connection-limits.ts';
export { DEFAULT_LINGER, type LingerLimits } from './linger.ts';
export {
  findModelDirs,
  openModels,
  openInProcess,
  openOnInferenceThread,
  MODEL_NAME_PATTERN,
  type ModelDirEntry,
  type ModelOpener,
  type ServedModel,
  type SkippedModel,
} from './model-set.ts';
export { encodeInputsFrame, INPUT_TENSOR, THRESHOLDS_HEADER, PROBS_HEADER } from './wire.ts';
export type { InferenceHost, HostRun } from './inference-host.ts';
export { BranchyServeError, type ErrorBody, type ServeErrorCode } from './errors.ts';
