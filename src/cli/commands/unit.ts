import { Command, Option } from 'commander';
import { BranchyArgumentError } from '../../common/errors.ts';
import { addConnectionOptions, connectionOptions } from '../connection-options.ts';
import { addEngineOptions, engineOptions } from '../engine-options.ts';
import { nonNegativeInt, positiveInt, positiveNumber } from '../parse.ts';
import { stopSignal } from '../process.ts';
import { checkUnitHost } from '../testbed-host.ts';

/** `branchy unit`. */
export function unitCommand(): Command {
  return addConnectionOptions(
    addEngineOptions(
      new Command('unit')
        .description(
          "run one deployment unit of a plan: the first serves branchy serve's predict route; every unit answers from its own exits and hands the rest to its successor within a deadline, else answers degraded from its last exit",
        )
        .argument('<plan-dir>', "plan directory written by 'branchy split' (of a model, or of a shared successor)")
        .requiredOption('--unit <name>', 'which unit of the plan to run')
        .option('--host <host>', 'address to bind: loopback, or with --testbed an address of 10.77.0.0/16', '127.0.0.1')
        .option(
          '--testbed',
          "allow --host to be an address of 10.77.0.0/16, only from inside a network namespace other than the machine's (the testbed of docs/testbed.md)",
          false,
        )
        .option(
          '--port <n>',
          'HTTP port (0: any free port); with --nats it serves health, metrics and, on the first unit, predict',
          nonNegativeInt('--port'),
          0,
        )
        .option('--successor <url>', "the successor unit's HTTP address, e.g. http://127.0.0.1:8081")
        .option('--nats <url>', 'join a NATS deployment instead: serve this unit on its subject (queue group) and reach the successor by subject')
        .option('--hop-timeout-ms <ms>', 'deadline of one hop to the successor', positiveNumber('--hop-timeout-ms'), 1000)
        .addOption(
          new Option(
            '--feature-dtype <dtype>',
            "what features travel as: f32, f16, or int8 with a per-channel scale (default: the dtype a 'branchy plan' plan was costed for, else f32)",
          ).choices(['f32', 'f16', 'int8']),
        )
        .option('--breaker-failures <n>', 'consecutive failed hops that open the circuit breaker', positiveInt('--breaker-failures'), 3)
        .option('--probe-after-ms <ms>', 'how long the breaker stays open before a hop probes the successor', positiveNumber('--probe-after-ms'), 1000)
        .option('--max-batch <n>', 'most samples per batch', positiveInt('--max-batch'), 64)
        .option(
          '--max-wait-ms <ms>',
          'longest a request or frame waits for others (default: 2 on the first unit; 0 on a successor, whose frames come batched already)',
          positiveNumber('--max-wait-ms', true),
        )
        .option(
          '--slo-ms <ms>',
          "first unit only: hold this p99 latency over the link to the successor by moving along the plan's calibrated front as the link's round trip and bandwidth change (the model must have been calibrated before the split or plan; a shared successor's plan carries each front's)",
          positiveNumber('--slo-ms'),
        )
        .option(
          '--probe-every-ms <ms>',
          'with --slo-ms: how often to time the link with a probe frame (and a one-sample frame when no hop carried features)',
          positiveNumber('--probe-every-ms'),
          1000,
        )
        .option('--web', "also serve the edge page: the plan's first unit runs in the browser and hands on to this unit, which must be its successor", false)
        .option('--web-samples <file>', 'with --web: a labelled sample batch for the page (default: the shipped one that fits the model, if any)')
        .option('--log-level <level>', 'pino log level (fatal, error, warn, info, debug, silent)', 'warn'),
    ),
  ).action(async (planDir: string, o: Record<string, unknown>) => {
    const host = o.host as string;
    checkUnitHost(host, o.testbed as boolean);
    if (o.successor !== undefined && o.nats !== undefined)
      throw new BranchyArgumentError('CLI_CONFLICTING_OPTIONS', 'give one of --successor and --nats, not both.');
    const [{ CascadeUnit, unitOfPlan }, { createUnitServer, httpTransport }, { MetricsRegistry }, { checkServesPage }] = await Promise.all([
      import('../../cascade/unit.ts'),
      import('../../cascade/http.ts'),
      import('../../serve/metrics.ts'),
      import('../../cascade/web-routes.ts'),
    ]);
    const name = o.unit as string;
    const { plan, unit: unitPlan } = unitOfPlan(planDir, name);
    if (o.web) checkServesPage(plan, unitPlan);
    if (o.webSamples !== undefined && !o.web) throw new BranchyArgumentError('CLI_CONFLICTING_OPTIONS', '--web-samples needs --web.');
    const nats = o.nats === undefined ? undefined : await import('../../cascade/nats.ts');
    const successor =
      unitPlan.successor === undefined
        ? undefined
        : nats
          ? await nats.natsTransport({ url: o.nats as string, subject: nats.unitSubject(plan, unitPlan.successor), name: `${plan.model}.${name}` })
          : o.successor === undefined
            ? undefined
            : httpTransport({ url: o.successor as string, unit: unitPlan.successor, from: name });
    if (unitPlan.successor !== undefined && successor === undefined) {
      process.stderr.write(
        `branchy unit: ${name} has a successor (${unitPlan.successor}) but neither --successor nor --nats: it answers degraded from its last exit\n`,
      );
    }
    const maxWaitMs = (o.maxWaitMs as number | undefined) ?? (unitPlan.index === 0 ? 2 : 0);
    const metrics = new MetricsRegistry();
    const unit = await CascadeUnit.open(planDir, name, {
      open: { ...engineOptions(o), engine: o.engine === 'auto' ? 'ort' : (o.engine as 'ort' | 'tfjs') },
      successor,
      hopTimeoutMs: o.hopTimeoutMs as number,
      featureDtype: o.featureDtype as 'f32' | 'f16' | 'int8' | undefined,
      breaker: { failures: o.breakerFailures as number, probeAfterMs: o.probeAfterMs as number },
      batching: { maxBatch: o.maxBatch as number, maxWaitMs },
      metrics,
      ...(o.sloMs === undefined ? {} : { slo: { sloMs: o.sloMs as number, probeEveryMs: o.probeEveryMs as number } }),
    });
    const server = createUnitServer(unit, {
      maxBatch: o.maxBatch as number,
      maxWaitMs,
      metrics,
      connections: connectionOptions(o),
      logger: { level: o.logLevel as string, stream: process.stderr },
      ...(o.web
        ? {
            web: {
              planDir,
              ...(o.webSamples === undefined ? {} : { samples: o.webSamples as string }),
              // Long enough for every later hop to time out and the server to answer degraded.
              deadlineMs: (o.hopTimeoutMs as number) * (plan.units.length - 1) + 1000,
            },
          }
        : {}),
    });
    // Every unit serves its subject, the first too (it takes frames of raw input there), so each announces itself.
    const onNats = nats
      ? await nats.serveUnitOnNats({
          url: o.nats as string,
          subject: nats.unitSubject(plan, name),
          queue: nats.unitSubject(plan, name),
          handler: (frame: Uint8Array) => unit.answerFrame(frame),
          info: {
            name,
            model: plan.model,
            modelId: plan.modelId,
            stages: unitPlan.stages,
            version: (await import('../../common/version.ts')).BRANCHY_VERSION,
          },
        })
      : undefined;
    const stopped = stopSignal();
    const address = await server.app.listen({ host, port: o.port as number });
    process.stdout.write(
      `branchy unit: ${name} of ${plan.model} (stages ${unitPlan.stages[0]}..${unitPlan.stages[1]}) listening on ${address}${onNats ? ` and on NATS subject ${onNats.subject}` : ''}${unitPlan.successor ? `, handing on to ${unitPlan.successor}` : ''}\n`,
    );
    if (o.web) {
      process.stdout.write(`branchy unit: the edge page is at ${address}/ (unit ${plan.units[0].name} runs in the browser and hands on to ${name})\n`);
    }
    if (unit.controller) {
      const point = unit.controller.current();
      process.stdout.write(
        `branchy unit: holding p99 ≤ ${o.sloMs as number} ms over the link to ${unitPlan.successor}: starting at front point ${point.index} [${point.thresholds.join(', ')}], probing every ${o.probeEveryMs as number} ms\n`,
      );
    }
    const signal = await stopped;
    process.stdout.write(`branchy unit: ${signal}: stopping\n`);
    await onNats?.close();
    await server.close();
    process.stdout.write('branchy unit: stopped\n');
  });
}
