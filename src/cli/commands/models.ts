import { Command } from 'commander';
import { networkFacts } from '../../spec/shapes.ts';
import { listZoo } from '../../zoo/index.ts';
import { formatTable } from '../../report/text-table.ts';

/** One zoo network as `branchy models` describes it. */
export interface ZooModelSummary {
  name: string;
  description: string;
  baseline?: string;
  /** [height, width, channels]. */
  inputShape: [number, number, number];
  exits: number;
  /** Parameters of the whole network, batch-norm statistics included. */
  params: number;
  /** FLOPs per sample to reach and evaluate each exit, in exit order. */
  flopsToExit: number[];
}

/** Summaries of every zoo network, built with default options. */
export function zooSummaries(): ZooModelSummary[] {
  return listZoo().map((entry) => {
    const spec = entry.build();
    const facts = networkFacts(spec);
    return {
      name: entry.name,
      description: entry.description,
      ...(entry.baseline ? { baseline: entry.baseline } : {}),
      inputShape: spec.input.shape,
      exits: spec.exits.length,
      params: facts.params,
      flopsToExit: facts.flopsToExit,
    };
  });
}

/** A count with an SI suffix (`1.23M`), short enough for a table cell. */
function si(v: number): string {
  const units: [number, string][] = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [scale, suffix] of units) if (v >= scale) return `${(v / scale).toPrecision(3)}${suffix}`;
  return String(v);
}

/** `branchy models`. */
export function modelsCommand(): Command {
  return new Command('models')
    .description('list the networks of the model zoo: input shape, exits, parameters and FLOPs per sample to each exit')
    .option('--json', 'print JSON instead of a table')
    .action((o: { json?: boolean }) => {
      const summaries = zooSummaries();
      if (o.json) {
        process.stdout.write(`${JSON.stringify(summaries, null, 2)}\n`);
        return;
      }
      const rows: string[][] = [['name', 'input', 'exits', 'params', 'FLOPs to each exit', 'description']];
      for (const s of summaries) rows.push([s.name, s.inputShape.join('x'), String(s.exits), si(s.params), s.flopsToExit.map(si).join(' / '), s.description]);
      process.stdout.write(`${formatTable(rows)}\n`);
    });
}
