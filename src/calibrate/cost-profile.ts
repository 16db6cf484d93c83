import { cpus } from 'node:os';
import type { Batch, LoadedNetwork } from '../engine/types.ts';
import { getCriterion } from '../exit/index.ts';
import type { LabelledSamples } from '../infer/index.ts';
import { hasLayers, networkFacts } from '../spec/shapes.ts';
import type { CostProfile, PieceCost } from './types.ts';

/** How a cost profile is measured. */
export interface ProfileOptions {
  /** Samples timed one at a time (default 200). */
  batch1Samples?: number;
  /** Size of the batched measurement (default 256). */
  batchSize?: number;
  /** Batches timed at that size (default 4). */
  batches?: number;
  /** Untimed runs first, so the engine's one-off set-up is not counted (default 20). */
  warmup?: number;
}

/** Consecutive batch-1 samples per block of the typical cost. */
const BLOCK = 20;

const mean = (xs: readonly number[]) => xs.reduce((sum, v) => sum + v, 0) / xs.length;

/** The median over blocks of `block` consecutive values of each block's mean. */
function typical(perSampleMs: readonly number[], block: number): number {
  const means: number[] = [];
  for (let i = 0; i < perSampleMs.length; i += block) means.push(mean(perSampleMs.slice(i, i + block)));
  means.sort((a, b) => a - b);
  const mid = means.length >> 1;
  return means.length % 2 ? means[mid] : (means[mid - 1] + means[mid]) / 2;
}

function stats(perSampleMs: number[], block: number): { meanMs: number; p50Ms: number; p95Ms: number; typicalMs: number } {
  const sorted = [...perSampleMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))];
  return { meanMs: mean(perSampleMs), p50Ms: at(0.5), p95Ms: at(0.95), typicalMs: typical(perSampleMs, block) };
}

/**
 * Times every stage and exit head (with the criterion) on one batch; returns ms per timer, in order s1, e1, s2,
 * e2, … and then, when the network offers `stageAndExit`, f1 … fN: each fused stage-and-exit call with the
 * criterion, and c1 … cN-1: carrying every sample's features from that call on to the next stage.
 */
async function timePieces(net: LoadedNetwork, x: Batch, score: (p: Float32Array, c: number, o: number) => number): Promise<number[]> {
  const depth = net.spec.stages.length;
  const classes = net.spec.classes.length;
  const out: number[] = [];
  const fused: number[] = [];
  const carried: number[] = [];
  const rows = Array.from({ length: x.shape[0] }, (_, i) => i);
  let sink = 0;
  const decide = (probs: Batch) => {
    for (let i = 0; i < x.shape[0]; i++) sink += score(probs.data, classes, i * classes);
  };
  let features = x;
  for (let n = 1; n <= depth; n++) {
    if (net.stageAndExit) {
      let t = performance.now();
      const call = await net.stageAndExit(n, features);
      decide(call.probs);
      fused.push(performance.now() - t);
      if (n < depth) {
        t = performance.now();
        sink += (await call.features(rows)).data.length;
        carried.push(performance.now() - t);
      }
    }
    let t = performance.now();
    features = await net.stage(n, features);
    out.push(performance.now() - t);
    t = performance.now();
    decide(await net.exit(n, features));
    out.push(performance.now() - t);
  }
  return sink === -1 ? [] : [...out, ...fused, ...carried];
}

/**
 * Measures what each stage and exit head costs per sample on this machine and engine, at batch 1 and batched,
 * after warm-up. Each exit timer includes the softmax and the criterion, as the runner pays them. The totals are
 * built from typical costs (`PieceCost.batch1.typicalMs`), so a burst of load during profiling does not decide
 * the thresholds.
 *
 * The totals time what `runEarlyExit` runs. `costToExit[n-1]`, the cost of answering at exit n, is the sum over
 * k ≤ n of stage k plus exit head k; `finalOnlyCost` is stages 1..N-1 plus stage N and the final head. When the
 * network offers `stageAndExit` (onnxruntime), the runner pays one fused call for stage k and head k, so each
 * "stage k + exit k" term is that call's own timer (criterion included), not the sum of the two pieces run alone,
 * and a sample that goes on past exit k also pays for carrying its features on (a copy, or stage k again).
 * The `pieces` rows always time each stage and each exit head run alone, one engine call each: what a stage
 * costs on the final-only path, and how the work splits between trunk and heads.
 */
