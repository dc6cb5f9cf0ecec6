import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { gzipSync } from "node:zlib";
import { formatCheck, formatExample, formatTable, summarize, truncate } from "../../src/cli/data-format";
import { Dataset } from "../../src/data/load";
import { DataError, Example } from "../../src/data/schema";
import { xft } from "../xft-cli";

const tmp = mkdtempSync(join(tmpdir(), "xft-data-cli-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function example(id: string, overrides: Partial<Example> = {}): Example {
  return {
    id,
    source: "t",
    dimension: "quality",
    context: [{ role: "user", text: "Is it good?" }],
    response: "Yes.",
    label: "high",
    labelSet: ["low", "high"],
    explanations: ["it says yes"],
    split: "train",
    ...overrides,
  };
}

test("summarize counts examples, dimensions and explanation tokens", () => {
  const ds: Dataset = {
    name: "toy",
    dir: "/x",
    hash: "h",
    labelSet: ["low", "high"],
    skipped: [new DataError("f", 2, "label", "bad")],
    train: [example("a"), example("b", { explanations: [], dimension: "other" })],
    test: [example("c", { split: "test", explanations: ["one two", "three"] })],
  };
  const words = (text: string) => text.split(" ").length;
  assert.deepEqual(summarize(ds, words), {
    name: "toy",
    dimensions: ["quality", "other"],
    labelSet: ["low", "high"],
    train: 2,
    test: 1,
    withExplanations: 2 / 3,
    meanExplanationTokens: (3 + 2 + 1) / 3,
    badRows: 1,
  });
  assert.equal(summarize({ ...ds, train: [example("a", { explanations: [] })], test: [] }, words).meanExplanationTokens, undefined);
});

test("tables align, long texts are cut on one line, checks report every bad row", () => {
  assert.equal(
    formatTable(
      ["name", "n"],
      [
        ["ab", "7"],
        ["c", "12"],
      ],
      [1],
    ),
    "name   n\n----  --\nab     7\nc     12\n",
  );
  assert.equal(truncate("short\ntext", 20), "short ⏎ text");
  assert.equal(truncate("abcdefghij", 4), "abcd … (+6 chars)");
  const shown = formatExample(
    example("a", {
      context: [
        { role: "knowledge", text: "fact" },
        { role: "user", text: "q" },
      ],
    }),
    50,
  );
  assert.match(
    shown,
    /^a {2}\(train, source t, dimension quality\)\n {2}knowledge {2}fact\n {2}user {7}q\n {2}response {3}Yes\.\n {2}label {6}high {3}of \[low, high\]\n {2}explanation 1\/1: it says yes\n$/,
  );
  const bad = [new DataError("f.jsonl", 2, "label", "x"), new DataError("f.jsonl", 5, "(line)", "not valid JSON: y")];
  assert.equal(formatCheck("f.jsonl", 3, bad), "f.jsonl:2: label: x\nf.jsonl:5: (line): not valid JSON: y\nf.jsonl: 2 of 5 rows are bad\n");
  assert.equal(formatCheck("f.jsonl", 3, []), "f.jsonl: all 3 rows are valid\n");
  assert.equal(formatCheck("f.jsonl", 0, []), "f.jsonl: no rows\n");
});

test("xft data check reports every bad row as file:line: field and exits 1; a good file exits 0", () => {
  const good = [example("a"), example("b", { split: "test", label: "low" })].map((e) => JSON.stringify(e));
  const badFile = join(tmp, "bad.jsonl.gz");
  const lines = [good[0], JSON.stringify(example("x", { label: "medium" })), "", good[1], "{not json"];
  writeFileSync(badFile, gzipSync(lines.join("\n") + "\n"));
  const bad = xft("data", "check", badFile);
  assert.equal(bad.status, 1, bad.stderr);
  const out = bad.stdout.split("\n");
  assert.equal(out[0], `${badFile}:2: label: "medium" is not in labelSet [low, high]`);
  assert.match(out[1], new RegExp(`^${badFile.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:5: \\(line\\): not valid JSON: `));
  assert.equal(out[2], `${badFile}: 2 of 4 rows are bad`);

  const goodFile = join(tmp, "good.jsonl");
  writeFileSync(goodFile, trainable().join("\n") + "\n");
  const ok = xft("data", "check", goodFile, "--profile", "ci");
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, `${goodFile}: all 18 rows are valid\n`);
});

