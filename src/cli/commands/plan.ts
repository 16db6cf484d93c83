import { Command, Option } from 'commander';
import { BranchyArgumentError } from '../../common/errors.ts';
import { formatTable, percent } from '../../report/text-table.ts';
import { positiveInt, positiveNumber, share } from '../parse.ts';
import type { PlanCandidate, PlanConstraint } from '../../cascade/planner.ts';
import type { FeatureDtype, PlanObjective } from '../../cascade/types.ts';

/** The constraint the user gave (at most one), with its words. */
function constraintFrom(o: Record<string, unknown>): { constraint: PlanConstraint; text: string } {
  if (o.maxDrop !== undefined && o.minAccuracy !== undefined)
    throw new BranchyArgumentError('CLI_CONFLICTING_OPTIONS', 'give one of --max-drop and --min-accuracy, not both.');
  if (o.minAccuracy !== undefined)
    return { constraint: { minAccuracy: o.minAccuracy as number }, text: `validation accuracy at least ${percent(o.minAccuracy as number)}` };
  const points = (o.maxDrop as number | undefined) ?? 0.2;
  return {
    constraint: { maxDrop: points / 100 },
    text: `validation accuracy at most ${points} points below the final exit's${o.maxDrop === undefined ? ' (default)' : ''}`,
  };
}

const short = (t: number) => +t.toPrecision(4);

const OBJECTIVE_WORDS: Record<PlanObjective, string> = { latency: 'mean latency', energy: "the device's energy", bytes: 'bytes sent' };

const SCALING_HELP = `
How it scales: every candidate is enumerated and costed exactly. A candidate is a placement (cut points × an
increasing chain of tiers, the first unit on the first tier) × forwarding (features or raw input) × an
operating point of the stored Pareto front. For N stages, T tiers and F front points (at most 400 are stored)
that is 2·F·(C(N+T−2, T−1) − 1) candidates: 4·F for B-LeNet on 3 tiers, 10·F for B-ResNet-20; the whole
network on the first tier is shown too, as a reference. It is exact over the stored front: with one early exit
that is every threshold vector worth considering; with more, the front was found for the calibrating machine's
costs, and a threshold vector off it could be better under a placement's costs (see docs/planner.md).
`;

