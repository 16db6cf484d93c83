import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { writeIdx } from '../../src/data/index.ts';
import { readInputFile, readPngAsInput, writePng } from '../../src/data/png.ts';

const dir = mkdtempSync(join(tmpdir(), 'branchy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A 28×28 test pattern in [0,1] with values that are not multiples of 1/255. */
function pattern(h = 28, w = 28, c = 1): Float32Array {
  return Float32Array.from({ length: h * w * c }, (_, i) => ((i * 0.37) % 1) * (i % 5 === 0 ? 0 : 1));
}

/** Writes an RGBA PNG built from `pixel(x, y)` with pngjs directly, independent of the code under test. */
function rgbaPng(file: string, w: number, h: number, pixel: (x: number, y: number) => number[]): string {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) png.data.set(pixel(x, y), 4 * (y * w + x));
  }
  const path = join(dir, file);
  writeFileSync(path, PNG.sync.write(png));
  return path;
}

describe('PNG input', () => {
  it('writes a digit and reads it back to within 1/255', () => {
    const x = pattern();
    const path = join(dir, 'digit.png');
    writePng(path, x, [28, 28, 1]);
    assert.deepEqual(Array.from(readFileSync(path).subarray(1, 4)), [0x50, 0x4e, 0x47]);
    const back = readPngAsInput(path, [28, 28, 1]);
    assert.equal(back.length, 784);
    back.forEach((v, i) => assert.ok(Math.abs(v - x[i]) <= 1 / 255, `pixel ${i}: ${v} vs ${x[i]}`));
  });

  it('round-trips values on the 1/255 grid exactly', () => {
    const x = Float32Array.from({ length: 784 }, (_, i) => ((i * 13) % 256) / 255);
    const path = join(dir, 'grid.png');
    writePng(path, x, [28, 28, 1]);
    assert.deepEqual(readPngAsInput(path, [28, 28, 1]), x);
  });

  it('converts an RGB image to grayscale by luminance', () => {
    const path = rgbaPng(
      'rgb.png',
      3,
      1,
      (x) =>
        [
          [255, 0, 0, 255],
          [0, 255, 0, 255],
          [90, 90, 90, 255],
        ][x],
    );
    const gray = readPngAsInput(path, [1, 3, 1]);
    assert.ok(Math.abs(gray[0] - 0.299) < 1e-6, `red → ${gray[0]}`);
    assert.ok(Math.abs(gray[1] - 0.587) < 1e-6, `green → ${gray[1]}`);
    assert.equal(gray[2], Math.fround(90 / 255), 'gray pixels stay exact');
  });

  it('reads RGB channels when asked for 3 and composites transparency over black', () => {
    const path = rgbaPng('alpha.png', 2, 1, (x) => (x === 0 ? [255, 255, 255, 0] : [255, 51, 0, 255]));
    const rgb = readPngAsInput(path, [1, 2, 3]);
    assert.deepEqual(Array.from(rgb), [0, 0, 0, 1, Math.fround(0.2), 0]);
    assert.equal(readPngAsInput(path, [1, 2, 1])[0], 0, 'transparent white is background (black)');
  });

  it('writes and reads RGB samples', () => {
    const x = pattern(5, 4, 3);
    const path = join(dir, 'rgb-sample.png');
    writePng(path, x, [5, 4, 3]);
    readPngAsInput(path, [5, 4, 3]).forEach((v, i) => assert.ok(Math.abs(v - x[i]) <= 1 / 255));
  });

  it('rejects an image of the wrong size with DATA_INPUT_SHAPE quoting both sizes', () => {
    const path = join(dir, 'big.png');
    writePng(path, pattern(32, 30), [32, 30, 1]);
    assert.throws(() => readPngAsInput(path, [28, 28, 1]), {
      name: 'BranchyDataError',
      code: 'DATA_INPUT_SHAPE',
      message: /30×32.*28×28/,
    });
  });

  it('reports a missing file as DATA_NOT_FOUND and a corrupt one as DATA_BAD_PNG', () => {
    assert.throws(() => readPngAsInput(join(dir, 'nope.png'), [28, 28, 1]), {
      code: 'DATA_NOT_FOUND',
      message: /nope\.png/,
    });
    const bad = join(dir, 'bad.png');
    writeFileSync(bad, Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3));
    assert.throws(() => readPngAsInput(bad, [28, 28, 1]), { code: 'DATA_BAD_PNG', message: /bad\.png/ });
  });
});

describe('readInputFile', () => {
  it('reads a PNG as one sample', () => {
    const path = join(dir, 'one.png');
    writePng(path, pattern(), [28, 28, 1]);
    const xs = readInputFile(path, [28, 28, 1]);
    assert.equal(xs.length, 1);
    assert.equal(xs[0].length, 784);
  });

  it('reads a [h, w] IDX image as one sample and [n, h, w] as n, scaling ubyte to [0,1]', () => {
    const single = join(dir, 'digit.idx');
    writeFileSync(
      single,
      writeIdx(
        Uint8Array.from({ length: 784 }, (_, i) => i % 256),
        [28, 28],
        'ubyte',
      ),
    );
    const one = readInputFile(single, [28, 28, 1]);
    assert.equal(one.length, 1);
    assert.equal(one[0][255], 1);
    assert.equal(one[0][256], 0);

    const many = join(dir, 'digits.idx.gz');
    writeFileSync(many, gzipSync(writeIdx(new Float32Array(3 * 784).fill(0.25), [3, 28, 28, 1], 'float')));
    const three = readInputFile(many, [28, 28, 1]);
    assert.equal(three.length, 3);
    assert.ok(three.every((x) => x.length === 784 && x.every((v) => v === 0.25)));
  });

  it('rejects IDX dims that do not match the shape, and files that are neither PNG nor IDX', () => {
    const wrong = join(dir, 'wrong.idx');
    writeFileSync(wrong, writeIdx(new Uint8Array(27 * 28), [27, 28], 'ubyte'));
    assert.throws(() => readInputFile(wrong, [28, 28, 1]), {
      code: 'DATA_INPUT_SHAPE',
      message: /\[27, 28\].*\[28, 28, 1\]/,
    });
    const text = join(dir, 'digit.txt');
    writeFileSync(text, 'not an image');
    assert.throws(() => readInputFile(text, [28, 28, 1]), { code: 'DATA_UNKNOWN_FORMAT', message: /0x6e 0x6f/ });
  });
});
