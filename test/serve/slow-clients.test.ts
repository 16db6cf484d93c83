import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import type { BranchyServer } from '../../src/serve/index.ts';
import { digits, listen, predictJson, served, type InProcessModel } from './fixtures.ts';

const MODEL = 'b-lenet-mnist';

/** Opens a raw connection and resolves, when the server ends it, with what the server sent. */
function rawClient(url: string): { socket: Socket; closed: Promise<string> } {
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  socket.on('error', () => {});
  let received = '';
  socket.on('data', (chunk) => (received += chunk.toString()));
  return { socket, closed: new Promise((resolve) => socket.once('close', () => resolve(received))) };
}

/** The error counts a slow or vanishing client can move, from the server's `/metrics`. */
async function errorCounts(url: string): Promise<{ incomplete: number; badHttp: number; timeouts: number }> {
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const series = (re: RegExp) => Number(re.exec(metrics)?.[1] ?? 0);
  return {
    incomplete: series(/^branchy_http_errors_total\{code="SERVE_BODY_INCOMPLETE"\} (\d+)$/m),
    badHttp: series(/^branchy_connection_errors_total\{code="SERVE_BAD_HTTP"\} (\d+)$/m),
    timeouts: series(/^branchy_connection_errors_total\{code="SERVE_REQUEST_TIMEOUT"\} (\d+)$/m),
  };
}

describe('slow and idle clients are bounded by the connection limits', () => {
  let model: InProcessModel;
  let server: BranchyServer;
  let url: string;

  before(async () => {
    model = await served(SHIPPED_MODEL_DIR, MODEL);
    ({ server, url } = await listen([model], { connections: { headersTimeoutMs: 400, requestTimeoutMs: 800, keepAliveTimeoutMs: 300 } }));
  });
  after(async () => {
    await server.close();
    await model.host.close();
  });

  it('headers trickled a byte at a time get 408 and a close after the headers timeout, while a valid client is answered', async () => {
    const { socket, closed } = rawClient(url);
    const head = `POST /v1/models/${MODEL}/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n`;
    let i = 0;
    const trickle = setInterval(() => socket.writable && i < head.length && socket.write(head[i++]), 50);
    assert.equal((await predictJson(url, MODEL, digits(1))).status, 200);
    const received = await closed;
    clearInterval(trickle);
    assert.ok(i < head.length, 'the server waited for the whole trickled head');
    assert.match(received, /^HTTP\/1\.1 408 /);
    assert.match(received, /\r\nconnection: close\r\n/i);
    assert.match(
      received,
      /\{"code":"SERVE_REQUEST_TIMEOUT","message":"the request was not received in time: its headers must arrive within 400 ms \(--headers-timeout-ms\)/,
    );
  });

  it('a body trickled a byte at a time is cut off after the request timeout, and counted once, as a timeout', async () => {
    const start = await errorCounts(url);
    const { socket, closed } = rawClient(url);
    socket.write(`POST /v1/models/${MODEL}/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 10000\r\n\r\n`);
    const trickle = setInterval(() => socket.writable && socket.write(' '), 20);
    const received = await closed;
    clearInterval(trickle);
    assert.match(received, /^HTTP\/1\.1 408 /);
    assert.match(received, /"code":"SERVE_REQUEST_TIMEOUT"/);
    await sleep(100);
    assert.deepEqual(await errorCounts(url), { ...start, timeouts: start.timeouts + 1 }, 'the route that saw the body cut off counts nothing');
  });

  it('a request that is not HTTP gets 400 SERVE_BAD_HTTP as JSON, and the connection errors are counted by code', async () => {
    const { socket, closed } = rawClient(url);
    socket.write('HELLO THERE\r\n\r\n');
    const received = await closed;
    assert.match(received, /^HTTP\/1\.1 400 /);
    assert.match(received, /\{"code":"SERVE_BAD_HTTP","message":"the request is not valid HTTP\/1\.1: /);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /^branchy_connection_errors_total\{code="SERVE_BAD_HTTP"\} [1-9]/m);
    assert.match(metrics, /^branchy_connection_errors_total\{code="SERVE_REQUEST_TIMEOUT"\} [1-9]/m);
    assert.match(metrics, /^branchy_connections_open [1-9]/m, 'the connection that fetched the metrics is open');
    assert.match(metrics, /^branchy_connections_dropped_total 0$/m, 'no connection was dropped, and the series is there before the first');
  });

  it('a client gone in the middle of its body is counted once, as SERVE_BODY_INCOMPLETE, not also as a connection error', async () => {
    const start = await errorCounts(url);
    for (const leave of ['end', 'destroy'] as const) {
      const { socket, closed } = rawClient(url);
      socket.write(`POST /v1/models/${MODEL}/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 10000\r\n\r\n{"inputs": [[0,0,`);
      setTimeout(() => (leave === 'end' ? socket.end() : socket.destroy()), 20);
      await closed;
    }
    let now = await errorCounts(url);
    for (let i = 0; i < 100 && now.incomplete < start.incomplete + 2; i++) now = (await sleep(20), await errorCounts(url));
    assert.deepEqual(now, { ...start, incomplete: start.incomplete + 2 });
  });

  it('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const { socket, closed } = rawClient(url);
    const start = performance.now();
    socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    const received = await closed;
    assert.match(received, /^HTTP\/1\.1 200 /);
    assert.ok(performance.now() - start < 5_000, 'closed long before the 5 s default');
  });
});
