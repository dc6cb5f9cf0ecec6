import assert from "node:assert/strict";
import { test } from "node:test";
import type { ExplanationLengths, LabelShare } from "../../src/data/stats";
import type { DimensionAgreement } from "../../src/teacher/benchmark";
import { agreementHeatmap, explanationLengthFigure, labelShareFigure } from "../../src/viz/data-figures";

const share = (dataset: string, dimension: string, label: string, s: number): LabelShare => ({
  dataset,
  dimension,
  label,
  count: Math.round(100 * s),
  share: s,
});

test("label shares: one stacked trace per label; a legend only when every group has the same labels", () => {
  const same = labelShareFigure([share("a", "x", "1", 0.25), share("a", "x", "2", 0.75), share("b", "x", "1", 0.5), share("b", "x", "2", 0.5)]);
  assert.deepEqual(
    same.data.map((t) => t.name),
    ["1", "2"],
  );
  assert.deepEqual(same.data[1].x, [0.75, 0.5]);
  assert.deepEqual(same.data[1].y, [
    ["a", "b"],
    ["x", "x"],
  ]);
  assert.ok(same.data.every((t) => t.showlegend === true));
  const color = (trace: Record<string, unknown>) => (trace.marker as { color: string }).color;
  assert.notEqual(color(same.data[0]), color(same.data[1]), "low and high labels differ in colour");

  const mixed = labelShareFigure([share("a", "x", "yes", 0.4), share("a", "x", "no", 0.6), share("b", "y", "1", 1)]);
  assert.ok(mixed.data.every((t) => t.showlegend === false));
  assert.deepEqual(mixed.data[0].text, ["yes<br>40%"]);
});

test("explanation lengths: one box per (dataset, dimension), with its quartiles, whiskers at p5 and p95", () => {
  const row = (dataset: string, dimension: string, median: number): ExplanationLengths => ({
    dataset,
    dimension,
    n: 10,
    mean: median + 1,
    p5: median - 4,
    q1: median - 2,
    median,
    q3: median + 2,
    p95: median + 4,
    max: median + 9,
    overCap: 0,
  });
  const fig = explanationLengthFigure([row("a", "x", 10), row("a", "y", 20), row("b", "z", 30)], 16);
  assert.equal(fig.data.length, 3);
  assert.deepEqual(fig.data[1].y, [["a"], ["y"]]);
  assert.deepEqual([fig.data[1].lowerfence, fig.data[1].median, fig.data[1].upperfence], [[16], [20], [24]]);
  assert.deepEqual(fig.data[0].marker, fig.data[1].marker, "one colour per dataset");
});

test("agreement heatmap: sources x dimensions grids of alpha and Spearman", () => {
  const row = (dataset: string, dimension: "naturalness" | "on-topic", alpha: number): DimensionAgreement => ({
    dataset,
    dimension,
    alpha,
    spearman: alpha / 2,
    conversations: 10,
    reproduced: 1,
  });
  const fig = agreementHeatmap([row("a", "naturalness", 0.4), row("a", "on-topic", 0.8), row("b", "naturalness", NaN)]);
  assert.deepEqual(fig.data[0].z, [
    [0.4, 0.8],
    [null, null],
  ]);
  assert.deepEqual(fig.data[1].z, [
    [0.2, 0.4],
    [null, null],
  ]);
  assert.deepEqual(fig.data[0].y, ["a", "b"]);
});
