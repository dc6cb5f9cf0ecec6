import assert from "node:assert/strict";
import { test } from "node:test";
import { budgetFigure, differenceFigure, settingAccuracyFigure } from "../../src/viz/grid-figures";

type DifferenceRow = Parameters<typeof differenceFigure>[0][number];
type SummaryRow = Parameters<typeof settingAccuracyFigure>[0][number];

const setting = (dataset: string, dimension: string) => ({ dataset, dimension });

test("accuracy per setting: one bar trace per arm on a (dataset, dimension) axis, asymmetric error bars; NaN bounds draw none", () => {
  const rows: SummaryRow[] = [
    { ...setting("a", "x"), condition: "label", expl_tokens: null, accuracy_mean: 0.5, accuracy_lo: 0.4, accuracy_hi: 0.7 },
    { ...setting("a", "x"), condition: "label+expl", expl_tokens: null, accuracy_mean: 0.6, accuracy_lo: NaN, accuracy_hi: NaN },
    { ...setting("b", "y"), condition: "label", expl_tokens: null, accuracy_mean: 0.3, accuracy_lo: 0.2, accuracy_hi: 0.35 },
  ];
  const fig = settingAccuracyFigure(rows);
  assert.deepEqual(
    fig.data.map((t) => t.name),
    ["label", "label+expl"],
  );
  assert.deepEqual(fig.data[0].x, [
    ["a", "b"],
    ["x", "y"],
  ]);
  const bars = fig.data[0].error_y as { array: number[]; arrayminus: number[] };
  assert.ok(Math.abs(bars.array[0] - 0.2) < 1e-12 && Math.abs(bars.arrayminus[0] - 0.1) < 1e-12);
  assert.deepEqual((fig.data[1].error_y as { array: number[] }).array, [0]);
});

test("forest plot: settings top to bottom in first-seen order, one trace per arm with budgets named", () => {
  const rows: DifferenceRow[] = [
    { ...setting("a", "x"), condition: "label+expl", expl_tokens: null, diff_mean: 0.1, diff_lo: 0, diff_hi: 0.2 },
    { ...setting("b", "y"), condition: "label+expl", expl_tokens: null, diff_mean: -0.1, diff_lo: -0.2, diff_hi: 0 },
    { ...setting("a", "x"), condition: "label+expl", expl_tokens: 8, diff_mean: 0.05, diff_lo: 0, diff_hi: 0.1 },
  ];
  const fig = differenceFigure(rows);
  assert.deepEqual(
    fig.data.map((t) => t.name),
    ["label+expl", "label+expl (8 tokens)"],
  );
  assert.deepEqual((fig.layout.yaxis as { categoryarray: string[] }).categoryarray, ["b / y", "a / x"]);
});

test("budget curve: budgets in increasing order then the whole explanation; the mean skips missing settings", () => {
  const rows: DifferenceRow[] = [
    { ...setting("a", "x"), condition: "label+expl", expl_tokens: null, diff_mean: 0.3, diff_lo: 0, diff_hi: 0 },
    { ...setting("a", "x"), condition: "label+expl", expl_tokens: 16, diff_mean: 0.2, diff_lo: 0, diff_hi: 0 },
    { ...setting("a", "x"), condition: "label+expl", expl_tokens: 0, diff_mean: 0.0, diff_lo: 0, diff_hi: 0 },
    { ...setting("b", "y"), condition: "label+expl", expl_tokens: 0, diff_mean: 0.1, diff_lo: 0, diff_hi: 0 },
    { ...setting("b", "y"), condition: "label+bow", expl_tokens: null, diff_mean: 0.9, diff_lo: 0, diff_hi: 0 },
  ];
  const fig = budgetFigure(rows, "whole");
  const mean = fig.data.at(-1)!;
  assert.deepEqual(mean.x, ["0", "16", "whole"]);
  assert.deepEqual(
    (mean.y as number[]).map((v) => Number(v.toFixed(6))),
    [0.05, 0.2, 0.3],
  );
  assert.equal(fig.data.length, 3, "one line per setting and the mean; other conditions are left out");
});
