import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeFeatures } from '../../src/cascade/feature-codec.ts';
import { readSharedPlan, writeSharedPlan, type SharedDeploymentPlan } from '../../src/cascade/shared-plan.ts';
import { BranchyError } from '../../src/common/errors.ts';
import { loadDataSource, type DatasetSplits } from '../../src/data/index.ts';
import type { Batch } from '../../src/engine/types.ts';
import { firstPassingExit, getCriterion } from '../../src/exit/index.ts';
import { argmaxRow, runSharedPathAllExits, type AllExitsResult } from '../../src/infer/index.ts';
import { ADAPTERS_DIR, readSharedInfo, saveModelDir, type SharedSuccessorInfo } from '../../src/io/index.ts';
import { openModel } from '../../src/open/open-model.ts';
import { attachFront, trainSharedSuccessor } from '../../src/train/index.ts';
import { predict, rows, startUnit, type RunningUnit } from '../cascade/units.ts';
import { tempDir, tinySpec } from '../helpers.ts';
import { startNatsServer, type NatsServer } from '../nats-server.ts';
import { FASHION_MNIST_PACKAGE, NATS_SERVER_PACKAGE, needs } from '../system-packages.ts';

const FRONTS = [
  { name: 'digits', dir: 'models/b-lenet-mnist', data: 'mnist' },
  { name: 'fashion', dir: 'models/b-lenet-fashion-mnist', data: 'fashion-mnist' },
];
/** Accuracy the successor must reach on each domain's test samples, answering every one, after this short run. */
const SUCCESSOR_FLOOR = { digits: 0.75, fashion: 0.65 } as const;
const OPTIONS = { epochs: 3, batchSize: 32, learningRate: 2e-3, beta1: 0.9, beta2: 0.999, seed: 1, lrSchedule: 'cosine' as const };
const THRESHOLD_VECTORS = [[0], [0.3], [0.7], [2.3]];

/** SHA-256 of every file in a directory, by name. */
function checksums(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => [
        e.name,
        createHash('sha256')
          .update(readFileSync(join(dir, e.name)))
          .digest('hex'),
      ]),
  );
}

