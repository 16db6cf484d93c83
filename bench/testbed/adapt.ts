/**
 * Bandwidth-adaptive thresholds on the namespace testbed (test/testbed/): B-LeNet cut after stage 1 into `device`
 * (a CPU quota) and `edge`, features sent in f32 over a shaped device↔edge link with a round trip; an open-loop
 * load of single digits from a client on the device; the link's rate dropped from `--high` to `--low` Mbit/s a third
 * of the way in and raised back at two thirds. Run twice, once with the device unit's `--slo-ms` and once without,
 * it prints per phase (and per 2 s window with --windows) p50, p99, accuracy, the share answered on the device and
 * the operating points answered at.
 *
 * The link's tbf bucket is 4 KB, smaller than one frame (18 KB), so that an idle link passes each frame at its rate
 * as a thin uplink would.
 *
 * The device unit runs with node's `--no-memory-reducer` (as bench/testbed/predict.ts's device processes) unless
 * `--memory-reducer`: under a 20% quota, V8's memory-reducing collections use up a CFS period's budget and stall
 * requests by up to 80 ms (docs/cascade.md, "A unit under a CPU quota").
 *
 * Needs root, iproute2, the cgroup-v1 CPU controller and the built CLI (`npm run build`).
 *
 * Run: node --import tsx bench/testbed/adapt.ts [--slo-ms 50] [--rate 20] [--phase-s 20] [--high 10] [--low 2]
 *        [--rtt-ms 20] [--cpu 0.2] [--memory-reducer] [--windows] [--json]
 *
 * @module
 */
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { splitModel, writePlan } from '../../src/cascade/plan.ts';
import { formatTable } from '../../src/report/text-table.ts';
import { tempDir } from '../../test/helpers.ts';
import { startCascade } from '../../test/testbed/cascade.ts';
import { openLoop, windowFigures, type Answered, type WindowFigures } from '../../test/testbed/load.ts';
import { available, createTestbed, THIN_LINK_BURST_BYTES } from '../../test/testbed/testbed.ts';
import { calibratedCopy, QUOTA_NODE_FLAGS, testDigits } from './predict.ts';

