/**
 * Hostile and valid clients of a branchy server, for the benches (`bench/slow-clients.ts`, `bench/soak.ts`) and the
 * tests that hold the server under them: slowloris connections (headers, or a body, trickled a byte at a time), a
 * flood of connections opened at once, a catalogue of malformed requests, and a valid client that checks every
 * answer it gets.
 *
 * @example
 * const slow = slowClients({ port, count: 200, path: '/v1/models/b-lenet-mnist/predict' });
 * await slow.ready;
 * const valid = await validClient({ url, model: 'b-lenet-mnist', samples, requests: 300 });
 * await slow.stop();
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Rng } from '../src/common/rng.ts';
import { encodeInputsFrame } from '../src/serve/index.ts';

/** The nearest-rank percentile `p` (0-100) of values sorted ascending; NaN for none. */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** The HTTP status at the start of what a server sent on a raw connection, or undefined if it sent none. */
function statusOf(received: string): number | undefined {
  const m = /^HTTP\/1\.[01] (\d{3}) /.exec(received);
  return m === null ? undefined : Number(m[1]);
}

/**
 * How a slow connection misbehaves: `headers` sends a request head a byte at a time and never ends it; `body` sends
 * a whole head announcing a body of {@link SLOW_BODY_BYTES}, then the body a byte at a time; `idle` sends one whole
 * `GET /healthz` and then nothing, holding its keep-alive connection open.
 */
export type SlowKind = 'headers' | 'body' | 'idle';

/** Every {@link SlowKind}. */
export const SLOW_KINDS: readonly SlowKind[] = ['headers', 'body', 'idle'];

/** The body a `body` slow connection announces (under the default 4 MiB limit, so only its pace is wrong). */
export const SLOW_BODY_BYTES = 1_000_000;

/** How {@link slowClients} runs. */
export interface SlowClientsOptions {
  /** Port on 127.0.0.1. */
  port: number;
  /** Connections kept open: any the server closes is opened again until {@link SlowClients.stop}. */
  count: number;
  /** The route the slow requests are for. */
  path: string;
  /** The kinds, alternated over the connections (default all of {@link SLOW_KINDS}). */
  kinds?: readonly SlowKind[];
  /** Each connection sends one byte per this many ms (default 100). */
  byteEveryMs?: number;
}

/** What the slow connections of one kind, or of every kind, saw so far. */
export interface SlowKindStats {
  /** Connections opened, reopenings included. */
  opened: number;
  /** Connections the server closed. */
  closedByServer: number;
  /** Replies the server sent before closing, by status (a slow connection is answered 408, an idle one 200). */
  byStatus: Map<number, number>;
  /** Connections the server closed without a reply. */
  closedWithoutReply: number;
}

/** What the slow connections saw so far: in all, and by kind. */
export interface SlowClientStats extends SlowKindStats {
  byKind: Map<SlowKind, SlowKindStats>;
}

/** A running set of slow connections. */
export interface SlowClients {
  /** Resolves once every connection of the first `count` has connected. */
  readonly ready: Promise<void>;
  /** Resolves once the server has closed every connection of the first `count` (the reopened ones are not waited for). */
  readonly firstClosed: Promise<void>;
  /** Connections open now. */
  open(): number;
  stats(): SlowClientStats;
  /** Stops reopening and closes every connection. */
  stop(): Promise<void>;
}

/** The bytes a slow connection sends: `head` (at once for `body` and `idle`), then `filler` a byte at a time, if any. */
function slowBytes(kind: SlowKind, path: string): { head: string; filler: string } {
  if (kind === 'headers') return { head: `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nx-padding: `, filler: 'a' };
  if (kind === 'idle') return { head: 'GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n', filler: '' };
  return { head: `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${SLOW_BODY_BYTES}\r\n\r\n`, filler: ' ' };
}

function emptyStats(): SlowKindStats {
  return { opened: 0, closedByServer: 0, byStatus: new Map(), closedWithoutReply: 0 };
}

function copyStats(stats: SlowKindStats): SlowKindStats {
  return { ...stats, byStatus: new Map(stats.byStatus) };
}

