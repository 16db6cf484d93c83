/**
 * A lean closed-loop HTTP/1.1 load generator for the benches: raw `net` sockets to 127.0.0.1, keep-alive, each
 * request encoded once up front. Every connection sends one request, reads its reply whole (status line, headers,
 * a `Content-Length` body), counts its status, and sends the next, until the time is up; then the replies in flight
 * are awaited. It spends a fraction of autocannon's CPU per request, so on a machine whose cores the server shares,
 * more of them go to the server.
 *
 * @example
 * const r = await closedLoopLoad({ port, connections: 64, seconds: 5, requests: [{ method: 'POST', path: '/v1/models/m/predict', headers: { 'content-type': 'application/octet-stream' }, body }] });
 * console.log(r.replies / r.seconds, r.byStatus.get(200), r.errors);
 */
import { connect, type Socket } from 'node:net';

/** One request the generator sends, in turn with the others. */
export interface LoadRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
}

/** How the generator runs. */
export interface LoadOptions {
  /** Port on 127.0.0.1. */
  port: number;
  /** Concurrent connections, each with one request in flight. */
  connections: number;
  /** How long new requests are sent, in seconds. */
  seconds: number;
  /** Sent in turn, each connection starting at its own offset. */
  requests: readonly LoadRequest[];
  /** How long the replies in flight at the end are awaited before they count as errors, in ms (default 5000). */
  drainMs?: number;
}

/** What the generator saw. */
export interface LoadResult {
  /** From the first request to the last reply, in seconds. */
  seconds: number;
  /** Complete replies, of any status. */
  replies: number;
  /** Replies by HTTP status. */
  byStatus: Map<number, number>;
  /** Requests without a complete reply: connection errors, malformed replies, replies that did not come in time. */
  errors: number;
  /** Latency from send to complete reply of every reply, in ms, sorted. */
  latenciesMs: Float64Array;
}

const HEADER_END = Buffer.from('\r\n\r\n');
const HTTP_PREFIX = 'HTTP/1.';

