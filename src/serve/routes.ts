/**
 * The server's routes and their schemas: predict, the model list and one model's description, health, readiness
 * and metrics.
 *
 * @module
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ExitResult } from '../infer/types.ts';
import { BranchyServeError } from './errors.ts';
import { METRICS_CONTENT_TYPE, type MetricsRegistry } from './metrics.ts';
import { SERVER_THRESHOLDS, type ModelRuntime } from './model-runtime.ts';
import { MODEL_NAME_PATTERN } from './model-set.ts';
import { inputsFromFrame, inputsFromJson, predictOptions } from './wire.ts';

/** The predict route, as fastify names it in `routeOptions.url` and in the request metrics. */
export const PREDICT_ROUTE = '/v1/models/:name/predict';

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
      // A cascade's first unit says how each sample was answered (see src/cascade/).
      unit: Type.Optional(Type.String()),
      hops: Type.Optional(Type.Integer()),
      degraded: Type.Optional(Type.Boolean()),
      reason: Type.Optional(Type.String()),
      path: Type.Optional(Type.Array(Type.Object({ unit: Type.String(), ms: Type.Number(), sentBytes: Type.Integer(), receivedBytes: Type.Integer() }))),
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

/** What the routes read. */
export interface RouteContext {
  runtimes: ReadonlyMap<string, ModelRuntime>;
  metrics: MetricsRegistry;
  /** Most samples one request may carry (the queue's limit). */
  queueLimit: number;
  /** True once the server has begun to shut down. */
  closing: () => boolean;
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

/**
 * Registers `GET /healthz`, `GET /readyz`, `GET /metrics`, `GET /v1/models`, `GET /v1/models/:name` and
 * `POST /v1/models/:name/predict` (JSON or a tensor frame).
 */
export function registerRoutes(app: FastifyInstance, context: RouteContext): void {
  const { runtimes, metrics, queueLimit, closing } = context;

  function runtimeFor(name: string): ModelRuntime {
    if (!MODEL_NAME_PATTERN.test(name)) {
      throw new BranchyServeError(
        'SERVE_BAD_MODEL_NAME',
        `model name ${JSON.stringify(name.slice(0, 130))} is not a model name: expected letters, digits, '.', '_' or '-' (at most 128), starting with a letter or digit.`,
        400,
      );
    }
    const runtime = runtimes.get(name);
    if (runtime === undefined)
      throw new BranchyServeError('SERVE_UNKNOWN_MODEL', `no model '${name}' is served here; served: ${[...runtimes.keys()].join(', ')}.`, 404);
    return runtime;
  }

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (closing()) return reply.code(503).send({ code: 'SERVE_SHUTTING_DOWN', message: 'the server is shutting down.' });
    return { status: 'ready', models: [...runtimes.keys()] };
  });
  app.get('/metrics', async (_request, reply) => reply.type(METRICS_CONTENT_TYPE).send(metrics.render()));
  app.get('/v1/models', async () => ({ models: [...runtimes.values()].map((r) => describeModel(r, false)) }));
  app.get<{ Params: Static<typeof ModelParams> }>('/v1/models/:name', { schema: { params: ModelParams } }, async (request) =>
    describeModel(runtimeFor(request.params.name), true),
  );

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
    async (
      request: FastifyRequest<{ Params: Static<typeof ModelParams>; Querystring: Static<typeof PredictQuery> }>,
      reply: FastifyReply,
    ): Promise<PredictResponse> => {
      const started = performance.now();
      const runtime = runtimeFor(request.params.name);
      const spec = runtime.served.manifest.spec;
      const { thresholds, probs } = predictOptions(request.query, request.headers, spec);
      const x = Buffer.isBuffer(request.body) ? inputsFromFrame(request.body, spec, queueLimit) : inputsFromJson(request.body, spec, queueLimit);
      const group = thresholds === undefined ? SERVER_THRESHOLDS : thresholds.join(',');
      const answer = await runtime.batcher.submit(x, group);
      // Requests answered while shutting down close their connection, so that the drain does not wait on it as an
      // idle keep-alive (the other routes answer at once; fastify refuses new requests with 503 and closes).
      if (closing()) void reply.header('connection', 'close');
      return {
        model: runtime.served.name,
        results: answer.results.map((r: ExitResult) => ({
          label: r.label,
          class: spec.classes[r.label],
          exit: r.exit,
          score: r.score,
          probs: probs ? Array.from(r.probs) : undefined,
          ...(r.route ? { unit: r.route.unit, hops: r.route.hops, degraded: r.route.degraded, reason: r.route.reason, path: r.route.path } : {}),
        })),
        thresholds: answer.info.thresholds,
        operatingPoint: answer.info.point,
        timing: { queueMs: answer.queueMs, batchMs: answer.runMs, batchSize: answer.batchSize, totalMs: performance.now() - started },
      };
    },
  );
}
