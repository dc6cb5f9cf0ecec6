/**
 * Scratch against a pretrained base against LoRA on that base (notebook 05): the same grid analysis
 * (src/runs/results.ts) per start, and the tables side by side with a `start` column, so that one can read
 * whether the explanation effect (label+expl against label, paired by seed) changes with where the weights start.
 */
import * as aq from "arquero";
import { differenceRows, summaryRows, type WinsRow, winsRows } from "../eval/compare";
import type { RunRecord, RunStart } from "./experiment";
import { analyzeGrid } from "./results";

type Table = ReturnType<typeof aq.from>;

/** The starts compared, by name: random weights, the whole base fine-tuned, and a LoRA adapter on the frozen base (the paper's). */
export const STARTS = {
  scratch: {},
  base: { init: "base" },
  "base+lora": { init: "base", adapter: "lora" },
} as const satisfies Record<string, RunStart>;

/** Per start and arm: the wins table's counts, the mean paired difference over settings, and both arms' mean accuracy. */
export interface StartEffectRow extends WinsRow {
  start: string;
  mean_diff: number;
  label_accuracy: number;
  arm_accuracy: number;
}

export interface StartComparison {
  effect: Table;
  /** pairedDifferences rows with a `start` column. */
  differences: Table;
  /** summarize rows with a `start` column. */
  summary: Table;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function withStart(t: Table, start: string): Table {
  return aq.from(t.objects().map((row) => ({ start, ...(row as object) })));
}

export function compareStarts(byStart: ReadonlyMap<string, readonly RunRecord[]>): StartComparison {
  const effect: StartEffectRow[] = [];
  const differences: Table[] = [];
  const summaries: Table[] = [];
  for (const [start, records] of byStart) {
    const results = analyzeGrid(records);
    const summary = summaryRows(results.summary);
    const accuracy = (condition: string, explTokens: number | null) =>
      mean(summary.filter((r) => r.condition === condition && r.expl_tokens === explTokens).map((r) => r.accuracy_mean));
    for (const w of winsRows(results.wins)) {
      const diffs = differenceRows(results.differences)
        .filter((d) => d.condition === w.condition && d.expl_tokens === w.expl_tokens)
        .map((d) => d.diff_mean);
      effect.push({
        start,
        ...w,
        mean_diff: mean(diffs),
        label_accuracy: accuracy("label", null),
        arm_accuracy: accuracy(w.condition, w.expl_tokens),
      });
    }
    differences.push(withStart(results.differences, start));
    summaries.push(withStart(results.summary, start));
  }
  const concat = (ts: Table[]) => ts.reduce((a, b) => a.concat(b));
  return { effect: aq.from(effect), differences: concat(differences), summary: concat(summaries) };
}

/** One sentence per start, as the notebook prints it. */
export function describeStartEffect(row: StartEffectRow): string {
  const sign = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(3)}`;
  return (
    `${row.start}: ${row.condition} beats label in ${row.wins} of ${row.settings} settings (interval above zero in ${row.significant_wins}; ` +
    `below label in ${row.losses}, interval below zero in ${row.significant_losses}); mean paired difference ${sign(row.mean_diff)}; ` +
    `mean accuracy label ${row.label_accuracy.toFixed(3)}, ${row.condition} ${row.arm_accuracy.toFixed(3)}`
  );
}