/** The bytes of one request, with `Content-Length` and keep-alive. */
function encodeRequest(request: LoadRequest, port: number): Buffer {
  const body = request.body === undefined ? Buffer.alloc(0) : Buffer.from(request.body as Uint8Array);
  const headers = { host: `127.0.0.1:${port}`, connection: 'keep-alive', ...request.headers, 'content-length': String(body.length) };
  const head = `${request.method} ${request.path} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** A reply's status, its length in bytes (headers and body), its body's, and whether the server closes the connection after it. */
interface ReplyFrame {
  status: number;
  length: number;
  bodyLength: number;
  close: boolean;
}

/**
 * The first reply in `bytes`: `undefined` while incomplete; throws for anything but an HTTP/1.x reply with a
 * `Content-Length` (the server always sends one; a chunked reply would be miscounted, so it is an error).
 */
function parseReply(bytes: Buffer): ReplyFrame | undefined {
  const end = bytes.indexOf(HEADER_END);
  if (end < 0) {
    if (bytes.length > 64 * 1024) throw new Error('reply headers longer than 64 KiB');
    return undefined;
  }
  const head = bytes.toString('latin1', 0, end).toLowerCase();
  if (!head.startsWith(HTTP_PREFIX.toLowerCase()) || head.charCodeAt(8) !== 32)
    throw new Error(`not an HTTP/1.x status line: ${JSON.stringify(head.slice(0, 40))}`);
  const status = Number(head.slice(9, 12));
  if (!Number.isInteger(status) || status < 100 || status > 599) throw new Error(`bad status in ${JSON.stringify(head.slice(0, 40))}`);
  const lengthMatch = /\r\ncontent-length: *(\d+) *(\r\n|$)/.exec(head);
  if (lengthMatch === null) throw new Error(`reply with status ${status} has no Content-Length`);
  const bodyLength = Number(lengthMatch[1]);
  const length = end + HEADER_END.length + bodyLength;
  if (bytes.length < length) return undefined;
  return { status, length, bodyLength, close: /\r\nconnection: *close *(\r\n|$)/.test(head) };
}

/**
 * Runs `connections` closed-loop clients against 127.0.0.1:`port` for `seconds`, then awaits the replies in
 * flight. Resolves with every reply counted by status; never rejects for what the server answers.
 */
export function closedLoopLoad(options: LoadOptions): Promise<LoadResult> {
  const wire = options.requests.map((r) => encodeRequest(r, options.port));
  if (wire.length === 0) throw new RangeError("'requests' is empty; give at least one request.");
  const byStatus = new Map<number, number>();
  const latencies: number[] = [];
  let errors = 0;
  let replies = 0;
  const start = performance.now();
  const sendUntil = start + options.seconds * 1000;
  let lastReply = start;

  return new Promise((resolve) => {
    const sockets = new Set<Socket>();
    let drainTimer: NodeJS.Timeout | undefined;
    const stopTimer = setTimeout(() => {
      drainTimer = setTimeout(() => {
        for (const socket of sockets) socket.destroy(new Error('no reply before the drain timeout'));
      }, options.drainMs ?? 5000);
    }, options.seconds * 1000);
    const finish = () => {
      clearTimeout(stopTimer);
      if (drainTimer !== undefined) clearTimeout(drainTimer);
      resolve({ seconds: (lastReply - start) / 1000, replies, byStatus, errors, latenciesMs: Float64Array.from(latencies).sort() });
    };

    /** One client: a connection that sends the next request as soon as the last one is answered. */
    const client = (first: number) => {
      let next = first;
      let pending: Buffer | undefined;
      let sentAt = 0;
      let inFlight = false;
      const socket = connect({ host: '127.0.0.1', port: options.port, noDelay: true });
      sockets.add(socket);
      const send = () => {
        if (performance.now() >= sendUntil) {
          socket.end();
          return;
        }
        inFlight = true;
        sentAt = performance.now();
        socket.write(wire[next]);
        next = (next + 1) % wire.length;
      };
      socket.on('connect', send);
      socket.on('data', (chunk: Buffer) => {
        pending = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
        let reply: ReplyFrame | undefined;
        try {
          reply = parseReply(pending);
        } catch (error) {
          socket.destroy(error as Error);
          return;
        }
        if (reply === undefined) return;
        const now = performance.now();
        inFlight = false;
        replies++;
        lastReply = now;
        latencies.push(now - sentAt);
        byStatus.set(reply.status, (byStatus.get(reply.status) ?? 0) + 1);
        if (reply.length !== pending.length) {
          socket.destroy(new Error('bytes after the reply to the only request in flight'));
          return;
        }
        pending = undefined;
        if (reply.close) socket.end();
        else send();
      });
      socket.on('error', () => {});
      socket.on('close', (hadError) => {
        sockets.delete(socket);
        if (inFlight || hadError) errors++;
        // A connection the server closed (or lost) is replaced while there is time left.
        if (performance.now() < sendUntil) client(next);
        else if (sockets.size === 0) finish();
      });
    };
    for (let c = 0; c < options.connections; c++) client(c % wire.length);
  });
}

/** How the fixed-rate generator runs. */
export interface FixedRateOptions {
  /** Port on 127.0.0.1. */
  port: number;
  /** Connections, all opened before the clock starts; each has at most one request in flight. */
  connections: number;
  /** Requests per second, spread evenly: request i is due at i / rate. */
  rate: number;
  /** How long requests fall due, in seconds. */
  seconds: number;
  /** Sent in turn. */
  requests: readonly LoadRequest[];
  /** Called with each reply's status and body. */
  onReply?: (status: number, body: Buffer) => void;
  /** How long the replies in flight at the end are awaited before they count as errors, in ms (default 5000). */
  drainMs?: number;
}

/** What the fixed-rate generator saw. */
export interface FixedRateResult {
  /** Requests that fell due. */
  due: number;
  /** Of those, sent before the end (a request waits while every connection has one in flight). */
  sent: number;
  replies: number;
  byStatus: Map<number, number>;
  errors: number;
  /** From the first request's due time to the last reply, in seconds. */
  seconds: number;
  /**
   * Per reply, from the time its request fell due to the reply, in ms, by status, sorted: corrected for
   * coordinated omission (a slow reply delays the requests behind it, and they count that delay).
   */
  correctedMs: Map<number, Float64Array>;
  /** Per reply, from the time its request was written to the reply, in ms, by status, sorted. */
  measuredMs: Map<number, Float64Array>;
}

/**
 * Open-loop load at a fixed rate: request i falls due at `i / rate` s after the start and is written on a free
 * connection as soon as one is free; its latency is counted from when it fell due, so a server that stalls is
 * charged for every request it held up (no coordinated omission). Connections are opened before the clock starts,
 * so connection set-up is not counted. Requests still waiting for a connection at the end are reported as due but
 * not sent.
 */
export async function fixedRateLoad(options: FixedRateOptions): Promise<FixedRateResult> {
  const wire = options.requests.map((r) => encodeRequest(r, options.port));
  if (wire.length === 0) throw new RangeError("'requests' is empty; give at least one request.");
  if (!(options.rate > 0)) throw new RangeError(`'rate' is ${options.rate}; expected a positive number of requests per second.`);
  const sockets = await Promise.all(
    Array.from(
      { length: options.connections },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect({ host: '127.0.0.1', port: options.port, noDelay: true });
          socket.once('connect', () => resolve(socket));
          socket.once('error', reject);
        }),
    ),
  );
  const byStatus = new Map<number, number>();
  const corrected = new Map<number, number[]>();
  const measured = new Map<number, number[]>();
  const free: Conn[] = [];
  // Requests [sent, due) have fallen due and wait for a free connection.
  let due = 0;
  let sent = 0;
  let stopped = false;
  let replies = 0;
  let errors = 0;
  let next = 0;
  let open = sockets.length;
  const start = performance.now();
  const stopAt = start + options.seconds * 1000;
  const total = Math.floor(options.seconds * options.rate);
  let lastReply = start;

  interface Conn {
    socket: Socket;
    dueAt: number;
    sentAt: number;
    inFlight: boolean;
    pending?: Buffer;
  }

  return new Promise((resolve) => {
    let drainTimer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearInterval(ticker);
      if (drainTimer !== undefined) clearTimeout(drainTimer);
      const sorted = (m: Map<number, number[]>) => new Map([...m].map(([status, xs]) => [status, Float64Array.from(xs).sort()]));
      resolve({ due, sent, replies, byStatus, errors, seconds: (lastReply - start) / 1000, correctedMs: sorted(corrected), measuredMs: sorted(measured) });
    };
    const dispatch = () => {
      while (!stopped && sent < due && free.length > 0) {
        const conn = free.pop() as Conn;
        conn.dueAt = start + (sent * 1000) / options.rate;
        conn.sentAt = performance.now();
        conn.inFlight = true;
        conn.socket.write(wire[next]);
        next = (next + 1) % wire.length;
        sent++;
      }
    };
    const closeIdle = () => {
      if (performance.now() < stopAt) return;
      for (const conn of free.splice(0)) conn.socket.end();
    };
    const ticker = setInterval(() => {
      const now = performance.now();
      const upTo = Math.min(total, Math.floor(((Math.min(now, stopAt) - start) * options.rate) / 1000) + 1);
      due = Math.max(due, upTo);
      dispatch();
      if (now >= stopAt) {
        clearInterval(ticker);
        // What still waits for a connection was due but is not sent.
        stopped = true;
        closeIdle();
        drainTimer = setTimeout(() => sockets.forEach((s) => s.destroy(new Error('no reply before the drain timeout'))), options.drainMs ?? 5000);
      }
    }, 1);

    for (const socket of sockets) {
      const conn: Conn = { socket, dueAt: 0, sentAt: 0, inFlight: false };
      free.push(conn);
      socket.on('data', (chunk: Buffer) => {
        conn.pending = conn.pending === undefined ? chunk : Buffer.concat([conn.pending, chunk]);
        let reply: ReplyFrame | undefined;
        try {
          reply = parseReply(conn.pending);
        } catch (error) {
          socket.destroy(error as Error);
          return;
        }
        if (reply === undefined) return;
        const now = performance.now();
        if (reply.length !== conn.pending.length) {
          socket.destroy(new Error('bytes after the reply to the only request in flight'));
          return;
        }
        const body = conn.pending.subarray(reply.length - reply.bodyLength);
        conn.pending = undefined;
        conn.inFlight = false;
        replies++;
        lastReply = now;
        byStatus.set(reply.status, (byStatus.get(reply.status) ?? 0) + 1);
        if (!corrected.has(reply.status)) {
          corrected.set(reply.status, []);
          measured.set(reply.status, []);
        }
        corrected.get(reply.status)?.push(now - conn.dueAt);
        measured.get(reply.status)?.push(now - conn.sentAt);
        options.onReply?.(reply.status, body);
        if (reply.close) {
          socket.end();
          return;
        }
        free.push(conn);
        dispatch();
        closeIdle();
      });
      socket.on('error', () => {});
      socket.on('close', (hadError) => {
        if (conn.inFlight || hadError) errors++;
        conn.inFlight = false;
        const at = free.indexOf(conn);
        if (at >= 0) free.splice(at, 1);
        if (--open === 0) finish();
      });
    }
  });
}
