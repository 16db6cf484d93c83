import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BRANCHYNET_TABLE_I_CPU } from '../../src/report/branchynet-table-1.ts';
import { renderReproductionMarkdown, type MeasuredNetwork, type ReproductionReport } from '../../src/report/reproduction.ts';

const network = (model: string, o: Partial<MeasuredNetwork>): MeasuredNetwork => ({
  model,
  dir: `out/${model}`,
  accuracy: 0.9,
  exitAccuracy: [0.9],
  meanMs: 2,
  p95Ms: 3,
  exitShare: [1],
  thresholds: [],
  epochs: 2,
  trainSamples: 1000,
  epochSeconds: [10, 12],
  ...o,
});

function report(withPaper: boolean): ReproductionReport {
  return {
    command: 'branchy reproduce --quick',
    machine: { cpu: 'test CPU', cores: 2, node: 'v20' },
    runtime: 'tfjs-wasm',
    startedAt: '2026-01-01T00:00:00.000Z',
    minutes: 3,
    recipe: 'a recipe',
    constraint: 'a constraint',
    datasets: [
      {
        name: 'fashion-mnist',
        title: 'Fashion-MNIST',
        source: 'idx:/data',
        counts: { train: 1000, validation: 100, test: 200 },
        latencySamples: 200,
        pairs: [
          {
            baseline: network('lenet', { accuracy: 0.8765 }),
            branchy: network('b-lenet', {
              accuracy: 0.9012,
              exitAccuracy: [0.85, 0.9],
              meanMs: 0.5,
              exitShare: [0.75, 0.25],
              thresholds: [0.1234],
              epochSeconds: [20],
            }),
            branchyFinalOnlyMs: 2.2,
            validation: { accuracy: 0.9, finalAccuracy: 0.91, predictedSpeedup: 3.5 },
            ...(withPaper ? { paper: BRANCHYNET_TABLE_I_CPU.lenet } : {}),
          },
        ],
      },
    ],
    absent: [{ name: 'cifar10', reason: 'no directory given.', howTo: 'Pass --data cifar10:DIR.' }],
  };
}

describe('reproduction table', () => {
  it("keeps the paper's Table I CPU figures with their source", () => {
    assert.deepEqual(BRANCHYNET_TABLE_I_CPU.lenet.branchy, {
      network: 'B-LeNet',
      accuracyPercent: 99.25,
      timeMs: 0.62,
      gain: 5.4,
      thresholds: [0.025],
      exitPercent: [94.3, 5.63],
    });
    assert.equal(BRANCHYNET_TABLE_I_CPU.alexnet.branchy.gain, 1.5);
    assert.deepEqual(BRANCHYNET_TABLE_I_CPU.resnet110.branchy.exitPercent, [41.5, 13.8, 44.7]);
  });

  it('puts the measured rows beside the paper rows, gain = baseline time / branchy time, and names absent data sets', () => {
    const md = renderReproductionMarkdown(report(true));
    assert.match(
      md,
      /\| LeNet \| paper \| 99\.20 \| 3\.37 \| - \| - \| - \|\n\| LeNet \| here \| 87\.65 \| 2\.000 \| - \| - \| - \|\n\| B-LeNet \| paper \| 99\.25 \| 0\.62 \| 5\.4x \| 0\.025 \| 94\.3, 5\.63 \|\n\| B-LeNet \| here \| 90\.12 \| 0\.500 \| 4\.00x \| 0\.123 \| 75\.0, 25\.0 \|/,
    );
    assert.match(md, /trunk alone \(early exits skipped\) 2\.200 ms, so early exit gains 4\.40x over its own trunk/);
    assert.match(md, /\| fashion-mnist \| B-LeNet \| 2 \| 1000 \| 20\.0 \| 50 \|/);
    assert.match(md, /- cifar10: no directory given\. Pass --data cifar10:DIR\./);
  });

  it('says so when the paper has no figures for a data set', () => {
    const md = renderReproductionMarkdown(report(false));
    assert.doesNotMatch(md, /\| paper \|/);
    assert.match(md, /The paper reports no figures for this data set\./);
  });
});
