/**
 * A small labelled test batch as one tensor frame: what the edge page measures the threshold's trade-off on and
 * offers as inputs to pick. Tensor `x` (`U8` pixels 0..255, or `F32` in [0, 1]; `[count, height, width, channels]`),
 * tensor `y` (`I32` class indices, `[count]`), and `__metadata__` `{kind: 'samples', classes: JSON array, source}`.
 * Browser-safe.
 *
 * @module
 */
import { decodeFrame } from '../io/frame.ts';
import { dataModelMismatch } from '../spec/data-match.ts';
import { BranchyCascadeError } from './errors.ts';

/** A decoded sample batch. */
export interface SampleBatch {
  /** Pixels in [0, 1], NHWC. */
  x: Float32Array;
  /** Class index per sample. */
  y: Int32Array;
  /** Per-sample shape `[height, width, channels]`. */
  shape: number[];
  count: number;
  classes: string[];
  /** Where the samples come from. */
  source: string;
}

function bad(source: string, message: string): never {
  throw new BranchyCascadeError('CASCADE_WEB_SAMPLES', `${source}: ${message}`, 500);
}

/**
 * Decodes a sample batch frame.
 *
 * @throws BranchyCascadeError `CASCADE_WEB_SAMPLES` when the bytes are not such a frame.
 */
export function decodeSampleBatch(bytes: Uint8Array, source = 'sample batch'): SampleBatch {
  let frame;
  try {
    frame = decodeFrame(bytes, source);
  } catch (error) {
    bad(source, (error as Error).message);
  }
  const { tensors, metadata } = frame;
  const { x, y } = tensors;
  if (metadata.kind !== 'samples') bad(source, `__metadata__.kind is ${JSON.stringify(metadata.kind)}; expected "samples".`);
  if (x === undefined || (x.dtype !== 'U8' && x.dtype !== 'F32') || x.shape.length !== 4)
    bad(source, `tensor 'x' must be U8 or F32 of shape [count, height, width, channels].`);
  const count = x.shape[0];
  if (y === undefined || y.dtype !== 'I32' || y.shape.length !== 1 || y.shape[0] !== count) bad(source, `tensor 'y' must be I32 of shape [${count}].`);
  let classes: unknown;
  try {
    classes = JSON.parse(metadata.classes ?? 'null');
  } catch {
    bad(source, `__metadata__.classes is not JSON.`);
  }
  if (!Array.isArray(classes) || classes.length < 2 || !classes.every((c) => typeof c === 'string'))
    bad(source, `__metadata__.classes must be a JSON array of at least 2 class names.`);
  const labels = y.data as Int32Array;
  const outside = labels.findIndex((l) => l < 0 || l >= classes.length);
  if (outside >= 0) bad(source, `label ${labels[outside]} of sample ${outside} is not a class index below ${classes.length}.`);
  const pixels = x.dtype === 'U8' ? Float32Array.from(x.data as Uint8Array, (v) => v / 255) : (x.data as Float32Array);
  return { x: pixels, y: labels, shape: x.shape.slice(1), count, classes: classes as string[], source: metadata.source ?? source };
}

/** Whether a batch fits a network: the same class names in the same order, and the same sample shape. */
export function sampleBatchFits(batch: Pick<SampleBatch, 'classes' | 'shape'>, classes: readonly string[], inputShape: readonly number[]): boolean {
  return dataModelMismatch({ name: 'plan', input: { shape: inputShape }, classes }, batch) === undefined;
}
