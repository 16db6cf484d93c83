import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeFrame, encodeFrame, type TensorEntry } from '../../src/io/frame.ts';
import { loadModelDir, MANIFEST_FILE, readManifest, type LoadedModelDir, type ModelManifest } from '../../src/io/model-dir.ts';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { readStoredCalibration } from '../../src/io/stored-calibration.ts';
import { openModel } from '../../src/open/open-model.ts';
import { tempDir } from '../helpers.ts';
import { jsonText, mutated, mutatedJson, named, Outcomes, params, runs, typedOrValid, typedOrValidAsync } from './fuzz.ts';

/** Codes a model directory may be refused with: its own, a spec's (re-coded as an I/O error), a weight frame's. */
const DIR_CODES = [
  'MODEL_BAD_JSON',
  'MODEL_BAD_MANIFEST',
  'MODEL_BAD_WEIGHT',
  'MODEL_BAD_CALIBRATION',
  'MODEL_CHECKSUM',
  'MODEL_MISSING_FILE',
  'MODEL_READ_FAILED',
  'SPEC_TYPE',
  'SPEC_VALUE',
  'SPEC_UNKNOWN_LAYER',
  'SPEC_UNKNOWN_FIELD',
  'SPEC_EXITS',
  'SPEC_SHAPE',
  'FRAME_TOO_SHORT',
  'FRAME_BAD_HEADER_LENGTH',
  'FRAME_BAD_HEADER_JSON',
  'FRAME_BAD_DTYPE',
  'FRAME_BAD_SHAPE',
  'FRAME_BAD_OFFSETS',
];
/** What opening one on an engine adds: weights that do not fit the spec, ONNX files onnxruntime refuses. */
const OPEN_CODES = [
  ...DIR_CODES,
  'MODEL_MISSING_WEIGHT',
  'MODEL_UNKNOWN_WEIGHT',
  'MODEL_WEIGHT_SHAPE',
  'ONNX_BAD_MODEL',
  'ONNX_PIECE_COUNT',
  'ONNX_BAD_OUTPUT',
];

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A loaded directory is usable: every weight F32, the calibration (when any) readable or refused with its code. */
function checkLoaded(model: LoadedModelDir): void {
  assert.equal(model.manifest.format, 'branchy-model/1');
  for (const [name, w] of Object.entries(model.weights)) assert.ok(w instanceof Float32Array, name);
  assert.doesNotThrow(() => JSON.stringify(model.manifest));
}

