import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { after, before, describe, it } from 'node:test';
import type { Dataset } from '../../src/data/index.ts';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import { layersFacts, networkFacts } from '../../src/spec/shapes.ts';
import type { NetworkSpec } from '../../src/spec/types.ts';
import { validateSpec } from '../../src/spec/validate.ts';
import { DEFAULT_TRAIN_OPTIONS, initFromBaseline, trainNetwork, type TrainMode } from '../../src/train/index.ts';
import { alexnet, bAlexnet, bConvnet, bLenet, bResnet, bResnet110, bResnet20, listZoo, resnet, resnet110, resnet20, zooModel } from '../../src/zoo/index.ts';
import { branchy, randomBatch } from '../helpers.ts';

/** Output shape of exit head `exit` (from 0) up to and including its flatten layer: the classifier's input size. */
function classifierInput(spec: NetworkSpec, exit: number): readonly number[] {
  const input = networkFacts(spec).stages[exit].output;
  const layers = spec.exits[exit].layers;
  const flat = layers.findIndex((l) => l.type === 'flatten');
  return layersFacts(layers.slice(0, flat + 1), input, 'test').output;
}

describe('zoo', () => {
  it('every entry builds a valid spec, and the baselines it names exist', () => {
    for (const entry of listZoo()) {
      const spec = entry.build();
      assert.deepEqual(validateSpec(JSON.parse(JSON.stringify(spec))), spec, entry.name);
      assert.equal(spec.name, entry.name);
      if (entry.baseline) assert.equal(zooModel(entry.baseline).build().exits.length, 1);
    }
    for (const name of ['b-alexnet', 'alexnet', 'b-resnet110', 'resnet110', 'b-resnet20', 'resnet20']) assert.ok(zooModel(name));
  });

  it('B-ConvNet cuts at 15x15x16 features (B-LeNet: 30x30x5), with four convolutions to its final exit (B-LeNet: three)', () => {
    const facts = networkFacts(bConvnet());
    assert.deepEqual(
      facts.stages.map((s) => s.output),
      [[15, 15, 16], [128]],
    );
    assert.deepEqual(networkFacts(bLenet()).stages[0].output, [30, 30, 5]);
    const convs = (spec: NetworkSpec) => spec.stages.flatMap((st) => st.layers).filter((l) => l.type === 'conv2d').length;
    assert.equal(convs(bConvnet()), 4);
    assert.equal(convs(bLenet()), 3);
  });

  it('B-AlexNet has the shapes alex_cifar10.py implies: 16x16x64 | 8x8x96 | 128; fc inputs 512, 128, 1024', () => {
    const spec = bAlexnet();
    const facts = networkFacts(spec);
    assert.deepEqual(
      facts.stages.map((s) => s.output),
      [[16, 16, 64], [8, 8, 96], [128]],
    );
    assert.deepEqual(
      facts.exits.map((e) => e.output),
      [[10], [10], [10]],
    );
    // The reference's L.Linear(512, 10), L.Linear(128, 10) and L.Linear(1024, 256).
    assert.deepEqual(classifierInput(spec, 0), [512]);
    assert.deepEqual(classifierInput(spec, 1), [128]);
    const trunk = spec.stages[2].layers;
    assert.deepEqual(layersFacts(trunk.slice(0, trunk.findIndex((l) => l.type === 'flatten') + 1), [8, 8, 96], 'test').output, [1024]);
  });

  it('B-ResNet has the shapes resnet_cifar10.py implies: 30x30x16 | 30x30x16 | 576; branch fc inputs 28800, 14400', () => {
    for (const spec of [bResnet110(), bResnet20()]) {
      const facts = networkFacts(spec);
      assert.deepEqual(
        facts.stages.map((s) => s.output),
        [[30, 30, 16], [30, 30, 16], [576]],
        spec.name,
      );
      assert.deepEqual(
        facts.exits.map((e) => e.output),
        [[10], [10], [10]],
      );
      assert.deepEqual(classifierInput(spec, 0), [28800]);
      assert.deepEqual(classifierInput(spec, 1), [14400]);
    }
    // 6n + 2 weighted layers: stem, 3n two-conv blocks, classifier.
    const residuals = bResnet110()
      .stages.flatMap((s) => s.layers)
      .filter((l) => l.type === 'residual');
    assert.equal(residuals.length, 54);
    assert.deepEqual(
      residuals.filter((l) => l.type === 'residual' && l.stride === 2).map((l) => l.type === 'residual' && l.filters),
      [32, 64],
    );
    assert.equal(bResnet({ blocksPerGroup: 5 }).name, 'b-resnet32');
    assert.throws(() => resnet({ blocksPerGroup: 0 }), { code: 'ZOO_BAD_OPTION' });
  });

  it('class names set the classifier widths', () => {
    const spec = bAlexnet({ classes: ['a', 'b', 'c'] });
    assert.deepEqual(
      networkFacts(validateSpec(spec)).exits.map((e) => e.output),
      [[3], [3], [3]],
    );
  });
});

