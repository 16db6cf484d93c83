import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { CascadeUnit } from '../../src/cascade/unit.ts';
import { createUnitServer } from '../../src/cascade/http.ts';
import { splitModel, writePlan } from '../../src/cascade/plan.ts';
import type { DeploymentPlan, ForwardMode } from '../../src/cascade/types.ts';
import type { WebPageOptions } from '../../src/cascade/web-routes.ts';
import { loadModelDir } from '../../src/io/model-dir.ts';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { tempDir } from '../helpers.ts';

const require = createRequire(import.meta.url);

/** The versions of onnxruntime-web and tfjs-backend-wasm installed here, as the page's bundle records them. */
export function installedWasmVersions(): Record<string, string> {
  const ort = join(dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm')), '..', 'package.json');
  const tfjs = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  return {
    'onnxruntime-web': (JSON.parse(readFileSync(ort, 'utf8')) as { version: string }).version,
    '@tensorflow/tfjs-backend-wasm': (JSON.parse(readFileSync(tfjs, 'utf8')) as { version: string }).version,
  };
}

/** A stand-in for the page's bundle: an index.html and a script, with the bundle's manifest. */
export function fakeBundle(packages: Record<string, string> = installedWasmVersions()): string {
  const dir = join(tempDir(), 'web');
  mkdirSync(join(dir, 'chunks'), { recursive: true });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>edge page</title>');
  writeFileSync(join(dir, 'page.js'), `console.log(${JSON.stringify('x'.repeat(4000))});`);
  writeFileSync(join(dir, 'chunks', 'a.js'), 'export const a = 1;');
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ format: 'branchy-web-bundle/1', files: ['chunks/a.js', 'index.html', 'page.js'], packages }));
  return dir;
}

/** The shipped B-LeNet cut after stage 1 into `device` and `cloud`. */
export function lenetPlan(forward: ForwardMode = 'features'): { planDir: string; plan: DeploymentPlan } {
  const planDir = join(tempDir(), `lenet-${forward}`);
  const plan = writePlan(planDir, splitModel(loadModelDir(SHIPPED_MODEL_DIR), { at: [1], names: ['device', 'cloud'], forward }));
  return { planDir, plan };
}

/** The `cloud` unit of a plan serving the edge page on 127.0.0.1, on onnxruntime-node. */
export async function cloudWithPage(planDir: string, web: Partial<WebPageOptions> = {}) {
  const unit = await CascadeUnit.open(planDir, 'cloud', { open: { engine: 'ort', threads: 1 } });
  const server = createUnitServer(unit, { web: { planDir, bundleDir: fakeBundle(), ...web } });
  const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  return { unit, server, url };
}
