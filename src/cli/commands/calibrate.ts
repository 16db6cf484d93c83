import { Command } from 'commander';
import { BranchyArgumentError } from '../../common/errors.ts';
import { calibrateNetwork, type GuardedConstraint, type OperatingConstraint } from '../../calibrate/index.ts';
import { getCriterion } from '../../exit/index.ts';
import { updateManifest } from '../../io/index.ts';
import { loadDataSource } from '../../data/source.ts';
import { addDataOptions } from '../data-source.ts';
import { openModel } from '../../open/open-model.ts';
import { addEngineOptions, engineOptions } from '../engine-options.ts';
import { positiveInt, positiveNumber, share } from '../parse.ts';
import { formatTable, ms, percent } from '../../report/text-table.ts';
import type { RequestCost } from '../../cascade/request-cost.ts';

/** Reads the one constraint the user gave. */
function constraintFrom(o: Record<string, unknown>): { constraint: OperatingConstraint | GuardedConstraint; text: string } {
  type Choice = { constraint: OperatingConstraint | GuardedConstraint; text: string };
  const given: Choice[] = [];
  const confidence = o.confidence as number | undefined;
  if (confidence !== undefined && o.maxDrop === undefined && o.maxLoss === undefined)
    throw new BranchyArgumentError('CLI_CONFLICTING_OPTIONS', '--confidence guards an accuracy budget: give it with --max-drop or --max-loss.');
  const guard = confidence === undefined ? '' : ` at ${100 * confidence}% confidence (upper confidence bound)`;
  if (o.maxLoss !== undefined)
    given.push({
      constraint: { maxLoss: (o.maxLoss as number) / 100, ...(confidence === undefined ? {} : { confidence }) },
      text: `early exits wrong where the final exit is right on at most ${o.maxLoss} points of the validation samples${guard}`,
    });
  if (o.maxDrop !== undefined)
    given.push({
      constraint: confidence === undefined ? { maxDrop: (o.maxDrop as number) / 100 } : { maxDrop: (o.maxDrop as number) / 100, confidence },
      text: `validation accuracy at most ${o.maxDrop} points below the final exit's${guard}`,
    });
  if (o.targetSpeedup !== undefined)
    given.push({ constraint: { targetSpeedup: o.targetSpeedup as number }, text: `predicted speed-up at least ${o.targetSpeedup}x` });
  if (o.maxLatencyMs !== undefined)
    given.push({ constraint: { maxCost: o.maxLatencyMs as number }, text: `expected batch-1 cost at most ${o.maxLatencyMs} ms per sample` });
  if (o.minAccuracy !== undefined)
    given.push({ constraint: { minAccuracy: o.minAccuracy as number }, text: `validation accuracy at least ${percent(o.minAccuracy as number)}` });
  if (given.length > 1)
    throw new BranchyArgumentError(
      'CLI_CONFLICTING_OPTIONS',
      `give one of --max-drop, --max-loss, --target-speedup, --max-latency-ms, --min-accuracy; got ${given.length}.`,
    );
  return given[0] ?? { constraint: { maxDrop: 0.002 }, text: "validation accuracy at most 0.2 points below the final exit's (default)" };
}

