import { BranchyArgumentError } from '../common/errors.ts';
import type { TfjsNetwork } from '../engine/tfjs/network.ts';
import type { LayerSpec, NetworkSpec } from '../spec/types.ts';

interface Owner {
  /** Weight-name prefix, e.g. `stage2.3.` */
  prefix: string;
  layer: LayerSpec;
}

const OWNS_WEIGHTS = new Set<LayerSpec['type']>(['conv2d', 'dense', 'batchNorm', 'residual']);

function trunkOwners(spec: NetworkSpec): Owner[] {
  const owners: Owner[] = [];
  spec.stages.forEach((s, si) => s.layers.forEach((layer, li) => OWNS_WEIGHTS.has(layer.type) && owners.push({ prefix: `stage${si + 1}.${li}.`, layer })));
  const final = spec.exits.length;
  spec.exits[final - 1].layers.forEach((layer, li) => OWNS_WEIGHTS.has(layer.type) && owners.push({ prefix: `exit${final}.${li}.`, layer }));
  return owners;
}

const describe = (l: LayerSpec) => JSON.stringify(l);

/**
 * Copies a trained network's trunk and final classifier into another network with the same trunk and extra exit
 * heads (a baseline into its branchy form, as the paper trains). Layers that own weights are matched in trunk
 * order; the branch heads keep their fresh weights.
 *
 * @returns how many weight tensors were copied.
 */
export function initFromBaseline(target: TfjsNetwork, source: { spec: NetworkSpec; weights: Record<string, Float32Array> }): number {
  const from = trunkOwners(source.spec);
  const to = trunkOwners(target.spec);
  if (from.length !== to.length) {
    throw new BranchyArgumentError(
      'TRAIN_INIT_MISMATCH',
      `the baseline network '${source.spec.name}' has ${from.length} weighted trunk layers; '${target.spec.name}' has ${to.length}.`,
    );
  }
  const copy: Record<string, Float32Array> = {};
  from.forEach((f, i) => {
    const t = to[i];
    if (describe(f.layer) !== describe(t.layer)) {
      throw new BranchyArgumentError(
        'TRAIN_INIT_MISMATCH',
        `trunk layer ${i + 1} differs: '${source.spec.name}' has ${describe(f.layer)}, '${target.spec.name}' has ${describe(t.layer)}.`,
      );
    }
    for (const [name, value] of Object.entries(source.weights)) {
      if (name.startsWith(f.prefix)) copy[t.prefix + name.slice(f.prefix.length)] = value;
    }
  });
  target.setWeights(copy);
  return Object.keys(copy).length;
}
