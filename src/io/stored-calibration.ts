/**
 * The calibration a model directory stores in `branchy.json` under `calibration` (written by calibration, read by
 * the server, the report and `openModel`), and its one reader, which checks the stored shape against the model's
 * own spec.
 *
 * The records live here rather than in `calibrate/` because they are part of the model directory's format, and
 * `openModel` (in this layer) reads them; `calibrate/` produces them and re-exports the types.
 *
 * @module
 */
import { join } from 'node:path';
import { BranchyIoError } from '../common/errors.ts';
import { MANIFEST_FILE, type ModelManifest } from './model-dir.ts';

/** What one stage or exit head costs per sample on one engine, measured after warm-up. */
export interface PieceCost {
  /** `stage` or `exit`, 1-based index. */
  kind: 'stage' | 'exit';
  index: number;
  /**
   * Time per sample in milliseconds at batch 1: mean, median, 95th percentile, and the typical cost the cost
   * model uses, the median over blocks of 20 consecutive samples of each block's mean (GC and other amortised
   * costs stay in; a burst of load from other processes spoils a block, not the figure).
   */
  batch1: { meanMs: number; p50Ms: number; p95Ms: number; typicalMs: number };
  /** The same per sample at the profile's larger batch size; each timed batch is a block. */
  batched: { batchSize: number; meanMs: number; p50Ms: number; p95Ms: number; typicalMs: number };
  /** From the spec: FLOPs per sample and parameters; null when unknown (a network imported from ONNX). */
  flops: number | null;
  params: number | null;
}

/** The cost of every piece of a network on one machine and engine. */
export interface CostProfile {
  /** e.g. `tfjs-wasm`. */
  runtime: string;
  /** Where it was measured: CPU model, cores, Node version, date. */
  machine: { cpu: string; cores: number; node: string; measuredAt: string };
  pieces: PieceCost[];
  /**
   * Cost per sample (ms at batch 1) to reach and evaluate exit n (index n-1): stages 1..n, exit heads 1..n and
   * the criterion, as the runner pays it; from typical costs (see `PieceCost.batch1.typicalMs`).
   */
  costToExit: number[];
  /** The same at the batched size. */
  costToExitBatched: number[];
  /**
   * Cost per sample of the network without early exits: every stage and the final head only (no branch heads),
   * what the speed-up of early exit is measured against. At batch 1 and batched.
   */
  finalOnlyCost: number;
  finalOnlyCostBatched: number;
}

/** One operating point: a threshold vector with what it reaches on the exit table. */
export interface OperatingPoint {
  /** One per early exit. */
  thresholds: number[];
  accuracy: number;
  /** Expected cost per sample: Σ over exits of (share leaving there × cost to reach and evaluate it). */
  expectedCost: number;
  /** Share of samples leaving at each exit (sums to 1). */
  exitShare: number[];
}

type StoredTimes<T> = Omit<T, 'typicalMs'> & { typicalMs?: number };

/**
 * A piece's cost as stored: profiles stored before typical costs were measured (the shipped
 * `models/b-lenet-fashion-mnist` has one) lack `typicalMs`, which nothing reading a stored profile needs.
 */
export interface StoredPieceCost extends Omit<PieceCost, 'batch1' | 'batched'> {
  batch1: StoredTimes<PieceCost['batch1']>;
  batched: StoredTimes<PieceCost['batched']>;
}

/** A cost profile as stored: a {@link CostProfile} whose pieces may lack `typicalMs` (see {@link StoredPieceCost}). */
export interface StoredCostProfile extends Omit<CostProfile, 'pieces'> {
  pieces: StoredPieceCost[];
}

/** What calibration stores in `branchy.json` under `calibration`: enough to report without re-running it. */
export interface StoredCalibration {
  criterion: string;
  /** The data set and split the thresholds were chosen on (always the validation split). */
  data: string;
  split: 'validation';
  validationCount: number;
  /** The constraint the chosen point meets, in words. */
  constraint: string;
  profile: StoredCostProfile;
  /** The validation Pareto front, cheapest first (its points may carry more fields, e.g. a Pareto point's). */
  front: OperatingPoint[];
  /** Index of the chosen point in `front`. */
  chosen: number;
  /** Each exit's accuracy on every validation sample. */
  perExitAccuracy: number[];
  /** Seconds for the all-exits pass and for the front search. */
  tableSeconds: number;
  searchSeconds: number;
}

