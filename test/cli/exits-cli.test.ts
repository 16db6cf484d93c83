import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { branchy, tempDir } from '../helpers.ts';

describe('branchy add-exits, search-exits and calibrate --max-loss', () => {
  const out = join(tempDir(), 'lenet-plus');

  it("the issue's add-exits --at 1 --head conv1 on the shipped LeNet (its branch point) writes a two-exit model that calibrates with --max-loss --confidence and evaluates", async () => {
    // The command of the issue, with a shorter training so the test stays quick.
    const r = await branchy(
      'add-exits',
      'models/lenet-mnist',
      '--at',
      '1',
      '--head',
      'conv1',
      '--data',
      'mnist',
      '--out',
      out,
      '--epochs',
      '1',
      '--train-samples',
      '500',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /1 +after layer 1 \(conv2d\) +\d+\.\d+% +\d+\.\d+%/);
    assert.match(r.stdout, /head training [\d.]+ s/);
    const manifest = JSON.parse(readFileSync(join(out, 'branchy.json'), 'utf8'));
    assert.equal(manifest.spec.stages.length, 2);
    assert.deepEqual(
      manifest.spec.stages.map((s: { layers: unknown[] }) => s.layers.length),
      [1, 10],
    );
    assert.equal(manifest.spec.branchPoints, undefined, 'the branch point became a stage boundary');
    assert.equal(manifest.training.addExits.trainSamples, 500);
    const c = await branchy('calibrate', out, '--max-loss', '0.5', '--confidence', '0.95', '--profile-samples', '10', '--batch-size', '32');
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /at most 0\.5 points of the validation samples at 95% confidence/);
    const e = await branchy('eval', out, '--latency-samples', '10', '--json');
    assert.equal(e.code, 0, e.stderr);
    assert.ok(JSON.parse(e.stdout).evaluation.finalAccuracy > 0.95);
  });

  it('refuses what it cannot do, with a code', async () => {
    const copy = join(tempDir(), 'lenet');
    cpSync('models/lenet-mnist', copy, { recursive: true });
    const plain = join(tempDir(), 'plain');
    cpSync('models/lenet-mnist', plain, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(plain, 'branchy.json'), 'utf8'));
    delete manifest.spec.branchPoints;
    writeFileSync(join(plain, 'branchy.json'), JSON.stringify(manifest));
    for (const [args, code] of [
      [
        ['add-exits', copy, '--at', '2', '--out', join(tempDir(), 'x')],
        /EXITS_BAD_POSITION: stage boundary 2 does not exist: the network has 1 stage and 1 boundary to branch at \(--at 1 … 1: after layer 1\)/,
      ],
      [
        ['add-exits', plain, '--at', '1', '--out', join(tempDir(), 'x')],
        /EXITS_BAD_POSITION: stage boundary 1 does not exist: the network has 1 stage and no boundary to branch at/,
      ],
      [['add-exits', copy, '--cut', '11', '--out', join(tempDir(), 'x')], /EXITS_BAD_POSITION/],
      [['add-exits', copy, '--cut', '1', '--at', '1', '--out', join(tempDir(), 'x')], /CLI_CONFLICTING_OPTIONS/],
      [['add-exits', copy, '--cut', '10', '--head', 'conv1', '--out', join(tempDir(), 'x')], /HEAD_BAD_SPEC/],
      [['add-exits', copy, '--cut', '1,2', '--head', 'fc,fc,fc', '--out', join(tempDir(), 'x')], /HEAD_UNKNOWN/],
      [['search-exits', copy, '--heads', 'conv7', '--out', join(tempDir(), 'x')], /HEAD_UNKNOWN/],
      [['calibrate', out, '--confidence', '0.9'], /CLI_CONFLICTING_OPTIONS/],
      [['calibrate', out, '--max-loss', '0.5', '--max-drop', '0.5'], /CLI_CONFLICTING_OPTIONS/],
    ] as const) {
      const r = await branchy(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, code);
    }
  });
});
