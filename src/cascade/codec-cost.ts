/**
 * What serialising and parsing the frames between units costs on one machine: features frames in each dtype and
 * answer frames, each as a fixed cost per frame plus a cost per byte, measured by encoding and decoding real
 * frames of two sizes.
 *
 * @module
 */
import { Rng } from '../common/rng.ts';
import type { ExitResult } from '../infer/types.ts';
import { decodeAnswers, encodeAnswers } from './answer-frame.ts';
import { decodeFeatures, encodeFeatures } from './feature-codec.ts';
import { FEATURE_DTYPES, type FeatureDtype } from './types.ts';

/** A cost of `fixedMs + msPerByte × bytes` for one frame. */
export interface LinearCost {
  fixedMs: number;
  msPerByte: number;
}

/** Encoding (on the sender) and decoding (on the receiver) of one kind of frame. */
export interface FrameCodecCost {
  encode: LinearCost;
  decode: LinearCost;
}

/** The frame costs of one machine. */
export interface CodecCost {
  /** Features frames per dtype (int8 includes quantising, f16 rounding). */
  features: Record<FeatureDtype, FrameCodecCost>;
  /** Answer frames (labels, exits, scores, probabilities and routes). */
  answers: FrameCodecCost;
}

/** How {@link measureCodecCost} measures. */
export interface CodecMeasureOptions {
  /** Classes of the answers (default 10). */
  classes?: number;
  /** One sample's features (default [14, 14, 16]: 12.5 KB in f32). */
  sampleShape?: readonly number[];
  /** Timed repeats per size, of which the median counts (default 40). */
  repeats?: number;
}

/** The time of `fixedMs + msPerByte × bytes`. */
export function codecMs(cost: LinearCost, bytes: number): number {
  return cost.fixedMs + cost.msPerByte * bytes;
}

/** `cost` on a machine `speedFactor` times as fast. */
export function scaleCodec(cost: CodecCost, speedFactor: number): CodecCost {
  const line = (c: LinearCost): LinearCost => ({ fixedMs: c.fixedMs / speedFactor, msPerByte: c.msPerByte / speedFactor });
  const frame = (f: FrameCodecCost): FrameCodecCost => ({ encode: line(f.encode), decode: line(f.decode) });
  return {
    features: Object.fromEntries(FEATURE_DTYPES.map((d) => [d, frame(cost.features[d])])) as Record<FeatureDtype, FrameCodecCost>,
    answers: frame(cost.answers),
  };
}

function medianMs(repeats: number, run: () => unknown): number {
  for (let i = 0; i < 3; i++) run();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    run();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

/** The line through (small bytes, small ms) and (large bytes, large ms), kept non-negative. */
function fit(small: { bytes: number; ms: number }, large: { bytes: number; ms: number }): LinearCost {
  const msPerByte = Math.max(0, (large.ms - small.ms) / (large.bytes - small.bytes));
  return { fixedMs: Math.max(0, small.ms - msPerByte * small.bytes), msPerByte };
}

/** A representative answer, with the route a successor reports (one hop in its path). */
function answers(count: number, classes: number, rng: Rng): ExitResult[] {
  return Array.from({ length: count }, (_, i) => {
    const probs = new Float32Array(classes).map(() => rng.next());
    return {
      label: i % classes,
      probs,
      exit: 2,
      score: rng.next(),
      route: { unit: 'cloud', hops: 1, degraded: false, path: [{ unit: 'cloud', ms: 1 + rng.next(), sentBytes: 18_000 + i, receivedBytes: 300 + i }] },
    };
  });
}

/**
 * Measures this machine's frame costs: encodes and decodes features frames of 1 and 16 samples in every dtype,
 * and answer frames of 1 and 16 answers, and fits a fixed and a per-byte cost to each (median over `repeats`
 * runs per size, after warm-up). Takes a few tenths of a second.
 */
export function measureCodecCost(options: CodecMeasureOptions = {}): CodecCost {
  const classes = options.classes ?? 10;
  const sampleShape = [...(options.sampleShape ?? [14, 14, 16])];
  const repeats = options.repeats ?? 40;
  const per = sampleShape.reduce((a, b) => a * b, 1);
  const rng = new Rng(1);
  const meta = { modelId: 'f'.repeat(64), stage: 1, thresholds: [0.123456789], from: 'device' };
  const sizes = [1, 16];
  const features = {} as Record<FeatureDtype, FrameCodecCost>;
  for (const dtype of FEATURE_DTYPES) {
    const points = sizes.map((n) => {
      const data = new Float32Array(n * per).map(() => rng.normal());
      const batch = { data, shape: [n, ...sampleShape] };
      const frame = encodeFeatures(batch, dtype, meta);
      return {
        encode: { bytes: frame.length, ms: medianMs(repeats, () => encodeFeatures(batch, dtype, meta)) },
        decode: { bytes: frame.length, ms: medianMs(repeats, () => decodeFeatures(frame)) },
      };
    });
    features[dtype] = { encode: fit(points[0].encode, points[1].encode), decode: fit(points[0].decode, points[1].decode) };
  }
  const answerPoints = sizes.map((n) => {
    const results = answers(n, classes, rng);
    const frame = encodeAnswers(results, classes);
    return {
      encode: { bytes: frame.length, ms: medianMs(repeats, () => encodeAnswers(results, classes)) },
      decode: { bytes: frame.length, ms: medianMs(repeats, () => decodeAnswers(frame, n, classes)) },
    };
  });
  return { features, answers: { encode: fit(answerPoints[0].encode, answerPoints[1].encode), decode: fit(answerPoints[0].decode, answerPoints[1].decode) } };
}