type Json = Record<string, unknown>;

/** Largest allowed difference between the sum of a point's exit shares and 1 (shares are ratios of counts). */
const SHARE_SUM_TOLERANCE = 1e-6;

const range = (min: number, max: number): string =>
  min === -Infinity && max === Infinity ? 'a finite number' : max === Infinity ? `a number of at least ${min}` : `a number in [${min}, ${max}]`;

const show = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

/** Checks of one stored calibration; each failure names the manifest, the field, what it holds and what it must. */
class CalibrationShape {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  fail(field: string, seen: string, expected: string): never {
    throw new BranchyIoError('MODEL_BAD_CALIBRATION', `'${this.path}': ${field} ${seen}; expected ${expected}.`);
  }

  object(v: unknown, field: string): Json {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(field, `is ${show(v)}`, 'an object');
    return v as Json;
  }

  text(v: unknown, field: string): string {
    if (typeof v !== 'string' || v.length === 0) this.fail(field, `is ${show(v)}`, 'a non-empty string');
    return v;
  }

  number(v: unknown, field: string, min = 0, max = Infinity): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) this.fail(field, `is ${show(v)}`, range(min, max));
    return v;
  }

  integer(
    v: unknown,
    field: string,
    min: number,
    max = Infinity,
    expected = max === Infinity ? `a whole number of at least ${min}` : `a whole number in [${min}, ${max}]`,
  ): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(field, `is ${show(v)}`, expected);
    return v;
  }

  /** An array of `length` entries (`what` says why that many); any length from 1 up when `length` is undefined. */
  list(v: unknown, field: string, length: number | undefined, what: string): unknown[] {
    if (!Array.isArray(v)) this.fail(field, `is ${show(v)}`, `an array of ${what}`);
    if (length === undefined ? v.length === 0 : v.length !== length)
      this.fail(field, `has ${v.length} ${v.length === 1 ? 'entry' : 'entries'}`, length === undefined ? `at least one (${what})` : `${length} (${what})`);
    return v;
  }

  numbers(v: unknown, field: string, length: number, what: string, min = 0, max = Infinity): number[] {
    return this.list(v, field, length, what).map((x, i) => this.number(x, `${field}[${i}]`, min, max));
  }
}

function checkTimes(at: CalibrationShape, v: unknown, field: string, batched: boolean): void {
  const times = at.object(v, field);
  if (batched) at.integer(times.batchSize, `${field}.batchSize`, 1);
  for (const key of ['meanMs', 'p50Ms', 'p95Ms']) at.number(times[key], `${field}.${key}`);
  if (times.typicalMs !== undefined) at.number(times.typicalMs, `${field}.typicalMs`);
}

function checkProfile(at: CalibrationShape, v: unknown, exits: number, base = 'calibration.profile'): void {
  const profile = at.object(v, base);
  at.text(profile.runtime, `${base}.runtime`);
  const machine = at.object(profile.machine, `${base}.machine`);
  // What the machine reported, which may be little (no CPU model, no CPUs listed in some containers).
  for (const key of ['cpu', 'node', 'measuredAt'])
    if (typeof machine[key] !== 'string') at.fail(`${base}.machine.${key}`, `is ${show(machine[key])}`, 'a string');
  at.integer(machine.cores, `${base}.machine.cores`, 0);
  at.list(profile.pieces, `${base}.pieces`, 2 * exits, 'one per stage and exit head').forEach((p, i) => {
    const field = `${base}.pieces[${i}]`;
    const piece = at.object(p, field);
    if (piece.kind !== 'stage' && piece.kind !== 'exit') at.fail(`${field}.kind`, `is ${show(piece.kind)}`, '"stage" or "exit"');
    at.integer(piece.index, `${field}.index`, 1, exits);
    checkTimes(at, piece.batch1, `${field}.batch1`, false);
    checkTimes(at, piece.batched, `${field}.batched`, true);
    for (const key of ['flops', 'params']) if (piece[key] !== null) at.number(piece[key], `${field}.${key}`);
  });
  at.numbers(profile.costToExit, `${base}.costToExit`, exits, 'one per exit');
  at.numbers(profile.costToExitBatched, `${base}.costToExitBatched`, exits, 'one per exit');
  at.number(profile.finalOnlyCost, `${base}.finalOnlyCost`);
  at.number(profile.finalOnlyCostBatched, `${base}.finalOnlyCostBatched`);
}

