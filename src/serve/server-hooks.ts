/**
 * What the server does around its routes: error and not-found replies, bearer-token checks, SLO-aware shedding
 * before a body is read, and the per-reply request metrics.
 *
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyError, FastifyInstance } from 'fastify';
import { answeredByConnectionGuard } from './connection-limits.ts';
import { BranchyServeError, errorReply } from './errors.ts';
import type { ModelRuntime } from './model-runtime.ts';
import { PREDICT_ROUTE } from './routes.ts';
import type { ServerMetrics } from './server-metrics.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** Compares a presented bearer token with the expected one in time independent of where they differ. */
function tokenMatches(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? '');
  return match !== null && timingSafeEqual(sha256(match[1]), expected);
}

/**
 * Every error a route or fastify throws, and every request no route takes, becomes a JSON `{code, message}` reply
 * counted in `branchy_http_errors_total`; while `closing()`, the reply also closes its connection.
 */
export function installErrorReplies(app: FastifyInstance, metrics: ServerMetrics, closing: () => boolean): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { status, body, retryAfterSeconds } = errorReply(error);
    if (body.code === 'SERVE_BODY_TOO_LARGE')
      body.message = `the request body is larger than this server's limit of ${app.initialConfig.bodyLimit} bytes (--body-limit).`;
    // A request whose body timed out was answered and counted by the connection guard; here it is only cut off.
    if (answeredByConnectionGuard(reply.raw)) return reply.code(status).send(body);
    metrics.errors.inc({ code: body.code });
    // Client errors and load shedding are expected traffic, so only debug logs them; anything else is a fault.
    if (status >= 500 && !(error instanceof BranchyServeError)) request.log.error({ err: error }, body.message);
    else request.log.debug({ code: body.code, status }, body.message);
    if (retryAfterSeconds !== undefined) void reply.header('retry-after', String(retryAfterSeconds));
    if (closing()) void reply.header('connection', 'close');
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    metrics.errors.inc({ code: 'SERVE_NOT_FOUND' });
    return reply.code(404).send({ code: 'SERVE_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}; see GET /v1/models.` });
  });
}

/** What {@link installRequestHooks} needs. */
export interface RequestHookContext {
  metrics: ServerMetrics;
  runtimes: ReadonlyMap<string, ModelRuntime>;
  /** Bearer token every request but `/healthz` and `/readyz` must carry; none: no check. */
  token?: string;
  /** Set: predict requests the model's queue would refuse are refused before their body is read. */
  sloMs?: number;
}

/**
 * Adds, in this order: the bearer-token check (401 `SERVE_UNAUTHORIZED`), SLO-aware shedding of predict requests
 * (the batcher's own 503), and the count and duration of every reply by route, method and status.
 */
export function installRequestHooks(app: FastifyInstance, context: RequestHookContext): void {
  const { metrics, runtimes } = context;
  const expectedToken = context.token === undefined ? undefined : sha256(context.token);
  // Hooks in callback form: on the predict path every promise per request is measurable overhead.
  if (expectedToken !== undefined) {
    app.addHook('onRequest', (request, reply, done) => {
      if (request.url === '/healthz' || request.url === '/readyz' || tokenMatches(request.headers.authorization, expectedToken)) return done();
      metrics.errors.inc({ code: 'SERVE_UNAUTHORIZED' });
      void reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ code: 'SERVE_UNAUTHORIZED', message: "this server needs 'Authorization: Bearer <token>' with the token it was started with." });
    });
  }
  // Under an SLO, a predict request the queue would refuse anyway is refused before its body is read and parsed.
  if (context.sloMs !== undefined) {
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
      series = {
        count: metrics.requests.labels({ route, method: request.method, status: String(reply.statusCode) }),
        duration: metrics.duration.labels({ route }),
      };
      replySeries.set(key, series);
    }
    series.count.inc();
    series.duration.observe(reply.elapsedTime / 1000);
    done();
  });
}
