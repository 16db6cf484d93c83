import type { Engine, LoadedNetwork, ModelSource } from '../types.ts';
import { hasLayers } from '../../spec/shapes.ts';
import { exportFused, exportNetwork } from './export.ts';
import { OrtNetwork, type OrtModule, type OrtSessionOptions } from './network.ts';

export {
  exportFused,
  exportNetwork,
  exportPiece,
  fusedGraph,
  pieceGraph,
  ONNX_FUSED_FEATURES,
  ONNX_FUSED_PROBS,
  ONNX_INPUT,
  ONNX_OUTPUT,
  type FusedModels,
  type OnnxPieces,
  type OnnxPieceKind,
} from './export.ts';
export { encodeOnnxModel, readOnnxOpset, ONNX_OPSET, type OnnxGraph, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnx-proto.ts';
export { goingOnShares, nchwToNhwc, OrtNetwork, RECOMPUTE_WHEN_SHARE_GOING_ON, type CarryMode, type OrtModule, type OrtSessionOptions } from './network.ts';
export { inspectOnnxNetwork, type OnnxNetworkExpectation, type OnnxNetworkShapes } from './inspect.ts';

/**
 * The onnxruntime engine over a given onnxruntime module: `onnxruntime-node` in Node (see `branchy/node`'s
 * `nodeOrtEngine`), `onnxruntime-web` in the page. It runs a model's ONNX files when it has them, else exports
 * the network from its spec and weights in memory first. A network with layer lists also gets one fused session
 * per stage n running stage n and exit head n in one call (`stageAndExit`), built in memory from its spec and
 * weights; a network imported from ONNX runs its pieces one call each.
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
      const fused = hasLayers(model.spec) ? exportFused(model) : [];
      return OrtNetwork.create(ort, model.spec, onnx, options, fused);
    },
  };
}
