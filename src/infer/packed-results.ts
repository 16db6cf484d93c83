import type { ExitResult } from './types.ts';

/** Results as four typed arrays, for a message between threads or a frame on the wire. */
export interface PackedResults<Buffer extends ArrayBufferLike = ArrayBufferLike> {
  labels: Int32Array<Buffer>;
  exits: Int32Array<Buffer>;
  scores: Float64Array<Buffer>;
  /** [count, classes] row-major. */
  probs: Float32Array<Buffer>;
}

/** Packs results (in order) into typed arrays. */
export function packResults(results: readonly ExitResult[], classes: number): PackedResults<ArrayBuffer> {
  const n = results.length;
  const packed: PackedResults<ArrayBuffer> = {
    labels: new Int32Array(n),
    exits: new Int32Array(n),
    scores: new Float64Array(n),
    probs: new Float32Array(n * classes),
  };
  results.forEach((r, i) => {
    packed.labels[i] = r.label;
    packed.exits[i] = r.exit;
    packed.scores[i] = r.score;
    packed.probs.set(r.probs, i * classes);
  });
  return packed;
}

/** The results packed by {@link packResults}; each result's `probs` views the packed array. */
export function unpackResults(packed: PackedResults): ExitResult[] {
  const n = packed.labels.length;
  const classes = n === 0 ? 0 : packed.probs.length / n;
  return Array.from({ length: n }, (_, i) => ({
    label: packed.labels[i],
    exit: packed.exits[i],
    score: packed.scores[i],
    probs: packed.probs.subarray(i * classes, (i + 1) * classes),
  }));
}
