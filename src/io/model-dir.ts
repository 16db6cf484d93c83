import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BranchyError, BranchyIoError } from '../common/errors.ts';
import { jsonDepthPast } from '../common/json-depth.ts';
import type { ModelSource, OnnxSource } from '../engine/types.ts';
import { validateSpec } from '../spec/validate.ts';
import type { NetworkSpec } from '../spec/types.ts';
import { decodeFrame, encodeFrame, type TensorEntry } from './frame.ts';

/** The manifest file of a model directory. */
export const MANIFEST_FILE = 'branchy.json';
/** Optimizer state and progress of the last checkpoint, for `--resume`. */
export const TRAIN_STATE_FILE = 'train-state.safetensors';

/** A file the manifest lists, with what it must hash to. */
export interface FileEntry {
  sha256: string;
  bytes: number;
}

/** An ONNX file the manifest lists. */
export interface OnnxFileEntry extends FileEntry {
  file: string;
}

/** `branchy.json`'s `onnx` field: one ONNX model per stage and exit head, and how their boundaries are laid out. */
export interface OnnxManifest {
  /** The ONNX operator set the files were written for (branchy's exporter writes 13). */
  opset: number;
  stages: OnnxFileEntry[];
  exits: OnnxFileEntry[];
  /** See `OnnxSource.inputLayout`; default `'nhwc'`. */
  inputLayout?: 'nhwc' | 'nchw';
  /** See `OnnxSource.exitOutput`; default `'probs'`. */
  exitOutput?: 'probs' | 'logits';
  /** See `OnnxSource.stageSegments`; default one file per stage. */
  stageSegments?: number[];
}

/** `branchy.json`: everything about a model except its weights. */
export interface ModelManifest {
  format: 'branchy-model/1';
  /** The network, including its exit policy (criterion and thresholds), classes and input normalisation. */
  spec: NetworkSpec;
  /** Weight files, one per stage and exit head, by file name (none for a network imported from ONNX). */
  weights: Record<string, FileEntry>;
  /** ONNX files of the stages and exit heads, when the model has them (`branchy export`, `branchy import-onnx`). */
  onnx?: OnnxManifest;
  /** How the model was trained: data, options, per-epoch figures, backend. */
  training?: Record<string, unknown>;
  /** What calibration stored, unchecked: read it with `readStoredCalibration` (`stored-calibration.ts`). */
  calibration?: unknown;
  /** Room for later layers, kept as written. */
  [extra: string]: unknown;
}

/** A model read from disk. */
export interface LoadedModelDir extends ModelSource {
  dir: string;
  manifest: ModelManifest;
}

/** The weight file of stage or exit n. */
export function pieceFile(kind: 'stage' | 'exit', n: number): string {
  return `${kind}_${n}.safetensors`;
}

