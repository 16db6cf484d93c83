/**
 * What travels over HTTP: predict inputs as JSON (`{"inputs": [[…], …]}`, one flat array per sample) or as a
 * tensor frame (`application/octet-stream`, see `src/io/frame.ts`) holding one F32 tensor `inputs` of shape
 * `[n, ...input shape]` or `[n, values per sample]`; and the per-request options (thresholds, probabilities)
 * read from the query string or headers.
 *
 * @module
 */
import type { Batch } from '../engine/types.ts';
import { broadcastThresholds, getCriterion, parseThresholds, validateThresholds } from '../exit/index.ts';
import { decodeFrame, encodeFrame } from '../io/frame.ts';
import type { NetworkSpec } from '../spec/types.ts';
import { BranchyServeError } from './errors.ts';

/** The tensor name a binary predict request carries its samples under. */
export const INPUT_TENSOR = 'inputs';
/** Header that overrides thresholds, like the `thresholds` query parameter. */
export const THRESHOLDS_HEADER = 'x-branchy-thresholds';
/** Header that asks for every class probability, like the `probs` query parameter. */
export const PROBS_HEADER = 'x-branchy-probs';

/** The largest finite float32, about 3.4028e38. */
const FLOAT32_MAX = (2 - 2 ** -23) * 2 ** 127;

const valuesPerSample = (spec: NetworkSpec): number => spec.input.shape.reduce((a, b) => a * b, 1);
const shapeText = (spec: NetworkSpec): string => spec.input.shape.join('×');

/** A value of a request body as an error message shows it: short, and never by a walk that deep nesting overflows. */
function shown(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return String(v);
}

function badInputs(message: string): BranchyServeError {
  return new BranchyServeError('SERVE_BAD_INPUTS', message, 400);
}

function checkCount(count: number, maxSamples: number): void {
  if (count === 0) throw badInputs("'inputs' holds no samples; send at least one.");
  if (count > maxSamples) {
    throw new BranchyServeError('SERVE_TOO_MANY_SAMPLES', `'inputs' holds ${count} samples; this server takes at most ${maxSamples} per request.`, 413);
  }
}

/**
 * The samples of a JSON predict body as one batch. Each sample is a flat array of the input's values
 * (784 for a 28×28×1 input), all finite numbers within float32's range.
 *
 * @throws BranchyServeError `SERVE_BAD_INPUTS` (400) naming the sample and value at fault,
 *   `SERVE_TOO_MANY_SAMPLES` (413).
 */
export function inputsFromJson(body: unknown, spec: NetworkSpec, maxSamples: number): Batch {
  const inputs = (body as { inputs?: unknown } | null)?.inputs;
  if (typeof body !== 'object' || body === null || !Array.isArray(inputs)) {
    throw badInputs("the body must be a JSON object with 'inputs': an array of samples, each an array of numbers.");
  }
  checkCount(inputs.length, maxSamples);
  const per = valuesPerSample(spec);
  const data = new Float32Array(inputs.length * per);
  for (let s = 0; s < inputs.length; s++) {
    const sample: unknown = inputs[s];
    if (!Array.isArray(sample) || sample.length !== per) {
      const got = Array.isArray(sample) ? `${sample.length} values` : `a ${sample === null ? 'null' : typeof sample}`;
      throw badInputs(`'inputs[${s}]' is ${got}; model '${spec.name}' takes ${per} numbers per sample (${shapeText(spec)}, flattened row-major).`);
    }
    const offset = s * per;
    for (let i = 0; i < per; i++) {
      const v: unknown = sample[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw badInputs(`'inputs[${s}][${i}]' is ${shown(v)}; expected a finite number.`);
      }
      data[offset + i] = v;
      // A double beyond float32's range (1e300) is finite, but the network would see ±Infinity.
      if (!Number.isFinite(data[offset + i]))
        throw badInputs(`'inputs[${s}][${i}]' is ${v}; expected a finite number within ±${FLOAT32_MAX.toPrecision(5)} (float32).`);
    }
  }
  return { data, shape: [inputs.length, ...spec.input.shape] };
}

/**
 * The samples of a binary predict body: a tensor frame with one F32 tensor `inputs` of shape
 * `[n, ...input shape]` or `[n, values per sample]`, all values finite. The batch is a view into `bytes` when
 * its values are aligned there (as in frames from {@link encodeInputsFrame}), so it changes if `bytes` does.
 *
 * @throws BranchyIoError `FRAME_*` for a malformed frame; BranchyServeError `SERVE_BAD_INPUTS` for a missing
 *   tensor, a wrong dtype or shape or a non-finite value; `SERVE_TOO_MANY_SAMPLES`.
 */
