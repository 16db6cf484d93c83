import { Command, CommanderError } from 'commander';
import { BranchyError } from '../common/errors.ts';
import { BRANCHY_VERSION } from '../common/version.ts';
import { addExitsCommand } from './commands/add-exits.ts';
import { calibrateCommand } from './commands/calibrate.ts';
import { demoCommand } from './commands/demo.ts';
import { evalCommand } from './commands/eval.ts';
import { exportCommand } from './commands/export.ts';
import { importOnnxCommand } from './commands/import-onnx.ts';
import { modelsCommand } from './commands/models.ts';
import { planCommand } from './commands/plan.ts';
import { predictCommand } from './commands/predict.ts';
import { reportCommand } from './commands/report.ts';
import { serveCommand } from './commands/serve.ts';
import { splitCommand } from './commands/split.ts';
import { unitCommand } from './commands/unit.ts';
import { unitsCommand } from './commands/units.ts';
import { searchExitsCommand } from './commands/search-exits.ts';
import { reproduceCommand } from './commands/reproduce.ts';
import { trainCommand } from './commands/train.ts';
import { attachFrontCommand, trainSuccessorCommand } from './commands/shared-successor.ts';

/** Exit code for a usage or input error (bad flag, bad file, bad model). */
export const EXIT_USAGE = 2;

/** The `branchy` program. */
export function program(): Command {
  return new Command('branchy')
    .description('Early-exit neural networks (BranchyNet): train, evaluate and run networks that answer early on easy inputs.')
    .version(BRANCHY_VERSION)
    .addCommand(demoCommand())
    .addCommand(trainCommand())
    .addCommand(evalCommand())
    .addCommand(predictCommand())
    .addCommand(calibrateCommand())
    .addCommand(reportCommand())
    .addCommand(reproduceCommand())
    .addCommand(modelsCommand())
    .addCommand(exportCommand())
    .addCommand(importOnnxCommand())
    .addCommand(addExitsCommand())
    .addCommand(searchExitsCommand())
    .addCommand(serveCommand())
    .addCommand(trainSuccessorCommand())
    .addCommand(attachFrontCommand())
    .addCommand(splitCommand())
    .addCommand(planCommand())
    .addCommand(unitCommand())
    .addCommand(unitsCommand())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
}

/**
 * What to do about a library error in the CLI's terms: the library names its options (`threads`, `sloMs`), the
 * CLI names its flags.
 */
const FLAG_HINTS: Readonly<Record<string, string>> = {
  ENGINE_THREADS_NEED_ORT: 'drop --threads, or add --engine ort',
  ENGINE_NEEDS_LAYERS: 'run it with --engine ort',
  EXITS_CUT_NEEDS_LAYERS: 'use --at with segment boundaries',
  IMPORT_EXIT_NOT_PROBS: 'if the exit heads return logits, import with --exit-output logits',
  SERVE_NOT_CALIBRATED: "run 'branchy calibrate DIR' on each model first, or drop --slo-ms",
  TRAIN_INIT_MISMATCH: '--init-from must name the baseline this network was built from',
  TRAIN_NOTHING_TO_RESUME: 'drop --resume, or point --out at a directory a run checkpointed into',
  DATA_UNKNOWN_SOURCE: 'see --data in --help',
  DATA_MODEL_MISMATCH:
    "give the --data the model was trained on; --allow-class-mismatch accepts other class names (label n taken as the model's class n), never another input shape",
  CASCADE_NOT_CALIBRATED: "run 'branchy calibrate DIR' first",
  CASCADE_PLAN_IMPOSSIBLE: 'loosen --max-drop or --min-accuracy',
  TRAIN_FRONT_EXISTS: 'give the new front another --name',
  TRAIN_UNKNOWN_CLASSES: "train a successor with this front: 'branchy train-successor'",
};

/** Runs the CLI; returns the process exit code. Errors with a code print as `branchy: CODE: message (hint)`. */
export async function main(argv: string[]): Promise<number> {
  const cli = program();
  cli.commands.forEach((c) => c.exitOverride());
  try {
    await cli.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE;
    if (error instanceof BranchyError) {
      const hint = FLAG_HINTS[error.code];
      process.stderr.write(`branchy: ${error.code}: ${error.message}${hint === undefined ? '' : ` (${hint})`}\n`);
      return EXIT_USAGE;
    }
    // Printed here because tfjs-wasm's own uncaught-exception handler would dump its whole minified source.
    process.stderr.write(`branchy: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}
