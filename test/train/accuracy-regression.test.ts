import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { mnistSplits, subset } from '../../src/data/index.ts';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import { DEFAULT_TRAIN_OPTIONS, trainNetwork } from '../../src/train/index.ts';
import { bLenet } from '../../src/zoo/index.ts';

/**
 * Per-exit validation accuracy of B-LeNet (seed 1) after 3 epochs on the first 2,000 training digits of the mnist
 * package (split seed 1), measured with tfjs-wasm's own gradient kernels before branchy replaced the slow ones.
 * Faster kernels may change the sums' rounding, never the outcome by more than that.
 */
const ACCURACY_BEFORE_FASTER_KERNELS = [0.819, 0.885];

describe('training results', () => {
  before(() => useBackend('wasm'));

  it('B-LeNet with seed 1 reaches the same per-exit accuracy as with the kernels before, within 0.2 points', async () => {
    const splits = mnistSplits(1);
    const net = new TfjsNetwork(bLenet(), undefined, 1);
    const summary = await trainNetwork(
      net,
      {
        train: subset(
          splits.train,
          Uint32Array.from({ length: 2000 }, (_, i) => i),
        ),
        validation: splits.validation,
      },
      { ...DEFAULT_TRAIN_OPTIONS, epochs: 3, seed: 1 },
    );
    net.dispose();
    summary.validationAccuracy.forEach((accuracy, e) => {
      assert.ok(
        Math.abs(accuracy - ACCURACY_BEFORE_FASTER_KERNELS[e]) <= 0.002 + 1e-9,
        `exit ${e + 1}: ${accuracy} against ${ACCURACY_BEFORE_FASTER_KERNELS[e]} before`,
      );
    });
  });
});
