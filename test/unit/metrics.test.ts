import assert from "node:assert/strict";
import { test } from "node:test";
import { calibrationMetrics, ECE_BINS } from "../../src/eval/calibration";
import { classificationMetrics, confusionMatrix, meanAbsoluteError, quadraticWeightedKappa, runMetrics } from "../../src/eval/metrics";
import { argmax, entropy } from "../../src/eval/readout";
import { metricsTable } from "../../src/eval/tables";
import type { RunRecord } from "../../src/runs/experiment";

function assertClose(actual: number | null, expected: number, what: string): void {
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-12, `${what}: ${actual}, expected ${expected}`);
}

test("confusion matrix counts gold x predicted, and rejects out-of-range labels", () => {
  assert.deepEqual(confusionMatrix([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], 3), [
    [1, 1, 0],
    [0, 1, 0],
    [1, 0, 1],
  ]);
  assert.throws(() => confusionMatrix([0, 3], [0, 0], 3), /row 1: gold 3/);
  assert.throws(() => confusionMatrix([0, 1], [0, -1], 3), /row 1: gold 1, predicted -1/);
  assert.throws(() => confusionMatrix([0.5], [0], 3), /row 0: gold 0.5/);
  assert.throws(() => confusionMatrix([0], [0, 1], 3), /gold has 1 labels, predicted 2/);
});

test("accuracy and macro-F1 match a hand computation", () => {
  const m = classificationMetrics([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], 3);
  assert.equal(m.accuracy, 3 / 5);
  // class 0: tp 1, gold 2, pred 2 -> 0.5; class 1: tp 1, gold 1, pred 2 -> 2/3; class 2: tp 1, gold 2, pred 1 -> 2/3
  assert.ok(Math.abs(m.macroF1 - (0.5 + 2 / 3 + 2 / 3) / 3) < 1e-12);
  // A class never gold nor predicted counts as F1 0 (scikit-learn's zero_division=0).
  assert.equal(classificationMetrics([0, 0], [0, 0], 2).macroF1, 0.5);
});

test("MAE is the mean distance between gold and predicted label index", () => {
  // |0-0| + |1-2| + |2-1| + |2-2| = 2 over 4 examples.
  assert.equal(meanAbsoluteError(confusionMatrix([0, 1, 2, 2], [0, 2, 1, 2], 3)), 0.5);
  // One prediction 4 steps off and one correct: 4 / 2.
  assert.equal(meanAbsoluteError(confusionMatrix([0, 4], [4, 4], 5)), 2);
  assert.equal(meanAbsoluteError(confusionMatrix([1, 2], [1, 2], 3)), 0);
  assert.ok(Number.isNaN(meanAbsoluteError(confusionMatrix([], [], 3))));
});

test("QWK matches a hand computation", () => {
  // gold [0,1,2,2], predicted [0,2,1,2]: observed sum (i-j)^2 O = 1 + 1 = 2. Margins gold [1,1,2] = predicted
  // [1,1,2], N 4; sum (i-j)^2 gold_i pred_j = (1*1*1 + 4*1*2) + (1*1*1 + 1*1*2) + (4*2*1 + 1*2*1) = 22,
  // so expected = 22 / 4 = 5.5 and kappa = 1 - 2 / 5.5 = 7/11.
  assertClose(quadraticWeightedKappa(confusionMatrix([0, 1, 2, 2], [0, 2, 1, 2], 3)), 7 / 11, "qwk");
});

test("QWK agrees with scikit-learn's cohen_kappa_score(weights='quadratic', labels=[0..K-1])", () => {
  // scikit-learn 1.9.1:
  //   cohen_kappa_score([0,0,1,1,2,2,3,4,4,4], [0,1,1,2,2,4,3,3,4,2], labels=[0,1,2,3,4], weights="quadratic")
  //   -> 0.7150259067357513
  // By hand: observed 11; margins gold [2,2,2,1,3], predicted [1,2,3,2,2]; sum w gold_i pred_j = 386, N 10;
  // kappa = 1 - 11 / 38.6 = 138/193.
  const confusion = confusionMatrix([0, 0, 1, 1, 2, 2, 3, 4, 4, 4], [0, 1, 1, 2, 2, 4, 3, 3, 4, 2], 5);
  assertClose(quadraticWeightedKappa(confusion), 0.7150259067357513, "qwk vs scikit-learn");
  assertClose(quadraticWeightedKappa(confusion), 138 / 193, "qwk by hand");
  // All K classes count, also those that never occur: with labels=[0..4] scikit-learn gives 8/9 (0.888...);
  // without `labels` it re-indexes the occurring classes {0, 1, 4} as {0, 1, 2} and gives 0.5.
  assertClose(quadraticWeightedKappa(confusionMatrix([0, 1, 1, 4], [1, 1, 0, 4], 5)), 8 / 9, "qwk over all K");
});

