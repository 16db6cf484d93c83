/**
 * The HTTP inference server: a fastify app over a set of loaded models, each with its own micro-batcher and,
 * with an SLO, its own load-adaptive operating-point controller. Written against `InferenceHost` and the models'
 * manifests only.
 *
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { StoredCalibration } from '../calibrate/types.ts';
import type { Batch } from '../engine/types.ts';
import type { ExitResult } from '../infer/types.ts';
import { LoadAdaptiveController, batchedCosts, type AdaptiveOptions, type CurrentOperatingPoint } from './adaptive.ts';
import { MicroBatcher, type BatchReport } from './batcher.ts';
import { BranchyServeError, errorReply } from './errors.ts';
import { METRICS_CONTENT_TYPE, MetricsRegistry } from './metrics.ts';
import { MODEL_NAME_PATTERN, type ServedModel } from './model-set.ts';
import { inputsFromFrame, inputsFromJson, predictOptions } from './wire.ts';

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
}

/** A running server's parts. */
export interface BranchyServer {
  app: FastifyInstance;
  metrics: MetricsRegistry;
  /** Stops accepting requests, answers every request already taken, then stops. */
  close(): Promise<void>;
}

/** Group key of requests that use the server's own thresholds (the adaptive point or the model's). */
const SERVER_THRESHOLDS = 'server';
const PREDICT_ROUTE = '/v1/models/:name/predict';
/** Share of the SLO a request may spend queued before it is shed (the rest is its batch and HTTP). */
const SLO_QUEUE_SHARE = 0.5;

const OperatingPointSchema = Type.Object({
  index: Type.Integer(),
  chosen: Type.Integer(),
  thresholds: Type.Array(Type.Number()),
  accuracy: Type.Number(),
  expectedCost: Type.Number(),
});

const PredictResponse = Type.Object({
  model: Type.String(),
  results: Type.Array(
    Type.Object({
      label: Type.Integer(),
      class: Type.String(),
      exit: Type.Integer(),
      score: Type.Number(),
      probs: Type.Optional(Type.Array(Type.Number())),
    }),
  ),
  thresholds: Type.Array(Type.Number()),
  operatingPoint: Type.Optional(OperatingPointSchema),
  timing: Type.Object({ queueMs: Type.Number(), batchMs: Type.Number(), batchSize: Type.Integer(), totalMs: Type.Number() }),
});
type PredictResponse = Static<typeof PredictResponse>;

const PredictJsonBody = Type.Object({ inputs: Type.Array(Type.Array(Type.Number())) }, { additionalProperties: false });
const PredictQuery = Type.Object({ thresholds: Type.Optional(Type.String()), probs: Type.Optional(Type.String()) }, { additionalProperties: false });
const ModelParams = Type.Object({ name: Type.String() });

interface BatchInfo {
  thresholds: number[];
  point?: CurrentOperatingPoint;
}

interface ModelRuntime {
  served: ServedModel;
  calibration?: StoredCalibration;
  batcher: MicroBatcher<BatchInfo>;
  controller?: LoadAdaptiveController;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** Compares a presented bearer token with the expected one in time independent of where they differ. */
function tokenMatches(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? '');
  return match !== null && timingSafeEqual(sha256(match[1]), expected);
}

function calibrationOf(model: ServedModel): StoredCalibration | undefined {
  const c = model.manifest.calibration as StoredCalibration | undefined;
  return c !== undefined && Array.isArray(c.front) && c.front.length > 0 ? c : undefined;
}

/**
 * Builds the server for `models` (not listening yet: call `app.listen`). The caller keeps ownership of the
 * models' hosts and closes them after {@link BranchyServer.close}.
 *
 * Routes: `POST /v1/models/:name/predict`, `GET /v1/models`, `GET /v1/models/:name`, `GET /healthz`,
 * `GET /readyz`, `GET /metrics`. Every error is a JSON `{code, message}` with a 4xx/5xx status.
 *
 * @throws BranchyServeError `SERVE_NOT_CALIBRATED` when `sloMs` is set and a model has no stored calibration for
 *   its criterion.
 */
