import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Rng } from '../src/common/rng.ts';
import type { Dataset } from '../src/data/dataset.ts';
import type { Batch } from '../src/engine/types.ts';
import { updateManifest } from '../src/io/index.ts';
import type { NetworkSpec } from '../src/spec/types.ts';

/** A small three-exit conv net on 6x6x1 inputs, quick on any backend. */
export function tinySpec(overrides: Partial<NetworkSpec> = {}): NetworkSpec {
  return {
    format: 'branchy/1',
    name: 'tiny',
    input: { shape: [6, 6, 1] },
    classes: ['a', 'b', 'c'],
    stages: [
      { layers: [{ type: 'conv2d', filters: 4, kernel: 3, padding: 1 }, { type: 'relu' }] },
      { layers: [{ type: 'maxPool', size: 2, padding: 'ceil' }, { type: 'conv2d', filters: 5, kernel: 3, padding: 'same' }, { type: 'relu' }] },
      { layers: [{ type: 'flatten' }, { type: 'dense', units: 8 }, { type: 'relu' }] },
    ],
    exits: [
      { layers: [{ type: 'flatten' }, { type: 'dense', units: 3 }] },
      { layers: [{ type: 'avgPool', size: 2, stride: 1 }, { type: 'flatten' }, { type: 'dense', units: 3 }] },
      { layers: [{ type: 'dense', units: 3 }] },
    ],
    policy: { criterion: 'entropy', thresholds: [0.5, 0.5] },
    ...overrides,
  };
}

/** A learnable 3-class problem on 6x6 images (the shape of `tinySpec`): the class is which third is bright. */
export function stripes(count: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(count * 36);
  const y = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    y[i] = rng.int(3);
    for (let p = 0; p < 36; p++) x[i * 36 + p] = (Math.floor((p % 6) / 2) === y[i] ? 1 : 0) + 0.3 * rng.normal();
  }
  return { x, y, shape: [6, 6, 1], count, classes: ['a', 'b', 'c'] };
}

/** A batch of seeded random values. */
export function randomBatch(shape: number[], seed: number, scale = 1): Batch {
  const rng = new Rng(seed);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = rng.normal() * scale;
  return { data, shape };
}

const made: string[] = [];
process.on('exit', () => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A fresh temporary directory, removed when the test process exits. */
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'branchy-test-'));
  made.push(d);
  return d;
}

/**
 * A copy of a model directory (e.g. the shipped, calibrated B-LeNet) in a temporary directory, without its stored
 * calibration: for the paths that must refuse or ignore an uncalibrated model.
 */
export function uncalibratedCopy(dir: string): string {
  const copy = join(tempDir(), basename(dir));
  cpSync(dir, copy, { recursive: true });
  updateManifest(copy, ({ calibration: _dropped, ...rest }) => rest);
  return copy;
}

/** Largest absolute difference between two arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const BIN = fileURLToPath(new URL('../bin/branchy.js', import.meta.url));

/** Runs the real `branchy` command in a child process; never throws on a non-zero exit. */
export async function branchy(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
