import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { Rng } from '../../src/common/rng.ts';
import { encodeFrame, type FrameDtype, type TensorEntry } from '../../src/io/frame.ts';
import { encodeInputsFrame, type BranchyServer } from '../../src/serve/index.ts';
import { bodyOf, digits, listen, predictJson, served, type InProcessModel } from './fixtures.ts';

const BODY_LIMIT = 64 * 1024;
const MODEL = 'b-lenet-mnist';

/** One malformed request: where it goes, what it carries, and a name for failure messages. */
interface Malformed {
  kind: string;
  path?: string;
  query?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(items.length)];

function sampleValues(rng: Rng, count: number): number[] {
  return Array.from({ length: count }, () => Math.round(rng.next() * 1000) / 1000);
}

function tensor(dtype: FrameDtype, shape: number[], fill = 0.5): TensorEntry {
  const n = shape.reduce((a, b) => a * b, 1);
  const data =
    dtype === 'F32'
      ? new Float32Array(n).fill(fill)
      : dtype === 'F64'
        ? new Float64Array(n).fill(fill)
        : dtype === 'I32'
          ? new Int32Array(n)
          : new Uint8Array(n);
  return { dtype, shape, data };
}

const jsonType = { 'content-type': 'application/json' };
const binary = { 'content-type': 'application/octet-stream' };

/** Generators of malformed requests, each drawing its details from the seeded generator. */
const generators: ((rng: Rng) => Malformed)[] = [
  (rng) => ({
    kind: 'wrong content type',
    headers: {
      'content-type': pick(rng, ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'image/png', 'application/x-www-form-urlencoded']),
    },
    body: JSON.stringify({ inputs: [sampleValues(rng, 784)] }),
  }),
  (rng) => {
    const text = JSON.stringify({ inputs: [sampleValues(rng, 784)] });
    return { kind: 'truncated JSON', headers: jsonType, body: text.slice(0, 1 + rng.int(text.length - 2)) };
  },
  (rng) => ({ kind: 'garbage JSON', headers: jsonType, body: Array.from({ length: 1 + rng.int(40) }, () => String.fromCharCode(33 + rng.int(90))).join('') }),
  (rng) => ({ kind: 'empty JSON body', headers: jsonType, body: pick(rng, ['', ' ', 'null', '[]', '{}', '"inputs"', '42']) }),
  (rng) => ({
    kind: 'inputs not a list of lists',
    headers: jsonType,
    body: JSON.stringify({ inputs: pick(rng, [null, 3, 'x', {}, [1, 2, 3], [[[0.5]]], []]) }),
  }),
  (rng) => {
    const n = pick(rng, [0, 1, 783, 785, 28, 1568, rng.int(2000)]);
    return { kind: `sample of ${n} values`, headers: jsonType, body: JSON.stringify({ inputs: [sampleValues(rng, 784), sampleValues(rng, n)] }) };
  },
  (rng) => {
    const values: unknown[] = sampleValues(rng, 784);
    values[rng.int(784)] = pick(rng, ['NaN', 'Infinity', null, '0.5', true, [], {}]);
    return { kind: 'non-number value', headers: jsonType, body: JSON.stringify({ inputs: [values] }) };
  },
  (rng) => {
    const values = sampleValues(rng, 784).map(String);
    values[rng.int(784)] = pick(rng, ['1e999', '-1e999', '1e400']);
    return { kind: 'infinite value', headers: jsonType, body: `{"inputs":[[${values.join(',')}]]}` };
  },
  (rng) => ({
    kind: 'unknown field',
    headers: jsonType,
    body: JSON.stringify({ inputs: [sampleValues(rng, 784)], [pick(rng, ['input', 'thresholds', 'x'])]: 1 }),
  }),
  (rng) => {
    const dtype = pick(rng, ['F64', 'I32', 'U8'] as const);
    return { kind: `frame of ${dtype}`, headers: binary, body: encodeFrame({ inputs: tensor(dtype, [1, 784]) }) };
  },
  (rng) => {
    const shape = pick(rng, [[784], [1, 28, 28], [1, 28, 28, 3], [2, 392], [1, 783], [0, 784], [1, 1, 784], []]);
    return { kind: `frame of shape [${shape}]`, headers: binary, body: encodeFrame({ inputs: tensor('F32', shape) }) };
  },
  (rng) => {
    const frame = encodeInputsFrame(new Float32Array(784).fill(0.2), [1, 784]);
    return { kind: 'truncated frame', headers: binary, body: frame.slice(0, rng.int(frame.length - 1)) };
  },
  (rng) => {
    const frame = encodeInputsFrame(new Float32Array(784).fill(0.2), [1, 784]);
    const view = new DataView(frame.buffer);
    view.setUint32(0, pick(rng, [0, 3, 1 << 30, 0xffffffff]), true);
    view.setUint32(4, rng.int(3), true);
    return { kind: 'bad frame header length', headers: binary, body: frame };
  },
  (rng) => {
    const frame = encodeInputsFrame(new Float32Array(784).fill(0.2), [1, 784]);
    for (let k = 0; k < 4; k++) frame[8 + rng.int(40)] = rng.int(256);
    return { kind: 'corrupt frame header', headers: binary, body: frame };
  },
  (rng) => ({
    kind: 'frame with a wrong or extra tensor',
    headers: binary,
    body: encodeFrame(rng.next() < 0.5 ? { pixels: tensor('F32', [1, 784]) } : { inputs: tensor('F32', [1, 784]), extra: tensor('F32', [1]) }),
  }),
  (rng) => ({
    kind: 'frame with a non-finite value',
    headers: binary,
    body: encodeInputsFrame(
      Float32Array.from({ length: 784 }, (_, i) => (i === 300 ? pick(rng, [NaN, Infinity, -Infinity]) : 0.1)),
      [1, 784],
    ),
  }),
  (rng) => ({ kind: 'oversize body', headers: pick(rng, [jsonType, binary]), body: 'x'.repeat(BODY_LIMIT + 1 + rng.int(BODY_LIMIT)) }),
  (rng) => ({
    kind: 'unknown model',
    path: `/v1/models/${pick(rng, ['nope', 'b-lenet', 'B-LENET-MNIST', 'lenet-mnist', 'x'.repeat(100)])}/predict`,
    headers: jsonType,
    body: JSON.stringify({ inputs: [sampleValues(rng, 784)] }),
  }),
  (rng) => ({
    kind: 'path characters in model name',
    path: `/v1/models/${pick(rng, ['..%2F..%2Fetc', '.hidden', '%2E%2E', 'a%00b', 'a%5Cb', '%20', '-x', 'x'.repeat(129), 'b-lenet-mnist%2F..'])}/predict`,
    headers: jsonType,
    body: JSON.stringify({ inputs: [sampleValues(rng, 784)] }),
  }),
  (rng) => ({
    kind: 'no such route',
    path: pick(rng, ['/v1/models/b-lenet-mnist/predict/x', '/v1/predict', '/v2/models/b-lenet-mnist/predict', '/v1/models//predict']),
    headers: jsonType,
    body: '{}',
  }),
  (rng) => ({
    kind: 'bad thresholds',
    query: `?thresholds=${encodeURIComponent(pick(rng, ['', 'x', '0.1,0.2', '-1', '3', 'NaN', 'Infinity', '1e999', '0x10', '0.1,,', ' ']))}`,
    headers: jsonType,
    body: JSON.stringify({ inputs: [sampleValues(rng, 784)] }),
  }),
  (rng) => ({
    kind: 'bad thresholds header',
    headers: { ...jsonType, 'x-branchy-thresholds': pick(rng, ['abc', '5', '0.1,0.1', '-0.5']) },
    body: JSON.stringify({ inputs: [sampleValues(rng, 784)] }),
  }),
  (rng) => ({
    kind: 'bad query',
    query: pick(rng, ['?probs=yes', '?probs=1&probs=0', '?threshold=0.1', '?thresholds=0.1&thresholds=0.2', '?x=1']),
    headers: jsonType,
    body: JSON.stringify({ inputs: [sampleValues(rng, 784)] }),
  }),
  (rng) => ({
    kind: 'thresholds twice',
    query: '?thresholds=0.1',
    headers: { ...jsonType, 'x-branchy-thresholds': '0.2' },
    body: JSON.stringify({ inputs: [sampleValues(rng, 784)] }),
  }),
];

