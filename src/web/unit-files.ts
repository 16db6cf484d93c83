/**
 * The first unit's model directory, fetched from the unit's server: `branchy.json`, then every weight and ONNX file
 * it lists, each checked against the size and SHA-256 the manifest gives, as `loadModelDir` checks them on disk.
 *
 * @module
 */
import { BranchyCascadeError, BranchyIoError, decodeFrame, type ModelSource, type NetworkSpec, type OnnxSource } from '../index.ts';

interface FileEntry {
  sha256: string;
  bytes: number;
}

/** The fields of a unit's `branchy.json` the page reads. */
interface UnitManifest {
  format: string;
  spec: NetworkSpec;
  modelId?: string;
  weights: Record<string, FileEntry>;
  onnx?: {
    stages: (FileEntry & { file: string })[];
    exits: (FileEntry & { file: string })[];
    inputLayout?: 'nhwc' | 'nchw';
    exitOutput?: 'probs' | 'logits';
  };
}

/** A fetched unit and how many bytes its files took. */
export interface FetchedUnit {
  source: ModelSource;
  bytes: number;
}

async function fetchBytes(fetcher: typeof fetch, url: string): Promise<Uint8Array> {
  const response = await fetcher(url);
  if (!response.ok) throw new BranchyIoError('MODEL_MISSING_FILE', `${url} answered ${response.status}.`);
  return new Uint8Array(await response.arrayBuffer());
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function fetchChecked(fetcher: typeof fetch, base: string, file: string, entry: FileEntry): Promise<Uint8Array> {
  const bytes = await fetchBytes(fetcher, `${base}${encodeURIComponent(file)}`);
  if (bytes.length !== entry.bytes || (await sha256(bytes)) !== entry.sha256) {
    throw new BranchyIoError(
      'MODEL_CHECKSUM',
      `${base}${file} is ${bytes.length} bytes with a checksum that does not match branchy.json (expected ${entry.bytes} bytes).`,
    );
  }
  return bytes;
}

/**
 * Fetches the unit's model directory from `base` (a URL prefix ending in `/`) and checks that it belongs to model
 * `modelId`. With `onnx: false` the ONNX files are not fetched (tfjs runs from the weights).
 *
 * @throws BranchyCascadeError `CASCADE_WRONG_MODEL` for a unit of another model; BranchyIoError `MODEL_MISSING_FILE`,
 *   `MODEL_CHECKSUM`, `MODEL_BAD_MANIFEST`.
 */
export async function fetchUnit(base: string, modelId: string, options: { onnx?: boolean; fetch?: typeof fetch } = {}): Promise<FetchedUnit> {
  const fetcher = options.fetch ?? fetch;
  const manifestBytes = await fetchBytes(fetcher, `${base}branchy.json`);
  const manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as UnitManifest;
  if (manifest.format !== 'branchy-model/1' || typeof manifest.weights !== 'object' || manifest.weights === null) {
    throw new BranchyIoError('MODEL_BAD_MANIFEST', `${base}branchy.json is not a model manifest (format ${JSON.stringify(manifest.format)}).`);
  }
  if (manifest.modelId !== modelId) {
    throw new BranchyCascadeError(
      'CASCADE_WRONG_MODEL',
      `the unit at ${base} belongs to model ${String(manifest.modelId).slice(0, 12)}…; the page runs ${modelId.slice(0, 12)}….`,
      409,
    );
  }
  let total = manifestBytes.length;
  const weights: Record<string, Float32Array> = {};
  for (const [file, entry] of Object.entries(manifest.weights)) {
    const bytes = await fetchChecked(fetcher, base, file, entry);
    total += bytes.length;
    for (const [name, tensor] of Object.entries(decodeFrame(bytes, `${base}${file}`).tensors)) weights[name] = tensor.data as Float32Array;
  }
  let onnx: OnnxSource | undefined;
  if (options.onnx !== false && manifest.onnx) {
    const read = async (e: FileEntry & { file: string }) => {
      const bytes = await fetchChecked(fetcher, base, e.file, e);
      total += bytes.length;
      return bytes;
    };
    const stages = [];
    for (const e of manifest.onnx.stages) stages.push(await read(e));
    const exits = [];
    for (const e of manifest.onnx.exits) exits.push(await read(e));
    onnx = { stages, exits, inputLayout: manifest.onnx.inputLayout ?? 'nhwc', exitOutput: manifest.onnx.exitOutput ?? 'probs' };
  }
  return { source: { spec: manifest.spec, weights, ...(onnx ? { onnx } : {}) }, bytes: total };
}
