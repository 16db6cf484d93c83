/**
 * The tensor frame: branchy's one binary format for named tensors (weight files, features passed between
 * deployment units, binary HTTP bodies). It is the safetensors layout, so files open in other tools:
 *
 * ```
 * u64 little-endian N | N bytes of JSON header (padded with spaces) | data section
 * ```
 *
 * The header maps each tensor name to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the
 * data section) plus an optional `"__metadata__": {string: string}`. Browser-safe: DataView, TextEncoder and
 * TextDecoder only.
 *
 * @module
 */
import { BranchyArgumentError, BranchyIoError, type IoErrorCode } from '../common/errors.ts';

/**
 * Element types a frame can hold (safetensors names). `F16` elements are IEEE-754 binary16 bit patterns held in
 * a `Uint16Array` (Node 20 has no `Float16Array`); `I8` is a signed byte.
 */
export type FrameDtype = 'F32' | 'F64' | 'I32' | 'U8' | 'F16' | 'I8';

/**
 * Typed array holding a tensor's elements; its kind must match the entry's {@link FrameDtype}: F32 `Float32Array`,
 * F64 `Float64Array`, I32 `Int32Array`, U8 `Uint8Array`, F16 `Uint16Array` (bit patterns), I8 `Int8Array`.
 */
export type FrameData = Float32Array | Float64Array | Int32Array | Uint8Array | Uint16Array | Int8Array;

/** One named tensor: element type, shape (row-major, `[]` for a scalar) and elements. */
export interface TensorEntry {
  dtype: FrameDtype;
  shape: number[];
  data: FrameData;
}

/** What {@link decodeFrame} returns: the tensors in header order and the string metadata (`{}` if none). */
export interface DecodedFrame {
  tensors: Record<string, TensorEntry>;
  metadata: Record<string, string>;
}

/** The supported dtypes, in the order error messages list them. */
export const FRAME_DTYPES: readonly FrameDtype[] = Object.freeze(['F32', 'F64', 'I32', 'U8', 'F16', 'I8']);

/** Largest header {@link decodeFrame} accepts, in bytes (the limit safetensors uses), so a corrupt length cannot make us decode gigabytes of "JSON". */
export const MAX_FRAME_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

interface DtypeInfo {
  readonly size: number;
  /** `Symbol.toStringTag` of the matching typed array: checked instead of `instanceof` so arrays from another realm (worker, vm) pass. */
  readonly tag: string;
  readonly make: (buffer: ArrayBufferLike, byteOffset: number, length: number) => FrameData;
}

const DTYPES: Readonly<Record<FrameDtype, DtypeInfo>> = {
  F32: {
    size: 4,
    tag: 'Float32Array',
    make: (b, o, n) => new Float32Array(b, o, n),
  },
  F64: {
    size: 8,
    tag: 'Float64Array',
    make: (b, o, n) => new Float64Array(b, o, n),
  },
  I32: {
    size: 4,
    tag: 'Int32Array',
    make: (b, o, n) => new Int32Array(b, o, n),
  },
  U8: {
    size: 1,
    tag: 'Uint8Array',
    make: (b, o, n) => new Uint8Array(b, o, n),
  },
  F16: {
    size: 2,
    tag: 'Uint16Array',
    make: (b, o, n) => new Uint16Array(b, o, n),
  },
  I8: {
    size: 1,
    tag: 'Int8Array',
    make: (b, o, n) => new Int8Array(b, o, n),
  },
};

// The format is little-endian, and typed arrays are copied in and viewed out directly: right on every platform
// Node and the browsers run on. A big-endian host would read every element wrong, so it is refused outright.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('the tensor frame needs a little-endian host.');

function isDtype(value: unknown): value is FrameDtype {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, value);
}

/** Defines an own enumerable property, so that a name like `__proto__` is stored as data, not as the prototype. */
function put<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A short, printable rendering of a value seen in input, for error messages. */
function quote(value: unknown, max = 80): string {
  let text: string;
  try {
    // Cut strings before escaping them: a bad header can be up to 100 MB of text.
    text = typeof value === 'string' ? JSON.stringify(value.slice(0, max + 1)) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0);
}

