/**
 * What one HTTP request costs a unit outside its model: reading and parsing the request, the micro-batcher's
 * hand-off, building and writing the answer, and the client's side of the round trip. Measured by real requests
 * over loopback to a server of the network (the `branchy serve` predict route a first unit serves), sent one at a
 * time at an idle pace, minus the engine time of the same requests.
 *
 * Two more things a lone request pays that a back-to-back cost profile does not show are measured with it: the
 * engine's extra time on a request that comes after idling (caches gone cold), and how much longer than its
 * nominal length the micro-batcher's wait really holds a lone request (timers have millisecond resolution and
 * wake late).
 *
 * @module
 */
import { fork } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Batch, LoadedNetwork } from '../engine/types.ts';
import type { LabelledSamples } from '../infer/index.ts';
import type { ModelManifest } from '../io/model-dir.ts';
import { InThreadHost, type HostRun, type InferenceHost } from '../serve/inference-host.ts';
import { createServer } from '../serve/server.ts';
import { encodeInputsFrame } from '../serve/wire.ts';
import type { ClientReply, ClientStep } from './request-client.ts';

/** One body kind's figures, in ms per request. */
export interface RequestCostFigures {
  /** The median over requests of (round trip − engine time): what the planner charges. */
  overheadMs: number;
  meanMs: number;
  p95Ms: number;
  /** The median round trip and the median engine time of the same requests. */
  roundTripMs: number;
  engineMs: number;
}

/** How a request cost was measured. */
export interface RequestCostMethod {
  /** What was asked, in words. */
  route: string;
  /** Timed requests per body kind, after `warmup` untimed ones. */
  requests: number;
  warmup: number;
  /** Idle time before each timed request, ms. */
  gapMs: number;
  /** The server's micro-batching wait during the measurement (0: the planner charges the wait apart). */
  maxWaitMs: number;
}

/**
 * The engine on a request after idling against the same samples back to back: the medians of each, and the median
 * of the per-sample differences (at least 0), which the planner charges per request on every unit that computes.
 */
export interface IdleEngineCost {
  pacedMs: number;
  backToBackMs: number;
  extraMs: number;
}

/**
 * What the micro-batcher's wait costs a lone request: JSON requests to a server waiting `nominalMs` for others,
 * interleaved with the same requests to one that does not wait; `lateMs` is the median difference of their round
 * trips less `nominalMs` (at least 0), which the planner adds to every wait it charges.
 */
export interface BatchWaitCost {
  nominalMs: number;
  /** The median round trip with the wait, ms. */
  roundTripMs: number;
  lateMs: number;
}

/** A tier's per-request cost, as a tier profile stores it. */
export interface RequestCost {
  /** A predict request with one sample as JSON (`{"inputs": [[…]]}`), answered as JSON: what a client sends the first unit. */
  json: RequestCostFigures;
  /** The same with one sample as a binary tensor frame: the nearest to a features frame a successor takes. */
  frame: RequestCostFigures;
  /** Absent in profiles written before it was measured (charged 0). */
  idle?: IdleEngineCost;
  /** Absent in profiles written before it was measured (charged 0). */
  wait?: BatchWaitCost;
  method: RequestCostMethod;
}

/** How {@link measureRequestCost} measures. */
export interface RequestCostOptions {
  /** Timed requests per body kind (default 40). */
  requests?: number;
  /** Idle time before each timed request, ms (default 50). */
  gapMs?: number;
  /** Untimed requests first, back to back (default 10). */
  warmup?: number;
  /** The server's micro-batching wait (default 0: the planner charges the wait apart). */
  maxWaitMs?: number;
  /** The nominal wait at which the batcher's real wait is measured (default 2, `branchy unit`'s; 0: not measured). */
  waitProbeMs?: number;
}

/** An in-thread host that keeps each batch's engine time; closing it leaves the network open for the caller. */
class TimedHost implements InferenceHost {
  readonly runtime: string;
  readonly runs: number[] = [];
  private readonly inner: InThreadHost;

  constructor(net: LoadedNetwork) {
    this.inner = new InThreadHost(net);
    this.runtime = net.runtime;
  }

  async run(x: Batch, thresholds: readonly number[]): Promise<HostRun> {
    const run = await this.inner.run(x, thresholds);
    this.runs.push(run.runMs);
    return run;
  }

  async close(): Promise<void> {}
}

const CLIENT_ENTRY = new URL('./request-client.js', import.meta.url);

/**
 * Sends `steps` from a client in a process of its own (`request-client.ts`), so that the server's process sleeps
 * between requests and is woken by each, as a unit is by its client or predecessor; resolves with each step's
 * round trip in ms.
 */
function clientInProcess(steps: readonly ClientStep[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(CLIENT_ENTRY), [], { serialization: 'advanced', execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let err = '';
    let reply: ClientReply | undefined;
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.once('message', (m: ClientReply) => (reply = m));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (reply !== undefined && 'ms' in reply) resolve(reply.ms);
      else reject(new Error(reply !== undefined ? reply.error : `the request-cost client exited with ${code}: ${err.trim()}`));
    });
    child.send([...steps]);
  });
}

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function figures(roundTrips: readonly number[], engine: readonly number[]): RequestCostFigures {
  const at = (xs: readonly number[], q: number) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))];
  };
  const over = roundTrips.map((ms, i) => Math.max(0, ms - engine[i]));
  return {
    overheadMs: median(over),
    meanMs: over.reduce((a, b) => a + b, 0) / over.length,
    p95Ms: at(over, 0.95),
    roundTripMs: median(roundTrips),
    engineMs: median(engine),
  };
}

