import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

describe('package entries', () => {
  it("the browser entry ('branchy') bundles for the browser without any Node module", async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL('../../src/index.ts', import.meta.url))],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      metafile: true,
    });
    assert.deepEqual(result.errors, []);
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(
      inputs.some((p) => p.includes('src/infer/runner.ts')),
      'the runner is in the bundle',
    );
    assert.ok(
      inputs.some((p) => p.includes('src/engine/ort/export.ts')),
      'the ONNX engine is in the bundle',
    );
    assert.deepEqual(
      inputs.filter((p) => /onnxruntime-node|engine\/ort\/node-engine/.test(p)),
      [],
      'onnxruntime-node stays out of the browser bundle',
    );
    const nodeOnly = inputs.filter((p) => /src\/(io\/model-dir|data\/(?!classes\.ts)|train\/|cli\/)/.test(p) || p.startsWith('node:'));
    assert.deepEqual(nodeOnly, []);
  });
});