test("QWK is 1 for perfect predictions, 0 when predictions are independent of gold, NaN when undefined", () => {
  assert.equal(quadraticWeightedKappa(confusionMatrix([0, 1, 2, 3, 4, 4], [0, 1, 2, 3, 4, 4], 5)), 1);
  // Predicted margins [1,1] against gold margins [1,1], each gold class once with each prediction: chance level.
  assert.equal(
    quadraticWeightedKappa([
      [1, 1],
      [1, 1],
    ]),
    0,
  );
  // Every gold and predicted label the same class: expected disagreement 0, kappa 0/0 (scikit-learn: nan).
  assert.ok(Number.isNaN(quadraticWeightedKappa(confusionMatrix([2, 2], [2, 2], 3))));
  assert.ok(Number.isNaN(quadraticWeightedKappa(confusionMatrix([], [], 3))));
  assert.throws(() => quadraticWeightedKappa([[1, 0], [0]]), /K x K: row 1 has 1 columns, K is 2/);
  assert.throws(() => meanAbsoluteError([[1, 0, 0]]), /K x K: row 0 has 3 columns, K is 1/);
});

test("ECE: the top-1 confidences fall into 10 equal-width bins (lo, hi], hand-computed", () => {
  assert.equal(ECE_BINS, 10);
  const probs = [
    0.9,
    0.05,
    0.05, // gold 0: confidence 0.9, on the edge, so in (0.8, 0.9]; correct
    0.1,
    0.6,
    0.3, // gold 2: confidence 0.6 in (0.5, 0.6]; wrong
    0.55,
    0.45,
    0, // gold 0: confidence 0.55 in (0.5, 0.6]; correct
    0.35,
    0.33,
    0.32, // gold 1: confidence 0.35 in (0.3, 0.4]; wrong
  ];
  const c = calibrationMetrics([0, 2, 0, 1], probs, 3);
  assert.equal(c.reliability.length, 10);
  assert.deepEqual(
    c.reliability.map((b) => b.count),
    [0, 0, 0, 1, 0, 2, 0, 0, 1, 0],
  );
  assertClose(c.reliability[3].lo, 0.3, "bin 3 lo");
  assertClose(c.reliability[3].hi, 0.4, "bin 3 hi");
  assertClose(c.reliability[5].meanConfidence, 0.575, "bin 5 confidence");
  assert.equal(c.reliability[5].accuracy, 0.5);
  assert.equal(c.reliability[8].accuracy, 1);
  assert.equal(c.reliability[3].accuracy, 0);
  assert.equal(c.reliability[0].meanConfidence, null, "an empty bin has no mean confidence");
  assert.equal(c.reliability[0].accuracy, null);
  // (1 * |1 - 0.9| + 2 * |0.5 - 0.575| + 1 * |0 - 0.35|) / 4 = (0.1 + 0.15 + 0.35) / 4
  assertClose(c.ece, 0.15, "ece");
  // The bin count is an option: with 2 bins, (0, 0.5] holds 0.35 (wrong) and (0.5, 1] the other three
  // (2 right): (|0 - 0.35| + |2 - (0.9 + 0.6 + 0.55)|) / 4 = 0.4 / 4.
  const two = calibrationMetrics([0, 2, 0, 1], probs, 3, 2);
  assert.deepEqual(
    two.reliability.map((b) => b.count),
    [1, 3],
  );
  assertClose(two.ece, 0.1, "ece with 2 bins");
});

test("ECE is 0 for perfectly calibrated data", () => {
  // Ten rows at confidence 0.8 of which 8 are right, four at 0.5 (a tie, top-1 is label 0) of which 2 are right.
  const gold = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1];
  const probs = gold.flatMap((_, i) => (i < 10 ? [0.8, 0.2] : [0.5, 0.5]));
  const c = calibrationMetrics(gold, probs, 2);
  assert.ok(Math.abs(c.ece) < 1e-12, `ece ${c.ece}`);
  assert.deepEqual(
    c.reliability.map((b) => b.count),
    [0, 0, 0, 0, 4, 0, 0, 10, 0, 0],
  );
  assert.equal(c.reliability[7].accuracy, 0.8);
});

