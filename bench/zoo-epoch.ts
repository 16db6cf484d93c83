/**
 * Training time per epoch of every zoo network, each branchy network side by side with its baseline: a few
 * training steps at batch 64 (joint, Adam, the paper's settings) timed in alternating rounds (baseline, branchy,
 * baseline, …) in one process, then extrapolated to an epoch of the data set's standard training size (MNIST and
 * Fashion-MNIST: 60,000; CIFAR-10: 50,000). LeNet-shaped networks train on real digits from the mnist package;
 * CIFAR-shaped ones on seeded random 32x32x3 images (CIFAR-10 is not needed: a step costs the same on any values).
 *
 * Run: node --import tsx bench/zoo-epoch.ts [--models lenet,alexnet,resnet20,resnet110] [--rounds 3] [--backend wasm]
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { Rng } from '../src/common/rng.ts';
import { formatTable } from '../src/report/text-table.ts';
import { mnistSplits, subset, type Dataset } from '../src/data/index.ts';
import { useBackend, type TfjsBackend } from '../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../src/engine/tfjs/network.ts';
import { DEFAULT_TRAIN_OPTIONS, trainNetwork } from '../src/train/index.ts';
import { zooModel } from '../src/zoo/index.ts';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'lenet,alexnet,resnet20,resnet110' },
    rounds: { type: 'string', default: '3' },
    backend: { type: 'string', default: 'wasm' },
  },
});
const BATCH = 64;
/** Steps timed per network per round: fewer for the slow networks, so the bench ends in minutes. */
const STEPS: Record<string, number> = { lenet: 16, alexnet: 4, resnet20: 3, resnet110: 1 };
/** ResNet-110's activations for a batch of 64 outgrow tfjs-wasm's 4 GiB heap: it trains in parts of 32. */
const MICRO_BATCH: Record<string, number> = { resnet110: 32 };
const EPOCH_SAMPLES: Record<string, number> = { lenet: 60_000, alexnet: 50_000, resnet20: 50_000, resnet110: 50_000 };

function syntheticCifar(count: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(count * 32 * 32 * 3);
  for (let i = 0; i < x.length; i++) x[i] = rng.next();
  const y = Uint8Array.from({ length: count }, () => rng.int(10));
  return { x, y, shape: [32, 32, 3], count, classes: Array.from({ length: 10 }, (_, i) => `class ${i}`) };
}

/** Seconds per training step of `net`, over `steps` steps (the epoch's own timer; validation excluded). */
async function secondsPerStep(net: TfjsNetwork, data: { train: Dataset; validation: Dataset }, steps: number, microBatch?: number): Promise<number> {
  const train = subset(
    data.train,
    Uint32Array.from({ length: steps * BATCH }, (_, i) => i % data.train.count),
  );
  let seconds = NaN;
  await trainNetwork(
    net,
    { train, validation: data.validation },
    { ...DEFAULT_TRAIN_OPTIONS, epochs: 1, microBatch },
    { onEvent: (e) => void (e.type === 'epoch-end' && (seconds = e.seconds)) },
  );
  return seconds / steps;
}

try {
  await useBackend(values.backend as TfjsBackend);
  const rounds = Number(values.rounds);
  const mnist = mnistSplits(1);
  const rows: (string | number)[][] = [['network', 'steps timed', 's/step', 's/epoch', 'epoch of', 'vs baseline']];
  for (const baseline of values.models!.split(',')) {
    const shape = zooModel(baseline).build().input.shape;
    const data =
      shape[2] === 1
        ? { train: mnist.train, validation: subset(mnist.validation, [0, 1, 2, 3]) }
        : { train: syntheticCifar(4 * BATCH, 1), validation: syntheticCifar(4, 2) };
    const nets = [baseline, `b-${baseline}`].map((name) => new TfjsNetwork(zooModel(name).build(), undefined, 1));
    const steps = STEPS[baseline] ?? 2;
    try {
      for (const net of nets) await secondsPerStep(net, data, 1, MICRO_BATCH[baseline]);
      const times = nets.map(() => [] as number[]);
      for (let r = 0; r < rounds; r++) for (const [i, net] of nets.entries()) times[i].push(await secondsPerStep(net, data, steps, MICRO_BATCH[baseline]));
      const perStep = times.map((t) => t.reduce((a, b) => a + b, 0) / t.length);
      const epochSteps = Math.ceil(EPOCH_SAMPLES[baseline] / BATCH);
      nets.forEach((net, i) =>
        rows.push([
          net.spec.name,
          rounds * steps,
          perStep[i].toFixed(3),
          (perStep[i] * epochSteps).toFixed(0),
          EPOCH_SAMPLES[baseline],
          i === 0 ? '1.00x' : `${(perStep[i] / perStep[0]).toFixed(2)}x`,
        ]),
      );
      process.stdout.write(`${baseline}: ${nets.map((n, i) => `${n.spec.name} ${perStep[i].toFixed(3)} s/step`).join(', ')}\n`);
    } catch (error) {
      // A network that cannot train here (e.g. out of tfjs-wasm's heap) gets a row that says so.
      const reason = error instanceof Error ? error.message : String(error);
      process.stdout.write(`${baseline}: failed: ${reason}\n`);
      for (const net of nets) rows.push([net.spec.name, 0, '-', '-', EPOCH_SAMPLES[baseline], `failed: ${reason}`]);
    }
    nets.forEach((net) => net.dispose());
  }
  process.stdout.write(
    `\ntraining time per epoch at batch ${BATCH}, joint Adam, tfjs-${values.backend}, ${cpus()[0]?.model ?? 'unknown CPU'} x ${cpus().length} cores, Node ${process.version}; ${rounds} alternating rounds\n\n${formatTable(rows)}\n`,
  );
} catch (error) {
  process.stderr.write(`zoo-epoch: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
}
