import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_TRAIN_OPTIONS, learningRateAt, lrStepEpochs, resolveExitWeights, validateTrainOptions, type TrainOptions } from '../../src/train/options.ts';

describe('training options', () => {
  it("exit weights default to the paper's: 1 on early exits, 0.3 on the final one", () => {
    assert.deepEqual(resolveExitWeights(undefined, 2), [1, 0.3]);
    assert.deepEqual(resolveExitWeights(undefined, 3), [1, 1, 0.3]);
    assert.deepEqual(resolveExitWeights(undefined, 1), [1]);
  });

  it('refuses exit weights of the wrong count, negative or all zero', () => {
    assert.throws(() => resolveExitWeights([1], 2), { code: 'TRAIN_EXIT_WEIGHTS', message: /has 1 values; this network has 2 exits/ });
    assert.throws(() => resolveExitWeights([1, -1], 2), { code: 'TRAIN_EXIT_WEIGHTS', message: /exitWeights\[1\]' is -1/ });
    assert.throws(() => resolveExitWeights([0, 0], 2), { code: 'TRAIN_EXIT_WEIGHTS' });
  });

  it('refuses bad numeric options with the name and value', () => {
    assert.throws(() => validateTrainOptions({ ...DEFAULT_TRAIN_OPTIONS, batchSize: 0 }), { code: 'TRAIN_BAD_OPTION', message: /'batchSize' is 0/ });
    assert.throws(() => validateTrainOptions({ ...DEFAULT_TRAIN_OPTIONS, beta1: 1 }), { code: 'TRAIN_BAD_OPTION', message: /'beta1' is 1/ });
    assert.throws(() => validateTrainOptions({ ...DEFAULT_TRAIN_OPTIONS, augmentShift: 1.5 }), { code: 'TRAIN_BAD_OPTION' });
    assert.doesNotThrow(() => validateTrainOptions(DEFAULT_TRAIN_OPTIONS));
  });

  it('the cosine schedule starts at the learning rate and falls towards 0; constant stays put', () => {
    const o = { ...DEFAULT_TRAIN_OPTIONS, epochs: 10, learningRate: 0.01 };
    assert.equal(learningRateAt(o, 1), 0.01);
    assert.equal(learningRateAt(o, 10), 0.01);
    const cosine = { ...o, lrSchedule: 'cosine' as const };
    const rates = Array.from({ length: 10 }, (_, i) => learningRateAt(cosine, i + 1));
    assert.equal(rates[0], 0.01);
    assert.ok(rates.every((r, i) => i === 0 || r < rates[i - 1]));
    assert.ok(Math.abs(rates[5] - 0.005) < 1e-12, 'half way down at the middle epoch');
    assert.ok(rates[9] > 0 && rates[9] < 0.0003);
  });

  it('the step schedule multiplies the rate by gamma after each step epoch', () => {
    const step = { ...DEFAULT_TRAIN_OPTIONS, epochs: 8, learningRate: 0.1, lrSchedule: 'step' as const, lrStepEpochs: [3, 6], lrGamma: 0.5 };
    assert.deepEqual(
      Array.from({ length: 8 }, (_, i) => learningRateAt(step, i + 1)),
      [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025],
    );
    const byDefault = { ...step, lrStepEpochs: undefined, lrGamma: undefined, epochs: 100 };
    assert.deepEqual(lrStepEpochs(byDefault), [50, 75]);
    assert.equal(learningRateAt(byDefault, 50), 0.1);
    assert.ok(Math.abs(learningRateAt(byDefault, 51) - 0.01) < 1e-15);
    assert.ok(Math.abs(learningRateAt(byDefault, 76) - 0.001) < 1e-15);
  });

  it('refuses an unknown optimizer or schedule, a momentum outside [0, 1), a gamma outside (0, 1] and bad step epochs', () => {
    const bad = (o: Record<string, unknown>, message: RegExp) =>
      assert.throws(() => validateTrainOptions({ ...DEFAULT_TRAIN_OPTIONS, ...o } as TrainOptions), { code: 'TRAIN_BAD_OPTION', message });
    bad({ optimizer: 'rmsprop' }, /'optimizer' is "rmsprop"; expected one of adam, sgd/);
    bad({ lrSchedule: 'linear' }, /'lrSchedule' is "linear"/);
    bad({ momentum: 1 }, /'momentum' is 1/);
    bad({ lrGamma: 0 }, /'lrGamma' is 0/);
    bad({ lrStepEpochs: [10, 0] }, /'lrStepEpochs\[1\]' is 0/);
    assert.doesNotThrow(() =>
      validateTrainOptions({ ...DEFAULT_TRAIN_OPTIONS, optimizer: 'sgd', momentum: 0.9, lrSchedule: 'step', lrStepEpochs: [5], lrGamma: 0.1 }),
    );
  });
});
