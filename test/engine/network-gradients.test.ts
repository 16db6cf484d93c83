import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import type { NetworkSpec } from '../../src/spec/types.ts';
import { bAlexnet, bLenet, bResnet } from '../../src/zoo/index.ts';
import { randomBatch } from '../helpers.ts';
import { assertRelErrBelow, onCpu, onWasmWithoutLeaks, setUpWasm } from './kernels/compare-backends.ts';

/** Gradients of the joint loss Σ CE(exit n) of a network built from `spec` with seed 1, by weight name, on one batch. */
function jointLossGradients(spec: NetworkSpec, batch: number, frozenTrunk: boolean): Record<string, Float32Array> {
  const net = new TfjsNetwork(spec, undefined, 1);
  const out: Record<string, Float32Array> = {};
  try {
    // Results leave tidy through the closure: tidy walks what its callback returns.
    tf.tidy(() => {
      const input = randomBatch([batch, ...spec.input.shape], 2);
      const x = tf.tensor(input.data, input.shape);
      const labels = tf.oneHot(
        tf.tensor1d(
          Array.from({ length: batch }, (_, i) => i % spec.classes.length),
          'int32',
        ),
        spec.classes.length,
      );
      const variables = net.trainableVariables(frozenTrunk ? 'exitHeads' : 'all');
      const { grads } = tf.variableGrads(
        () => tf.addN(net.forward(x, { training: true, frozenTrunk }).map((l) => tf.losses.softmaxCrossEntropy(labels, l))) as tf.Scalar,
        variables,
      );
      for (const v of variables) out[net.weightName(v)] = grads[v.name].dataSync() as Float32Array;
    });
  } finally {
    net.dispose();
  }
  return out;
}

/** Every weight's gradient on wasm (with branchy's kernels) equals cpu's within float32 noise. */
async function assertGradientsMatchCpu(spec: NetworkSpec, batch: number, frozenTrunk = false): Promise<void> {
  const expected = await onCpu(() => jointLossGradients(spec, batch, frozenTrunk));
  const actual = await onWasmWithoutLeaks(() => jointLossGradients(spec, batch, frozenTrunk));
  assert.deepEqual(Object.keys(actual), Object.keys(expected));
  // Kernel tests hold each kernel to 1e-4; through a dozen layers and sums over whole feature maps, float32 rounding
  // differences between the backends grow to about 1e-3.
  for (const name of Object.keys(expected)) assertRelErrBelow(actual[name], expected[name], 5e-3, `for ${spec.name} weight ${name}`);
}

before(setUpWasm);

describe('training gradients of whole networks on wasm', () => {
  it('every B-LeNet weight gets the same gradient of the joint loss on wasm as on cpu', async () => {
    await assertGradientsMatchCpu(bLenet(), 4);
  });

  it('every B-AlexNet weight gets the same gradient on wasm as on cpu (LRN, overlapping pools, dropout)', async () => {
    await assertGradientsMatchCpu(bAlexnet(), 2);
  });

  it('every weight of a one-block B-ResNet gets the same gradient on wasm as on cpu (batch norm, stride-2 convs)', async () => {
    await assertGradientsMatchCpu(bResnet({ blocksPerGroup: 1 }), 2);
  });

  it('in frozen mode only exit heads get gradients, the same on wasm as on cpu', async () => {
    await assertGradientsMatchCpu(bLenet(), 4, true);
    // B-ResNet's branch 1 opens with a conv on trunk features, which then need no gradient.
    await assertGradientsMatchCpu(bResnet({ blocksPerGroup: 1 }), 2, true);
  });
});
