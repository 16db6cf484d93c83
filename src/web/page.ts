/**
 * The edge page: runs the plan's first unit in the browser, shows its exit's answer at once, hands what it cannot
 * answer to the unit behind the server, and shows the threshold's trade-off on a shipped test batch. Entry of the
 * page's bundle (`scripts/build-web.mjs`).
 *
 * @module
 */
import {
  CircuitBreaker,
  FEATURE_DTYPES,
  WEB_ROUTES,
  decodeSampleBatch,
  fetchTransport,
  getCriterion,
  type EdgePageConfig,
  type ExitResult,
  type FeatureDtype,
  type SampleBatch,
} from '../index.ts';
import { PAGE_ENGINES, pageEngine, type PageEngineName } from './browser-engines.ts';
import { digitInput } from './digit-input.ts';
import { DrawPad } from './draw-pad.ts';
import { EdgeUnit, type BatchEvaluation, type EdgeAnswer } from './edge-unit.ts';
import { tradeOffAt, tradeOffCurve, type TradeOffPoint } from './trade-off.ts';
import { drawTradeOff } from './trade-off-plot.ts';
import { fetchUnit } from './unit-files.ts';

const element = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no element #${id}.`);
  return found as T;
};

const ui = {
  summary: element('summary'),
  pad: element<HTMLCanvasElement>('pad'),
  padHelp: element('pad-help'),
  classify: element<HTMLButtonElement>('classify'),
  clear: element<HTMLButtonElement>('clear'),
  samplesSet: element<HTMLFieldSetElement>('samples-set'),
  samples: element('samples'),
  answer: element('answer'),
  local: element('local'),
  where: element('where'),
  browserMs: element('browser-ms'),
  hopMs: element('hop-ms'),
  totalMs: element('total-ms'),
  sent: element('sent'),
  threshold: element<HTMLInputElement>('threshold'),
  thresholdLabel: element('threshold-label'),
  thresholdValue: element<HTMLOutputElement>('threshold-value'),
  tradeOff: element('trade-off'),
  curve: element<HTMLCanvasElement>('curve'),
  engine: element<HTMLSelectElement>('engine'),
  dtype: element<HTMLSelectElement>('dtype'),
  time: element<HTMLButtonElement>('time'),
  timing: element('timing'),
  weight: element('weight'),
  serverStatus: element('server-status'),
};

const ms = (v: number | undefined) => (v === undefined ? '–' : `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`);
const bytes = (v: number) => `${v.toLocaleString('en')} bytes`;
const percent = (v: number) => `${(v * 100).toFixed(1)}%`;

let config: EdgePageConfig;
let samples: SampleBatch | undefined;
let unit: EdgeUnit | undefined;
let evaluation: BatchEvaluation | undefined;
let curve: TradeOffPoint[] = [];
let current: Float32Array | undefined;
let pad: DrawPad;
/** Every classification runs after the one before, so the last shown is the last asked for. */
let queue: Promise<unknown> = Promise.resolve();
const breaker = new CircuitBreaker({ failures: 3, probeAfterMs: 2000 });

function className(label: number): string {
  return config.classes[label] ?? String(label);
}

function threshold(): number {
  return Number(ui.threshold.value);
}

function isDigitModel(): boolean {
  return config.classes.length === 10 && config.classes.every((c, i) => c === String(i)) && config.inputShape[2] === 1;
}

function sampleAt(i: number): Float32Array {
  const per = samples!.shape.reduce((a, b) => a * b, 1);
  return samples!.x.subarray(i * per, (i + 1) * per);
}

function describeLocal(local: ExitResult, browserMs: number): void {
  const passes = local.score < threshold();
  ui.local.textContent = `${className(local.label)} at exit ${local.exit}, ${config.criterion} ${local.score.toFixed(3)} (${passes ? 'below' : 'above'} the threshold ${threshold().toFixed(2)})`;
  ui.browserMs.textContent = ms(browserMs);
}

