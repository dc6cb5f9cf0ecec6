/**
 * What `xft data` prints, as pure functions of loaded data: the statistics of a dataset, a plain-text
 * table, an example laid out for reading, and the report of `xft data check`.
 */
import type { Dataset } from "../data/load";
import type { DataError, Example } from "../data/schema";
import { dimensionsOf, explanationTokenCounts, mean } from "../data/stats";

export interface DatasetSummary {
  name: string;
  /** Distinct `dimension` values, in order of first appearance. */
  dimensions: string[];
  labelSet: string[];
  train: number;
  test: number;
  /** Share of train + test examples with at least one explanation, in [0, 1]. */
  withExplanations: number;
  /** Mean length of an explanation in tokens; undefined when there are none. */
  meanExplanationTokens: number | undefined;
  /** Rows left out because they are bad (the dataset was read non-strictly). */
  badRows: number;
}

export function summarize(ds: Dataset, countTokens: (text: string) => number): DatasetSummary {
  const examples = [...ds.train, ...ds.test];
  const tokens = explanationTokenCounts(examples, countTokens);
  return {
    name: ds.name,
    dimensions: dimensionsOf(examples),
    labelSet: ds.labelSet,
    train: ds.train.length,
    test: ds.test.length,
    withExplanations: examples.length === 0 ? 0 : examples.filter((e) => e.explanations.length > 0).length / examples.length,
    meanExplanationTokens: tokens.length === 0 ? undefined : mean(tokens),
    badRows: ds.skipped.length,
  };
}

/** Columns padded to their widest cell; numeric columns (given by index) right-aligned. */
export function formatTable(header: string[], rows: string[][], numericColumns: number[] = []): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (numericColumns.includes(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n") + "\n";
}

export function formatSummaries(summaries: DatasetSummary[]): string {
  const rows = summaries.map((s) => [
    s.name,
    s.dimensions.join(", "),
    s.labelSet.join(" | "),
    String(s.train),
    String(s.test),
    `${(100 * s.withExplanations).toFixed(0)}%`,
    s.meanExplanationTokens === undefined ? "-" : s.meanExplanationTokens.toFixed(1),
  ]);
  const table = formatTable(["name", "dimensions", "labels", "train", "test", "with expl.", "expl. tokens"], rows, [3, 4, 5, 6]);
  const bad = summaries.filter((s) => s.badRows > 0).map((s) => `${s.name}: ${s.badRows} bad rows left out (xft data check <file> lists them)\n`);
  return table + bad.join("");
}

/** One line of at most `max` characters: line breaks shown as ⏎, the cut marked with the number of characters left out. */
export function truncate(text: string, max: number): string {
  const flat = text.replace(/\r?\n/g, " ⏎ ");
  if (flat.length <= max) return flat;
  const kept = flat.slice(0, max).trimEnd();
  return `${kept} … (+${flat.length - kept.length} chars)`;
}

/** An example laid out for reading: header line, then one indented line per turn, response, label, explanation. */
export function formatExample(ex: Example, maxChars: number): string {
  const width = Math.max("response".length, "label".length, ...ex.context.map((t) => t.role.length));
  const field = (name: string, text: string) => `  ${name.padEnd(width)}  ${truncate(text, maxChars)}`;
  return (
    [
      `${ex.id}  (${ex.split}, source ${ex.source}, dimension ${ex.dimension})`,
      ...ex.context.map((t) => field(t.role, t.text)),
      field("response", ex.response),
      field("label", `${ex.label}   of [${ex.labelSet.join(", ")}]`),
      ...(ex.explanations.length === 0
        ? [`  (no explanations)`]
        : ex.explanations.map((e, i) => `  explanation ${i + 1}/${ex.explanations.length}: ${truncate(e, maxChars)}`)),
    ].join("\n") + "\n"
  );
}

/** The report of `xft data check`: every bad row as `file:line: field: problem`, then one summary line. */
export function formatCheck(file: string, goodRows: number, bad: DataError[]): string {
  const rows = goodRows + bad.length;
  const summary =
    rows === 0 ? `${file}: no rows` : bad.length === 0 ? `${file}: all ${rows} rows are valid` : `${file}: ${bad.length} of ${rows} rows are bad`;
  return bad.map((e) => e.message + "\n").join("") + summary + "\n";
}
