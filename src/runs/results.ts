/**
 * A grid's results: the tables of the analysis (src/eval/compare.ts) over its finished runs, and the results
 * folder that `xft reproduce` writes (CSV through arquero, one file per table, plus the runs' configs).
 * Notebooks call `analyzeGrid` on the records `runGrid` returns; the CLI calls the same and writes the folder.
 */
import * as fs from "fs";
import * as path from "path";
import { differenceRows, pairedDifferences, summarize, UnpairedArm, winsRows, winsTable } from "../eval/compare";
import { metricsTable } from "../eval/tables";
import { writeFileAtomic } from "../util/atomic-write";
import { readPredictions, RunRecord } from "./experiment";

type Table = ReturnType<typeof metricsTable>;

export interface GridResults {
  /** One row per run. */
  runs: Table;
  /** Per (dataset, dimension, condition, expl_tokens): metrics as mean and 95% interval over seeds. */
  summary: Table;
  /** Per setting and arm: the paired accuracy difference to `label`, bootstrap interval, sign count over seeds. */
  differences: Table;
  /** Per arm: in how many settings it beats `label`. */
  wins: Table;
  /** Arm runs with no `label` run of the same setting and seed (a grid cut short, a shard): left out of `differences`. */
  unpaired: UnpairedArm[];
}

export function analyzeGrid(records: readonly RunRecord[]): GridResults {
  const finished = records.filter((r) => r.status === "done");
  const paired = pairedDifferences(finished.map((record) => ({ record, predictions: readPredictions(record) })));
  return {
    runs: metricsTable(finished),
    summary: summarize(finished),
    differences: paired.table,
    wins: winsTable(paired.table),
    unpaired: paired.unpaired,
  };
}

/** One sentence per arm of `condition` (whole explanation): its wins against label, as the notebooks print it. */
export function describeWins(results: GridResults, condition: string): string {
  const row = winsRows(results.wins).find((r) => r.condition === condition && r.expl_tokens === null);
  if (!row) return `${condition}: no setting has both ${condition} and label runs`;
  const diffs = differenceRows(results.differences)
    .filter((d) => d.condition === condition && d.expl_tokens === null)
    .map((d) => d.diff_mean);
  const meanDiff = diffs.reduce((a, b) => a + b, 0) / diffs.length;
  return (
    `${condition}: higher mean accuracy than label in ${row.wins} of ${row.settings} settings ` +
    `(interval above zero in ${row.significant_wins}; lower in ${row.losses}, interval below zero in ${row.significant_losses}); ` +
    `mean paired difference over settings ${meanDiff >= 0 ? "+" : ""}${meanDiff.toFixed(3)}`
  );
}

/** Writes runs.csv, summary.csv, differences.csv, wins.csv and configs.json into `dir`; returns the files. */
export function writeResults(dir: string, results: GridResults, records: readonly RunRecord[]): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const tables: Record<string, Table> = { runs: results.runs, summary: results.summary, differences: results.differences, wins: results.wins };
  for (const [name, t] of Object.entries(tables)) {
    const file = path.join(dir, `${name}.csv`);
    writeFileAtomic(file, t.toCSV());
    files.push(file);
  }
  // What determined each run, for the supplement: the same record as the run folder's run.json, less the loss curve.
  const configs = records.map(({ training, ...rest }) => ({ ...rest, training: { ...training, losses: undefined } }));
  const configsFile = path.join(dir, "configs.json");
  writeFileAtomic(configsFile, JSON.stringify(configs, null, 1) + "\n");
  files.push(configsFile);
  return files;
}
