/**
 * The shared successor on the shipped data, in one script: two front-ends of different architectures (the shipped
 * B-LeNet on digits, and a B-ConvNet trained here on Fashion-MNIST, whose features at the cut have another shape)
 * hand what their early exit cannot answer to one successor over 20 classes, trained tree-style on their frozen
 * features; a third front (a B-ConvNet on digits, a model the successor never saw) attached later, against the
 * same front trained with a successor from the start; networks of the same cost trained on one domain only.
 *
 * Digits are the standard MNIST (`mnist-full`), clothes Fashion-MNIST.
 *
 *   node --import tsx examples/shared-successor/run.ts [out-dir] [--train-samples N] [--epochs N] [--same-cost-epochs N]
 *     [--test-samples N] [--front-epochs N] [--front-train-samples N] [--fashion-front DIR]
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { chooseThresholdsForAccuracy } from '../../src/calibrate/index.ts';
import { loadDataSource, subset, type Dataset } from '../../src/data/index.ts';
import { getCriterion } from '../../src/exit/index.ts';
import { allExitsOver, evaluateExits } from '../../src/infer/index.ts';
import { ADAPTERS_DIR, loadModelDir, modelIdOf, readManifest, type SharedFront } from '../../src/io/index.ts';
import { openModel } from '../../src/open/open-model.ts';
import { formatTable, percent } from '../../src/report/text-table.ts';
import { networkFacts } from '../../src/spec/shapes.ts';
import {
  attachFront,
  DEFAULT_TRAIN_OPTIONS,
  exitAccuracies,
  runTraining,
  sameCostSpec,
  TfjsNetwork,
  trainNetwork,
  trainSharedSuccessor,
} from '../../src/train/index.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const text = (name: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const out = args[0] && !args[0].startsWith('--') ? args[0] : '/tmp/branchy-shared-successor';
const trainSamples = flag('--train-samples', 8000);
const epochs = flag('--epochs', 8);
const sameCostEpochs = flag('--same-cost-epochs', 5);
const testSamples = flag('--test-samples', 1000);
const frontEpochs = flag('--front-epochs', 4);
const frontTrainSamples = flag('--front-train-samples', 16000);
const fashionFront = text('--fashion-front');
const maxDrop = 0.01;
/**
 * The digits domain: the standard MNIST, whose test digits the shipped B-LeNet never saw (the `mnist` package's
 * 10,000 digits are standard training digits, which it was trained on).
 */
const DIGITS = 'mnist-full';
const options = { epochs, batchSize: 64, learningRate: 2e-3, beta1: 0.9, beta2: 0.999, seed: 1, lrSchedule: 'cosine' as const };
const log = (line: string) => process.stdout.write(`${line}\n`);
const seconds = (since: number) => (performance.now() - since) / 1000;

rmSync(out, { recursive: true, force: true });
const splits = Object.fromEntries([DIGITS, 'fashion-mnist'].map((d) => [d, loadDataSource(d, 1)]));

/** A B-ConvNet front trained on one domain, as `branchy train --model b-convnet` does. */
async function convFront(data: string, dir: string): Promise<number> {
  const started = performance.now();
  await runTraining({
    model: 'b-convnet',
    data,
    out: dir,
    backend: 'wasm',
    options: { ...DEFAULT_TRAIN_OPTIONS, epochs: frontEpochs, beta1: 0.9, lrSchedule: 'cosine', augmentShift: 1 },
    splitSeed: 1,
    resume: false,
    trainSamples: frontTrainSamples,
    maxDrop: 0.002,
    log,
    splits: splits[data],
  });
  return seconds(started);
}

const frontSeconds: Record<string, number> = {};
const fashionDir = fashionFront ?? join(out, 'front-fashion-b-convnet');
if (fashionFront === undefined) frontSeconds.fashion = await convFront('fashion-mnist', fashionDir);
const digitsConvDir = join(out, 'front-digits-b-convnet');
frontSeconds['digits-conv'] = await convFront(DIGITS, digitsConvDir);

const fronts = [
  { name: 'digits', dir: 'models/b-lenet-mnist', data: DIGITS },
  { name: 'fashion', dir: fashionDir, data: 'fashion-mnist' },
];
const third = { name: 'digits-conv', dir: digitsConvDir, data: DIGITS };
const ids = () => [...fronts, third].map((f) => modelIdOf(readManifest(f.dir)));
const before = ids();
const common = { backend: 'wasm' as const, splitSeed: 1, trainSamples, testSamples, maxDrop, log, splits };
const successorDir = join(out, 'successor');

