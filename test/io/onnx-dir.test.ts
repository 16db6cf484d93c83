import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { loadOnnxruntimeNode, nodeOrtEngine } from '../../src/engine/ort/node-engine.ts';
import { encodeOnnxModel, exportNetwork, exportPiece, ONNX_OPSET, type OnnxGraph, type OrtModule } from '../../src/engine/ort/index.ts';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import type { ModelSource } from '../../src/engine/types.ts';
import { importOnnxDir, type ImportOnnxOptions } from '../../src/open/import-onnx.ts';
import { loadModelDir, saveModelDir, saveOnnxFiles } from '../../src/io/index.ts';
import { networkFacts } from '../../src/spec/shapes.ts';
import { maxAbsDiff, randomBatch, tempDir, tinySpec } from '../helpers.ts';

const TINY_IMPORT: ImportOnnxOptions = { classes: ['a', 'b', 'c'], inputShape: [6, 6, 1], inputLayout: 'nhwc', exitOutput: 'probs', criterion: 'entropy' };

function tinySource(seed: number): ModelSource {
  const net = new TfjsNetwork(tinySpec(), undefined, seed);
  const source = { spec: tinySpec(), weights: net.weights() };
  net.dispose();
  return source;
}

/** A directory holding only the ONNX files of the tiny network, as a user who trained elsewhere would have. */
function onnxOnlyDir(source: ModelSource): string {
  const dir = tempDir();
  const pieces = exportNetwork(source);
  pieces.stages.forEach((b, i) => writeFileSync(join(dir, `stage_${i + 1}.onnx`), b));
  pieces.exits.forEach((b, i) => writeFileSync(join(dir, `exit_${i + 1}.onnx`), b));
  return dir;
}

/** A dense layer y = x·W + b as a one-graph model, optionally after flattening and with a softmax or relu. */
function denseModel(
  name: string,
  inputShape: (number | string)[],
  w: number[][],
  b: number[],
  options: { relu?: boolean; softmax?: boolean } = {},
): Uint8Array {
  const inputs = w.length;
  const units = w[0].length;
  const nodes: OnnxGraph['nodes'] = [
    { opType: 'Flatten', inputs: ['input'], outputs: ['flat'], attributes: [{ name: 'axis', int: 1 }] },
    { opType: 'Gemm', inputs: ['flat', 'W', 'B'], outputs: [options.relu || options.softmax ? 'y' : 'output'] },
  ];
  if (options.relu) nodes.push({ opType: 'Relu', inputs: ['y'], outputs: ['output'] });
  if (options.softmax) nodes.push({ opType: 'Softmax', inputs: ['y'], outputs: ['output'], attributes: [{ name: 'axis', int: 1 }] });
  return encodeOnnxModel({
    producerName: 'test',
    producerVersion: '1',
    graph: {
      name,
      nodes,
      initializers: [
        { name: 'W', dims: [inputs, units], data: Float32Array.from(w.flat()) },
        { name: 'B', dims: [units], data: Float32Array.from(b) },
      ],
      inputs: [{ name: 'input', shape: inputShape }],
      outputs: [{ name: 'output', shape: ['batch', units] }],
    },
  });
}

const matrix = (rows: number, cols: number, seed: number) =>
  Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => Math.sin(seed * 7 + r * 3.1 + c * 1.7)));

/**
 * A two-stage network written by hand in PyTorch's conventions: stage 1 takes NCHW [batch, 2, 2, 2] and the
 * exits return logits (or probabilities with `softmax`).
 */
function handWrittenDir(options: { softmax?: boolean; classes?: number } = {}): { dir: string; w1: number[][]; w2: number[][]; we1: number[][] } {
  const dir = tempDir();
  const classes = options.classes ?? 3;
  const w1 = matrix(8, 5, 1);
  const w2 = matrix(5, 4, 2);
  const we1 = matrix(5, classes, 3);
  writeFileSync(join(dir, 'stage_1.onnx'), denseModel('s1', ['batch', 2, 2, 2], w1, [0.1, 0, 0, 0, -0.1], { relu: true }));
  writeFileSync(join(dir, 'exit_1.onnx'), denseModel('e1', ['batch', 5], we1, new Array(classes).fill(0), { softmax: options.softmax }));
  writeFileSync(join(dir, 'stage_2.onnx'), denseModel('s2', ['batch', 5], w2, [0, 0, 0, 0], { relu: true }));
  writeFileSync(join(dir, 'exit_2.onnx'), denseModel('e2', ['batch', 4], matrix(4, classes, 4), new Array(classes).fill(0), { softmax: options.softmax }));
  return { dir, w1, w2, we1 };
}

