import { Rng } from '../../../src/common/rng.ts';
import { TfjsNetwork } from '../../../src/engine/tfjs/network.ts';
import type { ModelSource } from '../../../src/engine/types.ts';
import type { NetworkSpec } from '../../../src/spec/types.ts';

/** Seeded weights with batch-norm statistics moved away from 0 and 1, so the inference form is really tested. */
export function seededSource(spec: NetworkSpec, seed: number): ModelSource {
  const net = new TfjsNetwork(spec, undefined, seed);
  const weights = net.weights();
  net.dispose();
  const rng = new Rng(seed + 100);
  for (const [name, w] of Object.entries(weights)) {
    if (/(movingVariance|gamma)$/.test(name)) for (let i = 0; i < w.length; i++) w[i] = 0.5 + rng.next();
    else if (/(movingMean|beta)$/.test(name)) for (let i = 0; i < w.length; i++) w[i] = rng.normal() * 0.3;
  }
  return { spec, weights };
}
