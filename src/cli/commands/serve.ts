import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { BranchyArgumentError } from '../../common/errors.ts';
import type { ServedModel } from '../../serve/index.ts';
import { addConnectionOptions, connectionOptions } from '../connection-options.ts';
import { addEngineOptions, engineOptions } from '../engine-options.ts';
import { nonNegativeInt, positiveInt, positiveNumber } from '../parse.ts';
import { LOOPBACK_HOSTS, stopSignal } from '../process.ts';

/** Reads the bearer token from `--token-file`: the file's text without surrounding whitespace. */
function readToken(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new BranchyArgumentError('SERVE_BAD_TOKEN_FILE', `--token-file '${path}' cannot be read: ${(error as Error).message}`);
  }
  const token = text.trim();
  if (token.length < 16 || /\s/.test(token))
    throw new BranchyArgumentError(
      'SERVE_BAD_TOKEN_FILE',
      `--token-file '${path}' must hold one token of at least 16 characters without spaces; it holds ${token.length} characters.`,
    );
  return token;
}

/** `branchy serve`. */
export function serveCommand(): Command {
  return addConnectionOptions(
    addEngineOptions(
      new Command('serve')
        .description('serve models over HTTP with micro-batched early exit (a model directory, or a directory of them)')
        .argument('<paths...>', 'model directories, or directories whose subdirectories are model directories')
        .option('--host <address>', 'address to bind; other than loopback needs --token-file', '127.0.0.1')
        .option('--port <n>', 'port (0 picks a free one; the address is printed)', nonNegativeInt('--port'), 8080)
        .option('--token-file <file>', 'require "Authorization: Bearer <token>" with the token in this file (except /healthz, /readyz)')
        .option('--max-batch <n>', 'most samples per batch', positiveInt('--max-batch'), 64)
        .option('--max-wait-ms <ms>', 'longest a request waits for others to join its batch', positiveNumber('--max-wait-ms', true), 2)
        .option('--queue-limit <n>', 'most samples waiting per model; beyond it requests get 503 with Retry-After', positiveInt('--queue-limit'), 1024)
        .option('--body-limit <bytes>', 'largest request body', positiveInt('--body-limit'), 4 * 1024 * 1024)
        .option(
          '--slo-ms <ms>',
          'p99 latency objective: move along the calibrated Pareto front under load and shed what it cannot absorb (needs calibrated models)',
          positiveNumber('--slo-ms'),
        )
        .option(
          '--no-inference-thread',
          'run batches on the HTTP thread instead of one inference thread per model (which opens the model with the same --engine/--backend/--threads)',
        )
        .option('--strict', 'fail to start when any model fails to load (default: report and skip it)', false)
        .option('--log-level <level>', 'pino log level (fatal, error, warn, info, debug, silent)', 'info'),
    ),
  ).action(async (paths: string[], o: Record<string, unknown>) => {
    const host = o.host as string;
    const token = o.tokenFile === undefined ? undefined : readToken(o.tokenFile as string);
    if (!LOOPBACK_HOSTS.has(host) && token === undefined) {
      throw new BranchyArgumentError(
        'SERVE_UNSAFE_HOST',
        `--host ${host} would expose the server beyond this machine without authentication; give --token-file too (or bind 127.0.0.1).`,
      );
    }
    // fastify and the server load when a server starts, not with the CLI.
    const { createServer, findModelDirs, openInProcess, openModels, openOnInferenceThread } = await import('../../serve/index.ts');
    const entries = findModelDirs(paths);
    const open = o.inferenceThread ? openOnInferenceThread(engineOptions(o)) : openInProcess(engineOptions(o));
    const models: ServedModel[] = await openModels(entries, open, {
      strict: o.strict as boolean,
      onSkip: ({ dir, error }) => process.stderr.write(`branchy serve: skipping '${dir}': ${error.code}: ${error.message}\n`),
    });
    const release = () => Promise.all(models.map((m) => m.host.close()));
    let server;
    try {
      server = createServer(models, {
        maxBatch: o.maxBatch as number,
        maxWaitMs: o.maxWaitMs as number,
        queueLimit: o.queueLimit as number,
        bodyLimit: o.bodyLimit as number,
        sloMs: o.sloMs as number | undefined,
        token,
        connections: connectionOptions(o),
        logger: { level: o.logLevel as string, stream: process.stderr },
      });
    } catch (error) {
      await release();
      throw error;
    }
    const stopped = stopSignal();
    const address = await server.app.listen({ host, port: o.port as number });
    process.stdout.write(`branchy serve: listening on ${address} (models: ${models.map((m) => m.name).join(', ')})\n`);
    const signal = await stopped;
    process.stdout.write(`branchy serve: ${signal}: finishing requests in flight\n`);
    await server.close();
    await release();
    process.stdout.write('branchy serve: stopped\n');
  });
}
