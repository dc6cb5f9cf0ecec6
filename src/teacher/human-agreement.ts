/**
 * How well the rubric teacher agrees with people: Spearman correlation of the teacher's naturalness and
 * on-topic labels (data/conv-usr-*) with the mean of USR's annotators' Natural and Maintains Context ratings
 * (data/usr/ratings.jsonl, made by scripts/convert-usr.ts). The USR benchmark cards and the data notebook show it.
 */
import { readFileSync } from "fs";
import { join } from "path";
import { projectRoot } from "../data/load";
import type { Example } from "../data/schema";
import { spearman } from "./agreement";
import type { Dimension } from "./judgment";

/** Relative to the project root. */
export const USR_RATINGS_FILE = "data/usr/ratings.jsonl";

type UsrQuality = "natural" | "maintainsContext";

/** The teacher dimension and the USR quality it is compared with. */
const PAIRS: readonly { dimension: Dimension; quality: UsrQuality; title: string }[] = [
  { dimension: "naturalness", quality: "natural", title: "Natural" },
  { dimension: "on-topic", quality: "maintainsContext", title: "Maintains Context" },
];

export type HumanMeans = Record<UsrQuality, number>;

/** Mean human ratings by response id, from ratings.jsonl; a line without them is an error naming the line. */
export function readUsrRatings(path: string = join(projectRoot(), USR_RATINGS_FILE)): Map<string, HumanMeans> {
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

export interface TeacherVsHuman {
  dimension: Dimension;
  /** The USR quality, as USR names it. */
  quality: string;
  /** Responses matched in the ratings. */
  n: number;
  /** Spearman of teacher label and human mean; NaN when either is constant. */
  rho: number;
  /** The matched pairs: the teacher's label (1-5) and the human mean (1-3). */
  pairs: { teacher: number; human: number }[];
}

/**
 * Correlates benchmark rows (ids `<usr id>-<dimension>`) with the human means of the same responses; rows
 * whose response is not in the ratings are left out (n says how many were matched).
 */
export function teacherVsUsr(rows: readonly Example[], humans: ReadonlyMap<string, HumanMeans>): TeacherVsHuman[] {
  return PAIRS.map(({ dimension, quality, title }) => {
    const pairs = rows
      .filter((r) => r.dimension === dimension)
      .flatMap((r) => {
        const human = humans.get(r.id.slice(0, -(dimension.length + 1)));
        return human === undefined ? [] : [{ teacher: Number(r.label), human: human[quality] }];
      });
    const rho = spearman(pairs.map((p) => p.teacher), pairs.map((p) => p.human));
    return { dimension, quality: title, n: pairs.length, rho, pairs };
  });
}