function showAnswer(a: EdgeAnswer): void {
  const r = a.result;
  const where =
    a.place === 'browser'
      ? `exit ${r.exit} in the browser (unit ${config.unit.name})`
      : a.place === 'server'
        ? `exit ${r.exit} on the server (unit ${r.route?.unit ?? config.successor.unit})`
        : `exit ${r.exit} in the browser, degraded: ${a.reason}`;
  ui.answer.textContent = `${className(r.label)}, from ${where}`;
  ui.answer.classList.toggle('degraded', a.place === 'degraded');
  Object.assign(ui.answer.dataset, {
    place: a.place,
    exit: String(r.exit),
    label: String(r.label),
    sentBytes: String(a.sentBytes),
    reason: a.reason ?? '',
    browserMs: String(a.browserMs),
    hopMs: String(a.hopMs ?? ''),
    totalMs: String(a.totalMs),
  });
  ui.where.textContent =
    a.place === 'server' ? `the server (unit ${r.route?.unit})` : a.place === 'browser' ? 'the browser' : `the browser, degraded (${a.reason})`;
  ui.hopMs.textContent = a.hopMs === undefined ? '– (not sent)' : ms(a.hopMs);
  ui.totalMs.textContent = ms(a.totalMs);
  const image = unit!.inputFrameBytes(1, threshold());
  const what = config.forward === 'input' ? 'the input' : `features ${unit!.featureDtype} [${config.sentShape.join('×')}]`;
  const against = `the image as f32: ${bytes(image)}`;
  ui.sent.textContent =
    a.sentBytes === 0
      ? `none (${against})`
      : a.hopMs === undefined
        ? `${bytes(a.sentBytes)} of ${what} tried, no answer; ${against}`
        : `${bytes(a.sentBytes)} of ${what}; ${against}`;
  if (a.place === 'degraded') serverStatus(a.reason);
  else if (a.place === 'server') serverStatus(undefined);
}

function serverStatus(reason: string | undefined): void {
  ui.serverStatus.classList.toggle('server-down', reason !== undefined);
  ui.serverStatus.textContent =
    reason === undefined
      ? `Server: unit ${config.successor.unit} answers at ${config.successor.url}.`
      : `Server: unit ${config.successor.unit} did not answer (${reason}); the browser answers from its own exit, marked degraded.`;
  document.body.dataset.server = reason === undefined ? 'up' : 'down';
}

function classify(pixels: Float32Array): Promise<unknown> {
  current = pixels;
  ui.answer.dataset.place = 'pending';
  queue = queue.then(async () => {
    if (unit === undefined) return;
    const answer = await unit.classify(pixels, threshold(), (local, browserMs) => {
      describeLocal(local, browserMs);
      if (local.score >= threshold()) ui.where.textContent = `asking unit ${config.successor.unit} on the server…`;
    });
    showAnswer(answer);
  });
  return queue;
}

function classifyDrawing(): void {
  if (pad.empty) {
    if (current) void classify(current);
    else ui.answer.textContent = 'Draw something first.';
    return;
  }
  const [h, w] = config.inputShape;
  const pixels = digitInput(pad.ink(), pad.canvas.width, pad.canvas.height, { size: h, box: Math.round((w * 20) / 28) });
  if (pixels === undefined) ui.answer.textContent = 'Draw something first.';
  else void classify(pixels);
}

function clearInput(): void {
  pad.clear();
  current = undefined;
  ui.answer.textContent = 'Cleared. Draw or pick an input.';
  ui.answer.classList.remove('degraded');
  ui.answer.dataset.place = '';
  for (const dd of [ui.local, ui.where, ui.browserMs, ui.hopMs, ui.totalMs, ui.sent]) dd.textContent = '–';
}

function updateTradeOff(): void {
  const t = threshold();
  ui.thresholdValue.textContent = `${t.toFixed(2)}${config.criterion === 'entropy' ? ' nats' : ''}`;
  if (!evaluation || !samples) {
    ui.threshold.setAttribute('aria-valuetext', ui.thresholdValue.textContent);
    return;
  }
  const p = tradeOffAt(evaluation.samples, t);
  const degraded = p.degraded > 0 ? ` (${p.degraded} answered by the browser, degraded: ${evaluation.reason})` : '';
  const text = `On ${samples.count} test images: ${percent(p.browserShare)} answered in the browser, accuracy ${percent(p.accuracy)}${degraded}; ${p.offloaded} sent, ${bytes(p.offloaded * evaluation.frameBytes)} in one-sample frames.`;
  ui.tradeOff.textContent = text;
  Object.assign(ui.tradeOff.dataset, { browserShare: String(p.browserShare), accuracy: String(p.accuracy), degraded: String(p.degraded) });
  ui.threshold.setAttribute('aria-valuetext', `${ui.thresholdValue.textContent}: ${percent(p.browserShare)} in the browser, accuracy ${percent(p.accuracy)}`);
  drawTradeOff(ui.curve, curve, t);
}

