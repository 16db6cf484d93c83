import { BatchMatMul, getKernel, Sum, registerKernel, unregisterKernel, type KernelConfig, type KernelFunc } from '@tensorflow/tfjs-core';
import { adamUpdateConfig } from './AdamUpdate.ts';
import { batchMatMulWithExplicitTransposes } from './BatchMatMul.ts';
import { conv2DBackpropFilterConfig } from './Conv2DBackpropFilter.ts';
import { conv2DBackpropInputConfig } from './Conv2DBackpropInput.ts';
import { depthwiseConv2dNativeBackpropFilterConfig } from './DepthwiseConv2dNativeBackpropFilter.ts';
import { depthwiseConv2dNativeBackpropInputConfig } from './DepthwiseConv2dNativeBackpropInput.ts';
import { lrnConfig, lrnGradConfig } from './LRN.ts';
import { maxPoolGradConfig } from './MaxPoolGrad.ts';
import { sumOverLeadingAxes } from './Sum.ts';
import { unsortedSegmentSumConfig } from './UnsortedSegmentSum.ts';

export {
  adamUpdateConfig,
  batchMatMulWithExplicitTransposes,
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  lrnConfig,
  lrnGradConfig,
  maxPoolGradConfig,
  sumOverLeadingAxes,
  unsortedSegmentSumConfig,
};

/**
 * The kernels tfjs-backend-wasm 4.22 lacks for training conv nets (and for the gradient of `tf.gather`), and
 * branchy's fused Adam step.
 */
const WASM_GRADIENT_KERNELS: readonly KernelConfig[] = [
  adamUpdateConfig,
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  unsortedSegmentSumConfig,
];

/** A faster kernel for one tfjs-wasm already has, built from the kernel it replaces (which it may fall back to). */
interface WasmKernelReplacement {
  kernelName: string;
  replace(original: KernelFunc): KernelFunc;
}

/** tfjs-backend-wasm 4.22 kernels that training spends most of its time in, done as scalar loops there. */
const WASM_REPLACED_KERNELS: readonly WasmKernelReplacement[] = [
  { kernelName: conv2DBackpropInputConfig.kernelName, replace: () => conv2DBackpropInputConfig.kernelFunc },
  { kernelName: maxPoolGradConfig.kernelName, replace: () => maxPoolGradConfig.kernelFunc },
  { kernelName: lrnConfig.kernelName, replace: () => lrnConfig.kernelFunc },
  { kernelName: lrnGradConfig.kernelName, replace: () => lrnGradConfig.kernelFunc },
  { kernelName: BatchMatMul, replace: batchMatMulWithExplicitTransposes },
  { kernelName: Sum, replace: sumOverLeadingAxes },
];

const replacements = new WeakSet<KernelFunc>();
let registered = false;

/**
 * Whether `useWasmTrainingKernels` has run in this process. `trainNetwork` registers the kernels on its first run
 * on wasm only when nothing did before, so a program that swaps kernel sets itself (the training benchmark does)
 * keeps the set it chose.
 */
export function wasmTrainingKernelsRegistered(): boolean {
  return registered;
}

/**
 * Registers branchy's wasm implementations of the gradient kernels tfjs-wasm lacks (and its fused Adam step), and
 * replaces the wasm kernels that training spends its time in with faster ones, in tfjs's process-wide kernel
 * registry. Nothing does this on import: `trainNetwork` calls it when it trains on wasm, and a program that trains
 * through tfjs on wasm by other means calls it first. Inference needs none of these kernels. Idempotent, and it
 * leaves alone any missing kernel the wasm backend already has (a newer tfjs may ship its own). Works before or
 * after the wasm backend is initialised.
 */
export function useWasmTrainingKernels(): void {
  registered = true;
  for (const config of WASM_GRADIENT_KERNELS) {
    if (getKernel(config.kernelName, 'wasm') === undefined) registerKernel(config);
  }
  for (const { kernelName, replace } of WASM_REPLACED_KERNELS) {
    const current = getKernel(kernelName, 'wasm');
    if (current === undefined || replacements.has(current.kernelFunc)) continue;
    const kernelFunc = replace(current.kernelFunc);
    replacements.add(kernelFunc);
    unregisterKernel(kernelName, 'wasm');
    // The original's setupFunc stays: it binds the wasm function a replacement may fall back to.
    registerKernel({ ...current, kernelFunc });
  }
}

/** Names of the tfjs-wasm kernels that `useWasmTrainingKernels` replaces with faster ones. */
export function replacedWasmKernelNames(): string[] {
  return WASM_REPLACED_KERNELS.map((r) => r.kernelName);
}
