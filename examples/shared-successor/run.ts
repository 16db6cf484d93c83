/**
 * The shared successor on the shipped data, in one script: two front-ends (the shipped B-LeNets of digits and of
 * Fashion-MNIST) hand what their early exit cannot answer to one successor over 20 classes, trained tree-style on
 * their frozen features; a front attached later; networks of the same cost trained on one domain only.
 *
 *   node --import tsx examples/shared-successor/run.ts [out-dir] [--train-samples N] [--epochs N]
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { chooseThresholdsForAccuracy } from '../../src/calibrate/index.ts';
import { loadDataSource, subset, type Dataset } from '../../src/data/index.ts';
import { getCriterion } from '../../src/exit/index.ts';
import { allExitsOver, evaluateExits } from '../../src/infer/index.ts';
import { ADAPTERS_DIR, loadModelDir, modelIdOf, readManifest } from '../../src/io/index.ts';
import { openModel } from '../../src/open/open-model.ts';
import { formatTable, percent } from '../../src/report/text-table.ts';
import { networkFacts } from '../../src/spec/shapes.ts';
import { attachFront, sameCostSpec, trainNetwork, trainSharedSuccessor, TfjsNetwork, exitAccuracies } from '../../src/train/index.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const out = args[0] && !args[0].startsWith('--') ? args[0] : '/tmp/branchy-shared-successor';
const trainSamples = flag('--train-samples', 8000);
const epochs = flag('--epochs', 10);
const sameCostEpochs = flag('--same-cost-epochs', 5);
const testSamples = flag('--test-samples', 1000);
const maxDrop = 0.01;
const options = { epochs, batchSize: 64, learningRate: 2e-3, beta1: 0.9, beta2: 0.999, seed: 1, lrSchedule: 'cosine' as const };
const log = (line: string) => process.stdout.write(`${line}\n`);

rmSync(out, { recursive: true, force: true });
const fronts = [
  { name: 'digits', dir: 'models/b-lenet-mnist', data: 'mnist' },
  { name: 'fashion', dir: 'models/b-lenet-fashion-mnist', data: 'fashion-mnist' },
];
const splits = Object.fromEntries(fronts.map((f) => [f.data, loadDataSource(f.data, 1)]));
const checksums = () => fronts.map((f) => modelIdOf(readManifest(f.dir)));
const before = checksums();
const common = { backend: 'wasm' as const, splitSeed: 1, trainSamples, testSamples, maxDrop, log, splits };
const successorDir = join(out, 'successor');

let started = performance.now();
const { info } = await trainSharedSuccessor({ ...common, fronts, out: successorDir, options });
const successorSeconds = (performance.now() - started) / 1000;

started = performance.now();
const attached = await attachFront({ ...common, front: { ...fronts[0], name: 'digits-late' }, successor: successorDir, options });
const attachSeconds = (performance.now() - started) / 1000;
const unchanged = checksums().every((id, i) => id === before[i]);

// Networks of the same cost as each path, trained jointly (from scratch) on that domain alone.
const sameCost: { name: string; final: number; early: number; share: number; seconds: number }[] = [];
const successor = loadModelDir(successorDir);
for (const f of info.fronts) {
  const front = loadModelDir(f.dir);
  const adapter = loadModelDir(join(successorDir, ADAPTERS_DIR, f.name));
  const spec = sameCostSpec(front.spec, f.cut, adapter.spec, successor.spec);
  const s = splits[fronts.find((x) => x.name === f.name)!.data];
  const first = (ds: Dataset, n: number) =>
    subset(
      ds,
      Uint32Array.from({ length: Math.min(n, ds.count) }, (_, i) => i),
    );
  const train = first(s.train, trainSamples);
  const test = first(s.test, testSamples);
  const net = new TfjsNetwork({ ...spec, input: front.spec.input }, undefined, 1);
  started = performance.now();
  await trainNetwork(
    net,
    { train, validation: s.validation },
    { mode: 'joint', epochs: sameCostEpochs, batchSize: 64, learningRate: 1e-3, beta1: 0.9, beta2: 0.999, seed: 1, lrSchedule: 'cosine', augmentShift: 1 },
  );
  const seconds = (performance.now() - started) / 1000;
  const choice = chooseThresholdsForAccuracy(await allExitsOver(net, s.validation), s.validation.y, getCriterion('entropy'), maxDrop);
  const evaluation = await evaluateExits(net, test, { thresholds: choice.thresholds });
  sameCost.push({
    name: f.name,
    final: exitAccuracies(net, test)[net.depth - 1],
    early: evaluation.accuracy,
    share: 1 - evaluation.exitShare[evaluation.exitShare.length - 1],
    seconds,
  });
  log(`same-cost network for ${f.name}: ${sameCostEpochs} epochs on ${train.count} samples in ${seconds.toFixed(0)} s`);
  net.dispose();
}

// The successor's cost per sample, against one successor per front (each the same network over its 10 classes).
const facts = networkFacts(successor.spec);
const tenClass = networkFacts({ ...successor.spec, classes: successor.spec.classes.slice(0, 10), exits: [{ layers: [{ type: 'dense', units: 10 }] }] });
const { net: ort } = await openModel(successorDir, { engine: 'ort' });
const x = { data: new Float32Array(256 * 8 * 8 * 16).map((_, i) => Math.sin(i)), shape: [256, 8, 8, 16] };
for (let i = 0; i < 5; i++) await ort.exit(1, await ort.stage(1, x));
started = performance.now();
const runs = 40;
for (let i = 0; i < runs; i++) await ort.exit(1, await ort.stage(1, x));
const msPerSample = (performance.now() - started) / runs / 256;
ort.dispose();

const all = attached.info.fronts;
const row = (name: string) => all.find((f) => f.name === name)!;
log('');
log(
  `training budget: ${trainSamples} train samples per front; successor + 2 adapters ${epochs} epochs (${successorSeconds.toFixed(0)} s); attached adapter ${epochs} epochs (${attachSeconds.toFixed(0)} s); same-cost networks ${sameCostEpochs} epochs each; tfjs-wasm, nice 10, 2 shared cores`,
);
log(`fronts' model ids unchanged after train-successor and attach-front: ${unchanged}`);
log(`test samples per domain: ${testSamples}; thresholds chosen on each domain's validation split (max drop ${100 * maxDrop} points)`);
log('');
log(
  formatTable([
    [
      'domain',
      'front alone (final exit)',
      'front exit + shared successor',
      'answered at front',
      'shared successor alone',
      'same-cost network (final)',
      'same-cost with its exit',
    ],
    ...info.fronts.map((f, i) => [
      f.name,
      percent(f.test.frontAlone),
      percent(f.test.withSuccessor),
      percent(1 - f.test.exitShare[f.test.exitShare.length - 1], 1),
      percent(f.test.successorOnly),
      percent(sameCost[i].final),
      percent(sameCost[i].early),
    ]),
  ]),
);
log('');
log(
  formatTable([
    ['digits front', 'front exit + successor', 'successor for every sample', 'answered at front'],
    ...['digits', 'digits-late'].map((n) => [
      `${n} (${row(n).mode})`,
      percent(row(n).test.withSuccessor),
      percent(row(n).test.successorOnly),
      percent(1 - row(n).test.exitShare[row(n).test.exitShare.length - 1], 1),
    ]),
  ]),
);
log('');
log(
  `successor per sample: ${facts.flopsToExit[0]} FLOPs, ${facts.params} parameters shared by both fronts; two separate successors: ${tenClass.flopsToExit[0]} FLOPs per sample each, ${2 * tenClass.params} parameters in all; measured ${(1000 * msPerSample).toFixed(1)} µs per sample on onnxruntime at batch 256`,
);
