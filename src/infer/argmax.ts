/** Index of the largest of `probs[offset .. offset+classes)`; the first one on ties. */
export function argmaxRow(probs: Float32Array, offset: number, classes: number): number {
  let best = 0;
  for (let c = 1; c < classes; c++) if (probs[offset + c] > probs[offset + best]) best = c;
  return best;
}