const HAND_IMPORT: ImportOnnxOptions = { classes: ['x', 'y', 'z'], inputShape: [2, 2, 2], inputLayout: 'nchw', exitOutput: 'logits', criterion: 'entropy' };

describe('ONNX files in a model directory', () => {
  before(async () => {
    await useBackend('cpu');
  });

  it('export writes one file per stage and exit with checksums in branchy.json, and loading returns them', () => {
    const dir = tempDir();
    const source = tinySource(2);
    saveModelDir(dir, source);
    const manifest = saveOnnxFiles(dir, exportNetwork(source), { opset: ONNX_OPSET, inputLayout: 'nhwc', exitOutput: 'probs' });
    assert.deepEqual(
      manifest.onnx!.stages.map((e) => e.file),
      ['stage_1.onnx', 'stage_2.onnx', 'stage_3.onnx'],
    );
    assert.deepEqual(
      manifest.onnx!.exits.map((e) => e.file),
      ['exit_1.onnx', 'exit_2.onnx', 'exit_3.onnx'],
    );
    assert.ok(manifest.onnx!.stages.every((e) => /^[0-9a-f]{64}$/.test(e.sha256)));
    const loaded = loadModelDir(dir);
    assert.deepEqual(new Uint8Array(loaded.onnx!.stages[1]), new Uint8Array(readFileSync(join(dir, 'stage_2.onnx'))));
    assert.deepEqual(Object.keys(loaded.weights).sort(), Object.keys(source.weights).sort());
  });

  it('a corrupted or missing ONNX file is caught by name', () => {
    const dir = tempDir();
    const source = tinySource(2);
    saveModelDir(dir, source);
    saveOnnxFiles(dir, exportNetwork(source), { opset: ONNX_OPSET });
    const bytes = readFileSync(join(dir, 'exit_2.onnx'));
    bytes[bytes.length - 3] ^= 0xff;
    writeFileSync(join(dir, 'exit_2.onnx'), bytes);
    assert.throws(() => loadModelDir(dir), { code: 'MODEL_CHECKSUM', message: /exit_2\.onnx/ });
    rmSync(join(dir, 'exit_2.onnx'));
    assert.throws(() => loadModelDir(dir), { code: 'MODEL_MISSING_FILE', message: /exit_2\.onnx/ });
  });
});

