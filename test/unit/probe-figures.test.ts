import assert from "node:assert/strict";
import { test } from "node:test";
import { layerCurveFigure, lensHeatmap, reliabilityFigure } from "../../src/viz/probe-figures";

test("layer curves: one line per condition over the points in first-seen order, error bars only where there are intervals", () => {
  const fig = layerCurveFigure(
    [
      { condition: "label", point: "embed", mean: 0.9 },
      { condition: "label", point: "0.mid", mean: 0.8 },
      { condition: "label+expl", point: "embed", mean: 0.85, lo: 0.8, hi: 0.95 },
      { condition: "label+expl", point: "0.mid", mean: NaN },
    ],
    "H",
    "t",
  );
  assert.deepEqual(
    fig.data.map((t) => t.name),
    ["label", "label+expl"],
  );
  assert.deepEqual(fig.data[0].x, ["embed", "0.mid"]);
  assert.equal(fig.data[0].error_y, undefined);
  assert.deepEqual(fig.data[1].y, [0.85, null], "a NaN point is a gap");
  const bars = fig.data[1].error_y as { array: number[]; arrayminus: number[] };
  assert.ok(Math.abs(bars.array[0] - 0.1) < 1e-12 && Math.abs(bars.arrayminus[0] - 0.05) < 1e-12);
});

test("lens heatmap: rows by label, columns by point; a wrong shape is an error", () => {
  const fig = lensHeatmap(
    ["1", "2"],
    ["embed", "0.post"],
    [
      [0.6, 0.4],
      [0.1, 0.9],
    ],
    "t",
    "p",
  );
  assert.deepEqual(fig.data[0].z, [
    [0.6, 0.1],
    [0.4, 0.9],
  ]);
  assert.throws(
    () =>
      lensHeatmap(
        ["1", "2"],
        ["embed"],
        [
          [0.5, 0.5],
          [0.5, 0.5],
        ],
        "t",
        "p",
      ),
    /expected 1 points x 2 rows/,
  );
});

test("reliability diagram: bins in confidence order per condition, and the diagonal", () => {
  const fig = reliabilityFigure([
    { condition: "label", mean_confidence: 0.7, accuracy: 0.5, count: 3 },
    { condition: "label", mean_confidence: 0.3, accuracy: 0.4, count: 2 },
  ]);
  assert.deepEqual(fig.data[0].x, [0.3, 0.7]);
  assert.deepEqual(fig.data.at(-1)!.x, [0, 1]);
});