/** Rows that `xft train --profile ci` accepts: one batch (16) of train rows and two test rows. */
function trainable(overrides: Partial<Example> = {}, trainRows = 16, testRows = 2): string[] {
  const rows = [
    ...Array.from({ length: trainRows }, (_, i) => example(`tr${i}`, overrides)),
    ...Array.from({ length: testRows }, (_, i) => example(`te${i}`, { ...overrides, split: "test" })),
  ];
  return rows.map((e) => JSON.stringify(e));
}

/** Runs `xft data check --profile ci` on a file of these lines; its exit status and the lines it printed. */
function checkLines(name: string, content: string | Buffer): { status: number | null; lines: string[]; file: string } {
  const file = join(tmp, name);
  writeFileSync(file, content);
  const r = xft("data", "check", file, "--profile", "ci");
  assert.equal(r.stderr, "");
  return { status: r.status, lines: r.stdout.trimEnd().split("\n"), file };
}

test("xft data check fails, one line each, where xft train would: a missing split, less than a batch, too many labels", () => {
  const trainOnly = checkLines("train-only.jsonl", trainable({}, 16, 0).join("\n"));
  assert.deepEqual(
    [trainOnly.status, trainOnly.lines],
    [1, [`${trainOnly.file}: all 16 rows are valid`, `${trainOnly.file}: no test rows; xft train evaluates on the test split`]],
  );
  const testOnly = checkLines("test-only.jsonl", trainable({}, 0, 3).join("\n"));
  assert.deepEqual(
    [testOnly.status, testOnly.lines.slice(1)],
    [1, [`${testOnly.file}: no train rows; xft train needs at least one batch of 16 (profile ci)`]],
  );
  const few = checkLines("few.jsonl", trainable({}, 15, 2).join("\n"));
  assert.deepEqual(
    [few.status, few.lines.slice(1)],
    [1, [`${few.file}: 15 train rows, fewer than the one batch of 16 (profile ci) that xft train needs`]],
  );
  const labelSet = Array.from({ length: 20 }, (_, i) => `l${i}`);
  const many = checkLines("many-labels.jsonl", trainable({ labelSet, label: "l3" }).join("\n"));
  assert.deepEqual([many.status, many.lines.slice(1)], [1, [`${many.file}: 20 labels in labelSet; xft supports at most 16 (one label token each)`]]);
  const sixteen = checkLines("sixteen-labels.jsonl", trainable({ labelSet: labelSet.slice(0, 16), label: "l3" }).join("\n"));
  assert.deepEqual([sixteen.status, sixteen.lines], [0, [`${sixteen.file}: all 18 rows are valid`]]);
  const both = checkLines("both.jsonl", trainable({}, 3, 0).join("\n"));
  assert.equal(both.lines.length, 3, both.lines.join("\n"));
});

test("xft data check reports bytes that are not UTF-8 at file:line, where they once passed as U+FFFD", () => {
  const rows = trainable();
  const bad = Buffer.concat([
    Buffer.from(rows.slice(0, 3).join("\n") + "\n"),
    Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
    Buffer.from("\n" + rows.slice(3).join("\n") + "\n"),
  ]);
  const r = checkLines("latin1.jsonl", bad);
  assert.equal(r.status, 1);
  assert.equal(r.lines[0], `${r.file}:4: (line): not valid UTF-8 at byte 2 of the line (bytes ff fe 7d)`);
  assert.equal(r.lines[1], `${r.file}: 1 of 19 rows are bad`);
});

