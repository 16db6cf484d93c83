/**
 * What a testbed's links and hosts actually give: bandwidth, round trip and CPU speed, each measured by probes
 * (`probe.ts`) running inside the namespaces, with their clocks read inside the probes.
 *
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers.ts';
import { RELAY_PRIORITY, type Testbed } from './testbed.ts';

const PROBE = fileURLToPath(new URL('./probe.ts', import.meta.url));
const PROBE_MS = 30_000;

/**
 * Runs a probe in `host`: `result` resolves with its first JSON line (a server's address, or a client's figures).
 * The `bursts` and `predict` modes warm up, say `warm` (`warm` resolves) and wait for `go()` before their timed part.
 */
function probe<T>(
  testbed: Testbed,
  host: string,
  args: readonly string[],
  cpuLimit: boolean,
  options: { priority?: number; timeoutMs?: number } = {},
): { child: ChildProcess; result: Promise<T>; warm: Promise<void>; go: () => void } {
  const timeoutMs = options.timeoutMs ?? PROBE_MS;
  const child = testbed.run(host, [process.execPath, '--import', 'tsx', PROBE, ...args], {
    cpuLimit,
    priority: options.priority,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let onWarm: () => void = () => {};
  const warm = new Promise<void>((resolve) => (onWarm = resolve));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const result = new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`probe ${args.join(' ')} in '${host}' gave nothing within ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('warm\n')) onWarm();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line === undefined || !out.endsWith('\n')) return;
      clearTimeout(timer);
      resolve(JSON.parse(line) as T);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`probe ${args.join(' ')} in '${host}' exited with ${code}: ${err}`));
    });
  });
  return { child, result, warm, go: () => child.stdin?.end('go\n') };
}

async function server(testbed: Testbed, host: string, mode: 'echo' | 'sink', address: string, priority?: number): Promise<{ port: number; stop: () => void }> {
  const { child, result } = probe<{ listening: { port: number } }>(testbed, host, [mode, address], false, { priority });
  const { listening } = await result;
  return { port: listening.port, stop: () => child.kill('SIGTERM') };
}

/** The median of some numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Sends `bytes` from `from` to `to` over the links between them (no relay: bandwidth alone) and returns the rate of
 * the payload in Mbit/s, timed from the first byte sent to the receiver's acknowledgement of the last. The sender
 * runs outside `from`'s CPU cgroup unless `cpuLimit`, so that the figure is the link's.
 *
 * With `tries` above 1 it sends that many times and returns the fastest transfer (and every transfer's time in
 * `allMs`). tbf drops what overflows its queue, and a transfer whose last segments were dropped waits for TCP's
 * retransmission timeout (200 ms at least): that is TCP's loss recovery, not the shaper's rate.
 */
export async function measureBandwidth(
  testbed: Testbed,
  from: string,
  to: string,
  bytes: number,
  { cpuLimit = false, tries = 1 }: { cpuLimit?: boolean; tries?: number } = {},
): Promise<{ mbit: number; ms: number; allMs: number[] }> {
  const address = testbed.address(to, from);
  const sink = await server(testbed, to, 'sink', address);
  try {
    const allMs: number[] = [];
    for (let i = 0; i < tries; i++)
      allMs.push((await probe<{ ms: number }>(testbed, from, ['send', address, String(sink.port), String(bytes)], cpuLimit).result).ms);
    const ms = Math.min(...allMs);
    return { mbit: (bytes * 8) / (ms * 1000), ms, allMs };
  } finally {
    sink.stop();
  }
}

/**
 * `count` TCP round trips of one byte from `from` to an echo server on `to`, through `connect` (the links' delay
 * relay), in ms. The client runs outside `from`'s CPU cgroup, and it and the echo server at the relays' priority,
 * so that the figures are the network's rather than the machine's other work's.
 */
export async function measureRtt(testbed: Testbed, from: string, to: string, count: number): Promise<number[]> {
  // On `to`'s own address, where `connect` leads.
  const echo = await server(testbed, to, 'echo', testbed.address(to), RELAY_PRIORITY);
  try {
    const endpoint = await testbed.connect(from, to, echo.port);
    try {
      return (
        await probe<{ ms: number[] }>(testbed, from, ['rtt', endpoint.host, String(endpoint.port), String(count)], false, { priority: RELAY_PRIORITY }).result
      ).ms;
    } finally {
      endpoint.close();
    }
  } finally {
    echo.stop();
  }
}

/**
 * How long a fixed loop of `iterations` takes on `host`, inside its CPU cgroup or outside it: wall-clock ms, and the
 * CPU ms the process got meanwhile (outside, on a busy machine, the wall-clock time also counts others' turns).
 */
export async function measureSpin(testbed: Testbed, host: string, iterations: number, cpuLimit: boolean): Promise<{ ms: number; cpuMs: number }> {
  return probe<{ ms: number; cpuMs: number }>(testbed, host, ['spin', String(iterations)], cpuLimit).result;
}

/**
 * How many times slower `host` runs a fixed loop in its CPU cgroup than outside it: the loop's wall-clock time
 * inside over its CPU time outside (the loop's cost on a core of its own, whatever else the machine is running).
 */
export async function measureSlowdown(
  testbed: Testbed,
  host: string,
  iterations: number,
): Promise<{ slowdown: number; freeMs: number; freeCpuMs: number; limitedMs: number }> {
  const free = await measureSpin(testbed, host, iterations, false);
  const limited = await measureSpin(testbed, host, iterations, true);
  return { slowdown: limited.ms / free.cpuMs, freeMs: free.ms, freeCpuMs: free.cpuMs, limitedMs: limited.ms };
}

/**
 * How many times slower `host` runs a short burst of the fixed loop in its CPU cgroup than on a core of its own,
 * each burst after `gapMs` idle: the median wall-clock time of the bursts inside over the median CPU time of the
 * same bursts. Under a CFS quota a burst that ends before the period's budget is spent runs at the core's speed
 * (its wall-clock time is its CPU time), so this is the quota's burst slowdown where {@link measureSlowdown} gives
 * the sustained one. Both figures come from the one process: a loop's CPU time in a process of its own outside
 * the cgroup has come out at twice its usual here now and then (a virtual machine's host, or the JIT's timing),
 * which made a quota that does not slow bursts look as if it sped them up.
 */
export async function measureBurstSlowdown(
  testbed: Testbed,
  host: string,
  iterations: number,
  count: number,
  gapMs: number,
): Promise<{ slowdown: number; cpuMs: number; limitedMs: number }> {
  const args = ['bursts', String(iterations), String(count), String(gapMs)];
  const limited = probe<{ ms: number[]; cpuMs: number[] }>(testbed, host, args, true, { timeoutMs: PROBE_MS + count * (gapMs + 1000) });
  await Promise.race([limited.warm, limited.result]);
  limited.go();
  const { ms, cpuMs } = await limited.result;
  return { slowdown: median(ms) / median(cpuMs), cpuMs: median(cpuMs), limitedMs: median(ms) };
}

/** What a client on a testbed host measured of a predict route: per request its round trip, status and results. */
export interface ClientRun<R> {
  ms: number[];
  answers: { status: number; results: R[] }[];
  /** With a cgroup: its throttled periods and throttled ns over the timed requests (cgroup v1 `cpu.stat`). */
  throttled?: { periods: number; ns: number };
}

/** A cgroup-v1 CPU controller's throttling counters. */
function throttling(cgroup: string): { periods: number; ns: number } {
  const text = readFileSync(join(cgroup, 'cpu.stat'), 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { periods: field('nr_throttled'), ns: field('throttled_time') };
}

/**
 * Runs a client of the predict route `path` at `to` (an address `host` reaches) as a process on `host`, outside
 * its CPU cgroup, as an application there would call its first unit: each sample alone as JSON, `gapMs` apart,
 * after `warmup` untimed requests, with the clocks read in that process. With `cgroup`, also counts that cgroup's
 * throttling over the timed requests (read here: `ip netns exec` hides the cgroup file system from the client).
 */
export async function measurePredict<R>(
  testbed: Testbed,
  host: string,
  to: { host: string; port: number },
  path: string,
  samples: readonly Float32Array[],
  options: { gapMs: number; warmup: number; cgroup?: string },
): Promise<ClientRun<R>> {
  const file = join(tempDir(), 'samples.json');
  writeFileSync(file, JSON.stringify(samples.map((s) => Array.from(s))));
  const args = ['predict', to.host, String(to.port), path, file, String(options.gapMs), String(options.warmup)];
  const client = probe<ClientRun<R>>(testbed, host, args, false, { timeoutMs: PROBE_MS + (samples.length + options.warmup) * (options.gapMs + 1000) });
  await Promise.race([client.warm, client.result]);
  const before = options.cgroup === undefined ? undefined : throttling(options.cgroup);
  client.go();
  const run = await client.result;
  if (options.cgroup === undefined || before === undefined) return run;
  const after = throttling(options.cgroup);
  return { ...run, throttled: { periods: after.periods - before.periods, ns: after.ns - before.ns } };
}
