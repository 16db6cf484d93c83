import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReachingOrder } from '../../src/calibrate/reaching-order.ts';

/** The samples a walk of the list visits, in order. */
function walk(order: Uint32Array, reaching: ReachingOrder): number[] {
  const seen: number[] = [];
  for (let p = reaching.next[reaching.end]; p !== reaching.end; p = reaching.next[p]) seen.push(order[p]);
  return seen;
}

describe('samples still reaching an enumerated exit', () => {
  // Six samples; 2 and 5 can never leave at this exit, so they are not in its order.
  const order = Uint32Array.of(4, 0, 3, 1);
  const N = 6;

  it('starts with every sample of the order, in score order', () => {
    assert.deepEqual(walk(order, new ReachingOrder(order, N)), [4, 0, 3, 1]);
  });

  it('a walk skips the samples unlinked, the first and last included', () => {
    const reaching = new ReachingOrder(order, N);
    reaching.unlink(4);
    reaching.unlink(3);
    reaching.unlink(1);
    assert.deepEqual(walk(order, reaching), [0]);
    reaching.unlink(0);
    assert.deepEqual(walk(order, reaching), []);
  });

  it('relinking in the reverse order of unlinking gives back each earlier list', () => {
    const reaching = new ReachingOrder(order, N);
    const out = [3, 4, 1, 0];
    const lists = [walk(order, reaching)];
    for (const i of out) {
      reaching.unlink(i);
      lists.push(walk(order, reaching));
    }
    for (let k = out.length - 1; k >= 0; k--) {
      lists.pop();
      reaching.relink(out[k]);
      assert.deepEqual(walk(order, reaching), lists[lists.length - 1]);
    }
  });

  it('ignores samples that are not in the order', () => {
    const reaching = new ReachingOrder(order, N);
    reaching.unlink(2);
    reaching.relink(5);
    assert.deepEqual(walk(order, reaching), [4, 0, 3, 1]);
  });

  it('an exit no sample can leave at has an empty list', () => {
    const empty = new Uint32Array(0);
    assert.deepEqual(walk(empty, new ReachingOrder(empty, N)), []);
  });
});
