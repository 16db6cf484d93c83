/**
 * A testbed of real hosts on one machine: one network namespace per host (device, edge, cloud, …), joined by veth
 * pairs with 10.77.i.1/30 and 10.77.i.2/30 addresses, each link's bandwidth shaped by a `tbf` qdisc on both ends,
 * its round-trip delay added by a delaying TCP relay (`relay.ts`) in the namespace that receives the traffic, and a
 * slow host made by a cgroup-v1 CPU quota. Nothing is added to the machine's own namespace: the veth pairs are
 * created inside the testbed's namespaces, no route leads out of them, and the test process reaches a host through
 * a unix socket (`door`). `destroy()` (and, failing that, the process's exit) deletes everything it made.
 *
 * @example
 * const testbed = await createTestbed({
 *   links: [{ from: 'device', to: 'edge', mbit: 10, rttMs: 20 }, { from: 'edge', to: 'cloud', mbit: 1000, rttMs: 1 }],
 *   cpu: { device: 0.2 },
 * });
 * try { … testbed.run('device', ['node', 'probe.ts', 'spin', '1e8']) … } finally { await testbed.destroy(); }
 *
 * @module
 */
import { execFileSync, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IPROUTE2_PACKAGE, needs } from '../system-packages.ts';

/** One link of the testbed as asked for: a veth pair between two hosts. */
export interface LinkSpec {
  /** The host nearer the device (its end gets the link's `.1` address). */
  from: string;
  to: string;
  /** Bandwidth in each direction, in Mbit/s (tbf on both ends). */
  mbit: number;
  /** Round-trip delay the link adds, in ms (half each way, in the receiving host's relay). */
  rttMs: number;
  /**
   * tbf's bucket, in bytes (default: 1 ms of traffic, at least `THIN_LINK_BURST_BYTES`). A bucket smaller than a
   * frame makes an idle link pass each frame at the link's rate too, as a thin uplink does; a larger one lets a
   * frame of up to its size cross an idle link at once, faster than the link's rate.
   */
  burstBytes?: number;
}

/** What to build: the links (their hosts are the testbed's hosts) and the CPU share of slow hosts. */
export interface TestbedConfig {
  /** The links; they must join the hosts into a tree (one path between any two hosts). */
  links: readonly LinkSpec[];
  /** Per host, the share of one core it may use (`0.2`: a fifth of a core); hosts not listed are not limited. */
  cpu?: Readonly<Record<string, number>>;
}

/**
 * A tbf bucket smaller than one 18 KB features frame of B-LeNet, for links that must pass every frame at their
 * rate even when idle (measured here: single 18 KB transfers at 8.96-11.1 Mbit/s on a 10 Mbit/s link, 2.16-2.38 on 2;
 * with the default bucket, 19.6-33.6 and 12.2-12.9).
 */
export const THIN_LINK_BURST_BYTES = 4000;

/** A link as built. */
export interface TestbedLink extends LinkSpec {
  /** Its position in `TestbedConfig.links`. */
  index: number;
  /** Its /30 subnet, `10.77.<index>.0/30`. */
  subnet: string;
  fromAddress: string;
  toAddress: string;
}

/** A link: its index, or its two hosts (in either order). */
export type LinkRef = number | { from: string; to: string };

/** How `run` starts a process. */
export interface RunOptions {
  /** Join the host's CPU cgroup, when it has one (default true). */
  cpuLimit?: boolean;
  /** Default: stdin ignored, stdout and stderr piped. */
  stdio?: StdioOptions;
  /** Default: the repository root, so that `--import tsx` resolves. */
  cwd?: string;
  /**
   * Scheduling priority (nice, -20..19; default 0). The relays run at `RELAY_PRIORITY`: they stand for the wire,
   * which does not wait for a core behind the machine's other work.
   */
  priority?: number;
}

/** The priority of relays and of the probes that time the network (a nice value: lower runs first). */
export const RELAY_PRIORITY = -10;

/** An address and port one host reaches, and its HTTP URL. */
export interface Endpoint {
  host: string;
  port: number;
  url: string;
  /** Stops its relay, if it has one (`destroy` stops it too). */
  close(): void;
}