/** Product of the dims (1 for a scalar); may be a non-safe integer for absurd shapes, which callers treat as a mismatch. */
function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Serialises named tensors (and optional string metadata) into one frame.
 *
 * Tensors are laid out largest element size first (F64, then F32/I32, then F16, then U8/I8), which — with the data section
 * starting at a multiple of 8 — puts every tensor at an offset aligned for its element type without padding
 * between tensors (safetensors requires the data section to be covered exactly). The header lists tensors in
 * the caller's order, which is the order {@link decodeFrame} returns them in.
 *
 * @throws BranchyArgumentError code `FRAME_BAD_NAME` for an empty name or `__metadata__`, `FRAME_BAD_DTYPE`
 *   for an unknown dtype, `FRAME_DTYPE_MISMATCH` when `data` is not the dtype's typed array, `FRAME_BAD_SHAPE`
 *   when the shape is invalid or its product differs from `data.length`, `FRAME_BAD_METADATA` for a
 *   non-string metadata value.
 * @example
 * ```ts
 * const bytes = encodeFrame(
 *   { 'dense1.kernel': { dtype: 'F32', shape: [2, 3], data: new Float32Array(6) } },
 *   { format: 'branchy-weights', version: '1' },
 * );
 * ```
 */
export function encodeFrame(tensors: Record<string, TensorEntry>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors);
  for (const name of names) checkEntry(name, tensors[name]);
  const { json, headerLength, dataLength, layout, offsets } = planFrame(tensors, metadata);
  const dataStart = 8 + headerLength;

  const out = new Uint8Array(dataStart + dataLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLength, true);
  view.setUint32(4, Math.floor(headerLength / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, dataStart);
  for (const name of layout) {
    const { data } = tensors[name];
    const at = dataStart + (offsets.get(name) as [number, number])[0];
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
  }
  return out;
}

/** A tensor as a frame's header describes it: its dtype and shape, without its elements. */
export interface TensorLayout {
  dtype: FrameDtype;
  shape: readonly number[];
}

/**
 * The exact length of the frame {@link encodeFrame} would produce for tensors of these dtypes and shapes and this
 * metadata, without building it: for a sender that must stay under a message size limit.
 *
 * @throws BranchyArgumentError code `FRAME_BAD_NAME`, `FRAME_BAD_DTYPE`, `FRAME_BAD_SHAPE` (a shape that is not
 *   an array of integers ≥ 0) or `FRAME_BAD_METADATA`, as {@link encodeFrame} would.
 * @example
 * ```ts
 * frameByteLength({ x: { dtype: 'F16', shape: [64, 30, 30, 5] } }, { kind: 'features' }); // 8 + header + 576,000
 * ```
 */
export function frameByteLength(tensors: Record<string, TensorLayout>, metadata?: Record<string, string>): number {
  for (const [name, entry] of Object.entries(tensors)) {
    checkName(name);
    checkDtype(name, entry?.dtype);
    const shape: unknown = entry.shape;
    if (!isShape(shape)) {
      throw new BranchyArgumentError('FRAME_BAD_SHAPE', `Tensor ${quote(name)} has shape ${quote(shape)}; expected an array of integers ≥ 0.`);
    }
  }
  const { headerLength, dataLength } = planFrame(tensors, metadata);
  return 8 + headerLength + dataLength;
}

interface FramePlan {
  /** The header's JSON, before its padding. */
  json: Uint8Array;
  /** The header's length with its padding: a multiple of 8, so that the data section starts aligned. */
  headerLength: number;
  dataLength: number;
  /** Tensor names in data-section order. */
  layout: string[];
  offsets: Map<string, [number, number]>;
}

