import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { calibrateNetwork } from '../../src/calibrate/index.ts';
import { splitModel, writePlan } from '../../src/cascade/plan.ts';
import { mnistSplits, subset, type DatasetSplits } from '../../src/data/index.ts';
import { loadOnnxruntimeNode } from '../../src/engine/ort/node-engine.ts';
import type { Batch, LoadedNetwork } from '../../src/engine/types.ts';
import { getCriterion } from '../../src/exit/index.ts';
import { evaluateExits } from '../../src/infer/index.ts';
import { runAllExits } from '../../src/infer/all-exits.ts';
import { decodeFrame, encodeFrame } from '../../src/io/frame.ts';
import { loadModelDir } from '../../src/io/model-dir.ts';
import { importOnnxDir } from '../../src/open/import-onnx.ts';
import { openModel } from '../../src/open/open-model.ts';
import { addExits } from '../../src/train/add-exits.ts';
import { DEFAULT_TRAIN_OPTIONS } from '../../src/train/index.ts';
import { quantileScore } from '../cascade/seeded-resnet.ts';
import { expectSame, startUnit, type RunningUnit } from '../cascade/units.ts';
import { maxAbsDiff, tempDir } from '../helpers.ts';
import { needs, PYTHON3_TORCH_PACKAGE, SYSTEM_PYTHON } from '../system-packages.ts';

const SCRIPT = 'examples/pytorch-trunk/train_export.py';
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const CHECK = 32;

function softmaxRows(logits: Float32Array, classes: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let o = 0; o < logits.length; o += classes) {
    const row = logits.subarray(o, o + classes);
    const max = Math.max(...row);
    const sum = row.reduce((a, v) => a + Math.exp(v - max), 0);
    for (let c = 0; c < classes; c++) out[o + c] = Math.exp(row[c] - max) / sum;
  }
  return out;
}

