import type { Engine, LoadedNetwork, ModelSource } from '../types.ts';
import { exportNetwork } from './export.ts';
import { OrtNetwork, type OrtModule, type OrtSessionOptions } from './network.ts';

export { exportNetwork, exportPiece, pieceGraph, ONNX_INPUT, ONNX_OUTPUT, type OnnxPieces, type OnnxPieceKind } from './export.ts';
export { encodeOnnxModel, ONNX_OPSET, type OnnxGraph, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnx-proto.ts';
export { OrtNetwork, type OrtModule, type OrtSessionOptions } from './network.ts';
export { inspectOnnxNetwork, type OnnxNetworkExpectation, type OnnxNetworkShapes } from './inspect.ts';

/**
 * The onnxruntime engine over a given onnxruntime module: `onnxruntime-node` in Node (see `branchy/node`'s
 * `nodeOrtEngine`), `onnxruntime-web` in the page. It runs a model's ONNX files when it has them, else exports
 * the network from its spec and weights in memory first.
 *
 * @example
 * import * as ort from 'onnxruntime-web';
 * const net = await ortEngine(ort, { runtime: 'ort-wasm' }).load(model);
 */
export function ortEngine(ort: OrtModule, options: OrtSessionOptions = {}): Engine {
  return {
    name: 'ort',
    async load(model: ModelSource): Promise<LoadedNetwork> {
      const onnx = model.onnx ?? exportNetwork(model);
      return OrtNetwork.create(ort, model.spec, onnx, options);
    },
  };
}
