import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { readOnnxOpset, type OrtModule } from '../../src/engine/ort/index.ts';
import { loadOnnxruntimeNode } from '../../src/engine/ort/node-engine.ts';
import { loadModelDir, MANIFEST_FILE, readManifest, type ModelManifest } from '../../src/io/model-dir.ts';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { importOnnxDir, type ImportOnnxOptions } from '../../src/open/import-onnx.ts';
import { openModel } from '../../src/open/open-model.ts';
import { tempDir } from '../helpers.ts';
import { mutated, named, Outcomes, params, randomBytes, runs, typedOrValidAsync } from './fuzz.ts';

/** What an import refuses a set of ONNX files with: one onnxruntime cannot load, or pieces that do not chain. */
const IMPORT_CODES = ['ONNX_BAD_MODEL', 'IMPORT_SHAPE_CHAIN', 'IMPORT_CLASS_COUNT', 'IMPORT_FIXED_BATCH', 'IMPORT_EXIT_NOT_PROBS'];
/** What opening a model directory on onnxruntime refuses a piece with. */
const OPEN_CODES = ['ONNX_BAD_MODEL', 'ONNX_BAD_OUTPUT', 'ONNX_PIECE_COUNT', 'ENGINE_BAD_SHAPE', 'ENGINE_RUN_FAILED'];

const PIECES = ['stage_1.onnx', 'exit_1.onnx', 'stage_2.onnx', 'exit_2.onnx'];
const OPTIONS: ImportOnnxOptions = {
  classes: Array.from({ length: 10 }, (_, i) => String(i)),
  inputShape: [28, 28, 1],
  inputLayout: 'nhwc',
  exitOutput: 'probs',
  criterion: 'entropy',
};

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** One of the shipped model's ONNX files with its bytes mutated: flips, truncations, inserted bytes and the rest. */
const mutatedPiece = fc
  .constantFrom(...PIECES)
  .chain((file) => mutated(new Uint8Array(readFileSync(join(SHIPPED_MODEL_DIR, file))), 3).map((bytes) => ({ file, bytes })));

describe('fuzz: ONNX opset reader (our protobuf decoder)', () => {
  const CI = runs(1500);
  it(named('mutated and random bytes give an opset, none, or a RangeError (which the importer reports as ONNX_BAD_MODEL)', CI), (t) => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(
        fc.oneof(
          mutatedPiece.map((p) => p.bytes),
          randomBytes([Uint8Array.of(0x08, 0x07, 0x12)], 256),
        ),
        (bytes) => {
          try {
            const opset = readOnnxOpset(bytes);
            assert.ok(opset === undefined || (Number.isSafeInteger(opset) && opset >= 0), `opset ${opset}`);
            outcomes.add(opset === 13 ? 'ok' : opset === undefined ? 'none' : 'other opset');
          } catch (error) {
            assert.ok(error instanceof RangeError, `expected a RangeError, got ${(error as Error)?.stack ?? String(error)}`);
            outcomes.add('RangeError');
          }
        },
      ),
      params(CI),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('ok') && outcomes.has('RangeError'), String(outcomes));
  });
});

describe('fuzz: ONNX files (import and open on onnxruntime)', () => {
  let ort: OrtModule;
  let root: string;
  let manifest: ModelManifest;
  before(async () => {
    ort = await loadOnnxruntimeNode();
    root = tempDir();
    manifest = readManifest(SHIPPED_MODEL_DIR);
  });

  const IMPORT = runs(60);
  it(named('importing a directory with one mutated ONNX file gives a typed error or a model directory that loads', IMPORT), async (t) => {
    const outcomes = new Outcomes();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(mutatedPiece, async ({ file, bytes }) => {
        const dir = join(root, `import-${n++}`);
        mkdirSync(dir);
        for (const piece of PIECES) cpSync(join(SHIPPED_MODEL_DIR, piece), join(dir, piece));
        writeFileSync(join(dir, file), bytes);
        try {
          outcomes.add(
            await typedOrValidAsync(
              () => importOnnxDir(dir, ort, OPTIONS),
              (written) => {
                assert.equal(written.spec.imported, 'onnx');
                assert.equal(loadModelDir(dir).onnx?.stages.length, 2);
              },
              IMPORT_CODES,
            ),
          );
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      params(IMPORT),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('ONNX_BAD_MODEL') && outcomes.size >= 2, String(outcomes));
  });

  const OPEN = runs(40);
  it(named('a model directory with one mutated ONNX file (checksum updated) opens on ort with a typed error or runs', OPEN), async (t) => {
    const outcomes = new Outcomes();
    const dir = join(root, 'open');
    cpSync(SHIPPED_MODEL_DIR, dir, { recursive: true });
    await fc.assert(
      fc.asyncProperty(mutatedPiece, async ({ file, bytes }) => {
        const changed = structuredClone(manifest);
        const entry = [...changed.onnx!.stages, ...changed.onnx!.exits].find((e) => e.file === file)!;
        Object.assign(entry, { sha256: sha256(bytes), bytes: bytes.length });
        writeFileSync(join(dir, file), bytes);
        writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify(changed));
        try {
          outcomes.add(
            await typedOrValidAsync(
              async () => {
                const { net } = await openModel(dir, { engine: 'ort' });
                try {
                  const x = { data: new Float32Array(2 * 784).fill(0.5), shape: [2, 28, 28, 1] };
                  const features = await net.stage(1, x);
                  return { stage2: (await net.stage(2, features)).shape, exit1: (await net.exit(1, features)).shape };
                } finally {
                  net.dispose();
                }
              },
              (shapes) => assert.equal(shapes.exit1[0], 2),
              OPEN_CODES,
            ),
          );
        } finally {
          cpSync(join(SHIPPED_MODEL_DIR, file), join(dir, file));
          cpSync(join(SHIPPED_MODEL_DIR, MANIFEST_FILE), join(dir, MANIFEST_FILE));
        }
      }),
      params(OPEN),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('ONNX_BAD_MODEL'), String(outcomes));
  });
});
