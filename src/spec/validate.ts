import { BranchySpecError, type SpecErrorCode } from '../common/errors.ts';
import { jsonDepthPast } from '../common/json-depth.ts';
import { checkSampleSize, layersFacts, MAX_SPEC_SIZE, networkFacts } from './shapes.ts';
import { LAYER_TYPES, type LayerSpec, type NetworkSpec } from './types.ts';

type Json = Record<string, unknown>;

const show = (v: unknown): string => {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    // Too deeply nested (or cyclic) to print: the error names its path and type instead.
    s = Array.isArray(v) ? '[…]' : typeof v === 'object' && v !== null ? '{…}' : String(v);
  }
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

function bad(code: SpecErrorCode, path: string, seen: unknown, allowed: string): never {
  throw new BranchySpecError(code, `${path}: got ${show(seen)}; expected ${allowed}.`);
}

function object(v: unknown, path: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('SPEC_TYPE', path, v, 'an object');
  return v as Json;
}

function positiveInt(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_SPEC_SIZE) bad('SPEC_VALUE', path, v, `a positive integer up to ${MAX_SPEC_SIZE}`);
  return v;
}

function size2(v: unknown, path: string): void {
  if (Array.isArray(v)) {
    if (v.length !== 2) bad('SPEC_VALUE', path, v, 'a positive integer or [rows, cols]');
    v.forEach((x, i) => positiveInt(x, `${path}[${i}]`));
  } else positiveInt(v, path);
}

function number(v: unknown, path: string, min: number, max: number, minOpen = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v > max || (minOpen ? v <= min : v < min)) {
    bad('SPEC_VALUE', path, v, `a number in ${minOpen ? '(' : '['}${min}, ${max}]`);
  }
  return v;
}

const LAYER_KEYS: Record<LayerSpec['type'], readonly string[]> = {
  conv2d: ['filters', 'kernel', 'stride', 'padding', 'bias'],
  maxPool: ['size', 'stride', 'padding'],
  avgPool: ['size', 'stride', 'padding'],
  globalAvgPool: [],
  relu: [],
  batchNorm: ['epsilon', 'momentum'],
  dropout: ['rate'],
  flatten: [],
  dense: ['units', 'bias'],
  lrn: ['depthRadius', 'bias', 'alpha', 'beta'],
  residual: ['filters', 'stride'],
};

function validateLayer(v: unknown, path: string): void {
  const layer = object(v, path);
  const type = layer.type;
  if (typeof type !== 'string' || !(LAYER_TYPES as readonly string[]).includes(type)) {
    bad('SPEC_UNKNOWN_LAYER', `${path}.type`, type, `one of ${LAYER_TYPES.join(', ')}`);
  }
  const keys = LAYER_KEYS[type as LayerSpec['type']];
  for (const key of Object.keys(layer)) {
    if (key !== 'type' && !keys.includes(key)) {
      bad('SPEC_UNKNOWN_FIELD', `${path}.${key}`, layer[key], `no such field on '${type}' (allowed: ${keys.join(', ') || 'none'})`);
    }
  }
  const opt = (key: string, check: (x: unknown, p: string) => unknown) => {
    if (layer[key] !== undefined) check(layer[key], `${path}.${key}`);
  };
  const bool = (x: unknown, p: string) => typeof x === 'boolean' || bad('SPEC_VALUE', p, x, 'true or false');
  switch (type) {
    case 'conv2d':
      positiveInt(layer.filters, `${path}.filters`);
      size2(layer.kernel, `${path}.kernel`);
      opt('stride', size2);
      opt('padding', (x, p) =>
        x === 'same' || x === 'valid'
          ? x
          : Array.isArray(x) || typeof x === 'number'
            ? typeof x === 'number' && x === 0
              ? x
              : size2(x, p)
            : bad('SPEC_VALUE', p, x, "'same', 'valid', a padding size or [rows, cols]"),
      );
      opt('bias', bool);
      break;
    case 'maxPool':
    case 'avgPool':
      size2(layer.size, `${path}.size`);
      opt('stride', size2);
      opt('padding', (x, p) => (x === 'valid' || x === 'ceil' ? x : bad('SPEC_VALUE', p, x, "'valid' (floor mode) or 'ceil' (ceil mode)")));
      break;
    case 'batchNorm':
      opt('epsilon', (x, p) => number(x, p, 0, 1, true));
      opt('momentum', (x, p) => number(x, p, 0, 1));
      break;
    case 'dropout':
      number(layer.rate, `${path}.rate`, 0, 1);
      if (layer.rate === 1) bad('SPEC_VALUE', `${path}.rate`, 1, 'a rate below 1');
      break;
    case 'dense':
      positiveInt(layer.units, `${path}.units`);
      opt('bias', bool);
      break;
    case 'lrn':
      opt('depthRadius', (x, p) => (x === 0 ? x : positiveInt(x, p)));
      opt('bias', (x, p) => number(x, p, 0, 1e6));
      opt('alpha', (x, p) => number(x, p, 0, 1e6));
      opt('beta', (x, p) => number(x, p, 0, 1e6));
      break;
    case 'residual':
      positiveInt(layer.filters, `${path}.filters`);
      opt('stride', positiveInt);
      break;
  }
}