test("a dataset folder's split file is checked with its folder: the other split, its bad rows, evaluation-only", () => {
  const dir = join(tmp, "folder-ds");
  mkdirSync(dir);
  const rows = trainable();
  writeFileSync(join(dir, "train.jsonl"), rows.slice(0, 16).join("\n") + "\n");
  const noTest = xft("data", "check", join(dir, "train.jsonl"), "--profile", "ci");
  assert.equal(noTest.status, 1);
  assert.equal(
    noTest.stdout,
    `${join(dir, "train.jsonl")}: all 16 rows are valid\n${dir}: holds no test.jsonl or test.jsonl.gz; xft train evaluates on the test split\n`,
  );
  writeFileSync(join(dir, "test.jsonl"), [...rows.slice(16), JSON.stringify(example("x", { label: "medium", split: "test" }))].join("\n") + "\n");
  const badTest = xft("data", "check", join(dir, "train.jsonl"), "--profile", "ci");
  assert.equal(badTest.status, 1);
  assert.equal(badTest.stdout.split("\n")[1], `${join(dir, "test.jsonl")}: 1 bad rows (xft data check ${join(dir, "test.jsonl")} lists them)`);
  const folder = xft("data", "check", dir, "--profile", "ci");
  assert.equal(folder.status, 1);
  assert.match(folder.stdout, /test\.jsonl:3: label: "medium" is not in labelSet \[low, high\]\n/);
  writeFileSync(join(dir, "test.jsonl"), rows.slice(0, 2).join("\n") + "\n");
  const wrongSplit = xft("data", "check", dir, "--profile", "ci");
  assert.equal(wrongSplit.status, 1);
  assert.match(wrongSplit.stdout, /test\.jsonl:1: split: "train" in the test file\n/);

  const evalOnly = join(tmp, "eval-only-ds");
  mkdirSync(evalOnly);
  writeFileSync(join(evalOnly, "test.jsonl"), rows.slice(16).join("\n") + "\n");
  const r = xft("data", "check", join(evalOnly, "test.jsonl"), "--profile", "ci");
  assert.equal(r.status, 0, r.stdout);
  assert.equal(r.stdout.split("\n")[1], `${evalOnly}: evaluation-only (a test file and no train file): xft evaluates on it and xft train refuses it`);
});

test("xft data check: the shipped datasets pass, the evaluation-only one with its note", () => {
  const r = xft("data", "check", "data/esnli", "data/usr/test.jsonl.gz", "--profile", "quick");
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(
    r.stdout,
    [
      "data/esnli/train.jsonl.gz: all 9842 rows are valid",
      "data/esnli/test.jsonl.gz: all 9824 rows are valid",
      "data/usr/test.jsonl.gz: all 660 rows are valid",
      "data/usr: evaluation-only (a test file and no train file): xft evaluates on it and xft train refuses it",
      "",
    ].join("\n"),
  );
});

test("xft data list shows every shipped dataset, evaluation-only ones with 0 train", () => {
  const r = xft("data", "list");
  assert.equal(r.status, 0, r.stderr);
  const row = (name: string) => r.stdout.split("\n").find((l) => l.startsWith(name + " "));
  assert.match(row("esnli") ?? "", /entailment +entailment \| neutral \| contradiction +9842 +9824 +100% +\d+\.\d$/);
  assert.match(row("feedbackqa") ?? "", /answer-quality +Bad \| Could be Improved \| Acceptable \| Excellent +6711 +3132 +100% +\d+\.\d$/);
  assert.match(row("autoj") ?? "", /overall-quality +1 \| 2 \| 3 \| 4 \| 5 +959 +231 +100% +\d+\.\d$/);
  assert.match(row("usr") ?? "", /overall +1 \| 2 \| 3 \| 4 \| 5 +0 +660 +0% +-$/);
});

test("xft data show prints examples of a dataset or a file; unknown names are clear errors", () => {
  const r = xft("data", "show", "feedbackqa", "--n", "2", "--split", "test");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^feedbackqa: 6711 train, 3132 test; showing test\n/);
  assert.equal(r.stdout.match(/^feedbackqa-\S+ {2}\(test, source feedbackqa, dimension answer-quality\)$/gm)?.length, 2);
  assert.match(r.stdout, /^ {2}label {5}(Bad|Could be Improved|Acceptable|Excellent) {3}of \[/m);
  const usr = xft("data", "show", "usr", "--n", "1");
  assert.equal(usr.status, 0, usr.stderr);
  assert.match(usr.stdout, /showing test\n\nusr-topical-1-original-ground-truth {2}\(test,[^]*\n {2}knowledge {2}[^]*\(no explanations\)\n$/);
  const file = xft("data", "show", "data/autoj/test.jsonl.gz", "--n", "1");
  assert.match(file.stdout, /^data\/autoj\/test\.jsonl\.gz: 231 rows\n\nautoj-test-1 /);
  const unknown = xft("data", "show", "nope");
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /xft data: unknown dataset "nope"/);
  assert.match(xft("data", "show", "esnli", "--n", "0").stderr, /--n must be a positive integer/);
});
