import { getKernel, registerKernel, type KernelConfig } from '@tensorflow/tfjs';
import { conv2DBackpropFilterConfig } from './Conv2DBackpropFilter.ts';
import { depthwiseConv2dNativeBackpropFilterConfig } from './DepthwiseConv2dNativeBackpropFilter.ts';
import { depthwiseConv2dNativeBackpropInputConfig } from './DepthwiseConv2dNativeBackpropInput.ts';
import { unsortedSegmentSumConfig } from './UnsortedSegmentSum.ts';

export {
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  unsortedSegmentSumConfig,
};

/** The kernels tfjs-backend-wasm 4.22 lacks for training conv nets (and for the gradient of `tf.gather`). */
const WASM_GRADIENT_KERNELS: readonly KernelConfig[] = [
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  unsortedSegmentSumConfig,
];

/**
 * Registers branchy's wasm implementations of the gradient kernels tfjs-backend-wasm lacks. Idempotent, and it
 * leaves alone any kernel the wasm backend already has (a newer tfjs may ship its own). Works before or after the
 * wasm backend is initialised.
 */
export function registerWasmGradientKernels(): void {
  for (const config of WASM_GRADIENT_KERNELS) {
    if (getKernel(config.kernelName, 'wasm') === undefined) registerKernel(config);
  }
}
