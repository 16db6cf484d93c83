import { Command } from 'commander';
import { BranchyArgumentError } from '../../common/errors.ts';
import { loadDataSource } from '../../data/source.ts';
import type { TfjsBackend } from '../../engine/tfjs/index.ts';
import { formatTable, percent } from '../../report/text-table.ts';
import type { ExitRequest, PositionKind } from '../../train/add-exits.ts';
import type { HeadChoice } from '../../train/exit-heads.ts';
import { addDataOptions } from '../data-source.ts';
import { positiveIntList, positiveNumber } from '../parse.ts';
import { addOptimizerOptions, trainOptionsFrom } from './train.ts';

/** Reads `--head`: one head for every position, or one per position (`conv1,fc`); JSON is one head. */
function headsFor(text: string | undefined, count: number, parse: (t: string) => HeadChoice): HeadChoice[] {
  if (text === undefined) return new Array<HeadChoice>(count).fill(undefined);
  const trimmed = text.trim();
  const parts = trimmed.startsWith('[') || trimmed.startsWith('{') ? [trimmed] : trimmed.split(',').map((p) => p.trim());
  if (parts.length !== 1 && parts.length !== count)
    throw new BranchyArgumentError('HEAD_UNKNOWN', `--head names ${parts.length} heads for ${count} positions; give one head for all, or one per position.`);
  return Array.from({ length: count }, (_, i) => parse(parts.length === 1 ? parts[0] : parts[i]));
}

/** The positions the user gave, and how they count. */
function positionsFrom(o: Record<string, unknown>): { kind: PositionKind; values: number[] } {
  if ((o.at === undefined) === (o.cut === undefined))
    throw new BranchyArgumentError(
      'CLI_CONFLICTING_OPTIONS',
      'give the positions of the new exits with exactly one of --at (stage boundaries; segment boundaries of an imported trunk) or --cut (layer positions).',
    );
  return o.at !== undefined ? { kind: 'stage-boundary', values: o.at as number[] } : { kind: 'layer', values: o.cut as number[] };
}

/** `branchy add-exits`. */
export function addExitsCommand(): Command {
  const cmd = addDataOptions(
    new Command('add-exits')
      .description(
        'add exit heads to a trained network (ours, or an ONNX trunk from import-onnx --no-exits): run the frozen trunk once, cache its features, train only the heads, write a new model directory',
      )
      .argument('<model-dir>', 'the trained network (its files are only read)')
      .option(
        '--at <n,...>',
        "stage boundaries to branch at, counting the spec's branch points among them (LeNet's 1 is B-LeNet's boundary); on an imported ONNX trunk, its segment boundaries (after stage_n.onnx)",
        positiveIntList('--at'),
      )
      .option(
        '--cut <k,...>',
        'layer positions to branch at (after the k-th layer of the trunk, counted over all stages); the trunk is re-staged there, its weights unchanged',
        positiveIntList('--cut'),
      )
      .option(
        '--head <head>',
        "exit head: fc, pool-fc, conv1 (the paper's B-LeNet branch), conv2, a JSON layer list, or a file holding one; one for all positions or one per position (conv2,conv1). Default: conv1 on feature maps, fc on vectors",
      )
      .requiredOption('--out <dir>', 'model directory to write')
      .option('--resume', "continue head training from the checkpoints in '--out'", false)
      .option(
        '--max-drop <points>',
        'when choosing first thresholds: the share of validation samples, in percentage points, that early exits may get wrong where the final exit is right',
        positiveNumber('--max-drop', true),
        0.1,
      ),
  );
  addOptimizerOptions(cmd, 10).action(async (dir: string, o: Record<string, unknown>) => {
    const [{ addExits, resolvePositions }, { parseHead }, { trunkCut }, { loadModelDir }, { loadOnnxruntimeNode }, { trainProgress }] = await Promise.all([
      import('../../train/add-exits.ts'),
      import('../../train/exit-heads.ts'),
      import('../../train/trunk-cut.ts'),
      import('../../io/model-dir.ts'),
      import('../../engine/ort/node-engine.ts'),
      import('../progress.ts'),
    ]);
    const model = loadModelDir(dir);
    const cut = await trunkCut(model, loadOnnxruntimeNode);
    const { kind, values } = positionsFrom(o);
    // Heads go with the positions as the user listed them; positions grow with the values they are named by.
    const heads = headsFor(o.head as string | undefined, values.length, parseHead);
    const exits: ExitRequest[] = resolvePositions(cut, kind, values, model.spec.stages.length).map((position) => ({ position }));
    for (const e of exits) e.head = heads[values.findIndex((v) => resolvePositions(cut, kind, [v], model.spec.stages.length)[0] === e.position)];
    const splits = loadDataSource(o.data as string, o.splitSeed as number);
    const progress = trainProgress();
    const log = (line: string) => process.stdout.write(`${line}\n`);
    const outcome = await addExits({
      from: dir,
      out: o.out as string,
      exits,
      splits,
      options: { ...trainOptionsFrom(o), mode: 'frozen' },
      backend: o.backend as TfjsBackend,
      resume: o.resume as boolean,
      trainSamples: o.trainSamples as number | undefined,
      maxDrop: (o.maxDrop as number) / 100,
      ort: loadOnnxruntimeNode,
      log,
      onEvent: (_, e) => progress(e),
      allowClassMismatch: o.allowClassMismatch as boolean,
    });
    log(
      formatTable([
        ['exit', 'position', 'validation accuracy', 'test accuracy'],
        ...outcome.spec.stages.map((_, i) => {
          const head = outcome.heads.find((h) => h.exit === i + 1);
          return [
            `${i + 1}`,
            head ? cut.describe(head.position) : i + 1 === outcome.spec.stages.length ? 'final' : 'kept',
            percent(outcome.validationAccuracy[i]),
            percent(outcome.testAccuracy[i]),
          ];
        }),
      ]),
    );
    log(
      `trunk features ${outcome.featureSeconds.toFixed(1)} s, head training ${outcome.headSeconds.toFixed(1)} s; model written to ${o.out as string} (run 'branchy calibrate ${o.out as string} --data ${o.data as string}' to choose thresholds on measured costs)`,
    );
  });
  return cmd;
}
