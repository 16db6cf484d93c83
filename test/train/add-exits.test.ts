import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { calibrateNetwork } from '../../src/calibrate/index.ts';
import { mnistSplits, subset, type DatasetSplits } from '../../src/data/index.ts';
import { loadOnnxruntimeNode } from '../../src/engine/ort/node-engine.ts';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { getCriterion } from '../../src/exit/index.ts';
import { evaluateExits } from '../../src/infer/index.ts';
import { loadModelDir, loadTrainState } from '../../src/io/index.ts';
import { exportModelDirOnnx } from '../../src/open/export-onnx.ts';
import { openModel } from '../../src/open/open-model.ts';
import { validateSpec } from '../../src/spec/validate.ts';
import type { NetworkSpec } from '../../src/spec/types.ts';
import { addExits, resolvePositions, type AddExitsRun } from '../../src/train/add-exits.ts';
import { headLayers, parseHead } from '../../src/train/exit-heads.ts';
import { trainHead } from '../../src/train/head-training.ts';
import { DEFAULT_TRAIN_OPTIONS } from '../../src/train/index.ts';
import { restage, trunkCut } from '../../src/train/trunk-cut.ts';
import { maxAbsDiff, stripes, tempDir } from '../helpers.ts';
import { importedLenetChain } from './lenet-chain.ts';

const LENET = 'models/lenet-mnist';
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const filesOf = (dir: string) => Object.fromEntries(readdirSync(dir).map((f) => [f, sha(join(dir, f))]));

/** MNIST with a small train split, so heads train in seconds. */
function smallSplits(): DatasetSplits {
  const all = mnistSplits(1);
  const first = (n: number) => Uint32Array.from({ length: n }, (_, i) => i);
  return { ...all, train: subset(all.train, first(1500)), validation: subset(all.validation, first(500)), test: subset(all.test, first(500)) };
}

function run(from: string, out: string, splits: DatasetSplits, exits: AddExitsRun['exits'], epochs = 2): AddExitsRun {
  return {
    from,
    out,
    exits,
    splits,
    options: { ...DEFAULT_TRAIN_OPTIONS, mode: 'frozen', epochs, batchSize: 64, seed: 3 },
    backend: 'wasm',
    maxDrop: 0.01,
    ort: loadOnnxruntimeNode,
    log: () => {},
  };
}

/** The trunk's weights in trunk order (layer by layer, over all stages), whatever the staging. */
function trunkWeights(spec: NetworkSpec, weights: Record<string, Float32Array>): Float32Array[] {
  const out: Float32Array[] = [];
  spec.stages.forEach((s, i) =>
    s.layers.forEach((_, li) => {
      const prefix = `stage${i + 1}.${li}.`;
      for (const name of Object.keys(weights).sort()) if (name.startsWith(prefix)) out.push(weights[name]);
    }),
  );
  return out;
}