let started = performance.now();
const { info } = await trainSharedSuccessor({ ...common, fronts, out: successorDir, options });
const successorSeconds = seconds(started);
const successorId = modelIdOf(readManifest(successorDir));

started = performance.now();
const attached = await attachFront({ ...common, front: third, successor: successorDir, options });
const attachSeconds = seconds(started);
const successorUnchanged = modelIdOf(readManifest(successorDir)) === successorId;

// The same third front trained with a successor from the start (the same budget, three fronts).
started = performance.now();
const fromStart = await trainSharedSuccessor({ ...common, fronts: [...fronts, third], out: join(out, 'successor-three'), options });
const fromStartSeconds = seconds(started);
const unchanged = ids().every((id, i) => id === before[i]);

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
  const took = seconds(started);
  const choice = chooseThresholdsForAccuracy(await allExitsOver(net, s.validation), s.validation.y, getCriterion('entropy'), maxDrop);
  const evaluation = await evaluateExits(net, test, { thresholds: choice.thresholds });
  sameCost.push({
    name: f.name,
    final: exitAccuracies(net, test)[net.depth - 1],
    early: evaluation.accuracy,
    share: 1 - evaluation.exitShare[evaluation.exitShare.length - 1],
    seconds: took,
  });
  log(`same-cost network for ${f.name} (${spec.name}): ${sameCostEpochs} epochs on ${train.count} samples in ${took.toFixed(0)} s`);
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

const answered = (t: SharedFront['test']) => percent(1 - t.exitShare[t.exitShare.length - 1], 1);
const network = (dir: string) => readManifest(dir).spec.name;
log('');
log(
  `training budget: fronts ${Object.entries(frontSeconds)
    .map(([n, s]) => `${n} (b-convnet, ${frontEpochs} epochs on ${frontTrainSamples} samples, ${s.toFixed(0)} s)`)
    .join(
      ', ',
    )}; ${trainSamples} train samples per front; successor + 2 adapters ${epochs} epochs (${successorSeconds.toFixed(0)} s); attached adapter ${epochs} epochs (${attachSeconds.toFixed(0)} s); successor + 3 adapters from the start ${epochs} epochs (${fromStartSeconds.toFixed(0)} s); same-cost networks ${sameCostEpochs} epochs each; tfjs-wasm, 2 shared cores`,
);
log(`fronts: ${info.fronts.map((f) => `${f.name} = ${network(f.dir)} (${f.dir}), features [${f.featureShape.join(', ')}] at stage ${f.cut}`).join('; ')}`);
log(`fronts' model ids unchanged after train-successor and attach-front: ${unchanged}; successor unchanged by attach-front: ${successorUnchanged}`);
log(`test samples per domain: ${testSamples}; thresholds chosen on each domain's validation split (max drop ${100 * maxDrop} points)`);
log('');
log(
  formatTable([
    [
      'domain',
      'front alone (final exit)',
      'front exit + shared successor',
      'answered at front',
      'in the union of 20',
      'shared successor alone',
      'same-cost network (final)',
      'same-cost with its exit',
    ],
    ...info.fronts.map((f, i) => [
      `${f.name} (${network(f.dir)})`,
      percent(f.test.frontAlone),
      percent(f.test.withSuccessor),
      answered(f.test),
      percent(f.union!.test.withSuccessor),
      percent(f.test.successorOnly),
      percent(sameCost[i].final),
      percent(sameCost[i].early),
    ]),
  ]),
);
log('');
const late = attached.info.fronts.find((f) => f.name === third.name)!;
const early = fromStart.info.fronts.find((f) => f.name === third.name)!;
log(
  formatTable([
    [`${third.name} front (${network(third.dir)})`, 'front alone (final exit)', 'front exit + successor', 'successor for every sample', 'answered at front'],
    ...[
      ['trained with the successor from the start', early],
      ['attached later to the frozen successor', late],
    ].map(([label, f]) => {
      const front = f as SharedFront;
      return [
        `${label as string} (${front.mode})`,
        percent(front.test.frontAlone),
        percent(front.test.withSuccessor),
        percent(front.test.successorOnly),
        answered(front.test),
      ];
    }),
  ]),
);
log('');
log(
  `successor per sample: ${facts.flopsToExit[0]} FLOPs, ${facts.params} parameters shared by the fronts; two separate successors: ${tenClass.flopsToExit[0]} FLOPs per sample each, ${2 * tenClass.params} parameters in all; measured ${(1000 * msPerSample).toFixed(1)} µs per sample on onnxruntime at batch 256`,
);
