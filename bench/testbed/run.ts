/**
 * A plan's units on the namespace testbed (test/testbed/): each unit a real `branchy unit` process on its tier's
 * host, the links shaped and delayed as the tiers say, the device CPU-limited; then N single-sample requests, one
 * at a time, from a client on the first unit's tier, and their end-to-end latency (p50, mean, p99), overall and by
 * the unit that answered, with the mean time of each hop as the units measured it. With `--measure` (default) it
 * first measures what each link and tier actually gives (bandwidth, round trip, CPU slowdown), so that a planner's
 * predictions can be compared with the figures it was given and with those the machine produced.
 *
 * Needs root, iproute2 and the cgroup-v1 CPU controller, and the built CLI (`npm run build`).
 *
 * Run: node --import tsx bench/testbed/run.ts [PLAN_DIR] [--tiers FILE|JSON] [--requests 200] [--warmup 10]
 *        [--thresholds 0.05] [--feature-dtype f32] [--no-measure] [--json]
 * Without PLAN_DIR it splits the shipped B-LeNet after stage 1 into units `device` and `cloud`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readPlan, splitModel, writePlan } from '../../src/cascade/plan.ts';
import { Rng } from '../../src/common/rng.ts';
import { mnistSplits } from '../../src/data/index.ts';
import { loadModelDir } from '../../src/io/model-dir.ts';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { formatTable } from '../../src/report/text-table.ts';
import { tempDir } from '../../test/helpers.ts';
import { startCascade, type TestbedCascade } from '../../test/testbed/cascade.ts';
import { measureBandwidth, measureRtt, measureSlowdown, median } from '../../test/testbed/measure.ts';
import { available, createTestbed, type Testbed } from '../../test/testbed/testbed.ts';
import { DEFAULT_TIERS, placeUnits, tiersTestbed, type TiersConfig } from './tiers.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    tiers: { type: 'string' },
    requests: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '10' },
    thresholds: { type: 'string' },
    'feature-dtype': { type: 'string', default: 'f32' },
    'hop-timeout-ms': { type: 'string', default: '5000' },
    'no-measure': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const REQUESTS = Number(values.requests);
const WARMUP = Number(values.warmup);
const THRESHOLDS = values.thresholds?.split(',').map(Number);
const SPIN_ITERATIONS = 10_000_000;
/** What a link's bandwidth is measured with: half a second's worth at the asked rate, 1 MiB at least. */
const linkBytes = (mbit: number) => Math.max(1 << 20, Math.round(((mbit * 1e6) / 8) * 0.5));

function fail(message: string): never {
  process.stderr.write(`bench/testbed/run.ts: ${message}\n`);
  process.exit(2);
}

function readTiers(text: string | undefined): TiersConfig {
  if (text === undefined) return DEFAULT_TIERS;
  try {
    return JSON.parse(existsSync(text) ? readFileSync(text, 'utf8') : text) as TiersConfig;
  } catch (error) {
    return fail(`--tiers '${text}' is neither a JSON file nor JSON: ${(error as Error).message}`);
  }
}

/** The nearest-rank percentile `p` (0-100) of some numbers. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const fixed = (v: number, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : '-');

/** Samples of the plan's input shape: real test digits for 28x28x1 inputs, seeded uniform noise otherwise. */
function inputs(shape: readonly number[], count: number): Float32Array[] {
  const size = shape.reduce((a, b) => a * b, 1);
  if (shape.join('x') === '28x28x1') {
    const { test } = mnistSplits(1);
    return Array.from({ length: count }, (_, i) => test.x.slice((i % test.count) * size, ((i % test.count) + 1) * size));
  }
  const rng = new Rng(1);
  return Array.from({ length: count }, () => Float32Array.from({ length: size }, () => rng.next()));
}

/** Link bandwidth both ways and round trip, and each limited tier's slowdown on a fixed loop. */
async function measureTestbed(testbed: Testbed, config: TiersConfig) {
  const links = [];
  for (const link of testbed.links) {
    const up = await measureBandwidth(testbed, link.from, link.to, linkBytes(link.mbit));
    const down = await measureBandwidth(testbed, link.to, link.from, linkBytes(link.mbit));
    const rtt = median(await measureRtt(testbed, link.from, link.to, 15));
    links.push({
      link: `${link.from}→${link.to}`,
      mbit: link.mbit,
      rttMs: link.rttMs,
      measuredUpMbit: up.mbit,
      measuredDownMbit: down.mbit,
      measuredRttMs: rtt,
    });
  }
  const tiers = [];
  for (const tier of config.tiers.filter((t) => t.cpu !== undefined)) {
    const { slowdown } = await measureSlowdown(testbed, tier.name, SPIN_ITERATIONS);
    tiers.push({ tier: tier.name, cpu: tier.cpu!, slowdown });
  }
  return { links, tiers };
}

interface Sample {
  ms: number;
  unit: string;
  exit: number;
  degraded: boolean;
  hops: { unit: string; ms: number }[];
}