describe('add-exits', () => {
  let splits: DatasetSplits;
  before(async () => {
    await useBackend('wasm');
    splits = smallSplits();
  });

  it('a head after layer 1 of the shipped LeNet leaves the trunk bit for bit as it was, and the source directory untouched', async () => {
    const before = filesOf(LENET);
    const out = tempDir();
    const outcome = await addExits(run(LENET, out, splits, [{ position: 1, head: 'conv1' }]));
    assert.deepEqual(filesOf(LENET), before);
    const source = loadModelDir(LENET);
    const result = loadModelDir(out);
    assert.equal(result.spec.stages.length, 2);
    assert.deepEqual(result.spec.stages[0].layers, [source.spec.stages[0].layers[0]]);
    const a = trunkWeights(source.spec, source.weights);
    const b = trunkWeights(result.spec, result.weights);
    assert.equal(a.length, b.length);
    a.forEach((w, i) => assert.deepEqual(Buffer.from(b[i].buffer, b[i].byteOffset, b[i].byteLength), Buffer.from(w.buffer, w.byteOffset, w.byteLength)));
    // The final exit's answers are the trunk's own, on tfjs and on onnxruntime (the result has ONNX files, as the source).
    const x = { data: splits.test.x.subarray(0, 20 * 784), shape: [20, 28, 28, 1] };
    for (const engine of ['tfjs', 'ort'] as const) {
      const { net: original } = await openModel(LENET, { engine });
      const { net: added } = await openModel(out, { engine });
      const p0 = await original.exit(1, await original.stage(1, x));
      const p1 = await added.exit(2, await added.stage(2, await added.stage(1, x)));
      assert.ok(maxAbsDiff(p0.data, p1.data) < 1e-5, engine);
      original.dispose();
      added.dispose();
    }
    assert.equal(outcome.heads.length, 1);
    assert.ok(outcome.heads[0].validationAccuracy > 0.5, `head accuracy ${outcome.heads[0].validationAccuracy}`);
    assert.ok(result.manifest.onnx, 'ONNX files written');
    assert.equal(result.spec.policy.thresholds.length, 1);
  });

  it("--at counts stage boundaries and the spec's branch points, --cut layers; positions out of range are refused", async () => {
    const model = loadModelDir(LENET);
    const cut = await trunkCut(model);
    assert.deepEqual(resolvePositions(cut, 'layer', [7, 1, 7], 1), [1, 7]);
    assert.deepEqual(model.spec.branchPoints, [1], "LeNet names B-LeNet's boundary");
    assert.deepEqual(resolvePositions(cut, 'stage-boundary', [1], 1), [1]);
    assert.throws(() => resolvePositions(cut, 'stage-boundary', [2], 1), { code: 'EXITS_BAD_POSITION' });
    const { branchPoints: _, ...plain } = model.spec;
    const plainCut = await trunkCut({ ...model, spec: plain });
    assert.throws(() => resolvePositions(plainCut, 'stage-boundary', [1], 1), { code: 'EXITS_BAD_POSITION' });
    assert.throws(() => resolvePositions(cut, 'layer', [11], 1), { code: 'EXITS_BAD_POSITION' });
    const b = loadModelDir('models/b-lenet-mnist');
    assert.deepEqual(resolvePositions(await trunkCut(b), 'stage-boundary', [1], 2), [1]);
  });

  it('re-staging moves layers between stages under new names and keeps the existing exits', async () => {
    const b = loadModelDir('models/b-lenet-mnist');
    const cut = await trunkCut(b);
    const r = restage(b, cut, [4]);
    assert.equal(r.spec.stages.length, 3);
    assert.deepEqual(r.keptExit, [1, null, 2]);
    assert.deepEqual(r.spec.exits[0], b.spec.exits[0]);
    assert.equal(r.weights['stage2.2.kernel'], b.weights['stage2.2.kernel']);
    assert.equal(r.weights['stage3.2.kernel'], b.weights['stage2.5.kernel']);
    assert.equal(r.weights['exit3.0.kernel'], b.weights['exit2.0.kernel']);
  });

  it('re-staging at a branch point makes it a stage boundary; the other branch points stay, numbered as before', async () => {
    const lenet = loadModelDir(LENET);
    const spec: NetworkSpec = { ...lenet.spec, branchPoints: [1, 4] };
    const cut = await trunkCut({ ...lenet, spec });
    assert.deepEqual(cut.boundaries, [1, 4]);
    const r = restage({ ...lenet, spec }, cut, [1]);
    assert.deepEqual(r.spec.branchPoints, [4]);
    const again = await trunkCut({ ...lenet, spec: r.spec });
    assert.deepEqual(again.boundaries, [1, 4], 'the same positions: stage boundary 1, branch point 4');
    assert.equal(restage(lenet, await trunkCut(lenet), [1]).spec.branchPoints, undefined);
  });

  it('heads: built-in names, JSON, and clear errors for a head that does not fit', () => {
    assert.equal(parseHead('conv2'), 'conv2');
    assert.deepEqual(parseHead('[{"type":"flatten"},{"type":"dense","units":10}]'), [{ type: 'flatten' }, { type: 'dense', units: 10 }]);
    assert.throws(() => parseHead('conv9'), { code: 'HEAD_UNKNOWN' });
    assert.throws(() => parseHead('[{"type":'), { code: 'HEAD_BAD_SPEC' });
    assert.equal(headLayers(undefined, [84], 10, 'x').length, 1);
    assert.throws(() => headLayers('conv1', [84], 10, 'after layer 10'), { code: 'HEAD_BAD_SPEC' });
    assert.throws(() => headLayers([{ type: 'flatten' }, { type: 'dense', units: 3 }], [5, 5, 2], 10, 'x'), { code: 'HEAD_BAD_SPEC' });
  });

  it('an imported spec: native heads need the stage output shape and must end in one logit per class', () => {
    const spec = (output: number[] | undefined, units: number): unknown => ({
      format: 'branchy/1',
      name: 'mixed',
      input: { shape: [28, 28, 1] },
      classes: ['a', 'b'],
      stages: [{ layers: [], ...(output ? { output } : {}) }, { layers: [] }],
      exits: [{ layers: [{ type: 'flatten' }, { type: 'dense', units }] }, { layers: [] }],
      policy: { criterion: 'entropy', thresholds: [0] },
      imported: 'onnx',
    });
    assert.equal(validateSpec(spec([4, 4, 3], 2)).stages[0].output?.length, 3);
    assert.throws(() => validateSpec(spec(undefined, 2)), { code: 'SPEC_VALUE' });
    assert.throws(() => validateSpec(spec([4, 4, 3], 3)), { code: 'SPEC_EXITS' });
    assert.throws(() => validateSpec(spec([0, 4, 3], 2)), { code: 'SPEC_VALUE' });
  });

  it('head training checkpoints every epoch, and a resumed run ends where an uninterrupted one does', async () => {
    const data = stripes(300, 5);
    const job = {
      boundary: [6, 6, 1],
      layers: headLayers('pool-fc', [6, 6, 1], 3, 'x'),
      classes: data.classes,
      train: { x: data.x, y: data.y },
      validation: { x: data.x, y: data.y },
      options: { ...DEFAULT_TRAIN_OPTIONS, mode: 'frozen' as const, epochs: 2, batchSize: 32, seed: 4 },
    };
    const straight = await trainHead(job);
    const checkpoint = join(tempDir(), 'head');
    await trainHead({ ...job, options: { ...job.options, epochs: 1 }, checkpoint });
    assert.equal(loadTrainState(checkpoint).epoch, 1);
    const resumed = await trainHead({ ...job, checkpoint, resume: true });
    for (const [name, w] of Object.entries(straight.weights)) assert.ok(maxAbsDiff(w, resumed.weights[name]) < 1e-6, name);
    assert.equal(resumed.validationAccuracy, straight.validationAccuracy);
  });

  describe('on an imported ONNX trunk (import-onnx --no-exits)', () => {
    let chain: string;
    before(async () => {
      chain = await importedLenetChain();
    });

    it('imports as one stage of three segments; --cut is refused', async () => {
      const model = loadModelDir(chain);
      assert.equal(model.spec.stages.length, 1);
      assert.deepEqual(model.manifest.onnx?.stageSegments, [3]);
      assert.deepEqual(model.spec.stages[0].output, [84]);
      const cut = await trunkCut(model, loadOnnxruntimeNode);
      assert.equal(cut.pieces, 3);
      assert.deepEqual(cut.boundaryShape(1), [30, 30, 5]);
      assert.throws(() => resolvePositions(cut, 'layer', [1], 1), { code: 'EXITS_CUT_NEEDS_LAYERS' });
    });

    it('add-exits keeps the segment files byte for byte, and export keeps them; after calibrate, eval answers early at the accuracy budget and at lower expected cost than the trunk alone', async () => {
      const out = tempDir();
      await addExits(run(chain, out, splits, [{ position: 1 }], 3));
      for (let k = 1; k <= 3; k++) assert.equal(sha(join(out, `stage_${k}.onnx`)), sha(join(chain, `stage_${k}.onnx`)), `stage_${k}.onnx`);
      assert.equal(sha(join(out, 'exit_2.onnx')), sha(join(chain, 'exit_3.onnx')));
      const exported = filesOf(out);
      exportModelDirOnnx(out);
      for (const f of ['stage_1.onnx', 'stage_2.onnx', 'stage_3.onnx', 'exit_1.onnx', 'exit_2.onnx']) assert.equal(sha(join(out, f)), exported[f], f);
      const model = loadModelDir(out);
      assert.deepEqual(model.manifest.onnx?.stageSegments, [1, 2]);
      assert.equal(model.spec.exits[0].layers.length > 0, true);
      assert.deepEqual(Object.keys(model.manifest.weights), ['exit_1.safetensors']);
      const { net } = await openModel(out);
      assert.equal(net.runtime.startsWith('ort'), true);
      const criterion = getCriterion('entropy');
      const budget = 0.01;
      const { chosen, calibration } = await calibrateNetwork(net, splits.validation, {
        criterion,
        constraint: { maxDrop: budget },
        constraintText: 'test',
        data: 'mnist',
        profile: { batch1Samples: 100, batchSize: 100 },
      });
      assert.ok(chosen.exitShare[0] > 0.2, `share leaving at exit 1: ${chosen.exitShare[0]}`);
      // The price is the measured cost to each exit, weighted by the share leaving there (bench/exits-anywhere.ts times it).
      const costs = calibration.profile.costToExit;
      assert.ok(costs[0] > 0 && costs[0] < costs[1], `cost to exit 1 ${costs[0]} ms, to exit 2 ${costs[1]} ms`);
      assert.ok(Math.abs(chosen.expectedCost - chosen.exitShare.reduce((sum, share, k) => sum + share * costs[k], 0)) < 1e-9);
      // On the test split, which the thresholds never saw: within the budget, with one more point for 500 samples' noise.
      const evaluation = await evaluateExits(net, splits.test, { thresholds: chosen.thresholds });
      assert.ok(evaluation.exitShare[0] > 0.2);
      assert.ok(evaluation.accuracy >= evaluation.finalAccuracy - budget - 0.01, `early-exit ${evaluation.accuracy} vs final ${evaluation.finalAccuracy}`);
      net.dispose();
    });
  });
});
