import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
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

  const OPEN = runs(40);
  it(named('weight files with mutated bytes, opened on tfjs, give a typed error or a network whose exits give probabilities', OPEN), async (t) => {
    const outcomes = new Outcomes();
    await fc.assert(
      fc.asyncProperty(mutatedWeight(), async ({ file, bytes }) => {
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
    assert.ok(outcomes.size >= 2, String(outcomes));
  });
});
