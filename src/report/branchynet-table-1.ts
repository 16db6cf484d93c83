/** One row of the BranchyNet paper's Table I: a network with or without early exits, as the paper measured it. */
export interface PaperRow {
  network: string;
  /** Test accuracy in percent. */
  accuracyPercent: number;
  /** Mean inference time per test sample, in milliseconds. */
  timeMs: number;
  /** Speed-up over the baseline (branchy rows only). */
  gain?: number;
  /** Entropy threshold per early exit (branchy rows only). */
  thresholds?: number[];
  /** Percent of test samples leaving at each exit, final last (branchy rows only). */
  exitPercent?: number[];
}

/** A baseline and its branchy form, as the paper reports them for one data set. */
export interface PaperPair {
  /** The data set, as the paper names it. */
  dataset: string;
  baseline: PaperRow;
  branchy: PaperRow;
}

/** Where the reference figures come from. */
export const BRANCHYNET_TABLE_I_SOURCE =
  'S. Teerapittayanon, B. McDanel, H. T. Kung, "BranchyNet: Fast Inference via Early Exiting from Deep Neural Networks", ICPR 2016 (arXiv:1709.01686), Table I, CPU rows (a 3.0 GHz CPU with 20 MB L3 cache; Chainer)';

/** The CPU rows of Table I, by the zoo name of the baseline network. */
export const BRANCHYNET_TABLE_I_CPU: Readonly<Record<string, PaperPair>> = Object.freeze({
  lenet: {
    dataset: 'MNIST',
    baseline: { network: 'LeNet', accuracyPercent: 99.2, timeMs: 3.37 },
    branchy: { network: 'B-LeNet', accuracyPercent: 99.25, timeMs: 0.62, gain: 5.4, thresholds: [0.025], exitPercent: [94.3, 5.63] },
  },
  alexnet: {
    dataset: 'CIFAR-10',
    baseline: { network: 'AlexNet', accuracyPercent: 78.38, timeMs: 9.56 },
    branchy: { network: 'B-AlexNet', accuracyPercent: 79.19, timeMs: 6.32, gain: 1.5, thresholds: [0.0001, 0.05], exitPercent: [65.6, 25.2, 9.2] },
  },
  resnet110: {
    dataset: 'CIFAR-10',
    baseline: { network: 'ResNet-110', accuracyPercent: 80.7, timeMs: 137.2 },
    branchy: { network: 'B-ResNet-110', accuracyPercent: 79.17, timeMs: 73.5, gain: 1.9, thresholds: [0.3, 0.2], exitPercent: [41.5, 13.8, 44.7] },
  },
});
