import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { calibrateNetwork } from '../../src/calibrate/index.ts';
import { idxSplits, loadIdxDataset, subset, writeIdx, type Dataset } from '../../src/data/index.ts';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import { getCriterion } from '../../src/exit/index.ts';
import { evaluateExits, measureLatency } from '../../src/infer/index.ts';
import { checkDataMatchesModel, checkSplitsMatchModel, dataModelMismatch, type ModelInputFace } from '../../src/spec/data-match.ts';
import { stripes, tempDir, tinySpec } from '../helpers.ts';

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const model = (classes: readonly string[], shape = [6, 6, 1]): ModelInputFace => ({ name: 'net', input: { shape }, classes });
const mismatch = (pattern: RegExp) => ({ name: 'BranchyDataError', code: 'DATA_MODEL_MISMATCH', message: pattern });

/** An IDX distribution of `count` 6x6 images per file, labels i % classes. */
function idxDir(count: number, classes = 10, side = 6): string {
  const dir = tempDir();
  const images = writeIdx(new Uint8Array(count * side * side), [count, side, side], 'ubyte');
  const labels = writeIdx(
    Uint8Array.from({ length: count }, (_, i) => i % classes),
    [count],
    'ubyte',
  );
  for (const prefix of ['train', 't10k']) {
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), images);
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), labels);
  }
  return dir;
}

