import { Command, Option } from 'commander';
import { BranchyArgumentError } from '../../common/errors.ts';
import { readStoredCalibration } from '../../io/index.ts';
import type { CalibrationReportData, ReportFormat } from '../../report/index.ts';
import { hasLayers, networkFacts } from '../../spec/shapes.ts';
import { loadDataSource } from '../../data/source.ts';
import { addDataOptions } from '../data-source.ts';
import { measureModel } from '../../infer/index.ts';
import { openModel } from '../../open/open-model.ts';
import { addEngineOptions, engineOptions } from '../engine-options.ts';
import { positiveInt } from '../parse.ts';

/** `branchy report`. */
export function reportCommand(): Command {
  return addEngineOptions(
    addDataOptions(
      new Command('report')
        .description(
          'write an offline HTML (or Markdown) report of a calibrated model: Pareto front, exits, cost profile, and the test split at the chosen thresholds next to the network without early exits',
        )
        .argument('<model-dir>', "a model directory calibrated with 'branchy calibrate'")
        .requiredOption('--out <dir>', 'directory to write index.html (or report.md and its SVGs) into')
        .addOption(new Option('--format <format>', 'html or md').choices(['html', 'md']).default('html'))
        .option('--latency-samples <n>', 'test samples timed one at a time', positiveInt('--latency-samples'), 1000),
    ),
  ).action(async (dir: string, o: Record<string, unknown>) => {
    const { model, net } = await openModel(dir, engineOptions(o));
    const calibration = readStoredCalibration(model.manifest, dir);
    if (!calibration) throw new BranchyArgumentError('REPORT_NOT_CALIBRATED', `'${dir}' has no calibration; run 'branchy calibrate ${dir}' first.`);
    const splits = loadDataSource(o.data as string, o.splitSeed as number);
    const chosen = calibration.front[calibration.chosen];
    const measured = await measureModel(net, splits.test, {
      thresholds: chosen.thresholds,
      criterion: calibration.criterion,
      latencySamples: o.latencySamples as number,
      data: splits.source,
      allowClassMismatch: o.allowClassMismatch as boolean,
    });
    net.dispose();
    const profile = calibration.profile;
    const finalCost = profile.finalOnlyCost;
    const finalOnly = calibration.front.find((p) => p.thresholds.every((t) => t === 0));
    const data: CalibrationReportData = {
      model: {
        name: model.spec.name,
        description: model.spec.description,
        exits: model.spec.exits.length,
        classes: model.spec.classes.length,
        params: hasLayers(model.spec) ? networkFacts(model.spec).params : null,
      },
      data: { source: splits.source, validationCount: calibration.validationCount, testCount: splits.test.count },
      criterion: calibration.criterion,
      runtime: profile.runtime,
      machine: profile.machine,
      costProfile: {
        pieces: profile.pieces.map((p) => ({
          kind: p.kind,
          index: p.index,
          batch1MeanMs: p.batch1.meanMs,
          batch1P95Ms: p.batch1.p95Ms,
          batchedMeanMs: p.batched.meanMs,
          batchSize: p.batched.batchSize,
          flops: p.flops,
          params: p.params,
        })),
        costToExit: profile.costToExit,
      },
      front: calibration.front,
      chosen: { index: calibration.chosen, constraint: calibration.constraint },
      baseline: { accuracy: finalOnly?.accuracy ?? calibration.perExitAccuracy[calibration.perExitAccuracy.length - 1], cost: finalCost },
      perExitAccuracy: calibration.perExitAccuracy,
      test: {
        accuracy: measured.evaluation.accuracy,
        finalAccuracy: measured.evaluation.finalAccuracy,
        exitShare: measured.evaluation.exitShare,
        earlyExitMeanMs: measured.earlyExit.meanMs,
        finalOnlyMeanMs: measured.finalOnly.meanMs,
        measuredSpeedup: measured.speedup,
        predictedSpeedup: finalCost / chosen.expectedCost,
      },
      calibrationSeconds: calibration.tableSeconds + calibration.searchSeconds,
    };
    const out = o.out as string;
    // vega loads when a report is written, not with the CLI.
    const { writeReport } = await import('../../report/index.ts');
    const files = await writeReport(out, data, o.format as ReportFormat);
    process.stdout.write(`report written: ${files.join(', ')}\n`);
    process.stdout.write(
      `test split at thresholds [${chosen.thresholds.map((t) => +t.toPrecision(4)).join(', ')}]: accuracy ${(100 * measured.evaluation.accuracy).toFixed(2)}% vs ${(100 * measured.evaluation.finalAccuracy).toFixed(2)}% without early exit; speed-up measured ${measured.speedup.toFixed(2)}x, predicted ${(finalCost / chosen.expectedCost).toFixed(2)}x (run on ${measured.runtime}; costs profiled on ${profile.runtime})\n`,
    );
  });
}
