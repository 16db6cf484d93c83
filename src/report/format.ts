/**
 * Number formatting shared by the HTML and Markdown reports, so one figure reads the same everywhere:
 * percent with 2 decimals, milliseconds with 3, speed-ups with 2.
 */

// A fixed locale: reports must not change with the machine that writes them.
const grouped = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** `0.98765` → `98.77%`. */
export function formatPercent(fraction: number): string {
  return Number.isFinite(fraction) ? `${(fraction * 100).toFixed(2)}%` : '–';
}

/** A difference of two fractions in percentage points, signed: `+0.12 pts`, `-0.30 pts`. */
export function formatPoints(deltaFraction: number): string {
  if (!Number.isFinite(deltaFraction)) return '–';
  const points = deltaFraction * 100;
  // Rounding can leave `-0.00`; a zero difference has no sign.
  const text = Math.abs(points).toFixed(2);
  const sign = text === '0.00' ? '±' : points > 0 ? '+' : '-';
  return `${sign}${text} pts`;
}

/** `0.21349` → `0.213 ms`. */
export function formatMs(ms: number): string {
  return Number.isFinite(ms) ? `${ms.toFixed(3)} ms` : '–';
}

/** `1.8349` → `1.83×`. */
export function formatSpeedup(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '–';
}

/** Whole counts with thousands separators: `431080` → `431,080`. */
export function formatCount(n: number): string {
  return Number.isFinite(n) ? grouped.format(n) : '–';
}

/** A threshold: 3 decimals, and infinities (an exit that never or always fires) spelled out. */
export function formatThreshold(t: number): string {
  if (t === Infinity) return '∞';
  if (t === -Infinity) return '-∞';
  return Number.isFinite(t) ? t.toFixed(3) : '–';
}

/** Seconds as `42.3 s` or `3 min 12 s`. */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '–';
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)} min ${whole % 60} s`;
}
