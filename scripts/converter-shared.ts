/**
 * What the dataset converters (scripts/convert-*.ts) share: where the raw copies are, detokenisation,
 * validated and byte-for-byte reproducible output files, and the statistics and tables of a data card.
 */
import { mkdirSync, writeFileSync } from "fs";
import { join, relative, resolve } from "path";
import { gzipSync } from "zlib";
import { DataError, Example, FileValidator, Split, SPLITS } from "../src/data/schema";

export { mean } from "../src/data/stats";

export const PROJECT_ROOT = resolve(__dirname, "..");
/** The raw public copies (../shared/data/raw); only the converters read it. */
export const RAW_ROOT = resolve(PROJECT_ROOT, "../shared/data/raw");
/** Fixed so that reruns produce identical bytes (Node's gzip writes no mtime). */
const GZIP_LEVEL = 9;

/**
 * Undoes PTB-style tokenisation: "packages ." -> "packages.", "does n't" -> "doesn't",
 * "`` car ''" -> "\"car\"", "parents ' basement" -> "parents' basement". Case is kept.
 * "can not" stays as it is: it may have been written that way, and both spellings are English.
 */
export function detokenize(text: string): string {
  return (
    text
      .replace(/\s+/g, " ")
      .trim()
      .replace(/`` ?/g, '"')
      .replace(/ ?''/g, '"')
      .replace(/ (n't|'s|'re|'ve|'d|'ll|'m)\b/gi, "$1")
      .replace(/ ([.,;:!?%)\]}])/g, "$1")
      .replace(/([(\[{$]) /g, "$1")
      // A lone ' after a word closes a quote ('flies through the air ') or marks a plural possessive.
      .replace(/ '(?=[ .,;:!?]|$)/g, "'")
  );
}

/** Checks every row with the schema (errors name `<split>.jsonl.gz` and the row's line) and returns the clean rows. */
function validated(rows: Example[], split: Split): Example[] {
  const validator = new FileValidator(`${split}.jsonl.gz`);
  return rows.map((row, i) => {
    const example = validator.check(row, i + 1);
    if (example.split !== split) throw new DataError(validator.file, i + 1, "split", `"${example.split}" in the ${split} file`);
    return example;
  });
}

/**
 * Writes `<outDir>/<split>.jsonl.gz` for each split given (an evaluation-only dataset gives only test),
 * one JSON row per line, the same bytes on every run.
 */
export function writeSplits(outDir: string, rows: Partial<Record<Split, Example[]>>): void {
  mkdirSync(outDir, { recursive: true });
  for (const split of SPLITS) {
    const examples = rows[split];
    if (examples === undefined) continue;
    const jsonl = validated(examples, split)
      .map((e) => JSON.stringify(e) + "\n")
      .join("");
    writeFileSync(join(outDir, `${split}.jsonl.gz`), gzipSync(jsonl, { level: GZIP_LEVEL }));
  }
}

/** The command that regenerates a dataset, for its card: the raw folder is named only when it is not the default. */
export function regenerateCommand(script: string, rawArg: string | undefined): string {
  const rawPart = rawArg === undefined ? "" : ` ${relative(PROJECT_ROOT, resolve(rawArg))}`;
  return `node --import tsx ${script}${rawPart}`;
}

export function words(text: string): number {
  return text.split(/\s+/).filter((w) => w !== "").length;
}

export function percent(n: number, total: number): string {
  return `${((100 * n) / total).toFixed(1)}%`;
}

export function tableRow(cells: (string | number)[]): string {
  return `| ${cells.join(" | ")} |`;
}

/** A markdown table of label counts (with shares), one row per named group (a split, a source), columns in labelSet order. */
export function groupLabelTable(labelSet: readonly string[], groups: [string, Example[]][], groupHeading: string): string[] {
  return [
    `| ${groupHeading} | ` + labelSet.join(" | ") + " |",
    "|---|" + labelSet.map(() => "---|").join(""),
    ...groups.map(([name, examples]) =>
      tableRow([
        name,
        ...labelSet.map((l) => {
          const c = examples.filter((e) => e.label === l).length;
          return `${c} (${percent(c, examples.length)})`;
        }),
      ]),
    ),
  ];
}

/** The label table of the splits given, in split order. */
export function labelTable(labelSet: readonly string[], rows: Partial<Record<Split, Example[]>>): string[] {
  return groupLabelTable(
    labelSet,
    SPLITS.flatMap((s): [string, Example[]][] => (rows[s] === undefined ? [] : [[s, rows[s]!]])),
    "split",
  );
}

/** Counts of examples with 0, 1, ... `max` explanations. */
export function explanationCounts(examples: Example[], max: number): number[] {
  return Array.from({ length: max + 1 }, (_, k) => examples.filter((e) => e.explanations.length === k).length);
}

/** The closing lines of a card: the command that regenerates the dataset. */
export function madeWith(command: string): string[] {
  return ["Made with:", "", "```", command, "```", ""];
}