function layerList(v: unknown, path: string): void {
  if (!Array.isArray(v)) bad('SPEC_TYPE', path, v, 'an array of layers');
  v.forEach((layer, i) => validateLayer(layer, `${path}[${i}]`));
}

/**
 * An imported network: no stage has layers; each stage may name its output shape (read from its ONNX files);
 * an exit head is an ONNX file (no layers) or a native head, whose layers must fit the stage's output and end in
 * one logit per class.
 */
function validateImported(spec: NetworkSpec, imported: unknown): void {
  if (imported !== 'onnx') bad('SPEC_VALUE', 'spec.imported', imported, '"onnx" or no field');
  spec.stages.forEach((stage, i) => {
    const where = `spec.stages[${i}]`;
    if (stage.layers.length > 0) bad('SPEC_VALUE', `${where}.layers`, stage.layers, 'an empty list (the stages of an imported network are its ONNX files)');
    if (stage.output !== undefined) {
      if (!Array.isArray(stage.output) || (stage.output.length !== 1 && stage.output.length !== 3))
        bad('SPEC_VALUE', `${where}.output`, stage.output, '[height, width, channels] or [features]');
      stage.output.forEach((d, k) => positiveInt(d, `${where}.output[${k}]`));
      checkSampleSize(stage.output, `${where}.output`);
    }
  });
  spec.exits.forEach((exit, i) => {
    if (exit.layers.length === 0) return;
    const output = spec.stages[i].output;
    if (output === undefined)
      bad('SPEC_VALUE', `spec.stages[${i}].output`, output, `the stage's output shape, which native exit head ${i + 1} reads (import the network again)`);
    const facts = layersFacts(exit.layers, output, `exits[${i}]`);
    if (facts.output.length !== 1 || facts.output[0] !== spec.classes.length)
      bad('SPEC_EXITS', `spec.exits[${i}]`, `output shape [${facts.output.join(', ')}]`, `[${spec.classes.length}] (one logit per class)`);
  });
}

/**
 * Branch points: ascending layer positions strictly inside the trunk, none at a stage's end (that boundary exists
 * already), and only on a network with layer lists (an imported trunk's boundaries are its segment files).
 */
function validateBranchPoints(spec: NetworkSpec, points: unknown): void {
  const path = 'spec.branchPoints';
  if (spec.imported !== undefined)
    bad('SPEC_UNKNOWN_FIELD', path, points, "no branch points on an imported network (its segment files' boundaries are its positions)");
  const ends: number[] = [];
  for (const stage of spec.stages) ends.push((ends.length ? ends[ends.length - 1] : 0) + stage.layers.length);
  const layers = ends[ends.length - 1];
  if (!Array.isArray(points) || points.length === 0) bad('SPEC_TYPE', path, points, 'a non-empty array of layer positions');
  points.forEach((p, i) => {
    const where = `${path}[${i}]`;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p >= layers) bad('SPEC_VALUE', where, p, `a layer position from 1 to ${layers - 1}`);
    if (i > 0 && p <= points[i - 1]) bad('SPEC_VALUE', where, p, `a position after ${points[i - 1]} (ascending, no repeats)`);
    if (ends.includes(p)) bad('SPEC_VALUE', where, p, `a position inside a stage (after layer ${p} a stage ends already)`);
  });
}

/**
 * Deepest nesting a spec may have. Its layers nest five levels deep (`spec.stages[0].layers[0].kernel`); fields it
 * does not read (`notes`, `description`) are kept as written, and one nested thousands deep would overflow the stack
 * wherever the spec is hashed, written or printed. Within `branchy.json`'s own bound (`MANIFEST_MAX_DEPTH`, 64).
 */
export const SPEC_MAX_DEPTH = 32;

/**
 * Checks an untrusted value (parsed JSON) against the spec format and returns it typed. Checks structure,
 * every field's type and range, that shapes flow through every stage and exit, and that every exit ends in one
 * value per class.
 *
 * @throws BranchySpecError with a `code` (`SPEC_TYPE`, `SPEC_VALUE`, `SPEC_UNKNOWN_LAYER`, `SPEC_UNKNOWN_FIELD`,
 *   `SPEC_EXITS`, `SPEC_SHAPE`) and a message naming the field, the value seen and what is allowed; `SPEC_VALUE`
 *   for a spec nested deeper than {@link SPEC_MAX_DEPTH} levels, naming where.
 */