describe(
  'a real PyTorch trunk: trained in torch, exported as NCHW segments, imported, given an exit, calibrated and split',
  { skip: needs(PYTHON3_TORCH_PACKAGE) },
  () => {
    let splits: DatasetSplits;
    let chain: string;
    let model: string;
    let net: LoadedNetwork;
    let torchReport: { torch: string; trainAccuracy: number };
    const units: RunningUnit[] = [];

    before(async () => {
      const all = mnistSplits(1);
      const first = (n: number) => Uint32Array.from({ length: n }, (_, i) => i);
      splits = { ...all, train: subset(all.train, first(2000)), validation: subset(all.validation, first(500)), test: subset(all.test, first(300)) };
      chain = tempDir();
      const digits = join(tempDir(), 'digits.safetensors');
      writeFileSync(
        digits,
        encodeFrame({
          x: { dtype: 'F32', shape: [splits.train.count, 28, 28, 1], data: splits.train.x },
          y: { dtype: 'F32', shape: [splits.train.count], data: Float32Array.from(splits.train.y) },
          check: { dtype: 'F32', shape: [CHECK, 28, 28, 1], data: splits.test.x.subarray(0, CHECK * 784) },
        }),
      );
      const { stdout } = await promisify(execFile)(SYSTEM_PYTHON, [SCRIPT, digits, chain, '--epochs', '2', '--seed', '1', '--threads', '1'], {
        timeout: 120_000,
      });
      torchReport = JSON.parse(stdout.trim().split('\n').at(-1)!);
      await importOnnxDir(chain, await loadOnnxruntimeNode(), {
        classes: [...all.train.classes],
        inputShape: [28, 28, 1],
        inputLayout: 'nchw',
        exitOutput: 'logits',
        criterion: 'entropy',
        noExits: true,
      });
      model = tempDir();
      await addExits({
        from: chain,
        out: model,
        exits: [{ position: 1, head: 'conv1' }],
        splits,
        options: { ...DEFAULT_TRAIN_OPTIONS, mode: 'frozen', epochs: 4, batchSize: 64, seed: 3 },
        backend: 'wasm',
        maxDrop: 0.01,
        ort: loadOnnxruntimeNode,
        log: () => {},
      });
      ({ net } = await openModel(model));
    });

    after(async () => {
      for (const u of units) await u.stop();
      net?.dispose();
    });

    it('imports as a trunk of three NCHW segments whose final exit gives torch’s own probabilities', async () => {
      assert.ok(torchReport.trainAccuracy > 0.6, `torch trained to ${torchReport.trainAccuracy}`);
      const imported = loadModelDir(chain);
      assert.deepEqual(imported.manifest.onnx?.stageSegments, [3]);
      assert.deepEqual(imported.spec.stages[0].output, [256]);
      const { net: trunk } = await openModel(chain);
      const probs = await trunk.exit(1, await trunk.stage(1, { data: splits.test.x.slice(0, CHECK * 784), shape: [CHECK, 28, 28, 1] }));
      trunk.dispose();
      const logits = decodeFrame(readFileSync(join(chain, 'torch-logits.safetensors'))).tensors.logits.data as Float32Array;
      assert.ok(maxAbsDiff(probs.data, softmaxRows(logits, 10)) < 1e-5, `max difference ${maxAbsDiff(probs.data, softmaxRows(logits, 10))}`);
    });

    it('add-exits keeps torch’s segments byte for byte; after calibration, the early exit holds the budget on unseen digits', async () => {
      for (let k = 1; k <= 3; k++) assert.equal(sha(join(model, `stage_${k}.onnx`)), sha(join(chain, `stage_${k}.onnx`)), `stage_${k}.onnx`);
      assert.deepEqual(loadModelDir(model).manifest.onnx?.stageSegments, [1, 2]);
      const budget = 0.02;
      const { chosen } = await calibrateNetwork(net, splits.validation, {
        criterion: getCriterion('entropy'),
        constraint: { maxDrop: budget },
        constraintText: 'test',
        data: 'mnist',
        profile: { batch1Samples: 50, batchSize: 100 },
      });
      assert.ok(chosen.exitShare[0] > 0.2, `share leaving at exit 1: ${chosen.exitShare[0]}`);
      const evaluation = await evaluateExits(net, splits.test, { thresholds: chosen.thresholds });
      assert.ok(evaluation.exitShare[0] > 0.2);
      // 300 unseen digits: the budget, with two more points for their noise.
      assert.ok(evaluation.accuracy >= evaluation.finalAccuracy - budget - 0.02, `early-exit ${evaluation.accuracy} vs final ${evaluation.finalAccuracy}`);
    });

    it('split at the exit: the device unit hands NCHW features on as NHWC, and two unit processes answer as the whole network does', async () => {
      const planDir = join(tempDir(), 'plan');
      const plan = writePlan(planDir, splitModel(loadModelDir(model), { at: [1], names: ['device', 'cloud'] }));
      assert.deepEqual(plan.units[1].inputShape, [14, 14, 8], 'torch’s [8, 14, 14] as [height, width, channels]');
      assert.equal(sha(join(planDir, 'device', 'stage_1.onnx')), sha(join(chain, 'stage_1.onnx')));
      assert.equal(sha(join(planDir, 'cloud', 'stage_1.onnx')), sha(join(chain, 'stage_2.onnx')));
      assert.equal(sha(join(planDir, 'cloud', 'stage_2.onnx')), sha(join(chain, 'stage_3.onnx')));
      const cloud = await startUnit(planDir, 'cloud');
      units.push(await startUnit(planDir, 'device', '--successor', cloud.url), cloud);
      const x: Batch = { data: splits.test.x.slice(0, 60 * 784), shape: [60, 28, 28, 1] };
      const all = await runAllExits(net, x);
      for (const share of [0.5, 0]) {
        const thresholds = [share === 0 ? 0 : quantileScore(all.probs[0], all.classes, share)];
        const results = await expectSame(net, units[0], plan.model, x, thresholds, (exit) => (exit === 1 ? 'device' : 'cloud'));
        assert.ok(
          results.some((r) => r.unit === 'cloud'),
          'some digits cross to the cloud unit',
        );
      }
    });
  },
);