/** `branchy plan`. */
export function planCommand(): Command {
  return new Command('plan')
    .description(
      "choose where to cut a calibrated model, which tier runs each unit and which thresholds to use, from each tier's measured costs and each link's bandwidth and RTT; prints every candidate and writes the best plan for 'branchy unit'",
    )
    .argument('<model-dir>', "a calibrated model directory ('branchy calibrate')")
    .requiredOption(
      '--tiers <file>',
      'tiers file: tiers (device, edge, cloud) with a cost profile or speed factor and power figures each, and the links between them',
    )
    .addOption(
      new Option('--objective <what>', 'what to minimise: mean latency, the device energy, or bytes sent')
        .choices(['latency', 'energy', 'bytes'])
        .default('latency'),
    )
    .option('--max-drop <points>', "points of validation accuracy the plan may lose against the final exit's (default 0.2)", positiveNumber('--max-drop', true))
    .option('--min-accuracy <share>', 'least validation accuracy of the plan (e.g. 0.985)', share('--min-accuracy'))
    .option('--out <dir>', 'plan directory to write the best candidate to (for branchy unit)')
    .addOption(new Option('--feature-dtype <dtype>', 'what features (or the input) travel as').choices(['f32', 'f16', 'int8']).default('f32'))
    .option(
      '--max-wait-ms <ms>',
      "each successor's micro-batching wait, as its branchy unit --max-wait-ms (the first unit is charged serve's 2 ms)",
      positiveNumber('--max-wait-ms', true),
      0,
    )
    .option(
      '--requests-per-s <r>',
      'requests per second offered to the first unit, which decides whether a tier under a CPU quota stays within its budget (default 0: one request alone)',
      positiveNumber('--requests-per-s', true),
      0,
    )
    .option('--top <n>', 'show only the n best candidates that meet the constraint (default: every candidate)', positiveInt('--top'))
    .option('--json', 'print the candidates and the choice as JSON', false)
    .addHelpText('after', SCALING_HELP)
    .action(async (dir: string, o: Record<string, unknown>) => {
      const { constraint, text } = constraintFrom(o);
      const [{ loadModelDir }, { placementSetup }, planner, { readPlan }] = await Promise.all([
        import('../../io/model-dir.ts'),
        import('../../cascade/placement-input.ts'),
        import('../../cascade/planner.ts'),
        import('../../cascade/plan.ts'),
      ]);
      const objective = o.objective as PlanObjective;
      const options = { featureDtype: o.featureDtype as FeatureDtype, maxWaitMs: o.maxWaitMs as number, requestsPerS: o.requestsPerS as number };
      const model = loadModelDir(dir);
      const { input, calibration, tiersFile, sources } = placementSetup(model, o.tiers as string, options);
      const { candidates, placements, skipped } = planner.planCandidates(input, constraint);
      const best = planner.bestCandidate(candidates, objective);
      const plan =
        o.out === undefined
          ? undefined
          : planner.writePlacementPlan(o.out as string, model, best, { objective, constraint: text, criterion: calibration.criterion, options });
      if (plan !== undefined) readPlan(o.out as string);
      const depth = input.spec.stages.length;
      if (o.json) {
        process.stdout.write(
          `${JSON.stringify({ model: dir, objective, constraint: text, placements, skipped, best: best.id, candidates, plan: o.out ?? null }, (_, v: unknown) => (Number.isNaN(v) ? null : v), 2)}\n`,
        );
        return;
      }
      const F = calibration.front.length;
      // Those meeting the constraint first, each group best first by the objective.
      const byObjective = planner.compareCandidates(objective);
      const sorted = [...candidates].sort((a, b) => Number(b.meets) - Number(a.meets) || byObjective(a, b));
      const ranked = sorted.filter((c) => !c.reference);
      const shown = o.top === undefined ? ranked : ranked.filter((c, i) => c === best || i < (o.top as number));
      const plans = candidates.length - F;
      const row = (c: PlanCandidate) => {
        const f = c.figures;
        return [
          c === best ? '*' : c.reference ? 'ref' : c.meets ? '' : '-',
          c.id,
          planner.unitsOf(c, depth),
          c.forward === 'none' ? '-' : c.forward,
          c.thresholds.map(short).join(', '),
          percent(c.accuracy),
          f.latencyP50Ms.toFixed(2),
          f.latencyMeanMs.toFixed(2),
          f.deviceEnergyMj.toFixed(3),
          Math.round(f.sentBytes),
          f.throughputPerS === null ? '-' : Math.round(f.throughputPerS),
        ];
      };
      const header = ['', '#', 'units (tier:stages)', 'forward', 'thresholds', 'accuracy', 'p50 ms', 'mean ms', 'device mJ', 'sent B', 'max/s'];
      const references = sorted.filter(
        (c, i, all) => c.reference && (o.top === undefined || c.point === best.point || all.filter((r) => r.reference).indexOf(c) < (o.top as number)),
      );
      const link = (l: (typeof tiersFile.links)[number]) => `${l.between[0]} ↔ ${l.between[1]} ${l.mbitPerS} Mbit/s, RTT ${l.rttMs} ms`;
      const requestText = (s: (typeof sources)[number]) =>
        s.request
          ? `, per request ${s.request.json.toFixed(3)} ms (JSON) / ${s.request.frame.toFixed(3)} ms (binary) outside the model (median of ${s.request.requests}, ${s.request.gapMs} ms apart)` +
            (s.request.idleMs === undefined ? '' : `, engine ${s.request.idleMs.toFixed(3)} ms slower after idling`) +
            (s.request.waitLateMs === undefined ? '' : `, batching waits ${s.request.waitLateMs.toFixed(3)} ms late`)
          : `, no per-request cost (${s.profile === 'model' ? "the model's profile has none" : 'the profile predates it'}: charged 0; measure one with 'branchy calibrate --profile-out')`;
      const quotaText = (s: (typeof sources)[number]) =>
        s.quota ? `; CPU quota ${s.quota.cpuShare} of a core per ${s.quota.periodMs} ms, burst speed factor ${s.quota.burstSpeedFactor}` : '';
      const power = (name: string) => {
        const p = tiersFile.tiers.find((t) => t.name === name)?.power;
        return p ? `; ${p.busyW} W busy, ${p.idleW} W idle, ${p.joulesPerByteSent} J/byte sent` : '';
      };
      const exact =
        depth === 2
          ? 'exact: with one early exit the stored front holds every threshold vector worth considering'
          : `exact over the ${F} stored front points; with ${depth - 1} early exits a threshold vector off the front could do better under a placement's costs`;
      const perExit = best.figures.perExit.map((e) => {
        const t = e.terms;
        return `  exit ${e.exit} (${best.tiers[e.unit]}, ${percent(best.exitShare[e.exit - 1], 1)} of samples): ${e.latencyMs.toFixed(2)} ms = compute ${t.computeMs.toFixed(3)} + frames ${t.codecMs.toFixed(3)} + requests ${t.requestMs.toFixed(3)} + transfer ${t.transferMs.toFixed(2)} + batching waits ${t.waitMs.toFixed(1)}; ${Math.round(e.sentBytes)} B sent; device ${e.deviceEnergyMj.toFixed(3)} mJ`;
      });
      const speeds = best.figures.speeds
        .filter((s) => s.mode !== 'fixed')
        .map(
          (s) =>
            `  ${s.tier} at its ${s.mode} speed: ${s.busyPerPeriodMs!.toFixed(2)} ms busy per ${tiersFile.tiers.find((t) => t.name === s.tier)!.quota!.periodMs} ms period at ${options.requestsPerS} requests/s (at least one request), ${s.mode === 'burst' ? 'within' : 'beyond'} the quota's ${s.budgetMs!.toFixed(1)} ms`,
        );
      const refBest = sorted.find((c) => c.reference && c.meets);
      const lines = [
        `${input.spec.name} (${dir}): ${F} operating points on the stored front (${calibration.validationCount} validation samples, criterion ${calibration.criterion}); features travel as ${options.featureDtype}, the first unit waits up to 2 ms to batch requests, each successor up to ${options.maxWaitMs} ms to batch frames`,
        ...sources.map(
          (s) =>
            `  tier ${s.name}: ${s.profile === 'model' ? "the model's profile" : s.profile} (${s.measuredOn})${s.speedFactor === 1 ? '' : ` ÷ speed factor ${s.speedFactor}`}${quotaText(s)}, frame costs ${s.codec === 'profile' ? 'from the profile' : 'measured here'}${requestText(s)}${power(s.name)}`,
        ),
        `  links: ${tiersFile.links.map(link).join('; ')}`,
        `${placements} placement${placements === 1 ? '' : 's'} × forwarding × ${F} points = ${plans} candidates (+${F} reference rows: the whole network on ${input.tiers[0].name}); ${exact}`,
        ...skipped.map((s) => `  skipped [${s.tiers.join(' → ')}] cut at ${s.cuts.join(',')}: ${s.reason}`),
        '',
        formatTable([header, ...shown.map(row)]),
        '',
        `for comparison, the whole network on ${input.tiers[0].name} (not a plan of units):`,
        '',
        formatTable([header, ...references.map(row)]),
        '',
        `best (*) by ${OBJECTIVE_WORDS[objective]} under ${text}: #${best.id} ${planner.unitsOf(best, depth)}, forwarding ${best.forward}, thresholds [${best.thresholds.map(short).join(', ')}], validation accuracy ${percent(best.accuracy)}`,
        ...perExit,
        ...speeds,
        `(sorted by ${OBJECTIVE_WORDS[objective]}, those meeting the constraint first; '-': fails it; max/s: samples per second with full batches; ${o.top === undefined ? 'every candidate shown' : `the ${o.top as number} best of ${plans} shown`})`,
      ];
      if (refBest && planner.objectiveValue(refBest, objective) < planner.objectiveValue(best, objective)) {
        lines.push(
          `note: the whole network on ${input.tiers[0].name} (#${refBest.id}) does better on ${OBJECTIVE_WORDS[objective]}; serve it there with 'branchy serve' and thresholds [${refBest.thresholds.map(short).join(', ')}] instead of a cascade.`,
        );
      }
      if (plan !== undefined) {
        const [first, ...rest] = plan.units;
        lines.push(
          `plan written to ${o.out as string}: units ${plan.units.map((u) => u.name).join(', ')}, forwarding ${plan.forward}, thresholds [${plan.spec.policy.thresholds.map(short).join(', ')}]; run for example`,
          ...[...rest].reverse().map((u, i) => {
            const succ = plan.units.find((v) => v.name === u.successor);
            return `  branchy unit ${o.out as string} --unit ${u.name} --port ${8081 + rest.length - 1 - i}${succ ? ` --successor http://127.0.0.1:${8081 + rest.length - i}` : ''}`;
          }),
          `  branchy unit ${o.out as string} --unit ${first.name} --port 8080 --successor http://127.0.0.1:8081`,
        );
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
