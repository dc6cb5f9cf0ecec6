/**
 * How well the rubric teacher agrees with people: Spearman correlation of the teacher's naturalness and
 * on-topic labels (data/conv-usr-*) with the mean of USR's annotators' Natural and Maintains Context ratings
 * (data/usr/ratings.jsonl, made by scripts/convert-usr.ts). build-benchmark.ts writes the same table into the
 * USR benchmark cards.
 *
 *   node --import tsx scripts/teacher-vs-usr.ts
 */
import { readFileSync } from "fs";
import { join } from "path";
import { loadDataset } from "../src/data/load";
import { Example } from "../src/data/schema";
import { spearman } from "../src/teacher/agreement";
import { Dimension } from "../src/teacher/judgment";
import { PROJECT_ROOT, tableRow } from "./converter-shared";

export const USR_RATINGS_FILE = "data/usr/ratings.jsonl";

/** The teacher dimension and the USR quality it is compared with. */
const PAIRS: readonly { dimension: Dimension; quality: "natural" | "maintainsContext"; title: string }[] = [
  { dimension: "naturalness", quality: "natural", title: "Natural" },
  { dimension: "on-topic", quality: "maintainsContext", title: "Maintains Context" },
];

type HumanMeans = Record<"natural" | "maintainsContext", number>;

/** Mean human ratings by response id, from ratings.jsonl; a line without them is an error naming the line. */
export function readUsrRatings(path: string): Map<string, HumanMeans> {
  const out = new Map<string, HumanMeans>();
  readFileSync(path, "utf8").split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const record = JSON.parse(line) as { id?: unknown; mean?: Record<string, unknown> };
    const { natural, maintainsContext } = record.mean ?? {};
    if (typeof record.id !== "string" || typeof natural !== "number" || typeof maintainsContext !== "number") {
      throw new Error(`${path}:${i + 1}: expected {id, mean: {natural, maintainsContext}} with numbers`);
    }
    out.set(record.id, { natural, maintainsContext });
  });
  return out;
}

export interface TeacherVsPeople {
  correlations: { dimension: Dimension; quality: string; n: number; rho: number }[];
  /** Markdown table lines. */
  table: string[];
}

/**
 * Correlates benchmark rows (ids `<usr id>-<dimension>`) with the human means of the same responses; rows
 * whose response is not in the ratings file are left out (n says how many were matched).
 */
export function teacherVsUsr(rows: readonly Example[], ratingsPath: string): TeacherVsPeople {
  const humans = readUsrRatings(ratingsPath);
  const correlations = PAIRS.map(({ dimension, quality, title }) => {
    const matched = rows
      .filter((r) => r.dimension === dimension)
      .map((r) => ({ teacher: Number(r.label), human: humans.get(r.id.slice(0, -(dimension.length + 1))) }))
      .filter((m): m is { teacher: number; human: HumanMeans } => m.human !== undefined);
    const rho = spearman(matched.map((m) => m.teacher), matched.map((m) => m.human[quality]));
    return { dimension, quality: title, n: matched.length, rho };
  });
  return {
    correlations,
    table: [
      "| teacher dimension | USR quality (mean of 3 annotators) | responses | Spearman |",
      "|---|---|---|---|",
      ...correlations.map((c) => tableRow([c.dimension, c.quality, c.n, Number.isNaN(c.rho) ? "n/a" : c.rho.toFixed(3)])),
    ],
  };
}

function main(): void {
  const ratings = join(PROJECT_ROOT, USR_RATINGS_FILE);
  const bySource = ["usr-topical", "usr-persona"].map((source) => {
    const dataset = loadDataset(`conv-${source}`, { root: PROJECT_ROOT });
    return { source, rows: [...dataset.train, ...dataset.test] };
  });
  for (const { source, rows } of [...bySource, { source: "both", rows: bySource.flatMap((s) => s.rows) }]) {
    console.log(`\n${source}\n${teacherVsUsr(rows, ratings).table.join("\n")}`);
  }
}

if (require.main === module) main();
