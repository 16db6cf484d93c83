import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { BranchyArgumentError, BranchyDataError } from '../../common/errors.ts';
import { loadOnnxruntimeNode } from '../../engine/ort/node-engine.ts';
import { importOnnxDir } from '../../open/import-onnx.ts';

function classList(o: Record<string, unknown>): string[] {
  if ((o.classes === undefined) === (o.classesFile === undefined))
    throw new BranchyArgumentError('CLI_CONFLICTING_OPTIONS', 'give the class names with exactly one of --classes a,b,… or --classes-file FILE.');
  if (o.classes !== undefined) return (o.classes as string).split(',').map((c) => c.trim());
  let text: string;
  try {
    text = readFileSync(o.classesFile as string, 'utf8');
  } catch (error) {
    throw new BranchyDataError('IMPORT_BAD_CLASSES', `cannot read --classes-file '${o.classesFile}': ${(error as Error).message}`, { cause: error });
  }
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

function inputShape(text: string): [number, number, number] {
  const dims = text.split(',').map((d) => Number(d.trim()));
  if (dims.length !== 3 || dims.some((d) => !Number.isInteger(d) || d < 1))
    throw new BranchyArgumentError('IMPORT_BAD_INPUT_SHAPE', `--input-shape is ${JSON.stringify(text)}; expected height,width,channels (e.g. 28,28,1).`);
  return [dims[0], dims[1], dims[2]];
}

/** `branchy import-onnx`. */
export function importOnnxCommand(): Command {
  return new Command('import-onnx')
    .description(
      'make a model directory from per-stage ONNX files trained elsewhere (stage_1.onnx … stage_N.onnx, exit_1.onnx … exit_N.onnx): check they load and chain, then write branchy.json',
    )
    .argument('<dir>', 'directory holding the ONNX files; branchy.json is written into it')
    .option('--classes <a,b,...>', 'class names in the order of the exits’ outputs')
    .option('--classes-file <file>', 'class names, one per line')
    .requiredOption('--input-shape <h,w,c>', 'per-sample input as height,width,channels (e.g. 28,28,1)')
    .addOption(
      new Option(
        '--input-layout <layout>',
        "how stage_1.onnx takes its input: nchw (PyTorch's) or nhwc; branchy always feeds NHWC samples and transposes for nchw",
      )
        .choices(['nchw', 'nhwc'])
        .default('nchw'),
    )
    .addOption(
      new Option('--exit-output <kind>', 'what the exit models return: logits (a softmax is applied) or probs').choices(['logits', 'probs']).default('logits'),
    )
    .option('--criterion <name>', 'exit criterion: entropy, normalized-entropy, max-prob, margin', 'entropy')
    .option('--name <name>', "the network's name (default: the directory's name)")
    .option(
      '--no-exits',
      "a plain trunk: stage_1.onnx … stage_N.onnx are its segments and exit_N.onnx its classifier (other exit files are left out); add exits at the segment boundaries with 'branchy add-exits'",
    )
    .action(async (dir: string, o: Record<string, unknown>) => {
      const manifest = await importOnnxDir(dir, await loadOnnxruntimeNode(), {
        classes: classList(o),
        inputShape: inputShape(o.inputShape as string),
        inputLayout: o.inputLayout as 'nchw' | 'nhwc',
        exitOutput: o.exitOutput as 'logits' | 'probs',
        criterion: o.criterion as string,
        name: o.name as string | undefined,
        noExits: o.exits === false,
      });
      const spec = manifest.spec;
      process.stdout.write(
        `${spec.name}: ${o.exits === false ? `a trunk of ${manifest.onnx!.stages.length} segments and its classifier` : `${spec.stages.length} stages and exits`}, ${spec.classes.length} classes, input ${spec.input.shape.join('x')} (${o.inputLayout}), exits return ${o.exitOutput}, ONNX opset ${manifest.onnx!.opset}; written ${dir}/branchy.json\n` +
          (o.exits === false
            ? `add exit heads at its segment boundaries with: branchy add-exits ${dir} --at 1 --data ... --out DIR\n`
            : `thresholds are 0 (no early exit) until you run: branchy calibrate ${dir} --data ...\n`),
      );
    });
}