/** A running testbed. */
export interface Testbed {
  /** The random suffix its namespaces and cgroups are named with. */
  readonly id: string;
  /** Its hosts, in the order the links name them first. */
  readonly hosts: readonly string[];
  readonly links: readonly TestbedLink[];
  /** The network namespace of `host` (`ip netns exec NAME …`). */
  namespace(host: string): string;
  /** The host's cgroup directory under /sys/fs/cgroup/cpu, when it is CPU-limited. */
  cgroup(host: string): string | undefined;
  /** The address of `host`: its first link's, or the one it has on the first link of the path toward `toward`. */
  address(host: string, toward?: string): string;
  /** The links between two hosts, in order from `from`. */
  path(from: string, to: string): TestbedLink[];
  /** The round trip the links between two hosts add, in ms (the sum of their `rttMs`). */
  pathRttMs(from: string, to: string): number;
  /** Spawns `argv` inside `host`'s namespace, joined to its CPU cgroup unless `cpuLimit: false`. */
  run(host: string, argv: readonly string[], options?: RunOptions): ChildProcess;
  /**
   * The endpoint at which `from` reaches `port` on `to`'s address (`address(to)`), through the links between them
   * and their round-trip delay: a relay in `to` that holds each chunk back by half the path's RTT each way. On one
   * host, or over links of no delay, the port itself.
   */
  connect(from: string, to: string, port: number): Promise<Endpoint>;
  /**
   * A unix socket path through which this process reaches `port` on `host`'s address (a relay in `host`, no delay,
   * outside its CPU cgroup). It stands for a client on that host; the machine's own namespace gets no address.
   */
  door(host: string, port: number): Promise<string>;
  /** Changes a link's bandwidth, both ends, while traffic flows. */
  setRate(link: LinkRef, mbit: number): void;
  /** Stops its processes (SIGTERM, then SIGKILL), deletes its namespaces (and so their veth pairs and qdiscs) and cgroups. */
  destroy(): Promise<void>;
}

/** The testbed could not be built, or a command it ran failed. */
export class TestbedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TestbedError';
  }
}

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RELAY = fileURLToPath(new URL('./relay.ts', import.meta.url));
const CPU_CGROUP_ROOT = '/sys/fs/cgroup/cpu';
const NAME_PREFIX = 'btb';
const HOST_NAME = /^(?!lo$)[a-z][a-z0-9]{0,14}$/;
const MAX_LINKS = 256;
const STOP_GRACE_MS = 3000;
const RELAY_START_MS = 20_000;
/** tbf's queue: how long a packet may wait for tokens before it is dropped (its `latency`). */
const TBF_LATENCY = '100ms';

function findBinary(name: string): string | undefined {
  return ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].map((dir) => join(dir, name)).find((path) => existsSync(path));
}

