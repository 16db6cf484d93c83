import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeFeatures } from '../../src/cascade/feature-codec.ts';
import { readSharedPlan, writeSharedPlan, type SharedDeploymentPlan } from '../../src/cascade/shared-plan.ts';
import { BranchyError } from '../../src/common/errors.ts';
import { loadDataSource, type DatasetSplits } from '../../src/data/index.ts';
import type { Batch } from '../../src/engine/types.ts';
import { firstPassingExit, getCriterion } from '../../src/exit/index.ts';
import { argmaxRow, runAllExits, runSharedPathAllExits, sharedPathNetwork, type AllExitsResult, type SharedPath } from '../../src/infer/index.ts';
import { ADAPTERS_DIR, readManifest, readSharedInfo, saveModelDir, type SharedAnswers, type SharedSuccessorInfo } from '../../src/io/index.ts';
import { openModel } from '../../src/open/open-model.ts';
import { attachFront, DEFAULT_TRAIN_OPTIONS, runTraining, trainSharedSuccessor } from '../../src/train/index.ts';
import { predict, rows, startUnit, type RunningUnit } from '../cascade/units.ts';
import { branchy, tempDir, tinySpec } from '../helpers.ts';
import { startNatsServer, type NatsServer } from '../nats-server.ts';
import { FASHION_MNIST_PACKAGE, NATS_SERVER_PACKAGE, needs } from '../system-packages.ts';

/** Fronts of two architectures: the shipped B-LeNet on digits, and a B-ConvNet on Fashion-MNIST trained in `before`. */
const FRONTS = [
  { name: 'digits', dir: 'models/b-lenet-mnist', data: 'mnist' },
  { name: 'fashion', dir: '', data: 'fashion-mnist' },
];
/** Fronts attached later: the digits B-LeNet again, and a B-ConvNet on digits (a model the successor never saw). */
const LATE = [
  { name: 'digits-late', dir: 'models/b-lenet-mnist', data: 'mnist' },
  { name: 'digits-conv', dir: '', data: 'mnist' },
];
/** Accuracy the successor must reach on each domain's test samples, answering every one, after this short run. */
const SUCCESSOR_FLOOR: Record<string, number> = { digits: 0.75, fashion: 0.65, 'digits-late': 0.75, 'digits-conv': 0.7 };
/** Each B-ConvNet front: one epoch on its domain's first 1000 train samples (its early exit trained with it). */
const CONV_FRONT = { epochs: 1, trainSamples: 1000 };
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