/**
 * Keeps `count` slowloris connections open against 127.0.0.1:`port`. A `body` connection sends its head at once
 * (the server then waits for the body); a `headers` one trickles its head too; an `idle` one is answered and then
 * says nothing. One clock drives every connection, each on its own phase, so the bytes are spread evenly over time.
 */
export function slowClients(options: SlowClientsOptions): SlowClients {
  const kinds = options.kinds ?? SLOW_KINDS;
  const byteEveryMs = options.byteEveryMs ?? 100;
  const tickMs = 10;
  const phases = Math.max(1, Math.round(byteEveryMs / tickMs));
  const total = emptyStats();
  const byKind = new Map(kinds.map((k) => [k, emptyStats()]));
  const sockets = new Map<Socket, { phase: number; next: number; head: string; filler: string }>();
  let stopped = false;
  let tick = 0;
  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));
  let resolveFirstClosed!: () => void;
  const firstClosed = new Promise<void>((resolve) => (resolveFirstClosed = resolve));
  let connected = 0;
  let firstOpen = options.count;

  const open = (index: number, first: boolean) => {
    const kind = kinds[index % kinds.length];
    const { head, filler } = slowBytes(kind, options.path);
    const socket = connect({ host: '127.0.0.1', port: options.port, noDelay: true });
    const state = { phase: index % phases, next: 0, head, filler };
    const counts = [total, byKind.get(kind)!];
    counts.forEach((c) => c.opened++);
    sockets.set(socket, state);
    let received = '';
    socket.on('connect', () => {
      // A body connection's head goes at once, as does an idle one's request: it is what follows that is slow.
      if (kind !== 'headers') {
        socket.write(head);
        state.next = head.length;
      }
      if (first && ++connected === options.count) resolveReady();
    });
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      if (stopped) return;
      const status = statusOf(received);
      for (const c of counts) {
        c.closedByServer++;
        if (status === undefined) c.closedWithoutReply++;
        else c.byStatus.set(status, (c.byStatus.get(status) ?? 0) + 1);
      }
      if (first && --firstOpen === 0) resolveFirstClosed();
      open(index, false);
    });
  };

  const clock = setInterval(() => {
    tick++;
    for (const [socket, state] of sockets) {
      if (state.phase !== tick % phases || !socket.writable || socket.connecting) continue;
      if (state.next >= state.head.length && state.filler === '') continue;
      socket.write(state.next < state.head.length ? state.head[state.next] : state.filler);
      state.next++;
    }
  }, tickMs);

  for (let i = 0; i < options.count; i++) open(i, true);
  if (options.count === 0) {
    resolveReady();
    resolveFirstClosed();
  }

  return {
    ready,
    firstClosed,
    open: () => sockets.size,
    stats: () => ({ ...copyStats(total), byKind: new Map([...byKind].map(([k, s]) => [k, copyStats(s)])) }),
    async stop() {
      stopped = true;
      clearInterval(clock);
      const closing = [...sockets.keys()].map((s) => new Promise((resolve) => (s.destroyed ? resolve(undefined) : s.once('close', resolve))));
      for (const socket of sockets.keys()) socket.destroy();
      await Promise.all(closing);
    },
  };
}

/** How one connection of a flood ended. */
export type FloodOutcome = 'answered' | 'closed' | 'reset';

/** A flood of connections, opened at once, each asking `GET /healthz` and then staying open. */
export interface Flood {
  /** Resolves once every connection was answered or closed by the server, or `settleMs` passed (those still waiting count as `waiting`). */
  settled: Promise<Record<FloodOutcome | 'waiting', number>>;
  /** Closes every connection still open. */
  close(): Promise<void>;
}

/**
 * Opens `count` connections to 127.0.0.1:`port` at once; each sends `GET /healthz` and, answered, stays open (a
 * keep-alive connection holding its slot) until {@link Flood.close}.
 */
