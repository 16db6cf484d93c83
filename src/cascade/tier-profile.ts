/**
 * A tier profile: what a network's stages and exit heads and the frames between units cost on one machine, as
 * `branchy calibrate --profile-out FILE` measures it there. The planner reads one per tier.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { StoredCostProfile } from '../calibrate/types.ts';
import { BranchyIoError } from '../common/errors.ts';
import { writeFileAtomic } from '../io/model-dir.ts';
import { checkStoredCostProfile } from '../io/stored-calibration.ts';
import type { NetworkSpec } from '../spec/types.ts';
import { BranchyCascadeError } from './errors.ts';
import type { CodecCost, LinearCost } from './codec-cost.ts';
import type { RequestCost, RequestCostFigures } from './request-cost.ts';
import { JsonShape, shown } from './tiers.ts';
import { FEATURE_DTYPES } from './types.ts';

/** The `format` of a tier profile. */
export const TIER_PROFILE_FORMAT = 'branchy-tier-profile/1';

/** A tier profile file. */
export interface TierProfile {
  format: 'branchy-tier-profile/1';
  /** The network it was measured on: its name and {@link architectureId}. */
  network: { name: string; architecture: string };
  /** Per stage and exit head, batch 1 and batched, as calibration measures it. */
  profile: StoredCostProfile;
  /** The frames' serialisation costs on the same machine. */
  codec: CodecCost;
  /**
   * What a lone HTTP request costs outside the model there (`measureRequestCost`); profiles written before it was
   * measured lack it, and the planner then charges no per-request cost for the tier.
   */
  request?: RequestCost;
}

/**
 * A SHA-256 over what decides a network's costs: its input shape, class count, stages and exit heads (not its
 * name, weights, normalisation or thresholds). A profile measured on one copy of a network fits every copy with
 * other weights or thresholds.
 */
export function architectureId(spec: NetworkSpec): string {
  const { input, classes, stages, exits } = spec;
  return createHash('sha256')
    .update(JSON.stringify({ input: input.shape, classes: classes.length, stages, exits }))
    .digest('hex');
}

/** The tier profile of `spec` from a measured cost profile, codec cost and, when measured, request cost. */
export function tierProfileOf(spec: NetworkSpec, profile: StoredCostProfile, codec: CodecCost, request?: RequestCost): TierProfile {
  return { format: TIER_PROFILE_FORMAT, network: { name: spec.name, architecture: architectureId(spec) }, profile, codec, ...(request ? { request } : {}) };
}

/** Writes a tier profile atomically (pretty JSON). */
export function writeTierProfile(path: string, profile: TierProfile): void {
  writeFileAtomic(path, `${JSON.stringify(profile, null, 2)}\n`);
}

function checkLine(at: JsonShape, v: unknown, field: string): LinearCost {
  const o = at.object(v, field, ['fixedMs', 'msPerByte'], { fixedMs: 'ms per frame', msPerByte: 'ms per byte' });
  return { fixedMs: at.number(o.fixedMs, `${field}.fixedMs`, 0, true), msPerByte: at.number(o.msPerByte, `${field}.msPerByte`, 0, true) };
}

function checkCodec(at: JsonShape, v: unknown): CodecCost {
  const frame = (x: unknown, field: string) => {
    const o = at.object(x, field, ['encode', 'decode'], { encode: 'an encoding cost', decode: 'a decoding cost' });
    return { encode: checkLine(at, o.encode, `${field}.encode`), decode: checkLine(at, o.decode, `${field}.decode`) };
  };
  const codec = at.object(v, 'codec', ['features', 'answers'], { features: 'features frame costs per dtype', answers: 'answer frame costs' });
  const features = at.object(codec.features, 'codec.features', FEATURE_DTYPES, Object.fromEntries(FEATURE_DTYPES.map((d) => [d, `the ${d} frame costs`])));
  return {
    features: Object.fromEntries(FEATURE_DTYPES.map((d) => [d, frame(features[d], `codec.features.${d}`)])) as CodecCost['features'],
    answers: frame(codec.answers, 'codec.answers'),
  };
}

