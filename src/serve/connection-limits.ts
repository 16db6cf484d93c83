/**
 * What bounds a connection: timeouts for slow headers, slow bodies and idle keep-alives, a connection limit, and
 * the lingering close of replies sent before their body was read. One set of limits for `branchy serve` and for
 * every cascade unit's server.
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';
import { maxHeaderSize, STATUS_CODES, type ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { ServeErrorCode } from './errors.ts';
import { DEFAULT_LINGER, isLingering, lingerOnClose, type LingerLimits } from './linger.ts';
import type { Counter, Gauge, MetricsRegistry } from './metrics.ts';

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

/** A connection-level error (Node's HTTP parser, or its headers / request timeout), as fastify hands it on. */
type ConnectionError = Error & { code?: string; reason?: string };

/** What a connection-level error is answered with: the server's `{code, message}` shape, as every other error reply. */
export function connectionErrorReply(error: ConnectionError, limits: Required<ConnectionLimits>): { status: number; code: ServeErrorCode; message: string } {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      status: 408,
      code: 'SERVE_REQUEST_TIMEOUT',
      message: `the request was not received in time: its headers must arrive within ${limits.headersTimeoutMs} ms (--headers-timeout-ms) and all of it within ${limits.requestTimeoutMs} ms (--request-timeout-ms).`,
    };
  }
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return { status: 431, code: 'SERVE_HEADERS_TOO_LARGE', message: `the request headers are larger than this server's limit of ${maxHeaderSize} bytes.` };
  }
  const why = error.reason ?? error.message;
  return { status: 400, code: 'SERVE_BAD_HTTP', message: `the request is not valid HTTP/1.1: ${why}${error.code ? ` (${error.code})` : ''}.` };
}

/** The replies of requests whose connection a guard answered and counted itself (a body that timed out). */
const answeredByGuard = new WeakSet<object>();

/**
 * True when a connection guard has answered and counted this reply's request itself (408 for a body that did not
 * arrive in time): the route then sees the request cut off, and must not count it a second time.
 */
export function answeredByConnectionGuard(reply: object): boolean {
  return answeredByGuard.has(reply);
}

/** The metric families of {@link ConnectionGuard}, rendered with the server's others on `/metrics`. */
interface ConnectionMetrics {
  open: Gauge;
  dropped: Counter;
  errors: Counter;
}

function connectionMetrics(registry: MetricsRegistry): ConnectionMetrics {
  const dropped = registry.counter('branchy_connections_dropped_total', 'Connections closed as soon as they were accepted, being beyond --max-connections.');
  // Shown as 0 from the start, so that a scrape before the first drop has a series to take a rate of.
  dropped.inc({}, 0);
  return {
    open: registry.gauge('branchy_connections_open', 'Client connections open now.'),
    dropped,
    errors: registry.counter(
      'branchy_connection_errors_total',
      'Connections answered and closed before a route saw their request (timeouts, malformed HTTP), by error code.',
      ['code'],
    ),
  };
}

/**
 * One server's connection limits: the fastify options that carry them to Node's HTTP server, and {@link install}
 * for what must be set on the built app.
 */
export interface ConnectionGuard {
  readonly limits: Required<ConnectionLimits>;
  /** Spread into the fastify options. */
  readonly serverOptions: {
    connectionTimeout: number;
    keepAliveTimeout: number;
    requestTimeout: number;
    http: ServerOptions;
    clientErrorHandler: (error: ConnectionError, socket: Socket) => void;
  };
  /**
   * Sets the connection limit on `app`'s server, counts its open and dropped connections, and arms the lingering
   * close on every reply sent while its request's body is still unread (a 413 from `Content-Length` or on passing
   * the limit, a 401, a 503 shed before the body): such a reply says `Connection: close`, and the connection reads
   * and discards for a bounded time and size before it closes, so that the client can read the reply.
   */
  install(app: FastifyInstance): void;
}

/**
 * The guard of `given` (defaults filled in), whose metrics go into `registry`.
 *
 * Node checks the headers and request timeouts on a clock (30 s by default); it runs here at a tenth of the shorter
 * timeout, so a timeout fires within 10% of it. A request that times out or is not valid HTTP is answered as every
 * other error (JSON `{code, message}`: 408 `SERVE_REQUEST_TIMEOUT`, 431 `SERVE_HEADERS_TOO_LARGE`, 400
 * `SERVE_BAD_HTTP`) and its connection closed.
 */
export function connectionGuard(given: ConnectionLimits | undefined, registry: MetricsRegistry): ConnectionGuard {
  const limits = connectionLimits(given);
  const metrics = connectionMetrics(registry);
  let open = 0;
  metrics.open.track({}, () => open);
  const clientErrorHandler = (error: ConnectionError, socket: Socket): void => {
    // A reset connection has nothing left to answer; nor has one whose reply is already under way.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    // A client gone before its body was complete: the route that has its request counts it (SERVE_BODY_INCOMPLETE),
    // or its reply was already sent before the body was read (a 413, lingering); either way it is neither answered
    // again here nor counted as a connection error.
    const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
    if (error.code === 'HPE_INVALID_EOF_STATE' && (inProgress || isLingering(socket))) {
      socket.destroy();
      return;
    }
    const { status, code, message } = connectionErrorReply(error, limits);
    metrics.errors.inc({ code });
    if (inProgress) answeredByGuard.add(inProgress);
    if (socket.writable && inProgress?.headersSent !== true) {
      const body = JSON.stringify({ code, message });
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
  return {
    limits,
    serverOptions: {
      connectionTimeout: limits.idleTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      http: {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.round(limits.headersTimeoutMs / 10))),
      },
      clientErrorHandler,
    },
    install(app) {
      app.server.maxConnections = limits.maxConnections;
      app.server.on('connection', (socket: Socket) => {
        open++;
        socket.once('close', () => open--);
      });
      app.server.on('drop', () => metrics.dropped.inc());
      app.addHook('onSend', (request, reply, payload, done) => {
        if (!request.raw.complete) {
          void reply.header('connection', 'close');
          lingerOnClose(request.raw, limits.linger);
        }
        done(null, payload);
      });
    },
  };
}
