import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../src/common/rng.ts';
import { loadModelDir, logicalFileName, readManifest, saveModelDir, updateManifest, type ModelManifest } from '../../src/io/index.ts';
import { readPlan } from '../../src/cascade/index.ts';
import { SHIPPED_BASELINE_DIR, SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { branchy, maxAbsDiff, tempDir, uncalibratedCopy } from '../helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/branchy.js', import.meta.url));
const TRAIN = ['train', '--model', 'b-lenet', '--epochs', '3', '--train-samples', '48', '--batch-size', '16', '--max-drop', '0.5'];

type Kill = { point: string } | { afterMs: number };

/** Runs `branchy args` in a child, killed with SIGKILL at failpoint `point` or after `afterMs`; whether it was killed. */
function runKilled(args: string[], kill: Kill): Promise<boolean> {
  return new Promise((resolve) => {
    const env = { ...process.env, ...('point' in kill ? { BRANCHY_FAILPOINT: kill.point } : {}) };
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: 'ignore' });
    const timer = 'afterMs' in kill ? setTimeout(() => child.kill('SIGKILL'), kill.afterMs) : undefined;
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      resolve(signal === 'SIGKILL');
    });
  });
}

/** Runs `jobs` two at a time (the machine has 2 cores), in order of their results. */
async function inPairs<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

/** Every file under a directory (recursively) with the SHA-256 of its bytes, to compare a directory before and after. */
function snapshot(dir: string, prefix = ''): Record<string, string> {
  if (!existsSync(dir)) return {};
  const files: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) Object.assign(files, snapshot(path, `${prefix}${name}/`));
    else files[`${prefix}${name}`] = createHash('sha256').update(readFileSync(path)).digest('hex');
  }
  return files;
}

/** The largest difference between two models' weights, tensor by tensor. */
function maxWeightDifference(a: string, b: string): number {
  const x = loadModelDir(a).weights;
  const y = loadModelDir(b).weights;
  assert.deepEqual(Object.keys(y).sort(), Object.keys(x).sort());
  return Math.max(...Object.entries(x).map(([name, w]) => maxAbsDiff(w, y[name])));
}

/** Files of a model directory its branchy.json does not list (left over from a killed write, not cleaned up). */
function unlisted(dir: string): string[] {
  const m = readManifest(dir);
  const listed = new Set(['branchy.json', ...Object.keys(m.weights), ...(m.onnx ? [...m.onnx.stages, ...m.onnx.exits].map((e) => e.file) : [])]);
  if (m.trainState) listed.add(m.trainState.file);
  return readdirSync(dir).filter((f) => !listed.has(f));
}

/** What a killed training run left: no model yet, or the epoch its committed checkpoint holds, and any debris. */
function leftState(dir: string): string {
  if (!existsSync(join(dir, 'branchy.json'))) return `no branchy.json (${existsSync(dir) ? readdirSync(dir).length : 0} files)`;
  const m = readManifest(dir);
  const epochs = Array.isArray(m.training?.history) ? m.training.history.length : 0;
  const debris = unlisted(dir).length;
  return `epoch ${epochs} committed${m.calibration ? ', calibrated' : ''}${debris ? `, ${debris} unlisted files` : ''}`;
}

/**
 * What a resume of `dir` starts from: the committed weights and optimizer state (by checksum), the stored training
 * options and epochs, and the files left beside them (temporary files named without their random part). The
 * timings branchy.json records differ from run to run and take no part in the weights.
 */
function resumeKey(dir: string): string {
  const files = snapshot(dir);
  const named = (f: string) => [f.replace(/\.\d+\.[0-9a-f]{8}\.tmp$/, '.tmp'), files[f]];
  if (!files['branchy.json']) return JSON.stringify(Object.keys(files).map(named));
  const m = readManifest(dir);
  const weights = Object.entries(m.weights).map(([f, e]) => [logicalFileName(f), e.sha256]);
  const training = { options: m.training?.options, epochs: Array.isArray(m.training?.history) ? m.training.history.length : 0 };
  return JSON.stringify({
    weights: weights.sort(),
    state: m.trainState?.sha256,
    training,
    calibrated: m.calibration !== undefined,
    left: unlisted(dir).map(named),
  });
}