/** `branchy calibrate`. */
export function calibrateCommand(): Command {
  return addEngineOptions(
    addDataOptions(
      new Command('calibrate')
        .description(
          'profile each stage and exit, find the exact accuracy/cost Pareto front of thresholds on the validation split, and store the chosen thresholds',
        )
        .argument('<model-dir>', 'model directory (branchy.json + weights)')
        .option('--criterion <name>', "exit criterion to calibrate (default: the model's): entropy, normalized-entropy, max-prob, margin")
        .option(
          '--max-drop <points>',
          "cheapest point whose validation accuracy is within this many points of the final exit's (default 0.2)",
          positiveNumber('--max-drop', true),
        )
        .option(
          '--max-loss <points>',
          'cheapest point where early exits get wrong at most this many points of the validation samples that the final exit gets right (gains elsewhere cannot hide them)',
          positiveNumber('--max-loss', true),
        )
        .option(
          '--confidence <c>',
          'with --max-drop or --max-loss: the budget must hold for the upper confidence bound at this level (e.g. 0.95), so that it holds on unseen data',
          share('--confidence'),
        )
        .option(
          '--target-speedup <x>',
          'most accurate point with at least this predicted speed-up over the final exit alone',
          positiveNumber('--target-speedup'),
        )
        .option('--max-latency-ms <ms>', 'most accurate point whose expected batch-1 cost per sample is at most this', positiveNumber('--max-latency-ms'))
        .option('--min-accuracy <share>', 'cheapest point with at least this validation accuracy (e.g. 0.985)', share('--min-accuracy'))
        .option('--profile-samples <n>', 'samples timed one at a time for the cost profile', positiveInt('--profile-samples'), 200)
        .option('--batch-size <n>', 'batch size of the batched cost profile', positiveInt('--batch-size'), 256)
        .option(
          '--profile-out <file>',
          "also write this machine's tier profile (stage, exit and frame costs, and the cost of a lone HTTP request outside the model) for 'branchy plan --tiers'",
        )
        .option(
          '--request-samples <n>',
          'with --profile-out: single-sample requests timed per body kind (JSON, binary) for the per-request cost',
          positiveInt('--request-samples'),
          40,
        )
        .option('--request-gap-ms <ms>', 'with --profile-out: idle time before each timed request', positiveNumber('--request-gap-ms', true), 50)
        .option('--json', 'print the front and choice as JSON', false),
    ),
  ).action(async (dir: string, o: Record<string, unknown>) => {
    const { constraint, text } = constraintFrom(o);
    const { model, net } = await openModel(dir, engineOptions(o));
    const criterion = getCriterion((o.criterion as string | undefined) ?? model.spec.policy.criterion);
    const splits = loadDataSource(o.data as string, o.splitSeed as number);
    const validation = splits.validation;
    const { calibration, front, chosen } = await calibrateNetwork(net, validation, {
      criterion,
      constraint,
      constraintText: text,
      data: splits.source,
      profile: { batch1Samples: o.profileSamples as number, batchSize: o.batchSize as number },
      allowClassMismatch: o.allowClassMismatch as boolean,
    });
    const { profile, tableSeconds, searchSeconds } = calibration;
    const stored = calibration.front;
    updateManifest(dir, (m) => ({ ...m, spec: { ...m.spec, policy: { criterion: criterion.name, thresholds: chosen.thresholds } }, calibration }));
    let request: RequestCost | undefined;
    try {
      if (o.profileOut !== undefined) {
        const [{ measureCodecCost }, { tierProfileOf, writeTierProfile }, { measureRequestCost }] = await Promise.all([
          import('../../cascade/codec-cost.ts'),
          import('../../cascade/tier-profile.ts'),
          import('../../cascade/request-cost.ts'),
        ]);
        request = await measureRequestCost(net, validation, { requests: o.requestSamples as number, gapMs: o.requestGapMs as number });
        writeTierProfile(o.profileOut as string, tierProfileOf(model.spec, profile, measureCodecCost({ classes: model.spec.classes.length }), request));
      }
    } finally {
      net.dispose();
    }
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ model: dir, ...calibration, chosenPoint: chosen }, null, 2)}\n`);
      return;
    }
    const finalCost = profile.finalOnlyCost;
    const rows = stored.map((p, i) => [
      i === calibration.chosen ? '*' : '',
      p.thresholds.map((t) => +t.toPrecision(4)).join(', '),
      percent(p.accuracy),
      ms(p.expectedCost),
      `${(finalCost / p.expectedCost).toFixed(2)}x`,
      p.exitShare.map((s) => percent(s, 1)).join(' / '),
    ]);
    const shown = rows.length <= 25 ? rows : rows.filter((_, i) => i % Math.ceil(rows.length / 20) === 0 || i === calibration.chosen || i === rows.length - 1);
    process.stdout.write(
      [
        `${model.spec.name}: ${front.length} Pareto-optimal threshold vectors on ${validation.count} validation samples (${splits.source}), criterion ${criterion.name}, costs measured on ${profile.runtime}${shown.length < rows.length ? `; ${shown.length} shown` : ''}`,
        '',
        formatTable([['', 'thresholds', 'accuracy', 'expected cost', 'speed-up', 'leaving at each exit'], ...shown]),
        '',
        `chosen (*): ${text}: thresholds [${chosen.thresholds.map((t) => +t.toPrecision(4)).join(', ')}], validation accuracy ${percent(chosen.accuracy)}, predicted speed-up ${(finalCost / chosen.expectedCost).toFixed(2)}x`,
        `written to ${dir}/branchy.json${o.profileOut === undefined ? '' : ` and the tier profile to ${o.profileOut as string}`}; all-exits pass ${tableSeconds.toFixed(2)} s, front search ${(1000 * searchSeconds).toFixed(1)} ms`,
        ...(request === undefined
          ? []
          : [
              `per request outside the model (median of ${request.method.requests}, ${request.method.gapMs} ms apart, on loopback): JSON ${ms(request.json.overheadMs)} (round trip ${ms(request.json.roundTripMs)}, engine ${ms(request.json.engineMs)}), binary ${ms(request.frame.overheadMs)} (round trip ${ms(request.frame.roundTripMs)}, engine ${ms(request.frame.engineMs)})`,
            ]),
      ].join('\n') + '\n',
    );
  });
}
