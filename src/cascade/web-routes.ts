/**
 * The edge page on a unit's server (`branchy unit --web`): the plan's first unit runs in the browser, and this
 * server's unit, its successor, answers what the page hands on. The server serves the page's bundle (built into
 * `dist/web/` by `npm run build`), the first unit's model directory read-only (`branchy.json` and only the files it
 * lists), the WebAssembly binaries of the installed onnxruntime-web and tfjs-backend-wasm, and a labelled test
 * batch; nothing comes from anywhere else, so the page works offline. Every answer carries a strict
 * Content-Security-Policy; cross-origin requests are answered only for the page's own origin.
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MANIFEST_FILE, readManifest } from '../io/model-dir.ts';
import { BranchyCascadeError } from './errors.ts';
import { planUnit } from './plan.ts';
import { decodeSampleBatch, sampleBatchFits } from './sample-batch.ts';
import { StaticAsset } from './static-asset.ts';
import { ERROR_HEADER, FROM_HEADER, type DeploymentPlan, type UnitPlan } from './types.ts';
import type { CascadeUnit } from './unit.ts';
import { EDGE_PAGE_FORMAT, WEB_ROUTES, type EdgePageConfig } from './web-config.ts';

const require = createRequire(import.meta.url);
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where `npm run build` bundles the page (`scripts/build-web.mjs`). */
export const WEB_BUNDLE_DIR = join(PACKAGE_ROOT, 'dist', 'web');
/** The labelled test batches the package ships, one per data set (`samples/*.safetensors`). */
export const SHIPPED_SAMPLES_DIR = join(PACKAGE_ROOT, 'samples');
/** The bundle's own list of its files and the package versions its scripts were built against. */
export const WEB_BUNDLE_MANIFEST = 'manifest.json';

/**
 * The page's Content-Security-Policy: scripts, styles and connections from this server only, WebAssembly compiled
 * from what it serves, no inline script or style, no frames, no plugins, no forms.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-frame-options': 'DENY',
});

const TYPES: Readonly<Record<string, string>> = Object.freeze({
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
});

/** How the edge page is served. */
export interface WebPageOptions {
  /** The plan directory the server's unit was opened from: the first unit's model directory is read there. */
  planDir: string;
  /** The page's bundle (default {@link WEB_BUNDLE_DIR}). */
  bundleDir?: string;
  /** A sample batch frame to offer (default: the shipped batch whose classes and input fit the plan, if any). */
  samples?: string;
  /** How long the page waits for this server's answer before answering degraded (default 3000 ms). */
  deadlineMs?: number;
  /**
   * Origins the page may be opened from, e.g. `http://127.0.0.1:8081`; default: the address the server listens on
   * (and `localhost` at that port, when it listens on loopback).
   */
  origins?: readonly string[];
}

interface BundleManifest {
  format: 'branchy-web-bundle/1';
  files: string[];
  packages: Record<string, string>;
}

interface WasmPackage {
  name: string;
  version: string;
  dir: string;
  files: string[];
}

function notBuilt(message: string): never {
  throw new BranchyCascadeError('CASCADE_WEB_NOT_BUILT', message, 500);
}

function typeOf(file: string): string {
  return TYPES[extname(file)] ?? 'application/octet-stream';
}

function readBundle(dir: string, wasm: readonly WasmPackage[]): BundleManifest {
  const path = join(dir, WEB_BUNDLE_MANIFEST);
  if (!existsSync(path)) notBuilt(`the edge page's bundle is missing ('${path}' does not exist): run 'npm run build' in branchy's directory.`);
  const bundle = JSON.parse(readFileSync(path, 'utf8')) as BundleManifest;
  if (bundle.format !== 'branchy-web-bundle/1' || !Array.isArray(bundle.files) || !bundle.files.includes('index.html')) {
    notBuilt(`'${path}' is not the page bundle's manifest: run 'npm run build' again.`);
  }
  for (const pkg of wasm) {
    if (bundle.packages?.[pkg.name] !== pkg.version) {
      notBuilt(
        `the page was bundled with ${pkg.name} ${bundle.packages?.[pkg.name] ?? '(none)'}, but ${pkg.version} is installed, whose WebAssembly it would load: run 'npm run build' again.`,
      );
    }
  }
  return bundle;
}