/** The ONNX file of stage or exit n. */
export function onnxFile(kind: 'stage' | 'exit', n: number): string {
  return `${kind}_${n}.onnx`;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * The id of a model: a SHA-256 over its spec and the checksums of the files that hold its parameters, as its
 * manifest lists them: the weight files, and, for a network imported from ONNX, its stage segments and imported
 * exit heads (a network built from layers is its weights; its ONNX files are exported from them). Features frames
 * carry it, and every unit checks it.
 *
 * @throws BranchyIoError `MODEL_BAD_MANIFEST` for a spec nested too deeply to serialise (`readManifest` refuses such
 *   files; this guards manifests built in memory).
 */
export function modelIdOf(manifest: ModelManifest): string {
  const hash = createHash('sha256');
  let spec: string;
  try {
    spec = JSON.stringify(manifest.spec);
  } catch (error) {
    throw new BranchyIoError('MODEL_BAD_MANIFEST', `the spec of model '${manifest.spec.name}' cannot be serialised: ${(error as Error).message}.`, {
      cause: error,
    });
  }
  hash.update(spec);
  for (const file of Object.keys(manifest.weights).sort()) hash.update(`\n${file}:${manifest.weights[file].sha256}`);
  const onnx = manifest.onnx;
  if (manifest.spec.imported !== undefined && onnx !== undefined) {
    for (const e of onnx.stages) hash.update(`\nonnx stage:${e.sha256}`);
    onnx.exits.forEach((e, i) => {
      if (manifest.spec.exits[i]?.layers.length === 0) hash.update(`\nonnx exit ${i + 1}:${e.sha256}`);
    });
  }
  return hash.digest('hex');
}

/** Writes a file so that a reader sees the old content or the new one, never half of it. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw new BranchyIoError('MODEL_WRITE_FAILED', `cannot write '${path}': ${(error as Error).message}`, { cause: error });
  }
}

function groupWeights(spec: NetworkSpec, weights: Record<string, Float32Array>): Map<string, Record<string, TensorEntry>> {
  const files = new Map<string, Record<string, TensorEntry>>();
  for (let n = 1; n <= spec.stages.length; n++) {
    files.set(pieceFile('stage', n), {});
    files.set(pieceFile('exit', n), {});
  }
  for (const [name, data] of Object.entries(weights)) {
    const m = /^(stage|exit)(\d+)\./.exec(name);
    const file = m && files.get(pieceFile(m[1] as 'stage' | 'exit', Number(m[2])));
    if (!file) throw new BranchyIoError('MODEL_UNKNOWN_WEIGHT', `weight '${name}' belongs to no stage or exit of '${spec.name}'.`);
    file[name] = { dtype: 'F32', shape: [data.length], data };
  }
  return files;
}

/**
 * Writes a model directory: one weight file per stage and exit head, then `branchy.json` with their checksums.
 * The manifest is written last, so an interrupted save leaves the previous model readable.
 */
export function saveModelDir(dir: string, model: ModelSource, extra: { training?: Record<string, unknown>; [key: string]: unknown } = {}): ModelManifest {
  mkdirSync(dir, { recursive: true });
  const entries: Record<string, FileEntry> = {};
  for (const [file, tensors] of groupWeights(model.spec, model.weights)) {
    const bytes = encodeFrame(tensors, { model: model.spec.name });
    writeFileAtomic(join(dir, file), bytes);
    entries[file] = { sha256: sha256(bytes), bytes: bytes.length };
  }
  const manifest: ModelManifest = { ...extra, format: 'branchy-model/1', spec: model.spec, weights: entries };
  writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

function readBytes(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BranchyIoError(
      code === 'ENOENT' ? 'MODEL_MISSING_FILE' : 'MODEL_READ_FAILED',
      `${what} '${path}' ${code === 'ENOENT' ? 'does not exist' : `cannot be read: ${(error as Error).message}`}.`,
      { cause: error },
    );
  }
}

/**
 * Deepest nesting `branchy.json` may have. A spec's layers nest a few levels deep and training metadata a few more;
 * a file nested thousands deep parses, but would overflow the stack wherever it is written, hashed or printed.
 */
export const MANIFEST_MAX_DEPTH = 64;

/** Reads and checks `branchy.json` alone (no weights). */
export function readManifest(dir: string): ModelManifest {
  if (!existsSync(dir)) throw new BranchyIoError('MODEL_NOT_FOUND', `model directory '${dir}' does not exist.`);
  const path = join(dir, MANIFEST_FILE);
  const text = new TextDecoder().decode(readBytes(path, 'model manifest'));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new BranchyIoError('MODEL_BAD_JSON', `'${path}' is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const tooDeep = jsonDepthPast(json, MANIFEST_MAX_DEPTH);
  if (tooDeep !== undefined) {
    throw new BranchyIoError('MODEL_BAD_MANIFEST', `'${path}': ${tooDeep} nests deeper than ${MANIFEST_MAX_DEPTH} levels of arrays and objects.`);
  }
  const manifest = json as ModelManifest;
  if (typeof json !== 'object' || json === null || manifest.format !== 'branchy-model/1') {
    throw new BranchyIoError('MODEL_BAD_MANIFEST', `'${path}': field 'format' is ${JSON.stringify(manifest?.format)}; expected "branchy-model/1".`);
  }
  if (typeof manifest.weights !== 'object' || manifest.weights === null) {
    throw new BranchyIoError('MODEL_BAD_MANIFEST', `'${path}': field 'weights' is missing; expected an object of weight files.`);
  }
  for (const [file, entry] of Object.entries(manifest.weights)) {
    if (!isFileEntry(file, entry)) {
      throw new BranchyIoError(
        'MODEL_BAD_MANIFEST',
        `'${path}': weights entry ${JSON.stringify(file)} must name a file of the model directory (no path separators) with {sha256, bytes}.`,
      );
    }
  }
  try {
    validateSpec(manifest.spec);
  } catch (error) {
    if (error instanceof BranchyError) throw new BranchyIoError(error.code, `'${path}': ${error.message}`, { cause: error });
    throw error;
  }
  if (manifest.onnx !== undefined) checkOnnxManifest(manifest.onnx, manifest.spec.stages.length, path);
  return manifest;
}

/**
 * Whether a manifest lists a file as it must: one name inside the model directory (no path separators, never a
 * path that leads out of it) with the `sha256` and `bytes` it must have.
 */
function isFileEntry(file: unknown, entry: unknown): boolean {
  const e = entry as Partial<FileEntry> | null;
  return (
    typeof file === 'string' &&
    !/[\\/]/.test(file) &&
    file !== '..' &&
    typeof e === 'object' &&
    e !== null &&
    typeof e.sha256 === 'string' &&
    Number.isInteger(e.bytes)
  );
}

function readChecked(dir: string, file: string, entry: FileEntry, what: string): Uint8Array {
  const path = join(dir, file);
  const bytes = readBytes(path, what);
  if (bytes.length !== entry.bytes || sha256(bytes) !== entry.sha256) {
    throw new BranchyIoError(
      'MODEL_CHECKSUM',
      `${what} '${path}' is corrupt: ${bytes.length} bytes with a checksum that does not match ${MANIFEST_FILE} (expected ${entry.bytes} bytes).`,
    );
  }
  return bytes;
}

function checkOnnxManifest(onnx: unknown, depth: number, path: string): OnnxManifest {
  const o = onnx as OnnxManifest;
  const entryOk = (e: OnnxFileEntry) => typeof e === 'object' && e !== null && isFileEntry(e.file, e);
  const listOk = (l: unknown, length: number) => Array.isArray(l) && l.length === length && l.every(entryOk);
  const segments = o?.stageSegments;
  if (segments !== undefined && (!Array.isArray(segments) || segments.length !== depth || !segments.every((k) => Number.isInteger(k) && k >= 1)))
    throw new BranchyIoError('MODEL_BAD_MANIFEST', `'${path}': onnx.stageSegments must list ${depth} whole numbers ≥ 1 (ONNX segment files per stage).`);
  const files = segments === undefined ? depth : segments.reduce((a, b) => a + b, 0);
  if (typeof o !== 'object' || o === null || !Number.isInteger(o.opset) || !listOk(o.stages, files) || !listOk(o.exits, depth)) {
    throw new BranchyIoError(
      'MODEL_BAD_MANIFEST',
      `'${path}': field 'onnx' must be {opset, stages, exits} with ${files} stage and ${depth} exit entries {file, sha256, bytes}.`,
    );
  }
  if (o.inputLayout !== undefined && o.inputLayout !== 'nhwc' && o.inputLayout !== 'nchw')
    throw new BranchyIoError('MODEL_BAD_MANIFEST', `'${path}': onnx.inputLayout is ${JSON.stringify(o.inputLayout)}; expected "nhwc" or "nchw".`);
  if (o.exitOutput !== undefined && o.exitOutput !== 'probs' && o.exitOutput !== 'logits')
    throw new BranchyIoError('MODEL_BAD_MANIFEST', `'${path}': onnx.exitOutput is ${JSON.stringify(o.exitOutput)}; expected "probs" or "logits".`);
  return o;
}

/** Reads the ONNX files a manifest lists, each checked against its checksum. */
function readOnnxFiles(dir: string, onnx: OnnxManifest): OnnxSource {
  const read = (e: OnnxFileEntry) => readChecked(dir, e.file, e, 'ONNX file');
  return {
    stages: onnx.stages.map(read),
    exits: onnx.exits.map(read),
    inputLayout: onnx.inputLayout ?? 'nhwc',
    exitOutput: onnx.exitOutput ?? 'probs',
    ...(onnx.stageSegments ? { stageSegments: onnx.stageSegments } : {}),
  };
}

/**
 * Writes one ONNX file per stage and exit head into a model directory and lists them, with their checksums, in
 * `branchy.json` (written last, so an interrupted export leaves the previous manifest valid).
 */
export function saveOnnxFiles(dir: string, pieces: { stages: Uint8Array[]; exits: Uint8Array[] }, info: Omit<OnnxManifest, 'stages' | 'exits'>): ModelManifest {
  const write =
    (kind: 'stage' | 'exit') =>
    (bytes: Uint8Array, i: number): OnnxFileEntry => {
      const file = onnxFile(kind, i + 1);
      writeFileAtomic(join(dir, file), bytes);
      return { file, sha256: sha256(bytes), bytes: bytes.length };
    };
  const onnx: OnnxManifest = { ...info, stages: pieces.stages.map(write('stage')), exits: pieces.exits.map(write('exit')) };
  return updateManifest(dir, (m) => ({ ...m, onnx }));
}

/**
 * Writes `branchy.json` for a network that exists only as ONNX files already in `dir` (see `branchy
 * import-onnx`): no weights; the files are listed with their checksums.
 */
export function saveImportedModelDir(
  dir: string,
  spec: NetworkSpec,
  files: { stages: string[]; exits: string[] },
  info: Omit<OnnxManifest, 'stages' | 'exits'>,
  extra: Record<string, unknown> = {},
): ModelManifest {
  validateSpec(spec);
  const entry = (file: string): OnnxFileEntry => {
    const bytes = readBytes(join(dir, file), 'ONNX file');
    return { file, sha256: sha256(bytes), bytes: bytes.length };
  };
  const manifest: ModelManifest = {
    ...extra,
    format: 'branchy-model/1',
    spec,
    weights: {},
    onnx: { ...info, stages: files.stages.map(entry), exits: files.exits.map(entry) },
  };
  writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/**
 * Writes a model directory for a network whose trunk exists only as ONNX files: the stage (or segment) files and
 * one exit file per stage, then a weight file for each native exit head (one with layers in the spec), then
 * `branchy.json` listing all of them with their checksums, last.
 */
export function saveOnnxModelDir(
  dir: string,
  model: { spec: NetworkSpec; weights: Record<string, Float32Array>; onnx: { stages: Uint8Array[]; exits: Uint8Array[] } },
  info: Omit<OnnxManifest, 'stages' | 'exits'>,
  extra: Record<string, unknown> = {},
): ModelManifest {
  validateSpec(model.spec);
  mkdirSync(dir, { recursive: true });
  const write = (file: string, bytes: Uint8Array): OnnxFileEntry => {
    writeFileAtomic(join(dir, file), bytes);
    return { file, sha256: sha256(bytes), bytes: bytes.length };
  };
  const onnx: OnnxManifest = {
    ...info,
    stages: model.onnx.stages.map((bytes, i) => write(onnxFile('stage', i + 1), bytes)),
    exits: model.onnx.exits.map((bytes, i) => write(onnxFile('exit', i + 1), bytes)),
  };
  const weights: Record<string, FileEntry> = {};
  for (const [file, tensors] of groupWeights(model.spec, model.weights)) {
    if (Object.keys(tensors).length === 0) continue;
    const { file: _, ...entry } = write(file, encodeFrame(tensors, { model: model.spec.name }));
    weights[file] = entry;
  }
  const manifest: ModelManifest = { ...extra, format: 'branchy-model/1', spec: model.spec, weights, onnx };
  writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/**
 * Reads a model directory: the manifest, then every weight file and ONNX file it lists, each checked against its
 * checksum. A directory imported from ONNX has no weight files; the ONNX files then carry the network.
 *
 * @throws BranchyIoError naming the file: `MODEL_NOT_FOUND`, `MODEL_MISSING_FILE`, `MODEL_BAD_JSON`,
 *   `MODEL_BAD_MANIFEST`, `MODEL_CHECKSUM`, a `FRAME_*` code for a malformed weight file, `MODEL_BAD_WEIGHT` for a
 *   weight that is not F32 or holds NaN or ±Infinity, or a `SPEC_*` code.
 */
export function loadModelDir(dir: string): LoadedModelDir {
  const manifest = readManifest(dir);
  const weights: Record<string, Float32Array> = {};
  for (const [file, entry] of Object.entries(manifest.weights)) {
    const path = join(dir, file);
    const bytes = readChecked(dir, file, entry, 'weight file');
    const { tensors } = decodeFrame(bytes, path);
    for (const [name, tensor] of Object.entries(tensors)) {
      if (!(tensor.data instanceof Float32Array)) throw new BranchyIoError('MODEL_BAD_WEIGHT', `'${path}': weight '${name}' is ${tensor.dtype}; expected F32.`);
      // A NaN or infinite weight makes every answer through it NaN: refused here rather than served as a class.
      const bad = tensor.data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0)
        throw new BranchyIoError('MODEL_BAD_WEIGHT', `'${path}': weight '${name}' holds ${tensor.data[bad]} at index ${bad}; expected finite values.`);
      weights[name] = tensor.data;
    }
  }
  const onnx = manifest.onnx === undefined ? undefined : readOnnxFiles(dir, manifest.onnx);
  return { dir, manifest, spec: manifest.spec, weights, ...(onnx ? { onnx } : {}) };
}

/** Rewrites `branchy.json` with some fields changed (e.g. new thresholds); the weights stay as they are. */
export function updateManifest(dir: string, change: (manifest: ModelManifest) => ModelManifest): ModelManifest {
  const next = change(readManifest(dir));
  validateSpec(next.spec);
  writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(next, null, 2)}\n`);
  return next;
}

/** Training progress saved beside a model for `--resume`. */
export interface SavedTrainState {
  epoch: number;
  optimizer: Record<string, Float32Array>;
  /**
   * The weights at the end of `epoch`, saved in the same file as the optimizer state, so that a resume takes both
   * from one atomic write (a process killed between writing the model and writing this file leaves the model one
   * epoch ahead of the state). Absent in checkpoints written before it was kept.
   */
  weights?: Record<string, Float32Array>;
  meta: Record<string, string>;
}

/** The tensor-name prefix of the weights a training checkpoint holds beside the optimizer state. */
const CHECKPOINT_WEIGHTS = 'checkpoint-weights/';

/** Saves optimizer state, progress and (when given) the weights they belong to, in one atomic write. */
export function saveTrainState(dir: string, state: SavedTrainState): void {
  const tensors: Record<string, TensorEntry> = {};
  for (const [name, data] of Object.entries(state.optimizer)) tensors[name] = { dtype: 'F32', shape: [data.length], data };
  for (const [name, data] of Object.entries(state.weights ?? {})) tensors[`${CHECKPOINT_WEIGHTS}${name}`] = { dtype: 'F32', shape: [data.length], data };
  writeFileAtomic(join(dir, TRAIN_STATE_FILE), encodeFrame(tensors, { ...state.meta, epoch: String(state.epoch) }));
}

/** Reads the state `saveTrainState` wrote. */
export function loadTrainState(dir: string): SavedTrainState {
  const path = join(dir, TRAIN_STATE_FILE);
  const { tensors, metadata } = decodeFrame(readBytes(path, 'training checkpoint'), path);
  const epoch = Number(metadata.epoch);
  if (!Number.isInteger(epoch) || epoch < 0)
    throw new BranchyIoError('TRAIN_BAD_CHECKPOINT', `'${path}': metadata 'epoch' is ${JSON.stringify(metadata.epoch)}; expected a whole number.`);
  const optimizer: Record<string, Float32Array> = {};
  const weights: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(tensors)) {
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
    if (name.startsWith(CHECKPOINT_WEIGHTS)) weights[name.slice(CHECKPOINT_WEIGHTS.length)] = data;
    else optimizer[name] = data;
  }
  return { epoch, optimizer, ...(Object.keys(weights).length > 0 ? { weights } : {}), meta: metadata };
}
