/**
 * Plotly figures of an experiment grid's analysis (notebooks 02 and 03): accuracy per setting and arm with its
 * interval over seeds, the paired difference to `label` per setting (a forest plot), and the token-budget
 * ablation. They take the rows of the analysis tables (src/eval/compare.ts, `table.objects()`).
 */
import type { DifferenceRow, SummaryRow } from "../eval/compare";
import type { Figure } from "./figures";

interface ArmRow {
  dataset: string;
  dimension: string;
  condition: string;
  expl_tokens: number | null;
}
/** The columns of a summarize row that the figures read. */
type SummaryPoint = Pick<SummaryRow, keyof ArmRow | "accuracy_mean" | "accuracy_lo" | "accuracy_hi">;
type DifferencePoint = Pick<DifferenceRow, keyof ArmRow | "diff_mean" | "diff_lo" | "diff_hi">;

export const ARM_COLORS = ["#7f7f7f", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22"];

function armName(r: ArmRow): string {
  return r.expl_tokens === null ? r.condition : `${r.condition} (${r.expl_tokens} tokens)`;
}

function distinct(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** Plotly error bars from an interval; a NaN bound (one seed) draws no bar. */
export function errorBars(mean: readonly number[], lo: readonly number[], hi: readonly number[]): Record<string, unknown> {
  const finite = (v: number) => (Number.isFinite(v) ? v : 0);
  return { type: "data", symmetric: false, array: hi.map((h, i) => finite(h - mean[i])), arrayminus: lo.map((l, i) => finite(mean[i] - l)) };
}

/** Rows of one series (by default an arm), in the order of the settings axis. */
function bySeries<T extends ArmRow>(rows: readonly T[], series: (r: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const r of rows) groups.set(series(r), [...(groups.get(series(r)) ?? []), r]);
  return groups;
}

/** Grouped bars: per (dataset, dimension), each arm's (or `series`') mean test accuracy over seeds, with its 95% interval. */
export function settingAccuracyFigure<T extends SummaryPoint>(
  rows: readonly T[],
  title = "Test accuracy per setting (mean over seeds, 95% interval)",
  series: (r: T) => string = armName,
): Figure {
  const data = [...bySeries(rows, series)].map(([name, armRows], i) => ({
    type: "bar",
    name,
    x: [armRows.map((r) => r.dataset), armRows.map((r) => r.dimension)],
    y: armRows.map((r) => r.accuracy_mean),
    error_y: errorBars(
      armRows.map((r) => r.accuracy_mean),
      armRows.map((r) => r.accuracy_lo),
      armRows.map((r) => r.accuracy_hi),
    ),
    marker: { color: ARM_COLORS[i % ARM_COLORS.length] },
  }));
  return {
    data,
    layout: {
      title: { text: title },
      height: 440,
      barmode: "group",
      yaxis: { title: { text: "accuracy" }, range: [0, 1] },
      xaxis: { type: "multicategory" },
    },
  };
}

/** Forest plot: per setting, each arm's (or `series`') paired accuracy difference to `label` with its bootstrap interval; 0 is marked. */
export function differenceFigure<T extends DifferencePoint>(
  rows: readonly T[],
  title = "Accuracy minus label's, paired by seed (95% bootstrap interval)",
  series: (r: T) => string = armName,
): Figure {
  const settings = distinct(rows.map((r) => `${r.dataset} / ${r.dimension}`));
  const data = [...bySeries(rows, series)].map(([name, armRows], i) => ({
    type: "scatter",
    mode: "markers",
    name,
    y: armRows.map((r) => `${r.dataset} / ${r.dimension}`),
    x: armRows.map((r) => r.diff_mean),
    error_x: errorBars(
      armRows.map((r) => r.diff_mean),
      armRows.map((r) => r.diff_lo),
      armRows.map((r) => r.diff_hi),
    ),
    marker: { color: ARM_COLORS[(i + 1) % ARM_COLORS.length], size: 8 },
  }));
  return {
    data,
    layout: {
      title: { text: title },
      height: Math.max(320, 40 + 26 * settings.length),
      xaxis: { title: { text: "accuracy difference to label" }, zeroline: true, zerolinewidth: 2 },
      yaxis: { type: "category", categoryorder: "array", categoryarray: [...settings].reverse(), automargin: true },
    },
  };
}

/**
 * The token-budget ablation: the paired accuracy difference of label+expl to label against the explanation's
 * token budget (the whole explanation last), one faint line per setting and the mean over settings.
 */
export function budgetFigure(
  rows: readonly DifferencePoint[],
  wholeLabel = "whole",
  title = "Explanation token budget: accuracy minus label's",
): Figure {
  const explained = rows.filter((r) => r.condition === "label+expl");
  const budgets = [...new Set(explained.filter((r) => r.expl_tokens !== null).map((r) => r.expl_tokens as number))].sort((a, b) => a - b);
  const axis = [...budgets.map(String), wholeLabel];
  const position = (r: DifferencePoint) => (r.expl_tokens === null ? wholeLabel : String(r.expl_tokens));
  const settings = distinct(explained.map((r) => `${r.dataset} / ${r.dimension}`));
  const perSetting = settings.map((s) => {
    const mine = explained.filter((r) => `${r.dataset} / ${r.dimension}` === s);
    const y = axis.map((x) => mine.find((r) => position(r) === x)?.diff_mean ?? null);
    return {
      type: "scatter",
      mode: "lines",
      name: s,
      x: axis,
      y,
      line: { width: 1, color: "#9ecae1" },
      showlegend: false,
      hovertemplate: `${s}: %{y:.3f}<extra></extra>`,
    };
  });
  const mean = axis.map((x) => {
    const ds = explained
      .filter((r) => position(r) === x)
      .map((r) => r.diff_mean)
      .filter(Number.isFinite);
    return ds.length > 0 ? ds.reduce((a, b) => a + b, 0) / ds.length : null;
  });
  return {
    data: [
      ...perSetting,
      { type: "scatter", mode: "lines+markers", name: "mean over settings", x: axis, y: mean, line: { width: 3, color: "#08519c" } },
    ],
    layout: {
      title: { text: title },
      height: 380,
      xaxis: { title: { text: "explanation tokens in the target" }, type: "category" },
      yaxis: { title: { text: "accuracy difference to label" }, zeroline: true, zerolinewidth: 2 },
    },
  };
}
