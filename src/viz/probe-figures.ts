/**
 * Plotly figures of the probes (notebook 04): a measure along the residual points (or blocks) per condition,
 * logit-lens heatmaps, and reliability diagrams. They take rows of the probe tables (src/probe/compare.ts).
 */
import { ARM_COLORS, errorBars } from "./grid-figures";
import type { Figure } from "./figures";

/** One point of a curve: the condition, the point's label, the value and (optionally) its interval. */
export interface CurvePoint {
  condition: string;
  point: string;
  mean: number;
  lo?: number;
  hi?: number;
}

/** One line per condition over the points, in first-seen point order; error bars where the rows have intervals. */
export function layerCurveFigure(rows: readonly CurvePoint[], yTitle: string, title: string): Figure {
  const points = [...new Set(rows.map((r) => r.point))];
  const conditions = [...new Set(rows.map((r) => r.condition))];
  const data = conditions.map((condition, i) => {
    const mine = points.map((p) => rows.find((r) => r.condition === condition && r.point === p));
    const mean = mine.map((r) => r?.mean ?? NaN);
    const withBars = mine.some((r) => r?.lo !== undefined);
    return {
      type: "scatter",
      mode: "lines+markers",
      name: condition,
      x: points,
      y: mean.map((v) => (Number.isFinite(v) ? v : null)),
      ...(withBars
        ? {
            error_y: errorBars(
              mean,
              mine.map((r) => r?.lo ?? NaN),
              mine.map((r) => r?.hi ?? NaN),
            ),
          }
        : {}),
      line: { color: ARM_COLORS[i % ARM_COLORS.length] },
    };
  });
  return {
    data,
    layout: {
      title: { text: title },
      height: 380,
      xaxis: { title: { text: "residual point (or block)" }, type: "category" },
      yaxis: { title: { text: yTitle } },
    },
  };
}

/** Heatmap of a value per (row, point): e.g. the mean lens probability of each label, or each condition's lens agreement. */
export function lensHeatmap(
  rowLabels: readonly string[],
  points: readonly string[],
  values: readonly number[][],
  title: string,
  colorTitle: string,
): Figure {
  if (values.length !== points.length || values.some((v) => v.length !== rowLabels.length)) {
    throw new Error(`lens heatmap: expected ${points.length} points x ${rowLabels.length} rows of values`);
  }
  return {
    data: [
      {
        type: "heatmap",
        x: [...points],
        y: [...rowLabels],
        z: rowLabels.map((_, r) => points.map((_, p) => values[p][r])),
        colorscale: "Viridis",
        colorbar: { title: { text: colorTitle } },
        hovertemplate: "%{y} at %{x}: %{z:.3f}<extra></extra>",
      },
    ],
    layout: {
      title: { text: title },
      height: 120 + 34 * rowLabels.length,
      xaxis: { type: "category", title: { text: "residual point" } },
      yaxis: { type: "category", automargin: true },
    },
  };
}

export interface ReliabilityPoint {
  condition: string;
  mean_confidence: number;
  accuracy: number;
  count: number;
}

/** Reliability diagram: accuracy against mean confidence per confidence bin, one line per condition, and the diagonal. */
export function reliabilityFigure(
  rows: readonly ReliabilityPoint[],
  title = "Reliability: accuracy against confidence (bins pooled over runs)",
): Figure {
  const conditions = [...new Set(rows.map((r) => r.condition))];
  const data = conditions.map((condition, i) => {
    const mine = rows.filter((r) => r.condition === condition).sort((a, b) => a.mean_confidence - b.mean_confidence);
    return {
      type: "scatter",
      mode: "lines+markers",
      name: condition,
      x: mine.map((r) => r.mean_confidence),
      y: mine.map((r) => r.accuracy),
      text: mine.map((r) => `${r.count} examples`),
      hovertemplate: `${condition}: confidence %{x:.3f}, accuracy %{y:.3f} (%{text})<extra></extra>`,
      line: { color: ARM_COLORS[i % ARM_COLORS.length] },
    };
  });
  data.push({ type: "scatter", mode: "lines", name: "calibrated", x: [0, 1], y: [0, 1], line: { color: "#bbbbbb", dash: "dash" } } as never);
  return {
    data,
    layout: {
      title: { text: title },
      height: 420,
      xaxis: { title: { text: "mean top-1 confidence" }, range: [0, 1] },
      yaxis: { title: { text: "accuracy" }, range: [0, 1] },
    },
  };
}
