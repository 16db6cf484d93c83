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
    for (const piece of ['run-unit', 'feature-codec', 'answer-frame', 'breaker', 'fetch-transport']) {
      assert.ok(
        inputs.some((p) => p.includes(`src/cascade/${piece}.ts`)),
        `the cascade's ${piece} is in the browser entry`,
      );
    }
    assert.deepEqual(
      inputs.filter((p) => /src\/cascade\/(http|nats|unit|plan|web-routes|static-asset)\.ts|src\/serve\//.test(p)),
      [],
      "the cascade's servers and transports stay out",
    );
  });

  it('the edge page (src/web/page.ts) bundles for the browser from that entry, onnxruntime-web and tfjs-backend-wasm only', async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL('../../src/web/page.ts', import.meta.url))],
      bundle: true,
      splitting: true,
      platform: 'browser',
      format: 'esm',
      outdir: 'out',
      write: false,
      logLevel: 'silent',
      metafile: true,
    });
    assert.deepEqual(result.errors, []);
    const inputs = Object.keys(result.metafile.inputs);
    assert.deepEqual(
      inputs.filter((p) => p.startsWith('node:') || /onnxruntime-node|src\/(io\/model-dir|cli\/|serve\/|data\/(?!classes\.ts))/.test(p)),
      [],
    );
    const packages = new Set(inputs.filter((p) => p.includes('node_modules/')).map((p) => /node_modules\/((@[^/]+\/)?[^/]+)/.exec(p)![1]));
    assert.ok(packages.has('onnxruntime-web') && packages.has('@tensorflow/tfjs-backend-wasm'), [...packages].join(', '));
    const page = inputs.filter((p) => p.startsWith('src/web/')).map((p) => p.slice('src/web/'.length));
    assert.ok(page.includes('edge-unit.ts') && page.includes('page.ts'));
  });
});
