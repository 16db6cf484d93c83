import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readSharedPlan } from '../../src/cascade/shared-plan.ts';
import { readSharedInfo } from '../../src/io/index.ts';
import { branchy, tempDir } from '../helpers.ts';

const QUICK = ['--epochs', '1', '--train-samples', '200', '--test-samples', '100', '--batch-size', '32'];

describe('branchy train-successor, attach-front and split of a successor', () => {
  const out = join(tempDir(), 'successor');

  it('train-successor trains adapters and a successor for two digit fronts (one class space) and prints their table', async () => {
    const r = await branchy(
      'train-successor',
      '--fronts',
      'models/b-lenet-mnist,models/b-lenet-mnist',
      '--data',
      'mnist,mnist',
      '--names',
      'a,b',
      '--out',
      out,
      ...QUICK,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /front\s+cut\s+classes\s+thresholds/);
    const info = readSharedInfo(out);
    assert.deepEqual(
      info.fronts.map((f) => [f.name, f.mode, f.classMap.length]),
      [
        ['a', 'successor', 10],
        ['b', 'successor', 10],
      ],
    );
    assert.ok(existsSync(join(out, 'adapters', 'a', 'stage_1.onnx')));
  });

  it('attach-front adds a front in attach mode; split writes one unit per front and the successor', async () => {
    const r = await branchy('attach-front', 'models/b-lenet-mnist', '--successor', out, '--data', 'mnist', '--name', 'late', ...QUICK);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readSharedInfo(out).fronts[2].mode, 'attach');
    const plan = join(tempDir(), 'plan');
    const s = await branchy('split', out, '--out', plan);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /shared by 3 front\(s\)/);
    for (const unit of ['a', 'b', 'late', 'successor']) assert.ok(existsSync(join(plan, unit, 'branchy.json')), unit);
    const union = join(tempDir(), 'plan-union');
    const u = await branchy('split', out, '--out', union, '--answers', 'union');
    assert.equal(u.code, 0, u.stderr);
    assert.match(u.stdout, /answering in the union of 10 classes/);
    assert.equal(readSharedPlan(union).answers, 'union');
  });

  it('refuses mismatched option counts, a directory that is no successor, and --at on a successor', async () => {
    const counts = await branchy('train-successor', '--fronts', 'models/b-lenet-mnist,models/b-lenet-mnist', '--data', 'mnist', '--out', join(tempDir(), 'x'));
    assert.equal(counts.code, 2);
    assert.match(counts.stderr, /CLI_BAD_OPTION: --data has 1 values/);
    const none = await branchy('attach-front', 'models/b-lenet-mnist', '--successor', 'models/b-lenet-mnist', '--data', 'mnist');
    assert.equal(none.code, 2);
    assert.match(none.stderr, /MODEL_NOT_A_SUCCESSOR/);
    const at = await branchy('split', out, '--at', '1', '--out', join(tempDir(), 'y'));
    assert.equal(at.code, 2);
    assert.match(at.stderr, /CLI_CONFLICTING_OPTIONS/);
    const answers = await branchy('split', 'models/b-lenet-mnist', '--at', '1', '--answers', 'union', '--out', join(tempDir(), 'w'));
    assert.equal(answers.code, 2);
    assert.match(answers.stderr, /CLI_CONFLICTING_OPTIONS: .* --answers is for one/);
    const bad = await branchy('split', out, '--answers', 'all', '--out', join(tempDir(), 'v'));
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--answers/);
    const one = await branchy('train-successor', '--fronts', 'models/lenet-mnist', '--data', 'mnist', '--out', join(tempDir(), 'z'));
    assert.equal(one.code, 2);
    assert.match(one.stderr, /TRAIN_BAD_FRONT/);
  });
});
