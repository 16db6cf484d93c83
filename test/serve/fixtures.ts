import { execFile } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { openModel } from '../../src/open/open-model.ts';
import { mnistSplits } from '../../src/data/index.ts';
import type { LoadedNetwork } from '../../src/engine/types.ts';
import { createServer, type BranchyServer, type ServeOptions, type ServedModel } from '../../src/serve/index.ts';
import { InThreadHost } from '../../src/serve/inference-host.ts';
import { tempDir } from '../helpers.ts';

export const BIN = fileURLToPath(new URL('../../bin/branchy.js', import.meta.url));

/** A model served on this thread, with the network its host runs. */
export type InProcessModel = ServedModel & { net: LoadedNetwork };

/**
 * Opens a model directory on tfjs-wasm under `name`, on this thread, as `branchy serve --no-inference-thread`
 * does; `net` is the network its host runs, for comparisons (`host.close()` disposes it).
 */
export async function served(dir: string, name: string): Promise<InProcessModel> {
  const { model, net } = await openModel(dir, { engine: 'tfjs', backend: 'wasm' });
  return { name, dir, manifest: model.manifest, host: new InThreadHost(net), net };
}

/** A copy of the shipped B-LeNet in a temp dir, calibrated by the real `branchy calibrate` (quick settings). */
export async function calibratedCopy(name = 'b-lenet-calibrated'): Promise<string> {
  const dir = join(tempDir(), name);
  cpSync(SHIPPED_MODEL_DIR, dir, { recursive: true });
  await promisify(execFile)(process.execPath, [BIN, 'calibrate', dir, '--profile-samples', '20', '--batch-size', '64'], { maxBuffer: 1 << 24 });
  return dir;
}

/** `count` real test digits from the mnist package, starting at `from`, each 784 values. */
export function digits(count: number, from = 0): Float32Array[] {
  const { test } = mnistSplits(1);
  return Array.from({ length: count }, (_, i) => test.x.slice((from + i) * 784, (from + i + 1) * 784));
}

/** Starts a server on 127.0.0.1 on a free port; returns its base URL. */
export async function listen(models: ServedModel[], options: ServeOptions = {}): Promise<{ server: BranchyServer; url: string }> {
  const server = createServer(models, options);
  const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  return { server, url };
}

/** POSTs JSON samples to a model's predict route. */
export async function predictJson(url: string, model: string, samples: Float32Array[], query = '', headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/v1/models/${model}/predict${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ inputs: samples.map((s) => Array.from(s)) }),
  });
}

/** A fetch body holding exactly these bytes. */
export function bodyOf(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}
