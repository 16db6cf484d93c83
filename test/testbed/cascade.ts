/**
 * A plan's units running on a testbed: each `branchy unit` process inside the namespace of the host it is placed
 * on, bound to that host's address (`--testbed`), reaching its successor through the links between them; the
 * first unit reached through a door (a unix socket into its host) as a client on that host would reach it.
 *
 * @module
 */
import { Agent, request } from 'node:http';
import { readPlan } from '../../src/cascade/plan.ts';
import { startUnitWith, type RunningUnit, type UnitAnswer } from '../cascade/units.ts';
import type { Endpoint, Testbed } from './testbed.ts';

/** What the first unit answered, and the round trip; `point` is the operating point it answered at, when it adapts. */
export interface PredictReply {
  status: number;
  results: UnitAnswer[];
  ms: number;
  point?: number;
}

/** A cascade of units on a testbed. */
export interface TestbedCascade {
  /** The plan's model name (its predict route's). */
  model: string;
  /** Per unit name, its process. */
  units: ReadonlyMap<string, RunningUnit>;
  /** Per unit name, the host it runs on. */
  placement: Readonly<Record<string, string>>;
  /** The unix socket the first unit is reached through. */
  door: string;
  /**
   * POSTs samples to the first unit's predict route through the door (JSON, keep-alive) and returns the status,
   * the results and the round trip as this process measured it, in ms.
   */
  predict(samples: readonly Float32Array[], thresholds?: readonly number[]): Promise<PredictReply>;
  /** Stops the units (last first) and their relays. */
  stop(): Promise<void>;
}

/**
 * Starts every unit of the plan in `planDir` on the host `placement` names for it, the last unit first so that
 * each successor's address is known; `unitArgs` go to every unit (e.g. `--hop-timeout-ms 5000`), `argsFor[name]` to
 * that one, and `nodeFlagsFor[host]` to node itself for the units on that host (e.g. `--no-memory-reducer`).
 *
 * @throws Error when a unit has no host in `placement`, or a unit does not start.
 */
export async function startCascade(
  testbed: Testbed,
  planDir: string,
  placement: Readonly<Record<string, string>>,
  unitArgs: readonly string[] = [],
  argsFor: Readonly<Record<string, readonly string[]>> = {},
  nodeFlagsFor: Readonly<Record<string, readonly string[]>> = {},
): Promise<TestbedCascade> {
  const plan = readPlan(planDir);
  for (const u of plan.units) {
    if (placement[u.name] === undefined) throw new Error(`unit '${u.name}' has no host in the placement ${JSON.stringify(placement)}.`);
  }
  const units = new Map<string, RunningUnit>();
  const relays: Endpoint[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const stop = async () => {
    agent.destroy();
    for (const u of [...plan.units].reverse()) {
      const running = units.get(u.name);
      if (running) await running.stop();
    }
    relays.forEach((r) => r.close());
  };
  try {
    let successor: Endpoint | undefined;
    for (const u of [...plan.units].reverse()) {
      const host = placement[u.name];
      const args = [
        '--host',
        testbed.address(host),
        '--testbed',
        ...(successor ? ['--successor', successor.url] : []),
        ...unitArgs,
        ...(argsFor[u.name] ?? []),
      ];
      const flags = nodeFlagsFor[host] ?? [];
      const running = await startUnitWith(([node, ...rest]) => testbed.run(host, [node, ...flags, ...rest]), planDir, u.name, ...args);
      units.set(u.name, running);
      if (u.index > 0) {
        successor = await testbed.connect(placement[plan.units[u.index - 1].name], host, running.port);
        relays.push(successor);
      }
    }
    const front = plan.units[0];
    const door = await testbed.door(placement[front.name], units.get(front.name)!.port);
    return {
      model: plan.model,
      units,
      placement,
      door,
      predict: (samples, thresholds) => predictThrough(agent, door, plan.model, samples, thresholds),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function predictThrough(
  agent: Agent,
  socketPath: string,
  model: string,
  samples: readonly Float32Array[],
  thresholds?: readonly number[],
): Promise<PredictReply> {
  const query = thresholds === undefined ? '' : `?thresholds=${thresholds.join(',')}`;
  const body = Buffer.from(JSON.stringify({ inputs: samples.map((s) => Array.from(s)) }));
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      {
        agent,
        socketPath,
        path: `/v1/models/${model}/predict${query}`,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const ms = performance.now() - started;
          try {
            const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { results?: UnitAnswer[]; operatingPoint?: { index: number } };
            const point = parsed.operatingPoint?.index;
            resolve({ status: res.statusCode ?? 0, results: parsed.results ?? [], ms, ...(point === undefined ? {} : { point }) });
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