export async function profileCosts(net: LoadedNetwork, samples: LabelledSamples, options: ProfileOptions = {}): Promise<CostProfile> {
  const depth = net.spec.stages.length;
  const row = samples.x.length / samples.count;
  const take = (start: number, n: number): Batch => ({ data: samples.x.subarray(start * row, (start + n) * row), shape: [n, ...samples.shape] });
  const criterion = getCriterion(net.spec.policy.criterion);
  const score = (p: Float32Array, c: number, o: number) => criterion.score(p, c, o);
  const n1 = Math.min(options.batch1Samples ?? 200, samples.count);
  const batchSize = Math.min(options.batchSize ?? 256, samples.count);
  const batches = options.batches ?? 4;
  for (let i = 0; i < (options.warmup ?? 20); i++) {
    await timePieces(net, take(i % samples.count, 1), score);
  }
  await timePieces(net, take(0, batchSize), score);
  const timers = net.stageAndExit ? 4 * depth - 1 : 2 * depth;
  const single = Array.from({ length: timers }, () => [] as number[]);
  for (let i = 0; i < n1; i++) (await timePieces(net, take(i, 1), score)).forEach((ms, k) => single[k].push(ms));
  const batched = Array.from({ length: timers }, () => [] as number[]);
  for (let b = 0; b < batches; b++) {
    const start = (b * batchSize) % Math.max(1, samples.count - batchSize + 1);
    (await timePieces(net, take(start, batchSize), score)).forEach((ms, k) => batched[k].push(ms / batchSize));
  }
  const facts = hasLayers(net.spec) ? networkFacts(net.spec) : undefined;
  const pieces: PieceCost[] = [];
  for (let n = 1; n <= depth; n++) {
    for (const kind of ['stage', 'exit'] as const) {
      const k = 2 * (n - 1) + (kind === 'exit' ? 1 : 0);
      const f = facts && (kind === 'stage' ? facts.stages[n - 1] : facts.exits[n - 1]);
      pieces.push({
        kind,
        index: n,
        batch1: stats(single[k], BLOCK),
        batched: { batchSize, ...stats(batched[k], 1) },
        flops: f?.flops ?? null,
        params: f?.params ?? null,
      });
    }
  }
  const costs = (series: number[][], block: number) => {
    const cost = (k: number) => typical(series[k], block);
    /** Per-sample cost of stage n and exit n as the runner runs them: the fused call when there is one. */
    const stageAndExit = (n: number) => (net.stageAndExit ? cost(2 * depth + n - 1) : cost(2 * (n - 1)) + cost(2 * n - 1));
    /** Per-sample cost of carrying a sample's features from stage n's fused call to stage n+1. */
    const carry = (n: number) => (net.stageAndExit ? cost(3 * depth + n - 1) : 0);
    const costToExit: number[] = [];
    let sum = 0;
    for (let n = 1; n <= depth; n++) {
      costToExit.push(sum + stageAndExit(n));
      if (n < depth) sum += stageAndExit(n) + carry(n);
    }
    let finalOnly = stageAndExit(depth);
    for (let n = 1; n < depth; n++) finalOnly += cost(2 * (n - 1));
    return { costToExit, finalOnly };
  };
  const atBatch1 = costs(single, BLOCK);
  const atBatchSize = costs(batched, 1);
  const cpu = cpus();
  return {
    runtime: net.runtime,
    machine: { cpu: cpu[0]?.model ?? 'unknown', cores: cpu.length, node: process.version, measuredAt: new Date().toISOString() },
    pieces,
    costToExit: atBatch1.costToExit,
    costToExitBatched: atBatchSize.costToExit,
    finalOnlyCost: atBatch1.finalOnly,
    finalOnlyCostBatched: atBatchSize.finalOnly,
  };
}
