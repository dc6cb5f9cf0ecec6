/** Run results as arquero tables, for notebooks (kernel-ext's `table`) and CSV export. */
import * as aq from "arquero";
import type { EvaluatedRun } from "./evaluated-run";

type Table = ReturnType<typeof aq.table>;

/** One row per run: dataset, condition, seed, accuracy, macro-F1, MAE, QWK, ECE, Brier, n, steps, tokens/s, wall time. */
export function metricsTable(runs: readonly EvaluatedRun[]): Table {
  return aq.from(runs.map(metricsRow));
}

/** A run's row of `metricsTable`. */
export function metricsRow(r: EvaluatedRun): Record<string, string | number> {
  return {
    dataset: r.spec.dataset,
    dimension: r.spec.dimension ?? "all",
    condition: r.spec.condition,
    seed: r.spec.seed,
    accuracy: r.metrics?.accuracy ?? NaN,
    macro_f1: r.metrics?.macroF1 ?? NaN,
    mae: r.metrics?.mae ?? NaN,
    qwk: r.metrics?.qwk ?? NaN,
    ece: r.metrics?.ece ?? NaN,
    brier: r.metrics?.brier ?? NaN,
    n_test: r.metrics?.n ?? 0,
    steps: r.training.steps,
    tokens_per_s: Math.round(r.training.tokensPerSec),
    train_s: Math.round(r.training.wallS),
    backend: r.environment.backend,
  };
}

/** Confusion matrix of one run: rows are gold labels, columns predicted labels. */
export function confusionTable(run: EvaluatedRun): Table {
  const labels = run.data.labelSet;
  const confusion = run.metrics?.confusion;
  if (!confusion) throw new Error(`run ${run.key} has no metrics (status ${run.status})`);
  return aq.from(
    confusion.map((row, g) => ({
      gold: labels[g],
      ...Object.fromEntries(labels.map((l, p) => [`pred_${l}`, row[p]])),
    })),
  );
}
