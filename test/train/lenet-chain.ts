import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportNetwork } from '../../src/engine/ort/index.ts';
import { loadOnnxruntimeNode } from '../../src/engine/ort/node-engine.ts';
import { loadModelDir } from '../../src/io/model-dir.ts';
import { importOnnxDir } from '../../src/open/import-onnx.ts';
import { restage, trunkCut } from '../../src/train/trunk-cut.ts';
import { tempDir } from '../helpers.ts';

/**
 * The shipped LeNet's trunk cut into three segments and written by our exporter with its exits dropped but the
 * classifier, then imported as a plain trunk (`import-onnx --no-exits`); returns its directory.
 */
export async function importedLenetChain(): Promise<string> {
  const lenet = loadModelDir('models/lenet-mnist');
  const segments = restage(lenet, await trunkCut(lenet), [1, 6]);
  const pieces = exportNetwork({
    spec: { ...segments.spec, exits: segments.spec.exits.map((e, i) => (i < 2 ? { layers: [] } : e)) },
    weights: segments.weights,
  });
  const dir = tempDir();
  pieces.stages.forEach((bytes, i) => writeFileSync(join(dir, `stage_${i + 1}.onnx`), bytes));
  writeFileSync(join(dir, 'exit_3.onnx'), pieces.exits[2]);
  await importOnnxDir(dir, await loadOnnxruntimeNode(), {
    classes: lenet.spec.classes,
    inputShape: [28, 28, 1],
    inputLayout: 'nhwc',
    exitOutput: 'probs',
    criterion: 'entropy',
    noExits: true,
  });
  return dir;
}