test("Brier score is the mean squared distance to the one-hot gold label", () => {
  // (0.3^2 + 0.2^2 + 0.1^2) = 0.14 and (0.2^2 + 0.5^2 + 0.7^2) = 0.78; mean 0.46.
  assertClose(calibrationMetrics([0, 2], [0.7, 0.2, 0.1, 0.2, 0.5, 0.3], 3).brier, 0.46, "brier");
  assert.equal(calibrationMetrics([1], [0, 1, 0], 3).brier, 0, "a confident right answer");
  assert.equal(calibrationMetrics([0], [0, 1, 0], 3).brier, 2, "a confident wrong answer");
  const empty = calibrationMetrics([], [], 3);
  assert.ok(Number.isNaN(empty.brier) && Number.isNaN(empty.ece));
});

test("calibration rejects probabilities of the wrong size, out-of-range gold labels and non-distributions", () => {
  assert.throws(() => calibrationMetrics([0, 1], [0.5, 0.5, 1], 2), /3 entries, expected 2 examples x 2 labels = 4/);
  assert.throws(() => calibrationMetrics([0, 2], [0.5, 0.5, 1, 0], 2), /gold label index out of range at row 1: gold 2, k 2/);
  assert.throws(() => calibrationMetrics([0], [0.5, 0.4], 2), /row 0 sum to 0.9/);
  assert.throws(() => calibrationMetrics([0], [1.5, -0.5], 2), /row 0, label 0 is 1.5/);
  assert.throws(() => calibrationMetrics([0], [NaN, 1], 2), /row 0, label 0 is NaN/);
  assert.throws(() => calibrationMetrics([0], [1, 0], 2, 0), /ECE bins must be a positive integer, got 0/);
});

test("runMetrics builds the whole record from gold, predicted and the [N * K] probabilities", () => {
  const gold = [0, 1, 2, 2];
  const predicted = [0, 2, 1, 2];
  // Float32, as the readout gives; no confidence near a bin edge, where float32 rounding decides the bin.
  const probs = new Float32Array([0.75, 0.15, 0.1, 0.2, 0.35, 0.45, 0.15, 0.65, 0.2, 0.05, 0.1, 0.85]);
  const m = runMetrics(gold, predicted, probs, 3);
  assert.equal(m.n, 4);
  assert.equal(m.accuracy, 0.5);
  assert.equal(m.mae, 0.5);
  assertClose(m.qwk, 7 / 11, "qwk");
  assert.deepEqual(m.confusion, confusionMatrix(gold, predicted, 3));
  assert.deepEqual(
    m.reliability.map((b) => b.count),
    [0, 0, 0, 0, 1, 0, 1, 1, 1, 0],
  );
  // One example per bin: (|1 - 0.75| + |0 - 0.45| + |0 - 0.65| + |1 - 0.85|) / 4
  assert.ok(Math.abs(m.ece - 1.5 / 4) < 1e-6, `ece ${m.ece}`);
  // (0.095 + 0.665 + 1.085 + 0.035) / 4
  assert.ok(Math.abs(m.brier - 1.88 / 4) < 1e-6, `brier ${m.brier}`);
  assert.throws(() => runMetrics(gold, predicted, probs.subarray(3), 3), /9 entries, expected 4 examples x 3 labels = 12/);
  assert.throws(() => runMetrics(gold, [0, 1, 2], probs, 3), /gold has 4 labels, predicted 3/);
  assert.throws(() => runMetrics(gold, [0, 1, 3, 2], probs, 3), /out of range at row 2: gold 2, predicted 3/);
});

test("metricsTable has the ordinal and calibration columns", () => {
  const metrics = runMetrics([0, 1], [0, 1], [0.9, 0.1, 0.2, 0.8], 2);
  const run = {
    spec: { dataset: "d", condition: "label", seed: 1, profile: "ci" },
    metrics,
    training: { steps: 1, tokensPerSec: 1, wallS: 1, resumedFromStep: 0, losses: [] },
    environment: { backend: "cpu" },
  } as unknown as RunRecord;
  const row = metricsTable([run]).objects()[0] as Record<string, unknown>;
  assert.equal(row.mae, 0);
  assert.equal(row.qwk, 1);
  assertClose(row.ece as number, metrics.ece, "ece column");
  assertClose(row.brier as number, (0.01 + 0.01 + 0.04 + 0.04) / 2, "brier column");
});

test("readout helpers: argmax takes the first maximum; entropy in nats", () => {
  assert.equal(argmax([0.2, 0.5, 0.5]), 1);
  assert.ok(Math.abs(entropy([0.5, 0.5]) - Math.log(2)) < 1e-12);
  assert.equal(entropy([1, 0, 0]), 0);
});
