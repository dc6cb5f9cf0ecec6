/**
 * Plotly figures as plain objects (data, layout), built from run records. Showing them is kernel-ext's
 * job (`show`); building them here keeps notebooks thin and the figures testable.
 */
import type { RunRecord } from "../runs/experiment";

export interface Figure {
  data: Array<Record<string, unknown>>;
  layout: Record<string, unknown>;
}

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

/** Exponential moving average, bias-corrected, for readable loss curves. */
export function smooth(values: readonly number[], alpha = 0.1): number[] {
  let avg = 0;
  return values.map((v, i) => {
    avg = (1 - alpha) * avg + alpha * v;
    return avg / (1 - (1 - alpha) ** (i + 1));
  });
}

function runName(r: RunRecord): string {
  return `${r.spec.condition} (seed ${r.spec.seed})`;
}

/** Training loss per step for each run: raw (faint) and smoothed. */
export function lossCurveFigure(runs: readonly RunRecord[], title = "Training loss (target tokens only)"): Figure {
  const data = runs.flatMap((r, i) => {
    const color = PALETTE[i % PALETTE.length];
    const steps = r.training.losses.map((p) => p.step);
    const losses = r.training.losses.map((p) => p.loss);
    return [
      { type: "scatter", mode: "lines", x: steps, y: losses, name: `${runName(r)} raw`, line: { color, width: 1 }, opacity: 0.3, showlegend: false },
      { type: "scatter", mode: "lines", x: steps, y: smooth(losses), name: runName(r), line: { color, width: 2 } },
    ];
  });
  return {
    data,
    layout: {
      title: { text: title }, height: 380,
      xaxis: { title: { text: "step" } }, yaxis: { title: { text: "cross-entropy (nats per target token)" } },
    },
  };
}

/** Test accuracy and macro-F1 per run, as grouped bars. */
export function accuracyFigure(runs: readonly RunRecord[], title = "Test accuracy and macro-F1"): Figure {
  const names = runs.map(runName);
  return {
    data: [
      { type: "bar", name: "accuracy", x: names, y: runs.map((r) => r.metrics?.accuracy ?? null), marker: { color: PALETTE[0] } },
      { type: "bar", name: "macro-F1", x: names, y: runs.map((r) => r.metrics?.macroF1 ?? null), marker: { color: PALETTE[2] } },
    ],
    layout: {
      title: { text: title }, height: 360, barmode: "group",
      yaxis: { title: { text: "score" }, range: [0, 1] },
    },
  };
}
