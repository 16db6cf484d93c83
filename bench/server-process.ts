/**
 * A real `branchy serve` (or `branchy unit`) process for the benches and tests that hold a server under hostile
 * load, and what /proc says of it: resident memory and open file descriptors.
 *
 * @example
 * const server = await startServerProcess(['serve', 'models/b-lenet-mnist', '--port', '0']);
 * console.log(processStats(server.pid));
 * await server.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/branchy.js', import.meta.url));

/** A server process started by {@link startServerProcess}. */
export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  /** Its address, as it printed it (`http://127.0.0.1:PORT`). */
  url: string;
  port: number;
  /** What it wrote to stderr so far. */
  stderr(): string;
  /** True while it runs. */
  running(): boolean;
  /** SIGTERM, then SIGKILL after 10 s; resolves with its exit code. */
  stop(): Promise<number | null>;
}

const started = new Set<ChildProcess>();
process.on('exit', () => started.forEach((c) => c.kill('SIGKILL')));

/** Starts `node bin/branchy.js ...args` (which must listen on HTTP and print its address); resolves once it listens. */
export function startServerProcess(args: readonly string[], startMs = 60_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      started.delete(child);
      resolve(code);
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`'branchy ${args.join(' ')}' did not listen within ${startMs} ms: ${err}`)), startMs);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[\d.]+:(\d+))/.exec(out);
      if (m === null) return;
      clearTimeout(timer);
      resolve({
        child,
        pid: child.pid!,
        url: m[1],
        port: Number(m[2]),
        stderr: () => err,
        running: () => child.exitCode === null && child.signalCode === null,
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
          child.kill('SIGTERM');
          const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
          const code = await exited;
          clearTimeout(force);
          return code;
        },
      });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`'branchy ${args.join(' ')}' exited with ${code} before listening: ${err}`));
    });
  });
}

/** A process's resident memory, open file descriptors and CPU time so far, from /proc. */
export interface ProcessStats {
  rssBytes: number;
  fds: number;
  /** User + system CPU seconds of all its threads. */
  cpuSeconds: number;
}

/** {@link ProcessStats} of `pid` now (Linux only: reads /proc/PID/status and /proc/PID/stat, and lists /proc/PID/fd). */
export function processStats(pid: number): ProcessStats {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
  // Fields 14 and 15 of /proc/PID/stat (utime, stime) in clock ticks of 1/100 s, counted after the command's ')'.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { rssBytes: rssKb * 1024, fds: readdirSync(`/proc/${pid}/fd`).length, cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100 };
}

/** The value of one series on a server's `/metrics` (NaN when absent), e.g. `branchy_connections_open`. */
export async function metricValue(url: string, series: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

/** Every series of one metric family on a server's `/metrics`, by its labels as written (`{code="SERVE_BAD_JSON"}`, or '' for none). */
export async function metricFamily(url: string, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const series = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'gm'))) series.set(m[1] ?? '', Number(m[2]));
  return series;
}
