/**
 * What every decoder fuzz suite shares: the seed and run counts, byte-level and JSON-level mutations of valid
 * inputs, and the property itself (a typed error with a code, or a result the suite checks).
 *
 * `FUZZ_SEED` replaces the seed and `FUZZ_SCALE` multiplies every suite's run count, for a long local run:
 * `FUZZ_SCALE=50 node --import tsx --test test/fuzz/*.test.ts`.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BranchyError } from '../../src/common/errors.ts';

/** The seed of every fuzz property (printed in each test's name). */
export const FUZZ_SEED = envInteger('FUZZ_SEED', 20261207);
/** How many times the suites' run counts are multiplied. */
export const FUZZ_SCALE = envInteger('FUZZ_SCALE', 1);

function envInteger(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name}=${text}: expected a whole number ≥ 1.`);
  return value;
}

/** A suite's run count in CI, scaled by `FUZZ_SCALE`. */
export function runs(ci: number): number {
  return ci * FUZZ_SCALE;
}

/** fast-check parameters of a property with `count` runs: the fixed seed, no time-outs of its own. */
export function params(count: number): fc.Parameters<unknown> {
  return { seed: FUZZ_SEED, numRuns: count };
}

/** A test name stating the property's seed and run count, so a failure can be replayed. */
export function named(what: string, count: number): string {
  return `${what} (seed ${FUZZ_SEED}, ${count} runs)`;
}

/** Codes are upper-case words joined by underscores, as every error class spells them. */
const CODE = /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/;

/**
 * Asserts that `error` is a BranchyError (or subclass) with a well-formed code, one of `codes` when given, and a
 * message; anything else (a TypeError, a RangeError from an allocation, a plain Error from a library) fails with
 * its stack.
 */
export function assertTyped(error: unknown, codes?: readonly string[]): asserts error is BranchyError {
  if (!(error instanceof BranchyError)) {
    assert.fail(`expected a BranchyError, got ${(error as Error)?.stack ?? String(error)}`);
  }
  assert.match(error.code, CODE, `code ${error.code}`);
  assert.ok(error.message.length > 0, `${error.code} has no message`);
  if (codes !== undefined) assert.ok(codes.includes(error.code), `unexpected code ${error.code}: ${error.message}`);
}

/**
 * The decoder property: `decode` returns a result that `check` accepts, or throws a typed error (one of `codes`
 * when given). Returns the code thrown, or undefined for a result.
 */
export function typedOrValid<T>(decode: () => T, check: (result: T) => void, codes?: readonly string[]): string | undefined {
  let result: T;
  try {
    result = decode();
  } catch (error) {
    assertTyped(error, codes);
    return error.code;
  }
  check(result);
  return undefined;
}

/** {@link typedOrValid} for an asynchronous decoder. */
export async function typedOrValidAsync<T>(
  decode: () => Promise<T>,
  check: (result: T) => void | Promise<void>,
  codes?: readonly string[],
): Promise<string | undefined> {
  let result: T;
  try {
    result = await decode();
  } catch (error) {
    assertTyped(error, codes);
    return error.code;
  }
  await check(result);
  return undefined;
}

/** Counts outcomes (a code, or `ok`) so that a suite can show it reached past the first check. */
export class Outcomes {
  private readonly counts = new Map<string, number>();

  add(outcome: string | undefined): void {
    const key = outcome ?? 'ok';
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** How many distinct outcomes were seen. */
  get size(): number {
    return this.counts.size;
  }

  has(outcome: string): boolean {
    return this.counts.has(outcome);
  }

  toString(): string {
    return [...this.counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
  }
}

/** Values that sit on the edges of the lengths and counts a header may claim. */
const EDGE_U32 = [0, 1, 2, 7, 8, 255, 256, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** One change to a byte string; positions are fractions of its length so that a mutation fits any input. */
export type ByteMutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; length: number }
  | { op: 'splice'; from: number; to: number; length: number }
  | { op: 'u32'; at: number; value: number; littleEndian: boolean };

const position = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
/** Most formats keep their lengths near the start: a third of the positions fall in the first 64 bytes. */
const headerPosition = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 63 }).map((i) => -1 - i), weight: 1 }, { arbitrary: position, weight: 2 });

const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: headerPosition, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: headerPosition, value: fc.oneof(fc.constantFrom(0, 0xff, 0x7f, 0x80), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ op: fc.constant('truncate' as const), at: position }),
  fc.record({ op: fc.constant('insert' as const), at: headerPosition, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('delete' as const), at: headerPosition, length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('splice' as const), from: position, to: headerPosition, length: fc.integer({ min: 1, max: 256 }) }),
  fc.record({
    op: fc.constant('u32' as const),
    at: headerPosition,
    value: fc.oneof(fc.constantFrom(...EDGE_U32), fc.nat()),
    littleEndian: fc.boolean(),
  }),
);

/** Where a position lands in `length` bytes: a fraction of the length, or (negative) a byte of the first 64. */
function offset(at: number, length: number): number {
  if (length === 0) return 0;
  return at < 0 ? Math.min(-1 - at, length - 1) : Math.floor(at * length);
}

/** Applies one mutation, returning a new array. */
export function mutate(bytes: Uint8Array, m: ByteMutation): Uint8Array {
  const n = bytes.length;
  switch (m.op) {
    case 'flip':
    case 'set': {
      if (n === 0) return bytes;
      const out = bytes.slice();
      const i = offset(m.at, n);
      out[i] = m.op === 'flip' ? out[i] ^ (1 << m.bit) : m.value;
      return out;
    }
    case 'truncate':
      return bytes.slice(0, offset(m.at, n));
    case 'insert': {
      const i = offset(m.at, n + 1);
      const out = new Uint8Array(n + m.bytes.length);
      out.set(bytes.subarray(0, i));
      out.set(m.bytes, i);
      out.set(bytes.subarray(i), i + m.bytes.length);
      return out;
    }
    case 'delete': {
      const i = offset(m.at, n);
      const out = new Uint8Array(n - Math.min(m.length, n - i));
      out.set(bytes.subarray(0, i));
      out.set(bytes.subarray(i + m.length), i);
      return out;
    }
    case 'splice': {
      if (n === 0) return bytes;
      const from = offset(m.from, n);
      const to = offset(m.to, n);
      const piece = bytes.slice(from, from + m.length);
      const out = bytes.slice();
      out.set(piece.subarray(0, Math.max(0, n - to)), to);
      return out;
    }
    case 'u32': {
      if (n < 4) return bytes;
      const out = bytes.slice();
      new DataView(out.buffer).setUint32(Math.min(offset(m.at, n), n - 4), m.value >>> 0, m.littleEndian);
      return out;
    }
  }
}

/** A valid input with one to `most` mutations applied: the structure-aware half of every byte-format suite. */
export function mutated(base: Uint8Array | fc.Arbitrary<Uint8Array>, most = 4): fc.Arbitrary<Uint8Array> {
  const bases = base instanceof Uint8Array ? fc.constant(base) : base;
  return fc.tuple(bases, fc.array(byteMutation, { minLength: 1, maxLength: most })).map(([b, ms]) => ms.reduce(mutate, b));
}

/** Random bytes, sometimes behind a given prefix (a magic number), so that some get past the first check. */
export function randomBytes(prefixes: readonly Uint8Array[] = [], maxLength = 512): fc.Arbitrary<Uint8Array> {
  const tail = fc.uint8Array({ maxLength });
  if (prefixes.length === 0) return tail;
  return fc.oneof(
    tail,
    fc.tuple(fc.constantFrom(...prefixes), tail).map(([p, t]) => {
      const out = new Uint8Array(p.length + t.length);
      out.set(p);
      out.set(t, p.length);
      return out;
    }),
  );
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Text of `depth` nested arrays: parses fine, but recursion over it (JSON.stringify, a naive walk) overflows the stack. */
export function deeplyNested(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

/** How deep {@link DEEP} nests. */
const DEEP_LEVELS = 20_000;

/**
 * Stands for 20,000 nested arrays while mutations are applied (they copy values, which such nesting would not
 * survive); {@link materialize} and {@link jsonText} put the real thing in its place.
 */
const DEEP = '\u0001deep\u0001';

/** JSON values worth trying in place of a field: edges of numbers, wrong types, empty and deep containers. */
export const oddJson: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    0,
    -1,
    1,
    0.5,
    -0.5,
    2 ** 31 - 1,
    2 ** 31,
    2 ** 32,
    2 ** 53,
    1e300,
    -1e300,
    5e-324,
    '',
    'x',
    '__proto__',
    null,
    true,
    false,
    [],
    {},
    [0],
    [1, 2, 3],
    { type: 'relu' },
  ),
  fc.constant(DEEP),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
);

/** One change to a JSON value: at the node a path of child choices reaches, replace it, drop it, or add a key. */
export interface JsonMutation {
  path: number[];
  op: 'replace' | 'delete' | 'add';
  key: string;
  value: Json;
}

export const jsonMutation: fc.Arbitrary<JsonMutation> = fc.record({
  path: fc.array(fc.nat({ max: 1000 }), { maxLength: 8 }),
  op: fc.constantFrom('replace', 'replace', 'delete', 'add'),
  key: fc.oneof(fc.constantFrom('type', 'layers', 'shape', 'units', 'filters', 'format', 'weights', 'inputs', 'x'), fc.string({ maxLength: 8 })),
  value: oddJson,
});

/** Applies one mutation to a deep copy of `value`. */
export function mutateJson(value: unknown, m: JsonMutation): unknown {
  const root = structuredClone(value) as Json;
  let parent: Json[] | { [key: string]: Json } | undefined;
  let slot: string | number | undefined;
  let node: Json = root;
  for (const choice of m.path) {
    if (node === null || typeof node !== 'object') break;
    const keys: (string | number)[] = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    if (keys.length === 0) break;
    parent = node;
    slot = keys[choice % keys.length];
    node = (node as Record<string | number, Json>)[slot];
  }
  if (m.op === 'add' && node !== null && typeof node === 'object') {
    if (Array.isArray(node)) node.push(m.value);
    else Object.defineProperty(node, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
    return root;
  }
  if (parent === undefined || slot === undefined) return m.op === 'delete' ? undefined : m.value;
  if (m.op === 'delete') {
    if (Array.isArray(parent)) parent.splice(slot as number, 1);
    else delete parent[slot as string];
  } else (parent as Record<string | number, Json>)[slot] = m.value;
  return root;
}

/** A valid JSON value with one to `most` mutations applied. */
export function mutatedJson(base: unknown, most = 3): fc.Arbitrary<unknown> {
  return fc.array(jsonMutation, { minLength: 1, maxLength: most }).map((ms) => ms.reduce<unknown>(mutateJson, base));
}

/** The value a mutated one stands for, with every {@link DEEP} replaced by real nested arrays. */
export function materialize(value: unknown): unknown {
  if (value === DEEP) return JSON.parse(deeplyNested(DEEP_LEVELS));
  if (Array.isArray(value)) return value.map(materialize);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: materialize(v), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

/** The JSON text of a mutated value, every {@link DEEP} written out as nested arrays. */
export function jsonText(value: unknown): string {
  return (JSON.stringify(value) ?? 'null').replaceAll(JSON.stringify(DEEP), deeplyNested(DEEP_LEVELS));
}
