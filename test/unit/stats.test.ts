import assert from "node:assert/strict";
import { test } from "node:test";
import type { Dataset } from "../../src/data/load";
import type { Example } from "../../src/data/schema";
import { explanationLengths, labelDistribution, mean, quantile, summarizeLengths } from "../../src/data/stats";

function example(id: string, dimension: string, label: string, explanations: string[] = []): Example {
  return {
    id,
    source: "toy",
    dimension,
    context: [{ role: "user", text: "q" }],
    response: "r",
    label,
    labelSet: ["low", "mid", "high"],
    explanations,
    split: "train",
  };
}

function dataset(train: Example[], test: Example[] = []): Dataset {
  return { name: "toy", dir: "/x", train, test, labelSet: ["low", "mid", "high"], hash: "h", skipped: [] };
}

const words = (text: string) => text.split(" ").length;

test("mean and quantiles: hand-computed values", () => {
  assert.equal(mean([1, 2, 3, 6]), 3);
  assert.equal(mean([]), 0);
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(quantile([10, 20, 30], 0.25), 15);
  assert.equal(quantile([7], 0.95), 7);
  assert.throws(() => quantile([], 0.5), /no values/);
  assert.deepEqual(summarizeLengths([5, 1, 3, 2, 4]), { n: 5, mean: 3, p5: 1.2, q1: 2, median: 3, q3: 4, p95: 4.8, max: 5 });
});

test("label distribution: every label of the labelSet per dimension, in order, shares summing to 1 per dimension", () => {
  const ds = dataset(
    [example("a", "x", "low"), example("b", "x", "high"), example("c", "y", "mid")],
    [example("d", "x", "high"), example("e", "y", "mid")],
  );
  const rows = labelDistribution(ds);
  assert.deepEqual(
    rows.map((r) => `${r.dimension}:${r.label}:${r.count}`),
    ["x:low:1", "x:mid:0", "x:high:2", "y:low:0", "y:mid:2", "y:high:0"],
  );
  for (const dimension of ["x", "y"]) {
    const total = rows.filter((r) => r.dimension === dimension).reduce((s, r) => s + r.share, 0);
    assert.ok(Math.abs(total - 1) < 1e-12, `${dimension}: shares sum to ${total}`);
  }
  assert.ok(rows.every((r) => r.dataset === "toy"));
});

test("explanation lengths: per dimension, every explanation counted, share over the cap, seeded sampling", () => {
  const ds = dataset([
    example("a", "x", "low", ["one two three", "one"]),
    example("b", "x", "mid", ["one two three four five"]),
    example("c", "y", "mid"),
  ]);
  const [x, ...rest] = explanationLengths(ds, words, { cap: 3 });
  assert.equal(rest.length, 0, "a dimension without explanations is left out");
  assert.equal(x.dimension, "x");
  assert.equal(x.n, 3);
  assert.equal(x.mean, 3);
  assert.equal(x.max, 5);
  assert.equal(x.overCap, 1 / 3);

  const many = dataset(Array.from({ length: 50 }, (_, i) => example(`e${i}`, "x", "low", ["w ".repeat(i + 1).trim()])));
  const sampled = explanationLengths(many, words, { cap: 10, maxExamples: 10, seed: 3 });
  assert.equal(sampled[0].n, 10);
  assert.deepEqual(explanationLengths(many, words, { cap: 10, maxExamples: 10, seed: 3 }), sampled, "the same seed gives the same sample");
  assert.equal(explanationLengths(many, words, { cap: 10 })[0].n, 50);
});
