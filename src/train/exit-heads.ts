import { readFileSync } from 'node:fs';
import { BranchyArgumentError } from '../common/errors.ts';
import { layersFacts, type FeatureShape } from '../spec/shapes.ts';
import type { LayerSpec } from '../spec/types.ts';
import { validateSpec } from '../spec/validate.ts';

/**
 * The built-in exit heads, from light to heavy. Each ends in one logit per class. `conv1` is the paper's B-LeNet
 * branch (pool, relu, a 3x3 convolution, pool, relu, a classifier); `conv2` has two convolutions ("earlier
 * branches should have more layers"); `pool-fc` pools once and classifies; `fc` classifies the features as they are.
 */
export const BUILT_IN_HEADS = ['fc', 'pool-fc', 'conv1', 'conv2'] as const;
export type BuiltInHead = (typeof BUILT_IN_HEADS)[number];

const POOL: LayerSpec[] = [{ type: 'maxPool', size: 2, padding: 'ceil' }, { type: 'relu' }];

function builtIn(name: BuiltInHead, boundary: FeatureShape, classes: number): LayerSpec[] {
  const dense: LayerSpec = { type: 'dense', units: classes };
  const classify: LayerSpec[] = boundary.length === 3 ? [{ type: 'flatten' }, dense] : [dense];
  switch (name) {
    case 'fc':
      return classify;
    case 'pool-fc':
      return [...POOL, ...classify];
    case 'conv1':
      return [...POOL, { type: 'conv2d', filters: 10, kernel: 3, padding: 1 }, ...POOL, ...classify];
    case 'conv2':
      return [
        ...POOL,
        { type: 'conv2d', filters: 16, kernel: 3, padding: 1 },
        { type: 'relu' },
        { type: 'conv2d', filters: 16, kernel: 3, padding: 1 },
        ...POOL,
        ...classify,
      ];
  }
}

/** The head `add-exits` uses when none is named: `conv1` on feature maps, a classifier alone on vectors. */
export function defaultHead(boundary: FeatureShape): BuiltInHead {
  return boundary.length === 3 ? 'conv1' : 'fc';
}

/** What `--head` names: a built-in head, a JSON layer list (inline or in a file), or nothing (the default). */
export type HeadChoice = BuiltInHead | LayerSpec[] | undefined;

/**
 * Reads `--head`: a built-in name, a JSON layer list (`[{"type": ...}]` or `{"layers": [...]}`) inline, or the path
 * of a file holding one.
 *
 * @throws BranchyArgumentError `HEAD_UNKNOWN` for a name that is neither; `HEAD_BAD_SPEC` for unreadable JSON.
 */
export function parseHead(text: string): BuiltInHead | LayerSpec[] {
  if ((BUILT_IN_HEADS as readonly string[]).includes(text)) return text as BuiltInHead;
  const trimmed = text.trim();
  let json: string;
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) json = trimmed;
  else {
    try {
      json = readFileSync(text, 'utf8');
    } catch {
      throw new BranchyArgumentError(
        'HEAD_UNKNOWN',
        `head ${JSON.stringify(text)} is not one of ${BUILT_IN_HEADS.join(', ')}, a JSON layer list, or a readable file holding one.`,
      );
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new BranchyArgumentError('HEAD_BAD_SPEC', `head ${JSON.stringify(text.slice(0, 60))} is not valid JSON: ${(error as Error).message}`);
  }
  const layers = Array.isArray(value) ? value : (value as { layers?: unknown })?.layers;
  if (!Array.isArray(layers)) throw new BranchyArgumentError('HEAD_BAD_SPEC', 'a JSON head is a layer list, or an object {"layers": [...]}.');
  return layers as LayerSpec[];
}

/**
 * The layers of a head for an exit reading `boundary`-shaped features, checked: every layer valid and fitting,
 * ending in one logit per class.
 *
 * @throws BranchyArgumentError `HEAD_BAD_SPEC` naming the position and what does not fit.
 */
export function headLayers(choice: HeadChoice, boundary: FeatureShape, classes: number, where: string): LayerSpec[] {
  const layers = Array.isArray(choice) ? choice : builtIn(choice ?? defaultHead(boundary), boundary, classes);
  const name = Array.isArray(choice) ? 'the JSON head' : `head '${choice ?? defaultHead(boundary)}'`;
  try {
    // Validates each layer's fields through the spec validator, on a one-exit network reading the boundary.
    const shape = boundary.length === 3 ? ([...boundary] as [number, number, number]) : ([1, 1, boundary[0]] as [number, number, number]);
    validateSpec({
      format: 'branchy/1',
      name: 'head',
      input: { shape },
      classes: Array.from({ length: classes }, (_, i) => String(i)),
      stages: [{ layers: boundary.length === 3 ? [] : [{ type: 'flatten' }] }],
      exits: [{ layers }],
      policy: { criterion: 'entropy', thresholds: [] },
    });
    const out = layersFacts(layers, boundary, 'head').output;
    if (out.length !== 1 || out[0] !== classes) throw new Error(`it returns [${out.join(', ')}]; an exit head must end in [${classes}] (one logit per class)`);
  } catch (error) {
    throw new BranchyArgumentError('HEAD_BAD_SPEC', `${name} does not fit ${where} (features [${boundary.join(', ')}]): ${(error as Error).message}`, {
      cause: error,
    });
  }
  return layers;
}