describe('zoo networks on tfjs', () => {
  before(() => useBackend('wasm'));
  const nets: TfjsNetwork[] = [];
  const build = (spec: NetworkSpec, seed: number) => {
    const net = new TfjsNetwork(spec, undefined, seed);
    nets.push(net);
    return net;
  };
  after(() => nets.forEach((n) => n.dispose()));

  it('each baseline initialises its branchy network: trunk and final classifier copied, branches untouched', () => {
    // Copied tensors: AlexNet 5 convs + 3 dense, kernel and bias each; ResNet-20 stem conv (2) + bn (4),
    // 9 blocks × 10, 2 projections × 5, classifier (2); ResNet-110 the same with 54 blocks.
    for (const [base, branchy, copied] of [
      [alexnet(), bAlexnet(), 16],
      [resnet20(), bResnet20(), 108],
      [resnet110(), bResnet110(), 558],
    ] as const) {
      const source = build(base, 5);
      const target = build(branchy, 6);
      const branchBefore = target.weights()['exit1.0.kernel'] ?? target.weights()['exit1.3.kernel'];
      assert.equal(initFromBaseline(target, { spec: source.spec, weights: source.weights() }), copied, branchy.name);
      const s = source.weights();
      const t = target.weights();
      assert.deepEqual(t['stage1.0.kernel'], s['stage1.0.kernel']);
      assert.deepEqual(t['exit3.0.kernel'], s['exit1.0.kernel']);
      assert.deepEqual(t['exit1.0.kernel'] ?? t['exit1.3.kernel'], branchBefore);
    }
    const last = (spec: NetworkSpec) => spec.stages[spec.stages.length - 1].layers.length;
    assert.equal(
      last(alexnet()),
      bAlexnet().stages.reduce((a, s) => a + s.layers.length, 0),
    );
    assert.equal(
      last(resnet20()),
      bResnet20().stages.reduce((a, s) => a + s.layers.length, 0),
    );
  });

  it('B-AlexNet and B-ResNet-20 give [batch, 10] logits at every exit', () => {
    for (const spec of [bAlexnet(), bResnet20()]) {
      const net = build(spec, 1);
      const x = randomBatch([2, 32, 32, 3], 1);
      const shapes = tf.tidy(() => net.forward(tf.tensor(x.data, x.shape), { training: false }).map((l) => l.shape));
      assert.deepEqual(
        shapes,
        [
          [2, 10],
          [2, 10],
          [2, 10],
        ],
        spec.name,
      );
    }
  });

  it('one training step: frozen keeps the trunk batch-norm statistics, joint changes them', async () => {
    const sample = randomBatch([4, 32, 32, 3], 2);
    const data: Dataset = { x: sample.data, y: new Uint8Array([0, 1, 2, 3]), shape: [32, 32, 3], count: 4, classes: bResnet20().classes };
    const trunkStats = ['stage1.1.movingMean', 'stage1.1.movingVariance', 'stage2.0.bn1.movingMean', 'stage3.0.projectBn.movingVariance'];
    const step = async (mode: TrainMode) => {
      const net = build(bResnet20(), 3);
      const before = net.weights();
      await trainNetwork(
        net,
        { train: data, validation: { ...data, count: 2, x: data.x.subarray(0, 2 * 32 * 32 * 3), y: data.y.subarray(0, 2) } },
        { ...DEFAULT_TRAIN_OPTIONS, mode, epochs: 1, batchSize: 4 },
      );
      const after = net.weights();
      return { changed: (name: string) => after[name].some((v, i) => v !== before[name][i]) };
    };
    const frozen = await step('frozen');
    for (const name of trunkStats) assert.equal(frozen.changed(name), false, `frozen: ${name}`);
    // The branch-2 residual block is an exit head, so its statistics do move.
    assert.ok(frozen.changed('exit2.0.bn1.movingMean'));
    const joint = await step('joint');
    for (const name of trunkStats) assert.equal(joint.changed(name), true, `joint: ${name}`);
  });
});

describe('branchy models', () => {
  // The real command, in its own process, as a user runs it.
  async function capture(argv: string[]): Promise<{ code: number; out: string }> {
    const { code, stdout } = await branchy(...argv);
    return { code, out: stdout };
  }

  it('--json lists every zoo entry with its facts', async () => {
    const { code, out } = await capture(['models', '--json']);
    assert.equal(code, 0);
    const listed = JSON.parse(out) as { name: string; inputShape: number[]; exits: number; params: number; flopsToExit: number[]; baseline?: string }[];
    assert.deepEqual(
      listed.map((m) => m.name),
      listZoo().map((e) => e.name),
    );
    const b = listed.find((m) => m.name === 'b-resnet110')!;
    assert.deepEqual(b.inputShape, [32, 32, 3]);
    assert.equal(b.exits, 3);
    assert.equal(b.baseline, 'resnet110');
    assert.equal(b.params, networkFacts(bResnet110()).params);
    assert.ok(b.flopsToExit.length === 3 && b.flopsToExit[0] < b.flopsToExit[1] && b.flopsToExit[1] < b.flopsToExit[2]);
  });

  it('prints a table by default', async () => {
    const { code, out } = await capture(['models']);
    assert.equal(code, 0);
    for (const entry of listZoo()) assert.match(out, new RegExp(`^${entry.name} `, 'm'));
  });
});
