import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { BranchyArgumentError, BranchyIoError } from '../common/errors.ts';
import { inspectOnnxNetwork, readOnnxOpset, type OrtModule } from '../engine/ort/index.ts';
import type { OnnxSource } from '../engine/types.ts';
import { getCriterion } from '../exit/index.ts';
import type { NetworkSpec } from '../spec/types.ts';
import { MANIFEST_FILE, onnxFile, readManifest, saveImportedModelDir, type ModelManifest } from '../io/model-dir.ts';

/** How `importOnnxDir` describes the network it finds. */
export interface ImportOnnxOptions {
  /** Class names, in the order of the exits' outputs. */
  classes: string[];
  /** Per-sample input, [height, width, channels]. */
  inputShape: [number, number, number];
  /** How stage_1.onnx takes its input: `nchw` (PyTorch's) or `nhwc`. */
  inputLayout: 'nhwc' | 'nchw';
  /** What the exit heads return; `logits` gets a softmax applied by the engine. */
  exitOutput: 'probs' | 'logits';
  /** Exit criterion; thresholds start at 0 (no early exit) until `branchy calibrate` sets them. */
  criterion: string;
  /** Default: the directory's name. */
  name?: string;
  /**
   * A plain trunk: `stage_1.onnx … stage_N.onnx` are segments of one stage and `exit_N.onnx` is the only (final)
   * classifier; any other `exit_n.onnx` is left out. `branchy add-exits` then branches at the segment boundaries.
   */
  noExits?: boolean;
}

const PIECE_FILE = /^(stage|exit)_(\d+)\.onnx$/;

/**
 * The `stage_n.onnx` / `exit_n.onnx` files of a directory, checked to run 1..N without gaps; without early exits,
 * the stage files and `exit_N.onnx` alone.
 */
function pieceFiles(dir: string, noExits: boolean): { stages: string[]; exits: string[] } {
  let depth = 0;
  for (const f of readdirSync(dir)) {
    const m = PIECE_FILE.exec(f);
    if (m && (m[1] === 'stage' || !noExits)) depth = Math.max(depth, Number(m[2]));
  }
  if (depth === 0)
    throw new BranchyIoError(
      'IMPORT_MISSING_FILE',
      `'${dir}' has no stage_1.onnx; an imported network needs stage_1.onnx … stage_N.onnx and ${noExits ? 'exit_N.onnx (its classifier)' : 'exit_1.onnx … exit_N.onnx'}.`,
    );
  const files = { stages: [] as string[], exits: [] as string[] };
  const need = (file: string, what: string) => {
    if (!existsSync(join(dir, file))) throw new BranchyIoError('IMPORT_MISSING_FILE', `'${join(dir, file)}' does not exist; ${what}.`);
    return file;
  };
  const all = noExits
    ? `a trunk of ${depth} segments needs stage_1.onnx … stage_${depth}.onnx and its classifier exit_${depth}.onnx`
    : `a network with ${depth} stages needs stage_1.onnx … stage_${depth}.onnx and exit_1.onnx … exit_${depth}.onnx`;
  for (let n = 1; n <= depth; n++) {
    files.stages.push(need(onnxFile('stage', n), all));
    if (!noExits || n === depth) files.exits.push(need(onnxFile('exit', n), all));
  }
  return files;
}

/** A stage output as native exit heads read it: NCHW feature maps of a PyTorch chain become [h, w, c]. */
function headShape(output: number[], layout: 'nhwc' | 'nchw'): number[] {
  return layout === 'nchw' && output.length === 3 ? [output[1], output[2], output[0]] : output;
}

/**
 * Makes a model directory out of per-stage ONNX files (e.g. exported from PyTorch): checks that they load in
 * onnxruntime and form an early-exit network (see `inspectOnnxNetwork`), then writes `branchy.json` listing
 * them. The network then calibrates, runs and serves on the ort engine like any other.
 *
 * @throws BranchyIoError `MODEL_NOT_FOUND`, `IMPORT_MISSING_FILE`, `IMPORT_HAS_WEIGHTS`, `ONNX_BAD_MODEL`, or an
 *   `IMPORT_*` code from the shape checks; BranchyArgumentError for bad options.
 */
export async function importOnnxDir(dir: string, ort: OrtModule, options: ImportOnnxOptions): Promise<ModelManifest> {
  if (!existsSync(dir)) throw new BranchyIoError('MODEL_NOT_FOUND', `directory '${dir}' does not exist.`);
  if (existsSync(join(dir, MANIFEST_FILE)) && Object.keys(readManifest(dir).weights).length > 0) {
    throw new BranchyIoError('IMPORT_HAS_WEIGHTS', `'${dir}' already holds a model with weights; import into a directory of its own.`);
  }
  if (options.classes.length < 2)
    throw new BranchyArgumentError('IMPORT_BAD_CLASSES', `an imported network needs at least 2 classes; got ${options.classes.length}.`);
  getCriterion(options.criterion);
  const noExits = options.noExits === true;
  const files = pieceFiles(dir, noExits);
  const read = (file: string) => new Uint8Array(readFileSync(join(dir, file)));
  const stageSegments = noExits ? [files.stages.length] : undefined;
  const onnx: OnnxSource = {
    stages: files.stages.map(read),
    exits: files.exits.map(read),
    inputLayout: options.inputLayout,
    exitOutput: options.exitOutput,
    ...(stageSegments ? { stageSegments } : {}),
  };
  let opset = 0;
  [...onnx.stages, ...onnx.exits].forEach((bytes, i) => {
    const file = i < files.stages.length ? files.stages[i] : files.exits[i - files.stages.length];
    try {
      opset = Math.max(opset, readOnnxOpset(bytes) ?? 0);
    } catch (error) {
      throw new BranchyIoError('ONNX_BAD_MODEL', `'${join(dir, file)}' is not an ONNX model: ${(error as Error).message}.`, { cause: error });
    }
  });
  const shapes = await inspectOnnxNetwork(ort, onnx, { inputShape: options.inputShape, classes: options.classes.length });
  const depth = files.exits.length;
  const output = (n: number) => headShape(shapes.stageOutputs[n], options.inputLayout);
  const spec: NetworkSpec = {
    format: 'branchy/1',
    name: options.name ?? basename(resolve(dir)),
    description: noExits
      ? `Imported from ONNX: a trunk of ${files.stages.length} segments and its classifier.`
      : `Imported from ONNX: ${depth} stages and exits.`,
    input: { shape: options.inputShape },
    classes: options.classes,
    stages: noExits
      ? [{ name: 'trunk', layers: [], output: output(0) }]
      : files.stages.map((f, i) => ({ name: f.replace(/\.onnx$/, ''), layers: [], output: output(i) })),
    exits: files.exits.map((f) => ({ name: f.replace(/\.onnx$/, ''), layers: [] })),
    policy: { criterion: options.criterion, thresholds: new Array<number>(depth - 1).fill(0) },
    imported: 'onnx',
  };
  return saveImportedModelDir(dir, spec, files, {
    opset,
    inputLayout: options.inputLayout,
    exitOutput: options.exitOutput,
    ...(stageSegments ? { stageSegments } : {}),
  });
}