function exec(file: string, args: readonly string[]): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? '').trim();
    throw new TestbedError(`'${[file, ...args].join(' ')}' failed: ${stderr || (error as Error).message}`, { cause: error });
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * tbf parameters for a rate: a bucket of 1 ms of traffic, at least `THIN_LINK_BURST_BYTES`. A larger bucket lets
 * that much through at once, which inflates the rate a short transfer sees (with 16 KiB, an 18 KB frame crossed an
 * idle 10 Mbit/s link at 19.6-33.6 Mbit/s, and the planner's test measured a features hop 11 ms faster than the
 * link's rate implies).
 */
function tbfArgs(mbit: number, burstBytes?: number): string[] {
  const burst = burstBytes ?? Math.max(THIN_LINK_BURST_BYTES, Math.ceil(((mbit * 1e6) / 8) * 0.001));
  return ['tbf', 'rate', `${mbit}mbit`, 'burst', String(burst), 'latency', TBF_LATENCY];
}

function checkConfig(config: TestbedConfig): string[] {
  const links = config.links;
  if (!Array.isArray(links) || links.length === 0) throw new TestbedError(`'links' lists no links; a testbed needs at least one.`);
  if (links.length > MAX_LINKS) throw new TestbedError(`'links' lists ${links.length} links; the address plan holds at most ${MAX_LINKS}.`);
  const hosts: string[] = [];
  for (const [i, link] of links.entries()) {
    for (const host of [link.from, link.to]) {
      if (!HOST_NAME.test(host))
        throw new TestbedError(
          `links[${i}]: host '${host}' must be 1-15 lowercase letters or digits, starting with a letter, and not 'lo' (each veth end is named after its peer host).`,
        );
      if (!hosts.includes(host)) hosts.push(host);
    }
    if (link.from === link.to) throw new TestbedError(`links[${i}] joins '${link.from}' to itself.`);
    if (!(link.mbit > 0) || !Number.isFinite(link.mbit)) throw new TestbedError(`links[${i}].mbit is ${link.mbit}; expected a positive number of Mbit/s.`);
    if (!(link.rttMs >= 0) || !Number.isFinite(link.rttMs)) throw new TestbedError(`links[${i}].rttMs is ${link.rttMs}; expected 0 or more ms.`);
  }
  // A tree: as many links as hosts less one, and all hosts connected.
  const seen = new Set([hosts[0]]);
  for (let grew = true; grew;) {
    grew = false;
    for (const l of links) {
      if (seen.has(l.from) !== seen.has(l.to)) {
        seen.add(l.from).add(l.to);
        grew = true;
      }
    }
  }
  if (seen.size !== hosts.length || links.length !== hosts.length - 1) {
    throw new TestbedError(`the links [${links.map((l) => `${l.from}-${l.to}`).join(', ')}] do not join the hosts into a tree (one path between any two).`);
  }
  const cores = availableParallelism();
  for (const [host, share] of Object.entries(config.cpu ?? {})) {
    if (!hosts.includes(host)) throw new TestbedError(`'cpu' names host '${host}'; the links join ${hosts.join(', ')}.`);
    if (!(share > 0 && share <= cores)) throw new TestbedError(`cpu.${host} is ${share}; expected a share of a core in (0, ${cores}].`);
  }
  return hosts;
}

const live = new Set<TestbedImpl>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => live.forEach((testbed) => testbed.destroySync()));
  // A signal would end the process without 'exit'; turning it into an exit runs every exit hook (ours and the tests').
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.once(signal, () => process.exit(code));
  }
}

class TestbedImpl implements Testbed {
  readonly id: string;
  readonly hosts: readonly string[];
  readonly links: TestbedLink[];
  private readonly ip: string;
  private readonly tc: string;
  private readonly cpu: Readonly<Record<string, number>>;
  private readonly namespaces: string[] = [];
  private readonly cgroups = new Map<string, string>();
  private readonly children = new Set<ChildProcess>();
  private doorDir?: string;
  private destroyed = false;

  constructor(config: TestbedConfig, ip: string, tc: string) {
    this.hosts = checkConfig(config);
    this.ip = ip;
    this.tc = tc;
    this.cpu = config.cpu ?? {};
    this.id = randomBytes(4).toString('hex');
    this.links = config.links.map((l, index) => ({
      from: l.from,
      to: l.to,
      mbit: l.mbit,
      rttMs: l.rttMs,
      ...(l.burstBytes === undefined ? {} : { burstBytes: l.burstBytes }),
      index,
      subnet: `10.77.${index}.0/30`,
      fromAddress: `10.77.${index}.1`,
      toAddress: `10.77.${index}.2`,
    }));
  }

