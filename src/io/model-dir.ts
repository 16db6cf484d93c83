import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BranchyError, BranchyIoError } from '../common/errors.ts';
import { failpoint } from '../common/failpoint.ts';
import { removeStaleTempFiles, writeFileAtomic } from './atomic-write.ts';
import { jsonDepthPast } from '../common/json-depth.ts';
import type { ModelSource, OnnxSource } from '../engine/types.ts';
import { validateSpec } from '../spec/validate.ts';
import type { NetworkSpec } from '../spec/types.ts';
import { decodeFrame, encodeFrame, type TensorEntry } from './frame.ts';

/** The manifest file of a model directory. */
export const MANIFEST_FILE = 'branchy.json';
/** Optimizer state and progress of the last checkpoint, for `--resume` (its logical name; see `storedFileName`). */
export const TRAIN_STATE_FILE = 'train-state.safetensors';
/** The field of `branchy.json` that holds the SHA-256 of the rest of the file (see `manifestText`). */
export const MANIFEST_CHECKSUM_FIELD = 'manifestSha256';

export { writeFileAtomic };

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
  /** The optimizer state of the checkpoint these weights are, for `--resume`; committed with them. */
  trainState?: OnnxFileEntry;
  /** SHA-256 of the file without this field: any change to `branchy.json` after it was written is refused. */
  manifestSha256?: string;
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
 * Where a new version of a file of a model directory is stored while the committed `branchy.json` still lists
 * the old one under its logical name (`stage_1.safetensors`): the logical name with the first 16 hex digits of
 * its SHA-256 before the extension (`stage_1.0f3a….safetensors`). A new version never overwrites a file the
 * committed manifest lists, so a crash before the new manifest is renamed into place leaves the previous model
 * whole. (A file whose logical name is free is written under that name.)
 */
export function storedFileName(logical: string, sha: string): string {
  const dot = logical.indexOf('.');
  return `${logical.slice(0, dot)}.${sha.slice(0, 16)}${logical.slice(dot)}`;
}

const STORED_NAME = /^((?:stage|exit)_\d+|train-state)\.[0-9a-f]{16}(\.(?:safetensors|onnx))$/;
const PIECE_NAME = /^((?:stage|exit)_\d+|train-state)(?:\.[0-9a-f]{16})?\.(?:safetensors|onnx)$/;

/** A stored file's logical name: `stage_1.0f3a….safetensors` → `stage_1.safetensors`; other names as they are. */
export function logicalFileName(file: string): string {
  const m = STORED_NAME.exec(file);
  return m ? `${m[1]}${m[2]}` : file;
}

/**
 * The id of a model: a SHA-256 over its spec and the checksums of the files that hold its parameters, as its
 * manifest lists them: the weight files, and, for a network imported from ONNX, its stage segments and imported
 * exit heads (a network built from layers is its weights; its ONNX files are exported from them). Weight files
 * count by logical name, so the id does not depend on where the bytes are stored. Features frames carry it, and
 * every unit checks it.
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
  const files = Object.keys(manifest.weights).map((file) => [logicalFileName(file), manifest.weights[file].sha256] as const);
  for (const [file, sha] of files.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) hash.update(`\n${file}:${sha}`);
  const onnx = manifest.onnx;
  if (manifest.spec.imported !== undefined && onnx !== undefined) {
    for (const e of onnx.stages) hash.update(`\nonnx stage:${e.sha256}`);
    onnx.exits.forEach((e, i) => {
      if (manifest.spec.exits[i]?.layers.length === 0) hash.update(`\nonnx exit ${i + 1}:${e.sha256}`);
    });
  }
  return hash.digest('hex');
}

/**
 * The text of `branchy.json` for a manifest: pretty-printed JSON whose last field, `manifestSha256`, is the
 * SHA-256 of the same text without it. `readManifest` refuses a file that is not exactly this text.
 */
export function manifestText(manifest: ModelManifest): string {
  const { manifestSha256: _, ...rest } = manifest;
  const sha = sha256(new TextEncoder().encode(`${JSON.stringify(rest, null, 2)}\n`));
  return `${JSON.stringify({ ...rest, manifestSha256: sha }, null, 2)}\n`;
}

/** The files a manifest lists (weights, ONNX files, optimizer state), each with its entry. */
function listedFiles(manifest: Partial<ModelManifest>): Map<string, FileEntry> {
  const files = new Map<string, FileEntry>();
  const add = (file: unknown, entry: unknown) => {
    if (typeof file === 'string' && typeof entry === 'object' && entry !== null) files.set(file, entry as FileEntry);
  };
  if (typeof manifest.weights === 'object' && manifest.weights !== null) for (const [file, entry] of Object.entries(manifest.weights)) add(file, entry);
  const onnx = manifest.onnx as Partial<OnnxManifest> | undefined;
  for (const list of [onnx?.stages, onnx?.exits]) if (Array.isArray(list)) for (const e of list) add(e?.file, e);
  add(manifest.trainState?.file, manifest.trainState);
  return files;
}