describe('fuzz: model directories (branchy.json and weight files)', () => {
  let dir: string;
  let manifestText: string;
  let manifest: ModelManifest;
  const weightFiles = () => Object.keys(manifest.weights);

  before(() => {
    dir = join(tempDir(), 'b-lenet-mnist');
    cpSync(SHIPPED_MODEL_DIR, dir, { recursive: true });
    manifestText = readFileSync(join(dir, MANIFEST_FILE), 'utf8');
    manifest = readManifest(dir);
  });

  /** Runs `load` on the directory with `text` as its manifest, then puts the shipped manifest and `restore` back. */
  function withManifest<T>(text: string | Uint8Array, load: () => T, restore: () => void = () => {}): T {
    writeFileSync(join(dir, MANIFEST_FILE), text);
    try {
      return load();
    } finally {
      writeFileSync(join(dir, MANIFEST_FILE), manifestText);
      restore();
    }
  }

  const load = (outcomes: Outcomes) => () =>
    outcomes.add(
      typedOrValid(
        () => {
          const model = loadModelDir(dir);
          readStoredCalibration(model.manifest, dir);
          return model;
        },
        checkLoaded,
        DIR_CODES,
      ),
    );

  const CI = runs(300);
  it(named('branchy.json with mutated fields gives a typed error naming the problem or a loadable model', CI), (t) => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(mutatedJson(JSON.parse(manifestText)), (value) => withManifest(jsonText(value), load(outcomes))),
      params(CI),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('ok') && outcomes.has('MODEL_BAD_MANIFEST') && outcomes.size >= 4, String(outcomes));
  });

  it(named('branchy.json with mutated bytes gives MODEL_BAD_JSON, another typed error or a loadable model', CI), (t) => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(mutated(new TextEncoder().encode(manifestText)), (bytes) => withManifest(bytes, load(outcomes))),
      params(CI),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('MODEL_BAD_JSON'), String(outcomes));
  });

  /** A weight file with mutated bytes, listed in branchy.json with its new checksum so the frame decoder reads it. */
  const mutatedWeight = () =>
    fc.constantFrom(...weightFiles()).chain((file) => mutated(new Uint8Array(readFileSync(join(SHIPPED_MODEL_DIR, file)))).map((bytes) => ({ file, bytes })));

  /** A weight file re-encoded with one tensor changed: dropped, renamed, resized, reshaped, retyped or holding NaN. */
  const restructuredWeight = () =>
    fc
      .tuple(
        fc.constantFrom(...weightFiles()),
        fc.nat(),
        fc.constantFrom('drop', 'rename', 'resize', 'reshape', 'retype', 'nan', 'extra'),
        fc.integer({ min: -3, max: 3 }),
      )
      .map(([file, pick, change, delta]) => {
        const { tensors, metadata } = decodeFrame(new Uint8Array(readFileSync(join(SHIPPED_MODEL_DIR, file))));
        const names = Object.keys(tensors);
        const name = names[pick % names.length];
        const t = tensors[name] as TensorEntry & { data: Float32Array };
        const out: Record<string, TensorEntry> = { ...tensors };
        const length = Math.max(0, t.data.length + (delta === 0 ? 1 : delta));
        if (change === 'drop') delete out[name];
        if (change === 'rename') {
          delete out[name];
          out[`${name}x`] = t;
        }
        if (change === 'resize') out[name] = { dtype: 'F32', shape: [length], data: Float32Array.from({ length }, (_, i) => t.data[i] ?? 0) };
        if (change === 'reshape') out[name] = { dtype: 'F32', shape: t.data.length % 2 === 0 ? [2, t.data.length / 2] : [1, t.data.length], data: t.data };
        if (change === 'retype') out[name] = { dtype: 'F64', shape: t.shape, data: Float64Array.from(t.data) };
        if (change === 'nan') out[name] = { ...t, data: t.data.map((v, i) => (i === 0 ? [NaN, Infinity, -Infinity][Math.abs(delta) % 3] : v)) };
        if (change === 'extra') out.extra = { dtype: 'F32', shape: [3], data: new Float32Array(3) };
        return { file, bytes: encodeFrame(out, metadata) };
      });

  function withWeight<T>(file: string, bytes: Uint8Array, run: () => T): T {
    const changed = structuredClone(manifest);
    changed.weights[file] = { sha256: sha256(bytes), bytes: bytes.length };
    writeFileSync(join(dir, file), bytes);
    return withManifest(`${JSON.stringify(changed, null, 2)}\n`, run, () => cpSync(join(SHIPPED_MODEL_DIR, file), join(dir, file)));
  }

  it(named('weight files with mutated bytes (checksums updated) give a FRAME_* or MODEL_* error or a loadable model', CI), (t) => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(mutatedWeight(), ({ file, bytes }) => withWeight(file, bytes, load(outcomes))),
      params(CI),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('ok') && outcomes.has('FRAME_BAD_HEADER_LENGTH'), String(outcomes));
  });

  const OPEN = runs(60);
  it(named('weight files with mutated bytes, opened on tfjs, give a typed error or a network whose exits give probabilities', OPEN), async (t) => {
    const outcomes = new Outcomes();
    await fc.assert(
      fc.asyncProperty(fc.oneof(restructuredWeight(), mutatedWeight()), async ({ file, bytes }) => {
        const changed = structuredClone(manifest);
        changed.weights[file] = { sha256: sha256(bytes), bytes: bytes.length };
        // Without its ONNX files the model opens on tfjs from the weights alone.
        delete changed.onnx;
        writeFileSync(join(dir, file), bytes);
        writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify(changed));
        try {
          outcomes.add(
            await typedOrValidAsync(
              () => openModel(dir, { engine: 'tfjs', backend: 'cpu' }),
              async ({ net }) => {
                try {
                  const x = { data: new Float32Array(784).fill(0.5), shape: [1, 28, 28, 1] };
                  const probs = await net.exit(1, await net.stage(1, x));
                  assert.deepEqual(probs.shape, [1, 10]);
                  const sum = probs.data.reduce((a, b) => a + b, 0);
                  assert.ok(Math.abs(sum - 1) < 1e-4, `exit 1's probabilities sum to ${sum}`);
                } finally {
                  net.dispose();
                }
              },
              OPEN_CODES,
            ),
          );
        } finally {
          writeFileSync(join(dir, MANIFEST_FILE), manifestText);
          cpSync(join(SHIPPED_MODEL_DIR, file), join(dir, file));
        }
      }),
      params(OPEN),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('ok') && outcomes.has('MODEL_WEIGHT_SHAPE') && outcomes.has('MODEL_BAD_WEIGHT'), String(outcomes));
  });
});

describe('model directories: regressions found by fuzzing', () => {
  it('a weight file holding NaN or Infinity (checksum updated) is refused with MODEL_BAD_WEIGHT naming file, weight and index', () => {
    const dir = join(tempDir(), 'nan-weight');
    cpSync(SHIPPED_MODEL_DIR, dir, { recursive: true });
    const manifest = readManifest(dir);
    const file = 'exit_1.safetensors';
    const { tensors, metadata } = decodeFrame(new Uint8Array(readFileSync(join(dir, file))));
    const kernel = tensors['exit1.2.kernel'] as TensorEntry & { data: Float32Array };
    for (const value of [NaN, -Infinity]) {
      const data = kernel.data.slice();
      data[17] = value;
      const bytes = encodeFrame({ ...tensors, 'exit1.2.kernel': { ...kernel, data } }, metadata);
      writeFileSync(join(dir, file), bytes);
      manifest.weights[file] = { sha256: sha256(bytes), bytes: bytes.length };
      writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
      assert.throws(() => loadModelDir(dir), {
        code: 'MODEL_BAD_WEIGHT',
        message: new RegExp(`exit_1\\.safetensors': weight 'exit1\\.2\\.kernel' holds ${value} at index 17; expected finite values`),
      });
    }
  });
});