describe('branchy serve: malformed requests', () => {
  let model: InProcessModel;
  let server: BranchyServer;
  let url: string;

  before(async () => {
    model = await served(SHIPPED_MODEL_DIR, MODEL);
    ({ server, url } = await listen([model], { bodyLimit: BODY_LIMIT, maxWaitMs: 0 }));
  });
  after(async () => {
    await server?.close();
    await model?.host.close();
  });

  it('1,000 seeded malformed requests each get a 4xx {code, message} naming the problem, and a valid request after each succeeds', async () => {
    const rng = new Rng(2024);
    const valid = digits(1, 7)[0];
    const expected = ((await (await predictJson(url, MODEL, [valid])).json()) as { results: { label: number }[] }).results[0].label;
    const codes = new Map<string, Set<string>>();
    for (let i = 0; i < 1000; i++) {
      const bad = generators[i % generators.length](rng);
      const res = await fetch(`${url}${bad.path ?? `/v1/models/${MODEL}/predict`}${bad.query ?? ''}`, {
        method: 'POST',
        headers: bad.headers,
        body: typeof bad.body === 'string' || bad.body === undefined ? bad.body : bodyOf(bad.body),
      });
      const text = await res.text();
      assert.ok(res.status >= 400 && res.status < 500, `#${i} ${bad.kind}: status ${res.status} ${text}`);
      const error = JSON.parse(text) as { code: unknown; message: unknown };
      assert.match(String(error.code), /^[A-Z][A-Z0-9_]+$/, `#${i} ${bad.kind}: ${text}`);
      assert.ok(typeof error.message === 'string' && error.message.length > 10, `#${i} ${bad.kind}: ${text}`);
      if (!codes.has(bad.kind)) codes.set(bad.kind, new Set());
      codes.get(bad.kind)?.add(`${res.status} ${error.code}`);
      const ok = await predictJson(url, MODEL, [valid]);
      assert.equal(ok.status, 200, `valid request after #${i} ${bad.kind}`);
      assert.equal(((await ok.json()) as { results: { label: number }[] }).results[0].label, expected);
    }
    const seen = (kind: string) => [...(codes.get(kind) ?? [])].join(' ');
    assert.match(seen('wrong content type'), /^(415 SERVE_UNSUPPORTED_MEDIA_TYPE ?)+$/);
    assert.match(seen('oversize body'), /^(413 SERVE_BODY_TOO_LARGE ?)+$/);
    assert.match(seen('infinite value'), /^400 SERVE_BAD_(INPUTS|BODY)( 400 SERVE_BAD_(INPUTS|BODY))?$/);
    assert.match(seen('frame with a non-finite value'), /^400 SERVE_BAD_INPUTS$/);
    assert.match(seen('unknown model'), /^404 SERVE_UNKNOWN_MODEL$/);
    assert.match(seen('path characters in model name'), /400 SERVE_BAD_MODEL_NAME/);
    assert.match(seen('truncated frame'), /400 FRAME_/);
    assert.match(seen('bad thresholds'), /400 EXIT_THRESHOLD_/);
  });
});