  /** Builds it: namespaces, veth pairs with addresses, routes, forwarding, qdiscs, cgroups. */
  build(): void {
    live.add(this);
    hookExit();
    for (const host of this.hosts) {
      const ns = this.namespace(host);
      exec(this.ip, ['netns', 'add', ns]);
      this.namespaces.push(ns);
      exec(this.ip, ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    for (const link of this.links) {
      const a = this.namespace(link.from);
      const b = this.namespace(link.to);
      // Each end is named after the host it leads to, and made inside its namespace: the machine's own never sees it.
      exec(this.ip, ['link', 'add', 'name', link.to, 'netns', a, 'type', 'veth', 'peer', 'name', link.from, 'netns', b]);
      for (const [ns, dev, address] of [
        [a, link.to, link.fromAddress],
        [b, link.from, link.toAddress],
      ]) {
        exec(this.ip, ['-n', ns, 'addr', 'add', `${address}/30`, 'dev', dev]);
        exec(this.ip, ['-n', ns, 'link', 'set', dev, 'up']);
        exec(this.tc, ['-n', ns, 'qdisc', 'add', 'dev', dev, 'root', ...tbfArgs(link.mbit, link.burstBytes)]);
      }
    }
    for (const host of this.hosts) {
      const ns = this.namespace(host);
      for (const link of this.links) {
        if (link.from === host || link.to === host) continue;
        const first = this.path(host, link.from)[0];
        const gateway = first.from === host ? first.toAddress : first.fromAddress;
        exec(this.ip, ['-n', ns, 'route', 'add', link.subnet, 'via', gateway]);
      }
      // Forwarding inside this namespace only, between the testbed's own veth pairs (there is no other way out).
      if (this.links.filter((l) => l.from === host || l.to === host).length > 1) {
        exec(this.ip, ['netns', 'exec', ns, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
      }
    }
    for (const [host, share] of Object.entries(this.cpu)) {
      const dir = join(CPU_CGROUP_ROOT, `${NAME_PREFIX}-${this.id}-${host}`);
      mkdirSync(dir);
      this.cgroups.set(host, dir);
      const period = Number(readFileSync(join(dir, 'cpu.cfs_period_us'), 'utf8'));
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round(share * period))));
    }
  }

  namespace(host: string): string {
    if (!this.hosts.includes(host)) throw new TestbedError(`no host '${host}' in this testbed; its hosts: ${this.hosts.join(', ')}.`);
    return `${NAME_PREFIX}-${this.id}-${host}`;
  }

  cgroup(host: string): string | undefined {
    this.namespace(host);
    return this.cgroups.get(host);
  }

  address(host: string, toward?: string): string {
    this.namespace(host);
    const link = toward !== undefined && toward !== host ? this.path(host, toward)[0] : this.links.find((l) => l.from === host || l.to === host)!;
    return link.from === host ? link.fromAddress : link.toAddress;
  }

  path(from: string, to: string): TestbedLink[] {
    this.namespace(from);
    this.namespace(to);
    const walk = (at: string, came: string | undefined): TestbedLink[] | undefined => {
      if (at === to) return [];
      for (const link of this.links) {
        const next = link.from === at ? link.to : link.to === at ? link.from : undefined;
        if (next === undefined || next === came) continue;
        const rest = walk(next, at);
        if (rest) return [link, ...rest];
      }
      return undefined;
    };
    return walk(from, undefined)!;
  }

  pathRttMs(from: string, to: string): number {
    return this.path(from, to).reduce((sum, l) => sum + l.rttMs, 0);
  }

  run(host: string, argv: readonly string[], options: RunOptions = {}): ChildProcess {
    if (this.destroyed) throw new TestbedError(`testbed ${this.id} is destroyed.`);
    const ns = this.namespace(host);
    const group = options.cpuLimit === false ? undefined : this.cgroups.get(host);
    // The shell joins the cgroup before exec'ing `ip netns exec`, which exec's the command: one pid throughout, in
    // the cgroup from its first instruction (`ip netns exec` remounts /sys, so the command could not join later).
    const [file, args] =
      group === undefined
        ? [this.ip, ['netns', 'exec', ns, ...argv]]
        : ['/bin/sh', ['-c', 'echo $$ > "$0" && exec "$@"', join(group, 'cgroup.procs'), this.ip, 'netns', 'exec', ns, ...argv]];
    const child = spawn(file, args, { stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'], cwd: options.cwd ?? REPO_ROOT });
    if (options.priority !== undefined && child.pid !== undefined) setPriority(child.pid, options.priority);
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  private async relay(
    host: string,
    listen: string,
    target: string,
    delayMs: number,
  ): Promise<{ child: ChildProcess; listening: { host?: string; port?: number; path?: string } }> {
    const child = this.run(host, [process.execPath, '--import', 'tsx', RELAY, '--listen', listen, '--to', target, '--delay-ms', String(delayMs)], {
      cpuLimit: false,
      priority: RELAY_PRIORITY,
    });
    let out = '';
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new TestbedError(`the relay in '${host}' did not listen within ${RELAY_START_MS} ms: ${err}`)), RELAY_START_MS);
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('{"listening"'));
        if (line === undefined) return;
        clearTimeout(timer);
        resolve({ child, listening: (JSON.parse(line) as { listening: { host?: string; port?: number; path?: string } }).listening });
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new TestbedError(`the relay in '${host}' exited with ${code} before listening: ${err}`));
      });
    });
  }

  async connect(from: string, to: string, port: number): Promise<Endpoint> {
    const target = this.address(to);
    const rtt = from === to ? 0 : this.pathRttMs(from, to);
    if (rtt === 0) return { host: target, port, url: `http://${target}:${port}`, close() {} };
    const listen = this.address(to, from);
    const { child, listening } = await this.relay(to, `${listen}:0`, `${target}:${port}`, rtt / 2);
    return { host: listen, port: listening.port!, url: `http://${listen}:${listening.port}`, close: () => void child.kill('SIGTERM') };
  }

  async door(host: string, port: number): Promise<string> {
    this.doorDir ??= mkdtempSync(join(tmpdir(), `${NAME_PREFIX}-${this.id}-`));
    const path = join(this.doorDir, `${host}-${port}.sock`);
    await this.relay(host, `unix:${path}`, `${this.address(host)}:${port}`, 0);
    return path;
  }

  setRate(ref: LinkRef, mbit: number): void {
    const link =
      typeof ref === 'number' ? this.links[ref] : this.links.find((l) => (l.from === ref.from && l.to === ref.to) || (l.from === ref.to && l.to === ref.from));
    if (link === undefined) throw new TestbedError(`no link ${JSON.stringify(ref)} in this testbed.`);
    if (!(mbit > 0) || !Number.isFinite(mbit)) throw new TestbedError(`setRate: ${mbit} is not a positive number of Mbit/s.`);
    exec(this.tc, ['-n', this.namespace(link.from), 'qdisc', 'change', 'dev', link.to, 'root', ...tbfArgs(mbit, link.burstBytes)]);
    exec(this.tc, ['-n', this.namespace(link.to), 'qdisc', 'change', 'dev', link.from, 'root', ...tbfArgs(mbit, link.burstBytes)]);
    link.mbit = mbit;
  }

  async destroy(): Promise<void> {
    const waiting = [...this.children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const force = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
          child.once('exit', () => {
            clearTimeout(force);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    );
    await Promise.all(waiting);
    this.destroySync();
  }

  /** Kills what is left in its namespaces and cgroups (all started by it), then deletes them; safe to repeat. */
  destroySync(): void {
    this.destroyed = true;
    for (const child of this.children) child.kill('SIGKILL');
    const pids = new Set<number>();
    for (const ns of this.namespaces) {
      try {
        for (const pid of exec(this.ip, ['netns', 'pids', ns]).split(/\s+/).filter(Boolean)) pids.add(Number(pid));
      } catch {
        // Already gone.
      }
    }
    for (const dir of this.cgroups.values()) {
      if (existsSync(dir)) for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split(/\s+/).filter(Boolean)) pids.add(Number(pid));
    }
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Exited meanwhile.
      }
    }
    const failures: string[] = [];
    for (const ns of this.namespaces.splice(0)) {
      try {
        exec(this.ip, ['netns', 'del', ns]);
      } catch (error) {
        if (existsSync(join('/run/netns', ns))) failures.push((error as Error).message);
      }
    }
    for (const [host, dir] of [...this.cgroups]) {
      // A cgroup can be removed once its killed processes are gone: a bounded wait, 2 s at most.
      for (let attempt = 0; existsSync(dir) && attempt < 100; attempt++) {
        try {
          rmdirSync(dir);
        } catch {
          sleepSync(20);
        }
      }
      if (existsSync(dir)) failures.push(`cgroup ${dir} could not be removed`);
      else this.cgroups.delete(host);
    }
    if (this.doorDir !== undefined) rmSync(this.doorDir, { recursive: true, force: true });
    live.delete(this);
    if (failures.length > 0) throw new TestbedError(`testbed ${this.id} left things behind: ${failures.join('; ')}`);
  }
}

