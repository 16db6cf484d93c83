/** Renders rows as an aligned plain-text table; the first row is the header. Numbers align right. */
export function formatTable(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0].map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const numeric = cells[0].map((_, c) => cells.slice(1).every((r) => /^[-+\d.,%x ]*(ms|s)?$/.test(r[c] ?? '')));
  const line = (r: string[]) =>
    r
      .map((v, c) => (numeric[c] && c > 0 ? v.padStart(widths[c]) : v.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** A share as a percentage with one or two decimals. */
export const percent = (v: number, digits = 2): string => (Number.isNaN(v) ? '-' : `${(100 * v).toFixed(digits)}%`);

/** Milliseconds with three decimals. */
export const ms = (v: number): string => `${v.toFixed(3)} ms`;
