import assert from 'node:assert/strict';
import fs, { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { basename, join } from 'node:path';
import { describe, it } from 'node:test';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import {
  findModelDirs,
  openInProcess,
  openModels,
  openOnInferenceThread,
  type ModelOpener,
  type ServedModel,
  type SkippedModel,
} from '../../src/serve/index.ts';
import { tempDir } from '../helpers.ts';
import { digits, listen, predictJson } from './fixtures.ts';

/** A directory holding a copy of the shipped model and a copy whose first weight file has one byte changed. */
function modelsWithOneCorrupt(): string {
  const root = tempDir();
  cpSync(SHIPPED_MODEL_DIR, join(root, 'digits'), { recursive: true });
  cpSync(SHIPPED_MODEL_DIR, join(root, 'corrupt'), { recursive: true });
  const weights = join(root, 'corrupt', 'stage_1.safetensors');
  const bytes = readFileSync(weights);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(weights, bytes);
  return root;
}

/**
 * Opens the models under `root` with `open`, noting the names of the files under `root` this thread reads
 * (`readFileSync` is how model directories are read). A worker thread has its own `fs`, so its reads are not seen.
 */
async function openNotingReads(root: string, open: ModelOpener): Promise<{ models: ServedModel[]; skipped: SkippedModel[]; read: Set<string> }> {
  const read = new Set<string>();
  const original = fs.readFileSync;
  fs.readFileSync = ((path: fs.PathOrFileDescriptor, options?: unknown) => {
    if (typeof path === 'string' && path.startsWith(root)) read.add(basename(path));
    return (original as (p: fs.PathOrFileDescriptor, o?: unknown) => unknown)(path, options);
  }) as typeof fs.readFileSync;
  syncBuiltinESMExports();
  const skipped: SkippedModel[] = [];
  try {
    const models = await openModels(findModelDirs([root]), open, { onSkip: (s) => skipped.push(s) });
    return { models, skipped, read };
  } finally {
    fs.readFileSync = original;
    syncBuiltinESMExports();
  }
}

describe('branchy serve: opening models', () => {
  it('on inference threads, this thread reads only each manifest; a model whose weights fail to load in its thread is skipped with its code', async () => {
    const root = modelsWithOneCorrupt();
    const { models, skipped, read } = await openNotingReads(root, openOnInferenceThread({ engine: 'ort', threads: 1 }));
    try {
      assert.deepEqual([...read], ['branchy.json']);
      assert.deepEqual(
        skipped.map((s) => [s.name, s.error.code]),
        [['corrupt', 'MODEL_CHECKSUM']],
      );
      assert.match(skipped[0].error.message, /stage_1\.safetensors.*corrupt/);
      assert.deepEqual(
        models.map((m) => [m.name, m.host.runtime]),
        [['digits', 'ort-cpu']],
      );
      const { server, url } = await listen(models, { maxWaitMs: 1 });
      try {
        const res = await predictJson(url, 'digits', digits(2));
        assert.equal(res.status, 200);
        assert.equal(((await (await fetch(`${url}/v1/models`)).json()) as { models: { runtime: string }[] }).models[0].runtime, 'ort-cpu');
      } finally {
        await server.close();
      }
    } finally {
      await Promise.all(models.map((m) => m.host.close()));
    }
  });

  it('in process, this thread reads the weights and reports a failing model itself', async () => {
    const root = modelsWithOneCorrupt();
    const { models, skipped, read } = await openNotingReads(root, openInProcess({ engine: 'ort', threads: 1 }));
    try {
      assert.ok(read.has('stage_1.safetensors') && read.has('stage_1.onnx'), `read: ${[...read]}`);
      assert.deepEqual(
        skipped.map((s) => [s.name, s.error.code]),
        [['corrupt', 'MODEL_CHECKSUM']],
      );
      assert.deepEqual(
        models.map((m) => [m.name, m.host.runtime]),
        [['digits', 'ort-cpu']],
      );
    } finally {
      await Promise.all(models.map((m) => m.host.close()));
    }
  });

  it('with strict, a model failing on its inference thread fails the start with its code', async () => {
    const root = modelsWithOneCorrupt();
    await assert.rejects(
      openModels(findModelDirs([root]), openOnInferenceThread({ engine: 'ort', threads: 1 }), { strict: true }),
      (e: Error & { code?: string }) => e.code === 'MODEL_CHECKSUM',
    );
  });
});