/** Where every tensor goes and what the header says; shared by the encoder and {@link frameByteLength} so the two cannot disagree. */
function planFrame(tensors: Record<string, TensorLayout>, metadata: Record<string, string> | undefined): FramePlan {
  const names = Object.keys(tensors);
  // Stable sort: equal element sizes keep the caller's order.
  const layout = [...names].sort((a, b) => DTYPES[tensors[b].dtype].size - DTYPES[tensors[a].dtype].size);
  const offsets = new Map<string, [number, number]>();
  let dataLength = 0;
  for (const name of layout) {
    const { dtype, shape } = tensors[name];
    const byteLength = elementCount(shape) * DTYPES[dtype].size;
    offsets.set(name, [dataLength, dataLength + byteLength]);
    dataLength += byteLength;
  }

  // Built by hand rather than from an object so that key order is the caller's and odd names survive.
  const parts = names.map((name) => {
    const { dtype, shape } = tensors[name];
    return `${JSON.stringify(name)}:${JSON.stringify({ dtype, shape, data_offsets: offsets.get(name) })}`;
  });
  const metaKeys = metadata === undefined ? [] : Object.keys(metadata);
  if (metadata !== undefined && metaKeys.length > 0) {
    const metaParts = metaKeys.map((key) => {
      const value: unknown = metadata[key];
      if (typeof value !== 'string') {
        throw new BranchyArgumentError(
          'FRAME_BAD_METADATA',
          `Frame metadata ${quote(key)} is ${quote(value)} (${typeof value}); metadata values must be strings.`,
        );
      }
      return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
    });
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${metaParts.join(',')}}`);
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  // Pad with spaces (valid trailing JSON whitespace) so that 8 + headerLength, the data start, is a multiple of 8.
  const headerLength = Math.ceil(json.length / 8) * 8;
  return { json, headerLength, dataLength, layout, offsets };
}

function checkName(name: string): void {
  if (name === '' || name === METADATA_KEY) {
    throw new BranchyArgumentError(
      'FRAME_BAD_NAME',
      `Tensor name ${quote(name)} cannot be used in a frame; expected a non-empty name other than '${METADATA_KEY}'.`,
    );
  }
}

function checkDtype(name: string, dtype: unknown): asserts dtype is FrameDtype {
  if (!isDtype(dtype)) {
    throw new BranchyArgumentError('FRAME_BAD_DTYPE', `Tensor ${quote(name)} has dtype ${quote(dtype)}; supported dtypes: ${FRAME_DTYPES.join(', ')}.`);
  }
}

function checkEntry(name: string, entry: TensorEntry): void {
  checkName(name);
  const dtype: unknown = entry?.dtype;
  checkDtype(name, dtype);
  const data: unknown = entry.data;
  const tag = ArrayBuffer.isView(data) ? (data as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag] : typeof data;
  if (tag !== DTYPES[dtype].tag) {
    throw new BranchyArgumentError(
      'FRAME_DTYPE_MISMATCH',
      `Tensor ${quote(name)} has dtype ${dtype} but its data is a ${tag}; expected a ${DTYPES[dtype].tag}.`,
    );
  }
  const shape: unknown = entry.shape;
  if (!isShape(shape) || elementCount(shape) !== entry.data.length) {
    throw new BranchyArgumentError(
      'FRAME_BAD_SHAPE',
      `Tensor ${quote(name)} has shape ${quote(shape)} for ${entry.data.length} elements; expected an array of ` +
        `integers ≥ 0 whose product is the element count.`,
    );
  }
}

/**
 * Parses a frame made by {@link encodeFrame} or by any safetensors writer (dtypes F32, F64, I32, U8, F16, I8;
 * F16 tensors come back as `Uint16Array`s of bit patterns).
 *
 * Every length and offset is checked before it is used, so hostile or truncated input fails with a
 * `BranchyIoError` and never reads out of bounds. Tensors whose bytes are aligned for their element type
 * (always so for frames from {@link encodeFrame} held in their own buffer) are returned as views into `bytes`
 * — they share memory with it; unaligned ones are copied.
 *
 * @param bytes the whole frame.
 * @param source names the frame in error messages (a file path, `'request body'`, …).
 * @throws BranchyIoError, with `code` one of `FRAME_TOO_SHORT`, `FRAME_BAD_HEADER_LENGTH` (beyond the bytes or
 *   over {@link MAX_FRAME_HEADER_BYTES}), `FRAME_BAD_HEADER_JSON` (not UTF-8 JSON, or not an object of objects,
 *   or metadata that is not a string map), `FRAME_BAD_DTYPE`, `FRAME_BAD_SHAPE` (bad dims, or element count ×
 *   dtype size ≠ offset span), `FRAME_BAD_OFFSETS` (outside the data section, overlapping, or leaving a gap).
 * @example
 * ```ts
 * const { tensors, metadata } = decodeFrame(await readFile(path), path);
 * const kernel = tensors['dense1.kernel'].data as Float32Array;
 * ```
 */
export function decodeFrame(bytes: Uint8Array, source = 'frame'): DecodedFrame {
  if (!(bytes instanceof Uint8Array)) {
    throw new BranchyArgumentError('FRAME_NOT_BYTES', `${source}: expected a Uint8Array, got ${quote(bytes)}.`);
  }
  const fail = (code: IoErrorCode, message: string): never => {
    throw new BranchyIoError(code, `${source}: ${message}`);
  };

  if (bytes.length < 8) {
    fail('FRAME_TOO_SHORT', `${bytes.length} bytes; a frame needs at least 8 (the u64 header length).`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_FRAME_HEADER_BYTES)) {
    fail('FRAME_BAD_HEADER_LENGTH', `header length is ${declared} bytes; at most ${MAX_FRAME_HEADER_BYTES} are accepted.`);
  }
  const headerLength = Number(declared);
  if (8 + headerLength > bytes.length) {
    fail('FRAME_BAD_HEADER_LENGTH', `header length is ${headerLength} bytes but only ${bytes.length - 8} bytes follow the length field.`);
  }

  let header: unknown;
  try {
    // fatal: invalid UTF-8 is corruption, not something to paper over with U+FFFD.
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
    try {
      header = JSON.parse(text);
    } catch (e) {
      fail('FRAME_BAD_HEADER_JSON', `header is not valid JSON (${(e as Error).message}): ${quote(text)}.`);
    }
  } catch (e) {
    if (e instanceof BranchyIoError) throw e;
    fail('FRAME_BAD_HEADER_JSON', `header is not valid UTF-8 (${(e as Error).message}).`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    fail('FRAME_BAD_HEADER_JSON', `header is ${quote(header)}; expected a JSON object mapping tensor names to entries.`);
  }

  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number }[] = [];
  const pending: { name: string; dtype: FrameDtype; shape: number[]; begin: number; count: number }[] = [];

  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      readMetadata(entry, metadata, fail);
      continue;
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      fail('FRAME_BAD_HEADER_JSON', `header entry ${quote(name)} is ${quote(entry)}; expected {dtype, shape, data_offsets}.`);
    }
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDtype(dtype)) {
      fail('FRAME_BAD_DTYPE', `tensor ${quote(name)} has dtype ${quote(dtype)}; supported dtypes: ${FRAME_DTYPES.join(', ')}.`);
    }
    const dt = dtype as FrameDtype;
    if (!isShape(shape)) {
      fail('FRAME_BAD_SHAPE', `tensor ${quote(name)} has shape ${quote(shape)}; expected an array of integers ≥ 0.`);
    }
    const dims = shape as number[];
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1] ||
      offsets[1] > dataLength
    ) {
      fail(
        'FRAME_BAD_OFFSETS',
        `tensor ${quote(name)} has data_offsets ${quote(offsets)}; expected [begin, end] with ` + `0 ≤ begin ≤ end ≤ ${dataLength} (the data section length).`,
      );
    }
    const [begin, end] = offsets as [number, number];
    const count = elementCount(dims);
    const size = DTYPES[dt].size;
    if (count * size !== end - begin) {
      fail(
        'FRAME_BAD_SHAPE',
        `tensor ${quote(name)} has shape ${quote(dims)} × ${size}-byte ${dt} = ${count * size} bytes, ` +
          `but data_offsets [${begin}, ${end}] span ${end - begin} bytes.`,
      );
    }
    spans.push({ name, begin, end });
    pending.push({ name, dtype: dt, shape: dims, begin, count });
  }

  checkCoverage(spans, dataLength, fail);

  const tensors: Record<string, TensorEntry> = {};
  for (const { name, dtype, shape, begin, count } of pending) {
    put(tensors, name, { dtype, shape, data: readData(bytes, dataStart + begin, dtype, count) });
  }
  return { tensors, metadata };
}

type Fail = (code: IoErrorCode, message: string) => never;

function readMetadata(entry: unknown, into: Record<string, string>, fail: Fail): void {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    fail('FRAME_BAD_HEADER_JSON', `'${METADATA_KEY}' is ${quote(entry)}; expected an object of strings.`);
  }
  for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
    if (typeof value !== 'string') {
      fail('FRAME_BAD_HEADER_JSON', `'${METADATA_KEY}' entry ${quote(key)} is ${quote(value)}; expected a string.`);
    }
    put(into, key, value as string);
  }
}

/** The tensors must tile the data section: starting at 0, each beginning where the previous ended, ending at its end. */
function checkCoverage(spans: { name: string; begin: number; end: number }[], dataLength: number, fail: Fail): void {
  // Sorting by end as well puts empty tensors before a tensor that starts at the same offset, where they are harmless.
  const sorted = [...spans].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: { name: string; begin: number; end: number } | undefined;
  for (const span of sorted) {
    if (span.begin < covered) {
      const other = previous as { name: string; begin: number; end: number };
      fail(
        'FRAME_BAD_OFFSETS',
        `tensor ${quote(span.name)} data_offsets [${span.begin}, ${span.end}] overlap tensor ${quote(other.name)} ` + `[${other.begin}, ${other.end}].`,
      );
    }
    if (span.begin > covered) {
      fail(
        'FRAME_BAD_OFFSETS',
        `data section bytes [${covered}, ${span.begin}) belong to no tensor (next is ${quote(span.name)} at ` +
          `[${span.begin}, ${span.end}]); tensors must cover the data section without gaps.`,
      );
    }
    covered = span.end;
    previous = span;
  }
  if (covered !== dataLength) {
    fail('FRAME_BAD_OFFSETS', `data section is ${dataLength} bytes but the tensors cover only [0, ${covered}); ` + `expected them to cover it exactly.`);
  }
}

function readData(bytes: Uint8Array, at: number, dtype: FrameDtype, count: number): FrameData {
  const { size, make } = DTYPES[dtype];
  const absolute = bytes.byteOffset + at;
  if (absolute % size === 0) return make(bytes.buffer, absolute, count);
  // Typed arrays must start at a multiple of their element size: copy into a fresh buffer (offset 0).
  return make(bytes.slice(at, at + count * size).buffer, 0, count);
}
