import { spawn, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { Batch, LoadedNetwork } from '../../src/engine/types.ts';
import { runEarlyExit } from '../../src/infer/runner.ts';

const BIN = fileURLToPath(new URL('../../bin/branchy.js', import.meta.url));

/** A `branchy unit` process the test started. */
export interface RunningUnit {
  child: ChildProcess;
  /** Its HTTP address, once it printed it. */
  url: string;
  port: number;
  stderr: () => string;
  /** Stops it (SIGTERM, then SIGKILL after 5 s) and resolves with its exit code. */
  stop(): Promise<number | null>;
  /** Kills it at once, as a crash would. */
  kill(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => running.forEach((c) => c.kill('SIGKILL')));

/** Starts a command line (`node bin/branchy.js unit …`) somewhere, with stdout and stderr piped. */
export type UnitLauncher = (argv: readonly string[]) => ChildProcess;

const onThisHost: UnitLauncher = (argv) => spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });

/** Starts the real `branchy unit PLAN --unit NAME …`; resolves once it listens, rejects if it exits first. */
export function startUnit(plan: string, unit: string, ...args: string[]): Promise<RunningUnit> {
  return startUnitWith(onThisHost, plan, unit, ...args);
}

/** `startUnit` through a launcher of one's own: e.g. inside a testbed namespace (test/testbed/). */
export function startUnitWith(launch: UnitLauncher, plan: string, unit: string, ...args: string[]): Promise<RunningUnit> {
  const child = launch([process.execPath, BIN, 'unit', plan, '--unit', unit, '--port', '0', ...args]);
  running.add(child);
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`unit ${unit} did not start within 30 s: ${err}`)), 30_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on http:\/\/([\d.]+):(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        const port = Number(m[2]);
        resolve({
          child,
          url: `http://${m[1]}:${port}`,
          port,
          stderr: () => err,
          async stop() {
            if (child.exitCode !== null) return child.exitCode;
            child.kill('SIGTERM');
            const force = setTimeout(() => child.kill('SIGKILL'), 5000);
            const code = await exit;
            clearTimeout(force);
            return code;
          },
          async kill() {
            if (child.exitCode === null) child.kill('SIGKILL');
            await exit;
          },
        });
      }
    });
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`unit ${unit} exited with ${code} before listening: ${err}`));
    });
  });
}

/** One predict result as the first unit answers it. */
export interface UnitAnswer {
  label: number;
  exit: number;
  score: number;
  unit: string;
  hops: number;
  degraded: boolean;
  reason?: string;
  path: { unit: string; ms: number; sentBytes: number; receivedBytes: number }[];
}

/** POSTs samples to the first unit's predict route (JSON); returns the status and results. */
export async function predict(
  url: string,
  model: string,
  samples: Float32Array[],
  thresholds?: readonly number[],
): Promise<{ status: number; results: UnitAnswer[]; body: unknown }> {
  const query = thresholds === undefined ? '' : `?thresholds=${thresholds.join(',')}`;
  const response = await fetch(`${url}/v1/models/${model}/predict${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: samples.map((s) => Array.from(s)) }),
  });
  const body = (await response.json()) as { results?: UnitAnswer[] };
  return { status: response.status, results: body.results ?? [], body };
}

/** The rows of a batch, one array per sample. */
export function rows(batch: Batch): Float32Array[] {
  const per = batch.data.length / batch.shape[0];
  return Array.from({ length: batch.shape[0] }, (_, i) => batch.data.slice(i * per, (i + 1) * per));
}

/** Asserts that the first unit answers (label, exit, unit) as `runEarlyExit` does on the whole network. */
export async function expectSame(net: LoadedNetwork, front: RunningUnit, model: string, x: Batch, thresholds: number[], unitOfExit: (exit: number) => string) {
  const { results: expected } = await runEarlyExit(net, x, { thresholds });
  const { status, results } = await predict(front.url, model, rows(x), thresholds);
  assert.equal(status, 200);
  assert.deepEqual(
    results.map((r) => [r.label, r.exit, r.unit, r.degraded]),
    expected.map((r) => [r.label, r.exit, unitOfExit(r.exit), false]),
    `thresholds [${thresholds}]`,
  );
  return results;
}
