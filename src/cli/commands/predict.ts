import { Command } from 'commander';
import { broadcastThresholds, parseThresholds } from '../../exit/index.ts';
import { runEarlyExit } from '../../infer/index.ts';
import { openModel } from '../../open/open-model.ts';
import { addEngineOptions, engineOptions } from '../engine-options.ts';
import { formatTable } from '../../report/text-table.ts';

/** `branchy predict`. */
export function predictCommand(): Command {
  return addEngineOptions(
    new Command('predict')
      .description('classify an image (PNG) or the samples of an IDX file with early exit')
      .argument('<model-dir>', 'model directory (branchy.json + weights)')
      .requiredOption('--input <file>', 'a PNG of the input size, or an IDX file of one or more samples (raw or .gz)')
      .option('--thresholds <t,...>', "one per early exit, or one for all (default: the model's)")
      .option('--criterion <name>', "exit criterion (default: the model's)")
      .option('--json', 'print JSON', false),
  ).action(async (dir: string, o: Record<string, unknown>) => {
    // pngjs loads with the first prediction, not with the CLI.
    const { readInputFile } = await import('../../data/png.ts');
    const { model, net } = await openModel(dir, engineOptions(o));
    const spec = model.spec;
    const samples = readInputFile(o.input as string, spec.input.shape);
    const per = samples[0].length;
    const data = new Float32Array(samples.length * per);
    samples.forEach((s, i) => data.set(s, i * per));
    const thresholds = o.thresholds === undefined ? undefined : broadcastThresholds(parseThresholds(o.thresholds as string), spec.stages.length - 1);
    const criterion = (o.criterion as string | undefined) ?? spec.policy.criterion;
    const { results, timing } = await runEarlyExit(net, { data, shape: [samples.length, ...spec.input.shape] }, { thresholds, criterion });
    net.dispose();
    if (o.json) {
      const answers = results.map((r, i) => ({
        index: i,
        label: r.label,
        class: spec.classes[r.label],
        exit: r.exit,
        score: r.score,
        criterion,
        probs: Array.from(r.probs),
      }));
      process.stdout.write(`${JSON.stringify({ model: spec.name, runtime: net.runtime, input: o.input, results: answers, ms: timing.totalMs }, null, 2)}\n`);
      return;
    }
    const scoreName = criterion === 'entropy' ? 'entropy (nats)' : `${criterion} score`;
    process.stdout.write(
      `${spec.name} on ${net.runtime}\n${formatTable([
        ['sample', 'label', 'exit', scoreName, 'confidence'],
        ...results.map((r, i) => [i, spec.classes[r.label], `${r.exit}/${spec.stages.length}`, r.score.toFixed(5), `${(100 * r.probs[r.label]).toFixed(2)}%`]),
      ])}\n`,
    );
  });
}
