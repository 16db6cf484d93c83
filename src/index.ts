/**
 * branchy's browser-safe entry: network specs, exit criteria, the early-exit runner, the tfjs engine, the
 * onnxruntime engine (give it `onnxruntime-web`) and the tensor frame. Node-only pieces (files, data sets, training CLI) are in `branchy/node`.
 */
export * from './common/errors.ts';
export type * from './spec/types.ts';
export { validateSpec } from './spec/validate.ts';
export { networkFacts, type NetworkFacts, type LayerFacts } from './spec/shapes.ts';
export type { Batch, Engine, EngineName, LoadedNetwork, ModelSource, StageAndExit } from './engine/types.ts';
export { tfjsEngine, useBackend, TFJS_BACKENDS, type TfjsBackend } from './engine/tfjs/index.ts';
export { ortEngine, OrtNetwork, exportNetwork, exportPiece, type OrtModule, type OrtSessionOptions, type OnnxPieces } from './engine/ort/index.ts';
export type { OnnxSource } from './engine/types.ts';
export * from './exit/index.ts';
export * from './infer/index.ts';
export { encodeFrame, decodeFrame, type TensorEntry, type FrameDtype, type DecodedFrame } from './io/frame.ts';
export { bLenet, lenet, listZoo, zooModel, type ZooEntry } from './zoo/index.ts';
