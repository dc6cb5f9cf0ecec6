/** Classification metrics from gold and predicted label indices. */
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
    if (g < 0 || g >= k || p < 0 || p >= k) throw new Error(`label index out of range at row ${i}: gold ${g}, predicted ${p}, k ${k}`);
    m[g][p] += 1;
  });
  return m;
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
