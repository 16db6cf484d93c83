// Writes the small labelled test batches the edge page shows (samples/*.safetensors): the first 200 digits of the
// test split `branchy demo` evaluates (the mnist package, mnistSplits(1)), and the first 200 images of
// Fashion-MNIST's test set (Debian's dataset-fashion-mnist). Pixels travel as U8 (0..255), labels as I32, and the
// class names in the metadata, so a unit serving the page can tell which model a batch fits.
//
// node --import tsx scripts/write-web-samples.ts
import { writeFileSync } from 'node:fs';
import { FASHION_MNIST_CLASSES } from '../src/data/classes.ts';
import type { Dataset } from '../src/data/dataset.ts';
import { loadIdxDataset } from '../src/data/idx.ts';
import { mnistSplits } from '../src/data/mnist-package.ts';
import { FASHION_MNIST_DIR } from '../src/data/source.ts';
import { encodeFrame } from '../src/io/frame.ts';

const COUNT = 200;

function write(path: string, ds: Dataset, source: string): void {
  const per = ds.shape[0] * ds.shape[1] * ds.shape[2];
  const x = new Uint8Array(COUNT * per);
  for (let i = 0; i < x.length; i++) x[i] = Math.round(ds.x[i] * 255);
  const y = Int32Array.from(ds.y.subarray(0, COUNT));
  const bytes = encodeFrame(
    { x: { dtype: 'U8', shape: [COUNT, ...ds.shape], data: x }, y: { dtype: 'I32', shape: [COUNT], data: y } },
    { kind: 'samples', source, classes: JSON.stringify(ds.classes) },
  );
  writeFileSync(path, bytes);
  console.log(`${path}: ${COUNT} samples, ${bytes.length} bytes`);
}

const dir = new URL('../samples/', import.meta.url);
write(new URL('mnist-test.safetensors', dir).pathname, mnistSplits(1).test, 'mnist package 1.1.0: the first 200 of the test split of mnistSplits(1)');
write(
  new URL('fashion-mnist-test.safetensors', dir).pathname,
  loadIdxDataset(FASHION_MNIST_DIR, { split: 'test', classes: FASHION_MNIST_CLASSES }),
  "Fashion-MNIST (Debian's dataset-fashion-mnist): the first 200 images of the test set",
);
