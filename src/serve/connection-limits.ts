/**
 * What bounds a connection: timeouts for slow headers, slow bodies and idle keep-alives, a connection limit, and
 * the lingering close of replies sent before their body was read. One set of limits for `branchy serve` and for
 * every cascade unit's server.
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';
import type { ServerOptions } from 'node:http';
import { DEFAULT_LINGER, lingerOnClose, type LingerLimits } from './linger.ts';

/** Timeouts and limits per connection; every field has a default. */
export interface ConnectionLimits {
  /** Longest a client may take to send its request headers, in ms; then 408 and close (default 10 s). */
  headersTimeoutMs?: number;
  /** Longest a client may take to send a whole request, headers and body, in ms; then 408 and close (default 30 s). */
  requestTimeoutMs?: number;
  /** Longest an idle keep-alive connection stays open between requests, in ms (default 5 s). */
  keepAliveTimeoutMs?: number;
  /** Longest a connection may stay silent (no byte in or out) at any point, in ms; then it is closed (default 60 s). */
  idleTimeoutMs?: number;
  /** Most open connections; the server closes any beyond it as soon as they are accepted (default 1024). */
  maxConnections?: number;
  /** The lingering close after a reply sent before its body was read (default {@link DEFAULT_LINGER}). */
  linger?: LingerLimits;
}

/** The defaults of {@link ConnectionLimits}. */
export const DEFAULT_CONNECTION_LIMITS: Required<ConnectionLimits> = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 60_000,
  maxConnections: 1024,
  linger: DEFAULT_LINGER,
};

/** The limits with their defaults filled in. */
export function connectionLimits(given: ConnectionLimits = {}): Required<ConnectionLimits> {
  const limits = { ...DEFAULT_CONNECTION_LIMITS, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) };
  // Node refuses a headers timeout longer than the request timeout; a request's headers are part of it.
  limits.headersTimeoutMs = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  return limits;
}

/**
 * The fastify options that carry `limits` to Node's HTTP server. Node checks the headers and request timeouts on
 * a clock (30 s by default); it runs here at a tenth of the shorter timeout, so a timeout fires within 10% of it.
 */
export function connectionServerOptions(limits: Required<ConnectionLimits>): {
  connectionTimeout: number;
  keepAliveTimeout: number;
  requestTimeout: number;
  http: ServerOptions;
} {
  return {
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.round(limits.headersTimeoutMs / 10))),
    },
  };
}

/**
 * Sets the connection limit on `app`'s server and arms the lingering close on every reply sent while its
 * request's body is still unread (a 413 from `Content-Length` or on passing the limit, a 401, a 503 shed before
 * the body): such a reply says `Connection: close`, and the connection reads and discards for a bounded time and
 * size before it closes, so that the client can read the reply.
 */
export function installConnectionLimits(app: FastifyInstance, limits: Required<ConnectionLimits>): void {
  app.server.maxConnections = limits.maxConnections;
  app.addHook('onSend', (request, reply, payload, done) => {
    if (!request.raw.complete) {
      void reply.header('connection', 'close');
      lingerOnClose(request.raw, limits.linger);
    }
    done(null, payload);
  });
}
