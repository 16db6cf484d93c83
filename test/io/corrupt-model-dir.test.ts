import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Rng } from '../../src/common/rng.ts';
import { exportNetwork } from '../../src/engine/ort/export.ts';
import { ONNX_OPSET } from '../../src/engine/ort/onnx-proto.ts';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import { BranchyIoError } from '../../src/common/errors.ts';
import { loadModelDir, loadTrainState, saveModelDir } from '../../src/io/index.ts';
import { tempDir, tinySpec } from '../helpers.ts';

/** Everything a load of the directory reads: the model (manifest, weights, ONNX files) and the checkpoint's state. */
function loadAll(dir: string): void {
  loadModelDir(dir);
  loadTrainState(dir);
}

/** A small model directory written as `branchy train` checkpoints one: weights, ONNX files, optimizer state. */
function modelDir(withOnnx: boolean): string {
  const dir = tempDir();
  const net = new TfjsNetwork(tinySpec(), undefined, 3);
  const source = { spec: net.spec, weights: net.weights() };
  const optimizer = Object.fromEntries(Object.entries(source.weights).map(([name, w]) => [`${name}.m`, w.map((v) => v / 2)]));
  saveModelDir(
    dir,
    source,
    { training: { epochs: 1 } },
    {
      trainState: { epoch: 1, optimizer, meta: { model: 'tiny' } },
      ...(withOnnx ? { onnx: { ...exportNetwork(source), info: { opset: ONNX_OPSET, inputLayout: 'nhwc', exitOutput: 'probs' } } } : {}),
    },
  );
  net.dispose();
  loadAll(dir);
  return dir;
}

/** Damages a copy of `dir` with `damage`, then checks that loading it is refused by an error naming one of `names`. */
function refused(dir: string, names: string[], damage: (copy: string) => void, what: string): string {
  const copy = join(tempDir(), 'm');
  cpSync(dir, copy, { recursive: true });
  damage(copy);
  let error: unknown;
  try {
    loadAll(copy);
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof BranchyIoError, `${what}: ${error === undefined ? 'loaded without a word' : String(error)}`);
  assert.ok(
    names.some((n) => error.message.includes(n)),
    `${what}: ${error.code} names none of ${names.join(', ')}: ${error.message}`,
  );
  return error.code;
}

await useBackend('cpu');

for (const withOnnx of [false, true]) {
  describe(`a model directory ${withOnnx ? 'with' : 'without'} ONNX files, damaged, is refused naming the file`, () => {
    const dir = modelDir(withOnnx);
    const files = readdirSync(dir).sort();
    const rng = new Rng(withOnnx ? 18 : 5);

    it('lists every file it holds in branchy.json (nothing it reads goes unchecked)', () => {
      const manifest = JSON.parse(readFileSync(join(dir, 'branchy.json'), 'utf8'));
      const listed = [
        ...Object.keys(manifest.weights),
        ...(manifest.onnx ? [...manifest.onnx.stages, ...manifest.onnx.exits].map((e: { file: string }) => e.file) : []),
        manifest.trainState.file,
      ];
      assert.deepEqual(['branchy.json', ...listed].sort(), files);
      assert.equal(files.length, withOnnx ? 14 : 8);
    });

    it('every file truncated (to nothing, one byte short, half)', () => {
      for (const file of files)
        for (const keep of [0, -1, 0.5]) {
          refused(
            dir,
            [file],
            (copy) => {
              const bytes = readFileSync(join(copy, file));
              writeFileSync(join(copy, file), bytes.subarray(0, keep < 0 ? bytes.length - 1 : Math.floor(keep * bytes.length)));
            },
            `${file} truncated to ${keep}`,
          );
        }
    });

    it('every file with one bit flipped (24 seeded places each)', () => {
      const codes = new Map<string, number>();
      for (const file of files) {
        const length = readFileSync(join(dir, file)).length;
        for (let k = 0; k < 24; k++) {
          const at = rng.int(length);
          const bit = rng.int(8);
          const code = refused(
            dir,
            [file],
            (copy) => {
              const bytes = readFileSync(join(copy, file));
              bytes[at] ^= 1 << bit;
              writeFileSync(join(copy, file), bytes);
            },
            `${file} byte ${at} bit ${bit}`,
          );
          codes.set(code, (codes.get(code) ?? 0) + 1);
        }
      }
      assert.ok(codes.has('MODEL_CHECKSUM'), [...codes].join(', '));
    });

    it('every file swapped with another', () => {
      for (const file of files) {
        const other = files[(files.indexOf(file) + 1 + rng.int(files.length - 1)) % files.length];
        refused(
          dir,
          [file, other],
          (copy) => {
            const a = readFileSync(join(copy, file));
            writeFileSync(join(copy, file), readFileSync(join(copy, other)));
            writeFileSync(join(copy, other), a);
          },
          `${file} swapped with ${other}`,
        );
      }
    });
  });
}

describe('older model directories', () => {
  it('the shipped models, whose branchy.json carries no checksum of its own, load as before (what they list is checked)', async () => {
    const { SHIPPED_MODEL_DIR, SHIPPED_BASELINE_DIR, SHIPPED_FASHION_MODEL_DIR } = await import('../../src/io/shipped-models.ts');
    for (const dir of [SHIPPED_MODEL_DIR, SHIPPED_BASELINE_DIR, SHIPPED_FASHION_MODEL_DIR]) {
      const loaded = loadModelDir(dir);
      assert.equal(loaded.manifest.manifestSha256, undefined);
      assert.ok(loaded.onnx);
    }
  });
});
