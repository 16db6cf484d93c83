/**
 * The edge page's figures, measured in Debian's Chromium (headless, through playwright-core) against a real
 * `branchy unit --web` process on loopback, with the shipped B-LeNet cut after stage 1 (unit `device` in the page,
 * unit `cloud` in the process):
 *
 * - unit 1's latency in the browser (stage 1, exit 1 and the entropy, one test digit at a time), on
 *   onnxruntime-web's wasm and on tfjs-wasm, in alternating rounds of the page's own timer;
 * - the bytes one offloaded sample sends, per feature dtype, against sending the image;
 * - the end-to-end latency of an offloaded sample (threshold 0): the page's unit, encoding, the POST to `cloud`,
 *   its stage 2 and exit 2, and decoding the answer;
 * - the page's weight on a first load (empty cache): bytes over the network and unpacked, by kind.
 *
 * The unit runs onnxruntime on one thread (`--threads 1`).
 *
 * Run: npm run build && node --import tsx bench/web.ts [--rounds 3] [--offloads 60]
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Page } from 'playwright-core';
import { splitModel, writePlan } from '../src/cascade/plan.ts';
import { featureBytes } from '../src/cascade/feature-codec.ts';
import { loadModelDir } from '../src/io/model-dir.ts';
import { SHIPPED_MODEL_DIR } from '../src/io/shipped-models.ts';
import { formatTable } from '../src/report/text-table.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, offloads: { type: 'string', default: '60' } } });
const rounds = Number(values.rounds);
const offloads = Number(values.offloads);
const BIN = fileURLToPath(new URL('../bin/branchy.js', import.meta.url));
const ENGINES = ['ort-wasm', 'tfjs-wasm'] as const;

const planDir = mkdtempSync(join(tmpdir(), 'branchy-bench-web-'));
const plan = writePlan(planDir, splitModel(loadModelDir(SHIPPED_MODEL_DIR), { at: [1], names: ['device', 'cloud'] }));
// One onnxruntime thread: stage 2 at batch 1 gains nothing from more, and spinning threads slow a busy 2-core machine.
const child = spawn(process.execPath, [BIN, 'unit', planDir, '--unit', 'cloud', '--web', '--port', '0', '--threads', '1'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise<string>((resolve, reject) => {
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /edge page is at (http:\/\/[\d.:]+)\//.exec(out);
    if (m) resolve(m[1]);
  });
  child.on('exit', (code) => reject(new Error(`branchy unit exited with ${code}`)));
});
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
});

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const quantile = (v: number[], q: number) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(q * v.length))];
const ms = (v: number) => `${v.toFixed(3)} ms`;
const kib = (v: number) => `${(v / 1024).toFixed(0)} KiB`;

async function open(engine: string, dtype = 'f32'): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  await page.goto(`${url}/?engine=${engine}&dtype=${dtype}`);
  await page.waitForFunction(() => document.body.dataset.state === 'ready' && document.body.dataset.tradeOff === 'ready');
  return page;
}

/** Bytes of the first load by kind, from the page's resource timings. */
async function weight(page: Page) {
  return page.evaluate(() => {
    const out: Record<string, { transfer: number; size: number }> = {};
    const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')] as PerformanceResourceTiming[];
    for (const e of entries) {
      const path = new URL(e.name).pathname;
      if (path.includes('/forward')) continue;
      const kind = path.endsWith('.wasm')
        ? 'wasm'
        : path.startsWith('/web/unit/')
          ? 'model'
          : path.endsWith('.safetensors') || path.endsWith('.json')
            ? 'data'
            : 'js+html+css';
      out[kind] ??= { transfer: 0, size: 0 };
      out[kind].transfer += e.transferSize;
      out[kind].size += e.decodedBodySize;
    }
    return out;
  });
}

async function timeUnit(page: Page): Promise<number> {
  await page.click('#time');
  await page.waitForFunction(
    () => document.getElementById('timing')!.dataset.median !== undefined && !(document.getElementById('time') as HTMLButtonElement).disabled,
  );
  const median = Number(await page.evaluate(() => document.getElementById('timing')!.dataset.median));
  await page.evaluate(() => delete document.getElementById('timing')!.dataset.median);
  return median;
}

/** The browser's own cost of a fetch on loopback: the median round trip of an empty GET of the unit's health route. */
async function bareFetch(page: Page, n: number): Promise<number[]> {
  return page.evaluate(async (count) => {
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      await (await fetch('/healthz', { cache: 'no-store' })).text();
      out.push(performance.now() - started);
    }
    return out.slice(5);
  }, n);
}

