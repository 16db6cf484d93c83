/**
 * Reading single network inputs from image and IDX files, and writing samples back out as PNG. Node-only
 * (pngjs, node:fs), and kept out of `data/index.ts` so that importing the data layer does not pull in pngjs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { PNG, type ColorType } from 'pngjs';
import { BranchyArgumentError, BranchyDataError } from '../common/errors.ts';
import { idxToFloat32, isGzip, isIdx, parseIdx } from './idx.ts';

/** The eight bytes every PNG file starts with. */
export const PNG_SIGNATURE: readonly number[] = Object.freeze([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Per-sample shape [height, width, channels], as in `Dataset.shape`. */
export type InputShape = readonly [number, number, number];

/** True when the bytes start with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= PNG_SIGNATURE.length && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

const COLOR_TYPE_BY_CHANNELS: Readonly<Record<number, ColorType>> = { 1: 0, 3: 2, 4: 6 };

function checkShape(shape: InputShape, what: string): void {
  const [h, w, c] = shape;
  if (!Number.isInteger(h) || h <= 0 || !Number.isInteger(w) || w <= 0) {
    throw new BranchyArgumentError(
      'DATA_INPUT_SHAPE',
      `${what}: shape [${shape.join(', ')}] is invalid: expected [height, width, channels] of positive integers.`,
    );
  }
  if (COLOR_TYPE_BY_CHANNELS[c] === undefined) {
    throw new BranchyArgumentError('DATA_UNSUPPORTED_CHANNELS', `${what}: ${c} channels cannot be stored in a PNG: expected 1 (gray), 3 (RGB) or 4 (RGBA).`);
  }
}

function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new BranchyDataError('DATA_NOT_FOUND', `${path}: cannot be read (${(cause as Error).message}).`, {
      cause,
    });
  }
}

/**
 * Checks what a PNG's header claims before pngjs reads it: pngjs sizes its buffers from IHDR's width × height
 * before anything checks them (a 65535×65535 claim asks for gigabytes), and inflates an interlaced image's data
 * without a limit. So the claimed size must be the network's, and an interlaced image's data must inflate to no more
 * than an image of that size can hold (at most 16-bit RGBA, with the filter bytes of every row of the 7 interlace
 * passes); pngjs bounds a plain image's inflate by its size itself.
 * A file too malformed to read this way is left to pngjs, which refuses it.
 */
function checkPngHeader(bytes: Uint8Array, name: string, h: number, w: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = (at: number) => String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
  if (bytes.length < 33 || type(12) !== 'IHDR') return;
  const width = view.getUint32(16, false);
  const height = view.getUint32(20, false);
  if (width !== w || height !== h) {
    throw new BranchyDataError('DATA_INPUT_SHAPE', `${name}: image is ${width}×${height} (width×height) but the network expects ${w}×${h}; resize it first.`);
  }
  // pngjs bounds a plain image's inflate by its (now checked) size itself; only interlaced data needs the bound here.
  const interlaced = bytes[28] === 1;
  if (!interlaced) return;
  const idat: Uint8Array[] = [];
  for (let at = 8; at + 12 <= bytes.length;) {
    const length = view.getUint32(at, false);
    if (at + 12 + length > bytes.length) break;
    if (type(at + 4) === 'IDAT') idat.push(bytes.subarray(at + 8, at + 8 + length));
    at += 12 + length;
  }
  const most = h * (1 + 8 * w) + 7 * h + 64;
  try {
    inflateSync(Buffer.concat(idat), { maxOutputLength: most });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw new BranchyDataError('DATA_BAD_PNG', `${name}: its image data inflates past the ${most} bytes a ${w}×${h} image can hold.`, { cause });
    // Other inflate errors (truncated or corrupt data) are pngjs's to report.
  }
}

/**
 * Decodes PNG bytes into one network input of `shape` [h, w, c], values in [0,1]:
 * - c = 1: luminance 0.299 R + 0.587 G + 0.114 B (gray pixels map exactly to gray / 255);
 * - c = 3: R, G, B;
 * - c = 4: R, G, B, A unchanged.
 *
 * For c = 1 and 3, transparency is composited over black, because MNIST-style data are light strokes on a
 * black background: a stroke drawn on a transparent canvas then reads like a training digit. The image is
 * never resized; a size mismatch is an error so a wrong file does not silently give a confident answer.
 * Dark-on-light drawings are not inverted either: that is the caller's choice.
 *
 * @throws BranchyDataError `DATA_BAD_PNG` when the bytes do not decode, `DATA_INPUT_SHAPE` when the image
 *   size differs from [h, w] (read from the header, before decoding), `DATA_BAD_PNG` too when its image data
 *   inflates past what an image of that size can hold.
 */
export function decodePngInput(bytes: Uint8Array, name: string, shape: InputShape): Float32Array {
  checkShape(shape, name);
  const [h, w, c] = shape;
  checkPngHeader(bytes, name, h, w);
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (cause) {
    throw new BranchyDataError('DATA_BAD_PNG', `${name}: is not a readable PNG (${(cause as Error).message}).`, { cause });
  }
  if (png.width !== w || png.height !== h) {
    throw new BranchyDataError(
      'DATA_INPUT_SHAPE',
      `${name}: image is ${png.width}×${png.height} (width×height) but the network expects ${w}×${h}; ` + `resize it first.`,
    );
  }
  // pngjs always hands back 8-bit RGBA, whatever the file's colour type or bit depth.
  const rgba = png.data;
  const out = new Float32Array(h * w * c);
  for (let p = 0, o = 0; p < h * w; p++, o += c) {
    const r = rgba[4 * p];
    const g = rgba[4 * p + 1];
    const b = rgba[4 * p + 2];
    const a = rgba[4 * p + 3];
    if (c === 4) {
      out[o] = r / 255;
      out[o + 1] = g / 255;
      out[o + 2] = b / 255;
      out[o + 3] = a / 255;
    } else if (c === 3) {
      out[o] = (r * a) / 65025;
      out[o + 1] = (g * a) / 65025;
      out[o + 2] = (b * a) / 65025;
    } else {
      // Gray pixels skip the weighted sum so that they round-trip exactly (0.299+0.587+0.114 is 1 only in theory).
      const lum = r === g && g === b ? r : 0.299 * r + 0.587 * g + 0.114 * b;
      out[o] = (lum * a) / 65025;
    }
  }
  return out;
}

/**
 * Reads a PNG file as one network input of `shape` [h, w, c], values in [0,1]; see {@link decodePngInput}
 * for the colour conversion.
 *
 * @throws BranchyDataError `DATA_NOT_FOUND` when the file cannot be read, `DATA_BAD_PNG` when it does not
 *   decode, `DATA_INPUT_SHAPE` when the image size differs from [h, w].
 */
export function readPngAsInput(path: string, shape: InputShape): Float32Array {
  return decodePngInput(readBytes(path), path, shape);
}

/**
 * Encodes one sample of `shape` [h, w, c] (c = 1 gray, 3 RGB, 4 RGBA) as 8-bit PNG bytes. Values are
 * clamped to [0,1] and rounded to the nearest 1/255, so reading back is exact to within 1/510.
 *
 * @throws BranchyArgumentError `DATA_INPUT_SHAPE` when `x.length` is not h × w × c,
 *   `DATA_UNSUPPORTED_CHANNELS` for other channel counts.
 */
export function encodePng(x: Float32Array, shape: InputShape): Uint8Array {
  checkShape(shape, 'encodePng');
  const [h, w, c] = shape;
  if (x.length !== h * w * c) {
    throw new BranchyArgumentError('DATA_INPUT_SHAPE', `encodePng: ${x.length} values do not fit shape [${shape.join(', ')}]: expected ${h * w * c}.`);
  }
  const colorType = COLOR_TYPE_BY_CHANNELS[c];
  const png = new PNG({ width: w, height: h });
  const data = Buffer.alloc(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    // NaN maps to 0 so one bad value cannot make the whole export fail.
    data[i] = v > 0 ? Math.round(Math.min(v, 1) * 255) : 0;
  }
  png.data = data;
  // Input and output colour types match, so pngjs writes our bytes as they are (no grey averaging or alpha
  // compositing of its own).
  return PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: c === 4 });
}

