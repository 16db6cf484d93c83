import type { Batch } from './types.ts';

/** The given rows of a batch, in that order, as a new batch; the batch itself when `rows` is every row in order. */
export function selectRows(batch: Batch, rows: readonly number[]): Batch {
  const count = batch.shape[0];
  if (rows.length === count && rows.every((r, i) => r === i)) return batch;
  const row = count > 0 ? batch.data.length / count : 0;
  const data = new Float32Array(rows.length * row);
  rows.forEach((r, i) => data.set(batch.data.subarray(r * row, (r + 1) * row), i * row));
  return { data, shape: [rows.length, ...batch.shape.slice(1)] };
}
