import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BranchyIoError } from '../../src/common/errors.ts';
import { readManifest, updateManifest, type ModelManifest } from '../../src/io/index.ts';
import {
  createServer,
  openInProcess,
  openModels,
  openOnInferenceThread,
  type InferenceHost,
  type ServedModel,
  type SkippedModel,
} from '../../src/serve/index.ts';
import { tempDir } from '../helpers.ts';

const MODELS = fileURLToPath(new URL('../../models/', import.meta.url));
const MNIST_DIR = join(MODELS, 'b-lenet-mnist');
/** A real stored calibration of a B-LeNet (two exits), as the shipped Fashion-MNIST model has it. */
const STORED = readManifest(join(MODELS, 'b-lenet-fashion-mnist')).calibration as Record<string, unknown>;

/** A host that is never asked to run: these tests only build servers and read their descriptions. */
const idleHost: InferenceHost = { runtime: 'none', run: () => Promise.reject(new Error('not run')), close: () => Promise.resolve() };

const modelWith = (calibration: unknown): ServedModel => {
  const manifest: ModelManifest = { ...readManifest(MNIST_DIR), calibration };
  return { name: 'b-lenet', dir: MNIST_DIR, manifest, host: idleHost };
};

const isBadCalibration = (e: unknown) => e instanceof BranchyIoError && e.code === 'MODEL_BAD_CALIBRATION' && e.message.includes('calibration.chosen');

describe('stored calibrations in the server', () => {
  it('describes a model calibrated for another criterion as calibrated, and refuses it under an SLO naming both criteria', async () => {
    const model = modelWith({ ...STORED, criterion: 'max-prob' });
    const server = createServer([model]);
    const list = (await server.app.inject({ method: 'GET', url: '/v1/models' })).json() as { models: { calibrated: boolean }[] };
    assert.equal(list.models[0].calibrated, true);
    await server.close();
    assert.throws(
      () => createServer([model], { sloMs: 50 }),
      (e: Error & { code?: string }) => e.code === 'SERVE_NOT_CALIBRATED' && /criterion 'max-prob', not its own 'entropy'/.test(e.message),
    );
  });

  it('runs the load-adaptive controller on a well-formed calibration for the model criterion', async () => {
    const server = createServer([modelWith(STORED)], { sloMs: 50 });
    const model = (await server.app.inject({ method: 'GET', url: '/v1/models/b-lenet' })).json() as { operatingPoint: { index: number; chosen: number } };
    assert.equal(model.operatingPoint.index, STORED.chosen);
    await server.close();
  });

  it('refuses to build a server for a model whose stored calibration is malformed, with or without an SLO', () => {
    const model = modelWith({ ...STORED, chosen: 1000 });
    assert.throws(() => createServer([model]), isBadCalibration);
    assert.throws(() => createServer([model], { sloMs: 50 }), isBadCalibration);
  });

  for (const [how, open] of [
    ['in process', openInProcess({ engine: 'tfjs', backend: 'wasm' })],
    ['on inference threads', openOnInferenceThread({ engine: 'tfjs', backend: 'wasm' })],
  ] as const) {
    it(`openModels ${how} skips a model whose stored calibration is malformed, with MODEL_BAD_CALIBRATION`, async () => {
      const root = tempDir();
      cpSync(MNIST_DIR, join(root, 'broken'), { recursive: true });
      updateManifest(join(root, 'broken'), (m) => ({ ...m, calibration: { ...STORED, chosen: 1000 } }));
      cpSync(MNIST_DIR, join(root, 'plain'), { recursive: true });
      const skipped: SkippedModel[] = [];
      const models = await openModels(
        [
          { name: 'broken', dir: join(root, 'broken') },
          { name: 'plain', dir: join(root, 'plain') },
        ],
        open,
        { onSkip: (s) => skipped.push(s) },
      );
      try {
        assert.deepEqual(
          models.map((m) => m.name),
          ['plain'],
        );
        assert.deepEqual(
          skipped.map((s) => [s.name, s.error.code]),
          [['broken', 'MODEL_BAD_CALIBRATION']],
        );
        assert.ok(isBadCalibration(skipped[0].error), skipped[0].error.message);
      } finally {
        await Promise.all(models.map((m) => m.host.close()));
      }
    });
  }
});
