import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import { loadModelDir, readManifest, saveModelDir, updateManifest } from '../../src/io/index.ts';
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
    const sealed = readFileSync(path, 'utf8');
    writeFileSync(path, sealed.replace('"conv2d"', '"conv9d"'));
    fails(dir, 'MODEL_CHECKSUM', 'branchy.json');
    // An edit on purpose drops the manifest's own checksum; the edited manifest is then checked as it stands.
    const { manifestSha256: _, ...unsealed } = JSON.parse(sealed);
    const text = JSON.stringify(unsealed, null, 2);
    writeFileSync(path, text.slice(0, 40));
    fails(dir, 'MODEL_BAD_JSON', 'branchy.json');
    writeFileSync(path, text.replace('"conv2d"', '"conv9d"'));
    fails(dir, 'SPEC_UNKNOWN_LAYER', 'branchy.json');
    writeFileSync(path, text.replace('"branchy-model/1"', '"x"'));
    fails(dir, 'MODEL_BAD_MANIFEST', 'format');
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
});