describe('checkDataMatchesModel', () => {
  it('data of the same shape and the same classes in the same order fits', () => {
    assert.equal(dataModelMismatch(model(['a', 'b', 'c']), stripes(4, 1)), undefined);
    checkDataMatchesModel(model(['a', 'b', 'c']), stripes(4, 1));
  });

  it('another per-sample shape is refused quoting both shapes, even with allowClassMismatch', () => {
    const data = stripes(4, 1);
    for (const allowClassMismatch of [false, true]) {
      assert.throws(
        () => checkDataMatchesModel(model(['a', 'b', 'c'], [28, 28, 1]), data, { allowClassMismatch, data: 'stripes' }),
        mismatch(/data 'stripes' does not fit model 'net': the model takes samples \[28, 28, 1\]; the data's are \[6, 6, 1\]/),
      );
    }
    // Same values, another layout: [6, 6, 1] is not [1, 6, 6].
    assert.equal(dataModelMismatch(model(['a', 'b', 'c'], [1, 6, 6]), data)?.kind, 'shape');
  });

  it('other class names are refused naming both lists and the first label that differs', () => {
    assert.throws(
      () => checkDataMatchesModel(model(['x', 'b', 'c']), stripes(4, 1)),
      mismatch(/the model answers 3 classes \["x", "b", "c"\]; the data is labelled with 3 classes \["a", "b", "c"\]: label 0 is "x" in the model but "a"/),
    );
  });

  it('the same names in another order are refused, saying where the data has the class', () => {
    assert.throws(
      () => checkDataMatchesModel(model(['b', 'a', 'c']), stripes(4, 1)),
      mismatch(/label 0 is "b" in the model but "a" in the data \(the data has it as label 1\)/),
    );
  });

  it('another class count is refused', () => {
    assert.throws(() => checkDataMatchesModel(model(['a', 'b', 'c', 'd']), stripes(4, 1)), mismatch(/4 classes .* 3 classes/));
    assert.throws(() => checkDataMatchesModel(model(['a', 'b']), stripes(4, 1)), mismatch(/the data has 3 classes, the model 2/));
  });

  it('long class lists are quoted short: the first names, an ellipsis and the last', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => `class-${i}`);
    const error = (() => {
      try {
        checkDataMatchesModel(model(hundred), stripes(4, 1));
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    assert.ok(error);
    assert.match(error.message, /100 classes \["class-0", "class-1", "class-2", "class-3", …, "class-99"\]/);
    assert.doesNotMatch(error.message, /class-50/);
  });

  it('allowClassMismatch accepts other names, but never a label past the model’s classes', () => {
    const data = stripes(40, 1);
    checkDataMatchesModel(model(['x', 'y', 'z']), data, { allowClassMismatch: true });
    // A data set with fewer classes than the model fits: every label names one of the model's classes.
    checkDataMatchesModel(model(['x', 'y', 'z', 'w']), data, { allowClassMismatch: true });
    const first2 = data.y.indexOf(2);
    assert.throws(
      () => checkDataMatchesModel(model(['x', 'y']), data, { allowClassMismatch: true }),
      mismatch(new RegExp(`sample ${first2} has label 2 \\("c"\\), which the model has no class for`)),
    );
    // More classes declared than the model has, but no sample uses the extra one: accepted.
    const twoUsed: Dataset = { ...data, y: data.y.map((v) => v % 2) };
    checkDataMatchesModel(model(['x', 'y']), twoUsed, { allowClassMismatch: true });
  });

  it('samples without class names are checked on their shape only', () => {
    const { x, y, shape, count } = stripes(4, 1);
    checkDataMatchesModel(model(['p', 'q', 'r']), { x, y, shape, count } as never);
    assert.throws(() => checkDataMatchesModel(model(['p'], [5, 5, 1]), { shape }), mismatch(/\[5, 5, 1\]/));
  });

  it('checkSplitsMatchModel checks every split and quotes the source', () => {
    const data = stripes(4, 1);
    const other = { ...stripes(4, 2), classes: ['a', 'c', 'b'] };
    checkSplitsMatchModel(model(['a', 'b', 'c']), { train: data, validation: data, test: data, source: 'stripes' });
    assert.throws(
      () => checkSplitsMatchModel(model(['a', 'b', 'c']), { train: data, validation: data, test: other, source: 'stripes' }),
      mismatch(/^data 'stripes'.*label 1 is "b" in the model but "c"/),
    );
  });
});

describe('idx:DIR data: unnamed classes, matched on their count', () => {
  it('the IDX loader marks classes unnamed unless it is given names, and splits keep the mark', () => {
    const dir = idxDir(30);
    assert.equal(loadIdxDataset(dir, { split: 'train' }).unnamedClasses, true);
    assert.equal(loadIdxDataset(dir, { split: 'train', classes: DIGITS }).unnamedClasses, undefined);
    const splits = idxSplits(dir, 1, 10);
    for (const part of [splits.train, splits.validation, splits.test, subset(splits.train, [0, 1])]) assert.equal(part.unnamedClasses, true);
    assert.equal(idxSplits(dir, 1, 10, DIGITS).validation.unnamedClasses, undefined);
  });

  it('a model with as many classes fits whatever their names; another count does not', () => {
    const splits = idxSplits(idxDir(30), 1, 10);
    const clothes = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
    checkSplitsMatchModel(model(clothes), splits);
    checkSplitsMatchModel(model(DIGITS), splits);
    assert.throws(
      () => checkDataMatchesModel(model(['a', 'b', 'c']), splits.test, { data: splits.source }),
      mismatch(
        /the model answers 3 classes \["a", "b", "c"\]; the data is labelled with 10 unnamed classes \(labels 0\.\.9\): the data has 10 classes, the model 3/,
      ),
    );
    // The same names given to the loader are names, held against the model's.
    assert.throws(() => checkSplitsMatchModel(model(clothes), idxSplits(idxDir(30), 1, 10, DIGITS)), mismatch(/label 0 is "T-shirt\/top"/));
  });

  it('with allowClassMismatch, unnamed labels must still be the model’s classes; the shape is checked as always', () => {
    const three = idxSplits(idxDir(30, 3), 1, 10);
    checkDataMatchesModel(model(['a', 'b', 'c']), three.test, { allowClassMismatch: true });
    assert.throws(
      () => checkDataMatchesModel(model(['a', 'b']), three.test, { allowClassMismatch: true }),
      mismatch(/sample \d+ has label 2, which the model has no class for/),
    );
    assert.throws(
      () => checkDataMatchesModel(model(DIGITS, [28, 28, 1]), idxSplits(idxDir(30, 10, 14), 1, 10).test, { allowClassMismatch: true }),
      mismatch(/the model takes samples \[28, 28, 1\]; the data's are \[14, 14, 1\]/),
    );
  });
});

describe('library paths that feed data to a network refuse a mismatch', () => {
  let net: TfjsNetwork;
  const relabelled = (ds: Dataset, classes: string[]): Dataset => ({ ...ds, classes });
  before(async () => {
    await useBackend('cpu');
    net = new TfjsNetwork(tinySpec(), undefined, 3);
  });

  it('evaluateExits and measureLatency refuse other classes, and accept them when allowed', async () => {
    const data = relabelled(stripes(24, 5), ['c', 'b', 'a']);
    await assert.rejects(evaluateExits(net, data), mismatch(/does not fit model 'tiny'/));
    await assert.rejects(measureLatency(net, data, { count: 2, warmup: 0 }), mismatch(/label 0 is "a" in the model but "c"/));
    const allowed = await evaluateExits(net, data, { allowClassMismatch: true });
    const named = await evaluateExits(net, stripes(24, 5));
    // Allowed, label n is the model's class n: the figures are those of the same samples with the model's names.
    assert.deepEqual(allowed, named);
  });

  it('calibrateNetwork refuses data of another shape before anything is measured', async () => {
    const big = { x: new Float32Array(2 * 64), y: new Uint8Array(2), shape: [8, 8, 1] as const, count: 2, classes: ['a', 'b', 'c'] };
    const request = {
      criterion: getCriterion('entropy'),
      constraint: { maxDrop: 0.01 },
      constraintText: 'test',
      data: 'eight by eight',
      allowClassMismatch: true,
      profile: { batch1Samples: 2, batchSize: 2, batches: 1, warmup: 0 },
    };
    await assert.rejects(calibrateNetwork(net, big, request), mismatch(/data 'eight by eight' .*\[6, 6, 1\]; the data's are \[8, 8, 1\]/));
  });
});
