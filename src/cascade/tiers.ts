/**
 * The tiers file of the placement planner (`branchy plan --tiers tiers.json`): the machines a cascade can run on,
 * in order from where the input arrives (the device) outwards, what computing costs on each, what each one
 * draws, and the links between them.
 *
 * ```json
 * {
 *   "format": "branchy-tiers/1",
 *   "tiers": [
 *     { "name": "device", "speedFactor": 0.154, "power": { "busyW": 2.5, "idleW": 0.6, "joulesPerByteSent": 2e-7 } },
 *     { "name": "edge", "profile": "profiles/edge.json" },
 *     { "name": "cloud", "profile": "profiles/edge.json", "speedFactor": 2 }
 *   ],
 *   "links": [
 *     { "between": ["device", "edge"], "mbitPerS": 10, "rttMs": 20 },
 *     { "between": ["edge", "cloud"], "mbitPerS": 1000, "rttMs": 2 }
 *   ]
 * }
 * ```
 *
 * A tier's costs are a tier profile (`branchy calibrate --profile-out FILE`, run on that tier; the path is relative
 * to the tiers file) or, without `profile`, the model's own stored calibration profile; `speedFactor` (default 1)
 * divides every compute and serialisation cost of it (0.5: half as fast). `power` is needed on the first tier,
 * whose energy the planner reports, and optional elsewhere. `quota` states that the tier is held to a CPU quota
 * (a cgroup's `cpu.cfs_quota_us`, a container's `--cpus`): `speedFactor` is then its sustained speed and
 * `quota.burstSpeedFactor` its speed while the period's budget lasts, e.g.
 * `"quota": { "cpuShare": 0.2, "periodMs": 100, "burstSpeedFactor": 1 }`.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import type { TierQuota } from './cost-model.ts';
import { BranchyTiersError } from './errors.ts';
import { UNIT_NAME_PATTERN } from './plan.ts';

/** What a tier draws: watts while computing, watts while waiting for an answer, joules per byte it sends. */
export interface TierPower {
  busyW: number;
  idleW: number;
  joulesPerByteSent: number;
}

/** One tier of a tiers file. */
export interface TierSpec {
  /** The tier's name; it becomes the name of the unit placed there (letters, digits, `_`, `-`). */
  name: string;
  /** A tier profile file (`branchy calibrate --profile-out`), relative to the tiers file; default: the model's own profile. */
  profile?: string;
  /** Speed relative to the profile: every compute and serialisation cost is divided by it (default 1). */
  speedFactor?: number;
  /** Power figures; required on the first tier. */
  power?: TierPower;
  /** A CPU quota the tier is held to; `speedFactor` is then its sustained speed. */
  quota?: TierQuota;
}

/** A link between two tiers, the same both ways. */
export interface LinkSpec {
  between: [string, string];
  /** Bandwidth in Mbit/s (10⁶ bits per second). */
  mbitPerS: number;
  /** Round-trip time in ms, paid once per hop (a request and its answer). */
  rttMs: number;
}

/** A checked tiers file. */
export interface TiersFile {
  format: 'branchy-tiers/1';
  /** In order from where the input arrives outwards: a cascade's units go on tiers in this order. */
  tiers: TierSpec[];
  links: LinkSpec[];
}

/** The `format` of a tiers file. */
export const TIERS_FORMAT = 'branchy-tiers/1';

/** Largest speed factor accepted: beyond it a value is a slip (a percentage, a clock rate). */
const MAX_SPEED_FACTOR = 1000;
/** Linux's CFS bandwidth period bounds, ms (`cpu.cfs_period_us` takes 1 ms to 1 s) and its default. */
const MAX_PERIOD_MS = 1000;
const DEFAULT_PERIOD_MS = 100;
/** Most cores a quota's share may name. */
const MAX_CPU_SHARE = 1024;

type Json = Record<string, unknown>;

/** A short rendering of a value seen, for messages. */
export function shown(v: unknown): string {
  if (v === undefined) return 'missing';
  let s: string | undefined;
  try {
    s = typeof v === 'number' ? String(v) : JSON.stringify(v);
  } catch {
    s = undefined;
  }
  s ??= String(v);
  return `is ${s.length > 60 ? `${s.slice(0, 57)}...` : s}`;
}

/**
 * A small JSON schema-like checker: each method checks one field and names it, what it holds and what it must
 * hold when it fails.
 */
export class JsonShape {
  readonly source: string;
  readonly code: 'CASCADE_BAD_TIERS' | 'CASCADE_BAD_PROFILE';

  constructor(source: string, code: 'CASCADE_BAD_TIERS' | 'CASCADE_BAD_PROFILE' = 'CASCADE_BAD_TIERS') {
    this.source = source;
    this.code = code;
  }

  fail(field: string, seen: string, expected: string): never {
    throw new BranchyTiersError(this.code, this.source, field, seen, expected);
  }

