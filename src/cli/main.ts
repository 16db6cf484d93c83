import { Command, CommanderError } from 'commander';
import { BranchyError } from '../common/errors.ts';
import { calibrateCommand } from './commands/calibrate.ts';
import { demoCommand } from './commands/demo.ts';
import { evalCommand } from './commands/eval.ts';
import { exportCommand } from './commands/export.ts';
import { importOnnxCommand } from './commands/import-onnx.ts';
import { modelsCommand } from './commands/models.ts';
import { predictCommand } from './commands/predict.ts';
import { reportCommand } from './commands/report.ts';
import { serveCommand } from './commands/serve.ts';
import { reproduceCommand } from './commands/reproduce.ts';
import { trainCommand } from './commands/train.ts';

/** Exit code for a usage or input error (bad flag, bad file, bad model). */
export const EXIT_USAGE = 2;

/** The `branchy` program. */
export function program(): Command {
  return new Command('branchy')
    .description('Early-exit neural networks (BranchyNet): train, evaluate and run networks that answer early on easy inputs.')
    .version('0.1.0')
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
    .addCommand(serveCommand())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
}

/** Runs the CLI; returns the process exit code. Errors with a code print as `branchy: CODE: message`. */
export async function main(argv: string[]): Promise<number> {
  const cli = program();
  cli.commands.forEach((c) => c.exitOverride());
  try {
    await cli.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE;
    if (error instanceof BranchyError) {
      process.stderr.write(`branchy: ${error.code}: ${error.message}\n`);
      return EXIT_USAGE;
    }
    // Printed here because tfjs-wasm's own uncaught-exception handler would dump its whole minified source.
    process.stderr.write(`branchy: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}
