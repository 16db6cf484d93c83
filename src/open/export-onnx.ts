import { exportNetwork, ONNX_OPSET } from '../engine/ort/index.ts';
import { loadModelDir, saveOnnxFiles, type ModelManifest } from '../io/model-dir.ts';

/**
 * Exports a model directory's network to one ONNX file per stage and exit head beside its weights, and lists
 * them in `branchy.json`.
 *
 * @throws the errors of `loadModelDir`, and BranchyArgumentError for a network without layer lists.
 */
export function exportModelDirOnnx(dir: string): { name: string; manifest: ModelManifest } {
  const model = loadModelDir(dir);
  const manifest = saveOnnxFiles(dir, exportNetwork(model), { opset: ONNX_OPSET, inputLayout: 'nhwc', exitOutput: 'probs' });
  return { name: model.spec.name, manifest };
}