describe('a training run killed with SIGKILL at 20 seeded moments', () => {
  it('leaves a directory that loads and resumes to the very weights of an uninterrupted run, or is refused with a clear error', async () => {
    const whole = join(tempDir(), 'whole');
    const started = performance.now();
    const done = await branchy(...TRAIN, '--out', whole);
    const wholeMs = performance.now() - started;
    assert.equal(done.code, 0, done.stderr);
    // Where a run can die, and how often it passes there in 3 epochs of 3 steps (4 weight files a checkpoint, a
    // branchy.json for each checkpoint and one for the thresholds): during a step; writing a checkpoint's weight
    // files, its optimizer state, its branchy.json (before and after the rename); after a commit but before the
    // files it replaced are removed. Then 4 kills at seeded times across the run, wherever they land.
    const passes: Record<string, number> = {
      'train:step': 9,
      'write:weights:synced': 12,
      'write:weights:renamed': 12,
      'write:train-state:synced': 3,
      'write:manifest:synced': 4,
      'write:manifest:renamed': 4,
      'commit:before-cleanup': 4,
    };
    const rng = new Rng(18);
    const points = Object.keys(passes);
    const moments: Kill[] = [
      ...Array.from({ length: 16 }, (_, i) => {
        const point = points[i < points.length ? i : rng.int(points.length)];
        return { point: `${point}@${1 + rng.int(passes[point])}` };
      }),
      ...Array.from({ length: 4 }, () => ({ afterMs: Math.round(wholeMs * (0.3 + 0.65 * rng.next())) })),
    ];
    const runs = moments.map((kill) => ({ kill, out: join(tempDir(), 'run') }));
    const killed = await inPairs(runs.map((r) => () => runKilled([...TRAIN, '--out', r.out], r.kill)));
    const states = runs.map((r) => leftState(r.out));
    for (const r of runs) if (existsSync(join(r.out, 'branchy.json'))) loadModelDir(r.out);
    // Training is deterministic: two runs that left the same checkpoint (and the same debris) resume alike, so each
    // distinct one is resumed once.
    const keys = runs.map((r) => resumeKey(r.out));
    const firstOf = keys.map((k) => keys.indexOf(k));
    const distinct = [...new Set(firstOf)];
    const resumedOnce = await inPairs(distinct.map((i) => () => branchy(...TRAIN, '--out', runs[i].out, '--resume')));
    const resumes = firstOf.map((i) => resumedOnce[distinct.indexOf(i)]);
    const table = ['moment | left | --resume | max |Δw| against the uninterrupted run'];
    runs.forEach((r, i) => {
      const at = 'point' in r.kill ? r.kill.point : `${r.kill.afterMs} ms of ${Math.round(wholeMs)}`;
      const resumed = resumes[i];
      if (!killed[i]) {
        table.push(`${at} | finished before the kill | - | ${maxWeightDifference(whole, r.out)}`);
        return;
      }
      if (resumed.code !== 0) {
        // The only refusal allowed: a run killed before its first commit has nothing to resume.
        assert.match(resumed.stderr, /TRAIN_NOTHING_TO_RESUME/, `${at}: ${resumed.stderr}`);
        assert.ok(!existsSync(join(r.out, 'branchy.json')), at);
        table.push(`${at} | ${states[i]} | refused: ${/\w+_\w+/.exec(resumed.stderr)?.[0]} | -`);
        return;
      }
      const from = /resuming .* after epoch (\d)/.exec(resumed.stdout)?.[1] ?? '?';
      if (firstOf[i] !== i) {
        table.push(
          `${at} | ${states[i]}, as moment ${firstOf[i] + 1} left it | resumed after epoch ${from} (as moment ${firstOf[i] + 1}) | as moment ${firstOf[i] + 1}`,
        );
        return;
      }
      const diff = maxWeightDifference(whole, r.out);
      table.push(`${at} | ${states[i]} | resumed after epoch ${from} | ${diff}`);
      assert.equal(diff, 0, `${at}: resumed weights end ${diff} from the uninterrupted run's`);
      assert.deepEqual(unlisted(r.out), [], `${at}: every file of the resumed directory is listed in its branchy.json`);
    });
    console.log(table.join('\n'));
    // A directory refused for --resume holds no model; a new run into it starts over and ends as the uninterrupted one.
    const leftFiles = (dir: string) => (existsSync(dir) ? readdirSync(dir).length : 0);
    const refused = runs.filter((r, i) => killed[i] && resumes[i].code !== 0).sort((a, b) => leftFiles(b.out) - leftFiles(a.out))[0];
    if (refused) {
      const again = await branchy(...TRAIN, '--out', refused.out);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(maxWeightDifference(whole, refused.out), 0, 'a new run over what a killed one left');
      assert.deepEqual(unlisted(refused.out), []);
    }
    assert.ok(killed.filter(Boolean).length >= 16, `at least every failpoint kills the run: ${killed.filter(Boolean).length} of ${moments.length} were killed`);
  });
});

