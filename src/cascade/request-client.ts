/**
 * The client process of the request-cost probe (`request-cost.ts`): it is sent the requests (each to a port on
 * 127.0.0.1, with its body and the idle time before it), sends them one at a time over keep-alive connections,
 * and sends back each round trip in ms, or the error of an answer other than 200. A process of its own, as a
 * unit's client or predecessor is, so that each request wakes the server's process from its sleep.
 *
 * @module
 */
import { Agent, request } from 'node:http';

/** One request: to `port`, after `gapMs` idle. */
export interface ClientStep {
  port: number;
  path: string;
  body: Uint8Array;
  type: string;
  gapMs: number;
}

/** What the client sends back. */
export type ClientReply = { ms: number[] } | { error: string };

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function post(step: ClientStep): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const headers = { 'content-type': step.type, 'content-length': step.body.length };
    const req = request({ agent, host: '127.0.0.1', port: step.port, path: step.path, method: 'POST', headers }, (res) => {
      res.on('data', () => {});
      res.on('error', reject);
      res.on('end', () =>
        res.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`the request-cost probe was answered ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end(Buffer.from(step.body.buffer, step.body.byteOffset, step.body.byteLength));
  });
}

async function run(steps: readonly ClientStep[]): Promise<ClientReply> {
  try {
    const ms: number[] = [];
    for (const step of steps) {
      if (step.gapMs > 0) await new Promise((done) => setTimeout(done, step.gapMs));
      ms.push(await post(step));
    }
    return { ms };
  } catch (error) {
    return { error: (error as Error).message };
  } finally {
    agent.destroy();
  }
}

process.once('message', (steps: ClientStep[]) => {
  void run(steps).then((reply) => process.send!(reply, () => process.disconnect()));
});
