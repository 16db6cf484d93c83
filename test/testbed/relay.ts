/**
 * A delaying TCP relay, run by the testbed inside the namespace that receives a link's traffic (netem, the
 * kernel's delay qdisc, is absent on the machines we run on). It accepts connections on `--listen` (an address of
 * its namespace, or a unix socket path for the testbed's door), connects each to `--to`, and passes every chunk
 * on `--delay-ms` after it arrived, in each direction, so a round trip through it takes twice that long more. The
 * kernel still shapes the bandwidth: the bytes cross the veth pairs, the relay only holds them back.
 *
 * Usage: `node --import tsx relay.ts --listen HOST:PORT|unix:PATH --to HOST:PORT [--delay-ms MS]`. It prints one
 * line of JSON once it listens: `{"listening":{"host":…,"port":…}}` or `{"listening":{"path":…}}`.
 *
 * @module
 */
import { createConnection, createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

/** Bytes a direction may hold back (in its delay queue or unsent) before it stops reading its source. */
const HOLD_LIMIT = 8 * 1024 * 1024;

/** `HOST:PORT` → its parts; `unix:PATH` → the path. */
function endpoint(text: string, flag: string): { host: string; port: number } | { path: string } {
  if (text.startsWith('unix:')) return { path: text.slice('unix:'.length) };
  const m = /^(.+):(\d+)$/.exec(text);
  if (m === null) throw new Error(`${flag} is '${text}'; expected HOST:PORT or unix:PATH.`);
  return { host: m[1], port: Number(m[2]) };
}

/**
 * Passes `from`'s chunks to `to`, each `delayMs` after it arrived, in order. Timers wake a millisecond early and
 * the last stretch is waited on `setImmediate`, so the delay holds to well under a millisecond (a plain timer
 * fires up to a millisecond or two late).
 */
function pipeDelayed(from: Socket, to: Socket, delayMs: number): void {
  const queue: { due: number; chunk: Buffer }[] = [];
  let held = 0;
  let ended = false;
  let waking = false;
  const flush = () => {
    waking = false;
    const now = performance.now();
    while (queue.length > 0 && queue[0].due <= now) {
      const { chunk } = queue.shift()!;
      held -= chunk.length;
      if (!to.destroyed) to.write(chunk);
    }
    if (queue.length > 0) wake();
    else if (ended && !to.destroyed) to.end();
    if (from.isPaused() && held + to.writableLength < HOLD_LIMIT / 2) from.resume();
  };
  const wake = () => {
    if (waking) return;
    waking = true;
    const wait = queue[0].due - performance.now();
    if (wait > 1.5) setTimeout(() => ((waking = false), wake()), wait - 1);
    else setImmediate(flush);
  };
  from.on('data', (chunk: Buffer) => {
    if (delayMs <= 0) {
      if (!to.destroyed && !to.write(chunk)) from.pause();
      return;
    }
    queue.push({ due: performance.now() + delayMs, chunk });
    held += chunk.length;
    if (held + to.writableLength >= HOLD_LIMIT) from.pause();
    wake();
  });
  to.on('drain', () => {
    if (from.isPaused() && held + to.writableLength < HOLD_LIMIT / 2) from.resume();
  });
  from.on('end', () => {
    ended = true;
    if (queue.length === 0 && !to.destroyed) to.end();
  });
}

function main(): void {
  const { values } = parseArgs({ options: { listen: { type: 'string' }, to: { type: 'string' }, 'delay-ms': { type: 'string', default: '0' } } });
  if (values.listen === undefined || values.to === undefined) throw new Error('give --listen HOST:PORT|unix:PATH and --to HOST:PORT.');
  const listen = endpoint(values.listen, '--listen');
  const target = endpoint(values.to, '--to');
  if (!('port' in target)) throw new Error('--to must be HOST:PORT.');
  const delayMs = Number(values['delay-ms']);
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new Error(`--delay-ms is '${values['delay-ms']}'; expected a number of ms, 0 or more.`);
  // Half-open on both sides: an end travels through the delay like the bytes before it, so a reply still in the
  // queue is delivered after the other side has finished sending.
  const server = createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
    const upstream = createConnection({ host: target.host, port: target.port, noDelay: true, allowHalfOpen: true });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    pipeDelayed(client, upstream, delayMs);
    pipeDelayed(upstream, client, delayMs);
  });
  // Nothing to flush: a stopped relay drops its connections, as a cut link would.
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
  const ready = () => {
    const address = server.address();
    const listening = typeof address === 'string' || address === null ? { path: address } : { host: address.address, port: address.port };
    process.stdout.write(`${JSON.stringify({ listening })}\n`);
  };
  if ('path' in listen) server.listen(listen.path, ready);
  else server.listen(listen.port, listen.host, ready);
}

main();
