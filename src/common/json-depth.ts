/**
 * How deeply parsed JSON nests, checked without recursion. `JSON.parse` reads arrays nested tens of thousands deep,
 * but `JSON.stringify`, hashing and every recursive walk over them overflow the stack (a RangeError far from the
 * file that caused it), so readers of user files refuse such values where they read them.
 *
 * @module
 */

/**
 * The path (`$.training.history[0]…`) of the first array or object nested deeper than `limit` levels in `value`, or
 * `undefined` when none is. The value itself is level 1.
 *
 * @example
 * jsonDepthPast(JSON.parse('{"a":[[1]]}'), 2);   // '$.a[0]'
 */
export function jsonDepthPast(value: unknown, limit: number): string | undefined {
  const pending: { value: unknown; depth: number; path: string }[] = [{ value, depth: 1, path: '$' }];
  while (pending.length > 0) {
    const { value: v, depth, path } = pending.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > limit) return path;
    if (Array.isArray(v)) v.forEach((item, i) => pending.push({ value: item, depth: depth + 1, path: `${path}[${i}]` }));
    else for (const [key, item] of Object.entries(v)) pending.push({ value: item, depth: depth + 1, path: `${path}.${key}` });
  }
  return undefined;
}