export function flood(options: { port: number; count: number; settleMs?: number }): Flood {
  const outcomes: Record<FloodOutcome | 'waiting', number> = { answered: 0, closed: 0, reset: 0, waiting: 0 };
  const sockets = new Set<Socket>();
  let pending = options.count;
  let resolveSettled!: (value: typeof outcomes) => void;
  const settled = new Promise<typeof outcomes>((resolve) => (resolveSettled = resolve));
  const done = () => {
    if (--pending === 0) resolveSettled({ ...outcomes });
  };
  const timer = setTimeout(() => resolveSettled({ ...outcomes, waiting: pending }), options.settleMs ?? 5_000);
  void settled.then(() => clearTimeout(timer));
  for (let i = 0; i < options.count; i++) {
    const socket = connect({ host: '127.0.0.1', port: options.port, noDelay: true });
    sockets.add(socket);
    let received = '';
    let outcome: FloodOutcome | undefined;
    let reset = false;
    socket.on('connect', () => socket.write('GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n'));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (outcome === undefined && statusOf(received) === 200 && received.includes('\r\n\r\n')) {
        outcome = 'answered';
        outcomes.answered++;
        done();
      }
    });
    socket.on('error', (e: NodeJS.ErrnoException) => (reset = e.code === 'ECONNRESET'));
    socket.on('close', () => {
      sockets.delete(socket);
      if (outcome !== undefined) return;
      outcome = reset ? 'reset' : 'closed';
      outcomes[outcome]++;
      done();
    });
  }
  return {
    settled,
    async close() {
      const closing = [...sockets].map((s) => new Promise((resolve) => s.once('close', resolve)));
      for (const socket of sockets) socket.destroy();
      await Promise.all(closing);
    },
  };
}

/** One sample and the answer the server must give it (from a calm pass, or computed in process). */
export interface KnownSample {
  input: Float32Array;
  label: number;
  exit: number;
}

/** What a valid client saw. */
export interface ValidClientResult {
  /** Requests sent. */
  sent: number;
  /** Answered 200 with the expected label and exit. */
  correct: number;
  /** Every request not answered 200 with the expected answer, described (status, code or the client's error). */
  failures: string[];
  /** Latency of every request answered 200, in ms, sorted. */
  latenciesMs: Float64Array;
}

/** One predict request over `agent`: resolves with the status, the body's text and the time it took; rejects on a connection error. */
export function postPredict(
  agent: Agent,
  url: URL,
  model: string,
  body: Uint8Array | string,
  contentType: string,
): Promise<{ status: number; text: string; ms: number; headers: IncomingHttpHeaders }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        agent,
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: `/v1/models/${model}/predict`,
        headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, ms: performance.now() - started, headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The first result's label and exit of a 200 predict reply. */
function firstAnswer(text: string): { label: number; exit: number } {
  const { results } = JSON.parse(text) as { results: { label: number; exit: number }[] };
  return { label: results[0].label, exit: results[0].exit };
}

/**
 * A valid client: `requests` single-sample JSON predict requests, one at a time over one keep-alive connection,
 * through the samples in turn. Every answer must be a 200 with the sample's known label and exit.
 */
export async function validClient(options: { url: string; model: string; samples: readonly KnownSample[]; requests: number }): Promise<ValidClientResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = new URL(options.url);
  const latencies: number[] = [];
  const failures: string[] = [];
  let correct = 0;
  try {
    for (let i = 0; i < options.requests; i++) {
      const sample = options.samples[i % options.samples.length];
      try {
        const r = await postPredict(agent, url, options.model, JSON.stringify({ inputs: [Array.from(sample.input)] }), 'application/json');
        if (r.status !== 200) {
          failures.push(`request ${i}: ${r.status} ${r.text.slice(0, 200)}`);
          continue;
        }
        latencies.push(r.ms);
        const got = firstAnswer(r.text);
        if (got.label === sample.label && got.exit === sample.exit) correct++;
        else failures.push(`request ${i}: label ${got.label} exit ${got.exit}; expected label ${sample.label} exit ${sample.exit}`);
      } catch (error) {
        failures.push(`request ${i}: ${(error as Error).message}`);
      }
    }
  } finally {
    agent.destroy();
  }
  return { sent: options.requests, correct, failures, latenciesMs: Float64Array.from(latencies).sort() };
}