  /**
   * An object holding only the `allowed` keys and every key of `required` (which maps each required key to what
   * it must hold, for the message when it is missing).
   */
  object(v: unknown, field: string, allowed: readonly string[], required: Readonly<Record<string, string>>): Json {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(field === '' ? 'the file' : field, shown(v), 'an object');
    const o = v as Json;
    const path = (key: string) => (field === '' ? key : `${field}.${key}`);
    for (const key of Object.keys(o)) if (!allowed.includes(key)) this.fail(path(key), 'is not a known field', `only ${allowed.join(', ')}`);
    for (const [key, what] of Object.entries(required)) if (o[key] === undefined) this.fail(path(key), 'is missing', what);
    return o;
  }

  text(v: unknown, field: string, pattern?: RegExp, what = 'a non-empty string'): string {
    if (typeof v !== 'string' || v.length === 0 || (pattern !== undefined && !pattern.test(v))) this.fail(field, shown(v), what);
    return v;
  }

  /** A finite number with `min <` (or `≤` when `inclusive`) it `≤ max`. */
  number(v: unknown, field: string, min: number, inclusive: boolean, max = Infinity): number {
    const ok = typeof v === 'number' && Number.isFinite(v) && (inclusive ? v >= min : v > min) && v <= max;
    if (!ok) this.fail(field, shown(v), `a number ${inclusive ? '≥' : '>'} ${min}${max === Infinity ? '' : ` and ≤ ${max}`}`);
    return v as number;
  }

  array(v: unknown, field: string, minLength: number, what: string): unknown[] {
    if (!Array.isArray(v)) this.fail(field, shown(v), `an array of ${what}`);
    if (v.length < minLength) this.fail(field, `has ${v.length} ${v.length === 1 ? 'entry' : 'entries'}`, `at least ${minLength} (${what})`);
    return v;
  }
}

function checkPower(at: JsonShape, v: unknown, field: string): TierPower {
  const p = at.object(v, field, ['busyW', 'idleW', 'joulesPerByteSent'], {
    busyW: 'watts while computing',
    idleW: 'watts while waiting for an answer',
    joulesPerByteSent: 'joules per byte sent',
  });
  return {
    busyW: at.number(p.busyW, `${field}.busyW`, 0, true),
    idleW: at.number(p.idleW, `${field}.idleW`, 0, true),
    joulesPerByteSent: at.number(p.joulesPerByteSent, `${field}.joulesPerByteSent`, 0, true),
  };
}

function checkQuota(at: JsonShape, v: unknown, field: string, speedFactor: number): TierQuota {
  const q = at.object(v, field, ['cpuShare', 'periodMs', 'burstSpeedFactor'], {
    cpuShare: 'the share of one core the quota grants (0.2: 20 ms per 100 ms)',
    burstSpeedFactor: "the tier's speed factor while the period's budget lasts",
  });
  const burst = at.number(q.burstSpeedFactor, `${field}.burstSpeedFactor`, 0, false, MAX_SPEED_FACTOR);
  if (burst < speedFactor) at.fail(`${field}.burstSpeedFactor`, shown(burst), `a number ≥ the tier's sustained speedFactor ${speedFactor}`);
  return {
    cpuShare: at.number(q.cpuShare, `${field}.cpuShare`, 0, false, MAX_CPU_SHARE),
    periodMs: q.periodMs === undefined ? DEFAULT_PERIOD_MS : at.number(q.periodMs, `${field}.periodMs`, 1, true, MAX_PERIOD_MS),
    burstSpeedFactor: burst,
  };
}

/**
 * Checks a parsed tiers file: its format, at least two tiers with distinct unit-name-like names, each with an
 * optional profile path, a speed factor in (0, 1000], power figures (required on the first) and a CPU quota
 * (a share of a core in (0, 1024], a period in [1, 1000] ms, a burst speed factor not below the sustained one), and links
 * between two distinct known tiers (one per pair) with a bandwidth > 0 and a round-trip time ≥ 0. Unknown fields
 * are refused, so a misspelt one cannot be silently ignored.
 *
 * @param source the file's name, for messages.
 * @throws BranchyTiersError `CASCADE_BAD_TIERS`, naming the field, the value seen and the value expected.
 * @example
 * ```ts
 * const tiers = validateTiers(JSON.parse(text), 'tiers.json');
 * tiers.tiers.map((t) => t.name); // ['device', 'edge', 'cloud']
 * ```
 */
