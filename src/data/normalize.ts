import { BranchyArgumentError } from '../common/errors.ts';
import type { Dataset } from './dataset.ts';

/** Per-channel mean and standard deviation, stored with a model so inference normalises like training did. */
export interface ChannelStats {
  mean: number[];
  std: number[];
}

/**
 * Mean and population standard deviation of every channel over all samples and pixels. Sums run in float64
 * and in two passes (mean first, then squared deviations) so 10⁷ float32 values do not lose precision.
 */
export function channelStats(ds: Dataset): ChannelStats {
  const c = ds.shape[2];
  const x = ds.x;
  const perChannel = x.length / c;
  const sum = new Float64Array(c);
  for (let i = 0; i < x.length; i++) sum[i % c] += x[i];
  const mean = Array.from(sum, (s) => (perChannel > 0 ? s / perChannel : 0));
  const sq = new Float64Array(c);
  for (let i = 0; i < x.length; i++) {
    const d = x[i] - mean[i % c];
    sq[i % c] += d * d;
  }
  const std = Array.from(sq, (s) => (perChannel > 0 ? Math.sqrt(s / perChannel) : 0));
  return { mean, std };
}

/**
 * `(x - mean[ch]) / std[ch]` for channel-last data (element `i` belongs to channel `i % channels`), returned
 * as a new array. A channel whose std is 0 (constant, e.g. an unused colour plane) is divided by 1 instead, so
 * it becomes 0 rather than NaN.
 *
 * @throws BranchyArgumentError `DATA_BAD_STATS` when `channels` is not a positive integer dividing
 *   `x.length`, or `stats` does not hold `channels` finite means and non-negative stds.
 */
export function normalize(x: Float32Array, channels: number, stats: ChannelStats): Float32Array {
  if (!Number.isInteger(channels) || channels <= 0 || x.length % channels !== 0) {
    throw new BranchyArgumentError(
      'DATA_BAD_STATS',
      `normalize: channels = ${channels} is invalid for ${x.length} values: expected a positive integer ` + `that divides the length.`,
    );
  }
  if (stats.mean.length !== channels || stats.std.length !== channels) {
    throw new BranchyArgumentError(
      'DATA_BAD_STATS',
      `normalize: stats have ${stats.mean.length} means and ${stats.std.length} stds: expected ${channels} ` + `of each.`,
    );
  }
  const divisor = new Float64Array(channels);
  for (let ch = 0; ch < channels; ch++) {
    const m = stats.mean[ch];
    const s = stats.std[ch];
    if (!Number.isFinite(m) || !Number.isFinite(s) || s < 0) {
      throw new BranchyArgumentError('DATA_BAD_STATS', `normalize: channel ${ch} has mean ${m} and std ${s}: expected a finite mean and a finite std >= 0.`);
    }
    divisor[ch] = s > 0 ? s : 1;
  }
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const ch = i % channels;
    out[i] = (x[i] - stats.mean[ch]) / divisor[ch];
  }
  return out;
}