async function evaluateBatch(): Promise<void> {
  if (!unit || !samples) return;
  document.body.dataset.tradeOff = 'measuring';
  evaluation = await unit.evaluate({ data: samples.x, shape: [samples.count, ...samples.shape] }, samples.y, threshold());
  curve = tradeOffCurve(evaluation.samples, unit.scoreRange(), 200);
  serverStatus(evaluation.reason);
  updateTradeOff();
  document.body.dataset.tradeOff = 'ready';
}

function pageWeight(): void {
  const entries = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
  const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
  const groups: Record<string, { transfer: number; size: number }> = {};
  const add = (group: string, e: PerformanceResourceTiming) => {
    const g = (groups[group] ??= { transfer: 0, size: 0 });
    g.transfer += e.transferSize;
    g.size += e.decodedBodySize;
  };
  if (nav) add('page', nav);
  for (const e of entries) {
    const path = new URL(e.name).pathname;
    if (path.startsWith(config.successor.url)) continue;
    add(path.endsWith('.wasm') ? 'wasm' : path.startsWith(WEB_ROUTES.unit) ? 'model' : path.endsWith('.js') || path.endsWith('.css') ? 'page' : 'data', e);
  }
  const total = Object.values(groups).reduce((a, g) => ({ transfer: a.transfer + g.transfer, size: a.size + g.size }), { transfer: 0, size: 0 });
  const kb = (v: number) => `${(v / 1024).toFixed(0)} KiB`;
  ui.weight.textContent =
    `Loaded so far: ${kb(total.transfer)} over the network (${kb(total.size)} unpacked): ` +
    `page and scripts ${kb(groups.page?.size ?? 0)}, WebAssembly ${kb(groups.wasm?.size ?? 0)}, model ${kb(groups.model?.size ?? 0)}, test batch ${kb(groups.data?.size ?? 0)}.`;
  Object.assign(ui.weight.dataset, { transfer: String(total.transfer), size: String(total.size) });
}

async function loadEngine(name: PageEngineName): Promise<void> {
  document.body.dataset.state = 'loading';
  ui.engine.disabled = true;
  const label = PAGE_ENGINES.find((e) => e.name === name)?.label ?? name;
  ui.summary.textContent = `Loading unit ${config.unit.name} on ${label}…`;
  unit?.dispose();
  unit = undefined;
  const started = performance.now();
  const fetched = await fetchUnit(config.unitUrl, config.modelId, { onnx: name === 'ort-wasm' });
  const net = await (await pageEngine(name, config.wasm)).load(fetched.source);
  unit = new EdgeUnit(config, net, {
    transport: fetchTransport({ url: config.successor.url, from: config.unit.name }),
    featureDtype: ui.dtype.value as FeatureDtype,
    breaker,
  });
  const [a, b] = config.unit.stages;
  const later = config.thresholds.length + 1;
  ui.summary.textContent =
    `${config.model}: unit ${config.unit.name} (stage${a === b ? ` ${a}` : `s ${a}–${b}`} and exit${a === b ? ` ${b}` : `s up to ${b}`}) runs in this page on ${label}, ` +
    `loaded in ${ms(performance.now() - started)}; unit ${config.successor.unit} on the server answers the rest (exits up to ${later}).`;
  ui.engine.disabled = false;
  await evaluateBatch();
  if (current) await classify(current);
  pageWeight();
  document.body.dataset.state = 'ready';
  document.body.dataset.engine = name;
}

async function timeUnit(): Promise<void> {
  if (!unit) return;
  ui.time.disabled = true;
  ui.timing.textContent = 'Timing…';
  const inputs = samples
    ? Array.from({ length: Math.min(100, samples.count) }, (_, i) => sampleAt(i))
    : [new Float32Array(config.inputShape.reduce((x, y) => x * y, 1))];
  const means = (await unit.time(inputs)).sort((x, y) => x - y);
  const median = means[Math.floor(means.length / 2)];
  ui.timing.textContent = `Unit ${config.unit.name} on ${unit.net.runtime}, one sample at a time: ${median.toFixed(3)} ms per sample (median of ${means.length} passes over ${inputs.length} test images; fastest pass ${means[0].toFixed(3)} ms).`;
  Object.assign(ui.timing.dataset, { median: String(median), fastest: String(means[0]), passes: String(means.length) });
  ui.time.disabled = false;
}