/** The answers a calm server gives `inputs`, one request each: the reference the loaded runs are checked against. */
export async function knownAnswers(url: string, model: string, inputs: readonly Float32Array[]): Promise<KnownSample[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const known: KnownSample[] = [];
    for (const input of inputs) {
      const r = await postPredict(agent, new URL(url), model, JSON.stringify({ inputs: [Array.from(input)] }), 'application/json');
      if (r.status !== 200) throw new Error(`the calm server answered ${r.status}: ${r.text.slice(0, 300)}`);
      known.push({ input, ...firstAnswer(r.text) });
    }
    return known;
  } finally {
    agent.destroy();
  }
}

/** A request of the mixed load: valid, or malformed in one way. */
export type RequestKind =
  'valid-json' | 'valid-frame' | 'bad-json' | 'wrong-shape' | 'wrong-type' | 'unknown-model' | 'truncated-frame' | 'oversized' | 'aborted-body' | 'bad-http';

/** The reply each kind must get: a status and the code of its `{code, message}` body; `aborted-body` gets none. */
export const EXPECTED_REPLY: Record<RequestKind, { status: number; code?: string } | undefined> = {
  'valid-json': { status: 200 },
  'valid-frame': { status: 200 },
  'bad-json': { status: 400, code: 'SERVE_BAD_JSON' },
  'wrong-shape': { status: 400, code: 'SERVE_BAD_INPUTS' },
  'wrong-type': { status: 415, code: 'SERVE_UNSUPPORTED_MEDIA_TYPE' },
  'unknown-model': { status: 404, code: 'SERVE_UNKNOWN_MODEL' },
  'truncated-frame': { status: 400, code: 'FRAME_BAD_OFFSETS' },
  oversized: { status: 413, code: 'SERVE_BODY_TOO_LARGE' },
  'aborted-body': undefined,
  'bad-http': { status: 400, code: 'SERVE_BAD_HTTP' },
};

/** Relative frequency of each kind in the mixed load (valid requests are most of it, as on a real server). */
export const MIX: Record<RequestKind, number> = {
  'valid-json': 40,
  'valid-frame': 20,
  'bad-json': 6,
  'wrong-shape': 6,
  'wrong-type': 5,
  'unknown-model': 5,
  'truncated-frame': 6,
  oversized: 2,
  'aborted-body': 5,
  'bad-http': 5,
};

/** What {@link mixedLoad} saw. */
export interface MixedLoadResult {
  /** Requests sent, by kind. */
  sent: Map<RequestKind, number>;
  /** Replies by error code (`{code}` of the body) or `200`. */
  byCode: Map<string, number>;
  /** Replies that were not what their kind must get, described; valid answers with a wrong label count here too. */
  wrong: string[];
  /** Valid requests answered correctly. */
  validCorrect: number;
  /** Valid requests sent. */
  validSent: number;
  /** Latency of each valid request answered, in ms, with the time it ended (ms since the load began). */
  valid: { endMs: number; ms: number }[];
}

const MiB = 1024 * 1024;

/**
 * `connections` clients, each sending requests one after another for `seconds`, each request's kind drawn from
 * {@link MIX} by a generator seeded with `seed`. Valid requests go over keep-alive connections and must come back
 * with their sample's known answer; `aborted-body` and `bad-http` go over a raw connection of their own.
 */
