import { Command, Option } from 'commander';
import { BranchyArgumentError } from '../../common/errors.ts';
import { loadModelDir, readManifest } from '../../io/model-dir.ts';
import { SHARED_ANSWERS, type SharedAnswers } from '../../io/shared-successor.ts';
import { formatTable } from '../../report/text-table.ts';
import { positiveIntList } from '../parse.ts';

/** `branchy split`. */
export function splitCommand(): Command {
  return new Command('split')
    .description(
      "cut a model into deployment units (device → edge → cloud): writes plan.json and one model directory per unit holding only its stages and exit heads (weights and ONNX files with checksums); given a shared successor ('branchy train-successor'), one front unit per front (its stages up to its cut, with its adapter) and one successor unit they all hand on to",
    )
    .argument('<model-dir>', 'model directory (branchy.json + weights), or a shared successor directory')
    .option(
      '--at <stage,...>',
      'the last stage of every unit but the last, e.g. 1 (two units) or 1,2 (three); required but for a shared successor',
      positiveIntList('--at'),
    )
    .option('--successor-name <name>', "a shared successor's unit name", 'successor')
    .addOption(
      new Option(
        '--answers <space>',
        "a shared successor's class space: 'front' (each front answers in its own classes) or 'union' (every front in the successor's union of classes) (default: front)",
      ).choices([...SHARED_ANSWERS]),
    )
    .option('--names <name,...>', 'one name per unit (default unit1, unit2, …)')
    .requiredOption('--out <dir>', 'plan directory to write')
    .addOption(
      new Option('--forward <what>', "what a unit hands on: its last stage's 'features', or the raw 'input' (the successor then runs from stage 1)")
        .choices(['features', 'input'])
        .default('features'),
    )
    .action(async (dir: string, o: Record<string, unknown>) => {
      if (readManifest(dir).shared !== undefined) return splitShared(dir, o);
      if (o.answers !== undefined) {
        throw new BranchyArgumentError('CLI_CONFLICTING_OPTIONS', `'${dir}' is not a shared successor; --answers is for one ('branchy train-successor').`);
      }
      if (o.at === undefined) throw new BranchyArgumentError('CLI_BAD_OPTION', 'give --at: the last stage of every unit but the last (e.g. --at 1).');
      const { splitModel, writePlan } = await import('../../cascade/plan.ts');
      const model = loadModelDir(dir);
      const names = o.names === undefined ? undefined : (o.names as string).split(',').map((s) => s.trim());
      const split = splitModel(model, { at: o.at as number[], names, forward: o.forward as 'features' | 'input' });
      const plan = writePlan(o.out as string, split);
      process.stdout.write(
        `${plan.model} (model id ${plan.modelId.slice(0, 12)}…) cut into ${plan.units.length} units in ${o.out as string}, forwarding ${plan.forward}\n\n${formatTable(
          [
            ['unit', 'stages', 'exits', 'takes', 'input', 'hands on to'],
            ...plan.units.map((u) => [
              u.name,
              `${u.stages[0]}..${u.stages[1]}`,
              `${u.firstExit}..${u.stages[1]}`,
              u.takes,
              u.inputShape.join('×'),
              u.successor ?? '-',
            ]),
          ],
        )}\n`,
      );
    });
}

async function splitShared(dir: string, o: Record<string, unknown>): Promise<void> {
  if (o.at !== undefined || o.names !== undefined || o.forward !== 'features') {
    throw new BranchyArgumentError(
      'CLI_CONFLICTING_OPTIONS',
      `'${dir}' is a shared successor: its fronts' cuts and names were set when they were trained; drop --at, --names and --forward.`,
    );
  }
  const { writeSharedPlan } = await import('../../cascade/shared-plan.ts');
  const plan = writeSharedPlan(dir, o.out as string, { successorName: o.successorName as string, answers: o.answers as SharedAnswers | undefined });
  const s = plan.successor;
  const space = plan.answers === 'union' ? `the union of ${s.classes.length} classes` : "each front's classes";
  process.stdout.write(
    `${plan.model} (model id ${plan.modelId.slice(0, 12)}…) shared by ${plan.fronts.length} front(s) in ${o.out as string}, answering in ${space}\n\n${formatTable(
      [
        ['unit', 'network', 'stages', 'takes', 'input', 'sends', 'classes', 'hands on to'],
        ...plan.fronts.map((f) => [
          f.name,
          f.network,
          `1..${f.cut} + adapter`,
          'input',
          f.inputShape.join('×'),
          s.inputShape.join('×'),
          `${plan.answers === 'union' ? s.classes.length : f.classes.length}`,
          s.name,
        ]),
        [s.name, plan.model, `1..${s.stages}`, 'features', s.inputShape.join('×'), '-', `${s.classes.length}`, '-'],
      ],
    )}\n`,
  );
}
