import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, test } from "node:test";
import { gzipSync } from "node:zlib";
import { formatCheck, formatExample, formatTable, summarize, truncate } from "../../src/cli/data-format";
import { Dataset } from "../../src/data/load";
import { DataError, Example } from "../../src/data/schema";

const ROOT = resolve(__dirname, "../..");
const xft = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/xft.cjs"), ...args], { cwd: ROOT, encoding: "utf8" });
const tmp = mkdtempSync(join(tmpdir(), "xft-data-cli-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function example(id: string, overrides: Partial<Example> = {}): Example {
  return {
    id, source: "t", dimension: "quality", context: [{ role: "user", text: "Is it good?" }], response: "Yes.",
    label: "high", labelSet: ["low", "high"], explanations: ["it says yes"], split: "train", ...overrides,
  };
}

test("summarize counts examples, dimensions and explanation tokens", () => {
  const ds: Dataset = {
    name: "toy", dir: "/x", hash: "h", labelSet: ["low", "high"], skipped: [new DataError("f", 2, "label", "bad")],
    train: [example("a"), example("b", { explanations: [], dimension: "other" })],
    test: [example("c", { split: "test", explanations: ["one two", "three"] })],
  };
  const words = (text: string) => text.split(" ").length;
  assert.deepEqual(summarize(ds, words), {
    name: "toy", dimensions: ["quality", "other"], labelSet: ["low", "high"], train: 2, test: 1,
    withExplanations: 2 / 3, meanExplanationTokens: (3 + 2 + 1) / 3, badRows: 1,
  });
  assert.equal(summarize({ ...ds, train: [example("a", { explanations: [] })], test: [] }, words).meanExplanationTokens, undefined);
});

test("tables align, long texts are cut on one line, checks report every bad row", () => {
  assert.equal(formatTable(["name", "n"], [["ab", "7"], ["c", "12"]], [1]), "name   n\n----  --\nab     7\nc     12\n");
  assert.equal(truncate("short\ntext", 20), "short ⏎ text");
  assert.equal(truncate("abcdefghij", 4), "abcd … (+6 chars)");
  const shown = formatExample(example("a", { context: [{ role: "knowledge", text: "fact" }, { role: "user", text: "q" }] }), 50);
  assert.match(shown, /^a {2}\(train, source t, dimension quality\)\n {2}knowledge {2}fact\n {2}user {7}q\n {2}response {3}Yes\.\n {2}label {6}high {3}of \[low, high\]\n {2}explanation 1\/1: it says yes\n$/);
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
  writeFileSync(goodFile, good.join("\n") + "\n");
  const ok = xft("data", "check", goodFile);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, `${goodFile}: all 2 rows are valid\n`);
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