/**
 * Writes one sample as a PNG file (e.g. to look at a misclassified digit). See {@link encodePng}.
 *
 * @throws BranchyArgumentError as {@link encodePng}; file system errors propagate unchanged (they name the path).
 */
export function writePng(path: string, x: Float32Array, shape: InputShape): void {
  writeFileSync(path, encodePng(x, shape));
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Reads network inputs from a file, choosing the decoder by content, not by file name:
 * - PNG (signature 0x89 'PNG'): one sample, see {@link decodePngInput};
 * - IDX, raw or gzipped: dims [h, w, c] (or [h, w] when c = 1) are one sample, [n, h, w, c] (or [n, h, w])
 *   are n samples; ubyte values are scaled to [0,1], float values kept.
 *
 * The returned arrays are consecutive views of one buffer that belongs to the caller.
 *
 * @throws BranchyDataError `DATA_NOT_FOUND` when the file cannot be read, and the codes of {@link decodeInputBytes}.
 */
export function readInputFile(path: string, shape: InputShape): Float32Array[] {
  return decodeInputBytes(readBytes(path), path, shape);
}

/**
 * The network inputs an input file's bytes hold, as {@link readInputFile} reads them; `name` is quoted in errors.
 *
 * @throws BranchyDataError `DATA_UNKNOWN_FORMAT` when the bytes are neither PNG nor IDX, `DATA_INPUT_SHAPE` when
 *   their dims do not hold samples of `shape` (or hold none), and the PNG and IDX decoders' codes.
 */
export function decodeInputBytes(bytes: Uint8Array, name: string, shape: InputShape): Float32Array[] {
  const path = name;
  if (isPng(bytes)) return [decodePngInput(bytes, path, shape)];
  // Two zero bytes are taken as IDX even with an unknown type byte, so that parseIdx reports the bad magic.
  if (!(isGzip(bytes) || isIdx(bytes) || (bytes.length >= 2 && bytes[0] === 0 && bytes[1] === 0))) {
    const head = Array.from(bytes.subarray(0, 8), (b) => `0x${b.toString(16).padStart(2, '0')}`).join(' ');
    throw new BranchyDataError('DATA_UNKNOWN_FORMAT', `${path}: starts with ${head || '(empty file)'}: expected a PNG image or an IDX file (raw or gzipped).`);
  }
  const tensor = parseIdx(bytes, path);
  const [h, w, c] = shape;
  const one =
    c === 1
      ? [
          [h, w],
          [h, w, c],
        ]
      : [[h, w, c]];
  const dims = tensor.dims;
  let n: number;
  if (one.some((s) => sameDims(dims, s))) {
    n = 1;
  } else if (dims.length > 1 && one.some((s) => sameDims(dims.slice(1), s))) {
    n = dims[0];
  } else {
    throw new BranchyDataError(
      'DATA_INPUT_SHAPE',
      `${path}: IDX dims [${dims.join(', ')}] do not hold inputs of shape [${shape.join(', ')}]: expected ` +
        `${one.map((s) => `[${s.join(', ')}]`).join(' or ')} for one sample, or a leading count for several.`,
    );
  }
  if (n === 0) {
    throw new BranchyDataError('DATA_INPUT_SHAPE', `${path}: IDX dims [${dims.join(', ')}] hold no samples.`);
  }
  const x = idxToFloat32(tensor, path);
  const per = h * w * c;
  const out: Float32Array[] = [];
  for (let i = 0; i < n; i++) out.push(x.subarray(i * per, (i + 1) * per));
  return out;
}
