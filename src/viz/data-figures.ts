/**
 * Plotly figures of the datasets themselves (notebooks/01-data.ipynb): label shares, explanation lengths,
 * the teacher's rater agreement and its agreement with people. Plain objects, like figures.ts.
 */
import type { ExplanationLengths, LabelShare } from "../data/stats";
import type { DimensionAgreement } from "../teacher/benchmark";
import type { TeacherVsHuman } from "../teacher/human-agreement";
import type { Figure } from "./figures";

/** Low to high (red to blue), for ordered labels: a label's colour says where it sits in its label set. */
const ORDINAL = ["#d7301f", "#fc8d59", "#e6c75c", "#91bfdb", "#4575b4"];
const CATEGORICAL = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

/** The colour of position i of n in an ordered label set. */
function ordinalColor(i: number, n: number): string {
  return ORDINAL[n <= 1 ? ORDINAL.length - 1 : Math.round((i / (n - 1)) * (ORDINAL.length - 1))];
}

/** Keys in order of first appearance. */
function distinct<T>(items: readonly T[], key: (item: T) => string): string[] {
  return [...new Set(items.map(key))];
}

/** A two-level category axis (dataset, then dimension): Plotly's multicategory axis takes the levels as two parallel lists. */
function datasetDimensionAxis(groups: readonly { dataset: string; dimension: string }[]): [string[], string[]] {
  return [groups.map((g) => g.dataset), groups.map((g) => g.dimension)];
}

/**
 * One horizontal bar per (dataset, dimension), split into label shares; every group's shares sum to 1. When the
 * groups have different label sets, the segments carry their label's name instead of a legend.
 */
export function labelShareFigure(rows: readonly LabelShare[], title = "Label shares per dataset and dimension"): Figure {
  const groupKey = (r: { dataset: string; dimension: string }) => `${r.dataset}\u0000${r.dimension}`;
  const groupOrder = distinct(rows, groupKey);
  const byGroup = new Map(groupOrder.map((k) => [k, rows.filter((r) => groupKey(r) === k)]));
  const labels = distinct(rows, (r) => r.label);
  const oneLabelSet = [...byGroup.values()].every((g) => g.length === labels.length);
  const data = labels.map((label) => {
    const own = rows.filter((r) => r.label === label);
    // Rows come in labelSet order within a group, so a label's index there is its level.
    const first = byGroup.get(groupKey(own[0]))!;
    const percent = (share: number) => `${Math.round(100 * share)}%`;
    return {
      type: "bar",
      orientation: "h",
      name: label,
      showlegend: oneLabelSet,
      y: datasetDimensionAxis(own),
      x: own.map((r) => r.share),
      text: own.map((r) => (r.share < 0.06 ? "" : oneLabelSet ? percent(r.share) : `${label}<br>${percent(r.share)}`)),
      textposition: "inside",
      insidetextanchor: "middle",
      customdata: own.map((r) => r.count),
      hovertemplate: `label ${label}: %{x:.1%} (%{customdata} examples)<extra>%{y}</extra>`,
      marker: {
        color: ordinalColor(
          first.findIndex((r) => r.label === label),
          first.length,
        ),
        line: { color: "white", width: 1 },
      },
    };
  });
  return {
    data,
    layout: {
      title: { text: title },
      barmode: "stack",
      height: 140 + (oneLabelSet ? 26 : 60) * groupOrder.length,
      xaxis: { title: { text: "share of examples (train + test)" }, range: [0, 1], tickformat: ".0%" },
      yaxis: { type: "multicategory", autorange: "reversed" },
      legend: { title: { text: "label" }, traceorder: "normal" },
      margin: { l: 260 },
    },
  };
}

/**
 * Explanation lengths in tokens as boxes (quartiles, whiskers at the 5th and 95th percentiles, mean dashed), one per
 * (dataset, dimension), on a log axis; a line marks `cap`, the tokens a sequence keeps.
 */
export function explanationLengthFigure(rows: readonly ExplanationLengths[], cap: number, title = "Explanation length (tokens)"): Figure {
  const datasets = distinct(rows, (r) => r.dataset);
  // One trace per box: Plotly counts a box trace's boxes by the length of its position array, which on a
  // multicategory axis is the number of levels (2), not the number of boxes.
  const data = rows.map((r) => ({
    type: "box",
    orientation: "h",
    name: `${r.dataset} ${r.dimension}`,
    showlegend: false,
    y: datasetDimensionAxis([r]),
    q1: [r.q1],
    median: [r.median],
    q3: [r.q3],
    lowerfence: [r.p5],
    upperfence: [r.p95],
    mean: [r.mean],
    boxmean: true,
    marker: { color: CATEGORICAL[datasets.indexOf(r.dataset) % CATEGORICAL.length] },
  }));
  return {
    data,
    layout: {
      title: { text: title },
      height: 140 + 26 * rows.length,
      xaxis: {
        title: { text: "tokens per explanation (project tokenizer, log scale)" },
        type: "log",
        tickvals: [5, 10, 20, 50, 100, 200, 500, 1000, 2000],
      },
      yaxis: { type: "multicategory", autorange: "reversed" },
      shapes: [{ type: "line", xref: "x", yref: "paper", x0: cap, x1: cap, y0: 0, y1: 1, line: { color: "#444", dash: "dot", width: 1.5 } }],
      annotations: [
        { xref: "x", yref: "paper", x: Math.log10(cap), xanchor: "center", y: 1, yanchor: "bottom", showarrow: false, text: `sequence cap ${cap}` },
      ],
      margin: { l: 260 },
    },
  };
}

