import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { splitModel, writePlan } from '../../src/cascade/plan.ts';
import type { DeploymentPlan } from '../../src/cascade/types.ts';
import { loadModelDir } from '../../src/io/model-dir.ts';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { branchy, tempDir } from '../helpers.ts';
import { digits } from '../serve/fixtures.ts';
import { predict, startUnit, type RunningUnit, type UnitAnswer } from '../cascade/units.ts';
import { startCascade, type TestbedCascade } from './cascade.ts';
import { measureBandwidth, measureRtt, measureSlowdown, median } from './measure.ts';
import { createTestbed, needsTestbed, type Testbed, type TestbedConfig } from './testbed.ts';

const CONFIG: TestbedConfig = {
  links: [
    { from: 'device', to: 'edge', mbit: 10, rttMs: 20 },
    { from: 'edge', to: 'cloud', mbit: 1000, rttMs: 1 },
  ],
  cpu: { device: 0.2 },
};
const SAMPLES = digits(40, 300);
const THRESHOLD_VECTORS = [[0.05], [0.4618]];
const SPIN_ITERATIONS = 10_000_000;

/** Each transfer's time of a `measureBandwidth` with several tries, in ms. */
function transferTimes(m: { allMs: number[] }): string {
  return m.allMs.map((ms) => ms.toFixed(0)).join(', ');
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

/** What a comparison of two cascades' answers looks at: who answered what, from which exit. */
function answers(results: readonly UnitAnswer[]) {
  return results.map((r) => [r.label, r.exit, r.unit, r.degraded]);
}

describe('branchy unit binds beyond loopback only in a testbed namespace', () => {
  it('refuses a 10.77 address without --testbed, an address outside 10.77.0.0/16 with it, and a 10.77 address in the machine’s own namespace', async () => {
    const planDir = join(tempDir(), 'plan');
    writePlan(planDir, splitModel(loadModelDir(SHIPPED_MODEL_DIR), { at: [1], names: ['device', 'cloud'] }));
    const cases: [string[], RegExp][] = [
      [['--host', '10.77.0.1'], /SERVE_UNSAFE_HOST: --host 10\.77\.0\.1 would expose the unit.*--testbed/],
      [['--host', '0.0.0.0', '--testbed'], /SERVE_UNSAFE_HOST: --testbed binds only addresses of 10\.77\.0\.0\/16; --host is 0\.0\.0\.0/],
      [['--host', '10.77.0.1', '--testbed'], /SERVE_UNSAFE_HOST: --testbed --host 10\.77\.0\.1: this process/],
    ];
    for (const [args, pattern] of cases) {
      const r = await branchy('unit', planDir, '--unit', 'cloud', '--port', '0', ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
    }
  });
});

describe('a device/edge/cloud testbed of network namespaces, veth pairs, tbf and a CPU quota', { skip: needsTestbed() }, () => {
  let testbed: Testbed;
  let cascade: TestbedCascade | undefined;
  const loopback: RunningUnit[] = [];
  let planDir: string;
  let plan: DeploymentPlan;

  before(async () => {
    testbed = await createTestbed(CONFIG);
    planDir = join(tempDir(), 'lenet');
    plan = writePlan(planDir, splitModel(loadModelDir(SHIPPED_MODEL_DIR), { at: [1], names: ['device', 'cloud'] }));
  });

  after(async () => {
    await cascade?.stop();
    for (const unit of loopback) await unit.stop();
    await testbed?.destroy();
  });

  it('builds three namespaces joined by veth pairs, and adds no address or route to the machine’s own namespace', () => {
    const names = ip('netns', 'list');
    for (const host of ['device', 'edge', 'cloud']) assert.match(names, new RegExp(`^${testbed.namespace(host)}\\b`, 'm'));
    // The edge holds one end of each link (the kernel may list IPv6 link-local addresses between them).
    const edge = ip('-n', testbed.namespace('edge'), '-o', 'addr');
    assert.match(edge, /device +inet 10\.77\.0\.2\/30/);
    assert.match(edge, /cloud +inet 10\.77\.1\.1\/30/);
    assert.doesNotMatch(ip('-o', 'addr') + ip('route'), /10\.77\./);
    assert.doesNotMatch(ip('-o', 'link'), new RegExp(testbed.id));
  });

  it('shapes device→edge to 10 Mbit/s: 1 MB arrives within ±25% of the rate', async (t) => {
    const fast = await measureBandwidth(testbed, 'device', 'edge', 1 << 20, { tries: 2 });
    t.diagnostic(`device→edge: ${fast.mbit.toFixed(2)} Mbit/s of payload at best (1 MiB in ${transferTimes(fast)} ms)`);
    assert.ok(Math.abs(fast.mbit - 10) <= 2.5, `${fast.mbit} Mbit/s`);
  });

  it('setRate changes the shaping mid-run, both ways', async (t) => {
    testbed.setRate({ from: 'device', to: 'edge' }, 2);
    const slow = await measureBandwidth(testbed, 'device', 'edge', 128 << 10, { tries: 3 });
    const back = await measureBandwidth(testbed, 'edge', 'device', 128 << 10, { tries: 3 });
    testbed.setRate(0, 10);
    t.diagnostic(
      `at 2 Mbit/s, fastest of three 128 KiB transfers: ${slow.mbit.toFixed(2)} device→edge (${transferTimes(slow)} ms), ${back.mbit.toFixed(2)} edge→device (${transferTimes(back)} ms)`,
    );
    for (const { mbit } of [slow, back]) assert.ok(Math.abs(mbit - 2) <= 0.5, `${mbit} Mbit/s`);
    assert.match(execFileSync('tc', ['-n', testbed.namespace('device'), 'qdisc', 'show', 'dev', 'edge'], { encoding: 'utf8' }), /tbf .*rate 10Mbit/);
  });

  it('adds the round trip asked for: a TCP round trip device→edge takes 20 ms ±30%', async (t) => {
    const ms = await measureRtt(testbed, 'device', 'edge', 15);
    t.diagnostic(`device→edge round trip: median ${median(ms).toFixed(2)} ms (min ${Math.min(...ms).toFixed(2)}, max ${Math.max(...ms).toFixed(2)})`);
    assert.ok(Math.abs(median(ms) - 20) <= 6, `median ${median(ms)} ms`);
  });

  it('slows the device: a fixed loop in its cgroup takes at least 3x as long as outside it', async (t) => {
    const { slowdown, freeMs, freeCpuMs, limitedMs } = await measureSlowdown(testbed, 'device', SPIN_ITERATIONS);
    t.diagnostic(
      `loop: ${freeCpuMs.toFixed(0)} ms of CPU (${freeMs.toFixed(0)} ms wall) outside the cgroup, ${limitedMs.toFixed(0)} ms inside: ${slowdown.toFixed(2)}x (quota 20% of a core)`,
    );
    assert.ok(slowdown >= 3, `${limitedMs} ms vs ${freeCpuMs} ms`);
  });

  it('runs a 2-unit B-LeNet cascade device → (edge) → cloud that answers as on loopback; each hop takes at least the path’s RTT', async (t) => {
    const cloud = await startUnit(planDir, 'cloud');
    loopback.push(cloud);
    loopback.push(await startUnit(planDir, 'device', '--successor', cloud.url, '--hop-timeout-ms', '5000'));
    cascade = await startCascade(testbed, planDir, { device: 'device', cloud: 'cloud' }, ['--hop-timeout-ms', '5000']);
    const rtt = testbed.pathRttMs('device', 'cloud');
    for (const thresholds of THRESHOLD_VECTORS) {
      const local = await predict(loopback[1].url, plan.model, SAMPLES, thresholds);
      const remote = await cascade.predict(SAMPLES, thresholds);
      assert.equal(remote.status, 200);
      assert.deepEqual(answers(remote.results), answers(local.results), `thresholds [${thresholds}]`);
      remote.results.forEach((r, i) => assert.ok(Math.abs(r.score - local.results[i].score) <= 1e-6 * Math.max(1, r.score), `sample ${i}`));
      const hops = remote.results.filter((r) => r.unit === 'cloud').map((r) => r.path[0].ms);
      assert.ok(hops.length > 0, `thresholds [${thresholds}] send some samples to the cloud`);
      for (const ms of hops) assert.ok(ms >= rtt, `a hop of ${ms} ms, under the path's ${rtt} ms round trip`);
      t.diagnostic(
        `thresholds [${thresholds}]: ${hops.length}/${SAMPLES.length} to the cloud; hop ${hops[0].toFixed(1)} ms; request ${remote.ms.toFixed(1)} ms`,
      );
    }
    const single: number[] = [];
    for (const [i, sample] of SAMPLES.slice(0, 20).entries()) {
      const { status, results, ms } = await cascade.predict([sample], [0.05]);
      assert.equal(status, 200, `sample ${i}`);
      assert.equal(results[0].degraded, false);
      single.push(ms);
    }
    t.diagnostic(`20 single digits end to end: p50 ${median(single).toFixed(1)} ms, max ${Math.max(...single).toFixed(1)} ms`);
  });

  it('destroy deletes every namespace, veth pair, qdisc and cgroup it made', async () => {
    const namespaces = ['device', 'edge', 'cloud'].map((h) => testbed.namespace(h));
    const cgroup = testbed.cgroup('device')!;
    assert.ok(existsSync(cgroup));
    await cascade?.stop();
    cascade = undefined;
    await testbed.destroy();
    const names = ip('netns', 'list');
    for (const ns of namespaces) assert.doesNotMatch(names, new RegExp(ns));
    assert.ok(!existsSync(cgroup), cgroup);
    assert.deepEqual(
      readdirSync('/sys/fs/cgroup/cpu').filter((d) => d.includes(testbed.id)),
      [],
    );
    assert.doesNotMatch(execFileSync('tc', ['qdisc', 'show'], { encoding: 'utf8' }) + ip('-o', 'link'), new RegExp(`${testbed.id}|dev (device|edge|cloud) `));
  });
});