export function validateTiers(value: unknown, source: string): TiersFile {
  const at = new JsonShape(source);
  const file = at.object(value, '', ['format', 'tiers', 'links'], {
    format: `"${TIERS_FORMAT}"`,
    tiers: 'an array of tiers',
    links: 'an array of links between tiers',
  });
  if (file.format !== TIERS_FORMAT) at.fail('format', shown(file.format), `"${TIERS_FORMAT}"`);
  const names = new Set<string>();
  const tiers = at.array(file.tiers, 'tiers', 2, 'tiers, from where the input arrives outwards').map((t, i): TierSpec => {
    const field = `tiers[${i}]`;
    const o = at.object(
      t,
      field,
      ['name', 'profile', 'speedFactor', 'power', 'quota'],
      i === 0
        ? { name: 'a tier name', power: "power figures {busyW, idleW, joulesPerByteSent}: the first tier's energy is what the planner reports" }
        : { name: 'a tier name' },
    );
    const name = at.text(
      o.name,
      `${field}.name`,
      UNIT_NAME_PATTERN,
      'a name of letters, digits, "_" or "-", starting with a letter (it names the unit placed there)',
    );
    if (names.has(name)) at.fail(`${field}.name`, shown(name), 'a name no other tier has');
    names.add(name);
    const tier: TierSpec = { name };
    if (o.profile !== undefined)
      tier.profile = at.text(o.profile, `${field}.profile`, undefined, 'the path of a tier profile (branchy calibrate --profile-out)');
    if (o.speedFactor !== undefined) tier.speedFactor = at.number(o.speedFactor, `${field}.speedFactor`, 0, false, MAX_SPEED_FACTOR);
    if (o.power !== undefined) tier.power = checkPower(at, o.power, `${field}.power`);
    if (o.quota !== undefined) tier.quota = checkQuota(at, o.quota, `${field}.quota`, tier.speedFactor ?? 1);
    return tier;
  });
  const pairs = new Set<string>();
  const links = at.array(file.links, 'links', 1, 'links between tiers').map((l, i): LinkSpec => {
    const field = `links[${i}]`;
    const o = at.object(l, field, ['between', 'mbitPerS', 'rttMs'], {
      between: 'two tier names',
      mbitPerS: 'a bandwidth in Mbit/s',
      rttMs: 'a round-trip time in ms',
    });
    const between = at.array(o.between, `${field}.between`, 2, 'two tier names');
    if (between.length !== 2) at.fail(`${field}.between`, `has ${between.length} entries`, 'two tier names');
    const [a, b] = between.map((n, k) => {
      if (typeof n !== 'string' || !names.has(n)) at.fail(`${field}.between[${k}]`, shown(n), `one of the tiers: ${[...names].join(', ')}`);
      return n as string;
    });
    if (a === b) at.fail(`${field}.between`, shown(between), 'two different tiers');
    const key = [a, b].sort().join('\u0000');
    if (pairs.has(key)) at.fail(`${field}.between`, shown(between), 'a pair of tiers no other link joins');
    pairs.add(key);
    return { between: [a, b], mbitPerS: at.number(o.mbitPerS, `${field}.mbitPerS`, 0, false), rttMs: at.number(o.rttMs, `${field}.rttMs`, 0, true) };
  });
  return { format: TIERS_FORMAT, tiers, links };
}

/**
 * Reads and checks a tiers file.
 *
 * @throws BranchyTiersError `CASCADE_BAD_TIERS` for a missing or unreadable file, bad JSON, or a field that
 *   {@link validateTiers} refuses.
 */
export function readTiersFile(path: string): TiersFile {
  const at = new JsonShape(path);
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    at.fail('the file', `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, 'a readable tiers file');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    at.fail('the file', `is not JSON (${(error as Error).message})`, `a JSON object with format "${TIERS_FORMAT}"`);
  }
  return validateTiers(value, path);
}

/** A route between two tiers: the direct link, or consecutive links through the tiers between them. */
export interface Route {
  /** The bottleneck bandwidth in Mbit/s (packets are pipelined through the tiers in between). */
  mbitPerS: number;
  /** The sum of the links' round-trip times. */
  rttMs: number;
  /** The tiers it passes, both ends included. */
  via: string[];
}

/**
 * How tier `from` reaches tier `to` (`from` before `to` in the file): their direct link if there is one, else the
 * chain of links through every tier between them in the file's order, if each of those links exists; otherwise
 * none.
 */
export function routeBetween(file: TiersFile, from: string, to: string): Route | undefined {
  const link = (a: string, b: string) => file.links.find((l) => (l.between[0] === a && l.between[1] === b) || (l.between[0] === b && l.between[1] === a));
  const direct = link(from, to);
  if (direct) return { mbitPerS: direct.mbitPerS, rttMs: direct.rttMs, via: [from, to] };
  const names = file.tiers.map((t) => t.name);
  const i = names.indexOf(from);
  const j = names.indexOf(to);
  if (i < 0 || j <= i + 1) return undefined;
  let mbitPerS = Infinity;
  let rttMs = 0;
  for (let k = i; k < j; k++) {
    const l = link(names[k], names[k + 1]);
    if (!l) return undefined;
    mbitPerS = Math.min(mbitPerS, l.mbitPerS);
    rttMs += l.rttMs;
  }
  return { mbitPerS, rttMs, via: names.slice(i, j + 1) };
}