/** The committed manifest of `dir` as far as it parses (for the files it lists), or undefined. */
function committedManifest(dir: string): Partial<ModelManifest> | undefined {
  try {
    const json: unknown = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8'));
    return typeof json === 'object' && json !== null ? (json as Partial<ModelManifest>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One change of a model directory, committed by renaming its new `branchy.json` into place. Files are first
 * written under names the committed manifest does not use (or, holding the same bytes, kept as they are); only
 * after the commit are the files the old manifest listed and the new one does not removed. A crash at any
 * moment leaves the previous model or the new one, and at worst some unlisted files the next commit removes.
 */
class ModelDirCommit {
  private readonly previous: Map<string, FileEntry>;
  private readonly byLogical = new Map<string, string>();
  private readonly written: string[] = [];
  private readonly dir: string;
  /** Whether the committed manifest is of a version that kept the optimizer state unlisted in `train-state.safetensors`. */
  private readonly unlistedTrainState: boolean;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    const committed = committedManifest(dir);
    this.previous = committed ? listedFiles(committed) : new Map();
    for (const file of this.previous.keys()) this.byLogical.set(logicalFileName(file), file);
    this.unlistedTrainState = committed !== undefined && committed.trainState === undefined && existsSync(join(dir, TRAIN_STATE_FILE));
  }

  /** Stores a file under its logical name `logical`; the listing entry to put in the manifest. */
  put(logical: string, bytes: Uint8Array): OnnxFileEntry {
    const entry = { sha256: sha256(bytes), bytes: bytes.length };
    const kept = this.byLogical.get(logical);
    if (kept !== undefined && this.holds(kept, entry)) return { file: kept, ...entry };
    // The plain name when the committed manifest does not use it (a file there under that name is what an
    // interrupted change left); a name with the checksum in it when it does, or when it is an older version's
    // unlisted optimizer state, which a resume of the committed manifest would still read.
    const free = !this.previous.has(logical) && !(logical === TRAIN_STATE_FILE && this.unlistedTrainState);
    const file = free ? logical : storedFileName(logical, entry.sha256);
    try {
      writeFileAtomic(join(this.dir, file), bytes);
    } catch (error) {
      this.abandon();
      throw error;
    }
    this.written.push(file);
    return { file, ...entry };
  }

  /** Lists a file already in the directory (an imported ONNX file) under its own name. */
  list(file: string, what: string): OnnxFileEntry {
    const bytes = readBytes(join(this.dir, file), what);
    return { file, sha256: sha256(bytes), bytes: bytes.length };
  }

  /** Writes `manifest` as the directory's `branchy.json` (the commit), then removes what it no longer lists. */
  commit(manifest: ModelManifest): ModelManifest {
    const text = manifestText(manifest);
    try {
      writeFileAtomic(join(this.dir, MANIFEST_FILE), text);
    } catch (error) {
      this.abandon();
      throw error;
    }
    failpoint('commit:before-cleanup');
    const sealed = JSON.parse(text) as ModelManifest;
    const listed = listedFiles(sealed);
    // Every weight, ONNX or optimizer-state file the new manifest does not list goes, but for an older version's
    // unlisted optimizer state under a manifest that lists none (a resume still reads it).
    const keptState = (file: string) => file === TRAIN_STATE_FILE && sealed.trainState === undefined && this.unlistedTrainState;
    const stale = (file: string) => !listed.has(file) && PIECE_NAME.test(file) && !keptState(file);
    for (const file of readdirSync(this.dir)) if (stale(file)) rmSync(join(this.dir, file), { force: true });
    removeStaleTempFiles(this.dir);
    return sealed;
  }

  /** Whether `file` in the directory holds exactly the bytes `entry` describes. */
  private holds(file: string, entry: FileEntry): boolean {
    const listed = this.previous.get(file);
    if (listed?.sha256 !== entry.sha256 || listed.bytes !== entry.bytes) return false;
    try {
      const bytes = readFileSync(join(this.dir, file));
      return bytes.length === entry.bytes && sha256(bytes) === entry.sha256;
    } catch {
      return false;
    }
  }

  /** Removes the files this change wrote, after a failure: the directory is as it was. */
  private abandon(): void {
    for (const file of this.written) if (!this.previous.has(file)) rmSync(join(this.dir, file), { force: true });
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

/** The ONNX pieces of a network and how their boundaries are laid out, as `saveOnnxFiles` takes them. */
export interface OnnxParts {
  stages: Uint8Array[];
  exits: Uint8Array[];
  info: Omit<OnnxManifest, 'stages' | 'exits'>;
}

/** What else a model directory's commit holds besides the weights: ONNX files, a checkpoint's optimizer state. */
export interface ModelDirParts {
  onnx?: OnnxParts;
  trainState?: SavedTrainState;
}

function putOnnx(commit: ModelDirCommit, onnx: OnnxParts): OnnxManifest {
  const put = (kind: 'stage' | 'exit') => (bytes: Uint8Array, i: number) => commit.put(onnxFile(kind, i + 1), bytes);
  return { ...onnx.info, stages: onnx.stages.map(put('stage')), exits: onnx.exits.map(put('exit')) };
}

/** The tensor-name prefix of the copy of the weights a training checkpoint may hold beside the optimizer state. */
const CHECKPOINT_WEIGHTS = 'checkpoint-weights/';

function encodeTrainState(state: SavedTrainState): Uint8Array {
  const tensors: Record<string, TensorEntry> = {};
  for (const [name, data] of Object.entries(state.optimizer)) tensors[name] = { dtype: 'F32', shape: [data.length], data };
  for (const [name, data] of Object.entries(state.weights ?? {})) tensors[`${CHECKPOINT_WEIGHTS}${name}`] = { dtype: 'F32', shape: [data.length], data };
  return encodeFrame(tensors, { ...state.meta, epoch: String(state.epoch) });
}

/**
 * Puts one weight file per stage and exit head into a commit and returns their manifest entries; without
 * `keepEmpty`, a piece without weights (an imported stage, whose ONNX files hold it) gets no file.
 */
function putWeights(commit: ModelDirCommit, model: ModelSource, keepEmpty: boolean): Record<string, FileEntry> {
  const weights: Record<string, FileEntry> = {};
  for (const [file, tensors] of groupWeights(model.spec, model.weights)) {
    if (!keepEmpty && Object.keys(tensors).length === 0) continue;
    const { file: stored, ...entry } = commit.put(file, encodeFrame(tensors, { model: model.spec.name }));
    weights[stored] = entry;
  }
  return weights;
}

/**
 * Writes a model directory: one weight file per stage and exit head (and, when given, the ONNX files and a
 * checkpoint's optimizer state), then `branchy.json` listing them with their checksums, in one commit: an
 * interrupted save leaves the previous model readable, and a checkpoint's weights and optimizer state are never
 * out of step.
 *
 * @throws BranchyIoError `MODEL_DISK_FULL` or `MODEL_WRITE_FAILED` naming the file; the directory is left as it was.
 */
export function saveModelDir(
  dir: string,
  model: ModelSource,
  extra: { training?: Record<string, unknown>; [key: string]: unknown } = {},
  parts: ModelDirParts = {},
): ModelManifest {
  const commit = new ModelDirCommit(dir);
  const weights = putWeights(commit, model, true);
  const onnx = parts.onnx ? putOnnx(commit, parts.onnx) : undefined;
  const trainState = parts.trainState ? commit.put(TRAIN_STATE_FILE, encodeTrainState(parts.trainState)) : undefined;
  return commit.commit({ ...extra, format: 'branchy-model/1', spec: model.spec, weights, ...(onnx ? { onnx } : {}), ...(trainState ? { trainState } : {}) });
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
  if (typeof json === 'object' && json !== null && MANIFEST_CHECKSUM_FIELD in json && manifestText(manifest) !== text) {
    throw new BranchyIoError(
      'MODEL_CHECKSUM',
      `'${path}' is corrupt: it does not match its own checksum (field '${MANIFEST_CHECKSUM_FIELD}'), so it changed after it was written. If you edited it on purpose, delete that field to keep the edit.`,
    );
  }
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
  if (manifest.trainState !== undefined && !isListedFile(manifest.trainState))
    throw new BranchyIoError('MODEL_BAD_MANIFEST', `'${path}': field 'trainState' must be {file, sha256, bytes}.`);
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

/** Whether an entry is `{file, sha256, bytes}` naming a file of the directory itself. */
function isListedFile(e: OnnxFileEntry): boolean {
  return typeof e === 'object' && e !== null && isFileEntry(e.file, e);
}

function checkOnnxManifest(onnx: unknown, depth: number, path: string): OnnxManifest {
  const o = onnx as OnnxManifest;
  const listOk = (l: unknown, length: number) => Array.isArray(l) && l.length === length && l.every(isListedFile);
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
 * `branchy.json`, in one commit (an interrupted export leaves the previous manifest and files valid).
 */
export function saveOnnxFiles(dir: string, pieces: { stages: Uint8Array[]; exits: Uint8Array[] }, info: Omit<OnnxManifest, 'stages' | 'exits'>): ModelManifest {
  const previous = readManifest(dir);
  const commit = new ModelDirCommit(dir);
  const onnx = putOnnx(commit, { ...pieces, info });
  return commit.commit({ ...previous, onnx });
}

/**
 * Writes `branchy.json` for a network that exists only as ONNX files already in `dir` (see `branchy
 * import-onnx`): no weights; the files are listed, under their own names, with their checksums.
 */
export function saveImportedModelDir(
  dir: string,
  spec: NetworkSpec,
  files: { stages: string[]; exits: string[] },
  info: Omit<OnnxManifest, 'stages' | 'exits'>,
  extra: Record<string, unknown> = {},
): ModelManifest {
  validateSpec(spec);
  const commit = new ModelDirCommit(dir);
  const entry = (file: string) => commit.list(file, 'ONNX file');
  return commit.commit({
    ...extra,
    format: 'branchy-model/1',
    spec,
    weights: {},
    onnx: { ...info, stages: files.stages.map(entry), exits: files.exits.map(entry) },
  });
}

/**
 * Writes a model directory for a network whose trunk exists only as ONNX files: the stage (or segment) files and
 * one exit file per stage, a weight file for each native exit head (one with layers in the spec), and
 * `branchy.json` listing all of them with their checksums, in one commit.
 */
export function saveOnnxModelDir(
  dir: string,
  model: { spec: NetworkSpec; weights: Record<string, Float32Array>; onnx: { stages: Uint8Array[]; exits: Uint8Array[] } },
  info: Omit<OnnxManifest, 'stages' | 'exits'>,
  extra: Record<string, unknown> = {},
): ModelManifest {
  validateSpec(model.spec);
  const commit = new ModelDirCommit(dir);
  const onnx = putOnnx(commit, { ...model.onnx, info });
  const weights = putWeights(commit, model, false);
  return commit.commit({ ...extra, format: 'branchy-model/1', spec: model.spec, weights, onnx });
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

/**
 * Rewrites `branchy.json` with some fields changed (e.g. new thresholds), atomically; the weights stay as they
 * are. Files the new manifest no longer lists (ONNX files it drops, say) are removed after the commit.
 */
export function updateManifest(dir: string, change: (manifest: ModelManifest) => ModelManifest): ModelManifest {
  const next = change(readManifest(dir));
  validateSpec(next.spec);
  return new ModelDirCommit(dir).commit(next);
}

/** Training progress saved beside a model for `--resume`. */
export interface SavedTrainState {
  epoch: number;
  optimizer: Record<string, Float32Array>;
  /**
   * A copy of the weights at the end of `epoch`, in the same file as the optimizer state. Checkpoints commit their
   * weights and optimizer state in one `branchy.json` and need no copy; a checkpoint written by a version that
   * wrote the two apart (and so could be killed between them) holds one, and a resume takes the weights from it.
   */
  weights?: Record<string, Float32Array>;
  meta: Record<string, string>;
}

/**
 * Saves optimizer state and progress beside the model's weights, listed in its `branchy.json`. A training
 * checkpoint should rather pass the state to `saveModelDir`, so that weights and state are one commit.
 */
export function saveTrainState(dir: string, state: SavedTrainState): ModelManifest {
  const previous = readManifest(dir);
  const commit = new ModelDirCommit(dir);
  return commit.commit({ ...previous, trainState: commit.put(TRAIN_STATE_FILE, encodeTrainState(state)) });
}

/**
 * Whether `dir` holds a checkpoint's optimizer state (listed in its manifest, or the unlisted file of older
 * versions). Without a committed `branchy.json` it holds none: a state file there is what a killed first
 * checkpoint left.
 */
export function hasTrainState(dir: string): boolean {
  const committed = committedManifest(dir);
  return committed !== undefined && (committed.trainState !== undefined || existsSync(join(dir, TRAIN_STATE_FILE)));
}

/** Drops the optimizer state from a model directory (once training is over, it only takes room). */
export function dropTrainState(dir: string): void {
  if (existsSync(join(dir, MANIFEST_FILE))) updateManifest(dir, ({ trainState: _, ...rest }) => rest as ModelManifest);
  rmSync(join(dir, TRAIN_STATE_FILE), { force: true });
}

/**
 * Reads the state `saveModelDir` or `saveTrainState` wrote, checked against the checksum `branchy.json` lists;
 * a directory of an older version, whose manifest lists none, has it unlisted in `train-state.safetensors`.
 *
 * @throws BranchyIoError `MODEL_MISSING_FILE`, `MODEL_CHECKSUM`, `TRAIN_BAD_CHECKPOINT`, a `FRAME_*` code, naming the file.
 */
export function loadTrainState(dir: string): SavedTrainState {
  const listed = readManifest(dir).trainState;
  const path = join(dir, listed?.file ?? TRAIN_STATE_FILE);
  const bytes = listed ? readChecked(dir, listed.file, listed, 'training checkpoint') : readBytes(path, 'training checkpoint');
  const { tensors, metadata } = decodeFrame(bytes, path);
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
