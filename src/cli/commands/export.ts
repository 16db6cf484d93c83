import { Command, Option } from 'commander';
import { exportModelDirOnnx } from '../../open/export-onnx.ts';

/** `branchy export`. */
export function exportCommand(): Command {
  return new Command('export')
    .description('write one ONNX model per stage and exit head (stage_N.onnx, exit_N.onnx) into the model directory and list them in branchy.json')
    .argument('<model-dir>', 'model directory (branchy.json + weights)')
    .addOption(new Option('--format <format>', 'export format').choices(['onnx']).makeOptionMandatory())
    .action((dir: string) => {
      const { name, manifest } = exportModelDirOnnx(dir);
      const onnx = manifest.onnx!;
      const files = [...onnx.stages, ...onnx.exits];
      const kb = files.reduce((a, f) => a + f.bytes, 0) / 1024;
      process.stdout.write(
        `${name}: wrote ${files.map((f) => f.file).join(', ')} (ONNX opset ${onnx.opset}, ${kb.toFixed(1)} KiB) into ${dir}; listed in branchy.json\n`,
      );
    });
}