/** Two heatmaps, sources x dimensions: Krippendorff's alpha of the 12 judgments and the raters' mean pairwise Spearman. */
export function agreementHeatmap(rows: readonly DimensionAgreement[], title = "Agreement of the teacher's raters"): Figure {
  const datasets = distinct(rows, (r) => r.dataset);
  const dimensions = distinct(rows, (r) => r.dimension);
  const grid = (value: (r: DimensionAgreement) => number) =>
    datasets.map((d) =>
      dimensions.map((dim) => {
        const row = rows.find((r) => r.dataset === d && r.dimension === dim);
        return row === undefined || Number.isNaN(value(row)) ? null : value(row);
      }),
    );
  const panel = (value: (r: DimensionAgreement) => number, axis: "" | "2", name: string) => ({
    type: "heatmap",
    name,
    x: dimensions,
    y: datasets,
    z: grid(value),
    xaxis: `x${axis}`,
    yaxis: `y${axis}`,
    coloraxis: "coloraxis",
    texttemplate: "%{z:.2f}",
    hovertemplate: `${name} %{z:.3f}<extra>%{y}, %{x}</extra>`,
  });
  return {
    data: [panel((r) => r.alpha, "", "alpha"), panel((r) => r.spearman, "2", "Spearman")],
    layout: {
      title: { text: title },
      height: 160 + 40 * datasets.length,
      xaxis: { domain: [0, 0.44] },
      xaxis2: { domain: [0.5, 0.94] },
      yaxis: { autorange: "reversed" },
      yaxis2: { autorange: "reversed", anchor: "x2", showticklabels: false },
      coloraxis: { colorscale: "Viridis", cmin: 0, cmax: 1, colorbar: { len: 0.8 } },
      annotations: [
        {
          text: "Krippendorff's alpha, 12 judgments",
          xref: "paper",
          yref: "paper",
          x: 0.22,
          xanchor: "center",
          y: 1,
          yanchor: "bottom",
          showarrow: false,
        },
        {
          text: "mean pairwise Spearman, 3 raters",
          xref: "paper",
          yref: "paper",
          x: 0.72,
          xanchor: "center",
          y: 1,
          yanchor: "bottom",
          showarrow: false,
        },
      ],
      margin: { l: 170, t: 90 },
    },
  };
}

/** Human ratings against the teacher's label: per teacher dimension a panel of boxes, one colour per source. */
export function teacherVsHumanFigure(
  rows: readonly (TeacherVsHuman & { source: string })[],
  title = "USR's human ratings by the teacher's label",
): Figure {
  const comparisons = distinct(rows, (r) => r.dimension);
  const sources = distinct(rows, (r) => r.source);
  const data = rows.map((r) => {
    const panel = comparisons.indexOf(r.dimension) === 0 ? "" : String(comparisons.indexOf(r.dimension) + 1);
    return {
      type: "box",
      name: r.source,
      legendgroup: r.source,
      showlegend: panel === "",
      x: r.pairs.map((p) => String(p.teacher)),
      y: r.pairs.map((p) => p.human),
      xaxis: `x${panel}`,
      yaxis: `y${panel}`,
      marker: { color: CATEGORICAL[sources.indexOf(r.source) % CATEGORICAL.length] },
      boxpoints: false,
    };
  });
  const width = 1 / comparisons.length;
  const layout: Record<string, unknown> = {
    title: { text: title },
    height: 420,
    boxmode: "group",
    annotations: comparisons.map((dimension, i) => {
      const own = rows.filter((r) => r.dimension === dimension);
      const rhos = own.map((r) => `${r.source} ${r.rho.toFixed(2)}`).join(", ");
      return {
        text: `${dimension} vs ${own[0].quality}<br>Spearman: ${rhos}`,
        font: { size: 12 },
        xref: "paper",
        yref: "paper",
        x: (i + 0.5) * width,
        xanchor: "center",
        y: 1,
        yanchor: "bottom",
        showarrow: false,
      };
    }),
    margin: { t: 110 },
  };
  comparisons.forEach((dimension, i) => {
    const suffix = i === 0 ? "" : String(i + 1);
    layout[`xaxis${suffix}`] = {
      domain: [i * width + 0.04, (i + 1) * width - 0.04],
      anchor: `y${suffix}`,
      type: "category",
      categoryorder: "category ascending",
      title: { text: `teacher ${dimension} label` },
    };
    layout[`yaxis${suffix}`] = { anchor: `x${suffix}`, range: [0.9, 3.1], title: { text: i === 0 ? "human mean (1-3)" : "" } };
  });
  return { data, layout };
}
