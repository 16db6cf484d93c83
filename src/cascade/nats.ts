/**
 * The NATS transport (Node only): a unit reaches its successor by subject, not by host, and the replicas of a unit
 * share its load as one queue group. Units also announce themselves in the NATS services protocol (`$SRV.PING`,
 * `$SRV.INFO`, `$SRV.STATS`), so `nats micro ls` and {@link listUnits} find them.
 *
 * The `$SRV` subjects are answered here rather than through `@nats-io/services`: that package exists only as a
 * pre-release built against a pre-release of `@nats-io/nats-core`, and the protocol is three JSON replies on nine
 * subjects.
 *
 * @module
 */
import {
  connect,
  createInbox,
  headers,
  MsgHdrsImpl,
  nuid,
  RequestError,
  TimeoutError,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { unitErrorReply } from './error-reply.ts';
import { BranchyCascadeError, CascadeHopError, replyReason } from './errors.ts';
import { ERROR_HEADER, FROM_HEADER, type DeploymentPlan, type FrameHandler, type Transport } from './types.ts';

/** What an error reply's body says. */
export interface UnitErrorBody {
  code: string;
  message: string;
  /** The HTTP-like status the unit gave it (`Nats-Service-Error-Code`): 4xx the sender's fault, 5xx the unit's. */
  status?: number;
}

/**
 * Turns a name into one NATS subject token: every character outside `A-Z a-z 0-9 _ -` becomes `_`. A token may not
 * hold `.` (the separator), `*` or `>` (wildcards) or white space; keeping to this set also makes the token a valid
 * services-protocol name. Distinct names can meet (`mnist.v2` and `mnist_v2`): names in one plan should not.
 */
export function subjectToken(name: string): string {
  if (name.length === 0) throw new BranchyCascadeError('CASCADE_BAD_PLAN', `A name in a NATS subject must not be empty.`);
  return name.replace(/[^A-Za-z0-9_-]/g, '_');
}

/**
 * The subject a unit listens on: `branchy.<model>.<plan id>.<unit>`, each name made a subject token by
 * {@link subjectToken}. The plan id keeps the units of two plans of one model (cut elsewhere, or forwarding the
 * input) apart, so that neither's frames reach the other's replicas.
 *
 * @example
 * unitSubject({ model: 'b-lenet-mnist', id: '3f2a9c01d4e5' }, 'cloud'); // 'branchy.b-lenet-mnist.3f2a9c01d4e5.cloud'
 * unitSubject({ model: 'lenet v2', id: '3f2a9c01d4e5' }, 'edge.1');     // 'branchy.lenet_v2.3f2a9c01d4e5.edge_1'
 */
export function unitSubject(plan: Pick<DeploymentPlan, 'model' | 'id'> & Partial<Pick<DeploymentPlan, 'successorModel' | 'units'>>, unit: string): string {
  const last = plan.units?.[plan.units.length - 1]?.name;
  const model = plan.successorModel !== undefined && unit === last ? plan.successorModel : plan.model;
  return `branchy.${subjectToken(model)}.${subjectToken(plan.id)}.${subjectToken(unit)}`;
}

/**
 * The headers and body of an error reply: `branchy-error: CODE` and JSON `{code, message}`, plus the services
 * protocol's `Nats-Service-Error` and `Nats-Service-Error-Code` so generic NATS tooling sees a failed request. A
 * {@link BranchyError} keeps its code; anything else is `CASCADE_UNIT_FAILED`.
 */
export function errorReply(error: unknown): { headers: MsgHdrs; body: Uint8Array; code: string; message: string } {
  const { status, code, message } = unitErrorReply(error);
  const h = headers();
  h.set(ERROR_HEADER, code);
  h.set('Nats-Service-Error', message.replace(/[\r\n]+/g, ' '));
  h.set('Nats-Service-Error-Code', String(status));
  const body: UnitErrorBody = { code, message };
  return { headers: h, body: new TextEncoder().encode(JSON.stringify(body)), code, message };
}

/** The error a reply carries ({@link errorReply}'s format), or undefined for an answer. */
export function replyError(msg: Pick<Msg, 'headers' | 'data'>): UnitErrorBody | undefined {
  const code = msg.headers?.get(ERROR_HEADER);
  if (!code) return undefined;
  const status = Number(msg.headers?.get('Nats-Service-Error-Code')) || 500;
  try {
    const body = JSON.parse(new TextDecoder().decode(msg.data)) as Partial<UnitErrorBody>;
    return { code, status, message: typeof body.message === 'string' ? body.message : `the successor answered ${code}` };
  } catch {
    return { code, status, message: `the successor answered ${code} with a body that is not JSON` };
  }
}

/** Reconnect forever, every quarter second or so, so a restarted server is picked up within a second. */
const RECONNECT = { maxReconnectAttempts: -1, reconnectTimeWait: 250, reconnectJitter: 100 } as const;

async function connectTo(url: string, name: string, reconnect: boolean): Promise<NatsConnection> {
  try {
    return await connect({ servers: url, name, ...(reconnect ? RECONNECT : { reconnect: false }) });
  } catch (error) {
    throw new BranchyCascadeError('CASCADE_NATS_UNREACHABLE', `cannot connect to the NATS server at ${url}: ${(error as Error).message}`, 503, {
      cause: error,
    });
  }
}

/** Options of {@link natsTransport}. */
export interface NatsTransportOptions {
  /** The NATS server, e.g. `nats://127.0.0.1:4222`. */
  url: string;
  /** The successor's subject ({@link unitSubject}). */
  subject: string;
  /** The sending unit's name, sent as `branchy-from` (default `branchy`). */
  name?: string;
}

/**
 * A transport to the unit listening on `subject`: each frame is one NATS request, answered by one replica of the
 * queue group. The connection reconnects forever; while it is down, `forward` fails at once with `unreachable`
 * (and so do requests in flight when it drops) rather than waiting out the deadline, so the unit answers
 * `degraded` without delay; requests succeed again as soon as the client is back.
 *
 * Failures are {@link CascadeHopError}s with reason `timeout` (no answer within the deadline), `no responders`
 * (nobody subscribes to the subject: the server says so at once), `unreachable` (the connection is down or closed)
 * or `successor error: CODE` (the successor answered with an error). A frame over {@link Transport.maxFrameBytes}
 * is refused with `CASCADE_FRAME_TOO_LARGE` before anything is sent.
 *
 * @throws BranchyCascadeError `CASCADE_NATS_UNREACHABLE` when the server cannot be reached at the start.
 * @example
 * const successor = await natsTransport({ url: 'nats://127.0.0.1:4222', subject: unitSubject(plan, 'cloud'), name: 'device' });
 * const answer = await successor.forward(frame, 200);
 */
export async function natsTransport(options: NatsTransportOptions): Promise<Transport> {
  const from = options.name ?? 'branchy';
  const nc = await connectTo(options.url, `branchy ${from} to ${options.subject}`, true);
  const requestHeaders = headers();
  requestHeaders.set(FROM_HEADER, from);
  // The server's max_payload counts headers and payload together.
  const headerBytes = requestHeaders instanceof MsgHdrsImpl ? requestHeaders.encode().length : 0;
  let maxPayload = nc.info?.max_payload ?? 1024 * 1024;

  // Requests race `dropped`, which rejects when the connection drops and is renewed when it is back.
  let connected = true;
  let dropped = connectionDrop();
  const watching = (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' && connected) {
        connected = false;
        dropped.drop(new CascadeHopError('unreachable', `Lost the connection to the NATS server at ${options.url}.`));
      } else if (status.type === 'reconnect') {
        connected = true;
        dropped = connectionDrop();
      }
    }
  })();

  const frameLimit = (): number => {
    if (nc.info) maxPayload = nc.info.max_payload;
    return maxPayload - headerBytes;
  };

  return {
    kind: 'nats',
    target: `${/^[a-z]+:\/\//.test(options.url) ? '' : 'nats://'}${options.url.replace(/\/+$/, '')}/${options.subject}`,
    get maxFrameBytes() {
      return frameLimit();
    },
    async forward(frame: Uint8Array, deadlineMs: number): Promise<Uint8Array> {
      const limit = frameLimit();
      if (frame.length > limit) {
        throw new BranchyCascadeError(
          'CASCADE_FRAME_TOO_LARGE',
          `A frame of ${frame.length} bytes exceeds the ${limit} bytes one NATS message carries here (the server's max_payload of ${maxPayload} bytes, less ${headerBytes} bytes of headers).`,
          413,
        );
      }
      if (!(deadlineMs > 0))
        throw new CascadeHopError('timeout', `The deadline (${deadlineMs} ms) had passed before the frame was sent to ${options.subject}.`);
      if (nc.isClosed() || nc.isDraining()) throw new CascadeHopError('unreachable', `The NATS transport to ${options.subject} is closed.`);
      if (!connected) throw new CascadeHopError('unreachable', `Not connected to the NATS server at ${options.url} (reconnecting).`);
      const timeout = Math.min(Math.max(1, Math.ceil(deadlineMs)), 2 ** 31 - 1);
      let reply: Msg;
      try {
        reply = await Promise.race([nc.request(options.subject, frame, { timeout, headers: requestHeaders }), dropped.promise]);
      } catch (error) {
        throw hopError(error, options.subject, timeout);
      }
      const failed = replyError(reply);
      if (failed) throw new CascadeHopError(replyReason(failed.status ?? 500, failed.code), `${options.subject} answered ${failed.code}: ${failed.message}`);
      return plainBytes(reply.data);
    },
    async close(): Promise<void> {
      if (!nc.isClosed()) await nc.close();
      await watching;
    },
  };
}

