import { Command, Option } from 'commander';
import { getCriterion, parseThresholds, broadcastThresholds } from '../../exit/index.ts';
import { loadDataSource } from '../../data/source.ts';
import { addDataOptions } from '../data-source.ts';
import { measureModel } from '../../infer/index.ts';
import { formatModelReport } from '../model-report.ts';
import { openModel } from '../../open/open-model.ts';
import { addEngineOptions, engineOptions } from '../engine-options.ts';
import { positiveInt } from '../parse.ts';

/** `branchy eval`. */
export function evalCommand(): Command {
  return addEngineOptions(
    addDataOptions(
      new Command('eval')
        .description('accuracy per exit, share leaving at each exit, and batch-1 latency with and without early exit')
        .argument('<model-dir>', 'model directory (branchy.json + weights)')
        .addOption(new Option('--split <name>', 'which split to evaluate').choices(['test', 'validation']).default('test'))
        .option('--thresholds <t,...>', "one per early exit, or one for all (default: the model's)")
        .option('--criterion <name>', "exit criterion (default: the model's): entropy, normalized-entropy, max-prob, margin")
        .option('--latency-samples <n>', 'samples timed one at a time (default: all of the split)', positiveInt('--latency-samples'))
        .option('--json', 'print JSON instead of tables', false),
    ),
  ).action(async (dir: string, o: Record<string, unknown>) => {
    const { model, net } = await openModel(dir, engineOptions(o));
    const splits = loadDataSource(o.data as string, o.splitSeed as number);
    const samples = splits[o.split as 'test' | 'validation'];
    const criterion = (o.criterion as string | undefined) ?? model.spec.policy.criterion;
    getCriterion(criterion);
    const thresholds = o.thresholds === undefined ? undefined : broadcastThresholds(parseThresholds(o.thresholds as string), model.spec.stages.length - 1);
    const report = await measureModel(net, samples, {
      thresholds,
      criterion,
      latencySamples: o.latencySamples as number | undefined,
      data: splits.source,
      allowClassMismatch: o.allowClassMismatch as boolean,
    });
    net.dispose();
    if (o.json) process.stdout.write(`${JSON.stringify({ model: dir, data: splits.source, split: o.split, ...report }, null, 2)}\n`);
    else process.stdout.write(`${formatModelReport(model.spec.name, `${splits.source}, ${o.split} split`, report)}\n`);
  });
}
