/**
 * Plotly figures as plain objects (data, layout), built from run records. Showing them is kernel-ext's
 * job (`show`); building them here keeps notebooks thin and the figures testable.
 */
import type { BaseCard } from "../runs/base";
import type { RunRecord } from "../runs/experiment";
import type { LossPoint } from "../train/trainer";

export interface Figure {
  data: Array<Record<string, unknown>>;
  layout: Record<string, unknown>;
}

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

/** Exponential moving average, bias-corrected, for readable loss curves. */
function smooth(values: readonly number[], alpha = 0.1): number[] {
  let avg = 0;
  return values.map((v, i) => {
    avg = (1 - alpha) * avg + alpha * v;
    return avg / (1 - (1 - alpha) ** (i + 1));
  });
}

function runName(r: RunRecord): string {
  return `${r.spec.condition} (seed ${r.spec.seed})`;
}

/** One loss curve and the name it is shown under: a run's, a base's. */
export interface NamedLosses {
  name: string;
  losses: readonly LossPoint[];
}

/** Loss per step for each named curve: raw (faint) and smoothed. */
function lossCurves(curves: readonly NamedLosses[], title: string, yTitle: string): Figure {
  const data = curves.flatMap((c, i) => {
    const color = PALETTE[i % PALETTE.length];
    const steps = c.losses.map((p) => p.step);
    const losses = c.losses.map((p) => p.loss);
    return [
      { type: "scatter", mode: "lines", x: steps, y: losses, name: `${c.name} raw`, line: { color, width: 1 }, opacity: 0.3, showlegend: false },
      { type: "scatter", mode: "lines", x: steps, y: smooth(losses), name: c.name, line: { color, width: 2 } },
    ];
  });
  return {
    data,
    layout: { title: { text: title }, height: 380, xaxis: { title: { text: "step" } }, yaxis: { title: { text: yTitle } } },
  };
}

/** Fine-tuning loss per step for each named curve (also drawn live while runs train: kernel-ext/live-training.ts). */
export function trainingLossFigure(curves: readonly NamedLosses[], title = "Training loss (target tokens only)"): Figure {
  return lossCurves(curves, title, "cross-entropy (nats per target token)");
}

/** Training loss per step for each run: raw (faint) and smoothed. */
export function lossCurveFigure(runs: readonly RunRecord[], title?: string): Figure {
  return trainingLossFigure(
    runs.map((r) => ({ name: runName(r), losses: r.training.losses })),
    title,
  );
}

/**
 * A base model's pretraining loss (from its card), with its held-out loss as a dashed line; while the base trains,
 * its losses so far without the held-out loss, which is measured at the end.
 */
export function pretrainLossFigure(
  card: { losses: readonly LossPoint[]; heldOut?: BaseCard["heldOut"] },
  title = "Pretraining loss (next token, every position)",
): Figure {
  const fig = lossCurves([{ name: "training loss", losses: card.losses }], title, "cross-entropy (nats per token)");
  if (!card.heldOut) return fig;
  const last = card.losses.at(-1)?.step ?? 0;
  fig.data.push({
    type: "scatter",
    mode: "lines",
    name: `held-out (perplexity ${card.heldOut.perplexity.toFixed(1)})`,
    x: [0, last],
    y: [card.heldOut.loss, card.heldOut.loss],
    line: { color: "#000000", width: 1, dash: "dash" },
  });
  return fig;
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
      title: { text: title },
      height: 360,
      barmode: "group",
      yaxis: { title: { text: "score" }, range: [0, 1] },
    },
  };
}
