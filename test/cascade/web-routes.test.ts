import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { createUnitServer } from '../../src/cascade/http.ts';
import { decodeSampleBatch } from '../../src/cascade/sample-batch.ts';
import { chooseEncoding } from '../../src/cascade/static-asset.ts';
import type { DeploymentPlan } from '../../src/cascade/types.ts';
import { CascadeUnit } from '../../src/cascade/unit.ts';
import type { EdgePageConfig } from '../../src/cascade/web-config.ts';
import { PAGE_CSP, SHIPPED_SAMPLES_DIR } from '../../src/cascade/web-routes.ts';
import { FASHION_MNIST_CLASSES } from '../../src/data/classes.ts';
import { SHIPPED_FASHION_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { splitModel, writePlan } from '../../src/cascade/plan.ts';
import { loadModelDir } from '../../src/io/model-dir.ts';
import { tempDir } from '../helpers.ts';
import { cloudWithPage, fakeBundle, installedWasmVersions, lenetPlan } from '../web/fixtures.ts';

const require = createRequire(import.meta.url);

describe("the edge page's routes on the cloud unit's server", () => {
  let plan: DeploymentPlan;
  let planDir: string;
  let cloud: Awaited<ReturnType<typeof cloudWithPage>>;
  let origin: string;

  before(async () => {
    ({ plan, planDir } = lenetPlan());
    cloud = await cloudWithPage(planDir);
    origin = cloud.url;
  });

  after(async () => {
    await cloud?.server.close();
  });

  it('serves the page with a strict Content-Security-Policy, no inline script, no framing', async () => {
    const r = await fetch(`${cloud.url}/`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
    const csp = r.headers.get('content-security-policy') ?? '';
    assert.equal(csp, PAGE_CSP);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'(;|$)/);
    assert.doesNotMatch(csp, /'unsafe-inline'|'unsafe-eval'|\*|https?:/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('access-control-allow-origin'), null, 'no CORS header without an Origin');
  });

  it('tells the page the plan, its unit, the successor, the shipped test batch and the wasm URLs', async () => {
    const config = (await (await fetch(`${cloud.url}/web/config.json`)).json()) as EdgePageConfig;
    assert.equal(config.modelId, plan.modelId);
    assert.deepEqual(config.unit, plan.units[0]);
    assert.deepEqual(config.successor, { unit: 'cloud', url: '/v1/units/cloud/forward', deadlineMs: 3000 });
    assert.deepEqual(config.sentShape, [30, 30, 5]);
    assert.equal(config.samples?.count, 200);
    const versions = installedWasmVersions();
    assert.equal(config.wasm.ort, `/web/wasm/onnxruntime-web-${versions['onnxruntime-web']}/`);
    const samples = decodeSampleBatch(new Uint8Array(await (await fetch(`${cloud.url}${config.samples!.url}`)).arrayBuffer()));
    assert.deepEqual(samples.classes, plan.spec.classes);
    assert.deepEqual(samples.shape, [28, 28, 1]);
  });

  it("serves the first unit's directory read-only: branchy.json and only the files it lists", async () => {
    const manifest = JSON.parse(readFileSync(join(planDir, 'device', 'branchy.json'), 'utf8')) as { weights: Record<string, unknown> };
    const listed = ['branchy.json', ...Object.keys(manifest.weights), 'stage_1.onnx', 'exit_1.onnx'];
    for (const file of listed) {
      const r = await fetch(`${cloud.url}/web/unit/${file}`);
      assert.equal(r.status, 200, file);
      assert.deepEqual(Buffer.from(await r.arrayBuffer()), readFileSync(join(planDir, 'device', file)), file);
    }
    for (const path of ['/web/unit/../plan.json', '/web/unit/%2e%2e%2fplan.json', '/web/unit/stage_2.onnx', '/web/unit/', '/plan.json', '/web/manifest.json']) {
      const r = await fetch(`${cloud.url}${path}`);
      assert.equal(r.status, 404, path);
    }
    for (const method of ['PUT', 'DELETE', 'POST']) {
      const r = await fetch(`${cloud.url}/web/unit/branchy.json`, { method });
      assert.equal(r.status, 404, method);
    }
  });

  it("serves onnxruntime-web's wasm from the installed package, brotli or gzip when accepted, revalidated by ETag", async () => {
    const path = `/web/wasm/onnxruntime-web-${installedWasmVersions()['onnxruntime-web']}/ort-wasm-simd-threaded.wasm`;
    const raw = readFileSync(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
    const br = await cloud.server.app.inject({ url: path, headers: { 'accept-encoding': 'gzip, deflate, br' } });
    assert.equal(br.statusCode, 200);
    assert.equal(br.headers['content-type'], 'application/wasm');
    assert.equal(br.headers['content-encoding'], 'br');
    assert.match(String(br.headers['cache-control']), /immutable/);
    assert.ok(br.rawPayload.length < raw.length / 3, `${br.rawPayload.length} bytes for ${raw.length}`);
    assert.ok(brotliDecompressSync(br.rawPayload).equals(raw));
    const gz = await cloud.server.app.inject({ url: path, headers: { 'accept-encoding': 'gzip;q=1, br;q=0' } });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.ok(gunzipSync(gz.rawPayload).equals(raw));
    const plain = await cloud.server.app.inject({ url: path });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.ok(plain.rawPayload.equals(raw));
    const again = await cloud.server.app.inject({ url: path, headers: { 'if-none-match': String(br.headers.etag) } });
    assert.equal(again.statusCode, 304);
    const tfjs = `/web/wasm/tfjs-backend-wasm-${installedWasmVersions()['@tensorflow/tfjs-backend-wasm']}/tfjs-backend-wasm-simd.wasm`;
    assert.equal((await cloud.server.app.inject({ url: tfjs })).statusCode, 200);
  });

  it("answers cross-origin requests for the page's origin only", async () => {
    const frame = new Uint8Array(16);
    const forward = (o: string) =>
      fetch(`${cloud.url}/v1/units/cloud/forward`, { method: 'POST', headers: { origin: o, 'content-type': 'application/octet-stream' }, body: frame });
    const foreign = await forward('http://evil.example:8080');
    assert.equal(foreign.status, 403);
    assert.equal(foreign.headers.get('branchy-error'), 'CASCADE_WEB_ORIGIN');
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);
    const own = await forward(origin);
    assert.equal(own.status, 400, 'reaches the unit, which refuses the malformed frame');
    assert.equal(own.headers.get('access-control-allow-origin'), origin);
    const localhost = await forward(origin.replace('127.0.0.1', 'localhost'));
    assert.equal(localhost.headers.get('access-control-allow-origin'), origin.replace('127.0.0.1', 'localhost'));
    const preflight = (o: string) =>
      fetch(`${cloud.url}/v1/units/cloud/forward`, { method: 'OPTIONS', headers: { origin: o, 'access-control-request-method': 'POST' } });
    const ok = await preflight(origin);
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-methods'), 'POST');
    assert.equal((await preflight('http://evil.example')).status, 403);
    const get = await fetch(`${cloud.url}/web/config.json`, { headers: { origin: 'http://evil.example' } });
    assert.equal(get.status, 200, 'what the page loads is public');
    assert.equal(get.headers.get('access-control-allow-origin'), null, 'but not readable by another origin');
  });
});

describe('the edge page refuses what it cannot serve', () => {
  it('on any unit but the first unit’s successor (CASCADE_WEB_UNIT)', async () => {
    const { planDir } = lenetPlan();
    const device = await CascadeUnit.open(planDir, 'device', { open: { engine: 'ort', threads: 1 } });
    try {
      assert.throws(() => createUnitServer(device, { web: { planDir, bundleDir: fakeBundle() } }), {
        code: 'CASCADE_WEB_UNIT',
        message: /serve the page from 'cloud'/,
      });
    } finally {
      await device.close();
    }
  });

  it('without a bundle, or with one built against other wasm packages (CASCADE_WEB_NOT_BUILT)', async () => {
    const { planDir } = lenetPlan();
    const cloud = await CascadeUnit.open(planDir, 'cloud', { open: { engine: 'ort', threads: 1 } });
    try {
      assert.throws(() => createUnitServer(cloud, { web: { planDir, bundleDir: join(tempDir(), 'none') } }), {
        code: 'CASCADE_WEB_NOT_BUILT',
        message: /npm run build/,
      });
      const stale = fakeBundle({ ...installedWasmVersions(), 'onnxruntime-web': '1.0.0' });
      assert.throws(() => createUnitServer(cloud, { web: { planDir, bundleDir: stale } }), { code: 'CASCADE_WEB_NOT_BUILT', message: /onnxruntime-web 1.0.0/ });
    } finally {
      await cloud.close();
    }
  });

  it('with a sample batch of other classes (CASCADE_WEB_SAMPLES); offers the Fashion-MNIST batch to a Fashion-MNIST plan', async () => {
    const { planDir } = lenetPlan();
    const cloud = await CascadeUnit.open(planDir, 'cloud', { open: { engine: 'ort', threads: 1 } });
    try {
      const samples = join(SHIPPED_SAMPLES_DIR, 'fashion-mnist-test.safetensors');
      assert.throws(() => createUnitServer(cloud, { web: { planDir, bundleDir: fakeBundle(), samples } }), { code: 'CASCADE_WEB_SAMPLES' });
    } finally {
      await cloud.close();
    }
    const fashionDir = join(tempDir(), 'fashion');
    writePlan(fashionDir, splitModel(loadModelDir(SHIPPED_FASHION_MODEL_DIR), { at: [1], names: ['phone', 'server'] }));
    const server = await CascadeUnit.open(fashionDir, 'server', { open: { engine: 'ort', threads: 1 } });
    const app = createUnitServer(server, { web: { planDir: fashionDir, bundleDir: fakeBundle() } });
    try {
      const config = (await app.app.inject({ url: '/web/config.json' })).json() as EdgePageConfig;
      assert.match(config.samples?.source ?? '', /Fashion-MNIST/);
      assert.deepEqual(config.classes, FASHION_MNIST_CLASSES);
      assert.equal(config.unit.name, 'phone');
    } finally {
      await app.close();
    }
  });
});

describe('Accept-Encoding', () => {
  it('prefers brotli, then gzip, and honours q=0', () => {
    assert.equal(chooseEncoding(undefined), undefined);
    assert.equal(chooseEncoding('gzip, deflate, br, zstd'), 'br');
    assert.equal(chooseEncoding('gzip'), 'gzip');
    assert.equal(chooseEncoding('br;q=0, gzip;q=0.5'), 'gzip');
    assert.equal(chooseEncoding('identity'), undefined);
    assert.equal(chooseEncoding('BR'), 'br');
  });
});
