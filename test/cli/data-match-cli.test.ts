import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { mnistSplits, writeIdx, type Dataset } from '../../src/data/index.ts';
import { SHIPPED_BASELINE_DIR, SHIPPED_FASHION_MODEL_DIR, SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { branchy, tempDir } from '../helpers.ts';

/** A copy of a shipped model directory, for commands that would write into it. */
function copyOf(dir: string): string {
  const copy = join(tempDir(), 'model');
  cpSync(dir, copy, { recursive: true });
  return copy;
}

/** Writes `train` and `test` as an MNIST-style IDX distribution (ubyte pixels, as the real files hold them). */
function writeIdxDistribution(train: Dataset, test: Dataset): string {
  const dir = tempDir();
  for (const [prefix, ds] of [
    ['train', train],
    ['t10k', test],
  ] as const) {
    const pixels = Uint8Array.from(ds.x, (v) => Math.round(255 * v));
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), writeIdx(pixels, [ds.count, ds.shape[0], ds.shape[1]], 'ubyte'));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), writeIdx(ds.y, [ds.count], 'ubyte'));
  }
  return dir;
}

/** `count` blank images of `side`x`side` pixels, labels 0..9 in turn. */
function blank(count: number, side: number): Dataset {
  const y = Uint8Array.from({ length: count }, (_, i) => i % 10);
  return { x: new Float32Array(count * side * side), y, shape: [side, side, 1], count, classes: [] };
}

const refused = (r: { code: number; stderr: string }) => {
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^branchy: DATA_MODEL_MISMATCH: /);
};

