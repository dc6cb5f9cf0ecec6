import assert from "node:assert/strict";
import { test } from "node:test";
import { classificationMetrics, confusionMatrix } from "../../src/eval/metrics";
import { argmax, entropy } from "../../src/eval/readout";

test("confusion matrix counts gold x predicted, and rejects out-of-range labels", () => {
  assert.deepEqual(confusionMatrix([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], 3), [[1, 1, 0], [0, 1, 0], [1, 0, 1]]);
  assert.throws(() => confusionMatrix([0, 3], [0, 0], 3), /row 1: gold 3/);
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

test("readout helpers: argmax takes the first maximum; entropy in nats", () => {
  assert.equal(argmax([0.2, 0.5, 0.5]), 1);
  assert.ok(Math.abs(entropy([0.5, 0.5]) - Math.log(2)) < 1e-12);
  assert.equal(entropy([1, 0, 0]), 0);
});
