/**
 * Lingering close, as nginx does it: a reply sent before its request's body was read (413 on `Content-Length`
 * or on passing the limit, 401, 503 shedding) closes the connection, but not at once. Closing a socket that still
 * has unread bytes makes the kernel answer the client's next segments with a reset, and most clients (Node's
 * `fetch` among them) then report `EPIPE` / `ECONNRESET` instead of the reply they were sent. So the server
 * half-closes (its FIN ends the reply), keeps reading and discarding what the client still sends for a bounded
 * time and size, and only then closes.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** How long and how much a closing connection reads and discards. */
export interface LingerLimits {
  /** Longest the server keeps reading after the reply, in ms. */
  ms: number;
  /** Most bytes it reads and discards after the reply. */
  bytes: number;
}

/** Defaults: 5 s and 128 MiB, enough for a client on a slow link to read a 413 sent at the start of its upload. */
export const DEFAULT_LINGER: LingerLimits = { ms: 5_000, bytes: 128 * 1024 * 1024 };

/** How often a lingering socket's byte count is checked, in ms. */
const CHECK_MS = 50;

const lingering = new WeakSet<Socket>();

/** True once a lingering close is armed on `socket`: its reply is sent, and what the client still sends is discarded. */
export function isLingering(socket: Socket): boolean {
  return lingering.has(socket);
}

/**
 * Arms a lingering close on the socket of `request`, whose reply is being sent before its body was read. The
 * reply must carry `Connection: close`: Node then calls the socket's `destroySoon` when the reply is written,
 * and this replaces it, for this one socket, by a half-close and bounded discard. Node's HTTP server sockets
 * allow half-open connections, so the socket keeps reading after its FIN.
 */
export function lingerOnClose(request: IncomingMessage, limits: LingerLimits): void {
  const socket = request.socket;
  if (lingering.has(socket)) return;
  lingering.add(socket);
  socket.destroySoon = function lingeringClose(this: Socket) {
    if (this.destroyed) return;
    this.end();
    // The HTTP parser consumes the socket's bytes natively (no 'data' events), and Node stops pushing the body of
    // a request whose reply is done; `bytesRead` still counts what arrives.
    const start = this.bytesRead;
    const deadline = performance.now() + limits.ms;
    const timer = setInterval(() => {
      if (this.bytesRead - start > limits.bytes || performance.now() >= deadline) this.destroy();
    }, CHECK_MS);
    timer.unref();
    // Resumed in case backpressure had paused it; a client that finished sending closes its side and ends this.
    this.resume();
    this.once('close', () => clearInterval(timer));
    this.once('end', () => this.destroy());
  };
}