describe('model and data must match (CLI)', () => {
  let digitsIdx: string;
  let smallIdx: string;
  before(() => {
    const digits = mnistSplits(1);
    digitsIdx = writeIdxDistribution(digits.train, digits.test);
    // idx:DIR holds out 5000 validation samples from train.
    smallIdx = writeIdxDistribution(blank(5010, 14), blank(20, 14));
  });

  it('eval of the Fashion-MNIST model on digits is refused, quoting both class lists briefly and the flag', async () => {
    const r = await branchy('eval', SHIPPED_FASHION_MODEL_DIR, '--data', 'mnist');
    refused(r);
    assert.match(r.stderr, /the model answers 10 classes \["T-shirt\/top", "Trouser", "Pullover", "Dress", …, "Ankle boot"\]/);
    assert.match(r.stderr, /the data is labelled with 10 classes \["0", "1", "2", "3", …, "9"\]/);
    assert.match(r.stderr, /--allow-class-mismatch/);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.ok(r.stderr.length < 600, `${r.stderr.length} characters`);
  });

  it('eval --allow-class-mismatch evaluates anyway, label n taken as the model’s class n', async () => {
    const r = await branchy('eval', SHIPPED_FASHION_MODEL_DIR, '--data', 'mnist', '--allow-class-mismatch', '--latency-samples', '5', '--json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.evaluation.count, 1000);
    // A clothing classifier on digits: near chance, which is why it is refused without the flag.
    assert.ok(report.evaluation.finalAccuracy < 0.3, `${report.evaluation.finalAccuracy}`);
  });

  it('a refused calibrate leaves branchy.json byte for byte as it was, and writes no tier profile', async () => {
    const dir = copyOf(SHIPPED_FASHION_MODEL_DIR);
    const before = readFileSync(join(dir, 'branchy.json'));
    const profile = join(tempDir(), 'tier.json');
    refused(await branchy('calibrate', dir, '--data', 'mnist', '--profile-samples', '5', '--profile-out', profile));
    assert.deepEqual(readFileSync(join(dir, 'branchy.json')), before);
    assert.equal(existsSync(profile), false);
  });

  it('report, add-exits, search-exits, train --init-from, train --resume and train-successor refuse the wrong data and write nothing', async () => {
    const root = tempDir();
    const resumed = copyOf(SHIPPED_FASHION_MODEL_DIR);
    const manifest = readFileSync(join(resumed, 'branchy.json'));
    const runs: [string, string[]][] = [
      ['report', ['report', SHIPPED_FASHION_MODEL_DIR, '--data', 'mnist', '--out', join(root, 'report')]],
      ['add-exits', ['add-exits', SHIPPED_FASHION_MODEL_DIR, '--at', '1', '--data', 'mnist', '--out', join(root, 'add-exits')]],
      ['search-exits', ['search-exits', SHIPPED_FASHION_MODEL_DIR, '--data', 'mnist', '--out', join(root, 'search-exits')]],
      ['train', ['train', '--model', 'b-lenet', '--init-from', SHIPPED_FASHION_MODEL_DIR, '--data', 'mnist', '--out', join(root, 'train')]],
      ['train --resume', ['train', '--model', 'b-lenet', '--resume', '--data', 'mnist', '--out', resumed]],
      [
        'train-successor',
        ['train-successor', '--fronts', `${SHIPPED_MODEL_DIR},${SHIPPED_FASHION_MODEL_DIR}`, '--data', 'mnist,mnist', '--out', join(root, 'ts')],
      ],
    ];
    for (const [name, args] of runs) {
      const r = await branchy(...args);
      refused(r);
      assert.match(r.stderr, /"T-shirt\/top"/, name);
    }
    for (const out of ['report', 'add-exits', 'search-exits', 'train', 'ts']) assert.equal(existsSync(join(root, out)), false, out);
    assert.deepEqual(readFileSync(join(resumed, 'branchy.json')), manifest);
  });

  it('another input shape is refused even with --allow-class-mismatch, and calibrate leaves the model as it was', async () => {
    const e = await branchy('eval', SHIPPED_MODEL_DIR, '--data', `idx:${smallIdx}`, '--allow-class-mismatch');
    refused(e);
    assert.match(e.stderr, /the model takes samples \[28, 28, 1\]; the data's are \[14, 14, 1\]/);
    const dir = copyOf(SHIPPED_MODEL_DIR);
    const before = readFileSync(join(dir, 'branchy.json'));
    refused(await branchy('calibrate', dir, '--data', `idx:${smallIdx}`, '--allow-class-mismatch', '--profile-samples', '5'));
    assert.deepEqual(readFileSync(join(dir, 'branchy.json')), before);
    const out = join(tempDir(), 'b-lenet');
    mkdirSync(out);
    refused(
      await branchy('train', '--model', 'b-lenet', '--init-from', SHIPPED_BASELINE_DIR, '--data', `idx:${smallIdx}`, '--allow-class-mismatch', '--out', out),
    );
  });

  it('idx:DIR classes are unnamed: any 10-class model of that input shape is evaluated on them', async () => {
    const digits = await branchy('eval', SHIPPED_MODEL_DIR, '--data', `idx:${digitsIdx}`, '--latency-samples', '5', '--json');
    assert.equal(digits.code, 0, digits.stderr);
    // The mnist package's 1000 test digits, through IDX files: the shipped digit model reads them as it reads --data mnist.
    assert.ok(JSON.parse(digits.stdout).evaluation.finalAccuracy > 0.95);
    // Label numbers only: nothing says these are not clothes, so the class count is all that is held against the model.
    const clothes = await branchy('eval', SHIPPED_FASHION_MODEL_DIR, '--data', `idx:${digitsIdx}`, '--latency-samples', '5', '--json');
    assert.equal(clothes.code, 0, clothes.stderr);
  });

  it('--help of every command that feeds data to a model shows --allow-class-mismatch', async () => {
    for (const command of ['eval', 'calibrate', 'report', 'train', 'add-exits', 'search-exits', 'train-successor', 'attach-front']) {
      const r = await branchy(command, '--help');
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout.replace(/\s+/g, ' '),
        /--allow-class-mismatch (with --init-from or --resume: |for a front and its data: )?accept data whose class names/,
        command,
      );
    }
  });
});
