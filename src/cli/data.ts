/**
 * `xft data`: look at datasets before training on them.
 *   xft data list                              every dataset under data/: dimensions, labels, counts, explanations
 *   xft data show NAME|PATH [--n 3] [--split train|test]   a few examples, long texts cut
 *   xft data check FILE|FOLDER... [--profile P] every bad row, and what train requires of the dataset; exit 1 if train would fail
 */
import { existsSync, statSync } from "fs";
import { checkData, DataCheck } from "../data/check";
import { datasetNames, loadDataset, projectRoot, readExamples } from "../data/load";
import { Example, Split, SPLITS } from "../data/schema";
import { resolveProfile } from "../runs/profiles";
import { XftTokenizer } from "../text/tokenizer";
import { formatCheck, formatExample, formatSummaries, summarize } from "./data-format";
import { Command, parseOptions } from "./options";

/** Longest text `show` prints of one turn, response or explanation. */
const SHOW_MAX_CHARS = 300;

const SHOW_OPTIONS = {
  n: { type: "string", default: "3", help: "N (default 3)" },
  split: { type: "string", help: "train|test" },
} as const;
const CHECK_OPTIONS = {
  profile: { type: "string", help: "ci|quick|full (the batch size to check against; default $XFT_PROFILE or quick)" },
} as const;

function list(args: string[]): number {
  parseOptions(args, {});
  const root = projectRoot();
  const names = datasetNames(root);
  if (names.length === 0) {
    process.stdout.write(`no datasets in ${root}/data\n`);
    return 0;
  }
  const tok = XftTokenizer.load();
  const summaries = names.map((name) =>
    summarize(loadDataset(name, { root, strict: false, allowTestOnly: true }), (text) => tok.encode(text).length),
  );
  process.stdout.write(formatSummaries(summaries));
  return 0;
}

function parseSplit(value: string | undefined): Split | undefined {
  if (value === undefined) return undefined;
  if (!(SPLITS as readonly string[]).includes(value)) throw new Error(`--split must be one of ${SPLITS.join(", ")}, got "${value}"`);
  return value as Split;
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--n must be a positive integer, got "${value}"`);
  return n;
}

/** The rows `show` draws from, and a header line: a single file's own rows, or a dataset's split. */
function rowsToShow(target: string, split: Split | undefined): { header: string; rows: Example[] } {
  const isFile = existsSync(target) && statSync(target).isFile();
  if (isFile) {
    const { examples, skipped } = readExamples(target, { strict: false });
    const rows = split === undefined ? examples : examples.filter((e) => e.split === split);
    const bad = skipped.length > 0 ? `, ${skipped.length} bad rows left out (xft data check ${target})` : "";
    return { header: `${target}: ${examples.length} rows${bad}`, rows };
  }
  const ds = loadDataset(target, { strict: false, allowTestOnly: true });
  // Train by default; an evaluation-only dataset has only test.
  const chosen = split ?? (ds.train.length > 0 ? "train" : "test");
  const bad = ds.skipped.length > 0 ? `, ${ds.skipped.length} bad rows left out` : "";
  return {
    header: `${ds.name}: ${ds.train.length} train, ${ds.test.length} test${bad}; showing ${chosen}`,
    rows: ds[chosen],
  };
}

function show(args: string[]): number {
  const { values, positionals } = parseOptions(args, SHOW_OPTIONS, true);
  if (positionals.length !== 1) throw new Error("usage: xft data show NAME|PATH [--n 3] [--split train|test]");
  const n = parseCount(values.n!);
  const { header, rows } = rowsToShow(positionals[0], parseSplit(values.split));
  process.stdout.write(
    `${header}\n\n${rows
      .slice(0, n)
      .map((ex) => formatExample(ex, SHOW_MAX_CHARS))
      .join("\n")}`,
  );
  return 0;
}

/** The report of one checked file or folder: its files' rows, then the dataset's problems, one line each. */
function formatDataCheck(result: DataCheck): string {
  const rows = result.files.map((f) => formatCheck(f.file, f.examples.length, f.skipped)).join("");
  const note =
    result.evaluationOnly && result.problems.length === 0
      ? `${result.dataset}: evaluation-only (a test file and no train file): xft evaluates on it and xft train refuses it\n`
      : "";
  return rows + result.problems.map((p) => p + "\n").join("") + note;
}

/** Whether `xft train` would fail on what was checked. */
function failsTraining(result: DataCheck): boolean {
  return result.problems.length > 0 || result.files.some((f) => f.skipped.length > 0 || f.examples.length === 0);
}

function check(args: string[]): number {
  const { values, positionals } = parseOptions(args, CHECK_OPTIONS, true);
  if (positionals.length === 0) throw new Error("usage: xft data check FILE|FOLDER... [--profile ci|quick|full]");
  // The batch size, which the train split must fill at least once, is the profile's that train would use.
  const profile = resolveProfile(values.profile);
  const needs = { profile: profile.name, batchSize: profile.train.batchSize };
  let failed = false;
  for (const target of positionals) {
    if (!existsSync(target)) throw new Error(`no such file or folder: ${target}`);
    const result = checkData(target, needs);
    process.stdout.write(formatDataCheck(result));
    failed ||= failsTraining(result);
  }
  return failed ? 1 : 0;
}

export const DATA_COMMANDS: Record<string, Command> = {
  list: { summary: "every dataset under data/: dimensions, labels, train/test counts, explanations", options: {}, run: list },
  show: { positionals: "NAME|PATH", summary: "print examples readably", options: SHOW_OPTIONS, run: show },
  check: {
    positionals: "FILE|FOLDER...",
    summary:
      "every bad row of a JSONL(.gz) file as file:line: field: problem, and what train would refuse (a missing split, " +
      "fewer rows than a batch, too many labels); exit 1 if any",
    options: CHECK_OPTIONS,
    run: check,
  },
};