export function inputsFromFrame(bytes: Uint8Array, spec: NetworkSpec, maxSamples: number): Batch {
  const { tensors } = decodeFrame(bytes, 'request body');
  const names = Object.keys(tensors);
  const entry = tensors[INPUT_TENSOR];
  if (entry === undefined || names.length !== 1) {
    throw badInputs(`the frame holds tensors [${names.map((n) => JSON.stringify(n)).join(', ')}]; expected exactly one, named '${INPUT_TENSOR}'.`);
  }
  if (entry.dtype !== 'F32') throw badInputs(`tensor '${INPUT_TENSOR}' is ${entry.dtype}; expected F32.`);
  const per = valuesPerSample(spec);
  const [count, ...rest] = entry.shape;
  const flat = rest.length === 1 && rest[0] === per;
  const full = rest.length === spec.input.shape.length && rest.every((d, i) => d === spec.input.shape[i]);
  if (entry.shape.length === 0 || !(flat || full)) {
    throw badInputs(
      `tensor '${INPUT_TENSOR}' has shape [${entry.shape.join(', ')}]; model '${spec.name}' takes [n, ${spec.input.shape.join(', ')}] or [n, ${per}].`,
    );
  }
  checkCount(count, maxSamples);
  const data = entry.data as Float32Array;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw badInputs(`sample ${Math.floor(i / per)}, value ${i % per} is ${data[i]}; expected a finite number.`);
  }
  return { data, shape: [count, ...spec.input.shape] };
}

/**
 * A binary predict body for `samples` (n × values per sample): the frame {@link inputsFromFrame} reads.
 *
 * @example
 * ```ts
 * await fetch(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: encodeInputsFrame(pixels, [1, 28, 28, 1]) });
 * ```
 */
export function encodeInputsFrame(samples: Float32Array, shape: number[]): Uint8Array {
  return encodeFrame({ [INPUT_TENSOR]: { dtype: 'F32', shape, data: samples } });
}

/** What a predict request asks for besides its samples. */
export interface PredictOptions {
  /** Thresholds overriding the server's, one per early exit, validated; `undefined` for the server's own. */
  thresholds?: number[];
  /** Return every class probability per sample. */
  probs: boolean;
}

function single(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  throw new BranchyServeError(
    'SERVE_BAD_QUERY',
    `'${name}' is given ${Array.isArray(value) ? `${value.length} times` : `as ${typeof value}`}; give it once.`,
    400,
  );
}

function flag(value: string, name: string): boolean {
  if (value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  throw new BranchyServeError('SERVE_BAD_QUERY', `'${name}' is ${JSON.stringify(value)}; expected 1, 0, true or false.`, 400);
}

/**
 * Reads `?thresholds=0.3,0.5` (or header `x-branchy-thresholds`) and `?probs=1` (or `x-branchy-probs: 1`).
 * Thresholds are one per early exit or one for all, checked against the model's criterion and its range.
 *
 * @throws BranchyServeError `SERVE_BAD_QUERY`, `SERVE_CONFLICTING_THRESHOLDS`; BranchyArgumentError `EXIT_*` for bad thresholds.
 */
export function predictOptions(query: Record<string, unknown>, headers: Record<string, unknown>, spec: NetworkSpec): PredictOptions {
  const fromQuery = single(query.thresholds, 'thresholds');
  const fromHeader = single(headers[THRESHOLDS_HEADER], THRESHOLDS_HEADER);
  if (fromQuery !== undefined && fromHeader !== undefined) {
    throw new BranchyServeError('SERVE_CONFLICTING_THRESHOLDS', `thresholds are given both as '?thresholds=' and as '${THRESHOLDS_HEADER}'; give one.`, 400);
  }
  const text = fromQuery ?? fromHeader;
  let thresholds: number[] | undefined;
  if (text !== undefined) {
    const earlyExits = spec.stages.length - 1;
    const criterion = getCriterion(spec.policy.criterion);
    thresholds = Array.from(validateThresholds(broadcastThresholds(parseThresholds(text), earlyExits), earlyExits, criterion, spec.classes.length));
  }
  const probsText = single(query.probs, 'probs') ?? single(headers[PROBS_HEADER], PROBS_HEADER);
  return { thresholds, probs: probsText === undefined ? false : flag(probsText, 'probs') };
}
