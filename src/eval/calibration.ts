/**
 * Calibration of the label readout from its [N * K] label probabilities (each row the renormalised
 * distribution over the K labels): the expected calibration error (ECE) of the top-1 confidence, with
 * the bins behind it for a reliability diagram, and the multi-class Brier score.
 */

/** Equal-width confidence bins over [0, 1] for ECE, as docs/protocol.md fixes them. */
export const ECE_BINS = 10;

/**
 * How far a row may sum from 1: float32 softmax error and the 6-decimal rounding of predictions.json
 * stay far below this, while a row that is not a distribution at all (logits, a wrong offset) is caught.
 */
const ROW_SUM_TOLERANCE = 1e-4;

export interface ReliabilityBin {
  /** The bin holds top-1 confidences in (lo, hi]; the first bin holds 0 as well. */
  lo: number;
  hi: number;
  count: number;
  /** Mean top-1 confidence of the bin's examples; null for an empty bin (JSON has no NaN). */
  meanConfidence: number | null;
  /** Share of the bin's examples whose top-1 label is the gold label; null for an empty bin. */
  accuracy: number | null;
}

export interface CalibrationMetrics {
  /** Sum over bins of (count / N) * |accuracy - meanConfidence|; NaN for no examples, like accuracy. */
  ece: number;
  /** Mean over examples of sum_k (p_k - [k = gold])^2, in [0, 2]; NaN for no examples. */
  brier: number;
  /** The ECE bins, from low to high confidence. */
  reliability: ReliabilityBin[];
}

/**
 * ECE and Brier score of `probs` ([N * K], row-major) against gold label indices. The top-1 label of a
 * row is its first maximum, the same tie-break as the readout's argmax, so it is the predicted label.
 */
export function calibrationMetrics(gold: readonly number[], probs: ArrayLike<number>, k: number, bins: number = ECE_BINS): CalibrationMetrics {
  if (!Number.isInteger(k) || k < 1) throw new Error(`k must be a positive integer, got ${k}`);
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`the number of ECE bins must be a positive integer, got ${bins}`);
  const n = gold.length;
  if (probs.length !== n * k) {
    throw new Error(`probabilities have ${probs.length} entries, expected ${n} examples x ${k} labels = ${n * k}`);
  }
  // Edges computed as b / bins, so that a confidence written as e.g. 0.3 lands exactly on an edge.
  const edges = Array.from({ length: bins + 1 }, (_, b) => b / bins);
  const count = new Array<number>(bins).fill(0);
  const confidenceSum = new Array<number>(bins).fill(0);
  const correct = new Array<number>(bins).fill(0);
  let squaredErrorSum = 0;
  for (let i = 0; i < n; i++) {
    const g = gold[i];
    if (!Number.isInteger(g) || g < 0 || g >= k) throw new Error(`gold label index out of range at row ${i}: gold ${g}, k ${k}`);
    let top = 0;
    let rowSum = 0;
    for (let c = 0; c < k; c++) {
      const p = probs[i * k + c];
      if (!(p >= 0 && p <= 1)) throw new Error(`probability at row ${i}, label ${c} is ${p}, not in [0, 1]`);
      if (p > probs[i * k + top]) top = c;
      rowSum += p;
      squaredErrorSum += (p - (c === g ? 1 : 0)) ** 2;
    }
    if (Math.abs(rowSum - 1) > ROW_SUM_TOLERANCE) throw new Error(`probabilities at row ${i} sum to ${rowSum}, not 1`);
    const confidence = probs[i * k + top];
    let b = 0;
    while (b < bins - 1 && confidence > edges[b + 1]) b++;
    count[b] += 1;
    confidenceSum[b] += confidence;
    if (top === g) correct[b] += 1;
  }
  // (count / N) * |correct / count - confidenceSum / count| simplifies to |correct - confidenceSum| / N.
  const gapSum = count.reduce((acc, _, b) => acc + Math.abs(correct[b] - confidenceSum[b]), 0);
  return {
    ece: n === 0 ? NaN : gapSum / n,
    brier: n === 0 ? NaN : squaredErrorSum / n,
    reliability: count.map((c, b) => ({
      lo: edges[b],
      hi: edges[b + 1],
      count: c,
      meanConfidence: c === 0 ? null : confidenceSum[b] / c,
      accuracy: c === 0 ? null : correct[b] / c,
    })),
  };
}
