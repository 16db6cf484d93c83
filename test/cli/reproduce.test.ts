import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadTrainState } from '../../src/io/index.ts';
import { branchy, tempDir } from '../helpers.ts';

const manifestOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'branchy.json'), 'utf8'));

describe('training recipe options', () => {
  const lenet = join(tempDir(), 'lenet');

  it("train stores the train split's per-channel mean and std in the spec; --no-normalize leaves it out", async () => {
    const r = await branchy('train', '--model', 'lenet', '--epochs', '1', '--train-samples', '256', '--out', lenet);
    assert.equal(r.code, 0, r.stderr);
    const { mean, std } = manifestOf(lenet).spec.input.normalization;
    assert.equal(mean.length, 1);
    assert.ok(mean[0] > 0.05 && mean[0] < 0.25, `MNIST's mean ink is about 0.13; got ${mean[0]}`);
    assert.ok(std[0] > 0.2 && std[0] < 0.45, `std about 0.31; got ${std[0]}`);
    const plain = join(tempDir(), 'plain');
    const p = await branchy('train', '--model', 'lenet', '--epochs', '1', '--train-samples', '64', '--no-normalize', '--out', plain);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(manifestOf(plain).spec.input.normalization, undefined);
  });

  it('a branchy network started from a baseline keeps the normalisation its trunk learned on; SGD with a step schedule resumes', async () => {
    const dir = join(tempDir(), 'b-lenet');
    const args = [
      'train',
      '--model',
      'b-lenet',
      '--init-from',
      lenet,
      '--train-samples',
      '128',
      '--optimizer',
      'sgd',
      '--lr',
      '0.01',
      '--momentum',
      '0.9',
      '--lr-schedule',
      'step',
      '--lr-steps',
      '1',
      '--out',
      dir,
    ];
    const first = await branchy(...args, '--epochs', '1');
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(manifestOf(dir).spec.input.normalization, manifestOf(lenet).spec.input.normalization);
    assert.ok(
      Object.keys(loadTrainState(dir).optimizer).some((k) => k.endsWith('/momentum')),
      'momentum buffers are checkpointed by weight name',
    );
    const resumed = await branchy('train', '--model', 'b-lenet', '--out', dir, '--resume', '--epochs', '2');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /resuming .* after epoch 1 of 2/);
    const training = manifestOf(dir).training;
    assert.equal(training.options.optimizer, 'sgd');
    assert.deepEqual(training.options.lrStepEpochs, [1]);
    assert.equal(training.history.length, 2);
  });

  it('refuses unknown optimizers and schedules', async () => {
    for (const args of [
      ['--optimizer', 'rmsprop'],
      ['--lr-schedule', 'linear'],
      ['--lr-steps', '3,x'],
    ]) {
      const r = await branchy('train', '--model', 'lenet', '--out', tempDir(), ...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /rmsprop|linear|--lr-steps must be/);
    }
  });
});

describe('branchy reproduce', () => {
  it('--tiny trains, calibrates and times each pair, and writes the table beside the paper with absent data sets named', async () => {
    const out = tempDir();
    const r = await branchy('reproduce', '--tiny', '--data', 'mnist,cifar10,cifar10:/nonexistent/cifar', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    assert.match(md, /^Command: `branchy reproduce --tiny --data mnist,cifar10,cifar10:\/nonexistent\/cifar --out /m);
    assert.match(md, /^## MNIST/m);
    assert.match(md, /\| LeNet \| paper \| 99\.20 \| 3\.37 \| - \| - \| - \|/);
    assert.match(md, /\| B-LeNet \| paper \| 99\.25 \| 0\.62 \| 5\.4x \| 0\.025 \| 94\.3, 5\.63 \|/);
    const lenet = /\| LeNet \| here \| ([\d.]+) \| ([\d.]+) \| - \| - \| - \|/.exec(md);
    const bLenet = /\| B-LeNet \| here \| ([\d.]+) \| ([\d.]+) \| ([\d.]+)x \| ([^|]+) \| ([\d.]+), ([\d.]+) \|/.exec(md);
    assert.ok(lenet && bLenet, md);
    assert.ok(Number(lenet[1]) >= 0 && Number(lenet[1]) <= 100 && Number(lenet[2]) > 0);
    assert.ok(Number(bLenet[2]) > 0 && Number(bLenet[3]) > 0);
    assert.ok(Math.abs(Number(bLenet[5]) + Number(bLenet[6]) - 100) < 0.2, 'exit shares add up to 100%');
    assert.ok(Math.abs(Number(bLenet[3]) - Number(lenet[2]) / Number(bLenet[2])) < 0.02, 'the gain is the baseline time over the branchy time');
    assert.match(md, /\| mnist \| LeNet \| 1 \| 300 \| [\d.]+ \| \d+ \|/);
    assert.match(md, /^## Absent data sets/m);
    assert.match(md, /- cifar10: no directory given\. Download/);
    assert.match(md, /- cifar10: .*\/nonexistent\/cifar/);
    const report = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    assert.equal(report.datasets.length, 1);
    const pair = report.datasets[0].pairs[0];
    assert.deepEqual(pair.branchy.thresholds, manifestOf(join(out, 'mnist', 'b-lenet')).spec.policy.thresholds);
    assert.equal(manifestOf(join(out, 'mnist', 'b-lenet')).calibration.split, 'validation');
    assert.ok(!existsSync(join(out, 'mnist', 'b-lenet', 'train-state.safetensors')));
  });

  it('refuses an unknown data set and --quick with --tiny', async () => {
    const unknown = await branchy('reproduce', '--tiny', '--data', 'imagenet', '--out', tempDir());
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /CLI_UNKNOWN_DATA.*imagenet/);
    const both = await branchy('reproduce', '--tiny', '--quick', '--out', tempDir());
    assert.equal(both.code, 2);
    assert.match(both.stderr, /CLI_CONFLICTING_OPTIONS/);
  });
});
