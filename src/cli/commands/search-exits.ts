import { Command } from 'commander';
import { BranchyArgumentError } from '../../common/errors.ts';
import { loadDataSource } from '../../data/source.ts';
import type { TfjsBackend } from '../../engine/tfjs/index.ts';
import { formatTable, ms, percent } from '../../report/text-table.ts';
import { BUILT_IN_HEADS, type BuiltInHead } from '../../train/exit-heads.ts';
import { addDataOptions } from '../data-source.ts';
import { positiveInt, positiveIntList, positiveNumber, share } from '../parse.ts';
import { addOptimizerOptions, trainOptionsFrom } from './train.ts';

function headList(text: string): BuiltInHead[] {
  const names = text.split(',').map((h) => h.trim());
  for (const h of names)
    if (!(BUILT_IN_HEADS as readonly string[]).includes(h))
      throw new BranchyArgumentError('HEAD_UNKNOWN', `--heads names ${JSON.stringify(h)}; the built-in heads are ${BUILT_IN_HEADS.join(', ')}.`);
  return names as BuiltInHead[];
}

/** `branchy search-exits`. */
export function searchExitsCommand(): Command {
  const cmd = addDataOptions(
    new Command('search-exits')
      .description(
        'find where to branch and how deep: train a head of each kind at every position of a frozen trunk (features cached), measure their costs here, and write the cheapest set of exits within the accuracy budget',
      )
      .argument('<model-dir>', 'the trained network (its files are only read)')
      .option('--heads <a,b,...>', `head kinds to try (${BUILT_IN_HEADS.join(', ')})`, 'pool-fc,conv1,conv2')
      .option(
        '--positions <p,...>',
        'candidate positions (layers of our networks, segments of an imported trunk); default every one',
        positiveIntList('--positions'),
      )
      .option('--max-exits <n>', 'most early exits in the chosen set', positiveInt('--max-exits'), 3)
      .option(
        '--max-drop <points>',
        "accuracy budget on the validation split: at most this many points below the final exit's (default 0.2)",
        positiveNumber('--max-drop', true),
      )
      .option('--max-loss <points>', 'budget instead on the samples early exits get wrong where the final exit is right', positiveNumber('--max-loss', true))
      .option('--confidence <c>', 'with --max-drop or --max-loss: the budget must hold for the upper confidence bound at this level', share('--confidence'))
      .option('--profile-samples <n>', 'samples timed one at a time per candidate network', positiveInt('--profile-samples'), 200)
      .requiredOption('--out <dir>', 'model directory to write the chosen network to'),
  );
  addOptimizerOptions(cmd, 5).action(async (dir: string, o: Record<string, unknown>) => {
    const [{ searchExits }, { loadOnnxruntimeNode }] = await Promise.all([import('../../train/search-exits.ts'), import('../../engine/ort/node-engine.ts')]);
    if (o.maxDrop !== undefined && o.maxLoss !== undefined) throw new BranchyArgumentError('CLI_CONFLICTING_OPTIONS', 'give one of --max-drop and --max-loss.');
    const budget = ((o.maxLoss ?? o.maxDrop ?? 0.2) as number) / 100;
    const confidence = o.confidence as number | undefined;
    const constraint =
      o.maxLoss !== undefined
        ? { maxLoss: budget, ...(confidence === undefined ? {} : { confidence }) }
        : confidence === undefined
          ? { maxDrop: budget }
          : { maxDrop: budget, confidence };
    const log = (line: string) => process.stdout.write(`${line}\n`);
    const outcome = await searchExits({
      from: dir,
      out: o.out as string,
      heads: headList(o.heads as string),
      positions: o.positions as number[] | undefined,
      maxExits: o.maxExits as number,
      constraint,
      splits: loadDataSource(o.data as string, o.splitSeed as number),
      options: { ...trainOptionsFrom(o), mode: 'frozen' },
      backend: o.backend as TfjsBackend,
      trainSamples: o.trainSamples as number | undefined,
      profileSamples: o.profileSamples as number,
      ort: loadOnnxruntimeNode,
      log,
      allowClassMismatch: o.allowClassMismatch as boolean,
    });
    const { point, trunk } = outcome;
    log('');
    log(
      formatTable([
        ['position', 'head', 'validation accuracy', 'trunk to here', 'head', 'alone: leaving', 'alone: expected cost', 'chosen'],
        ...outcome.candidates.map((c) => [
          c.where,
          c.head,
          percent(c.validationAccuracy),
          ms(c.trunkMs),
          ms(c.headMs),
          percent(c.alone.share, 1),
          ms(c.alone.expectedMs),
          c.chosen ? '*' : '',
        ]),
      ]),
    );
    log('');
    log(
      `chosen (*) among ${outcome.setsCompared} exit sets on ${outcome.runtime}: ${outcome.chosen.map((c) => `${c.head} ${c.where}`).join(' + ')}; thresholds [${point.thresholds.map((t) => +t.toPrecision(4)).join(', ')}], leaving at each exit ${point.exitShare.map((s) => percent(s, 1)).join(' / ')}`,
    );
    log(
      `validation accuracy ${percent(point.accuracy)} vs trunk alone ${percent(trunk.accuracy)}; predicted batch-1 cost ${ms(point.expectedCost)} vs trunk alone ${ms(trunk.ms)} (${(trunk.ms / point.expectedCost).toFixed(2)}x)`,
    );
    log(
      `trunk features ${outcome.featureSeconds.toFixed(1)} s, head training ${outcome.headSeconds.toFixed(1)} s; written to ${o.out as string} (branchy calibrate measures its real costs)`,
    );
  });
  return cmd;
}