const { values } = parseArgs({
  options: {
    'slo-ms': { type: 'string', default: '50' },
    'memory-reducer': { type: 'boolean', default: false },
    rate: { type: 'string', default: '20' },
    'phase-s': { type: 'string', default: '20' },
    high: { type: 'string', default: '10' },
    low: { type: 'string', default: '2' },
    'rtt-ms': { type: 'string', default: '20' },
    cpu: { type: 'string', default: '0.2' },
    windows: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const SLO = Number(values['slo-ms']);
const RATE = Number(values.rate);
const PHASE_MS = Number(values['phase-s']) * 1000;
const HIGH = Number(values.high);
const LOW = Number(values.low);
const RTT = Number(values['rtt-ms']);
const CPU = Number(values.cpu);

const why = available();
if (why !== false) {
  process.stderr.write(`bench/testbed/adapt.ts: the testbed cannot be built here: ${why}\n`);
  process.exit(2);
}

const copy = calibratedCopy();
const planDir = join(tempDir(), 'plan');
const plan = writePlan(planDir, splitModel(copy.model, { at: [1], names: ['device', 'edge'] }));
const front = plan.front!;
const { samples, labels } = testDigits(10_000);
const data = { x: samples, y: Array.from(labels) };
const phases = [`${HIGH} Mbit/s`, `${LOW} Mbit/s`, `${HIGH} Mbit/s again`];
/** Each phase is also reported from this long after its change on, when a controller has had time to settle. */
const SETTLE_MS = 5000;

async function run(adapt: boolean): Promise<{ answers: Answered[]; phases: WindowFigures[]; settled: WindowFigures[]; moves: { atMs: number; to: number }[] }> {
  const testbed = await createTestbed({
    links: [{ from: 'device', to: 'edge', mbit: HIGH, rttMs: RTT, burstBytes: THIN_LINK_BURST_BYTES }],
    cpu: { device: CPU },
  });
  try {
    const cascade = await startCascade(
      testbed,
      planDir,
      { device: 'device', edge: 'edge' },
      ['--threads', '1', '--hop-timeout-ms', '5000'],
      {
        device: adapt ? ['--slo-ms', String(SLO)] : [],
      },
      { device: values['memory-reducer'] ? [] : QUOTA_NODE_FLAGS },
    );
    try {
      // Warm-up at the high rate: engines, connections, the link estimate.
      await openLoop(cascade, data, { ratePerS: RATE, durationMs: 3000, first: 9000 });
      let phase = 0;
      const answers = await openLoop(cascade, data, {
        ratePerS: RATE,
        durationMs: 3 * PHASE_MS,
        onTick: (ms) => {
          const now = Math.min(2, Math.floor(ms / PHASE_MS));
          if (now === phase) return;
          phase = now;
          testbed.setRate(0, phase === 1 ? LOW : HIGH);
        },
      });
      const moves: { atMs: number; to: number }[] = [];
      let last: number | undefined;
      for (const a of answers) {
        if (a.point !== undefined && a.point !== last) moves.push({ atMs: Math.round(a.at), to: a.point });
        last = a.point ?? last;
      }
      return {
        answers,
        phases: [0, 1, 2].map((p) => windowFigures(answers, p * PHASE_MS, (p + 1) * PHASE_MS, 'device')),
        settled: [0, 1, 2].map((p) => windowFigures(answers, p * PHASE_MS + SETTLE_MS, (p + 1) * PHASE_MS, 'device')),
        moves,
      };
    } finally {
      await cascade.stop();
    }
  } finally {
    await testbed.destroy();
  }
}

const load = loadavg()[0];
const without = await run(false);
const withSlo = await run(true);
const fmt = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '-');
const pointsText = (p: Record<string, number>) =>
  Object.entries(p)
    .map(([k, n]) => `${k}:${n}`)
    .join(' ') || '-';
const rows = (label: string, r: Awaited<ReturnType<typeof run>>) =>
  [...r.phases, ...r.settled].map((f, i) => [
    label,
    i < 3 ? phases[i] : `${phases[i - 3]}, from ${SETTLE_MS / 1000} s`,
    String(f.requests),
    String(f.failed),
    fmt(f.p50Ms),
    fmt(f.p99Ms),
    fmt(100 * f.accuracy, 2),
    fmt(100 * f.firstUnitShare, 1),
    pointsText(f.points),
  ]);

if (values.json) {
  process.stdout.write(
    `${JSON.stringify({ slo: SLO, rate: RATE, phaseMs: PHASE_MS, high: HIGH, low: LOW, rttMs: RTT, cpu: CPU, memoryReducer: values['memory-reducer'], loadAverage: load, front, without, withSlo }, null, 2)}\n`,
  );
} else {
  process.stdout.write(
    `B-LeNet device → edge, features f32 (${plan.units[1].inputShape.join('×')}), ${RATE} digits/s open loop, device at ${CPU} of a core (1 ort thread, ${values['memory-reducer'] ? "V8's memory reducer on" : 'node --no-memory-reducer'}), ` +
      `link ${HIGH} → ${LOW} → ${HIGH} Mbit/s, RTT ${RTT} ms, ${PHASE_MS / 1000} s per phase; load average ${load.toFixed(1)} at start\n`,
  );
  process.stdout.write(
    `front: ${front.points.length} points; the plan's point ${front.chosen} [${front.points[front.chosen].thresholds.map((t) => t.toFixed(4)).join(', ')}] ` +
      `sends ${(100 * front.points[front.chosen].exitShare.slice(1).reduce((a, b) => a + b, 0)).toFixed(1)}% on (validation accuracy ${(100 * front.points[front.chosen].accuracy).toFixed(2)}%)\n\n`,
  );
  process.stdout.write(
    `${formatTable([
      ['run', 'phase', 'requests', 'failed', 'p50 ms', 'p99 ms', 'accuracy %', 'on device %', 'points answered at'],
      ...rows('fixed thresholds', without),
      ...rows(`--slo-ms ${SLO}`, withSlo),
    ])}\n`,
  );
  process.stdout.write(
    `\nmoves with --slo-ms (time into the run: point): ${withSlo.moves.map((m) => `${(m.atMs / 1000).toFixed(1)} s: ${m.to}`).join(', ')}\n`,
  );
  if (values.windows) {
    for (const [label, r] of [
      ['fixed', without],
      ['slo', withSlo],
    ] as const) {
      const w = [];
      for (let t = 0; t < 3 * PHASE_MS; t += 2000) {
        const f = windowFigures(r.answers, t, t + 2000, 'device');
        w.push([label, `${t / 1000}-${(t + 2000) / 1000} s`, fmt(f.p50Ms), fmt(f.p99Ms), fmt(100 * f.firstUnitShare), pointsText(f.points)]);
      }
      process.stdout.write(`\n${formatTable([['run', 'window', 'p50 ms', 'p99 ms', 'on device %', 'points'], ...w])}\n`);
    }
  }
}
