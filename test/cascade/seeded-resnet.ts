import { join } from 'node:path';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import { getCriterion } from '../../src/exit/index.ts';
import { saveModelDir } from '../../src/io/model-dir.ts';
import type { NetworkSpec } from '../../src/spec/types.ts';
import { zooModel } from '../../src/zoo/index.ts';
import { tempDir } from '../helpers.ts';

/** A B-ResNet-20 with seeded weights (10 classes) saved as a model directory: three stages to cut twice. */
export async function seededResnet20(seed = 7): Promise<{ dir: string; spec: NetworkSpec }> {
  await useBackend('cpu');
  const spec = zooModel('b-resnet20').build({ classes: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'] });
  const net = new TfjsNetwork(spec, undefined, seed);
  const dir = join(tempDir(), 'b-resnet20');
  saveModelDir(dir, { spec, weights: net.weights() });
  net.dispose();
  return { dir, spec };
}

/** The entropy below which a given share of the samples falls, from one exit's probabilities. */
export function quantileScore(probs: Float32Array, classes: number, share: number): number {
  const criterion = getCriterion('entropy');
  const scores = Array.from({ length: probs.length / classes }, (_, i) => criterion.score(probs, classes, i * classes)).sort((a, b) => a - b);
  return scores[Math.floor(share * (scores.length - 1))];
}