export function validateSpec(value: unknown): NetworkSpec {
  const spec = object(value, 'spec');
  if (spec.format !== 'branchy/1') bad('SPEC_VALUE', 'spec.format', spec.format, "'branchy/1'");
  if (typeof spec.name !== 'string' || spec.name.length === 0) bad('SPEC_TYPE', 'spec.name', spec.name, 'a non-empty string');
  const input = object(spec.input, 'spec.input');
  const shape = input.shape;
  if (!Array.isArray(shape) || shape.length !== 3) bad('SPEC_VALUE', 'spec.input.shape', shape, '[height, width, channels]');
  shape.forEach((d, i) => positiveInt(d, `spec.input.shape[${i}]`));
  checkSampleSize(shape as number[], 'spec.input.shape');
  if (input.normalization !== undefined) {
    const norm = object(input.normalization, 'spec.input.normalization');
    for (const key of ['mean', 'std'] as const) {
      const arr = norm[key];
      if (!Array.isArray(arr) || arr.length !== shape[2]) bad('SPEC_VALUE', `spec.input.normalization.${key}`, arr, `${shape[2]} numbers (one per channel)`);
      arr.forEach((x, i) =>
        key === 'std'
          ? number(x, `spec.input.normalization.std[${i}]`, 0, Infinity, true)
          : number(x, `spec.input.normalization.mean[${i}]`, -Infinity, Infinity),
      );
    }
  }
  const classes = spec.classes;
  if (!Array.isArray(classes) || classes.length < 2 || !classes.every((c) => typeof c === 'string')) {
    bad('SPEC_VALUE', 'spec.classes', classes, 'an array of at least 2 class names');
  }
  if (!Array.isArray(spec.stages) || spec.stages.length === 0) bad('SPEC_TYPE', 'spec.stages', spec.stages, 'a non-empty array of stages');
  spec.stages.forEach((s, i) => {
    const stage = object(s, `spec.stages[${i}]`);
    layerList(stage.layers, `spec.stages[${i}].layers`);
    if (stage.output !== undefined && spec.imported === undefined)
      bad('SPEC_UNKNOWN_FIELD', `spec.stages[${i}].output`, stage.output, 'no output shape on a stage with layers (it follows from them)');
  });
  if (!Array.isArray(spec.exits) || spec.exits.length !== spec.stages.length) {
    bad('SPEC_EXITS', 'spec.exits', Array.isArray(spec.exits) ? `${spec.exits.length} exits` : spec.exits, `one exit per stage (${spec.stages.length})`);
  }
  spec.exits.forEach((e, i) => layerList(object(e, `spec.exits[${i}]`).layers, `spec.exits[${i}].layers`));
  const policy = object(spec.policy, 'spec.policy');
  if (typeof policy.criterion !== 'string') bad('SPEC_TYPE', 'spec.policy.criterion', policy.criterion, 'a criterion name such as "entropy"');
  const early = spec.stages.length - 1;
  if (!Array.isArray(policy.thresholds) || policy.thresholds.length !== early) {
    bad(
      'SPEC_EXITS',
      'spec.policy.thresholds',
      policy.thresholds,
      `${early} threshold${early === 1 ? '' : 's'} (one per early exit; the final exit always answers)`,
    );
  }
  policy.thresholds.forEach((t, i) => number(t, `spec.policy.thresholds[${i}]`, 0, Infinity));

  // Last, so that a field the checks above read reports its own fault; the rest of the spec is kept as written.
  const tooDeep = jsonDepthPast(spec, SPEC_MAX_DEPTH);
  if (tooDeep !== undefined) {
    throw new BranchySpecError('SPEC_VALUE', `${tooDeep.replace(/^\$/, 'spec')}: nests deeper than ${SPEC_MAX_DEPTH} levels of arrays and objects.`);
  }
  const typed = value as NetworkSpec;
  if (spec.branchPoints !== undefined) validateBranchPoints(typed, spec.branchPoints);
  if (spec.imported !== undefined) {
    validateImported(typed, spec.imported);
    return typed;
  }
  const facts = networkFacts(typed);
  facts.exits.forEach((f, i) => {
    if (f.output.length !== 1 || f.output[0] !== classes.length) {
      bad('SPEC_EXITS', `spec.exits[${i}]`, `output shape [${f.output.join(', ')}]`, `[${classes.length}] (one logit per class)`);
    }
  });
  return typed;
}
