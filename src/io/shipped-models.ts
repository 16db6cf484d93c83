import { fileURLToPath } from 'node:url';

/** The B-LeNet the package ships (`models/b-lenet-mnist`), trained on the mnist package's digits. */
export const SHIPPED_MODEL_DIR = fileURLToPath(new URL('../../models/b-lenet-mnist', import.meta.url));

/** The LeNet baseline the shipped B-LeNet was started from (`models/lenet-mnist`). */
export const SHIPPED_BASELINE_DIR = fileURLToPath(new URL('../../models/lenet-mnist', import.meta.url));

/** The B-LeNet the package ships trained on Fashion-MNIST (`models/b-lenet-fashion-mnist`). */
export const SHIPPED_FASHION_MODEL_DIR = fileURLToPath(new URL('../../models/b-lenet-fashion-mnist', import.meta.url));