/**
 * Checks a cost profile stored outside a model directory (a tier profile): one row per stage and exit head of a
 * network of `exits` exits, and one total per exit.
 *
 * @param path the file it was read from, for messages.
 * @param field where the profile sits in that file (`profile`).
 * @throws BranchyIoError `MODEL_BAD_CALIBRATION` naming the file and the field when it does not have that shape.
 */
export function checkStoredCostProfile(value: unknown, exits: number, path: string, field: string): StoredCostProfile {
  checkProfile(new CalibrationShape(path), value, exits, field);
  return value as StoredCostProfile;
}

function checkPoint(at: CalibrationShape, v: unknown, field: string, exits: number): void {
  const point = at.object(v, field);
  at.numbers(point.thresholds, `${field}.thresholds`, exits - 1, 'one per early exit', -Infinity);
  at.number(point.accuracy, `${field}.accuracy`, 0, 1);
  at.number(point.expectedCost, `${field}.expectedCost`);
  const shares = at.numbers(point.exitShare, `${field}.exitShare`, exits, 'one per exit', 0, 1);
  const sum = shares.reduce((s, x) => s + x, 0);
  if (Math.abs(sum - 1) > SHARE_SUM_TOLERANCE) at.fail(`${field}.exitShare`, `sums to ${sum}`, 'shares summing to 1');
}

/**
 * The calibration stored in a model's manifest, checked against the model's spec (one threshold per early exit,
 * one exit share, accuracy and cost per exit, one cost profile row per stage and exit head, the chosen index on
 * the front); `undefined` when the model has none. It may be for another criterion than the spec's policy:
 * callers that need the model's own criterion compare `criterion`.
 *
 * @param dir the model directory the manifest was read from, for messages.
 * @throws BranchyIoError `MODEL_BAD_CALIBRATION` naming `branchy.json` and the field when the stored calibration
 *   does not have that shape.
 * @example
 * const model = loadModelDir('models/b-lenet-fashion-mnist');
 * const calibration = readStoredCalibration(model.manifest, model.dir);
 * const chosen = calibration && calibration.front[calibration.chosen];
 */
export function readStoredCalibration(manifest: ModelManifest, dir: string): StoredCalibration | undefined {
  const value = manifest.calibration;
  if (value === undefined) return undefined;
  const at = new CalibrationShape(join(dir, MANIFEST_FILE));
  const exits = manifest.spec.stages.length;
  const c = at.object(value, 'calibration');
  at.text(c.criterion, 'calibration.criterion');
  if (typeof c.data !== 'string') at.fail('calibration.data', `is ${show(c.data)}`, 'a string naming the data set');
  if (c.split !== 'validation') at.fail('calibration.split', `is ${show(c.split)}`, '"validation" (thresholds are chosen on the validation split)');
  at.integer(c.validationCount, 'calibration.validationCount', 1);
  if (typeof c.constraint !== 'string') at.fail('calibration.constraint', `is ${show(c.constraint)}`, 'a string describing the constraint');
  checkProfile(at, c.profile, exits);
  const front = at.list(c.front, 'calibration.front', undefined, 'operating points, cheapest first');
  front.forEach((p, i) => checkPoint(at, p, `calibration.front[${i}]`, exits));
  at.integer(
    c.chosen,
    'calibration.chosen',
    0,
    front.length - 1,
    `an index into calibration.front, which has ${front.length} point${front.length === 1 ? '' : 's'} (0 to ${front.length - 1})`,
  );
  at.numbers(c.perExitAccuracy, 'calibration.perExitAccuracy', exits, 'one per exit', 0, 1);
  at.number(c.tableSeconds, 'calibration.tableSeconds');
  at.number(c.searchSeconds, 'calibration.searchSeconds');
  return value as StoredCalibration;
}