async function requests(cascade: TestbedCascade, samples: readonly Float32Array[]): Promise<Sample[]> {
  const out: Sample[] = [];
  for (let i = 0; i < samples.length; i++) {
    const { status, results, ms } = await cascade.predict([samples[i]], THRESHOLDS);
    if (status !== 200 || results.length !== 1) throw new Error(`request ${i} answered ${status}: ${JSON.stringify(results).slice(0, 300)}`);
    const r = results[0];
    out.push({ ms, unit: r.unit, exit: r.exit, degraded: r.degraded, hops: r.path.map((h) => ({ unit: h.unit, ms: h.ms })) });
  }
  return out;
}

function latencyRows(samples: readonly Sample[], unitOrder: readonly string[]) {
  const groups: [string, Sample[]][] = [
    ['all', [...samples]],
    ...unitOrder.map((u): [string, Sample[]] => [`answered by ${u}`, samples.filter((s) => s.unit === u)]),
  ];
  return groups
    .filter(([, group]) => group.length > 0)
    .map(([what, group]) => {
      const ms = group.map((s) => s.ms);
      const hops = unitOrder.slice(1).map((u) => {
        const times = group.flatMap((s) => s.hops.filter((h) => h.unit === u).map((h) => h.ms));
        return times.length > 0 ? mean(times) : NaN;
      });
      return { what, count: group.length, share: group.length / samples.length, p50: percentile(ms, 50), mean: mean(ms), p99: percentile(ms, 99), hops };
    });
}

async function main(): Promise<void> {
  const reason = available();
  if (reason !== false) fail(`no testbed here: ${reason}.`);
  if (!existsSync(fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url)))) fail(`the units run the built CLI: run 'npm run build' first.`);
  if (!(REQUESTS > 0 && Number.isInteger(REQUESTS))) fail(`--requests is '${values.requests}'; expected a positive integer.`);
  const planDir = positionals[0] ?? join(tempDir(), 'b-lenet-device-cloud');
  if (positionals[0] === undefined) writePlan(planDir, splitModel(loadModelDir(SHIPPED_MODEL_DIR), { at: [1], names: ['device', 'cloud'] }));
  const plan = readPlan(planDir);
  const config = readTiers(values.tiers);
  const placement = placeUnits(plan, config);
  const testbed = await createTestbed(tiersTestbed(config));
  let cascade: TestbedCascade | undefined;
  try {
    const measured = values['no-measure'] ? undefined : await measureTestbed(testbed, config);
    cascade = await startCascade(testbed, planDir, placement, ['--hop-timeout-ms', values['hop-timeout-ms']!, '--feature-dtype', values['feature-dtype']!]);
    const all = inputs(plan.spec.input.shape, WARMUP + REQUESTS);
    await requests(cascade, all.slice(0, WARMUP));
    const samples = await requests(cascade, all.slice(WARMUP));
    const units = plan.units.map((u) => u.name);
    const rows = latencyRows(samples, units);
    const degraded = samples.filter((s) => s.degraded).length;
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({ plan: planDir, model: plan.model, tiers: config, placement, measured, requests: REQUESTS, degraded, latency: rows }, null, 2)}\n`,
      );
      return;
    }
    process.stdout.write(`${plan.model} on the testbed: ${plan.units.map((u) => `${u.name}@${placement[u.name]}`).join(' → ')}\n`);
    process.stdout.write(
      `tiers: ${config.tiers.map((t) => `${t.name}${t.cpu === undefined ? '' : ` (cpu ${t.cpu})`}${t.uplink ? ` —${t.uplink.mbit} Mbit/s, ${t.uplink.rttMs} ms→` : ''}`).join(' ')}\n\n`,
    );
    if (measured) {
      process.stdout.write(
        `${formatTable([
          ['link', 'Mbit/s asked', 'up Mbit/s', 'down Mbit/s', 'rtt ms asked', 'rtt ms'],
          ...measured.links.map((l) => [l.link, l.mbit, fixed(l.measuredUpMbit), fixed(l.measuredDownMbit), l.rttMs, fixed(l.measuredRttMs)]),
        ])}\n`,
      );
      for (const t of measured.tiers) process.stdout.write(`${t.tier}: cpu ${t.cpu} of a core, a fixed loop ${fixed(t.slowdown)}x slower\n`);
      process.stdout.write('\n');
    }
    process.stdout.write(
      `${formatTable([
        ['requests (1 sample each)', 'count', 'share', 'p50 ms', 'mean ms', 'p99 ms', ...units.slice(1).map((u) => `hop→${u} ms`)],
        ...rows.map((r) => [r.what, r.count, `${(100 * r.share).toFixed(1)}%`, fixed(r.p50), fixed(r.mean), fixed(r.p99), ...r.hops.map((h) => fixed(h))]),
      ])}\n`,
    );
    process.stdout.write(
      `\n${REQUESTS} requests after ${WARMUP} unmeasured, one at a time; ${degraded} degraded. Hop: a unit's round trip to its successor.\n`,
    );
  } finally {
    await cascade?.stop();
    await testbed.destroy();
  }
}

await main();
