import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ortEngine, type OrtModule } from '../../../src/engine/ort/index.ts';
import type { OrtSession } from '../../../src/engine/ort/network.ts';
import { loadOnnxruntimeNode } from '../../../src/engine/ort/node-engine.ts';
import { loadModelDir } from '../../../src/io/index.ts';
import { SHIPPED_MODEL_DIR } from '../../../src/io/shipped-models.ts';
import { openModel } from '../../../src/open/open-model.ts';
import { tempDir } from '../../helpers.ts';

/**
 * A copy of the shipped model whose ONNX file `file` is garbage that branchy.json vouches for (checksum and size
 * updated), as a broken exporter would leave it: only onnxruntime can tell.
 */
function withCorruptOnnx(file: string): string {
  const dir = join(tempDir(), 'model');
  cpSync(SHIPPED_MODEL_DIR, dir, { recursive: true });
  const bytes = readFileSync(join(dir, file));
  for (let i = 0; i < bytes.length; i += 7) bytes[i] ^= 0xa5;
  writeFileSync(join(dir, file), bytes);
  const manifestPath = join(dir, 'branchy.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  for (const entry of [...manifest.onnx.stages, ...manifest.onnx.exits]) {
    if (entry.file === file) Object.assign(entry, { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length });
  }
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  return dir;
}

/** The real onnxruntime-node, with every session it creates and every release counted. */
async function countingOrt(): Promise<{ ort: OrtModule; live: Set<OrtSession>; created: () => number }> {
  const real = await loadOnnxruntimeNode();
  const live = new Set<OrtSession>();
  let created = 0;
  const ort: OrtModule = {
    Tensor: real.Tensor,
    InferenceSession: {
      async create(model, options) {
        const session = await real.InferenceSession.create(model, options);
        created++;
        live.add(session);
        const release = session.release.bind(session);
        return Object.assign(Object.create(session) as OrtSession, {
          release: async () => {
            live.delete(session);
            await release();
          },
          run: session.run.bind(session),
        });
      },
    },
  };
  return { ort, live, created: () => created };
}

describe('OrtNetwork.create when a piece cannot be loaded', () => {
  // Sessions open in order stage 1, exit 1, stage 2, exit 2: exit_1.onnx is the second file, stage_2.onnx the third.
  for (const [file, piece, before] of [
    ['exit_1.onnx', 'exit 1', 1],
    ['stage_2.onnx', 'stage 2', 2],
  ] as const) {
    it(`releases the ${before} session(s) it created before ${file} failed, and names the piece`, async () => {
      const model = loadModelDir(withCorruptOnnx(file));
      const { ort, live, created } = await countingOrt();
      await assert.rejects(ortEngine(ort, { threads: 1 }).load(model), {
        name: 'BranchyIoError',
        code: 'ONNX_BAD_MODEL',
        message: new RegExp(`cannot load ${piece} of 'b-lenet'`),
      });
      assert.equal(created(), before);
      assert.equal(live.size, 0, `${live.size} of ${created()} sessions left open`);
    });
  }

  it('a model whose pieces all load keeps every session open until dispose', async () => {
    const { ort, live, created } = await countingOrt();
    const net = await ortEngine(ort, { threads: 1 }).load(loadModelDir(SHIPPED_MODEL_DIR));
    // Four pieces and the fused sessions, one per stage once the carry mode is chosen.
    assert.equal(live.size, 6, `${created()} created`);
    net.dispose();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(live.size, 0);
  });

  it('openModel on the native sessions refuses the corrupt piece with the same coded error', async () => {
    await assert.rejects(openModel(withCorruptOnnx('exit_1.onnx'), { engine: 'ort', threads: 1 }), { code: 'ONNX_BAD_MODEL', message: /exit 1/ });
  });
});
