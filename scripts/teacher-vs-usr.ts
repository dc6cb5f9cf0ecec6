/**
 * Prints how well the rubric teacher agrees with people (src/teacher/human-agreement.ts) for each USR source
 * and both together; build-benchmark.ts writes the same table into the USR benchmark cards.
 *
 *   node --import tsx scripts/teacher-vs-usr.ts
 */
import { join } from "path";
import { loadDataset } from "../src/data/load";
import { readUsrRatings, TeacherVsHuman, teacherVsUsr, USR_RATINGS_FILE } from "../src/teacher/human-agreement";
import { PROJECT_ROOT, tableRow } from "./converter-shared";

/** Markdown table lines of the correlations. */
export function usrTable(correlations: readonly TeacherVsHuman[]): string[] {
  return [
    "| teacher dimension | USR quality (mean of 3 annotators) | responses | Spearman |",
    "|---|---|---|---|",
    ...correlations.map((c) => tableRow([c.dimension, c.quality, c.n, Number.isNaN(c.rho) ? "n/a" : c.rho.toFixed(3)])),
  ];
}

function main(): void {
  const humans = readUsrRatings(join(PROJECT_ROOT, USR_RATINGS_FILE));
  const bySource = ["usr-topical", "usr-persona"].map((source) => {
    const dataset = loadDataset(`conv-${source}`, { root: PROJECT_ROOT });
    return { source, rows: [...dataset.train, ...dataset.test] };
  });
  for (const { source, rows } of [...bySource, { source: "both", rows: bySource.flatMap((s) => s.rows) }]) {
    console.log(`\n${source}\n${usrTable(teacherVsUsr(rows, humans)).join("\n")}`);
  }
}

if (require.main === module) main();
