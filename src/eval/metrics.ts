/** Classification, ordinal and calibration metrics from gold and predicted label indices and label probabilities. */
import { calibrationMetrics, CalibrationMetrics } from "./calibration";

/** confusion[gold][predicted] counts, K x K. */
type Confusion = readonly (readonly number[])[];

export interface ClassificationMetrics {
  n: number;
  accuracy: number;
  macroF1: number;
  /** confusion[gold][predicted] counts. */
  confusion: number[][];
  /** F1 per label index. */
  f1: number[];
}

export function confusionMatrix(gold: readonly number[], predicted: readonly number[], k: number): number[][] {
  if (gold.length !== predicted.length) throw new Error(`gold has ${gold.length} labels, predicted ${predicted.length}`);
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  gold.forEach((g, i) => {
    const p = predicted[i];
    if (!isLabelIndex(g, k) || !isLabelIndex(p, k)) throw new Error(`label index out of range at row ${i}: gold ${g}, predicted ${p}, k ${k}`);
    m[g][p] += 1;
  });
  return m;
}

function isLabelIndex(x: number, k: number): boolean {
  return Number.isInteger(x) && x >= 0 && x < k;
}

/**
 * Accuracy, per-class F1 and macro-F1 (the unweighted mean over all K classes; a class that is never
 * gold nor predicted has F1 0 by convention, as in scikit-learn's zero_division=0).
 */
export function classificationMetrics(gold: readonly number[], predicted: readonly number[], k: number): ClassificationMetrics {
  const confusion = confusionMatrix(gold, predicted, k);
  const n = gold.length;
  let correct = 0;
  for (let c = 0; c < k; c++) correct += confusion[c][c];
  const f1 = confusion.map((_, c) => {
    const tp = confusion[c][c];
    const goldC = confusion[c].reduce((a, b) => a + b, 0);
    const predC = confusion.reduce((a, row) => a + row[c], 0);
    return goldC + predC === 0 ? 0 : (2 * tp) / (goldC + predC);
  });
  return { n, accuracy: n === 0 ? NaN : correct / n, macroF1: f1.reduce((a, b) => a + b, 0) / k, confusion, f1 };
}

/** K of a confusion matrix, which must be square: MAE and QWK read its row and column indices as labels. */
function confusionSize(confusion: Confusion): number {
  const k = confusion.length;
  confusion.forEach((row, g) => {
    if (row.length !== k) throw new Error(`confusion matrix must be K x K: row ${g} has ${row.length} columns, K is ${k}`);
  });
  return k;
}

/**
 * Mean absolute difference between gold and predicted label index, from confusion[gold][predicted]; the
 * indices are the labelSet order, low to high. NaN for no examples, like accuracy.
 */
export function meanAbsoluteError(confusion: Confusion): number {
  const k = confusionSize(confusion);
  let n = 0;
  let distanceSum = 0;
  for (let g = 0; g < k; g++) {
    for (let p = 0; p < k; p++) {
      n += confusion[g][p];
      distanceSum += confusion[g][p] * Math.abs(g - p);
    }
  }
  return n === 0 ? NaN : distanceSum / n;
}

/**
 * Quadratic-weighted Cohen's kappa over all K classes: 1 - sum w O / sum w E with w[i][j] = (i - j)^2,
 * O the confusion counts and E[i][j] = gold_i * predicted_j / N the counts expected by chance from the
 * margins. This is scikit-learn's cohen_kappa_score(gold, predicted, weights="quadratic",
 * labels=[0..K-1]); without `labels` scikit-learn keeps only the classes that occur, which changes the
 * distances when a class in between never occurs.
 *
 * The expected disagreement sum w E is 0 exactly when there are no examples or every gold and every
 * predicted label is one and the same class; the observed disagreement is then 0 too and kappa is 0/0.
 * We return NaN there, as scikit-learn does (its default replace_undefined_by=nan), rather than 1: a
 * one-class test set says nothing about agreement beyond chance, and NaN makes a mean over seeds show it.
 */
export function quadraticWeightedKappa(confusion: Confusion): number {
  const k = confusionSize(confusion);
  const goldTotals = confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const predictedTotals = Array.from({ length: k }, (_, p) => confusion.reduce((a, row) => a + row[p], 0));
  const n = goldTotals.reduce((a, b) => a + b, 0);
  let observed = 0;
  // N times the expected disagreement: a sum of integer products, so the test for 0 below is exact.
  let expectedTimesN = 0;
  for (let g = 0; g < k; g++) {
    for (let p = 0; p < k; p++) {
      const w = (g - p) ** 2;
      observed += w * confusion[g][p];
      expectedTimesN += w * goldTotals[g] * predictedTotals[p];
    }
  }
  return expectedTimesN === 0 ? NaN : 1 - (observed * n) / expectedTimesN;
}

/** Everything a run reports on its test set (docs/protocol.md, "Metrics per (dataset, dimension, condition)"). */
export interface RunMetrics extends ClassificationMetrics, CalibrationMetrics {
  /** Mean absolute error of the predicted label index. */
  mae: number;
  /** Quadratic-weighted Cohen's kappa. */
  qwk: number;
}

/**
 * The per-run metrics record from the readout: gold and predicted label indices and the [N * K] label
 * probabilities. MAE and QWK treat the label indices as an ordinal scale, which the rating scales are; for
 * a nominal label set (e-SNLI's) they are computed the same way but carry no meaning.
 */
export function runMetrics(gold: readonly number[], predicted: readonly number[], probs: ArrayLike<number>, k: number): RunMetrics {
  const classification = classificationMetrics(gold, predicted, k);
  return {
    ...classification,
    mae: meanAbsoluteError(classification.confusion),
    qwk: quadraticWeightedKappa(classification.confusion),
    ...calibrationMetrics(gold, probs, k),
  };
}
