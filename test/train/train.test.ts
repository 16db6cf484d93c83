import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { before, describe, it } from 'node:test';
import { subset, mnistSplits } from '../../src/data/index.ts';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import { initFromBaseline, trainNetwork, DEFAULT_TRAIN_OPTIONS, type TrainOptions, type TrainState } from '../../src/train/index.ts';
import { bLenet, lenet } from '../../src/zoo/index.ts';
import { stripes, tinySpec } from '../helpers.ts';

const options = (o: Partial<TrainOptions> = {}): TrainOptions => ({ ...DEFAULT_TRAIN_OPTIONS, epochs: 2, batchSize: 16, learningRate: 0.01, ...o });

describe('training', () => {
  const data = { train: stripes(96, 1), validation: stripes(48, 2) };
  before(() => useBackend('wasm'));

  it('joint training learns every exit', async () => {
    const net = new TfjsNetwork(tinySpec(), undefined, 1);
    const summary = await trainNetwork(net, data, options({ epochs: 8 }));
    assert.ok(
      summary.validationAccuracy.every((a) => a > 0.8),
      `validation accuracy ${summary.validationAccuracy}`,
    );
    net.dispose();
  });

  it('leaks no tensors: the count is the same after every step', async () => {
    const net = new TfjsNetwork(tinySpec(), undefined, 1);
    const counts: number[] = [];
    await trainNetwork(net, data, options({ epochs: 1 }), { onEvent: (e) => e.type === 'step' && counts.push(tf.memory().numTensors) });
    assert.ok(counts.length === 6 && counts.every((c) => c === counts[1]), `tensor counts per step: ${counts}`);
    net.dispose();
  });

  it('is deterministic for a seed', async () => {
    const run = async () => {
      const net = new TfjsNetwork(tinySpec(), undefined, 3);
      await trainNetwork(net, data, options({ seed: 3 }));
      const w = net.weights();
      net.dispose();
      return w;
    };
    assert.deepEqual(await run(), await run());
  });

  it('resuming from a checkpoint ends where an uninterrupted run ends', async () => {
    const full = new TfjsNetwork(tinySpec(), undefined, 2);
    await trainNetwork(full, data, options({ epochs: 3 }));
    const first = new TfjsNetwork(tinySpec(), undefined, 2);
    let saved: { state: TrainState; weights: Record<string, Float32Array> } | undefined;
    await trainNetwork(first, data, options({ epochs: 1 }), { onCheckpoint: (state) => void (saved = { state, weights: first.weights() }) });
    const resumed = new TfjsNetwork(tinySpec(), saved!.weights);
    await trainNetwork(resumed, data, options({ epochs: 3 }), {}, saved!.state);
    const a = full.weights();
    const b = resumed.weights();
    for (const name of Object.keys(a)) assert.deepEqual(b[name], a[name], name);
    [full, first, resumed].forEach((n) => n.dispose());
  });

  it('frozen mode trains only the exit heads: trunk weights stay bit for bit', async () => {
    const net = new TfjsNetwork(tinySpec(), undefined, 4);
    const before = net.weights();
    await trainNetwork(net, data, options({ mode: 'frozen', epochs: 1 }));
    const after = net.weights();
    for (const name of Object.keys(before)) {
      if (name.startsWith('stage')) assert.deepEqual(after[name], before[name], name);
    }
    assert.ok(Object.keys(before).some((n) => n.startsWith('exit') && after[n].some((v, i) => v !== before[n][i])));
    net.dispose();
  });

  it('a trained LeNet initialises B-LeNet: trunk and final classifier copied, branch untouched', () => {
    const base = new TfjsNetwork(lenet(), undefined, 5);
    const branchy = new TfjsNetwork(bLenet(), undefined, 6);
    const branchBefore = branchy.weights()['exit1.2.kernel'];
    const copied = initFromBaseline(branchy, { spec: base.spec, weights: base.weights() });
    assert.equal(copied, 10);
    assert.deepEqual(branchy.weights()['stage1.0.kernel'], base.weights()['stage1.0.kernel']);
    assert.deepEqual(branchy.weights()['stage2.9.kernel'], base.weights()['stage1.10.kernel']);
    assert.deepEqual(branchy.weights()['exit2.0.bias'], base.weights()['exit1.0.bias']);
    assert.deepEqual(branchy.weights()['exit1.2.kernel'], branchBefore);
    assert.throws(() => initFromBaseline(new TfjsNetwork(tinySpec()), { spec: base.spec, weights: base.weights() }), { code: 'TRAIN_INIT_MISMATCH' });
    base.dispose();
    branchy.dispose();
  });

  it('B-LeNet learns real MNIST digits on wasm (one epoch on 2,000)', async () => {
    const splits = mnistSplits(1);
    const order = new Uint32Array(2000).map((_, i) => i);
    const net = new TfjsNetwork(bLenet(), undefined, 1);
    const summary = await trainNetwork(
      net,
      { train: subset(splits.train, order), validation: subset(splits.validation, order.subarray(0, 300)) },
      { ...DEFAULT_TRAIN_OPTIONS, epochs: 1 },
    );
    assert.ok(summary.validationAccuracy[0] > 0.5 && summary.validationAccuracy[1] > 0.5, `validation accuracy ${summary.validationAccuracy}`);
    net.dispose();
  });
});
