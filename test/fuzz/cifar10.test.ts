import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CIFAR10_CLASSES, CIFAR10_RECORD_BYTES, parseCifar10Batch, type Dataset } from '../../src/data/index.ts';
import { isGzip } from '../../src/data/idx.ts';
import { assertTyped, mutated, named, Outcomes, params, randomBytes, runs, typedOrValid } from './fuzz.ts';

const CIFAR_CODES = ['DATA_CIFAR_BAD_GZIP', 'DATA_CIFAR_BAD_LABEL', 'DATA_CIFAR_TRUNCATED', 'DATA_INFLATE_TOO_LARGE'];
/** Small enough that a few mutated gzip streams reach it, far above the few records a case holds. */
const MAX_INFLATED = 1 << 20;

/** `labels.length` records with these label bytes and seeded pixels. */
function records(labels: readonly number[], seed = 0): Uint8Array {
  const out = new Uint8Array(labels.length * CIFAR10_RECORD_BYTES);
  labels.forEach((label, r) => {
    const o = r * CIFAR10_RECORD_BYTES;
    out[o] = label;
    for (let i = 1; i < CIFAR10_RECORD_BYTES; i++) out[o + i] = (i * 13 + r * 7 + seed) & 0xff;
  });
  return out;
}

const RAW = [records([3]), records([0, 9]), records([1, 2, 3, 4])];
const GZIPPED = RAW.map((b) => new Uint8Array(gzipSync(b)));

/** A parse is consistent: one 32×32×3 sample in [0, 1] per record, labels 0..9 read from the record bytes. */
function checkBatch(input: Uint8Array) {
  return (ds: Dataset): void => {
    const raw = isGzip(input) ? undefined : input;
    assert.deepEqual([...ds.shape], [32, 32, 3]);
    assert.deepEqual([...ds.classes], [...CIFAR10_CLASSES]);
    assert.equal(ds.x.length, ds.count * 3072);
    assert.equal(ds.y.length, ds.count);
    if (raw) assert.equal(raw.length, ds.count * CIFAR10_RECORD_BYTES);
    for (let r = 0; r < ds.count; r++) {
      assert.ok(ds.y[r] <= 9, `label ${ds.y[r]}`);
      if (raw) assert.equal(ds.y[r], raw[r * CIFAR10_RECORD_BYTES]);
    }
    for (let i = 0; i < ds.x.length; i++) if (!(ds.x[i] >= 0 && ds.x[i] <= 1)) assert.fail(`value ${i} is ${ds.x[i]}`);
  };
}

const property = (bytes: Uint8Array, outcomes: Outcomes) =>
  outcomes.add(typedOrValid(() => parseCifar10Batch(bytes, 'fuzz.bin', { maxInflatedBytes: MAX_INFLATED }), checkBatch(bytes), CIFAR_CODES));

/** Records whose labels may be out of range, with a few bytes more or fewer than whole records. */
const nearlyRecords = fc
  .tuple(fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 3 }), fc.integer({ min: -3, max: 3 }), fc.nat({ max: 255 }))
  .map(([labels, extra, seed]) => {
    const whole = records(labels, seed);
    if (extra <= 0) return whole.subarray(0, whole.length + extra);
    const out = new Uint8Array(whole.length + extra).fill(seed);
    out.set(whole);
    return out;
  });

describe('fuzz: CIFAR-10 binary decoder', () => {
  const CI = runs(800);
  it(named('random bytes, some behind a label byte or the gzip magic, give a DATA_CIFAR_* error', CI), (t) => {
    const outcomes = new Outcomes();
    const prefixes = [Uint8Array.of(0), Uint8Array.of(9), Uint8Array.of(0x1f, 0x8b, 8, 0)];
    fc.assert(
      fc.property(randomBytes(prefixes, 4096), (bytes) => property(bytes, outcomes)),
      params(CI),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('DATA_CIFAR_TRUNCATED') && outcomes.has('DATA_CIFAR_BAD_GZIP'), String(outcomes));
  });

  it(named('whole or nearly whole records with labels 0..12 give a DATA_CIFAR_* error or a consistent data set', CI), (t) => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(nearlyRecords, (bytes) => property(bytes, outcomes)),
      params(CI),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('ok') && outcomes.has('DATA_CIFAR_BAD_LABEL') && outcomes.has('DATA_CIFAR_TRUNCATED'), String(outcomes));
  });

  it(named('valid batches, raw or gzipped, with mutated bytes give a DATA_CIFAR_* error or a consistent data set', CI), (t) => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(fc.oneof(mutated(fc.constantFrom(...RAW)), mutated(fc.constantFrom(...GZIPPED))), (bytes) => property(bytes, outcomes)),
      params(CI),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('ok') && outcomes.has('DATA_CIFAR_TRUNCATED') && outcomes.has('DATA_CIFAR_BAD_GZIP'), String(outcomes));
  });
});

describe('CIFAR-10 binary decoder: a bounded inflate', () => {
  it('a gzipped batch that inflates past the stated maximum is refused with DATA_INFLATE_TOO_LARGE, naming the file', () => {
    const bomb = new Uint8Array(gzipSync(new Uint8Array(CIFAR10_RECORD_BYTES * 400)));
    try {
      parseCifar10Batch(bomb, 'bomb.bin.gz', { maxInflatedBytes: 1 << 16 });
      assert.fail('expected a refusal');
    } catch (error) {
      assertTyped(error, ['DATA_INFLATE_TOO_LARGE']);
      assert.match(error.message, /bomb\.bin\.gz.*65536/);
    }
    assert.equal(parseCifar10Batch(bomb, 'bomb.bin.gz').count, 400);
  });
});