export async function mixedLoad(options: {
  url: string;
  model: string;
  samples: readonly KnownSample[];
  connections: number;
  seconds: number;
  seed: number;
}): Promise<MixedLoadResult> {
  const url = new URL(options.url);
  const port = Number(url.port);
  const per = options.samples[0].input.length;
  const result: MixedLoadResult = { sent: new Map(), byCode: new Map(), wrong: [], validCorrect: 0, validSent: 0, valid: [] };
  const kinds = Object.keys(MIX) as RequestKind[];
  const total = kinds.reduce((a, k) => a + MIX[k], 0);
  const oversized = Buffer.alloc(5 * MiB, 32);
  const start = performance.now();
  const until = start + options.seconds * 1000;
  const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

  const client = async (c: number) => {
    const rng = new Rng(options.seed * 1000 + c);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; performance.now() < until; i++) {
        let pick = rng.int(total);
        const kind = kinds.find((k) => (pick -= MIX[k]) < 0)!;
        const sample = options.samples[rng.int(options.samples.length)];
        count(result.sent as Map<string, number>, kind);
        if (kind === 'aborted-body' || kind === 'bad-http') {
          const status = await rawRequest(port, kind, options.model);
          const expected = EXPECTED_REPLY[kind];
          if (kind === 'bad-http') count(result.byCode, status === 400 ? 'SERVE_BAD_HTTP' : `status ${status}`);
          if (expected !== undefined && status !== expected.status) result.wrong.push(`${kind}: status ${status}`);
          continue;
        }
        const frame = () => encodeInputsFrame(sample.input, [1, per]);
        const bodies: Record<string, () => [Uint8Array | string, string, string]> = {
          'valid-json': () => [JSON.stringify({ inputs: [Array.from(sample.input)] }), 'application/json', options.model],
          'valid-frame': () => [frame(), 'application/octet-stream', options.model],
          'bad-json': () => [`{"inputs": [[${sample.input.slice(0, 5).join(',')},`, 'application/json', options.model],
          'wrong-shape': () => [JSON.stringify({ inputs: [Array.from(sample.input.slice(0, 100))] }), 'application/json', options.model],
          'wrong-type': () => ['inputs=1,2,3', 'text/plain', options.model],
          'unknown-model': () => [JSON.stringify({ inputs: [Array.from(sample.input)] }), 'application/json', 'no-such-model'],
          'truncated-frame': () => [frame().subarray(0, 200), 'application/octet-stream', options.model],
          oversized: () => [oversized, 'application/json', options.model],
        };
        const [body, type, model] = bodies[kind]();
        if (kind === 'valid-json' || kind === 'valid-frame') result.validSent++;
        let reply;
        try {
          reply = await postPredict(agent, url, model, body, type);
        } catch (error) {
          result.wrong.push(`${kind}: ${(error as Error).message}`);
          continue;
        }
        const expected = EXPECTED_REPLY[kind]!;
        if (reply.status === 200) {
          count(result.byCode, '200');
          const got = firstAnswer(reply.text);
          if (got.label === sample.label && got.exit === sample.exit && expected.status === 200) {
            result.validCorrect++;
            result.valid.push({ endMs: performance.now() - start, ms: reply.ms });
          } else result.wrong.push(`${kind}: 200 label ${got.label} exit ${got.exit}; expected label ${sample.label} exit ${sample.exit}`);
          continue;
        }
        let code = `status ${reply.status}`;
        try {
          code = (JSON.parse(reply.text) as { code: string }).code;
        } catch {
          // Not a JSON error body: counted under its status, and wrong below.
        }
        count(result.byCode, code);
        if (reply.status !== expected.status || code !== expected.code) result.wrong.push(`${kind}: ${reply.status} ${code}: ${reply.text.slice(0, 200)}`);
      }
    } finally {
      agent.destroy();
    }
  };
  await Promise.all(Array.from({ length: options.connections }, (_, c) => client(c)));
  return result;
}

/**
 * A request on a raw connection of its own: `aborted-body` announces 10,000 bytes, sends 100 and closes (resolves
 * with 0: no reply is due); `bad-http` sends a request line that is not HTTP and resolves with the reply's status.
 */
function rawRequest(port: number, kind: 'aborted-body' | 'bad-http', model: string): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    let received = '';
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('close', () => resolve(kind === 'aborted-body' ? 0 : (statusOf(received) ?? 0)));
    socket.on('connect', () => {
      if (kind === 'bad-http') {
        socket.write('BREW /v1/models HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
        return;
      }
      socket.write(
        `POST /v1/models/${model}/predict HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 10000\r\n\r\n{"inputs": [[${'0,'.repeat(40)}`,
      );
      setTimeout(() => socket.destroy(), 5);
    });
  });
}
