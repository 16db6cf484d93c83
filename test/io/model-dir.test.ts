import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import { jsonDepthPast } from '../../src/common/json-depth.ts';
import { loadModelDir, MANIFEST_MAX_DEPTH, modelIdOf, readManifest, saveModelDir, updateManifest } from '../../src/io/index.ts';
import { maxAbsDiff, randomBatch, tempDir, tinySpec } from '../helpers.ts';

const fails = (dir: string, code: string, names: string) =>
  assert.throws(
    () => loadModelDir(dir),
    (e: { code?: string; message: string }) => e.code === code && e.message.includes(names),
  );

describe('model directory', () => {
  it('round-trips spec and weights exactly', async () => {
    await useBackend('cpu');
    const net = new TfjsNetwork(tinySpec(), undefined, 9);
    const dir = tempDir();
    saveModelDir(dir, { spec: net.spec, weights: net.weights() }, { training: { epochs: 3 } });
    const loaded = loadModelDir(dir);
    assert.deepEqual(loaded.spec, net.spec);
    assert.deepEqual(loaded.manifest.training, { epochs: 3 });
    for (const [name, w] of Object.entries(net.weights())) assert.deepEqual(loaded.weights[name], w, name);
    net.dispose();
  });

  it('a model saved on the cpu backend gives the same outputs on wasm (1e-5)', async () => {
    await useBackend('cpu');
    const spec = tinySpec();
    const cpuNet = new TfjsNetwork(spec, undefined, 4);
    const dir = tempDir();
    saveModelDir(dir, { spec, weights: cpuNet.weights() });
    const x = randomBatch([16, 6, 6, 1], 8);
    const outputs: Float32Array[] = [];
    let f = x;
    for (let n = 1; n <= 3; n++) {
      f = await cpuNet.stage(n, f);
      outputs.push((await cpuNet.exit(n, f)).data);
    }
    cpuNet.dispose();
    await useBackend('wasm');
    const wasmNet = TfjsNetwork.fromSource(loadModelDir(dir));
    f = x;
    for (let n = 1; n <= 3; n++) {
      f = await wasmNet.stage(n, f);
      assert.ok(maxAbsDiff((await wasmNet.exit(n, f)).data, outputs[n - 1]) < 1e-5, `exit ${n}`);
    }
    wasmNet.dispose();
    await useBackend('cpu');
  });

  it('names the missing directory, manifest or weight file', () => {
    fails('/nonexistent/branchy-model', 'MODEL_NOT_FOUND', '/nonexistent/branchy-model');
    const dir = tempDir();
    fails(dir, 'MODEL_MISSING_FILE', 'branchy.json');
    saveModelDir(dir, { spec: tinySpec(), weights: new TfjsNetwork(tinySpec()).weights() });
    rmSync(join(dir, 'exit_2.safetensors'));
    fails(dir, 'MODEL_MISSING_FILE', 'exit_2.safetensors');
  });

  it('detects a corrupt weight file by checksum and names it', () => {
    const dir = tempDir();
    saveModelDir(dir, { spec: tinySpec(), weights: new TfjsNetwork(tinySpec()).weights() });
    const path = join(dir, 'stage_2.safetensors');
    const bytes = readFileSync(path);
    bytes[bytes.length - 3] ^= 0xff;
    writeFileSync(path, bytes);
    fails(dir, 'MODEL_CHECKSUM', 'stage_2.safetensors');
    writeFileSync(path, bytes.subarray(0, 20));
    fails(dir, 'MODEL_CHECKSUM', 'stage_2.safetensors');
  });

  it('names the manifest when it is not JSON or its spec is invalid', () => {
    const dir = tempDir();
    saveModelDir(dir, { spec: tinySpec(), weights: new TfjsNetwork(tinySpec()).weights() });
    const path = join(dir, 'branchy.json');
    const text = readFileSync(path, 'utf8');
    writeFileSync(path, text.slice(0, 40));
    fails(dir, 'MODEL_BAD_JSON', 'branchy.json');
    writeFileSync(path, text.replace('"conv2d"', '"conv9d"'));
    fails(dir, 'SPEC_UNKNOWN_LAYER', 'branchy.json');
    writeFileSync(path, text.replace('"branchy-model/1"', '"x"'));
    fails(dir, 'MODEL_BAD_MANIFEST', 'format');
  });

  it('refuses a weights entry that names a path out of the directory, or is not {sha256, bytes}', () => {
    const dir = tempDir();
    saveModelDir(dir, { spec: tinySpec(), weights: new TfjsNetwork(tinySpec()).weights() });
    const path = join(dir, 'branchy.json');
    const manifest = JSON.parse(readFileSync(path, 'utf8'));
    const entry = manifest.weights['stage_1.safetensors'];
    for (const weights of [
      { '../stage_1.safetensors': entry },
      { 'sub\\stage_1.safetensors': entry },
      { 'stage_1.safetensors': null },
      { 'stage_1.safetensors': { sha256: 1 } },
    ]) {
      writeFileSync(path, JSON.stringify({ ...manifest, weights }));
      fails(dir, 'MODEL_BAD_MANIFEST', 'weights entry');
    }
  });

  it('a weight missing from the files is reported by name when the network is built', () => {
    const weights = new TfjsNetwork(tinySpec()).weights();
    delete weights['stage3.1.kernel'];
    assert.throws(() => new TfjsNetwork(tinySpec(), weights), { code: 'MODEL_MISSING_WEIGHT', message: /stage3\.1\.kernel/ });
  });

  it('updateManifest changes thresholds and keeps the weights', () => {
    const dir = tempDir();
    saveModelDir(dir, { spec: tinySpec(), weights: new TfjsNetwork(tinySpec()).weights() });
    updateManifest(dir, (m) => ({ ...m, spec: { ...m.spec, policy: { ...m.spec.policy, thresholds: [0.1, 0.2] } } }));
    assert.deepEqual(readManifest(dir).spec.policy.thresholds, [0.1, 0.2]);
    assert.equal(Object.keys(loadModelDir(dir).weights).length, Object.keys(new TfjsNetwork(tinySpec()).weights()).length);
  });

  it('refuses branchy.json nested deeper than MANIFEST_MAX_DEPTH, naming where, before anything stringifies or hashes it', () => {
    const dir = tempDir();
    saveModelDir(dir, { spec: tinySpec(), weights: new TfjsNetwork(tinySpec()).weights() });
    const path = join(dir, 'branchy.json');
    const manifest = JSON.parse(readFileSync(path, 'utf8'));
    // 20,000 nested arrays: JSON.parse reads them, JSON.stringify (and so modelIdOf, updateManifest) overflowed the stack.
    const deep = `${'['.repeat(20000)}${']'.repeat(20000)}`;
    for (const [where, named] of [
      [{ ...manifest, training: { history: '@deep' } }, '$.training.history[0][0]'],
      [{ ...manifest, spec: { ...manifest.spec, extra: '@deep' } }, '$.spec.extra[0]'],
    ] as const) {
      writeFileSync(path, JSON.stringify(where).replace('"@deep"', deep));
      for (const read of [() => readManifest(dir), () => loadModelDir(dir), () => updateManifest(dir, (m) => m)]) {
        assert.throws(read, (e: { name?: string; code?: string; message: string }) => {
          assert.equal(e.code, 'MODEL_BAD_MANIFEST', e.message);
          assert.ok(e.message.includes(named) && e.message.includes(`deeper than ${MANIFEST_MAX_DEPTH} levels`), e.message);
          return true;
        });
      }
    }
    // As deep as allowed is read.
    let nested: unknown = 1;
    for (let d = 0; d < MANIFEST_MAX_DEPTH - 2; d++) nested = [nested];
    writeFileSync(path, JSON.stringify({ ...manifest, training: nested }));
    assert.deepEqual(readManifest(dir).training, nested);
  });

  it('modelIdOf gives a typed error for a spec built in memory too deep to serialise', () => {
    let deep: unknown = [];
    for (let d = 0; d < 20000; d++) deep = [deep];
    const spec = Object.assign(tinySpec(), { extra: deep });
    assert.throws(() => modelIdOf({ format: 'branchy-model/1', spec, weights: {} }), {
      name: 'BranchyIoError',
      code: 'MODEL_BAD_MANIFEST',
      message: /model 'tiny'/,
    });
  });

  it('jsonDepthPast names the first value past the limit, without recursion', () => {
    assert.equal(jsonDepthPast({ a: [[1]] }, 3), undefined);
    assert.equal(jsonDepthPast({ a: [[1]] }, 2), '$.a[0]');
    assert.equal(jsonDepthPast(7, 0), undefined);
    let deep: unknown = 0;
    for (let d = 0; d < 200000; d++) deep = { d: deep };
    assert.match(jsonDepthPast(deep, 10)!, /^\$(\.d){10}$/);
  });
});
