import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { StoredCostProfile } from '../../src/calibrate/types.ts';
import type { CodecCost } from '../../src/cascade/codec-cost.ts';
import { placementFigures, tierCosts, type CostModelOptions, type Placement, type TierQuota } from '../../src/cascade/cost-model.ts';
import { placementSetup } from '../../src/cascade/placement-input.ts';
import { measureRequestCost, type RequestCost } from '../../src/cascade/request-cost.ts';
import { readTierProfile, tierProfileOf, writeTierProfile } from '../../src/cascade/tier-profile.ts';
import { validateTiers } from '../../src/cascade/tiers.ts';
import { loadDataSource } from '../../src/data/source.ts';
import { loadModelDir } from '../../src/io/model-dir.ts';
import { readStoredCalibration } from '../../src/io/stored-calibration.ts';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { openModel } from '../../src/open/open-model.ts';
import { tempDir, tinySpec } from '../helpers.ts';

/** A profile set by hand: each of the three stages 1 ms and each exit head 0.5 ms per sample, at batch 1 and batched. */
function handProfile(): StoredCostProfile {
  const times = (ms: number) => ({ meanMs: ms, p50Ms: ms, p95Ms: ms, typicalMs: ms });
  const pieces = [1, 2, 3].flatMap((index) => [
    { kind: 'stage' as const, index, batch1: times(1), batched: { batchSize: 8, ...times(1) }, flops: null, params: null },
    { kind: 'exit' as const, index, batch1: times(0.5), batched: { batchSize: 8, ...times(0.5) }, flops: null, params: null },
  ]);
  return {
    runtime: 'hand',
    machine: { cpu: 'hand', cores: 1, node: 'v20', measuredAt: '2026-12-07T00:00:00.000Z' },
    pieces,
    costToExit: [1.5, 3, 4.5],
    costToExitBatched: [1.5, 3, 4.5],
    finalOnlyCost: 3.5,
    finalOnlyCostBatched: 3.5,
  };
}

const zero = { fixedMs: 0, msPerByte: 0 };
const NO_CODEC: CodecCost = {
  features: { f32: { encode: zero, decode: zero }, f16: { encode: zero, decode: zero }, int8: { encode: zero, decode: zero } },
  answers: { encode: zero, decode: zero },
};

/** A measured request cost of `json` and `frame` ms per request; with `slow`, the engine's extra after idling and the wait's lateness. */
function handRequest(json: number, frame: number, slow?: { idleMs: number; lateMs: number }): RequestCost {
  const figures = (ms: number) => ({ overheadMs: ms, meanMs: ms, p95Ms: ms, roundTripMs: ms + 0.1, engineMs: 0.1 });
  return {
    json: figures(json),
    frame: figures(frame),
    ...(slow
      ? {
          idle: { pacedMs: 0.1 + slow.idleMs, backToBackMs: 0.1, extraMs: slow.idleMs },
          wait: { nominalMs: 2, roundTripMs: json + 2.1 + slow.lateMs, lateMs: slow.lateMs },
        }
      : {}),
    method: { route: 'by hand', requests: 10, warmup: 1, gapMs: 50, maxWaitMs: 0 },
  };
}

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);

