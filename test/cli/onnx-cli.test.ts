import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { branchy, tempDir } from '../helpers.ts';

const SHIPPED = fileURLToPath(new URL('../../models/b-lenet-mnist', import.meta.url));
const BASELINE = fileURLToPath(new URL('../../models/lenet-mnist', import.meta.url));

describe('branchy export, import-onnx and --engine', () => {
  const dir = join(tempDir(), 'b-lenet');
  cpSync(SHIPPED, dir, { recursive: true });

  it('export --format onnx writes stage_N.onnx and exit_N.onnx with their checksums in branchy.json', async () => {
    const r = await branchy('export', dir, '--format', 'onnx');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote stage_1\.onnx, stage_2\.onnx, exit_1\.onnx, exit_2\.onnx \(ONNX opset 13/);
    const { onnx } = JSON.parse(readFileSync(join(dir, 'branchy.json'), 'utf8'));
    assert.equal(onnx.opset, 13);
    for (const entry of [...onnx.stages, ...onnx.exits]) {
      assert.ok(existsSync(join(dir, entry.file)), entry.file);
      assert.match(entry.sha256, /^[0-9a-f]{64}$/);
    }
  });

  it('a directory with ONNX files runs on ort by default, on tfjs with --engine tfjs, and both say so', async () => {
    const ort = await branchy('eval', dir, '--latency-samples', '10', '--json');
    assert.equal(ort.code, 0, ort.stderr);
    const tfjs = await branchy('eval', dir, '--engine', 'tfjs', '--latency-samples', '10', '--json');
    assert.equal(tfjs.code, 0, tfjs.stderr);
    const [a, b] = [JSON.parse(ort.stdout), JSON.parse(tfjs.stdout)];
    assert.equal(a.runtime, 'ort-cpu');
    assert.equal(b.runtime, 'tfjs-wasm');
    assert.deepEqual(a.evaluation.exitShare, b.evaluation.exitShare);
    assert.equal(a.evaluation.accuracy, b.evaluation.accuracy);
  });

  it('--engine ort runs a model without ONNX files (exported in memory) with the threads asked for', async () => {
    const plain = join(tempDir(), 'plain');
    cpSync(BASELINE, plain, { recursive: true });
    const { onnx, ...manifest } = JSON.parse(readFileSync(join(plain, 'branchy.json'), 'utf8'));
    assert.ok(onnx, 'the shipped baseline lists its ONNX files');
    writeFileSync(join(plain, 'branchy.json'), JSON.stringify(manifest));
    const r = await branchy('eval', plain, '--engine', 'ort', '--threads', '1', '--latency-samples', '10');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ort-cpu/);
    const refused = await branchy('eval', plain, '--threads', '1', '--latency-samples', '10');
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /ENGINE_THREADS_NEED_ORT.*--engine ort/);
  });

  it('a corrupted ONNX file stops every command with MODEL_CHECKSUM', async () => {
    const broken = join(tempDir(), 'broken');
    cpSync(dir, broken, { recursive: true });
    const bytes = readFileSync(join(broken, 'stage_2.onnx'));
    bytes[100] ^= 0x55;
    writeFileSync(join(broken, 'stage_2.onnx'), bytes);
    const r = await branchy('predict', broken, '--input', join(broken, 'stage_1.onnx'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /MODEL_CHECKSUM: ONNX file '.*stage_2\.onnx' is corrupt/);
  });

  it('import-onnx makes a model of bare ONNX files that calibrates and evaluates on ort; tfjs refuses it', async () => {
    const imported = join(tempDir(), 'imported');
    cpSync(dir, imported, { recursive: true, filter: (src) => !/\.(safetensors|json)$/.test(src) });
    const classes = join(tempDir(), 'classes.txt');
    writeFileSync(classes, '0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n');
    const wrong = await branchy('import-onnx', imported, '--classes', '0,1,2', '--input-shape', '28,28,1', '--input-layout', 'nhwc', '--exit-output', 'probs');
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /IMPORT_CLASS_COUNT/);
    const r = await branchy('import-onnx', imported, '--classes-file', classes, '--input-shape', '28,28,1', '--input-layout', 'nhwc', '--exit-output', 'probs');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /2 stages and exits, 10 classes/);
    const calibrated = await branchy('calibrate', imported, '--profile-samples', '5', '--batch-size', '16');
    assert.equal(calibrated.code, 0, calibrated.stderr);
    assert.match(calibrated.stdout, /costs measured on ort-cpu/);
    const evaluated = await branchy('eval', imported, '--latency-samples', '10', '--json');
    assert.equal(evaluated.code, 0, evaluated.stderr);
    assert.ok(JSON.parse(evaluated.stdout).evaluation.finalAccuracy > 0.95);
    const tfjs = await branchy('eval', imported, '--engine', 'tfjs');
    assert.equal(tfjs.code, 2);
    assert.match(tfjs.stderr, /ENGINE_NEEDS_LAYERS/);
  });
});