/** The client hands out Buffers viewing its read chunk: the same bytes as a plain Uint8Array, without a copy. */
function plainBytes(data: Uint8Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A promise that rejects when `drop` is called (never resolves); it has a handler, so an unraced drop is no unhandled rejection. */
function connectionDrop(): { promise: Promise<never>; drop(error: Error): void } {
  let drop: (error: Error) => void = () => {};
  const promise = new Promise<never>((_resolve, reject) => (drop = reject));
  promise.catch(() => {});
  return { promise, drop };
}

function hopError(error: unknown, subject: string, timeout: number): Error {
  if (error instanceof CascadeHopError) return error;
  if (error instanceof TimeoutError) return new CascadeHopError('timeout', `${subject} did not answer within ${timeout} ms.`, { cause: error });
  if (error instanceof RequestError && error.isNoResponders())
    return new CascadeHopError('no responders', `No unit subscribes to ${subject}.`, { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  if (/max_payload/.test(message))
    return new BranchyCascadeError('CASCADE_FRAME_TOO_LARGE', `The NATS client refused the frame for ${subject}: ${message}`, 413);
  return new CascadeHopError('unreachable', `The request to ${subject} failed: ${message}`, { cause: error });
}

/** Who a unit is, as it announces itself in the services protocol. */
export interface UnitInfo {
  /** The unit's name (`UnitPlan.name`). */
  name: string;
  /** The network's name (`DeploymentPlan.model`). */
  model: string;
  /** `DeploymentPlan.modelId`. */
  modelId: string;
  /** First and last stage the unit runs. */
  stages: [number, number];
  /** The unit's software version, semver (branchy's version). */
  version: string;
  description?: string;
}

/** A unit's request counts and handler time, as in a services-protocol stats reply (times in nanoseconds). */
export interface UnitStats {
  numRequests: number;
  numErrors: number;
  /** Total time in the handler, ns. */
  processingTimeNs: number;
  /** `processingTimeNs / numRequests`, rounded; 0 before the first request. */
  averageProcessingTimeNs: number;
  /** `CODE: message` of the last error reply; empty when there was none. */
  lastError: string;
  /** When the unit started serving, ISO 8601. */
  started: string;
}

/** Options of {@link serveUnitOnNats}. */
export interface ServeUnitOnNatsOptions {
  url: string;
  /** The unit's subject ({@link unitSubject}). */
  subject: string;
  /** The queue group the unit's replicas share, e.g. the subject itself. */
  queue: string;
  handler: FrameHandler;
  info: UnitInfo;
}

/** A unit served on NATS. */
export interface NatsUnitServer {
  readonly subject: string;
  /** The unit's service name in the services protocol: `branchy-<model>-<unit>`. */
  readonly service: string;
  /** This replica's id in the services protocol. */
  readonly id: string;
  stats(): UnitStats;
  /** Stops taking frames, lets the handlers in flight answer, then closes the connection. */
  close(): Promise<void>;
}

/** The services-protocol name of a unit: shared by its replicas, so `$SRV.STATS.<name>` reaches them all. */
export function unitServiceName(info: Pick<UnitInfo, 'model' | 'name'>): string {
  return `branchy-${subjectToken(info.model)}-${subjectToken(info.name)}`;
}

/**
 * Serves a unit: subscribes `subject` in queue group `queue` and answers each frame with `handler`'s answer, or
 * with an error reply ({@link errorReply}) when it throws. Frames are handed to the handler as they come, without
 * waiting for the one before: the unit micro-batches them itself. The unit also answers `$SRV.PING`, `$SRV.INFO`
 * and `$SRV.STATS` (bare, by service name, by id) as a service named {@link unitServiceName} with one endpoint,
 * metadata `model`, `modelId`, `unit` and `stages` (`"a-b"`).
 *
 * @throws BranchyCascadeError `CASCADE_NATS_UNREACHABLE` when the server cannot be reached at the start.
 */
export async function serveUnitOnNats(options: ServeUnitOnNatsOptions): Promise<NatsUnitServer> {
  const { subject, queue, handler, info } = options;
  const service = unitServiceName(info);
  const id = nuid.next();
  const nc = await connectTo(options.url, `branchy unit ${info.name} (${subject})`, true);
  const started = new Date().toISOString();
  const counts = { numRequests: 0, numErrors: 0, processingTimeNs: 0, lastError: '' };
  const inFlight = new Set<Promise<void>>();

  const answer = async (msg: Msg): Promise<void> => {
    const t0 = process.hrtime.bigint();
    let failure: ReturnType<typeof errorReply> | undefined;
    try {
      const bytes = await handler(plainBytes(msg.data));
      try {
        msg.respond(bytes);
      } catch (error) {
        const max = nc.info?.max_payload;
        failure = errorReply(
          new BranchyCascadeError(
            'CASCADE_FRAME_TOO_LARGE',
            `The answer of ${bytes.length} bytes did not go out (max_payload ${max} bytes): ${(error as Error).message}`,
            413,
          ),
        );
      }
    } catch (error) {
      failure = errorReply(error);
    }
    if (failure) {
      counts.numErrors++;
      counts.lastError = `${failure.code}: ${failure.message}`;
      try {
        msg.respond(failure.body, { headers: failure.headers });
      } catch {
        // The connection is gone: the requester times out or sees `unreachable`.
      }
    }
    counts.numRequests++;
    counts.processingTimeNs += Number(process.hrtime.bigint() - t0);
  };

  const frames = nc.subscribe(subject, {
    queue,
    callback: (_error, msg) => {
      if (!msg?.reply) return;
      const running = answer(msg).finally(() => inFlight.delete(running));
      inFlight.add(running);
    },
  });

  const stats = (): UnitStats => ({
    ...counts,
    averageProcessingTimeNs: counts.numRequests === 0 ? 0 : Math.round(counts.processingTimeNs / counts.numRequests),
    started,
  });
  const metadata = { model: info.model, modelId: info.modelId, unit: info.name, stages: `${info.stages[0]}-${info.stages[1]}` };
  const endpoint = { name: subjectToken(info.name), subject, queue_group: queue, metadata: null };
  const base = { name: service, id, version: info.version, metadata };
  const replies: Record<ServiceVerb, () => object> = {
    PING: () => ({ type: 'io.nats.micro.v1.ping_response', ...base }),
    INFO: () => ({ type: 'io.nats.micro.v1.info_response', ...base, description: info.description ?? '', endpoints: [endpoint] }),
    STATS: () => {
      const s = stats();
      return {
        type: 'io.nats.micro.v1.stats_response',
        ...base,
        started,
        endpoints: [
          {
            ...endpoint,
            num_requests: s.numRequests,
            num_errors: s.numErrors,
            last_error: s.lastError,
            processing_time: s.processingTimeNs,
            average_processing_time: s.averageProcessingTimeNs,
          },
        ],
      };
    },
  };
  const announcements: Subscription[] = [];
  for (const verb of SERVICE_VERBS) {
    for (const s of [`$SRV.${verb}`, `$SRV.${verb}.${service}`, `$SRV.${verb}.${service}.${id}`]) {
      const callback = (_error: Error | null, msg: Msg): void => {
        if (msg?.reply) msg.respond(JSON.stringify(replies[verb]()));
      };
      announcements.push(nc.subscribe(s, { callback }));
    }
  }

  let closing: Promise<void> | undefined;
  return {
    subject,
    service,
    id,
    stats,
    close(): Promise<void> {
      closing ??= (async () => {
        if (nc.isClosed()) return;
        // Draining waits for the server's acknowledgement: bounded, so a unit whose server is gone still closes.
        await within(DRAIN_MS, Promise.allSettled([frames, ...announcements].map((s) => s.drain())));
        await Promise.allSettled([...inFlight]);
        await within(
          DRAIN_MS,
          nc.drain().catch(() => {}),
        );
        if (!nc.isClosed()) await nc.close();
      })();
      return closing;
    },
  };
}

const DRAIN_MS = 2000;

/** Waits for `promise`, or `ms` at most. */
async function within(ms: number, promise: Promise<unknown>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

type ServiceVerb = 'PING' | 'INFO' | 'STATS';
const SERVICE_VERBS: readonly ServiceVerb[] = ['PING', 'INFO', 'STATS'];

/** One unit replica found by {@link listUnits}. */
export interface UnitListing {
  /** Service name ({@link unitServiceName}). */
  name: string;
  /** The replica's id. */
  id: string;
  version: string;
  description: string;
  model: string;
  modelId: string;
  unit: string;
  stages: [number, number];
  subject: string;
  queueGroup: string;
  /** Absent when the replica's stats reply did not arrive in time. */
  stats?: UnitStats;
}

interface ServiceReply {
  type?: string;
  name?: string;
  id?: string;
  version?: string;
  description?: string;
  started?: string;
  metadata?: Record<string, string> | null;
  endpoints?: {
    subject?: string;
    queue_group?: string;
    num_requests?: number;
    num_errors?: number;
    last_error?: string;
    processing_time?: number;
    average_processing_time?: number;
  }[];
}

/**
 * Finds the units announced on a NATS server: asks `$SRV.INFO` and `$SRV.STATS` and gathers the replies for
 * `timeoutMs`. Services that are not branchy units (no `model`, `modelId`, `unit` and `stages` metadata) are left
 * out. Sorted by model, unit and id.
 *
 * @throws BranchyCascadeError `CASCADE_NATS_UNREACHABLE` when the server cannot be reached.
 */
export async function listUnits(url: string, timeoutMs = 500): Promise<UnitListing[]> {
  const nc = await connectTo(url, 'branchy list-units', false);
  const infos = new Map<string, ServiceReply>();
  const stats = new Map<string, ServiceReply>();
  try {
    const inbox = createInbox();
    const sub = nc.subscribe(inbox, {
      max: 10_000,
      callback: (_error, msg) => {
        if (!msg) return;
        let reply: ServiceReply;
        try {
          reply = msg.json<ServiceReply>();
        } catch {
          return;
        }
        if (typeof reply.id !== 'string') return;
        if (reply.type === 'io.nats.micro.v1.info_response') infos.set(reply.id, reply);
        else if (reply.type === 'io.nats.micro.v1.stats_response') stats.set(reply.id, reply);
      },
    });
    nc.publish('$SRV.INFO', undefined, { reply: inbox });
    nc.publish('$SRV.STATS', undefined, { reply: inbox });
    await new Promise((resolve) => setTimeout(resolve, timeoutMs));
    sub.unsubscribe();
  } finally {
    await nc.close();
  }
  const units: UnitListing[] = [];
  for (const [id, info] of infos) {
    const listing = unitListing(id, info, stats.get(id));
    if (listing) units.push(listing);
  }
  const key = (u: UnitListing) => [u.model, u.unit, u.id];
  return units.sort((a, b) => {
    const [ka, kb] = [key(a), key(b)];
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1;
    return 0;
  });
}

function unitListing(id: string, info: ServiceReply, statsReply: ServiceReply | undefined): UnitListing | undefined {
  const m = info.metadata;
  const stages = /^(\d+)-(\d+)$/.exec(m?.stages ?? '');
  if (!m || !stages || typeof m.model !== 'string' || typeof m.modelId !== 'string' || typeof m.unit !== 'string') return undefined;
  const endpoint = info.endpoints?.[0];
  const e = statsReply?.endpoints?.[0];
  return {
    name: info.name ?? '',
    id,
    version: info.version ?? '',
    description: info.description ?? '',
    model: m.model,
    modelId: m.modelId,
    unit: m.unit,
    stages: [Number(stages[1]), Number(stages[2])],
    subject: endpoint?.subject ?? '',
    queueGroup: endpoint?.queue_group ?? '',
    stats: e && {
      numRequests: e.num_requests ?? 0,
      numErrors: e.num_errors ?? 0,
      processingTimeNs: e.processing_time ?? 0,
      averageProcessingTimeNs: e.average_processing_time ?? 0,
      lastError: e.last_error ?? '',
      started: statsReply?.started ?? '',
    },
  };
}