export function createServer(models: readonly ServedModel[], options: ServeOptions = {}): BranchyServer {
  const maxBatch = options.maxBatch ?? 64;
  const maxWaitMs = options.maxWaitMs ?? 2;
  const queueLimit = options.queueLimit ?? 1024;
  const bodyLimit = options.bodyLimit ?? 4 * 1024 * 1024;
  const expectedToken = options.token === undefined ? undefined : sha256(options.token);
  const metrics = new MetricsRegistry();
  const requests = metrics.counter('branchy_http_requests_total', 'HTTP requests answered, by route, method and status.', ['route', 'method', 'status']);
  const errors = metrics.counter('branchy_http_errors_total', 'Error replies, by error code.', ['code']);
  const duration = metrics.histogram('branchy_http_request_duration_seconds', 'Time from request to reply, by route.', ['route'], [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5]);
  const samples = metrics.counter('branchy_predict_samples_total', 'Samples answered, by model.', ['model']);
  const exits = metrics.counter('branchy_exits_total', 'Samples answered at each exit (1-based), by model.', ['model', 'exit']);
  const batchSizes = metrics.histogram('branchy_batch_size', 'Samples per batch run, by model.', ['model'], [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]);
  const queueDelay = metrics.histogram('branchy_queue_delay_seconds', 'Time a request waited for its batch, by model.', ['model'], [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]);
  const queueDepth = metrics.gauge('branchy_queue_depth', 'Samples waiting for a batch, by model.', ['model']);
  const pointIndex = metrics.gauge('branchy_operating_point', 'Index of the operating point in force on the calibrated front (cheapest first), by model; adaptive mode only.', ['model']);
  const pointAccuracy = metrics.gauge('branchy_operating_point_accuracy', 'Validation accuracy of the operating point in force, by model; adaptive mode only.', ['model']);
  const pointMoves = metrics.counter('branchy_operating_point_moves_total', 'Moves of the load-adaptive controller, by model and direction.', ['model', 'direction']);

  const runtimes = new Map<string, ModelRuntime>();
  for (const served of models) {
    const calibration = calibrationOf(served);
    if (options.sloMs !== undefined && (calibration === undefined || calibration.criterion !== served.manifest.spec.policy.criterion)) {
      throw new BranchyServeError(
        'SERVE_NOT_CALIBRATED',
        `an SLO ('sloMs') needs each model's calibrated Pareto front, and model '${served.name}' (${served.dir}) has ${calibration === undefined ? 'none' : `one for criterion '${calibration.criterion}', not its own '${served.manifest.spec.policy.criterion}'`}; calibrate it first.`,
        500,
      );
    }
    const controller = options.sloMs === undefined || calibration === undefined ? undefined : new LoadAdaptiveController(calibration.front, calibration.chosen, { costs: batchedCosts(calibration.front, calibration.profile.costToExitBatched), ...options.adaptive, sloMs: options.sloMs }, performance.now());
    const spec = served.manifest.spec;
    const host = served.host;
    const labels = { model: served.name };
    const run = async (x: Batch, group: string) => {
      const point = group === SERVER_THRESHOLDS ? controller?.current() : undefined;
      const thresholds = group === SERVER_THRESHOLDS ? (point?.thresholds ?? spec.policy.thresholds) : group.split(',').map(Number);
      const { results, runMs } = await host.run(x, thresholds);
      return { results, info: { thresholds, point }, modelMs: runMs };
    };
    const series = {
      batchSizes: batchSizes.labels(labels),
      samples: samples.labels(labels),
      queueDelay: queueDelay.labels(labels),
      exits: spec.stages.map((_, i) => exits.labels({ model: served.name, exit: String(i + 1) })),
    };
    const onBatch = (report: BatchReport) => {
      const now = performance.now();
      series.batchSizes.observe(report.size);
      series.samples.inc(report.size);
      const perExit = new Array<number>(spec.stages.length).fill(0);
      for (const r of report.results) perExit[r.exit - 1]++;
      perExit.forEach((n, i) => n > 0 && series.exits[i].inc(n));
      for (const ms of report.queueDelaysMs) series.queueDelay.observe(ms / 1000);
      if (controller) {
        controller.observeBusy(now, report.runMs);
        for (const ms of report.latenciesMs) controller.observeLatency(now, ms);
      }
    };
    const batcher = new MicroBatcher<BatchInfo>(
      { maxBatch, maxWaitMs, queueLimit, maxQueueDelayMs: options.sloMs === undefined ? undefined : SLO_QUEUE_SHARE * options.sloMs },
      spec.input.shape,
      run,
      onBatch,
    );
    queueDepth.track(labels, () => batcher.queuedSamples);
    if (controller) {
      pointIndex.track(labels, () => controller.current().index);
      pointAccuracy.track(labels, () => controller.current().accuracy);
    }
    runtimes.set(served.name, { served, calibration, batcher, controller });
  }

  const app = Fastify({
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
  let closing = false;
  let closed: Promise<void> | undefined;

  function adapt(name: string, controller: LoadAdaptiveController, now: number): void {
    const move = controller.update(now);
    if (move === undefined) return;
    pointMoves.inc({ model: name, direction: move.to < move.from ? 'cheaper' : 'costlier' });
    app.log.info({ model: name, ...move, thresholds: controller.current().thresholds }, 'operating point moved');
  }
  // Controllers decide on a clock, not per batch: a decision sorts the window's latencies, which at thousands of
  // requests per second costs more than the batches themselves if taken after each one. The clock also lets a
  // controller step back after a burst, when no batches run.
  const ticker = setInterval(() => {
    for (const { served, controller } of runtimes.values()) if (controller) adapt(served.name, controller, performance.now());
  }, 100);
  ticker.unref();

  // Predict takes JSON or a tensor frame; fastify's built-in text/plain parser would let text through to the route.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { status, body, retryAfterSeconds } = errorReply(error);
    errors.inc({ code: body.code });
    // Client errors and load shedding are expected traffic, so only debug logs them; anything else is a fault.
    if (status >= 500 && !(error instanceof BranchyServeError)) request.log.error({ err: error }, body.message);
    else request.log.debug({ code: body.code, status }, body.message);
    if (retryAfterSeconds !== undefined) void reply.header('retry-after', String(retryAfterSeconds));
    if (closing) void reply.header('connection', 'close');
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    errors.inc({ code: 'SERVE_NOT_FOUND' });
    return reply.code(404).send({ code: 'SERVE_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}; see GET /v1/models.` });
  });

  // Hooks in callback form: on the predict path every promise per request is measurable overhead.
  if (expectedToken !== undefined) {
    app.addHook('onRequest', (request, reply, done) => {
      if (request.url === '/healthz' || request.url === '/readyz' || tokenMatches(request.headers.authorization, expectedToken)) return done();
      errors.inc({ code: 'SERVE_UNAUTHORIZED' });
      void reply.code(401).header('www-authenticate', 'Bearer').send({ code: 'SERVE_UNAUTHORIZED', message: "this server needs 'Authorization: Bearer <token>' with the token it was started with." });
    });
  }
  // Under an SLO, a predict request the queue would refuse anyway is refused before its body is read and parsed.
  if (options.sloMs !== undefined) {
    app.addHook('onRequest', (request, _reply, done) => {
      if (request.routeOptions.url !== PREDICT_ROUTE) return done();
      const overloaded = runtimes.get((request.params as { name: string }).name)?.batcher.overloaded();
      if (overloaded === undefined) return done();
      done(overloaded);
    });
  }
  // Each reply counts into two series; they are looked up once per route, method and status, not per request.
  const replySeries = new Map<string, { count: { inc(): void }; duration: { observe(seconds: number): void } }>();
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const key = `${reply.statusCode} ${request.method} ${route}`;
    let series = replySeries.get(key);
    if (series === undefined) {
      series = { count: requests.labels({ route, method: request.method, status: String(reply.statusCode) }), duration: duration.labels({ route }) };
      replySeries.set(key, series);
    }
    series.count.inc();
    series.duration.observe(reply.elapsedTime / 1000);
    done();
  });

  function runtimeFor(name: string): ModelRuntime {
    if (!MODEL_NAME_PATTERN.test(name)) {
      throw new BranchyServeError('SERVE_BAD_MODEL_NAME', `model name ${JSON.stringify(name.slice(0, 130))} is not a model name: expected letters, digits, '.', '_' or '-' (at most 128), starting with a letter or digit.`, 400);
    }
    const runtime = runtimes.get(name);
    if (runtime === undefined) throw new BranchyServeError('SERVE_UNKNOWN_MODEL', `no model '${name}' is served here; served: ${[...runtimes.keys()].join(', ')}.`, 404);
    return runtime;
  }

  function describeModel(r: ModelRuntime, detail: boolean) {
    const spec = r.served.manifest.spec;
    const summary = {
      name: r.served.name,
      network: spec.name,
      runtime: r.served.host.runtime,
      input: spec.input.shape,
      classes: spec.classes,
      exits: spec.stages.length,
      criterion: spec.policy.criterion,
      thresholds: spec.policy.thresholds,
      calibrated: r.calibration !== undefined,
      operatingPoint: r.controller?.current(),
    };
    if (!detail) return summary;
    const c = r.calibration;
    return {
      ...summary,
      spec,
      calibration: c && { criterion: c.criterion, data: c.data, constraint: c.constraint, chosen: c.chosen, front: c.front, perExitAccuracy: c.perExitAccuracy },
      costProfile: c?.profile,
    };
  }

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (closing) return reply.code(503).send({ code: 'SERVE_SHUTTING_DOWN', message: 'the server is shutting down.' });
    return { status: 'ready', models: [...runtimes.keys()] };
  });
  app.get('/metrics', async (_request, reply) => reply.type(METRICS_CONTENT_TYPE).send(metrics.render()));
  app.get('/v1/models', async () => ({ models: [...runtimes.values()].map((r) => describeModel(r, false)) }));
  app.get<{ Params: Static<typeof ModelParams> }>('/v1/models/:name', { schema: { params: ModelParams } }, async (request) => describeModel(runtimeFor(request.params.name), true));

  app.post<{ Params: Static<typeof ModelParams>; Querystring: Static<typeof PredictQuery> }>(
    PREDICT_ROUTE,
    {
      schema: {
        params: ModelParams,
        querystring: PredictQuery,
        // A frame is checked by inputsFromFrame; a media type without a schema skips fastify's body validation.
        body: { content: { 'application/json': { schema: PredictJsonBody } } },
        response: { 200: PredictResponse },
      },
    },
    async (request: FastifyRequest<{ Params: Static<typeof ModelParams>; Querystring: Static<typeof PredictQuery> }>, reply: FastifyReply): Promise<PredictResponse> => {
      const started = performance.now();
      const runtime = runtimeFor(request.params.name);
      const spec = runtime.served.manifest.spec;
      const { thresholds, probs } = predictOptions(request.query, request.headers, spec);
      const x = Buffer.isBuffer(request.body) ? inputsFromFrame(request.body, spec, queueLimit) : inputsFromJson(request.body, spec, queueLimit);
      const group = thresholds === undefined ? SERVER_THRESHOLDS : thresholds.join(',');
      const answer = await runtime.batcher.submit(x, group);
      // Requests answered while shutting down close their connection, so that the drain does not wait on it as an
      // idle keep-alive (the other routes answer at once; fastify refuses new requests with 503 and closes).
      if (closing) void reply.header('connection', 'close');
      return {
        model: runtime.served.name,
        results: answer.results.map((r: ExitResult) => ({ label: r.label, class: spec.classes[r.label], exit: r.exit, score: r.score, probs: probs ? Array.from(r.probs) : undefined })),
        thresholds: answer.info.thresholds,
        operatingPoint: answer.info.point,
        timing: { queueMs: answer.queueMs, batchMs: answer.runMs, batchSize: answer.batchSize, totalMs: performance.now() - started },
      };
    },
  );

  return {
    app,
    metrics,
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
