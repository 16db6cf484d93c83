import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseThresholdsForAccuracy } from '../../src/calibrate/index.ts';
import { Rng } from '../../src/common/rng.ts';
import { firstPassingExit, getCriterion } from '../../src/exit/index.ts';
import type { AllExitsResult } from '../../src/infer/index.ts';

/** A random exit table: softmax of random logits, sharper at later exits, and random labels. */
function randomTable(count: number, exits: number, classes: number, seed: number): { table: AllExitsResult; labels: Uint8Array } {
  const rng = new Rng(seed);
  const labels = new Uint8Array(count).map(() => rng.int(classes));
  const probs = Array.from({ length: exits }, (_, e) => {
    const p = new Float32Array(count * classes);
    for (let i = 0; i < count; i++) {
      let sum = 0;
      for (let c = 0; c < classes; c++) {
        const logit = rng.normal() * 2 + (c === labels[i] ? 1 + e : 0);
        p[i * classes + c] = Math.exp(logit);
        sum += p[i * classes + c];
      }
      for (let c = 0; c < classes; c++) p[i * classes + c] /= sum;
    }
    return p;
  });
  return { table: { count, classes, probs }, labels };
}

const argmax = (p: Float32Array, o: number, n: number) => {
  let b = 0;
  for (let c = 1; c < n; c++) if (p[o + c] > p[o + b]) b = c;
  return b;
};

/** Exits taken, losses against the final exit and accuracy for given thresholds. */
function apply(table: AllExitsResult, labels: Uint8Array, thresholds: number[], criterion = getCriterion('entropy')) {
  const C = table.classes;
  const last = table.probs.length - 1;
  let losses = 0;
  let correct = 0;
  const leaving = new Array<number>(table.probs.length).fill(0);
  for (let i = 0; i < table.count; i++) {
    const e = firstPassingExit(
      table.probs.map((p) => criterion.score(p, C, i * C)),
      thresholds,
    );
    leaving[e]++;
    const right = argmax(table.probs[e], i * C, C) === labels[i];
    if (right) correct++;
    if (!right && argmax(table.probs[last], i * C, C) === labels[i]) losses++;
  }
  return { losses, accuracy: correct / table.count, leaving };
}

describe('threshold choice for an accuracy bound', () => {
  it('with one early exit, picks the threshold that lets the most samples leave within the loss bound (brute force agrees)', () => {
    const criterion = getCriterion('entropy');
    for (let seed = 1; seed <= 20; seed++) {
      const { table, labels } = randomTable(200, 2, 4, seed);
      const maxDrop = [0, 0.01, 0.05][seed % 3];
      const choice = chooseThresholdsForAccuracy(table, labels, criterion, maxDrop);
      const got = apply(table, labels, choice.thresholds);
      assert.ok(got.losses <= maxDrop * 200 + 1e-9, `seed ${seed}: ${got.losses} losses`);
      assert.equal(got.accuracy, choice.accuracy);
      assert.ok(Math.abs(choice.exitShare[0] - got.leaving[0] / 200) < 1e-9);
      // Every candidate threshold (each distinct score, and just above the largest) that keeps the bound lets at
      // most as many samples leave.
      const scores = Array.from({ length: 200 }, (_, i) => criterion.score(table.probs[0], 4, i * 4));
      for (const t of [...scores, Math.log(4)]) {
        const r = apply(table, labels, [t]);
        if (r.losses <= maxDrop * 200 + 1e-9)
          assert.ok(r.leaving[0] <= got.leaving[0], `seed ${seed}: threshold ${t} lets ${r.leaving[0]} leave, chosen ${got.leaving[0]}`);
      }
    }
  });

  it('with several early exits, keeps the bound and reports what it reaches', () => {
    for (const name of ['entropy', 'max-prob', 'margin', 'normalized-entropy']) {
      const { table, labels } = randomTable(300, 4, 5, 7);
      const choice = chooseThresholdsForAccuracy(table, labels, getCriterion(name), 0.02);
      const got = apply(table, labels, choice.thresholds, getCriterion(name));
      assert.ok(got.losses <= 6, `${name}: ${got.losses} losses`);
      assert.equal(got.accuracy, choice.accuracy);
      assert.ok(choice.accuracy >= choice.finalAccuracy - 0.02);
      got.leaving.forEach((l, i) => assert.ok(Math.abs(l / 300 - choice.exitShare[i]) < 1e-9, `${name}: exit ${i + 1}`));
      assert.ok(Math.abs(choice.exitShare.reduce((a, b) => a + b, 0) - 1) < 1e-9);
    }
  });

  it('a bound of 0 never trades a right final answer for a wrong early one', () => {
    const { table, labels } = randomTable(500, 2, 3, 3);
    const choice = chooseThresholdsForAccuracy(table, labels, getCriterion('entropy'), 0);
    assert.equal(apply(table, labels, choice.thresholds).losses, 0);
    assert.ok(choice.accuracy >= choice.finalAccuracy);
  });
});