describe('calibrate, export and split killed while they rewrite branchy.json', () => {
  const model = SHIPPED_MODEL_DIR;
  // Calibration is tried on the model without its stored calibration, so that its new state is told apart.
  const uncalibrated = uncalibratedCopy(SHIPPED_MODEL_DIR);
  // Exported ONNX files equal to the ones a model holds are kept as they are (nothing to write): the export is tried
  // on the model without them, so that it writes every file.
  const withoutOnnx = join(tempDir(), 'without-onnx');
  cpSync(SHIPPED_MODEL_DIR, withoutOnnx, { recursive: true });
  updateManifest(withoutOnnx, ({ onnx: _, ...rest }) => rest as ModelManifest);

  interface Case {
    name: string;
    from: string;
    args: (dir: string, out: string) => string[];
    points: string[];
    /** The directory the command rewrites. */
    target: (dir: string, out: string) => string;
    /** Sets up `out` before the command (split: an earlier plan in it). */
    prepare?: (dir: string, out: string) => Promise<void>;
  }
  const cases: Case[] = [
    {
      name: 'calibrate',
      from: uncalibrated,
      args: (dir) => ['calibrate', dir, '--max-drop', '1', '--profile-samples', '10', '--batch-size', '32'],
      points: ['write:manifest:synced', 'write:manifest:renamed', 'commit:before-cleanup'],
      target: (dir) => dir,
    },
    {
      name: 'export',
      from: withoutOnnx,
      args: (dir) => ['export', dir, '--format', 'onnx'],
      points: ['write:onnx:synced@1', 'write:onnx:renamed@3', 'write:manifest:synced', 'write:manifest:renamed', 'commit:before-cleanup'],
      target: (dir) => dir,
    },
    {
      name: 'split',
      from: model,
      args: (dir, out) => ['split', dir, '--at', '1', '--out', out],
      points: ['write:weights:renamed@3', 'write:onnx:synced@2', 'write:manifest:synced@2', 'write:plan:synced', 'write:plan:renamed'],
      target: (_dir, out) => out,
    },
    {
      name: 'split over an earlier plan',
      from: model,
      args: (dir, out) => ['split', dir, '--at', '1', '--forward', 'input', '--out', out],
      points: ['write:manifest:synced@1', 'write:manifest:renamed@2', 'write:plan:synced'],
      target: (_dir, out) => out,
      prepare: async (dir, out) => {
        const r = await branchy('split', dir, '--at', '1', '--out', out);
        assert.equal(r.code, 0, r.stderr);
      },
    },
  ];
  const isSplit = (c: Case) => c.name.startsWith('split');

  for (const c of cases) {
    it(`${c.name}: the previous state intact or the new one complete`, async () => {
      const setUp = async () => {
        const dir = join(tempDir(), 'model');
        const out = join(dir, '..', 'plan');
        cpSync(c.from, dir, { recursive: true });
        await c.prepare?.(dir, out);
        return { dir, out };
      };
      // The new state: the command run to its end on a copy.
      const fresh = await setUp();
      const whole = await branchy(...c.args(fresh.dir, fresh.out));
      assert.equal(whole.code, 0, whole.stderr);
      const complete = snapshot(c.target(fresh.dir, fresh.out));
      const outcomes: string[] = [];
      for (const point of c.points) {
        const { dir, out } = await setUp();
        const target = c.target(dir, out);
        const before = snapshot(target);
        assert.ok(await runKilled(c.args(dir, out), { point }), `${c.name} passed ${point}`);
        const after = snapshot(target);
        const same = (a: Record<string, string>, b: Record<string, string>, only?: (f: string) => boolean) =>
          JSON.stringify(Object.entries(a).filter(([f]) => !only || only(f))) === JSON.stringify(Object.entries(b).filter(([f]) => !only || only(f)));
        if (isSplit(c)) {
          // A plan directory is a plan once plan.json is in place, and then every unit it names is complete;
          // before that it holds no plan, which serving refuses by name.
          if (existsSync(join(out, 'plan.json'))) {
            for (const unit of ['unit1', 'unit2']) assert.deepEqual(unlisted(join(out, unit)), [], `${point}: ${unit}`);
            const asBefore = same(after, before);
            assert.ok(asBefore || same(after, complete), `${c.name} at ${point}: plan.json with units of neither plan`);
            outcomes.push(`${point}: ${asBefore ? 'the earlier plan, intact' : 'the new plan, complete'}`);
          } else {
            assert.throws(() => readPlan(out), { code: 'CASCADE_BAD_PLAN', message: /plan\.json.*does not exist/ });
            outcomes.push(`${point}: no plan.json (refused: CASCADE_BAD_PLAN)`);
          }
          // Splitting again into the same directory finishes the job.
          const again = await branchy(...c.args(dir, out));
          assert.equal(again.code, 0, again.stderr);
          assert.deepEqual(snapshot(out), complete, `${c.name} at ${point}: split again gives the plan an uninterrupted split gives`);
          continue;
        }
        // The previous state: the same branchy.json, and every file it lists as it was (loadModelDir checks them).
        loadModelDir(dir);
        const asBefore = after['branchy.json'] === before['branchy.json'];
        const asNew = c.name === 'calibrate' ? readManifest(dir).calibration !== undefined : after['branchy.json'] === complete['branchy.json'];
        assert.ok(asBefore || asNew, `${c.name} at ${point}: neither the previous state nor the new one`);
        const debris = unlisted(dir).length;
        outcomes.push(
          `${point}: ${asBefore ? 'previous state, intact' : 'new state, complete'}${debris ? `, ${debris} unlisted files until the next commit` : ''}`,
        );
      }
      console.log(`${c.name}\n${outcomes.join('\n')}`);
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
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    assert.equal(mounted.status, 0, String(mounted.stderr));
    try {
      const dir = join(mnt, 'model');
      cpSync(SHIPPED_BASELINE_DIR, dir, { recursive: true });
      const before = snapshot(dir);
      const loaded = loadModelDir(dir);
      const weights = Object.fromEntries(Object.entries(loaded.weights).map(([k, w]) => [k, w.map((v) => v * 0.5)]));
      // Fill the file system up to 100 KiB short of full: the new stage_1 weights (262 KiB) cannot be written.
      const { bavail, bsize } = statfsSync(mnt);
      writeFileSync(join(mnt, 'filler'), Buffer.alloc(Math.max(0, bavail * bsize - 100 * 1024)));
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
