import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import type { BranchyServer } from '../../src/serve/index.ts';
import { tempDir } from '../helpers.ts';
import { CURL_PACKAGE, needs } from '../system-packages.ts';
import { digits, listen, predictJson, served, type InProcessModel } from './fixtures.ts';

const MODEL = 'b-lenet-mnist';
const MiB = 1024 * 1024;
/** The sizes the server must refuse readably: just over its 4 MiB default limit, and far over it. */
const SIZES = [5 * MiB, 64 * MiB];
const TOO_LARGE = /^413 SERVE_BODY_TOO_LARGE the request body is larger than this server's limit of 4194304 bytes/;

/** A body of `size` spaces (valid JSON whitespace, so only its size is wrong), in 1 MiB chunks without a length. */
function chunkedBody(size: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(MiB).fill(32);
  let left = size;
  return new ReadableStream({
    pull(controller) {
      if (left <= 0) return controller.close();
      controller.enqueue(chunk.subarray(0, Math.min(MiB, left)));
      left -= MiB;
    },
  });
}

async function summary(response: Response): Promise<string> {
  const body = (await response.json()) as { code: string; message: string };
  return `${response.status} ${body.code} ${body.message}`;
}

describe('oversized bodies get a readable 413', () => {
  let model: InProcessModel;
  let server: BranchyServer;
  let url: string;
  const predict = () => `${url}/v1/models/${MODEL}/predict`;

  before(async () => {
    model = await served(SHIPPED_MODEL_DIR, MODEL);
    ({ server, url } = await listen([model], { connections: { linger: { ms: 2_000, bytes: 128 * MiB } } }));
  });
  after(async () => {
    await server.close();
    await model.host.close();
  });

  /** A valid request after each refused one still gets its answer. */
  async function assertStillServes(): Promise<void> {
    const response = await predictJson(url, MODEL, digits(1));
    assert.equal(response.status, 200);
  }

  for (const size of SIZES) {
    it(`fetch with Content-Length: ${size / MiB} MiB reads 413 SERVE_BODY_TOO_LARGE`, async () => {
      const response = await fetch(predict(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: new Uint8Array(size).fill(32) });
      assert.match(await summary(response), TOO_LARGE);
      assert.equal(response.headers.get('connection'), 'close');
      await assertStillServes();
    });
    it(`fetch chunked without a length: ${size / MiB} MiB reads 413 SERVE_BODY_TOO_LARGE`, async () => {
      const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: chunkedBody(size), duplex: 'half' } as RequestInit;
      assert.match(await summary(await fetch(predict(), init)), TOO_LARGE);
      await assertStillServes();
    });
  }

  describe('curl', { skip: needs(CURL_PACKAGE) }, () => {
    const curl = promisify(execFile);
    for (const size of SIZES) {
      for (const chunked of [false, true]) {
        it(`curl ${chunked ? 'chunked' : 'with Content-Length'}: ${size / MiB} MiB reads 413 SERVE_BODY_TOO_LARGE`, async () => {
          const file = join(tempDir(), 'body.json');
          writeFileSync(file, Buffer.alloc(size, 32));
          // `Expect:` off: curl sends the body at once instead of waiting for 100 Continue, as most clients do.
          const headers = ['-H', 'content-type: application/json', '-H', 'Expect:', ...(chunked ? ['-H', 'transfer-encoding: chunked'] : [])];
          const { stdout } = await curl('curl', ['-sS', '-w', '\n%{http_code}', ...headers, '--data-binary', `@${file}`, predict()]);
          const [body, status] = stdout.split('\n');
          const { code, message } = JSON.parse(body) as { code: string; message: string };
          assert.match(`${status} ${code} ${message}`, TOO_LARGE);
          await assertStillServes();
        });
      }
    }
  });

  it('a client that reads its 413 and stops sending halfway is not counted again as a connection error', async () => {
    const badHttp = async () =>
      Number(/^branchy_connection_errors_total\{code="SERVE_BAD_HTTP"\} (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0);
    const start = await badHttp();
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    socket.on('error', () => {});
    let reply = '';
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      // The whole reply read: the client gives up on the rest of its body and closes its side.
      if (reply.includes('}')) socket.end();
    });
    socket.write(`POST /v1/models/${MODEL}/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${5 * MiB}\r\n\r\n`);
    socket.write(Buffer.alloc(MiB, 32));
    await closed;
    assert.match(reply, /^HTTP\/1\.1 413 /);
    assert.equal(await badHttp(), start, 'one 413, counted once as SERVE_BODY_TOO_LARGE');
  });

  it('a client that never stops sending is closed within the lingering time', async () => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    socket.on('error', () => {});
    let reply = '';
    socket.on('data', (chunk) => (reply += chunk.toString()));
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
    socket.write(`POST /v1/models/${MODEL}/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`);
    const chunk = Buffer.concat([Buffer.from('10000\r\n'), Buffer.alloc(0x10000, 32), Buffer.from('\r\n')]);
    const start = performance.now();
    // Sends 64 KiB every 10 ms (6.4 MB/s) for as long as the socket lasts: past the limit, never finishing.
    const sender = setInterval(() => socket.writable && socket.write(chunk), 10);
    const end = await closed;
    clearInterval(sender);
    assert.match(reply, /^HTTP\/1\.1 413 /);
    assert.ok(end - start < 2_000 + 1_500, `closed after ${Math.round(end - start)} ms; the lingering time is 2000 ms`);
  });
});
