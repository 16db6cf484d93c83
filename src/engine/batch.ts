import type { Batch, LoadedNetwork } from './types.ts';

/** The given rows of a batch, in that order, as a new batch; the batch itself when `rows` is every row in order. */
export function selectRows(batch: Batch, rows: readonly number[]): Batch {
  const count = batch.shape[0];
  if (rows.length === count && rows.every((r, i) => r === i)) return batch;
  const row = count > 0 ? batch.data.length / count : 0;
  const data = new Float32Array(rows.length * row);
  rows.forEach((r, i) => data.set(batch.data.subarray(r * row, (r + 1) * row), i * row));
  return { data, shape: [rows.length, ...batch.shape.slice(1)] };
}

/** NHWC batches → NCHW (what stage 1 of a PyTorch chain takes). */
export function nhwcToNchw(x: Batch): Batch {
  const [n, h, w, c] = x.shape;
  const out = new Float32Array(x.data.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        for (let ch = 0; ch < c; ch++) {
          out[((b * c + ch) * h + y) * w + xx] = x.data[((b * h + y) * w + xx) * c + ch];
        }
  return { data: out, shape: [n, c, h, w] };
}

/** NCHW feature maps → NHWC (what a native exit head reads); other ranks pass through. */
export function nchwToNhwc(x: Batch): Batch {
  if (x.shape.length !== 4) return x;
  const [n, c, h, w] = x.shape;
  const out = new Float32Array(x.data.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let xx = 0; xx < w; xx++) {
          out[((b * h + y) * w + xx) * c + ch] = x.data[((b * c + ch) * h + y) * w + xx];
        }
  return { data: out, shape: [n, h, w, c] };
}

/** Features as they leave `net`: NHWC, transposed from NCHW when the network's stages are NCHW (`featureLayout`). */
export function nhwcFeatures(net: Pick<LoadedNetwork, 'featureLayout'>, features: Batch): Batch {
  return net.featureLayout === 'nchw' ? nchwToNhwc(features) : features;
}