/** The installed onnxruntime-web and tfjs-backend-wasm: their versions and the WebAssembly files the page loads. */
function wasmPackages(): WasmPackage[] {
  const ortWasm = require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm');
  const ortDir = dirname(ortWasm);
  const ortVersion = (JSON.parse(readFileSync(join(ortDir, '..', 'package.json'), 'utf8')) as { version: string }).version;
  const tfjsPackage = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  const tfjsVersion = (JSON.parse(readFileSync(tfjsPackage, 'utf8')) as { version: string }).version;
  const tfjsDir = join(dirname(tfjsPackage), 'dist');
  return [
    { name: 'onnxruntime-web', version: ortVersion, dir: ortDir, files: ['ort-wasm-simd-threaded.wasm'] },
    {
      name: '@tensorflow/tfjs-backend-wasm',
      version: tfjsVersion,
      dir: tfjsDir,
      files: readdirSync(tfjsDir)
        .filter((f) => f.endsWith('.wasm'))
        .sort(),
    },
  ];
}

/** The shipped (or given) sample batch that fits the plan, with its bytes. */
function findSamples(
  options: WebPageOptions,
  classes: readonly string[],
  inputShape: readonly number[],
): { bytes: Uint8Array; source: string; count: number } | undefined {
  const candidates = options.samples
    ? [options.samples]
    : existsSync(SHIPPED_SAMPLES_DIR)
      ? readdirSync(SHIPPED_SAMPLES_DIR)
          .filter((f) => f.endsWith('.safetensors'))
          .sort()
          .map((f) => join(SHIPPED_SAMPLES_DIR, f))
      : [];
  for (const path of candidates) {
    const bytes = readFileSync(path);
    const batch = decodeSampleBatch(bytes, path);
    if (sampleBatchFits(batch, classes, inputShape)) return { bytes, source: batch.source, count: batch.count };
    if (options.samples) {
      throw new BranchyCascadeError(
        'CASCADE_WEB_SAMPLES',
        `'${path}' holds samples [${batch.shape.join(', ')}] of classes ${JSON.stringify(batch.classes).slice(0, 120)}; the plan's network takes [${inputShape.join(', ')}] with classes ${JSON.stringify(classes).slice(0, 120)}.`,
        400,
      );
    }
  }
  return undefined;
}

/** The origins the page is served at: the listening address's, unless given. */
function pageOrigins(app: FastifyInstance, given: readonly string[] | undefined): Set<string> {
  if (given) return new Set(given);
  const address = app.server.address() as AddressInfo | string | null;
  if (address === null || typeof address === 'string') return new Set();
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const origins = new Set([`http://${host}:${address.port}`]);
  if (address.address === '127.0.0.1' || address.address === '::1') origins.add(`http://localhost:${address.port}`);
  return origins;
}

/**
 * Checks that unit `unit` of `plan` may serve the edge page: it must be the successor of the plan's first unit,
 * which the page runs.
 *
 * @throws BranchyCascadeError `CASCADE_WEB_UNIT` otherwise.
 */
export function checkServesPage(plan: DeploymentPlan, unit: UnitPlan): void {
  const first = plan.units[0];
  if (unit.index !== 1) {
    throw new BranchyCascadeError(
      'CASCADE_WEB_UNIT',
      `the edge page runs unit '${first.name}' in the browser and hands on to its successor '${first.successor}'; serve the page from '${first.successor}', not '${unit.name}'.`,
    );
  }
}

/**
 * Serves the edge page on the server of `unit`, which must be the successor of the plan's first unit (the unit the
 * page runs). Routes: {@link WEB_ROUTES}; the forward route already on the server takes the page's frames.
 *
 * @throws BranchyCascadeError `CASCADE_WEB_UNIT` when `unit` is not the first unit's successor,
 *   `CASCADE_WEB_NOT_BUILT` when the bundle is missing or was built against other package versions,
 *   `CASCADE_WEB_SAMPLES` for a sample batch that does not fit, `CASCADE_BAD_PLAN` for a first unit of another model.
 */
