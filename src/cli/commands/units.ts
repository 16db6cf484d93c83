import { Command } from 'commander';
import { formatTable } from '../../report/text-table.ts';
import { positiveInt } from '../parse.ts';

/** `branchy units`. */
export function unitsCommand(): Command {
  return new Command('units')
    .description('list the live deployment units of a NATS deployment (they announce themselves in the NATS services protocol, $SRV)')
    .requiredOption('--nats <url>', 'the NATS server, e.g. nats://127.0.0.1:4222')
    .option('--wait-ms <ms>', 'how long to gather the units’ replies', positiveInt('--wait-ms'), 500)
    .option('--json', 'print JSON', false)
    .action(async (o: Record<string, unknown>) => {
      const { listUnits } = await import('../../cascade/nats.ts');
      const units = await listUnits(o.nats as string, o.waitMs as number);
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ units }, null, 2)}\n`);
        return;
      }
      if (units.length === 0) {
        process.stdout.write(`no units answered on ${o.nats as string} within ${o.waitMs as number} ms\n`);
        return;
      }
      process.stdout.write(
        `${formatTable([
          ['unit', 'model', 'model id', 'stages', 'version', 'subject', 'requests', 'errors', 'mean ms'],
          ...units.map((u) => [
            u.unit,
            u.model,
            `${u.modelId.slice(0, 12)}…`,
            `${u.stages[0]}..${u.stages[1]}`,
            u.version,
            u.subject,
            u.stats?.numRequests ?? '-',
            u.stats?.numErrors ?? '-',
            u.stats === undefined ? '-' : (u.stats.averageProcessingTimeNs / 1e6).toFixed(3),
          ]),
        ])}\n`,
      );
    });
}
