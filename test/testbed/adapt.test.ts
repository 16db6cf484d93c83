import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { calibratedCopy, testDigits } from '../../bench/testbed/predict.ts';
import { splitModel, writePlan } from '../../src/cascade/plan.ts';
import type { DeploymentPlan } from '../../src/cascade/types.ts';
import { tempDir } from '../helpers.ts';
import { startCascade, type TestbedCascade } from './cascade.ts';
import { openLoop, windowFigures, type Answered } from './load.ts';
import { createTestbed, needsTestbed, THIN_LINK_BURST_BYTES, type Testbed } from './testbed.ts';

/** Under it at 10 Mbit/s (a forwarded digit takes ~45 ms), over it at 2 (~95 ms: 72 ms of frame alone). */
const SLO_MS = 80;
const RATE = 20;
/** Phases: the fast link, the slow one, the fast one again. */
const PHASES_MS = [6000, 8000, 12_000];

describe('bandwidth-adaptive thresholds on the testbed: the link drops from 10 to 2 Mbit/s and comes back', { skip: needsTestbed() }, () => {
  let testbed: Testbed;
  let cascade: TestbedCascade;
  let plan: DeploymentPlan;
  let answers: Answered[];

  before(async () => {
    const copy = calibratedCopy();
    const planDir = join(tempDir(), 'plan');
    plan = writePlan(planDir, splitModel(copy.model, { at: [1], names: ['device', 'edge'] }));
    testbed = await createTestbed({ links: [{ from: 'device', to: 'edge', mbit: 10, rttMs: 20, burstBytes: THIN_LINK_BURST_BYTES }], cpu: { device: 0.5 } });
    cascade = await startCascade(testbed, planDir, { device: 'device', edge: 'edge' }, ['--threads', '1', '--hop-timeout-ms', '5000'], {
      device: ['--slo-ms', String(SLO_MS), '--probe-every-ms', '500'],
    });
    const { samples, labels } = testDigits(2000);
    const data = { x: samples, y: Array.from(labels) };
    await openLoop(cascade, data, { ratePerS: RATE, durationMs: 2000, first: 1500 });
    let phase = 0;
    answers = await openLoop(cascade, data, {
      ratePerS: RATE,
      durationMs: PHASES_MS.reduce((a, b) => a + b, 0),
      onTick: (ms) => {
        const now = ms < PHASES_MS[0] ? 0 : ms < PHASES_MS[0] + PHASES_MS[1] ? 1 : 2;
        if (now !== phase) testbed.setRate(0, now === 1 ? 2 : 10);
        phase = now;
      },
    });
  });

  after(async () => {
    await cascade?.stop();
    await testbed?.destroy();
  });

  it("answers every request, each at a point of the plan's front", () => {
    assert.equal(answers.length, (RATE * PHASES_MS.reduce((a, b) => a + b, 0)) / 1000);
    assert.deepEqual(
      answers.filter((a) => a.status !== 200),
      [],
    );
    assert.ok(answers.every((a) => a.point !== undefined && a.point >= 0 && a.point <= plan.front!.chosen));
  });

  it("keeps the plan's point on the fast link, moves to cheaper points on the slow one, and comes back", () => {
    // Medians rather than every answer: on a loaded machine a late hop now and then can move it for a moment, as
    // it should (the hop was late).
    const chosen = plan.front!.chosen;
    const [fast, slow, again] = PHASES_MS;
    const at = (from: number, to: number) => answers.filter((a) => a.at >= from && a.at < to).map((a) => a.point!);
    const median = (points: number[]) => [...points].sort((a, b) => a - b)[points.length >> 1];
    const onFast = at(1000, fast);
    assert.equal(median(onFast), chosen, `fast link: points ${JSON.stringify(onFast)}, plan's ${chosen}`);
    const slowEnd = at(fast + slow / 2, fast + slow);
    assert.ok(
      slowEnd.every((p) => p < chosen),
      `the second half of the slow phase: points ${JSON.stringify(slowEnd)}, plan's ${chosen}`,
    );
    const last = at(fast + slow + again - 3000, Infinity);
    assert.ok(median(last) > Math.max(...slowEnd), `the last 3 s: points ${JSON.stringify(last)}; slow phase up to ${Math.max(...slowEnd)}`);
  });

  it('sends fewer samples over the slow link than over the fast one', () => {
    const [fast, slow] = PHASES_MS;
    const f = windowFigures(answers, 1000, fast, 'device');
    const s = windowFigures(answers, fast + slow / 2, fast + slow, 'device');
    assert.ok(s.firstUnitShare > f.firstUnitShare || s.firstUnitShare === 1, `on device: ${f.firstUnitShare} fast, ${s.firstUnitShare} slow`);
  });
});