let availability: string | false | undefined;

/**
 * Whether a testbed can be built here: `false` when it can, else the reason (not root, no `ip`/`tc`, no cgroup-v1
 * CPU controller, or the kernel refused a namespace, a veth pair, a tbf qdisc or a CPU quota: a small probe of each
 * is built and deleted once per process).
 */
export function available(): string | false {
  if (availability !== undefined) return availability;
  availability = probe();
  return availability;
}

function probe(): string | false {
  if (process.platform !== 'linux') return `network namespaces are Linux's; this is ${process.platform}`;
  if (process.getuid?.() !== 0) return 'making network namespaces, qdiscs and cgroups needs root (uid 0)';
  const ip = findBinary('ip');
  const tc = findBinary('tc');
  if (ip === undefined || tc === undefined) return `needs iproute2's 'ip' and 'tc' (missing: ${[ip ? '' : 'ip', tc ? '' : 'tc'].filter(Boolean).join(', ')})`;
  if (!existsSync(join(CPU_CGROUP_ROOT, 'cpu.cfs_quota_us'))) return `needs the cgroup-v1 CPU controller at ${CPU_CGROUP_ROOT} (cpu.cfs_quota_us is absent)`;
  const id = `${NAME_PREFIX}-probe-${randomBytes(4).toString('hex')}`;
  const made: string[] = [];
  const group = join(CPU_CGROUP_ROOT, id);
  try {
    for (const ns of [`${id}-a`, `${id}-b`]) {
      exec(ip, ['netns', 'add', ns]);
      made.push(ns);
    }
    exec(ip, ['link', 'add', 'name', 'b', 'netns', `${id}-a`, 'type', 'veth', 'peer', 'name', 'a', 'netns', `${id}-b`]);
    exec(tc, ['-n', `${id}-a`, 'qdisc', 'add', 'dev', 'b', 'root', ...tbfArgs(10)]);
    mkdirSync(group);
    writeFileSync(join(group, 'cpu.cfs_quota_us'), '20000');
    return false;
  } catch (error) {
    return `the kernel refused part of a testbed: ${(error as Error).message}`;
  } finally {
    for (const ns of made) {
      try {
        exec(ip, ['netns', 'del', ns]);
      } catch {
        // Reported by the caller's own attempt, if it matters.
      }
    }
    if (existsSync(group)) rmdirSync(group);
  }
}

