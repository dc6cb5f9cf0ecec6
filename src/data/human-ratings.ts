/**
 * People's ratings of a dataset's rows, where a dataset carries them: `ratings.jsonl` beside its splits (USR's, made by
 * scripts/convert-usr.ts). One line per rated response: its `id` (a row id of the test split), the `annotators`, and
 * one array per quality with each annotator's rating (`"natural": [3, 3, 2]`). A quality's human score is the mean of
 * its array. Other fields (a precomputed `mean`, the source) are ignored.
 */
import { existsSync } from "fs";
import { join } from "path";
import { displayPath, readMaybeGzipped } from "../util/read-file";

export const RATINGS_FILE = "ratings.jsonl";

/** Mean rating per quality, per response id, in the file's quality order. */
export interface HumanRatings {
  file: string;
  qualities: string[];
  means: Map<string, Record<string, number>>;
}

/** The ratings in `dir`, or undefined when it has none. A malformed line is an error naming the file, line and field. */
export function readHumanRatings(dir: string): HumanRatings | undefined {
  const file = join(dir, RATINGS_FILE);
  if (!existsSync(file)) return undefined;
  const where = (i: number) => `${displayPath(file)}:${i + 1}`;
  const means = new Map<string, Record<string, number>>();
  let qualities: string[] | undefined;
  readMaybeGzipped(file)
    .toString("utf8")
    .split("\n")
    .forEach((line, i) => {
      if (line.trim() === "") return;
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line);
      } catch (e) {
        throw new Error(`${where(i)}: not JSON (${(e as Error).message})`);
      }
      if (typeof record.id !== "string" || record.id === "") throw new Error(`${where(i)}: field "id": expected a non-empty string`);
      if (!Array.isArray(record.annotators) || record.annotators.length === 0)
        throw new Error(`${where(i)}: field "annotators": expected a non-empty array`);
      const n = record.annotators.length;
      const row: Record<string, number> = {};
      for (const [quality, ratings] of Object.entries(record)) {
        if (quality === "annotators" || !Array.isArray(ratings)) continue;
        if (ratings.length !== n || !ratings.every((r) => typeof r === "number" && Number.isFinite(r))) {
          throw new Error(`${where(i)}: field "${quality}": expected ${n} numbers, one per annotator`);
        }
        row[quality] = ratings.reduce((s, r) => s + r, 0) / n;
      }
      const names = Object.keys(row);
      qualities ??= names;
      if (names.join() !== qualities.join()) throw new Error(`${where(i)}: rates ${names.join(", ")}; line 1 rates ${qualities.join(", ")}`);
      if (means.has(record.id)) throw new Error(`${where(i)}: field "id": ${record.id} is rated twice`);
      means.set(record.id, row);
    });
  return { file, qualities: qualities ?? [], means };
}