describe('a successor shared by the digits and Fashion-MNIST fronts', { skip: needs(FASHION_MNIST_PACKAGE) }, () => {
  let out: string;
  let info: SharedSuccessorInfo;
  let splits: Record<string, DatasetSplits>;
  let frontSums: Record<string, string>[];
  const run = () => ({ backend: 'wasm' as const, splitSeed: 1, trainSamples: 1500, testSamples: 500, maxDrop: 0.01, log: () => {}, splits, options: OPTIONS });

  const tables = new Map<string, AllExitsResult>();
  const samples: Record<string, Batch> = {};

  /** Asserts that front `name` at `url` answers as its path does in one process, at these thresholds. */
  async function expectComposition(url: string, name: string, thresholds: number[]): Promise<void> {
    const criterion = getCriterion('entropy');
    const f = FRONTS.find((x) => x.name === name)!;
    samples[name] ??= { data: splits[f.data].test.x.slice(0, 80 * 784), shape: [80, 28, 28, 1] };
    if (!tables.has(name)) {
      const open = async (dir: string) => (await openModel(dir, { engine: 'ort' })).net;
      const classMap = info.fronts.find((x) => x.name === name)!.classMap;
      const path = { front: await open(f.dir), cut: 1, adapter: await open(join(out, ADAPTERS_DIR, name)), successor: await open(out), classMap };
      tables.set(name, await runSharedPathAllExits(path, samples[name]));
      [path.front, path.adapter, path.successor].forEach((n) => n.dispose());
    }
    const table = tables.get(name)!;
    const expected = Array.from({ length: table.count }, (_, i) => {
      const scores = table.probs.map((p) => criterion.score(p, 10, i * 10));
      const exit = firstPassingExit(scores, thresholds);
      return { label: argmaxRow(table.probs[exit], i * 10, 10), exit: exit + 1, score: scores[exit] };
    });
    const { status, results } = await predict(url, name, rows(samples[name]), thresholds);
    assert.equal(status, 200);
    assert.deepEqual(
      results.map((r) => [r.label, r.exit, r.unit, r.degraded]),
      expected.map((r) => [r.label, r.exit, r.exit === 1 ? name : 'successor', false]),
      `${name} [${thresholds}]`,
    );
    results.forEach((r, i) => assert.ok(Math.abs(r.score - expected[i].score) <= 1e-5 * Math.max(1, expected[i].score), `${name} sample ${i}`));
    if (thresholds[0] === 0) assert.ok(results.every((r) => r.hops === 1 && r.path[0].unit === 'successor'));
  }

  before(async () => {
    out = join(tempDir(), 'successor');
    splits = Object.fromEntries(FRONTS.map((f) => [f.data, loadDataSource(f.data, 1)]));
    frontSums = FRONTS.map((f) => checksums(f.dir));
    ({ info } = await trainSharedSuccessor({ ...run(), fronts: FRONTS, out }));
  });

  it("leaves the fronts' files bit-for-bit unchanged", () => {
    FRONTS.forEach((f, i) => assert.deepEqual(checksums(f.dir), frontSums[i], f.dir));
  });

  it('records both fronts, their class maps into the 20-class union and training mode successor', () => {
    assert.deepEqual(readSharedInfo(out), info);
    assert.deepEqual(
      info.fronts.map((f) => [f.name, f.cut, f.classMap, f.mode, f.featureShape]),
      [
        ['digits', 1, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'successor', [30, 30, 5]],
        ['fashion', 1, [10, 11, 12, 13, 14, 15, 16, 17, 18, 19], 'successor', [30, 30, 5]],
      ],
    );
    const manifest = JSON.parse(readFileSync(join(out, 'branchy.json'), 'utf8')) as { spec: { classes: string[] }; training: { options: { mode: string } } };
    assert.equal(manifest.spec.classes.length, 20);
    assert.equal(manifest.training.options.mode, 'successor');
  });

  it(`answers every domain above its floor (digits ${SUCCESSOR_FLOOR.digits}, fashion ${SUCCESSOR_FLOOR.fashion}) with the successor alone`, () => {
    for (const f of info.fronts) assert.ok(f.test.successorOnly >= SUCCESSOR_FLOOR[f.name as 'digits'], `${f.name}: ${f.test.successorOnly}`);
  });

  it("chooses each front's thresholds on its own validation split within the allowed drop, counting the successor's answers", () => {
    for (const f of info.fronts) {
      assert.equal(f.policy.thresholds.length, 1);
      assert.equal(f.calibration.split, 'validation');
      assert.ok(f.calibration.accuracy >= f.calibration.finalAccuracy - 0.01 - 1e-9, f.name);
      assert.ok(Math.abs(f.calibration.exitShare.reduce((a, b) => a + b, 0) - 1) < 1e-9);
    }
  });

  describe('attach-front', () => {
    let successorSums: Record<string, string>;
    let adapterSums: Record<string, string>[];

    before(async () => {
      successorSums = checksums(out);
      delete successorSums['branchy.json'];
      adapterSums = FRONTS.map((f) => checksums(join(out, ADAPTERS_DIR, f.name)));
      ({ info } = await attachFront({ ...run(), front: { ...FRONTS[0], name: 'digits-late' }, successor: out }));
    });

    it("trains only the new adapter: the successor's weights, the old adapters and the fronts are unchanged", () => {
      const now = checksums(out);
      delete now['branchy.json'];
      assert.deepEqual(now, successorSums);
      FRONTS.forEach((f, i) => assert.deepEqual(checksums(join(out, ADAPTERS_DIR, f.name)), adapterSums[i], f.name));
      FRONTS.forEach((f, i) => assert.deepEqual(checksums(f.dir), frontSums[i], f.dir));
      const late = info.fronts.find((f) => f.name === 'digits-late')!;
      assert.equal(late.mode, 'attach');
      assert.ok(late.test.successorOnly >= SUCCESSOR_FLOOR.digits, `${late.test.successorOnly}`);
    });

    it('refuses a name already attached and a front with classes the successor does not know', async () => {
      await assert.rejects(
        attachFront({ ...run(), front: { ...FRONTS[0], name: 'digits-late' }, successor: out }),
        (e: BranchyError) => e.code === 'TRAIN_FRONT_EXISTS',
      );
      const stranger = join(tempDir(), 'stranger');
      const spec = tinySpec();
      const { TfjsNetwork } = await import('../../src/train/index.ts');
      const net = new TfjsNetwork(spec);
      saveModelDir(stranger, { spec, weights: net.weights() });
      net.dispose();
      await assert.rejects(
        attachFront({ ...run(), front: { dir: stranger, data: 'mnist' }, successor: out }),
        (e: BranchyError) => e.code === 'TRAIN_UNKNOWN_CLASSES',
      );
    });
  });

  describe('deployed as three processes over HTTP (two fronts, one successor)', () => {
    let planDir: string;
    let plan: SharedDeploymentPlan;
    const units: RunningUnit[] = [];

    before(async () => {
      planDir = join(tempDir(), 'plan');
      plan = writeSharedPlan(out, planDir);
      const successor = await startUnit(planDir, 'successor');
      units.push(successor);
      for (const f of FRONTS) units.push(await startUnit(planDir, f.name, '--successor', successor.url, '--hop-timeout-ms', '5000'));
      for (const f of FRONTS) samples[f.name] = { data: splits[f.data].test.x.slice(0, 80 * 784), shape: [80, 28, 28, 1] };
    });

    after(async () => {
      for (const u of units) await u.stop();
    });

    it('writes a plan of one front unit per front and one successor', () => {
      assert.deepEqual(readSharedPlan(planDir), plan);
      assert.deepEqual(
        plan.fronts.map((f) => f.name),
        ['digits', 'fashion', 'digits-late'],
      );
      assert.deepEqual(plan.successor.inputShape, [8, 8, 16]);
    });

    it("answers (label, exit, score, unit) as the single-process composition of front, adapter and successor, in each front's classes", async () => {
      for (const f of FRONTS) {
        for (const thresholds of THRESHOLD_VECTORS) await expectComposition(units[FRONTS.indexOf(f) + 1].url, f.name, thresholds);
      }
    });

    it('serves both fronts at once from the one successor', async () => {
      const [a, b] = await Promise.all(FRONTS.map((f, i) => predict(units[i + 1].url, f.name, rows(samples[f.name]), [0])));
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      const metrics = await (await fetch(`${units[0].url}/metrics`)).text();
      assert.match(metrics, /branchy_cascade_frames_received_total\{unit="successor"\} \d+/);
    });

    it('the successor refuses a frame of a path it does not serve (409 CASCADE_WRONG_MODEL)', async () => {
      const frame = encodeFeatures({ data: new Float32Array(8 * 8 * 16), shape: [1, 8, 8, 16] }, 'f32', {
        modelId: 'f'.repeat(64),
        stage: 1,
        thresholds: [0.5],
        from: 'x',
      });
      const r = await fetch(`${units[0].url}/v1/units/successor/forward`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: Buffer.from(frame),
      });
      assert.equal(r.status, 409);
      assert.equal(r.headers.get('branchy-error'), 'CASCADE_WRONG_MODEL');
    });
  });
  describe(
    'deployed over NATS: both fronts reach the one successor subject, served by a queue group of two replicas',
    { skip: needs(NATS_SERVER_PACKAGE) },
    () => {
      let nats: NatsServer;
      const units: RunningUnit[] = [];

      before(async () => {
        const planDir = join(tempDir(), 'plan-nats');
        writeSharedPlan(out, planDir);
        nats = await startNatsServer();
        for (let i = 0; i < 2; i++) units.push(await startUnit(planDir, 'successor', '--nats', nats.url));
        for (const f of FRONTS) units.push(await startUnit(planDir, f.name, '--nats', nats.url, '--hop-timeout-ms', '5000'));
      });

      after(async () => {
        for (const u of units) await u.stop();
        await nats?.stop();
      });

      it('answers as the single-process composition', async () => {
        for (const [i, f] of FRONTS.entries()) for (const thresholds of [[0], [0.7]]) await expectComposition(units[2 + i].url, f.name, thresholds);
      });
    },
  );
});
