/**
 * The HTTP inference server: a fastify app over a set of loaded models, each with its own micro-batcher and,
 * with an SLO, its own load-adaptive operating-point controller. Written against `InferenceHost` and the models'
 * manifests only. This file composes the parts (metrics, per-model runtimes, hooks, routes) and owns the
 * controllers' clock and the shutdown.
 *
 * @module
 */
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { AdaptiveOptions, OperatingPointController } from './adaptive.ts';
import { connectionGuard, type ConnectionLimits } from './connection-limits.ts';
import type { MetricsRegistry } from './metrics.ts';
import { createModelRuntime, type ModelRuntime } from './model-runtime.ts';
import type { ServedModel } from './model-set.ts';
import { registerRoutes } from './routes.ts';
import { installErrorReplies, installRequestHooks } from './server-hooks.ts';
import { createServerMetrics, type ServerMetrics } from './server-metrics.ts';

/** How the server runs; every field has a default. */
export interface ServeOptions {
  /** Most samples per batch (default 64). */
  maxBatch?: number;
  /** Longest a request waits for others, in ms (default 2). */
  maxWaitMs?: number;
  /** Most samples waiting per model; beyond it, 503 with `Retry-After` (default 1024). */
  queueLimit?: number;
  /** Largest request body, in bytes (default 4 MiB). */
  bodyLimit?: number;
  /** p99 latency objective in ms: turns on load-adaptive exits (needs calibrated models) and SLO-aware shedding. */
  sloMs?: number;
  /** Tuning of the load-adaptive controller (tests shrink its window). */
  adaptive?: Omit<AdaptiveOptions, 'sloMs'>;
  /** Bearer token every request but `/healthz` and `/readyz` must carry. */
  token?: string;
  /** fastify's logger option (pino): `false` (default) or pino options. */
  logger?: FastifyServerOptions['logger'];
  /** The registry `/metrics` renders; the server adds its metrics to it (default: a new one). */
  metrics?: MetricsRegistry;
  /** Timeouts, the connection limit and the lingering close (see `DEFAULT_CONNECTION_LIMITS` for the defaults). */
  connections?: ConnectionLimits;
}

/** A running server's parts. */
export interface BranchyServer {
  app: FastifyInstance;
  metrics: MetricsRegistry;
  /** Stops accepting requests, answers every request already taken, then stops. */
  close(): Promise<void>;
}

/** How often the load-adaptive controllers decide, in ms. */
const CONTROLLER_TICK_MS = 100;

function createApp(options: ServeOptions, bodyLimit: number, metrics: MetricsRegistry): FastifyInstance {
  const guard = connectionGuard(options.connections, metrics);
  const app = Fastify({
    ...guard.serverOptions,
    logger: options.logger ?? false,
    bodyLimit,
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    schemaErrorFormatter: (validationErrors, dataVar) => {
      const first = validationErrors[0];
      const extra = (first?.params as { additionalProperty?: string } | undefined)?.additionalProperty;
      return new Error(`${dataVar}${first?.instancePath ?? ''} ${first?.message ?? 'is invalid'}${extra ? ` ('${extra}')` : ''}`);
    },
  });
  guard.install(app);
  return app;
}

/** Lets a controller decide; a move is counted and logged. */
function adapt(app: FastifyInstance, metrics: ServerMetrics, name: string, controller: OperatingPointController, now: number): void {
  const move = controller.update(now);
  if (move === undefined) return;
  metrics.pointMoves.inc({ model: name, direction: move.to < move.from ? 'cheaper' : 'costlier' });
  app.log.info({ model: name, ...move, thresholds: controller.current().thresholds }, 'operating point moved');
}

/**
 * Builds the server for `models` (not listening yet: call `app.listen`). The caller keeps ownership of the
 * models' hosts and closes them after {@link BranchyServer.close}.
 *
 * Routes: `POST /v1/models/:name/predict`, `GET /v1/models`, `GET /v1/models/:name`, `GET /healthz`,
 * `GET /readyz`, `GET /metrics`. Every error is a JSON `{code, message}` with a 4xx/5xx status.
 *
 * @throws BranchyServeError `SERVE_NOT_CALIBRATED` when `sloMs` is set and a model has no stored calibration for
 *   its criterion; BranchyIoError `MODEL_BAD_CALIBRATION` when a model's stored calibration is malformed.
 */
export function createServer(models: readonly ServedModel[], options: ServeOptions = {}): BranchyServer {
  const queueLimit = options.queueLimit ?? 1024;
  const metrics = createServerMetrics(options.metrics);
  const runtimeOptions = { maxBatch: options.maxBatch ?? 64, maxWaitMs: options.maxWaitMs ?? 2, queueLimit, sloMs: options.sloMs, adaptive: options.adaptive };
  const runtimes = new Map<string, ModelRuntime>();
  for (const served of models) runtimes.set(served.name, createModelRuntime(served, runtimeOptions, metrics));

  const app = createApp(options, options.bodyLimit ?? 4 * 1024 * 1024, metrics.registry);
  let closing = false;
  let closed: Promise<void> | undefined;
  const isClosing = () => closing;

  // Controllers decide on a clock, not per batch: a decision sorts the window's latencies, which at thousands of
  // requests per second costs more than the batches themselves if taken after each one. The clock also lets a
  // controller step back after a burst, when no batches run.
  const ticker = setInterval(() => {
    for (const { served, controller } of runtimes.values()) if (controller) adapt(app, metrics, served.name, controller, performance.now());
  }, CONTROLLER_TICK_MS);
  ticker.unref();

  // Predict takes JSON or a tensor frame; fastify's built-in text/plain parser would let text through to the route.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  installErrorReplies(app, metrics, isClosing);
  installRequestHooks(app, { metrics, runtimes, token: options.token, sloMs: options.sloMs });
  registerRoutes(app, { runtimes, metrics: metrics.registry, queueLimit, closing: isClosing });

  return {
    app,
    metrics: metrics.registry,
    close() {
      closed ??= (async () => {
        closing = true;
        clearInterval(ticker);
        // Requests already queued run at once instead of waiting for their batch to fill.
        for (const r of runtimes.values()) r.batcher.flush();
        await app.close();
        await Promise.all([...runtimes.values()].map((r) => r.batcher.close()));
      })();
      return closed;
    },
  };
}
