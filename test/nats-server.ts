import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createConnection, createServer } from 'node:net';
import { NATS_SERVER_PACKAGE } from './system-packages.ts';

// Tests that start a server skip where Debian's nats-server is absent (and fail under CI=true):
// `describe(…, { skip: needs(NATS_SERVER_PACKAGE) }, …)`.
export { NATS_SERVER_PACKAGE };

/** A nats-server this test process started on a loopback port. */
export interface NatsServer {
  /** `nats://127.0.0.1:PORT`. */
  url: string;
  port: number;
  /** Stops the server (SIGTERM, then SIGKILL after 3 s) and waits until it has exited. */
  stop(): Promise<void>;
  /** Stops the server and starts it again on the same port. */
  restart(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => running.forEach((p) => p.kill('SIGKILL')));

/** A port that was free a moment ago (the OS's choice for port 0). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port from the OS');
  return address.port;
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => (socket.destroy(), resolve(false)));
  });
}

async function launch(port: number): Promise<ChildProcess> {
  const child = spawn(NATS_SERVER_PACKAGE.path, ['-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let log = '';
  child.stderr?.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
  const deadline = Date.now() + 5000;
  for (let i = 0; i < 250 && Date.now() < deadline; i++) {
    if (child.exitCode !== null) break;
    if (await accepts(port)) return child;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await halt(child);
  throw new Error(`nats-server did not accept connections on 127.0.0.1:${port} within 5 s:\n${log}`);
}

async function halt(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
  running.delete(child);
}

/**
 * Starts `nats-server -a 127.0.0.1 -p PORT` on a free port and resolves once it accepts connections. The caller
 * stops it; a server left running is killed when the test process exits.
 */
export async function startNatsServer(): Promise<NatsServer> {
  const port = await freePort();
  let child = await launch(port);
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    stop: () => halt(child),
    async restart() {
      await halt(child);
      child = await launch(port);
    },
  };
}