function showSamples(): void {
  if (!samples) return;
  const [h, w] = samples.shape;
  const picks: number[] = [];
  for (let c = 0; c < samples.classes.length; c++) {
    const i = Array.from(samples.y).indexOf(c);
    if (i >= 0) picks.push(i);
  }
  for (const i of picks) {
    const button = document.createElement('button');
    button.type = 'button';
    button.setAttribute('aria-label', `Test image ${i + 1}: ${samples.classes[samples.y[i]]}`);
    button.dataset.sample = String(i);
    const thumb = document.createElement('canvas');
    thumb.width = w;
    thumb.height = h;
    thumb.setAttribute('aria-hidden', 'true');
    const image = new ImageData(w, h);
    const px = sampleAt(i);
    for (let p = 0; p < w * h; p++) {
      const v = Math.round(px[p * samples.shape[2]] * 255);
      image.data.set([v, v, v, 255], p * 4);
    }
    thumb.getContext('2d')!.putImageData(image, 0, 0);
    const caption = document.createElement('span');
    caption.textContent = samples.classes[samples.y[i]];
    caption.setAttribute('aria-hidden', 'true');
    button.append(thumb, caption);
    button.addEventListener('click', () => {
      if (samples!.shape[2] === 1) pad.show(sampleAt(i), h);
      void classify(sampleAt(i));
    });
    ui.samples.append(button);
  }
  ui.samplesSet.hidden = false;
}

async function main(): Promise<void> {
  const response = await fetch(WEB_ROUTES.config, { cache: 'no-store' });
  config = (await response.json()) as EdgePageConfig;
  if (config.samples) samples = decodeSampleBatch(new Uint8Array(await (await fetch(config.samples.url)).arrayBuffer()), config.samples.source);

  const params = new URLSearchParams(location.search);
  for (const e of PAGE_ENGINES) ui.engine.add(new Option(e.label, e.name));
  ui.engine.value = PAGE_ENGINES.some((e) => e.name === params.get('engine')) ? params.get('engine')! : PAGE_ENGINES[0].name;
  for (const d of FEATURE_DTYPES) ui.dtype.add(new Option(d === 'f32' ? 'f32 (as computed)' : d === 'f16' ? 'f16 (half the bytes)' : 'int8 (a quarter)', d));
  ui.dtype.value = (FEATURE_DTYPES as readonly string[]).includes(params.get('dtype') ?? '') ? params.get('dtype')! : 'f32';
  if (config.forward === 'input') document.querySelector('label[for="dtype"]')!.textContent = 'The input travels as';

  const digits = isDigitModel();
  pad = new DrawPad(ui.pad, () => classifyDrawing());
  if (!digits) {
    ui.pad.classList.add('display-only');
    ui.pad.setAttribute('aria-label', 'The picked image');
    ui.padHelp.textContent = 'Pick a test image below; it is shown here as the network sees it.';
  } else ui.pad.setAttribute('aria-label', 'Drawing pad for a digit');

  const last = config.unit.stages[1];
  const [lo, hi] = getCriterion(config.criterion).range(config.classes.length);
  ui.threshold.min = String(lo);
  ui.threshold.max = String(hi);
  ui.threshold.step = String((hi - lo) / 500);
  ui.threshold.value = String(config.thresholds[last - 1] ?? lo);
  ui.thresholdLabel.textContent = `Threshold of the browser's exit${last > 1 ? 's' : ''} (${config.criterion}${config.criterion === 'entropy' ? ', nats' : ''})`;
  showSamples();

  ui.classify.addEventListener('click', () => classifyDrawing());
  ui.clear.addEventListener('click', () => clearInput());
  ui.pad.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      classifyDrawing();
    }
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !(event.target instanceof HTMLSelectElement)) clearInput();
  });
  ui.threshold.addEventListener('input', () => updateTradeOff());
  ui.threshold.addEventListener('change', () => {
    if (current) void classify(current);
  });
  ui.engine.addEventListener('change', () => void run(() => loadEngine(ui.engine.value as PageEngineName)));
  ui.dtype.addEventListener('change', () => {
    if (unit) unit.featureDtype = ui.dtype.value as FeatureDtype;
    void run(() => evaluateBatch());
  });
  ui.time.addEventListener('click', () => void run(() => timeUnit()));
  updateTradeOff();
  await loadEngine(ui.engine.value as PageEngineName);
}

/** Runs a step of the page, showing its failure instead of leaving the page silent. */
async function run(step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (error) {
    document.body.dataset.state = 'failed';
    const code = (error as { code?: string }).code;
    ui.summary.textContent = `The page failed: ${code ? `${code}: ` : ''}${(error as Error).message}`;
    ui.engine.disabled = false;
    ui.time.disabled = false;
  }
}

void run(main);
