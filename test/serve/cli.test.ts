import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { tempDir, uncalibratedCopy } from '../helpers.ts';
import { BIN, digits, predictJson } from './fixtures.ts';

interface Running {
  child: ChildProcess;
  url?: string;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

/** Starts the real `branchy serve`; resolves once it printed its address, or exited. */
function start(...args: string[]): Promise<Running> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve) => {
    const running: Running = { child, stdout: () => out, stderr: () => err, exit };
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m && running.url === undefined) resolve({ ...running, url: m[1] });
    });
    void exit.then(() => resolve(running));
  });
}

async function metric(url: string, series: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? NaN : Number(line.slice(series.length + 1));
}

describe('branchy serve command', () => {
  it('port 0 prints the address; SIGTERM finishes the requests in flight, then exits 0', async () => {
    const s = await start(SHIPPED_MODEL_DIR, '--port', '0', '--max-wait-ms', '5000', '--log-level', 'warn');
    assert.ok(s.url, s.stderr());
    const mine = digits(16, 40);
    const replies = mine.map((d) => predictJson(s.url as string, 'b-lenet-mnist', [d]));
    for (let poll = 0; poll < 500 && (await metric(s.url as string, 'branchy_queue_depth{model="b-lenet-mnist"}')) < 16; poll++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(await metric(s.url as string, 'branchy_queue_depth{model="b-lenet-mnist"}'), 16, 'all requests queued before the signal');
    s.child.kill('SIGTERM');
    const answered = await Promise.all(replies);
    assert.deepEqual(
      answered.map((r) => r.status),
      new Array(16).fill(200),
    );
    assert.equal(await s.exit, 0, s.stderr());
    assert.match(s.stdout(), /SIGTERM: finishing requests in flight\n.*stopped/s);
  });

  it('answers alike on the inference thread with --engine ort --threads 1 and on the HTTP thread with tfjs (--no-inference-thread --engine tfjs)', async () => {
    const mine = digits(8, 60);
    const labels: number[][] = [];
    for (const args of [
      ['--engine', 'ort', '--threads', '1'],
      ['--no-inference-thread', '--engine', 'tfjs'],
    ]) {
      const s = await start(SHIPPED_MODEL_DIR, '--port', '0', '--log-level', 'warn', ...args);
      assert.ok(s.url, s.stderr());
      try {
        const res = await predictJson(s.url as string, 'b-lenet-mnist', mine);
        assert.equal(res.status, 200, args.join(' '));
        labels.push(((await res.json()) as { results: { label: number }[] }).results.map((r) => r.label));
        const runtime = ((await (await fetch(`${s.url}/v1/models`)).json()) as { models: { runtime: string }[] }).models[0].runtime;
        assert.equal(runtime, args.includes('ort') ? 'ort-cpu' : 'tfjs-wasm');
      } finally {
        s.child.kill('SIGTERM');
        assert.equal(await s.exit, 0, s.stderr());
      }
    }
    assert.deepEqual(labels[0], labels[1]);
  });

  it('serves every model of a directory, skips broken ones (manifest, or weights failing in the inference thread) with a report, and refuses to start with --strict', async () => {
    const root = tempDir();
    cpSync(SHIPPED_MODEL_DIR, join(root, 'digits-a'), { recursive: true });
    cpSync(SHIPPED_MODEL_DIR, join(root, 'digits-b'), { recursive: true });
    mkdirSync(join(root, 'broken'));
    writeFileSync(join(root, 'broken', 'branchy.json'), '{ not json');
    cpSync(SHIPPED_MODEL_DIR, join(root, 'corrupt'), { recursive: true });
    writeFileSync(join(root, 'corrupt', 'exit_2.onnx'), 'not onnx');
    const s = await start(root, '--port', '0', '--log-level', 'warn');
    assert.ok(s.url, s.stderr());
    try {
      assert.match(s.stderr(), /skipping '.*broken': MODEL_BAD_JSON/);
      assert.match(s.stderr(), /skipping '.*corrupt': MODEL_CHECKSUM: .*exit_2\.onnx/);
      const list = (await (await fetch(`${s.url}/v1/models`)).json()) as { models: { name: string }[] };
      assert.deepEqual(
        list.models.map((m) => m.name),
        ['digits-a', 'digits-b'],
      );
      for (const name of ['digits-a', 'digits-b']) assert.equal((await predictJson(s.url as string, name, digits(2))).status, 200);
    } finally {
      s.child.kill('SIGTERM');
      assert.equal(await s.exit, 0);
    }
    const strict = await start(root, '--port', '0', '--strict');
    assert.equal(await strict.exit, 2);
    assert.match(strict.stderr(), /branchy: MODEL_BAD_JSON: .*broken/);
  });

  it('refuses unsafe or impossible settings with a coded message and exit code 2', async () => {
    const shortToken = join(tempDir(), 'token');
    writeFileSync(shortToken, 'short\n');
    const cases: [string[], RegExp][] = [
      [[SHIPPED_MODEL_DIR, '--host', '0.0.0.0'], /SERVE_UNSAFE_HOST/],
      [[SHIPPED_MODEL_DIR, '--host', '0.0.0.0', '--token-file', shortToken], /SERVE_BAD_TOKEN_FILE/],
      [[uncalibratedCopy(SHIPPED_MODEL_DIR), '--port', '0', '--slo-ms', '50'], /SERVE_NOT_CALIBRATED: .*branchy calibrate/],
    ];
    const runs = await Promise.all(cases.map(([args]) => start(...args)));
    for (const [i, [args, pattern]] of cases.entries()) {
      assert.equal(await runs[i].exit, 2, `${args.join(' ')}: ${runs[i].stderr()}`);
      assert.match(runs[i].stderr(), pattern);
    }
  });
});