describe('a successor shared by a B-LeNet digits front and a B-ConvNet Fashion-MNIST front', { skip: needs(FASHION_MNIST_PACKAGE) }, () => {
  let out: string;
  let info: SharedSuccessorInfo;
  let splits: Record<string, DatasetSplits>;
  let frontSums: Record<string, string>[];
  const run = () => ({ backend: 'wasm' as const, splitSeed: 1, trainSamples: 1500, testSamples: 500, maxDrop: 0.01, log: () => {}, splits, options: OPTIONS });
  const samples: Record<string, Batch> = {};
  const sampleOf = (name: string) => {
    const data = [...FRONTS, ...LATE].find((f) => f.name === name)!.data;
    return (samples[name] ??= { data: splits[data].test.x.slice(0, 80 * 784), shape: [80, 28, 28, 1] });
  };

  /** Front `name`'s path on onnxruntime, in a class space: `all` of it on its 80 samples, then its networks freed. */
  async function onPath<T>(name: string, answers: SharedAnswers, all: (path: SharedPath, x: Batch) => Promise<T>): Promise<T> {
    const open = async (dir: string) => (await openModel(dir, { engine: 'ort' })).net;
    const front = info.fronts.find((x) => x.name === name)!;
    const path = {
      front: await open(front.dir),
      cut: 1,
      adapter: await open(join(out, ADAPTERS_DIR, name)),
      successor: await open(out),
      classMap: front.classMap,
    };
    const result = await all({ ...path, answers }, sampleOf(name));
    [path.front, path.adapter, path.successor].forEach((n) => n.dispose());
    return result;
  }

  /** Every exit of front `name`'s path on its 80 samples, in one process on onnxruntime, in a class space. */
  const pathTable = (name: string, answers: SharedAnswers): Promise<AllExitsResult> => onPath(name, answers, runSharedPathAllExits);

  const tables = new Map<string, AllExitsResult>();

  /**
   * Asserts that front `name` at `url` answers as its path does in one process, at these thresholds (sent with the
   * request, or, with `sent: false`, the ones the unit holds).
   */
  async function expectComposition(url: string, name: string, thresholds: number[], answers: SharedAnswers = 'front', sent = true): Promise<unknown> {
    const criterion = getCriterion('entropy');
    const key = `${name}/${answers}`;
    if (!tables.has(key)) tables.set(key, await pathTable(name, answers));
    const table = tables.get(key)!;
    const k = table.classes;
    const expected = Array.from({ length: table.count }, (_, i) => {
      const scores = table.probs.map((p) => criterion.score(p, k, i * k));
      const exit = firstPassingExit(scores, thresholds);
      return { label: argmaxRow(table.probs[exit], i * k, k), exit: exit + 1, score: scores[exit] };
    });
    const { status, results, body } = await predict(url, name, rows(sampleOf(name)), sent ? thresholds : undefined);
    assert.equal(status, 200);
    assert.deepEqual(
      results.map((r) => [r.label, r.exit, r.unit, r.degraded]),
      expected.map((r) => [r.label, r.exit, r.exit === 1 ? name : 'successor', false]),
      `${name} [${thresholds}] ${answers}`,
    );
    results.forEach((r, i) => assert.ok(Math.abs(r.score - expected[i].score) <= 1e-5 * Math.max(1, expected[i].score), `${name} sample ${i}`));
    if (thresholds[0] === 0) assert.ok(results.every((r) => r.hops === 1 && r.path[0].unit === 'successor'));
    return body;
  }

  /** Trains a B-ConvNet front on a domain, as `branchy train --model b-convnet` does. */
  async function convFront(data: string): Promise<string> {
    const dir = join(tempDir(), `b-convnet-${data}`);
    await runTraining({
      model: 'b-convnet',
      data,
      out: dir,
      backend: 'wasm',
      options: { ...DEFAULT_TRAIN_OPTIONS, epochs: CONV_FRONT.epochs, beta1: 0.9 },
      splitSeed: 1,
      resume: false,
      trainSamples: CONV_FRONT.trainSamples,
      maxDrop: 0.01,
      log: () => {},
      splits: splits[data],
    });
    return dir;
  }

  before(async () => {
    out = join(tempDir(), 'successor');
    splits = Object.fromEntries(FRONTS.map((f) => [f.data, loadDataSource(f.data, 1)]));
    FRONTS[1].dir = await convFront('fashion-mnist');
    LATE[1].dir = await convFront('mnist');
    frontSums = FRONTS.map((f) => checksums(f.dir));
    ({ info } = await trainSharedSuccessor({ ...run(), fronts: FRONTS, out }));
  });

  it("leaves the fronts' files bit-for-bit unchanged", () => {
    FRONTS.forEach((f, i) => assert.deepEqual(checksums(f.dir), frontSums[i], f.dir));
  });

  it('records fronts of two architectures, with different feature shapes at their cuts, mapped into the 20-class union', () => {
    assert.deepEqual(readSharedInfo(out), info);
    assert.deepEqual(
      FRONTS.map((f) => readManifest(f.dir).spec.name),
      ['b-lenet', 'b-convnet'],
    );
    assert.deepEqual(
      info.fronts.map((f) => [f.name, f.cut, f.classMap, f.mode, f.featureShape]),
      [
        ['digits', 1, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'successor', [30, 30, 5]],
        ['fashion', 1, [10, 11, 12, 13, 14, 15, 16, 17, 18, 19], 'successor', [15, 15, 16]],
      ],
    );
    for (const f of info.fronts) assert.deepEqual(readManifest(join(out, f.adapter)).spec.input.shape, f.featureShape);
    const manifest = JSON.parse(readFileSync(join(out, 'branchy.json'), 'utf8')) as { spec: { classes: string[] }; training: { options: { mode: string } } };
    assert.equal(manifest.spec.classes.length, 20);
    assert.equal(manifest.training.options.mode, 'successor');
  });

  it(`answers every domain above its floor (digits ${SUCCESSOR_FLOOR.digits}, fashion ${SUCCESSOR_FLOOR.fashion}) with the successor alone`, () => {
    for (const f of info.fronts) assert.ok(f.test.successorOnly >= SUCCESSOR_FLOOR[f.name], `${f.name}: ${f.test.successorOnly}`);
  });

  it("chooses each front's thresholds on its own validation split within the allowed drop, in its classes and in the union", () => {
    for (const f of info.fronts) {
      for (const c of [f, f.union!]) {
        assert.equal(c.policy.thresholds.length, 1);
        assert.equal(c.calibration.split, 'validation');
        assert.ok(c.calibration.accuracy >= c.calibration.finalAccuracy - 0.01 - 1e-9, f.name);
        assert.ok(Math.abs(c.calibration.exitShare.reduce((a, b) => a + b, 0) - 1) < 1e-9);
      }
      // The successor's argmax over 20 classes can only be wrong where its argmax over the front's 10 is.
      assert.ok(f.union!.test.successorOnly <= f.test.successorOnly + 1e-9, f.name);
      assert.equal(f.union!.test.frontAlone, f.test.frontAlone);
    }
  });

  it('the path as one network (sharedPathNetwork, which training times) has the composition’s every-exit table, in both class spaces', async () => {
    for (const answers of ['front', 'union'] as const) {
      const asOne = await onPath('fashion', answers, (path, x) => runAllExits(sharedPathNetwork(path), x));
      assert.deepEqual(asOne, await pathTable('fashion', answers), answers);
      assert.equal(asOne.classes, answers === 'union' ? 20 : 10);
    }
  });

  describe('attach-front: the same model again, and a front of another architecture the successor never saw', () => {
    let successorSums: Record<string, string>;
    let adapterSums: Record<string, string>[];
    const before_: Record<string, AllExitsResult> = {};

    before(async () => {
      successorSums = checksums(out);
      delete successorSums['branchy.json'];
      adapterSums = FRONTS.map((f) => checksums(join(out, ADAPTERS_DIR, f.name)));
      for (const f of FRONTS) for (const answers of ['front', 'union'] as const) before_[`${f.name}/${answers}`] = await pathTable(f.name, answers);
      for (const front of LATE) ({ info } = await attachFront({ ...run(), front, successor: out }));
    });

    it("trains only the new adapters: the successor's weights, the old adapters, the fronts and the old paths' answers are unchanged", async () => {
      const now = checksums(out);
      delete now['branchy.json'];
      assert.deepEqual(now, successorSums);
      FRONTS.forEach((f, i) => assert.deepEqual(checksums(join(out, ADAPTERS_DIR, f.name)), adapterSums[i], f.name));
      FRONTS.forEach((f, i) => assert.deepEqual(checksums(f.dir), frontSums[i], f.dir));
      for (const f of FRONTS)
        for (const answers of ['front', 'union'] as const) assert.deepEqual(await pathTable(f.name, answers), before_[`${f.name}/${answers}`]);
      assert.deepEqual(
        info.fronts.map((f) => f.name),
        ['digits', 'fashion', 'digits-late', 'digits-conv'],
      );
    });

    it(`the attached fronts answer digits above their floors (${SUCCESSOR_FLOOR['digits-late']}, ${SUCCESSOR_FLOOR['digits-conv']}), each with its own feature shape`, () => {
      for (const name of ['digits-late', 'digits-conv']) {
        const late = info.fronts.find((f) => f.name === name)!;
        assert.equal(late.mode, 'attach');
        assert.deepEqual(late.classMap, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert.ok(late.test.successorOnly >= SUCCESSOR_FLOOR[name], `${name}: ${late.test.successorOnly}`);
        assert.ok(late.union !== undefined);
      }
      assert.deepEqual(info.fronts.find((f) => f.name === 'digits-conv')!.featureShape, [15, 15, 16]);
    });

    it('refuses a name already attached and a front with classes the successor does not know', async () => {
      await assert.rejects(attachFront({ ...run(), front: LATE[0], successor: out }), (e: BranchyError) => e.code === 'TRAIN_FRONT_EXISTS');
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

  /** The plan's units as processes over HTTP: the successor first, then the fronts `names`. */
  async function deploy(planDir: string, names: readonly string[], units: RunningUnit[]): Promise<void> {
    const successor = await startUnit(planDir, 'successor');
    units.push(successor);
    for (const name of names) units.push(await startUnit(planDir, name, '--successor', successor.url, '--hop-timeout-ms', '5000'));
  }

  describe('deployed as processes over HTTP (three fronts of two architectures, one successor)', () => {
    let planDir: string;
    let plan: SharedDeploymentPlan;
    const units: RunningUnit[] = [];
    const names = ['digits', 'fashion', 'digits-conv'];

    before(async () => {
      planDir = join(tempDir(), 'plan');
      plan = writeSharedPlan(out, planDir);
      await deploy(planDir, names, units);
    });

    after(async () => {
      for (const u of units) await u.stop();
    });

    it("writes a plan of one front unit per front and one successor, answering in each front's classes", () => {
      assert.deepEqual(readSharedPlan(planDir), plan);
      assert.equal(plan.answers, 'front');
      assert.deepEqual(
        plan.fronts.map((f) => [f.name, f.network]),
        [
          ['digits', 'b-lenet'],
          ['fashion', 'b-convnet'],
          ['digits-late', 'b-lenet'],
          ['digits-conv', 'b-convnet'],
        ],
      );
      assert.deepEqual(plan.successor.inputShape, [8, 8, 16]);
    });

    it("answers (label, exit, score, unit) as the single-process composition of front, adapter and successor, in each front's classes", async () => {
      for (const [i, name] of names.entries()) for (const thresholds of THRESHOLD_VECTORS) await expectComposition(units[i + 1].url, name, thresholds);
    });

    it('serves both fronts at once from the one successor', async () => {
      const [a, b] = await Promise.all(FRONTS.map((f, i) => predict(units[i + 1].url, f.name, rows(sampleOf(f.name)), [0])));
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

  describe('a plan that answers in the union of classes (split --answers union)', () => {
    let planDir: string;
    let plan: SharedDeploymentPlan;
    const units: RunningUnit[] = [];

    before(async () => {
      planDir = join(tempDir(), 'plan-union');
      plan = writeSharedPlan(out, planDir, { answers: 'union' });
      await deploy(planDir, ['digits', 'fashion'], units);
    });

    after(async () => {
      for (const u of units) await u.stop();
    });

    it("records answers: union, each front's union thresholds, and path ids apart from the front plan's", () => {
      assert.deepEqual(readSharedPlan(planDir), plan);
      assert.equal(plan.answers, 'union');
      assert.deepEqual(plan.successor.classes.length, 20);
      for (const f of plan.fronts) assert.deepEqual(f.policy.thresholds, info.fronts.find((x) => x.name === f.name)!.union!.policy.thresholds);
    });

    it('answers as the single-process composition in the union, front exits included (digits in 0..9, Fashion-MNIST in 10..19)', async () => {
      for (const [i, f] of FRONTS.entries()) for (const thresholds of THRESHOLD_VECTORS) await expectComposition(units[i + 1].url, f.name, thresholds, 'union');
      const [digits, fashion] = await Promise.all(FRONTS.map((f, i) => predict(units[i + 1].url, f.name, rows(sampleOf(f.name)), [2.3])));
      assert.ok(digits.results.every((r) => r.exit === 1 && r.label < 10));
      assert.ok(fashion.results.every((r) => r.exit === 1 && r.label >= 10));
      const body = fashion.body as { results: { class: string }[] };
      assert.ok(body.results.every((r) => r.class !== undefined && plan.successor.classes.slice(10).includes(r.class)));
    });

    it("the successor of a union plan refuses the frames of a front-classes plan's front, which answers degraded", async () => {
      const other = join(tempDir(), 'plan-front');
      const ids = writeSharedPlan(out, other).fronts.map((f) => f.pathId);
      assert.ok(ids.every((id) => !plan.fronts.some((f) => f.pathId === id)));
      const front = await startUnit(other, 'digits', '--successor', units[0].url, '--hop-timeout-ms', '5000');
      units.push(front);
      const { status, results } = await predict(front.url, 'digits', rows(sampleOf('digits')), [0]);
      assert.equal(status, 200);
      assert.ok(
        results.every((r) => r.degraded && r.exit === 1 && /CASCADE_WRONG_MODEL/.test(r.reason ?? '')),
        JSON.stringify(results[0]),
      );
    });
  });

  describe('a front unit holding a latency SLO over its link to the shared successor (real processes on 127.0.0.1)', () => {
    let planDir: string;
    let plan: SharedDeploymentPlan;
    const units: RunningUnit[] = [];

    before(async () => {
      planDir = join(tempDir(), 'plan-slo');
      plan = writeSharedPlan(out, planDir, { answers: 'union' });
      const successor = await startUnit(planDir, 'successor');
      units.push(successor);
      units.push(await startUnit(planDir, 'fashion', '--successor', successor.url, '--slo-ms', '500', '--probe-every-ms', '100', '--hop-timeout-ms', '5000'));
    });

    after(async () => {
      for (const u of units) await u.stop();
    });

    it("training stores each path's calibrated front, cheapest first, in both class spaces, starting at the chosen thresholds or a point at least as accurate", () => {
      for (const f of info.fronts) {
        for (const c of [f, f.union!]) {
          const front = c.front!;
          assert.equal(front.criterion, 'entropy');
          assert.equal(front.costToExit.length, f.cut + 1);
          // The digits B-LeNet's first exit beats this short-trained successor on every sample: one point, exit 1 for all.
          assert.ok(front.points.length >= (f.name === 'fashion' ? 2 : 1), `${f.name}: ${front.points.length} points`);
          front.points.forEach((p, i) => {
            assert.equal(p.thresholds.length, f.cut);
            assert.ok(Math.abs(p.exitShare.reduce((a, b) => a + b, 0) - 1) < 1e-9);
            if (i > 0) assert.ok(p.expectedCost > front.points[i - 1].expectedCost && p.accuracy > front.points[i - 1].accuracy, `${f.name} point ${i}`);
          });
          // Its costliest point is the most accurate: at least as accurate as the successor answering every sample.
          assert.ok(front.points.at(-1)!.accuracy >= c.calibration.finalAccuracy - 1e-12, f.name);
          const start = front.points[front.chosen];
          assert.ok(start.accuracy >= c.calibration.accuracy - 1e-12, `${f.name}: ${start.accuracy} < ${c.calibration.accuracy}`);
        }
      }
    });

    it("the plan carries each front's front in the plan's class space (union here)", () => {
      assert.deepEqual(readSharedPlan(planDir), plan);
      for (const f of plan.fronts) {
        const { criterion, points, chosen } = info.fronts.find((x) => x.name === f.name)!.union!.front!;
        assert.deepEqual(f.front, { criterion, points, chosen });
      }
    });

    it('measures the link from its probes and answers at the point in force, as the single-process composition, saying which', async () => {
      const front = plan.fronts.find((f) => f.name === 'fashion')!.front!;
      const deadline = Date.now() + 10_000;
      let slo: { operatingPoint: { index: number }; link: { rttMs: number | null; mbitPerS: number | null; hops: number } } | undefined;
      while (Date.now() < deadline) {
        slo = ((await (await fetch(`${units[1].url}/v1/unit`)).json()) as { slo?: typeof slo }).slo;
        if (slo && slo.link.rttMs !== null && slo.link.mbitPerS !== null && slo.link.hops >= 4) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(slo && slo.link.rttMs! > 0 && slo.link.mbitPerS! > 10, JSON.stringify(slo));
      assert.equal(slo.operatingPoint.index, front.chosen);
      const thresholds = front.points[front.chosen].thresholds;
      const body = (await expectComposition(units[1].url, 'fashion', thresholds, 'union', false)) as {
        operatingPoint?: { index: number; thresholds: number[] };
      };
      assert.deepEqual(body.operatingPoint, { ...body.operatingPoint, index: front.chosen, thresholds });
    });

    it('refuses --slo-ms on the successor unit, and on a front whose plan carries no calibrated front (CASCADE_NOT_CALIBRATED)', async () => {
      const onSuccessor = await branchy('unit', planDir, '--unit', 'successor', '--slo-ms', '50');
      assert.equal(onSuccessor.code, 2);
      assert.match(onSuccessor.stderr, /CASCADE_BAD_SLO: unit 'successor' is not the plan's first unit/);
      const bare = join(tempDir(), 'plan-bare');
      cpSync(planDir, bare, { recursive: true });
      const raw = JSON.parse(readFileSync(join(bare, 'plan.json'), 'utf8')) as SharedDeploymentPlan;
      writeFileSync(join(bare, 'plan.json'), JSON.stringify({ ...raw, fronts: raw.fronts.map(({ front: _, ...f }) => f) }));
      const r = await branchy('unit', bare, '--unit', 'fashion', '--slo-ms', '50', '--successor', units[0].url);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /CASCADE_NOT_CALIBRATED: plan of .* carries no calibrated front for front 'fashion'/);
      const [first, ...rest] = raw.fronts;
      writeFileSync(join(bare, 'plan.json'), JSON.stringify({ ...raw, fronts: [{ ...first, front: { ...first.front!, chosen: 99 } }, ...rest] }));
      assert.throws(
        () => readSharedPlan(bare),
        (e: BranchyError) => e.code === 'CASCADE_BAD_PLAN' && /fronts\[0\]\.front\.chosen' is 99/.test(e.message),
      );
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
