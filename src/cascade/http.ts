/**
 * Units over HTTP: the transport a unit reaches its successor with (keep-alive connections, one deadline per
 * hop), and the HTTP side of a running unit (the first unit serves `branchy serve`'s predict route; every unit
 * serves health, metrics, its description and, for a successor, the forward route).
 *
 * @module
 */
import { Agent, request } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import type { ModelManifest } from '../io/model-dir.ts';
import type { HostRun, InferenceHost } from '../serve/inference-host.ts';
import { METRICS_CONTENT_TYPE, MetricsRegistry } from '../serve/metrics.ts';
import { connectionGuard } from '../serve/connection-limits.ts';
import { createServer, type BranchyServer, type ServeOptions } from '../serve/server.ts';
import type { Batch } from '../engine/types.ts';
import { unitErrorReply } from './error-reply.ts';
import { BranchyCascadeError, CascadeHopError, replyReason } from './errors.ts';
import type { CascadeUnit } from './unit.ts';
import { ERROR_HEADER, FROM_HEADER, type Transport } from './types.ts';
import { checkServesPage, registerWebRoutes, type WebPageOptions } from './web-routes.ts';

/** The route a successor unit takes features frames on. */
export const FORWARD_ROUTE = '/v1/units/:unit/forward';
const FRAME_TYPE = 'application/octet-stream';

/**
 * The HTTP transport to unit `unit` at `url` (e.g. `http://127.0.0.1:8081`): one keep-alive connection pool, each
 * hop a POST of the frame with its own deadline.
 *
 * @throws CascadeHopError from `forward`: `timeout`, `unreachable`, `successor error: CODE` (5xx),
 *   `successor refused: CODE` (4xx).
 */
export function httpTransport(options: { url: string; unit: string; from: string; maxSockets?: number }): Transport {
  const url = new URL(options.url);
  if (url.protocol !== 'http:') throw new BranchyCascadeError('CASCADE_NO_SUCCESSOR', `successor URL '${options.url}' is not http://HOST:PORT.`);
  const agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 32 });
  const path = FORWARD_ROUTE.replace(':unit', encodeURIComponent(options.unit));
  const target = `${url.origin}${path}`;
  return {
    kind: 'http',
    target,
    forward(frame: Uint8Array, deadlineMs: number): Promise<Uint8Array> {
      return new Promise((resolve, reject) => {
        let settled = false;
        const settle = (error: Error | undefined, bytes?: Uint8Array) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (error) reject(error);
          else resolve(bytes!);
        };
        const req = request(
          {
            agent,
            host: url.hostname,
            port: url.port,
            path,
            method: 'POST',
            headers: { 'content-type': FRAME_TYPE, 'content-length': frame.length, [FROM_HEADER]: options.from },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', (e) => settle(new CascadeHopError('unreachable', `${target}: ${e.message}`, { cause: e })));
            res.on('end', () => {
              const body = Buffer.concat(chunks);
              if (res.statusCode === 200) return settle(undefined, new Uint8Array(body.buffer, body.byteOffset, body.length));
              const code = String(res.headers[ERROR_HEADER] ?? `HTTP_${res.statusCode}`);
              settle(
                new CascadeHopError(replyReason(res.statusCode ?? 500, code), `${target} answered ${res.statusCode}: ${body.toString('utf8').slice(0, 300)}`),
              );
            });
          },
        );
        const timer = setTimeout(() => {
          settle(new CascadeHopError('timeout', `${target} did not answer within ${deadlineMs} ms.`));
          req.destroy();
        }, deadlineMs);
        req.on('error', (e: NodeJS.ErrnoException) => settle(new CascadeHopError('unreachable', `${target}: ${e.code ?? e.message}`, { cause: e })));
        req.end(frame);
      });
    },
    async close() {
      agent.destroy();
    },
  };
}

/** Runs the first unit's batches for `branchy serve`'s batcher: the unit, then its successors. */
export class CascadeHost implements InferenceHost {
  readonly runtime: string;
  private readonly unit: CascadeUnit;

  constructor(unit: CascadeUnit) {
    this.unit = unit;
    this.runtime = `${unit.net.runtime} (cascade unit '${unit.unit.name}')`;
  }

  async run(x: Batch, thresholds: readonly number[]): Promise<HostRun> {
    const started = performance.now();
    const results = await this.unit.process(x, thresholds);
    return { results, runMs: performance.now() - started };
  }

  async close(): Promise<void> {
    await this.unit.close();
  }
}