async function offload(page: Page, n: number) {
  await page.focus('#threshold');
  await page.keyboard.press('Home');
  const samples = await page.locator('#samples button').count();
  const total: number[] = [];
  const hop: number[] = [];
  const local: number[] = [];
  let sent = 0;
  for (let i = 0; i < n; i++) {
    await page
      .locator('#samples button')
      .nth(i % samples)
      .click();
    await page.waitForFunction(() => ['server', 'degraded'].includes(document.getElementById('answer')!.dataset.place ?? ''));
    const a = await page.evaluate(() => ({ ...document.getElementById('answer')!.dataset }));
    if (a.place !== 'server') throw new Error(`sample ${i} was answered ${a.place}: ${a.reason}`);
    if (i < 5) continue; // warm-up: connections and the server's first batches
    total.push(Number(a.totalMs));
    hop.push(Number(a.hopMs));
    local.push(Number(a.browserMs));
    sent = Number(a.sentBytes);
  }
  return { total, hop, local, sent };
}

try {
  const weights: Record<string, Awaited<ReturnType<typeof weight>>> = {};
  const pages: Record<string, Page> = {};
  for (const engine of ENGINES) {
    pages[engine] = await open(engine);
    weights[engine] = await weight(pages[engine]);
  }
  const latency: Record<string, number[]> = { 'ort-wasm': [], 'tfjs-wasm': [] };
  for (let r = 0; r < rounds; r++) for (const engine of ENGINES) latency[engine].push(await timeUnit(pages[engine]));
  const e2e = await offload(pages['ort-wasm'], offloads);
  const bare = await bareFetch(pages['ort-wasm'], offloads);

  const sentBytes: Record<string, number> = {};
  for (const dtype of ['f32', 'f16', 'int8']) {
    const page = dtype === 'f32' ? pages['ort-wasm'] : await open('ort-wasm', dtype);
    sentBytes[dtype] = (await offload(page, 6)).sent;
  }
  const meta = { modelId: plan.modelId, stage: 0, thresholds: [0], from: 'device' };
  const image = featureBytes(plan.spec.input.shape, 1, 'f32', meta);

  console.log(
    `load average (1, 5, 15 min): ${loadavg()
      .map((v) => v.toFixed(2))
      .join(', ')}`,
  );
  console.log(`B-LeNet cut after stage 1: unit device in Chromium ${browser.version()}, unit cloud in 'branchy unit --web' on ${url}\n`);
  console.log('Unit 1 in the browser (stage 1 + exit 1 + entropy), batch 1: per round, the median of 5 passes over 100 test digits (mean per digit):\n');
  console.log(
    formatTable([
      ['engine', ...Array.from({ length: rounds }, (_, r) => `round ${r + 1}`), 'median'],
      ...ENGINES.map((e) => [e, ...latency[e].map(ms), ms(median(latency[e]))]),
    ]),
  );
  console.log(`\nAn offloaded sample end to end on loopback (ort-wasm, f32 features, threshold 0), ${e2e.total.length} samples:\n`);
  console.log(
    formatTable([
      ['part', 'min', 'median', 'p95'],
      ['unit 1 in the browser', ms(quantile(e2e.local, 0)), ms(median(e2e.local)), ms(quantile(e2e.local, 0.95))],
      ['hop: POST, unit 2, answer', ms(quantile(e2e.hop, 0)), ms(median(e2e.hop)), ms(quantile(e2e.hop, 0.95))],
      ['end to end', ms(quantile(e2e.total, 0)), ms(median(e2e.total)), ms(quantile(e2e.total, 0.95))],
      ['(an empty GET /healthz)', ms(quantile(bare, 0)), ms(median(bare)), ms(quantile(bare, 0.95))],
    ]),
  );
  console.log('\nBytes sent per offloaded sample (one-sample frames):\n');
  console.log(
    formatTable([
      ['what is sent', 'bytes'],
      ...Object.entries(sentBytes).map(([d, b]) => [`features 30×30×5, ${d}`, b.toLocaleString('en')]),
      ['the image 28×28×1, f32 frame', image.toLocaleString('en')],
      ['the image, raw 8-bit pixels', (28 * 28).toLocaleString('en')],
    ]),
  );
  console.log('\nPage weight on a first load (empty cache; over the network with brotli, and unpacked):\n');
  const kinds = ['js+html+css', 'wasm', 'model', 'data'];
  console.log(
    formatTable([
      ['engine', ...kinds.map((k) => `${k} (net / unpacked)`), 'total (net / unpacked)'],
      ...ENGINES.map((e) => {
        const w = weights[e];
        const t = kinds.reduce((a, k) => ({ transfer: a.transfer + (w[k]?.transfer ?? 0), size: a.size + (w[k]?.size ?? 0) }), { transfer: 0, size: 0 });
        return [e, ...kinds.map((k) => `${kib(w[k]?.transfer ?? 0)} / ${kib(w[k]?.size ?? 0)}`), `${kib(t.transfer)} / ${kib(t.size)}`];
      }),
    ]),
  );
} finally {
  await browser.close();
  child.kill('SIGTERM');
  rmSync(planDir, { recursive: true, force: true });
}