/**
 * Measures what a lone request costs outside the model on this machine: starts the predict route's server
 * (`createServer`, as `branchy serve` and a first unit run it) on 127.0.0.1 in this process, over `net` on this
 * thread with no batching wait, and sends it single samples of `samples` one at a time over a keep-alive connection
 * from a client in a process of its own, `gapMs` apart, first as JSON and then as binary tensor frames. Each
 * request's cost is its round trip as the client saw it less the engine time the server spent on it (the runner's
 * own timer): both sides' work on one machine, without a network, and the wake-ups of a server process that sleeps
 * between requests. The same samples are then sent back to back, for the engine's extra time after idling
 * ({@link IdleEngineCost}); and, with `waitProbeMs`, the JSON requests are interleaved with the same ones to a
 * second server that waits `waitProbeMs` to batch ({@link BatchWaitCost}). Takes about `3 × requests × gapMs` ms.
 *
 * @throws Error when the server answers a probe with anything but 200.
 */
export async function measureRequestCost(net: LoadedNetwork, samples: LabelledSamples, options: RequestCostOptions = {}): Promise<RequestCost> {
  const requests = options.requests ?? 40;
  const gapMs = options.gapMs ?? 50;
  const warmup = options.warmup ?? 10;
  const maxWaitMs = options.maxWaitMs ?? 0;
  const waitProbeMs = options.waitProbeMs ?? 2;
  const spec = net.spec;
  const host = new TimedHost(net);
  const name = spec.name.replace(/[^A-Za-z0-9._-]/g, '-') || 'model';
  const manifest: ModelManifest = { format: 'branchy-model/1', spec, weights: {} };
  const start = async (wait: number) => {
    const server = createServer([{ name, dir: name, manifest, host }], { maxWaitMs: wait });
    await server.app.listen({ host: '127.0.0.1', port: 0 });
    return { server, port: (server.app.server.address() as AddressInfo).port };
  };
  const plain = await start(maxWaitMs);
  let waiting: Awaited<ReturnType<typeof start>> | undefined;
  const path = `/v1/models/${encodeURIComponent(name)}/predict`;
  const per = samples.x.length / samples.count;
  const sample = (i: number) => samples.x.slice((i % samples.count) * per, ((i % samples.count) + 1) * per);
  const bodies = {
    json: (i: number) => ({ body: Buffer.from(JSON.stringify({ inputs: [Array.from(sample(i))] })), type: 'application/json' }),
    frame: (i: number) => ({ body: encodeInputsFrame(sample(i), [1, ...spec.input.shape]), type: 'application/octet-stream' }),
  };
  type Role = 'warmup' | 'paced' | 'held' | 'again';
  try {
    if (waitProbeMs > 0) waiting = await start(waitProbeMs);
    // The whole sequence, in order: per body kind, untimed requests, then the paced ones (each JSON one followed
    // by the same to the waiting server), then the same samples back to back.
    const steps: (ClientStep & { kind: keyof typeof bodies; role: Role })[] = [];
    const step = (port: number, kind: keyof typeof bodies, role: Role, i: number, gap: number) =>
      steps.push({ port, path, gapMs: gap, kind, role, ...bodies[kind](i) });
    for (const kind of ['json', 'frame'] as const) {
      const held = waiting !== undefined && kind === 'json' ? waiting.port : undefined;
      for (let i = 0; i < warmup; i++) step(plain.port, kind, 'warmup', i, 0);
      if (held !== undefined) for (let i = 0; i < warmup; i++) step(held, kind, 'warmup', i, 0);
      for (let i = warmup; i < warmup + requests; i++) {
        step(plain.port, kind, 'paced', i, gapMs);
        if (held !== undefined) step(held, kind, 'held', i, gapMs);
      }
      for (let i = warmup; i < warmup + requests; i++) step(plain.port, kind, 'again', i, 0);
    }
    const before = host.runs.length;
    const roundTrips = await clientInProcess(steps);
    const engine = host.runs.slice(before);
    if (engine.length !== steps.length) throw new Error(`the request-cost probe sent ${steps.length} requests and the engine ran ${engine.length} batches`);
    const of = (kinds: readonly (keyof typeof bodies)[], role: Role) =>
      steps.flatMap((s, n) => (kinds.includes(s.kind) && s.role === role ? [{ roundTrip: roundTrips[n], engine: engine[n] }] : []));
    const kindFigures = (kind: keyof typeof bodies) => {
      const paced = of([kind], 'paced');
      return figures(
        paced.map((r) => r.roundTrip),
        paced.map((r) => r.engine),
      );
    };
    const paced = of(['json', 'frame'], 'paced');
    const again = of(['json', 'frame'], 'again');
    const plainJson = of(['json'], 'paced');
    const held = of(['json'], 'held');
    return {
      json: kindFigures('json'),
      frame: kindFigures('frame'),
      idle: {
        pacedMs: median(paced.map((r) => r.engine)),
        backToBackMs: median(again.map((r) => r.engine)),
        extraMs: Math.max(0, median(paced.map((r, n) => r.engine - again[n].engine))),
      },
      ...(held.length > 0
        ? {
            wait: {
              nominalMs: waitProbeMs,
              roundTripMs: median(held.map((r) => r.roundTrip)),
              lateMs: Math.max(0, median(held.map((r, n) => r.roundTrip - plainJson[n].roundTrip - waitProbeMs))),
            },
          }
        : {}),
      method: {
        route:
          'POST /v1/models/NAME/predict of one sample on 127.0.0.1, the server (fastify, inference on its thread) in this process and the client in another',
        requests,
        warmup,
        gapMs,
        maxWaitMs,
      },
    };
  } finally {
    await plain.server.close();
    await waiting?.server.close();
  }
}
