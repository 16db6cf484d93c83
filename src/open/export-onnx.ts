import { exportNetwork, exportPiece, ONNX_OPSET } from '../engine/ort/index.ts';
import { loadModelDir, saveOnnxFiles, type ModelManifest } from '../io/model-dir.ts';

/**
 * Exports a model directory's network to one ONNX file per stage and exit head beside its weights, and lists
 * them in `branchy.json`. A network imported from ONNX keeps its stage files as they are; its native exit heads
 * (`branchy add-exits`) are exported anew.
 *
 * @throws the errors of `loadModelDir`, and BranchySpecError `ONNX_NO_LAYERS` for an imported network without
 *   native heads (its ONNX files are all there is).
 */
export function exportModelDirOnnx(dir: string): { name: string; manifest: ModelManifest } {
  const model = loadModelDir(dir);
  if (model.spec.imported !== undefined && model.onnx && model.spec.exits.some((e) => e.layers.length > 0)) {
    const { opset, inputLayout, exitOutput, stageSegments } = model.manifest.onnx!;
    const exits = model.onnx.exits.map((bytes, i) => (model.spec.exits[i].layers.length > 0 ? exportPiece(model, 'exit', i + 1) : bytes));
    const info = { opset, inputLayout, exitOutput, ...(stageSegments ? { stageSegments } : {}) };
    return { name: model.spec.name, manifest: saveOnnxFiles(dir, { stages: model.onnx.stages, exits }, info) };
  }
  const manifest = saveOnnxFiles(dir, exportNetwork(model), { opset: ONNX_OPSET, inputLayout: 'nhwc', exitOutput: 'probs' });
  return { name: model.spec.name, manifest };
}