describe('per-request costs and CPU quotas in the cost model', () => {
  const spec = tinySpec();
  const modelId = 'a'.repeat(64);
  // A hop of no bytes' cost and a 10 ms RTT; no batching waits, so every other term is by hand.
  const hops = [{ mbitPerS: 1e12, rttMs: 10 }];
  const base: CostModelOptions = { maxWaitMs: 0, requestWaitMs: 0 };
  const point = { thresholds: [0.5, 0.5], exitShare: [0.5, 0.25, 0.25] };
  const device = (options: { request?: RequestCost; quota?: TierQuota; speedFactor?: number } = {}) =>
    tierCosts('device', handProfile(), NO_CODEC, { speedFactor: 0.5, ...options });
  const edge = tierCosts('edge', handProfile(), NO_CODEC, { request: handRequest(1, 0.4) });
  const placement = (first: ReturnType<typeof device>): Placement => ({ cuts: [2], tiers: [first, edge], hops, forward: 'features' });

  it("charges the first unit's JSON request and each receiving unit's binary one, divided by the tier's speed", () => {
    const d = device({ request: handRequest(1.5, 0.8) });
    assert.deepEqual(d.requestMs, { json: 3, frame: 1.6 }, 'at speed 0.5 a request costs twice the profile');
    const f = placementFigures(spec, modelId, placement(d), point, base);
    // Device: stages and heads 3 ms each at speed 0.5; exit 3 on the edge adds 10 ms RTT and 1.5 ms of compute.
    const requests = [3, 3, 3 + 0.4];
    const compute = [3, 6, 6 + 1.5];
    f.perExit.forEach((e, i) => {
      close(e.terms.requestMs, requests[i], `exit ${i + 1}: request handling`);
      close(e.latencyMs, compute[i] + requests[i] + (i === 2 ? 10 : 0), `exit ${i + 1}: latency`);
    });
    assert.deepEqual(
      f.perExit[2].busyMs.map((v) => +v.toFixed(9)),
      [3 + 6, 0.4 + 1.5],
      'each unit is busy with its own request and compute',
    );
    close(f.latencyMeanMs, 0.5 * 6 + 0.25 * 9 + 0.25 * (7.5 + 3.4 + 10), 'mean');
    assert.deepEqual(
      f.speeds.map((s) => s.mode),
      ['fixed', 'fixed'],
    );
    const inProcess = placementFigures(spec, modelId, placement(d), point, { ...base, chargeRequests: false });
    assert.ok(
      inProcess.perExit.every((e) => e.terms.requestMs === 0),
      'units called in-process handle no request',
    );
  });

  it("charges each computing unit the engine's extra after idling, and each wait its lateness, on the unit's tier", () => {
    const d = device({ request: handRequest(1.5, 0.8, { idleMs: 0.1, lateMs: 0.5 }) });
    const e = tierCosts('edge', handProfile(), NO_CODEC, { request: handRequest(1, 0.4, { idleMs: 0.3, lateMs: 0.7 }) });
    assert.equal(d.idleEngineMs, 0.2, 'engine time is divided by the speed factor 0.5');
    assert.equal(d.waitLateMs, 0.5, "a timer's lateness is not");
    const at: Placement = { cuts: [2], tiers: [d, e], hops, forward: 'features' };
    const f = placementFigures(spec, modelId, at, point, { maxWaitMs: 2, requestWaitMs: 2 });
    // Device: 3 ms a piece and 3 ms a request at speed 0.5 (as above), 0.2 ms idle, a 2.5 ms wait; exit 3 adds the edge's.
    close(f.perExit[0].latencyMs, 6 + 0.2 + 2.5, 'exit 1');
    close(f.perExit[0].terms.waitMs, 2.5, "exit 1 waits the first unit's 2 ms and its lateness");
    close(f.perExit[2].terms.waitMs, 2.5 + 2.7, "exit 3 also waits the edge's 2 ms and its lateness");
    close(f.perExit[2].terms.computeMs, 6 + 0.2 + 1.5 + 0.3, 'exit 3 computes on both units, each after idling');
    assert.deepEqual(
      f.perExit[2].busyMs.map((v) => +v.toFixed(9)),
      [3 + 6.2, 0.4 + 1.8],
      'idle engine time is busy time',
    );
    const noWait = placementFigures(spec, modelId, at, point, base);
    close(noWait.perExit[2].terms.waitMs, 0, 'a wait of 0 runs at once: no lateness');
    const inProcess = placementFigures(spec, modelId, at, point, { maxWaitMs: 2, requestWaitMs: 2, chargeRequests: false });
    close(inProcess.perExit[2].terms.waitMs, 4, 'units called in-process: the nominal waits');
    close(inProcess.perExit[2].terms.computeMs, 7.5, 'and the back-to-back compute');
  });

  it('charges nothing for a tier whose profile has no request cost', () => {
    const d = device();
    assert.equal(d.requestMs, undefined);
    const f = placementFigures(spec, modelId, placement(d), point, base);
    assert.deepEqual(
      f.perExit.map((e) => e.terms.requestMs),
      [0, 0, 0.4],
      "only the edge's own request is charged",
    );
  });

  it("takes a quota-limited tier's burst speed while its busy time per period fits the budget, and its sustained speed beyond", () => {
    // Sustained 0.5, burst 2 (4 times as fast); 10 ms of CPU per 100 ms period.
    const quota: TierQuota = { cpuShare: 0.1, periodMs: 100, burstSpeedFactor: 2 };
    const d = device({ request: handRequest(1.5, 0.8), quota });
    assert.deepEqual(d.burst, { speedup: 4, budgetMs: 10, periodMs: 100 });
    const alone = placementFigures(spec, modelId, placement(d), point, base);
    // At burst speed the device spends 0.75 + 0.75 (exit 1), 1.5 + 0.75 (exit 2) and 2.25 (exit 3, before the hop) ms.
    assert.deepEqual(alone.speeds[0], { tier: 'device', mode: 'burst', busyPerPeriodMs: 2.25, budgetMs: 10 }, 'one request alone: its own busy time');
    assert.equal(alone.speeds[1].mode, 'fixed', 'the edge has no quota');
    close(alone.perExit[0].latencyMs, 0.75 + 0.75, 'exit 1 at the burst speed: compute and request');
    close(alone.perExit[2].latencyMs, 1.5 + 0.75 + 10 + 1.5 + 0.4, 'exit 3: the device at its burst speed, the edge as it is');
    // Expected busy per request at burst speed: 0.5 × 1.5 + 0.25 × 2.25 + 0.25 × 2.25 = 1.875 ms; 50/s offer 5 per period.
    const light = placementFigures(spec, modelId, placement(d), point, { ...base, requestsPerS: 50 });
    assert.equal(light.speeds[0].mode, 'burst');
    close(light.speeds[0].busyPerPeriodMs!, 5 * 1.875, '9.375 ms of 10');
    const heavy = placementFigures(spec, modelId, placement(d), point, { ...base, requestsPerS: 60 });
    assert.equal(heavy.speeds[0].mode, 'sustained', '11.25 ms a period is beyond the budget');
    close(heavy.perExit[0].latencyMs, 6, 'exit 1 at the sustained speed: 3 ms compute + 3 ms request');
    assert.equal(heavy.throughputPerS, alone.throughputPerS, 'throughput (full batches) is at the sustained speed either way');
  });

  it('reads a quota from a tiers file and refuses a bad one with the field named', () => {
    const file = (quota: unknown) => ({
      format: 'branchy-tiers/1',
      tiers: [{ name: 'device', speedFactor: 0.2, quota, power: { busyW: 1, idleW: 0.1, joulesPerByteSent: 0 } }, { name: 'edge' }],
      links: [{ between: ['device', 'edge'], mbitPerS: 10, rttMs: 20 }],
    });
    assert.deepEqual(validateTiers(file({ cpuShare: 0.2, burstSpeedFactor: 1 }), 't.json').tiers[0].quota, {
      cpuShare: 0.2,
      periodMs: 100,
      burstSpeedFactor: 1,
    });
    for (const [quota, pattern] of [
      [{ cpuShare: 0, burstSpeedFactor: 1 }, /tiers\[0\]\.quota\.cpuShare is 0; expected a number > 0/],
      [{ cpuShare: 0.2, burstSpeedFactor: 0.1 }, /tiers\[0\]\.quota\.burstSpeedFactor is 0\.1; expected a number ≥ the tier's sustained speedFactor 0\.2/],
      [{ cpuShare: 0.2, burstSpeedFactor: 1, periodMs: 5000 }, /tiers\[0\]\.quota\.periodMs is 5000; expected a number ≥ 1 and ≤ 1000/],
      [{ cpuShare: 0.2 }, /tiers\[0\]\.quota\.burstSpeedFactor is missing/],
      [{ cpuShare: 0.2, burstSpeedFactor: 1, share: 1 }, /tiers\[0\]\.quota\.share is not a known field/],
    ] as const) {
      assert.throws(() => validateTiers(file(quota), 't.json'), { code: 'CASCADE_BAD_TIERS', message: pattern }, JSON.stringify(quota));
    }
  });
});

describe('measuring the per-request cost', () => {
  it('measures a positive, finite cost outside the model on a real server on loopback, and a tier profile keeps it', async () => {
    const { net } = await openModel(SHIPPED_MODEL_DIR, { engine: 'ort', threads: 1 });
    const samples = loadDataSource('mnist', 1).validation;
    let cost: RequestCost;
    try {
      cost = await measureRequestCost(net, samples, { requests: 6, gapMs: 5, warmup: 2 });
    } finally {
      net.dispose();
    }
    for (const kind of ['json', 'frame'] as const) {
      const f = cost[kind];
      for (const [name, v] of Object.entries(f)) assert.ok(Number.isFinite(v) && v > 0, `${kind}.${name} is ${v}`);
    }
    assert.deepEqual({ ...cost.method, route: '' }, { route: '', requests: 6, warmup: 2, gapMs: 5, maxWaitMs: 0 });
    const { idle, wait } = cost;
    assert.ok(idle && [idle.pacedMs, idle.backToBackMs].every((v) => Number.isFinite(v) && v > 0) && idle.extraMs >= 0, JSON.stringify(idle));
    assert.ok(wait && wait.nominalMs === 2 && wait.lateMs >= 0 && Number.isFinite(wait.lateMs), JSON.stringify(wait));
    assert.ok(wait.roundTripMs >= 2, `a request to a server that waits 2 ms to batch takes ${wait.roundTripMs} ms`);
    const model = loadModelDir(SHIPPED_MODEL_DIR);
    const calibration = readStoredCalibration(model.manifest, model.dir)!;
    const path = join(tempDir(), 'profile.json');
    writeTierProfile(path, tierProfileOf(model.spec, calibration.profile, NO_CODEC, cost));
    assert.deepEqual(readTierProfile(path, model.spec).request, cost);
    const bad = JSON.parse(readFileSync(path, 'utf8'));
    bad.request.wait.lateMs = -1;
    writeFileSync(path, JSON.stringify(bad));
    assert.throws(() => readTierProfile(path, model.spec), { code: 'CASCADE_BAD_PROFILE', message: /request\.wait\.lateMs is -1/ });
  });

  it('plans from a profile written before the per-request cost, charging 0 and saying so', () => {
    const model = loadModelDir(SHIPPED_MODEL_DIR);
    const stored = readStoredCalibration(model.manifest, model.dir)!.profile;
    const dir = tempDir();
    const profile = tierProfileOf(model.spec, stored, NO_CODEC);
    writeTierProfile(join(dir, 'old.json'), profile);
    assert.equal(JSON.parse(readFileSync(join(dir, 'old.json'), 'utf8')).request, undefined, 'an old profile has no request field');
    writeTierProfile(join(dir, 'new.json'), tierProfileOf(model.spec, stored, NO_CODEC, handRequest(1, 0.5)));
    const copy = join(dir, 'model');
    cpSync(SHIPPED_MODEL_DIR, copy, { recursive: true });
    writeFileSync(
      join(dir, 'tiers.json'),
      JSON.stringify({
        format: 'branchy-tiers/1',
        tiers: [
          { name: 'device', profile: 'old.json', power: { busyW: 1, idleW: 0.1, joulesPerByteSent: 0 } },
          { name: 'edge', profile: 'new.json' },
        ],
        links: [{ between: ['device', 'edge'], mbitPerS: 10, rttMs: 20 }],
      }),
    );
    const { input, sources } = placementSetup(loadModelDir(copy), join(dir, 'tiers.json'));
    assert.equal(sources[0].request, undefined);
    assert.deepEqual(sources[1].request, { json: 1, frame: 0.5, requests: 10, gapMs: 50 });
    assert.equal(input.tiers[0].requestMs, undefined);
    assert.deepEqual(input.tiers[1].requestMs, { json: 1, frame: 0.5 });
  });
});
