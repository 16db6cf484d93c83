import { Command, Option } from 'commander';
import { loadModelDir } from '../../io/model-dir.ts';
import { formatTable } from '../../report/text-table.ts';
import { positiveIntList } from '../parse.ts';

/** `branchy split`. */
export function splitCommand(): Command {
  return new Command('split')
    .description(
      'cut a model into deployment units (device → edge → cloud): writes plan.json and one model directory per unit holding only its stages and exit heads (weights and ONNX files with checksums)',
    )
    .argument('<model-dir>', 'model directory (branchy.json + weights)')
    .requiredOption('--at <stage,...>', 'the last stage of every unit but the last, e.g. 1 (two units) or 1,2 (three)', positiveIntList('--at'))
    .option('--names <name,...>', 'one name per unit (default unit1, unit2, …)')
    .requiredOption('--out <dir>', 'plan directory to write')
    .addOption(
      new Option('--forward <what>', "what a unit hands on: its last stage's 'features', or the raw 'input' (the successor then runs from stage 1)")
        .choices(['features', 'input'])
        .default('features'),
    )
    .action(async (dir: string, o: Record<string, unknown>) => {
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
