/**
 * Measuring probes the testbed runs inside its namespaces, one mode per process. Servers print
 * `{"listening":{"host":…,"port":…}}` and run until stopped; clients print one line of JSON with what they measured
 * and exit. Every clock is read inside the probe, so a process's own start-up (slow on a CPU-limited host) is not
 * counted.
 *
 * - `echo HOST`: echoes every byte back.
 * - `sink HOST`: per connection, reads a 4-byte big-endian length N, then N bytes, then answers one byte.
 * - `rtt HOST PORT COUNT`: COUNT round trips of one byte to an echo server (after 3 unmeasured ones) →
 *   `{"ms":[…]}`.
 * - `send HOST PORT BYTES`: sends BYTES bytes to a sink and waits for its answer → `{"ms":…,"bytes":…}`, timed
 *   from the first byte written to the answer.
 * - `spin ITERATIONS`: a fixed arithmetic loop, timed after an untimed tenth of it (so the JIT has compiled it)
 *   → `{"ms":…,"cpuMs":…}`: wall-clock time and the CPU time the process got meanwhile.
 * - `bursts ITERATIONS COUNT GAP_MS`: the same loop COUNT times, each after GAP_MS idle (after untimed runs; like
 *   `predict`, it prints `warm` and waits for a line on stdin before the timed ones) → `{"ms":[…],"cpuMs":[…]}`:
 *   short bursts, each starting with whatever budget a CPU quota grants after idling.
 * - `predict HOST PORT PATH SAMPLES_FILE GAP_MS WARMUP`: a client of a predict route, as an application on that
 *   host would be one: POSTs each sample of SAMPLES_FILE (a JSON array of flat inputs) alone as JSON
 *   (`{"inputs":[[…]]}`) over one keep-alive connection, each after GAP_MS idle, after WARMUP untimed ones; prints
 *   `warm` after those and waits for a line on stdin before the timed ones (so that the caller can read counters
 *   around them) → `{"ms":[…],"answers":[{"status":…,"results":[…]}]}`.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createConnection, createServer, type Socket } from 'node:net';

const WARMUP_ROUND_TRIPS = 3;

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function serve(host: string, onConnection: (socket: Socket) => void): void {
  const server = createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    onConnection(socket);
  });
  server.listen(0, host, () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('the probe server has no TCP address');
    print({ listening: { host: address.address, port: address.port } });
  });
  process.on('SIGTERM', () => process.exit(0));
}

function sink(socket: Socket): void {
  let expected = -1;
  let got = 0;
  let header = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    if (expected < 0) {
      header = Buffer.concat([header, chunk]);
      if (header.length < 4) return;
      expected = header.readUInt32BE(0);
      got = header.length - 4;
    } else got += chunk.length;
    if (got >= expected) socket.end(Buffer.from([1]));
  });
}

function connect(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port, noDelay: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

async function roundTrips(host: string, port: number, count: number): Promise<number[]> {
  const socket = await connect(host, port);
  const once = () =>
    new Promise<number>((resolve) => {
      const started = performance.now();
      socket.once('data', () => resolve(performance.now() - started));
      socket.write(Buffer.from([42]));
    });
  const ms: number[] = [];
  for (let i = 0; i < WARMUP_ROUND_TRIPS + count; i++) {
    const t = await once();
    if (i >= WARMUP_ROUND_TRIPS) ms.push(t);
  }
  socket.destroy();
  return ms;
}

async function send(host: string, port: number, bytes: number): Promise<number> {
  const socket = await connect(host, port);
  const payload = Buffer.alloc(4 + bytes, 7);
  payload.writeUInt32BE(bytes, 0);
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    const started = performance.now();
    socket.once('data', () => {
      resolve(performance.now() - started);
      socket.destroy();
    });
    socket.write(payload);
  });
}

function spin(iterations: number): { ms: number; cpuMs: number } {
  const cpu = process.cpuUsage();
  const started = performance.now();
  let acc = 0;
  for (let i = 0; i < iterations; i++) acc = (acc + ((i * 2654435761) % 7)) % 1000003;
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  if (acc < 0) throw new Error('unreachable');
  return { ms, cpuMs: (used.user + used.system) / 1000 };
}

/** Says `warm` and waits for the caller's line on stdin. */
async function ready(): Promise<void> {
  process.stdout.write('warm\n');
  await new Promise((go) => process.stdin.once('data', go));
  process.stdin.pause();
}

async function bursts(iterations: number, count: number, gapMs: number): Promise<{ ms: number[]; cpuMs: number[] }> {
  for (let i = 0; i < 10; i++) spin(iterations);
  await ready();
  const ms: number[] = [];
  const cpuMs: number[] = [];
  for (let i = 0; i < count; i++) {
    await new Promise((done) => setTimeout(done, gapMs));
    const run = spin(iterations);
    ms.push(run.ms);
    cpuMs.push(run.cpuMs);
  }
  return { ms, cpuMs };
}

async function predict(host: string, port: number, path: string, samplesFile: string, gapMs: number, warmup: number) {
  const samples = JSON.parse(readFileSync(samplesFile, 'utf8')) as number[][];
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const post = (sample: readonly number[]) =>
    new Promise<{ ms: number; status: number; body: string }>((resolve, reject) => {
      const body = Buffer.from(JSON.stringify({ inputs: [sample] }));
      const started = performance.now();
      const req = request(
        { agent, host, port, path, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => resolve({ ms: performance.now() - started, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  for (let i = 0; i < warmup; i++) await post(samples[i % samples.length]);
  await ready();
  const ms: number[] = [];
  const answers: { status: number; results: unknown[] }[] = [];
  for (const sample of samples) {
    if (gapMs > 0) await new Promise((done) => setTimeout(done, gapMs));
    const r = await post(sample);
    ms.push(r.ms);
    let results: unknown[];
    try {
      results = (JSON.parse(r.body) as { results?: unknown[] }).results ?? [];
    } catch {
      results = [];
    }
    answers.push({ status: r.status, results });
  }
  agent.destroy();
  return { ms, answers };
}

async function main(argv: string[]): Promise<void> {
  const [mode, ...args] = argv;
  if (mode === 'echo') serve(args[0], (socket) => socket.pipe(socket));
  else if (mode === 'sink') serve(args[0], sink);
  else if (mode === 'rtt') print({ ms: await roundTrips(args[0], Number(args[1]), Number(args[2])) });
  else if (mode === 'send') print({ ms: await send(args[0], Number(args[1]), Number(args[2])), bytes: Number(args[2]) });
  else if (mode === 'spin') {
    spin(Math.ceil(Number(args[0]) / 10));
    print(spin(Number(args[0])));
  } else if (mode === 'bursts') print(await bursts(Number(args[0]), Number(args[1]), Number(args[2])));
  else if (mode === 'predict') print(await predict(args[0], Number(args[1]), args[2], args[3], Number(args[4]), Number(args[5])));
  else throw new Error(`unknown probe mode '${mode}'; expected echo, sink, rtt, send, spin, bursts or predict.`);
}

await main(process.argv.slice(2));
