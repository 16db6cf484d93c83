import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Rng } from '../../src/common/rng.ts';
import type { Dataset } from '../../src/data/index.ts';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import { DEFAULT_TRAIN_OPTIONS, trainNetwork, validateTrainOptions, type TrainOptions } from '../../src/train/index.ts';
import { tinySpec } from '../helpers.ts';

function noise(count: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const x = Float32Array.from({ length: count * 36 }, () => rng.normal());
  const y = Uint8Array.from({ length: count }, () => rng.int(3));
  return { x, y, shape: [6, 6, 1], count, classes: ['a', 'b', 'c'] };
}

describe('micro-batches', () => {
  before(() => useBackend('wasm'));
  const data = { train: noise(40, 1), validation: noise(6, 2) };
  const options = (o: Partial<TrainOptions>): TrainOptions => ({
    ...DEFAULT_TRAIN_OPTIONS,
    optimizer: 'sgd',
    momentum: 0.5,
    learningRate: 0.05,
    batchSize: 16,
    epochs: 2,
    ...o,
  });

  it('give the weights and loss of whole batches (no batch norm), with a ragged last part and a ragged last batch', async () => {
    const trained = async (o: Partial<TrainOptions>) => {
      const net = new TfjsNetwork(tinySpec(), undefined, 3);
      const summary = await trainNetwork(net, data, options(o));
      const weights = net.weights();
      net.dispose();
      return { summary, weights };
    };
    const whole = await trained({});
    const parts = await trained({ microBatch: 5 });
    assert.ok(Math.abs(whole.summary.loss - parts.summary.loss) < 1e-5, `loss ${whole.summary.loss} vs ${parts.summary.loss}`);
    let compared = 0;
    for (const [name, w] of Object.entries(whole.weights)) {
      w.forEach((v, i) => assert.ok(Math.abs(v - parts.weights[name][i]) < 1e-5, `${name}[${i}]: ${v} vs ${parts.weights[name][i]}`));
      compared += w.length;
    }
    assert.ok(compared > 0);
  });

  it('must be a positive whole number', () => {
    assert.throws(() => validateTrainOptions(options({ microBatch: 0 })), { code: 'TRAIN_BAD_OPTION' });
    assert.throws(() => validateTrainOptions(options({ microBatch: 2.5 })), { code: 'TRAIN_BAD_OPTION' });
  });
});