function checkRequest(at: JsonShape, v: unknown): RequestCost {
  const kinds = { json: 'the cost of a JSON predict request', frame: 'the cost of a binary predict request' };
  const o = at.object(v, 'request', ['json', 'frame', 'idle', 'wait', 'method'], { ...kinds, method: 'how it was measured' });
  const numbers = <K extends string>(x: unknown, field: string, keys: readonly K[], what: string): Record<K, number> => {
    const f = at.object(x, field, keys, Object.fromEntries(keys.map((k) => [k, what])));
    return Object.fromEntries(keys.map((k) => [k, at.number(f[k], `${field}.${k}`, 0, true)])) as Record<K, number>;
  };
  const figures = (x: unknown, field: string): RequestCostFigures =>
    numbers(x, field, ['overheadMs', 'meanMs', 'p95Ms', 'roundTripMs', 'engineMs'], 'ms per request');
  const m = at.object(o.method, 'request.method', ['route', 'requests', 'warmup', 'gapMs', 'maxWaitMs'], {
    route: 'what was asked',
    requests: 'how many requests were timed',
    warmup: 'how many went first untimed',
    gapMs: 'the idle time before each',
    maxWaitMs: "the server's batching wait",
  });
  return {
    json: figures(o.json, 'request.json'),
    frame: figures(o.frame, 'request.frame'),
    ...(o.idle === undefined ? {} : { idle: numbers(o.idle, 'request.idle', ['pacedMs', 'backToBackMs', 'extraMs'], 'ms of engine time') }),
    ...(o.wait === undefined ? {} : { wait: numbers(o.wait, 'request.wait', ['nominalMs', 'roundTripMs', 'lateMs'], 'ms') }),
    method: {
      route: at.text(m.route, 'request.method.route'),
      requests: at.number(m.requests, 'request.method.requests', 0, false),
      warmup: at.number(m.warmup, 'request.method.warmup', 0, true),
      gapMs: at.number(m.gapMs, 'request.method.gapMs', 0, true),
      maxWaitMs: at.number(m.maxWaitMs, 'request.method.maxWaitMs', 0, true),
    },
  };
}

/**
 * Reads and checks a tier profile; with `spec`, also that it was measured on that network's architecture.
 *
 * A profile without `request` (written before the per-request cost was measured) is read as it is.
 *
 * @throws BranchyTiersError `CASCADE_BAD_PROFILE` for a missing or unreadable file, bad JSON or a field of the
 *   wrong shape (naming it, the value seen and the value expected); BranchyCascadeError
 *   `CASCADE_PROFILE_MISMATCH` when it is another network's.
 */
export function readTierProfile(path: string, spec?: NetworkSpec): TierProfile {
  const at = new JsonShape(path, 'CASCADE_BAD_PROFILE');
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    at.fail('the file', e.code ? `cannot be read (${e.code})` : `is not JSON (${e.message})`, "a tier profile written by 'branchy calibrate --profile-out'");
  }
  const o = at.object(value, '', ['format', 'network', 'profile', 'codec', 'request'], {
    format: `"${TIER_PROFILE_FORMAT}"`,
    network: 'the network it was measured on',
    profile: 'a cost profile',
    codec: 'frame costs',
  });
  if (o.format !== TIER_PROFILE_FORMAT) at.fail('format', shown(o.format), `"${TIER_PROFILE_FORMAT}"`);
  const network = at.object(o.network, 'network', ['name', 'architecture'], { name: 'a network name', architecture: 'an architecture id' });
  const name = at.text(network.name, 'network.name');
  const architecture = at.text(network.architecture, 'network.architecture', /^[0-9a-f]{64}$/, '64 hex digits');
  const profileObject = at.object(o.profile, 'profile', Object.keys(o.profile ?? {}), { pieces: 'one cost row per stage and exit head' });
  const pieces = at.array(profileObject.pieces, 'profile.pieces', 2, 'one cost row per stage and exit head');
  if (pieces.length % 2 !== 0) at.fail('profile.pieces', `has ${pieces.length} entries`, 'two per stage (the stage and its exit head)');
  let profile: StoredCostProfile;
  try {
    profile = checkStoredCostProfile(o.profile, pieces.length / 2, path, 'profile');
  } catch (error) {
    if (error instanceof BranchyIoError) throw new BranchyCascadeError('CASCADE_BAD_PROFILE', error.message, 400, { cause: error });
    throw error;
  }
  const codec = checkCodec(at, o.codec);
  const request = o.request === undefined ? undefined : checkRequest(at, o.request);
  if (spec !== undefined && architecture !== architectureId(spec)) {
    throw new BranchyCascadeError(
      'CASCADE_PROFILE_MISMATCH',
      `'${path}' was measured on network '${name}' (architecture ${architecture.slice(0, 12)}…); the model is '${spec.name}' (architecture ${architectureId(spec).slice(0, 12)}…). Measure a profile of this network on that tier with 'branchy calibrate --profile-out'.`,
    );
  }
  return { format: TIER_PROFILE_FORMAT, network: { name, architecture }, profile, codec, ...(request ? { request } : {}) };
}
