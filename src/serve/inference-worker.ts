/**
 * The body of an inference thread (started by `WorkerInferenceHost` through `inference-worker.js`): opens one
 * model directory with `openModel` and runs `runEarlyExit` on each batch it is sent, answering with the results
 * packed into transferable arrays.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openModel, type OpenModelOptions } from '../open/open-model.ts';
import { packResults } from '../infer/packed-results.ts';
import { runEarlyExit } from '../infer/runner.ts';
import { errorReply } from './errors.ts';
import type { WorkerReply, WorkerRequest } from './inference-host.ts';

const { dir, open } = workerData as { dir: string; open: OpenModelOptions };
const port = parentPort;
if (port === null) throw new Error('inference-worker.ts runs only as a worker thread.');

function failure(error: unknown) {
  const { status, body } = errorReply(error);
  return { status, code: body.code, message: body.message };
}

try {
  const { net } = await openModel(dir, open);
  const classes = net.spec.classes.length;
  port.on('message', (request: WorkerRequest) => {
    void (async () => {
      let reply: WorkerReply;
      try {
        const started = performance.now();
        const { results } = await runEarlyExit(net, { data: request.data, shape: request.shape }, { thresholds: request.thresholds });
        const runMs = performance.now() - started;
        const { labels, exits, scores, probs } = packResults(results, classes);
        reply = { type: 'results', id: request.id, runMs, labels, exits, scores, probs };
        port.postMessage(reply, [labels.buffer, exits.buffer, scores.buffer, probs.buffer]);
        return;
      } catch (error) {
        reply = { type: 'error', id: request.id, error: failure(error) };
      }
      port.postMessage(reply);
    })();
  });
  port.postMessage({ type: 'ready', runtime: net.runtime } satisfies WorkerReply);
} catch (error) {
  port.postMessage({ type: 'failed', error: failure(error) } satisfies WorkerReply);
}
