import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeAnswerFrame, encodeAnswers } from '../../src/cascade/answer-frame.ts';
import type { ExitResult } from '../../src/infer/types.ts';
import { encodeFrame, type TensorEntry } from '../../src/io/frame.ts';

const CLASSES = 3;
const route = { unit: 'cloud', hops: 1, degraded: false, path: [{ unit: 'cloud', ms: 1.5, sentBytes: 100, receivedBytes: 40 }] };
const answer = (label: number): ExitResult => ({ label, exit: 2, score: 0.25, probs: Float32Array.of(0.2, 0.3, 0.5), route });

/** An answer frame as `encodeAnswers` writes it, with some tensors or metadata replaced. */
function frame(tensors: Partial<Record<'label' | 'exit' | 'score' | 'probs', TensorEntry>>, routes: unknown = [route, route]): Uint8Array {
  return encodeFrame(
    {
      label: { dtype: 'I32', shape: [2], data: Int32Array.of(0, 2) },
      exit: { dtype: 'I32', shape: [2], data: Int32Array.of(1, 2) },
      score: { dtype: 'F64', shape: [2], data: Float64Array.of(0.1, 0.2) },
      probs: { dtype: 'F32', shape: [2, CLASSES], data: new Float32Array(2 * CLASSES) },
      ...tensors,
    },
    { kind: 'answers', routes: JSON.stringify(routes) },
  );
}

const refused = (bytes: Uint8Array, pattern: RegExp) =>
  assert.throws(
    () => decodeAnswerFrame(bytes, 2, CLASSES),
    (e: { code?: string; message: string }) => e.code === 'CASCADE_BAD_FRAME' && pattern.test(e.message),
  );

describe('answer frames', () => {
  it('round-trip labels, exits, scores, probabilities, routes and the service time', () => {
    const results = [answer(0), answer(2)];
    const decoded = decodeAnswerFrame(encodeAnswers(results, CLASSES, 1.25), 2, CLASSES);
    assert.equal(decoded.serviceMs, 1.25);
    assert.deepEqual(
      decoded.results.map((r) => [r.label, r.exit, r.score, Array.from(r.probs), r.route]),
      results.map((r) => [r.label, r.exit, r.score, Array.from(r.probs, (p) => Math.fround(p)), r.route]),
    );
    assert.ok(frame({}).length > 0 && decodeAnswerFrame(frame({}), 2, CLASSES).results.length === 2);
  });

  it('refuses tensors of the wrong rank, labels outside the classes, exits below 1 and malformed routes', () => {
    refused(frame({ probs: { dtype: 'F32', shape: [2, CLASSES, 1], data: new Float32Array(2 * CLASSES) } }), /'probs' must be F32 of rank 2/);
    refused(frame({ label: { dtype: 'I32', shape: [2, 1], data: Int32Array.of(0, 1) } }), /'label' must be I32 of rank 1/);
    refused(frame({ label: { dtype: 'I32', shape: [2], data: Int32Array.of(0, CLASSES) } }), /label 3 of sample 1 is not a class index below 3/);
    refused(frame({ label: { dtype: 'I32', shape: [2], data: Int32Array.of(-1, 0) } }), /label -1 of sample 0/);
    refused(frame({ exit: { dtype: 'I32', shape: [2], data: Int32Array.of(0, 1) } }), /exit 0 of sample 0 is not an exit number/);
    for (const bad of [{ unit: 'cloud', hops: 1, degraded: false }, { ...route, hops: 'one' }, { ...route, path: [{ unit: 7 }] }, 5]) {
      refused(frame({}, [route, bad]), /route 1 must be/);
    }
  });
});
