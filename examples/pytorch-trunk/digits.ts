/**
 * Writes a data source's training split as the frame train_export.py reads: `x` [n, h, w, c] and `y` [n] as F32,
 * and `check`, the first test samples, whose logits the script writes back for comparison after the import.
 *
 *   node --import tsx examples/pytorch-trunk/digits.ts OUT.safetensors [--data mnist] [--train-samples N] [--check N]
 */
import { writeFileSync } from 'node:fs';
import { loadDataSource, subset } from '../../src/data/index.ts';
import { encodeFrame } from '../../src/io/frame.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const out = args[0];
if (out === undefined || out.startsWith('--')) {
  process.stderr.write('usage: digits.ts OUT.safetensors [--data mnist] [--train-samples N] [--check N]\n');
  process.exit(2);
}
const splits = loadDataSource(option('--data', 'mnist'), 1);
const count = Math.min(Number(option('--train-samples', String(splits.train.count))), splits.train.count);
const train = subset(
  splits.train,
  Uint32Array.from({ length: count }, (_, i) => i),
);
const check = subset(
  splits.test,
  Uint32Array.from({ length: Math.min(Number(option('--check', '32')), splits.test.count) }, (_, i) => i),
);
const shape = splits.train.shape;
writeFileSync(
  out,
  encodeFrame({
    x: { dtype: 'F32', shape: [train.count, ...shape], data: train.x },
    y: { dtype: 'F32', shape: [train.count], data: Float32Array.from(train.y) },
    check: { dtype: 'F32', shape: [check.count, ...shape], data: check.x },
  }),
);
process.stdout.write(`${out}: ${train.count} training samples of ${splits.source}, ${check.count} test samples to check\n`);