describe('import-onnx', () => {
  let ort: OrtModule;
  before(async () => {
    await useBackend('cpu');
    ort = await loadOnnxruntimeNode();
  });

  it('turns exported ONNX files in a directory without weights into a model that runs like the original', async () => {
    const source = tinySource(6);
    const dir = onnxOnlyDir(source);
    const manifest = await importOnnxDir(dir, ort, { ...TINY_IMPORT, name: 'tiny-imported' });
    assert.equal(manifest.spec.imported, 'onnx');
    assert.deepEqual(manifest.weights, {});
    assert.equal(manifest.onnx!.opset, ONNX_OPSET);
    assert.deepEqual(manifest.spec.policy.thresholds, [0, 0]);
    const model = loadModelDir(dir);
    const imported = await (await nodeOrtEngine()).load(model);
    const original = new TfjsNetwork(source.spec, source.weights);
    let a = randomBatch([5, 6, 6, 1], 2);
    let b = a;
    for (let n = 1; n <= 3; n++) {
      a = await original.stage(n, a);
      b = await imported.stage(n, b);
      assert.ok(maxAbsDiff(a.data, b.data) < 1e-4, `stage ${n}`);
      assert.ok(maxAbsDiff((await original.exit(n, a)).data, (await imported.exit(n, b)).data) < 1e-4, `exit ${n}`);
    }
    original.dispose();
    imported.dispose();
  });

  it('what needs layers refuses an imported network with a coded error', async () => {
    const dir = onnxOnlyDir(tinySource(6));
    await importOnnxDir(dir, ort, TINY_IMPORT);
    const model = loadModelDir(dir);
    assert.throws(() => TfjsNetwork.fromSource(model), { code: 'ENGINE_NEEDS_LAYERS' });
    assert.throws(() => exportPiece(model, 'stage', 1), { code: 'ONNX_NO_LAYERS' });
    assert.throws(() => networkFacts(model.spec), { code: 'SPEC_NO_LAYERS' });
  });

  it('exits that return logits get a softmax; NCHW input is transposed from branchy’s NHWC', async () => {
    const { dir, w1, we1 } = handWrittenDir();
    await importOnnxDir(dir, ort, HAND_IMPORT);
    const net = await (await nodeOrtEngine()).load(loadModelDir(dir));
    const x = randomBatch([3, 2, 2, 2], 5);
    const probs = await net.exit(1, await net.stage(1, x));
    for (let s = 0; s < 3; s++) {
      // NCHW flatten of an NHWC sample: channel first.
      const flat: number[] = [];
      for (let c = 0; c < 2; c++) for (let h = 0; h < 2; h++) for (let w = 0; w < 2; w++) flat.push(x.data[s * 8 + (h * 2 + w) * 2 + c]);
      const hidden = [0.1, 0, 0, 0, -0.1].map((bias, j) => Math.max(0, bias + flat.reduce((acc, v, i) => acc + v * w1[i][j], 0)));
      const logits = [0, 1, 2].map((k) => hidden.reduce((acc, v, j) => acc + v * we1[j][k], 0));
      const exp = logits.map((l) => Math.exp(l - Math.max(...logits)));
      const expected = exp.map((e) => e / exp.reduce((p, q) => p + q, 0));
      assert.ok(maxAbsDiff(probs.data.subarray(s * 3, s * 3 + 3), expected) < 1e-5, `sample ${s}`);
    }
    net.dispose();
  });

  it('exits that return probabilities import with --exit-output probs; logits given as probabilities are refused', async () => {
    const probs = handWrittenDir({ softmax: true });
    await importOnnxDir(probs.dir, ort, { ...HAND_IMPORT, exitOutput: 'probs' });
    const logits = handWrittenDir();
    await assert.rejects(importOnnxDir(logits.dir, ort, { ...HAND_IMPORT, exitOutput: 'probs' }), {
      code: 'IMPORT_EXIT_NOT_PROBS',
      message: /exitOutput 'logits'/,
    });
  });

  it('refuses a missing file, shapes that do not chain, a wrong class count, a fixed batch and a file that is not ONNX', async () => {
    const missing = handWrittenDir();
    rmSync(join(missing.dir, 'exit_2.onnx'));
    await assert.rejects(importOnnxDir(missing.dir, ort, HAND_IMPORT), { code: 'IMPORT_MISSING_FILE', message: /exit_2\.onnx/ });

    const chain = handWrittenDir();
    writeFileSync(join(chain.dir, 'stage_2.onnx'), denseModel('s2', ['batch', 7], matrix(7, 4, 2), [0, 0, 0, 0]));
    await assert.rejects(importOnnxDir(chain.dir, ort, HAND_IMPORT), {
      code: 'IMPORT_SHAPE_CHAIN',
      message: /stage_2\.onnx cannot take stage 1's output \[batch, 5\]/,
    });

    const classes = handWrittenDir({ classes: 4 });
    await assert.rejects(importOnnxDir(classes.dir, ort, HAND_IMPORT), {
      code: 'IMPORT_CLASS_COUNT',
      message: /exit_1\.onnx returns \[2, 4\]; expected \[batch, 3\]/,
    });

    const fixed = handWrittenDir();
    writeFileSync(join(fixed.dir, 'stage_1.onnx'), denseModel('s1', [1, 2, 2, 2], fixed.w1, [0, 0, 0, 0, 0]));
    await assert.rejects(importOnnxDir(fixed.dir, ort, HAND_IMPORT), { code: 'IMPORT_FIXED_BATCH', message: /dynamic_axes/ });

    const garbage = handWrittenDir();
    writeFileSync(join(garbage.dir, 'exit_1.onnx'), 'not a model');
    await assert.rejects(importOnnxDir(garbage.dir, ort, HAND_IMPORT), { code: 'ONNX_BAD_MODEL', message: /exit_1/ });

    await assert.rejects(importOnnxDir(tempDir(), ort, HAND_IMPORT), { code: 'IMPORT_MISSING_FILE', message: /stage_1\.onnx/ });
  });

  it('does not overwrite a model that has weights', async () => {
    const dir = tempDir();
    const source = tinySource(1);
    saveModelDir(dir, source);
    saveOnnxFiles(dir, exportNetwork(source), { opset: ONNX_OPSET });
    await assert.rejects(importOnnxDir(dir, ort, TINY_IMPORT), { code: 'IMPORT_HAS_WEIGHTS' });
    assert.ok(existsSync(join(dir, 'stage_1.safetensors')));
    assert.deepEqual(Object.keys(loadModelDir(dir).weights).sort(), Object.keys(source.weights).sort());
  });
});
