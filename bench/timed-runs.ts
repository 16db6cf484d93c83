import type { Dataset } from '../src/data/index.ts';
import type { LoadedNetwork } from '../src/engine/types.ts';
import { runEarlyExit, type EarlyExitOptions } from '../src/infer/index.ts';

/** What an early-exit pass over a data set in fixed-size batches measured. */
export interface TimedRun {
  /** Runner time per sample, ms (the runner's calls only; slicing and scoring outside the timer). */
  msPerSample: number;
  accuracy: number;
  /** Share of samples leaving at each exit. */
  exitShare: number[];
}

/** Runs `net` with early exit over `data` in batches of `size` (the remainder dropped) and times each batch. */
export async function timedRun(net: LoadedNetwork, data: Dataset, size: number, options: EarlyExitOptions): Promise<TimedRun> {
  const row = data.x.length / data.count;
  const n = Math.floor(data.count / size) * size;
  let correct = 0;
  let elapsed = 0;
  const exits = new Array<number>(net.spec.stages.length).fill(0);
  for (let start = 0; start < n; start += size) {
    const batch = { data: data.x.subarray(start * row, (start + size) * row), shape: [size, ...data.shape] };
    const t = performance.now();
    const { results } = await runEarlyExit(net, batch, options);
    elapsed += performance.now() - t;
    results.forEach((r, i) => {
      exits[r.exit - 1]++;
      if (r.label === data.y[start + i]) correct++;
    });
  }
  return { msPerSample: elapsed / n, accuracy: correct / n, exitShare: exits.map((e) => e / n) };
}
