/**
 * How well the rubric teacher agrees with people: Spearman correlation of the teacher's naturalness and
 * on-topic labels (data/conv-usr-*) with the mean of USR's annotators' Natural and Maintains Context ratings
 * (data/usr/ratings.jsonl, made by scripts/convert-usr.ts). The USR benchmark cards and the data notebook show it.
 */
import { basename, dirname, join } from "path";
import { RATINGS_FILE, readHumanRatings } from "../data/human-ratings";
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

/** Mean human ratings by response id, from ratings.jsonl (src/data/human-ratings.ts); a file without both qualities is an error. */
export function readUsrRatings(path: string = join(projectRoot(), USR_RATINGS_FILE)): Map<string, HumanMeans> {
  const ratings = readHumanRatings(dirname(path));
  if (ratings === undefined || basename(path) !== RATINGS_FILE)
    throw new Error(`${path}: no such ratings file (expected ${RATINGS_FILE} in a dataset folder)`);
  const missing = (["natural", "maintainsContext"] as const).filter((q) => !ratings.qualities.includes(q));
  if (missing.length > 0) throw new Error(`${path}: rates ${ratings.qualities.join(", ")}, not ${missing.join(", ")}`);
  return new Map([...ratings.means].map(([id, m]) => [id, { natural: m.natural, maintainsContext: m.maintainsContext }]));
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
    const rho = spearman(
      pairs.map((p) => p.teacher),
      pairs.map((p) => p.human),
    );
    return { dimension, quality: title, n: pairs.length, rho, pairs };
  });
}