function describeUnit(unit: CascadeUnit) {
  return {
    unit: unit.unit.name,
    model: unit.plan.model,
    modelId: unit.plan.modelId,
    stages: unit.unit.stages,
    firstExit: unit.unit.firstExit,
    takes: unit.unit.takes,
    input: unit.unit.inputShape,
    successor: unit.unit.successor ?? null,
    featureDtype: unit.featureDtype,
    breaker: unit.breaker.state,
    runtime: unit.net.runtime,
    ...(unit.controller
      ? {
          slo: {
            operatingPoint: unit.controller.current(),
            link: unit.controller.estimate(performance.now()),
            forecast: unit.controller.forecast(performance.now()),
          },
        }
      : {}),
  };
}

/** How a unit's HTTP side runs. */
export interface UnitServerOptions extends ServeOptions {
  /** Largest features frame a successor takes, in bytes (default 64 MiB). */
  frameLimit?: number;
  /**
   * Also serve the edge page, which runs the plan's first unit in the browser and hands on to this unit (which must
   * be that unit's successor): see `registerWebRoutes`.
   */
  web?: WebPageOptions;
}

/**
 * The HTTP side of a unit, not listening yet. The first unit serves `branchy serve`'s routes (predict under the
 * plan's model name, with every result's route), a successor the forward route; both serve `GET /healthz`,
 * `GET /metrics` and `GET /v1/unit`. With `web`, the first unit's successor also serves the edge page. `close` stops
 * the server, then closes the unit (its network and transport).
 *
 * @throws BranchyCascadeError from `registerWebRoutes` with `web` (`CASCADE_WEB_UNIT` on any unit but the first's
 *   successor, `CASCADE_WEB_NOT_BUILT`, `CASCADE_WEB_SAMPLES`).
 */
export function createUnitServer(
  unit: CascadeUnit,
  options: UnitServerOptions = {},
): { app: FastifyInstance; metrics: MetricsRegistry; close(): Promise<void> } {
  if (options.web) checkServesPage(unit.plan, unit.unit);
  if (unit.unit.index === 0) {
    const manifest: ModelManifest = { format: 'branchy-model/1', spec: unit.plan.spec, weights: {} };
    const server: BranchyServer = createServer(
      [{ name: unit.plan.model, dir: unit.plan.model, manifest, host: new CascadeHost(unit), ...(unit.controller ? { controller: unit.controller } : {}) }],
      options,
    );
    server.app.get('/v1/unit', async () => describeUnit(unit));
    return {
      app: server.app,
      metrics: server.metrics,
      async close() {
        // The server answers what it took, then leaves its hosts to the caller: here, the unit.
        await server.close();
        await unit.close();
      },
    };
  }
  const metrics = options.metrics ?? new MetricsRegistry();
  const guard = connectionGuard(options.connections, metrics);
  const app = Fastify({ ...guard.serverOptions, logger: options.logger ?? false, bodyLimit: options.frameLimit ?? 64 * 1024 * 1024 });
  guard.install(app);
  app.addContentTypeParser(FRAME_TYPE, { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/metrics', async (_request, reply) => reply.type(METRICS_CONTENT_TYPE).send(metrics.render()));
  app.get('/v1/unit', async () => describeUnit(unit));
  if (options.web) registerWebRoutes(app, unit, options.web);
  app.post<{ Params: { unit: string } }>(FORWARD_ROUTE, async (request, reply) => {
    try {
      if (request.params.unit !== unit.unit.name) {
        throw new BranchyCascadeError(
          'CASCADE_UNKNOWN_UNIT',
          `this is unit '${unit.unit.name}' of ${unit.plan.model}; no unit '${request.params.unit}' here.`,
          404,
        );
      }
      if (!Buffer.isBuffer(request.body)) throw new BranchyCascadeError('CASCADE_BAD_FRAME', `send a features frame as ${FRAME_TYPE}.`, 415);
      const body = request.body;
      const answer = await unit.answerFrame(new Uint8Array(body.buffer, body.byteOffset, body.length));
      return reply.type(FRAME_TYPE).send(Buffer.from(answer.buffer, answer.byteOffset, answer.length));
    } catch (error) {
      const { status, code, message } = unitErrorReply(error);
      return reply.code(status).header(ERROR_HEADER, code).send({ code, message });
    }
  });
  return {
    app,
    metrics,
    async close() {
      await app.close();
      await unit.close();
    },
  };
}
