/**
 * CPU per request of the server's HTTP path alone, next to a bare fastify server in the same process and run.
 *
 * `createServer` serves the shipped B-LeNet's manifest with an inference host that answers every batch at once
 * (label 7 at exit 1), so what is measured is reading, validating, batching and answering a single-sample frame;
 * the bare server parses the same body as a buffer and sends a fixed JSON reply of the same shape. Both are driven
 * by the closed-loop generator of `bench/load.ts` (64 connections) in this process, rounds alternating; the figure
 * is this process's CPU time per request (server and generator), and the difference of the medians is what the
 * branchy path costs beyond fastify's own.
 *
 * Run: node --import tsx bench/load-http-path.ts [--rounds 5] [--seconds 2]
 */
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { SHIPPED_MODEL_DIR } from '../src/io/shipped-models.ts';
import { mnistSplits } from '../src/data/index.ts';
import { readManifest } from '../src/io/model-dir.ts';
import { createServer, encodeInputsFrame, type InferenceHost } from '../src/serve/index.ts';
import { closedLoopLoad, type LoadRequest } from './load.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, seconds: { type: 'string', default: '2' } } });
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);

const probs = new Float32Array(10).fill(0.1);
const instantHost: InferenceHost = {
  runtime: 'instant',
  async run(x) {
    return { results: Array.from({ length: x.shape[0] }, () => ({ label: 7, exit: 1, score: 0.01, probs })), runMs: 0 };
  },
  async close() {},
};
// The logger as `branchy serve --log-level error` sets it up.
const branchy = createServer([{ name: 'b-lenet-mnist', dir: SHIPPED_MODEL_DIR, manifest: readManifest(SHIPPED_MODEL_DIR), host: instantHost }], {
  logger: { level: 'error', stream: createWriteStream('/dev/null') },
});
await branchy.app.listen({ host: '127.0.0.1', port: 0 });

const bare = Fastify();
const reply = JSON.stringify({
  model: 'b-lenet-mnist',
  results: [{ label: 7, class: '7', exit: 1, score: 0.01 }],
  thresholds: [0.46],
  timing: { queueMs: 1.9, batchMs: 3.2, batchSize: 12, totalMs: 5.4 },
});
bare.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
bare.post('/v1/models/:name/predict', async () => reply);
await bare.listen({ host: '127.0.0.1', port: 0 });

const portOf = (app: typeof bare | typeof branchy.app) => (app.server.address() as { port: number }).port;
const test = mnistSplits(1).test;
const requests: LoadRequest[] = Array.from({ length: 64 }, (_, i) => ({
  method: 'POST',
  path: '/v1/models/b-lenet-mnist/predict',
  headers: { 'content-type': 'application/octet-stream' },
  body: encodeInputsFrame(test.x.slice(i * 784, (i + 1) * 784), [1, 784]),
}));

/** This process's CPU µs per request over `seconds` of 64 closed-loop clients; every reply must be a 200. */
async function cpuPerRequest(port: number, seconds: number): Promise<number> {
  const before = process.cpuUsage();
  const r = await closedLoopLoad({ port, connections: 64, seconds, requests });
  const used = process.cpuUsage(before);
  if (r.byStatus.get(200) !== r.replies || r.errors > 0) throw new Error(`replies other than 200: ${[...r.byStatus]}, ${r.errors} errors`);
  return (used.user + used.system) / r.replies;
}

await cpuPerRequest(portOf(branchy.app), 1);
await cpuPerRequest(portOf(bare), 1);
const ours: number[] = [];
const reference: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  ours.push(await cpuPerRequest(portOf(branchy.app), SECONDS));
  reference.push(await cpuPerRequest(portOf(bare), SECONDS));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' ');
process.stdout.write(
  `CPU us per request, server + generator in one process (${ROUNDS} rounds of ${SECONDS} s, alternating):\n` +
    `  branchy HTTP path (instant host): ${list(ours)} (median ${median(ours).toFixed(0)})\n` +
    `  bare fastify:                     ${list(reference)} (median ${median(reference).toFixed(0)})\n` +
    `  branchy beyond fastify: ${(median(ours) - median(reference)).toFixed(0)} us per request\n`,
);
await branchy.close();
await bare.close();
