import type { Batch, LoadedNetwork } from '../engine/types.ts';

/** Every exit's class probabilities for every sample of a batch: what calibration works from. */
export interface AllExitsResult {
  count: number;
  classes: number;
  /** Per exit n (index n-1): probabilities, [count, classes] row-major. */
  probs: Float32Array[];
}

/** Runs every stage and every exit head on every sample (no early exit). */
export async function runAllExits(net: LoadedNetwork, x: Batch): Promise<AllExitsResult> {
  const depth = net.spec.stages.length;
  const probs: Float32Array[] = [];
  let features = x;
  for (let n = 1; n <= depth; n++) {
    if (net.stageAndExit) {
      // The runner's own call, so calibration sees exactly the probabilities the runner decides on.
      const out = await net.stageAndExit(n, features);
      probs.push(out.probs.data);
      if (n < depth) features = await out.features(Array.from({ length: x.shape[0] }, (_, i) => i));
    } else {
      features = await net.stage(n, features);
      probs.push((await net.exit(n, features)).data);
    }
  }
  return { count: x.shape[0], classes: net.spec.classes.length, probs };
}

/** Joins all-exits results of consecutive batches. */
export function concatAllExits(parts: AllExitsResult[]): AllExitsResult {
  const classes = parts[0]?.classes ?? 0;
  const depth = parts[0]?.probs.length ?? 0;
  const count = parts.reduce((a, p) => a + p.count, 0);
  const probs = Array.from({ length: depth }, (_, n) => {
    const out = new Float32Array(count * classes);
    let offset = 0;
    for (const p of parts) {
      out.set(p.probs[n], offset);
      offset += p.probs[n].length;
    }
    return out;
  });
  return { count, classes, probs };
}
