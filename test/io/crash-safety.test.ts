import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../src/common/rng.ts';
import { logicalFileName, loadModelDir, readManifest, saveModelDir } from '../../src/io/index.ts';
import { SHIPPED_BASELINE_DIR } from '../../src/io/shipped-models.ts';
import { branchy, tempDir } from '../helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/branchy.js', import.meta.url));
const TRAIN = ['train', '--model', 'b-lenet', '--epochs', '3', '--train-samples', '48', '--batch-size', '16', '--max-drop', '0.5'];

/** Runs `branchy args` in a child, killed with SIGKILL at failpoint `point` or after `afterMs`; whether it was killed. */
function runKilled(args: string[], kill: { point?: string; afterMs?: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const env = { ...process.env, ...(kill.point ? { BRANCHY_FAILPOINT: kill.point } : {}) };
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: 'ignore' });
    const timer = kill.afterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), kill.afterMs);
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      resolve(signal === 'SIGKILL');
    });
  });
}

/** The weight files' checksums by logical name: equal exactly when the weights are byte-identical. */
function weightChecksums(dir: string): Record<string, string> {
  const { weights } = readManifest(dir);
  return Object.fromEntries(Object.entries(weights).map(([file, e]) => [logicalFileName(file), e.sha256]));
}

/** Every file of a directory with its bytes, to compare a directory before and after. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
}

describe('a training run killed with SIGKILL at 20 seeded moments', () => {
  it('leaves a directory that resumes to byte-identical weights, or is refused with a clear error', async () => {
    const whole = join(tempDir(), 'whole');
    const done = await branchy(...TRAIN, '--out', whole);
    assert.equal(done.code, 0, done.stderr);
    const expected = weightChecksums(whole);
    const rng = new Rng(18);
    // Where a run can die: writing a checkpoint's weight files, its optimizer state, its branchy.json (before and
    // after the rename), after the commit but before the old files are removed, and anywhere in between (a step).
    const points = ['write:weights:synced', 'write:weights:renamed', 'write:train-state:synced', 'write:manifest:synced', 'write:manifest:renamed', 'commit:before-cleanup'];
    const hitsOf: Record<string, number> = { 'write:weights:synced': 12, 'write:weights:renamed': 12, 'write:train-state:synced': 3 };
    const moments = [
      ...Array.from({ length: 12 }, (_, i) => {
        const point = points[i % points.length];
        return { point: `${point}@${1 + rng.int(hitsOf[point] ?? 4)}` };
      }),
      ...Array.from({ length: 8 }, () => ({ afterMs: 400 + rng.int(2200) })),
    ];
    const table: string[] = [];
    for (const moment of moments) {
      const out = join(tempDir(), 'run');
      const killed = await runKilled([...TRAIN, '--out', out], moment);
      const at = moment.point ?? `${moment.afterMs} ms`;
      if (!killed) {
        table.push(`${at}: finished before the kill`);
        assert.deepEqual(weightChecksums(out), expected);
        continue;
      }
      assert.deepEqual(
        readdirSync(existsSync(out) ? out : tempDir()).filter((f) => f.endsWith('.tmp') && !f.startsWith('.branchy-')),
        [],
      );
      const resumed = await branchy(...TRAIN, '--out', out, '--resume');
      if (resumed.code !== 0) {
        // The only refusal allowed: a run killed before its first checkpoint has nothing to resume.
        assert.match(resumed.stderr, /TRAIN_NOTHING_TO_RESUME/, `${at}: ${resumed.stderr}`);
        assert.ok(!existsSync(join(out, 'branchy.json')), at);
        table.push(`${at}: refused, ${resumed.stderr.trim().split('\n')[0]}`);
        continue;
      }
      loadModelDir(out);
      assert.deepEqual(weightChecksums(out), expected, `${at}: resumed weights differ from the uninterrupted run's`);
      table.push(`${at}: loads, resumes ${/resuming .* after epoch (\d)/.exec(resumed.stdout)?.[1] ?? '?'} → identical`);
    }
    console.log(table.join('\n'));
  });
});

describe('calibrate, export and split killed while they rewrite branchy.json', () => {
  const model = join(tempDir(), 'model');
  const setUp = () => {
    if (existsSync(model)) return;
    cpSync(SHIPPED_BASELINE_DIR.replace('lenet-mnist', 'b-lenet-mnist'), model, { recursive: true });
  };
  const cases: { name: string; args: (dir: string, out: string) => string[]; points: string[]; target: (dir: string, out: string) => string }[] = [
    {
      name: 'calibrate',
      args: (dir) => ['calibrate', dir, '--max-drop', '1', '--profile-samples', '10', '--batch-size', '32'],
      points: ['write:manifest:synced', 'write:manifest:renamed', 'commit:before-cleanup'],
      target: (dir) => dir,
    },
    {
      name: 'export',
      args: (dir) => ['export', dir, '--format', 'onnx'],
      points: ['write:onnx:synced@1', 'write:onnx:renamed@3', 'write:manifest:synced', 'write:manifest:renamed'],
      target: (dir) => dir,
    },
    {
      name: 'split',
      args: (dir, out) => ['split', dir, '--at', '1', '--out', out],
      points: ['write:weights:renamed@3', 'write:manifest:synced@2', 'write:plan:synced', 'write:plan:renamed'],
      target: (_dir, out) => out,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: the previous state intact or the new one complete`, async () => {
      setUp();
      const fresh = join(tempDir(), c.name);
      cpSync(model, fresh, { recursive: true });
      const whole = await branchy(...c.args(fresh, join(fresh, '..', `${c.name}-plan`)));
      assert.equal(whole.code, 0, whole.stderr);
      for (const point of c.points) {
        const dir = join(tempDir(), c.name);
        const out = join(dir, '..', `${c.name}-plan`);
        cpSync(model, dir, { recursive: true });
        if (c.name === 'split') mkdirSync(out);
        const before = snapshot(c.target(dir, out));
        assert.ok(await runKilled(c.args(dir, out), { point }), `${c.name} passed ${point}`);
        const after = snapshot(c.target(dir, out));
        const previous = JSON.stringify(after) === JSON.stringify(before);
        if (c.name === 'split') {
          // A plan directory is complete once plan.json is in place; before that it holds no plan.
          const r = await branchy('split', dir, '--at', '1', '--out', out);
          assert.equal(r.code, 0, r.stderr);
          assert.ok(previous || existsSync(join(out, 'unit1')), point);
          continue;
        }
        loadModelDir(dir);
        const manifest = readFileSync(join(dir, 'branchy.json'), 'utf8');
        const complete = manifest === readFileSync(join(fresh, 'branchy.json'), 'utf8');
        assert.ok(previous || complete || c.name === 'calibrate', `${c.name} at ${point}: neither the previous state nor the new one`);
        if (c.name === 'calibrate' && !previous) assert.ok(readManifest(dir).calibration, point);
      }
    });
  }
});

describe('a write that fails for lack of room', () => {
  const root = process.getuid?.() === 0;
  const skip = root ? false : 'needs root to mount a small tmpfs (mount -t tmpfs -o size=...)';
  if (!root && process.env.CI === 'true') throw new Error('CI=true and this test needs root to mount a small tmpfs.');
  it('leaves the previous model intact and says why (MODEL_DISK_FULL)', { skip }, () => {
    const mnt = join(tempDir(), 'small');
    mkdirSync(mnt);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1200k', 'tmpfs', mnt]);
    assert.equal(mounted.status, 0, String(mounted.stderr));
    try {
      const dir = join(mnt, 'model');
      cpSync(SHIPPED_BASELINE_DIR, dir, { recursive: true });
      const before = snapshot(dir);
      const loaded = loadModelDir(dir);
      const weights = Object.fromEntries(Object.entries(loaded.weights).map(([k, w]) => [k, w.map((v) => v * 0.5)]));
      writeFileSync(join(mnt, 'filler'), Buffer.alloc(300 * 1024));
      assert.throws(
        () => saveModelDir(dir, { spec: loaded.spec, weights }, {}),
        (e: { code?: string; message: string }) => e.code === 'MODEL_DISK_FULL' && /no room left/.test(e.message) && e.message.includes(dir),
      );
      assert.deepEqual(snapshot(dir), before, 'the previous files are as they were, and no new or temporary file is left');
      loadModelDir(dir);
    } finally {
      spawnSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });
});
