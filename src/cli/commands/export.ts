import { Command, Option } from 'commander';
import { exportNetwork, ONNX_OPSET } from '../../engine/ort/index.ts';
import { loadModelDir, saveOnnxFiles, type ModelManifest } from '../../io/index.ts';

/** Exports a model directory's network to per-piece ONNX files beside its weights and lists them in `branchy.json`. */
export function exportOnnx(dir: string): { name: string; manifest: ModelManifest } {
  const model = loadModelDir(dir);
  const manifest = saveOnnxFiles(dir, exportNetwork(model), { opset: ONNX_OPSET, inputLayout: 'nhwc', exitOutput: 'probs' });
  return { name: model.spec.name, manifest };
}

/** `branchy export`. */
export function exportCommand(): Command {
  return new Command('export')
    .description('write one ONNX model per stage and exit head (stage_N.onnx, exit_N.onnx) into the model directory and list them in branchy.json')
    .argument('<model-dir>', 'model directory (branchy.json + weights)')
    .addOption(new Option('--format <format>', 'export format').choices(['onnx']).makeOptionMandatory())
    .action((dir: string) => {
      const { name, manifest } = exportOnnx(dir);
      const onnx = manifest.onnx!;
      const files = [...onnx.stages, ...onnx.exits];
      const kb = files.reduce((a, f) => a + f.bytes, 0) / 1024;
      process.stdout.write(`${name}: wrote ${files.map((f) => f.file).join(', ')} (ONNX opset ${onnx.opset}, ${kb.toFixed(1)} KiB) into ${dir}; listed in branchy.json\n`);
    });
}