/**
 * The `skip` option of a suite that needs a testbed, following `needs()` of test/system-packages.ts: `false` where
 * one can be built; elsewhere the reason, so the suite is skipped; under `CI=true` (whose machine is root and has
 * iproute2 from .ci/run) a failure, thrown here.
 */
export function needsTestbed(): string | false {
  const missing = needs(IPROUTE2_PACKAGE);
  if (missing !== false) return missing;
  const reason = available();
  if (reason === false) return false;
  if (process.env.CI === 'true') throw new Error(`CI=true and this test needs a testbed: ${reason}.`);
  return `needs a testbed: ${reason}`;
}

/**
 * Builds a testbed (see the module's description). On any failure it deletes what it made, then throws.
 *
 * @throws TestbedError for a config that is not a tree of valid hosts and links, or a command the kernel refused.
 */
export async function createTestbed(config: TestbedConfig): Promise<Testbed> {
  const reason = available();
  if (reason !== false) throw new TestbedError(`cannot build a testbed here: ${reason}.`);
  const testbed = new TestbedImpl(config, findBinary('ip')!, findBinary('tc')!);
  try {
    testbed.build();
  } catch (error) {
    try {
      testbed.destroySync();
    } catch (cleanup) {
      throw new TestbedError(`${(error as Error).message}; cleaning up failed too: ${(cleanup as Error).message}`, { cause: error });
    }
    throw error;
  }
  return testbed;
}