export function registerWebRoutes(app: FastifyInstance, unit: CascadeUnit, options: WebPageOptions): EdgePageConfig {
  const plan = unit.plan;
  const first = plan.units[0];
  checkServesPage(plan, unit.unit);
  const { dir } = planUnit(options.planDir, plan, first.name);
  const manifest = readManifest(dir);
  if (manifest.modelId !== plan.modelId) {
    throw new BranchyCascadeError(
      'CASCADE_BAD_PLAN',
      `unit directory '${dir}' belongs to model ${String(manifest.modelId).slice(0, 12)}…; the plan is for ${plan.modelId.slice(0, 12)}….`,
    );
  }
  const wasm = wasmPackages();
  const bundleDir = options.bundleDir ?? WEB_BUNDLE_DIR;
  const bundle = readBundle(bundleDir, wasm);
  const samples = findSamples(options, plan.spec.classes, plan.spec.input.shape);

  const wasmUrl = (pkg: WasmPackage) => `${WEB_ROUTES.wasm}${pkg.name.replace(/^@tensorflow\/tfjs-backend-wasm$/, 'tfjs-backend-wasm')}-${pkg.version}/`;
  const sentShape = plan.forward === 'input' ? [...plan.spec.input.shape] : [...plan.units[1].inputShape];
  const config: EdgePageConfig = {
    format: EDGE_PAGE_FORMAT,
    model: plan.model,
    modelId: plan.modelId,
    classes: [...plan.spec.classes],
    inputShape: [...plan.spec.input.shape],
    criterion: plan.spec.policy.criterion,
    thresholds: [...plan.spec.policy.thresholds],
    forward: plan.forward,
    unit: first,
    unitUrl: WEB_ROUTES.unit,
    successor: { unit: unit.unit.name, url: `/v1/units/${encodeURIComponent(unit.unit.name)}/forward`, deadlineMs: options.deadlineMs ?? 3000 },
    sentShape,
    wasm: { ort: wasmUrl(wasm[0]), tfjs: wasmUrl(wasm[1]) },
    ...(samples ? { samples: { url: WEB_ROUTES.samples, count: samples.count, source: samples.source } } : {}),
  };

  const assets = new Map<string, StaticAsset>();
  for (const file of bundle.files) {
    if (file.split('/').some((part) => part === '..' || part === '')) notBuilt(`the bundle lists '${file}', which is not a file inside it.`);
    const asset = StaticAsset.file(join(bundleDir, file), typeOf(file));
    assets.set(file === 'index.html' ? WEB_ROUTES.page : `${WEB_ROUTES.assets}${file}`, asset);
  }
  assets.set(WEB_ROUTES.config, StaticAsset.bytes(JSON.stringify(config), TYPES['.json']));
  const unitFiles = [
    MANIFEST_FILE,
    ...Object.keys(manifest.weights),
    ...(manifest.onnx ? [...manifest.onnx.stages, ...manifest.onnx.exits].map((e) => e.file) : []),
  ];
  for (const file of unitFiles) assets.set(`${WEB_ROUTES.unit}${file}`, StaticAsset.file(join(dir, file), typeOf(file)));
  for (const pkg of wasm)
    for (const file of pkg.files) assets.set(`${wasmUrl(pkg)}${file}`, StaticAsset.file(join(pkg.dir, file), TYPES['.wasm'], 'immutable'));
  if (samples) assets.set(WEB_ROUTES.samples, StaticAsset.bytes(samples.bytes, 'application/octet-stream'));
  for (const [path, asset] of assets) app.get(path, (request, reply) => asset.send(request, reply));

  const forwardPath = config.successor.url;
  const refuse = (reply: FastifyReply, origin: string) => {
    const message = `requests from origin ${origin} are refused; the page is served at ${[...pageOrigins(app, options.origins)].join(', ') || 'this server'}.`;
    return reply.code(403).header(ERROR_HEADER, 'CASCADE_WEB_ORIGIN').send({ code: 'CASCADE_WEB_ORIGIN', message });
  };
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
    const origin = request.headers.origin;
    if (origin === undefined) return;
    if (pageOrigins(app, options.origins).has(origin)) {
      reply.header('access-control-allow-origin', origin).header('vary', 'origin');
      return;
    }
    // A page of another origin may neither run this unit (POST) nor probe it (preflight); what it may GET is public.
    if (request.method !== 'GET' && request.method !== 'HEAD') return refuse(reply, origin);
  });
  app.options(forwardPath, async (request, reply) => {
    const origin = request.headers.origin;
    if (origin === undefined || !pageOrigins(app, options.origins).has(origin)) return refuse(reply, String(origin));
    return reply
      .code(204)
      .header('access-control-allow-methods', 'POST')
      .header('access-control-allow-headers', `content-type, ${FROM_HEADER}`)
      .header('access-control-max-age', '600')
      .send();
  });
  return config;
}
