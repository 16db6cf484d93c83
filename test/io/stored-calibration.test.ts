import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { calibrateNetwork } from '../../src/calibrate/index.ts';
import { BranchyIoError } from '../../src/common/errors.ts';
import { mnistSplits, subset } from '../../src/data/index.ts';
import type { OrtNetwork } from '../../src/engine/ort/index.ts';
import { getCriterion } from '../../src/exit/index.ts';
import { readManifest, readStoredCalibration, updateManifest, type ModelManifest, type StoredCalibration } from '../../src/io/index.ts';
import { openModel } from '../../src/open/open-model.ts';
import { tempDir, uncalibratedCopy } from '../helpers.ts';

const MODELS = fileURLToPath(new URL('../../models/', import.meta.url));

/** A copy of a shipped model directory, to write calibrations into. */
function copyOf(model: string): string {
  const dir = join(tempDir(), model);
  cpSync(join(MODELS, model), dir, { recursive: true });
  return dir;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the malformed calibrations are built by editing parsed JSON freely
type Json = Record<string, any>;

describe('stored calibration', () => {
  let dir: string;
  let manifest: ModelManifest;
  let written: StoredCalibration;

  before(async () => {
    dir = copyOf('b-lenet-mnist');
    const { net } = await openModel(dir, { engine: 'ort', threads: 1 });
    const validation = subset(
      mnistSplits(1).validation,
      Array.from({ length: 300 }, (_, i) => i),
    );
    const outcome = await calibrateNetwork(net, validation, {
      criterion: getCriterion('entropy'),
      constraint: { maxDrop: 0.002 },
      constraintText: 'validation accuracy at most 0.2 points below the final exit',
      data: 'mnist package, first 300 validation samples',
      profile: { batch1Samples: 10, batchSize: 16, batches: 1, warmup: 2 },
    });
    net.dispose();
    written = outcome.calibration;
    manifest = updateManifest(dir, (m) => ({ ...m, calibration: written }));
  });

  /** The stored calibration with one change, in a manifest of the same model. */
  const changed = (change: (c: Json) => void): ModelManifest => {
    const calibration = structuredClone(readManifest(dir).calibration) as Json;
    change(calibration);
    return { ...manifest, calibration };
  };

  it('a calibration written by calibrateNetwork reads back as stored in branchy.json', () => {
    const read = readStoredCalibration(readManifest(dir), dir);
    assert.ok(read);
    assert.deepEqual(read, JSON.parse(JSON.stringify(written)));
    assert.equal(read.front[read.chosen].exitShare.length, 2);
  });

  it('a model without a calibration has none', () => {
    const plain = uncalibratedCopy(join(MODELS, 'b-lenet-mnist'));
    assert.equal(readStoredCalibration(readManifest(plain), plain), undefined);
  });

  it('reads the calibration shipped with models/b-lenet-fashion-mnist, stored before pieces had typical costs', () => {
    const fashion = join(MODELS, 'b-lenet-fashion-mnist');
    const read = readStoredCalibration(readManifest(fashion), fashion);
    assert.ok(read);
    assert.equal(read.criterion, 'entropy');
    assert.equal(read.profile.pieces[0].batch1.typicalMs, undefined);
  });

  it('reads a calibration for another criterion than the policy as it is (callers decide whether it fits)', () => {
    const read = readStoredCalibration(
      changed((c) => (c.criterion = 'max-prob')),
      dir,
    );
    assert.equal(read?.criterion, 'max-prob');
  });

  const malformed: [string, (c: Json) => void, string][] = [
    ['a criterion that is not a string', (c) => (c.criterion = 3), 'calibration.criterion is 3'],
    ['a split other than validation', (c) => (c.split = 'test'), 'calibration.split is "test"'],
    ['a validation count given as text', (c) => (c.validationCount = '300'), 'calibration.validationCount is "300"'],
    ['a front that is not an array', (c) => (c.front = {}), 'calibration.front is {}'],
    ['an empty front', (c) => (c.front = []), 'calibration.front has 0 entries'],
    ['a chosen index past the end of the front', (c) => (c.chosen = c.front.length), `calibration.chosen is`],
    ['a negative chosen index', (c) => (c.chosen = -1), 'calibration.chosen is -1'],
    ['a fractional chosen index', (c) => (c.chosen = 0.5), 'calibration.chosen is 0.5'],
    ['an exitShare of the wrong length', (c) => (c.front[0].exitShare = [1]), 'calibration.front[0].exitShare has 1 entry; expected 2 (one per exit)'],
    ['exit shares that do not sum to 1', (c) => (c.front[0].exitShare = [0.5, 0.4]), 'calibration.front[0].exitShare sums to 0.9'],
    [
      'a threshold vector of the wrong length',
      (c) => (c.front[0].thresholds = [0.1, 0.2]),
      'calibration.front[0].thresholds has 2 entries; expected 1 (one per early exit)',
    ],
    ['a threshold that is not a number', (c) => (c.front[0].thresholds = [null]), 'calibration.front[0].thresholds[0] is null'],
    ['an accuracy above 1', (c) => (c.front[0].accuracy = 1.5), 'calibration.front[0].accuracy is 1.5'],
    ['per-exit accuracies of the wrong length', (c) => (c.perExitAccuracy = [0.9]), 'calibration.perExitAccuracy has 1 entry'],
    ['a profile without batched costs', (c) => delete c.profile.costToExitBatched, 'calibration.profile.costToExitBatched is undefined'],
    ['a profile missing a piece', (c) => c.profile.pieces.pop(), 'calibration.profile.pieces has 3 entries; expected 4 (one per stage and exit head)'],
    ['a piece of an unknown kind', (c) => (c.profile.pieces[1].kind = 'head'), 'calibration.profile.pieces[1].kind is "head"'],
    [
      'a piece index past the last stage',
      (c) => (c.profile.pieces[3].index = 3),
      'calibration.profile.pieces[3].index is 3; expected a whole number in [1, 2]',
    ],
    ['a batched timing without its batch size', (c) => (c.profile.pieces[0].batched.batchSize = 0), 'calibration.profile.pieces[0].batched.batchSize is 0'],
    ['timings given as text', (c) => (c.tableSeconds = 'fast'), 'calibration.tableSeconds is "fast"'],
  ];
  for (const [what, change, field] of malformed) {
    it(`refuses ${what}, naming branchy.json and the field`, () => {
      assert.throws(
        () => readStoredCalibration(changed(change), dir),
        (e: unknown) => e instanceof BranchyIoError && e.code === 'MODEL_BAD_CALIBRATION' && e.message.startsWith(`'${join(dir, 'branchy.json')}': ${field}`),
      );
    });
  }

  it('refuses a calibration that is not an object', () => {
    for (const calibration of [null, [], 'calibrated']) {
      assert.throws(
        () => readStoredCalibration({ ...manifest, calibration }, dir),
        (e: unknown) => e instanceof BranchyIoError && e.code === 'MODEL_BAD_CALIBRATION' && /calibration is .*; expected an object/.test(e.message),
      );
    }
  });

  it('openModel still opens a model whose stored calibration is malformed, on ort, without its carry guide', async () => {
    const broken = copyOf('b-lenet-mnist');
    updateManifest(broken, (m) => ({ ...m, calibration: { chosen: 0, front: [{ thresholds: [0.5], exitShare: [0.9, 0.1] }] } }));
    const { net } = await openModel(broken, { engine: 'ort', threads: 1 });
    assert.equal((net as OrtNetwork).carry.length, 1);
    net.dispose();
  });
});
