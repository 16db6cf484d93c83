/**
 * A successor's answer to a features frame: per sample the label, exit, score, probabilities and route, as a
 * tensor frame (the same format as the features, so both sides use one decoder).
 *
 * @module
 */
import { decodeFrame, encodeFrame } from '../io/frame.ts';
import { packResults, unpackResults } from '../infer/packed-results.ts';
import type { ExitResult, ExitRoute } from '../infer/types.ts';
import { BranchyCascadeError } from './errors.ts';

/**
 * Encodes results in order; every result carries its route. `serviceMs`, the time the answering unit took from
 * receiving the frame to answering it, lets the sender tell the link's share of a hop from the successor's.
 */
export function encodeAnswers(results: readonly ExitResult[], classes: number, serviceMs?: number): Uint8Array {
  const n = results.length;
  const { labels, exits, scores, probs } = packResults(results, classes);
  return encodeFrame(
    {
      label: { dtype: 'I32', shape: [n], data: labels },
      exit: { dtype: 'I32', shape: [n], data: exits },
      score: { dtype: 'F64', shape: [n], data: scores },
      probs: { dtype: 'F32', shape: [n, classes], data: probs },
    },
    { kind: 'answers', routes: JSON.stringify(results.map((r) => r.route)), ...(serviceMs === undefined ? {} : { serviceMs: serviceMs.toFixed(3) }) },
  );
}

function bad(message: string): never {
  throw new BranchyCascadeError('CASCADE_BAD_FRAME', `answer frame: ${message}`, 502);
}

/** Whether a decoded value has the shape of an {@link ExitRoute}. */
function isRoute(r: unknown): r is ExitRoute {
  const o = r as Partial<ExitRoute>;
  const hopOk = (h: unknown) => {
    const x = h as Record<string, unknown>;
    return typeof x === 'object' && x !== null && typeof x.unit === 'string' && typeof x.ms === 'number';
  };
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.unit === 'string' &&
    Number.isInteger(o.hops) &&
    typeof o.degraded === 'boolean' &&
    (o.reason === undefined || typeof o.reason === 'string') &&
    Array.isArray(o.path) &&
    o.path.every(hopOk)
  );
}

/**
 * Decodes an answer frame of `count` samples with `classes` classes.
 *
 * @throws BranchyCascadeError `CASCADE_BAD_FRAME` when it is not such a frame.
 */
export function decodeAnswers(bytes: Uint8Array, count: number, classes: number): ExitResult[] {
  return decodeAnswerFrame(bytes, count, classes).results;
}

/**
 * {@link decodeAnswers}, with the answering unit's service time when the frame carries one.
 *
 * @throws BranchyCascadeError `CASCADE_BAD_FRAME` when it is not such a frame, or its `serviceMs` is no number ≥ 0.
 */
export function decodeAnswerFrame(bytes: Uint8Array, count: number, classes: number): { results: ExitResult[]; serviceMs?: number } {
  let frame;
  try {
    frame = decodeFrame(bytes, 'answer frame');
  } catch (error) {
    bad(`${(error as Error).message}`);
  }
  const { tensors, metadata } = frame;
  if (metadata.kind !== 'answers') bad(`kind is ${JSON.stringify(metadata.kind)}; expected "answers".`);
  const want = { label: 'I32', exit: 'I32', score: 'F64', probs: 'F32' } as const;
  for (const [name, dtype] of Object.entries(want)) {
    const t = tensors[name];
    const rank = name === 'probs' ? 2 : 1;
    if (t === undefined || t.dtype !== dtype || t.shape.length !== rank || t.shape[0] !== count)
      bad(`tensor '${name}' must be ${dtype} of rank ${rank} with ${count} rows.`);
  }
  if (tensors.probs.shape[1] !== classes) bad(`'probs' has ${tensors.probs.shape[1]} classes; expected ${classes}.`);
  const labels = tensors.label.data as Int32Array;
  const exits = tensors.exit.data as Int32Array;
  for (let i = 0; i < count; i++) {
    if (labels[i] < 0 || labels[i] >= classes) bad(`label ${labels[i]} of sample ${i} is not a class index below ${classes}.`);
    if (exits[i] < 1) bad(`exit ${exits[i]} of sample ${i} is not an exit number ≥ 1.`);
  }
  let routes: (ExitRoute | undefined)[];
  try {
    routes = JSON.parse(metadata.routes ?? 'null') as (ExitRoute | undefined)[];
  } catch {
    bad('its routes are not JSON.');
  }
  if (!Array.isArray(routes) || routes.length !== count) bad(`it carries no route per sample.`);
  routes.forEach((r, i) => {
    if (r === null || r === undefined) return;
    if (!isRoute(r)) bad(`route ${i} must be {unit, hops, degraded, path: [{unit, ms, sentBytes, receivedBytes}]}.`);
  });
  const results = unpackResults({
    labels: tensors.label.data as Int32Array,
    exits: tensors.exit.data as Int32Array,
    scores: tensors.score.data as Float64Array,
    probs: tensors.probs.data as Float32Array,
  });
  let serviceMs: number | undefined;
  if (metadata.serviceMs !== undefined) {
    serviceMs = Number(metadata.serviceMs);
    if (!(Number.isFinite(serviceMs) && serviceMs >= 0)) bad(`'serviceMs' is ${JSON.stringify(metadata.serviceMs.slice(0, 40))}; expected a number of ms ≥ 0.`);
  }
  return { results: results.map((r, i) => (routes[i] ? { ...r, route: routes[i] } : r)), ...(serviceMs === undefined ? {} : { serviceMs }) };
}
