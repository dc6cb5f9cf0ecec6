import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, test } from "node:test";
import { gzipSync } from "node:zlib";
import { detokenize } from "../../scripts/converter-shared";
import { trainingProblems } from "../../src/data/check";
import { datasetNames, loadDataset, readExamples } from "../../src/data/load";
import { DataError, Example } from "../../src/data/schema";

const PROJECT_ROOT = resolve(__dirname, "../..");
const LABELS = ["entailment", "neutral", "contradiction"];

function row(id: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Example = {
    id,
    source: "test",
    dimension: "entailment",
    context: [{ role: "premise", text: "A dog runs." }],
    response: "An animal moves.",
    label: "entailment",
    labelSet: LABELS,
    explanations: ["a dog is an animal."],
    split: "train",
  };
  return { ...base, ...overrides };
}

function jsonl(rows: unknown[]): string {
  return rows.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join("\n") + "\n";
}

const tmp = mkdtempSync(join(tmpdir(), "xft-data-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let fileCount = 0;
function writeTemp(content: string | Buffer, name = `f${fileCount++}.jsonl`): string {
  const path = join(tmp, name);
  writeFileSync(path, content);
  return path;
}

test("a good file loads, ignoring empty lines", () => {
  const path = writeTemp(jsonl([row("a"), "", row("b", { label: "neutral", explanations: [] })]));
  const { examples, skipped } = readExamples(path);
  assert.equal(skipped.length, 0);
  assert.deepEqual(
    examples.map((e) => [e.id, e.label, e.explanations.length]),
    [
      ["a", "entailment", 1],
      ["b", "neutral", 0],
    ],
  );
});

test("each kind of bad row gives FILE:LINE: FIELD: problem", () => {
  const missing = row("x");
  delete missing.response;
  const cases: [unknown, string][] = [
    [missing, "response: missing"],
    [row("x", { label: 3 }), "label: expected a string, got number"],
    [row("x", { context: "premise" }), "context: expected an array, got string"],
    [row("x", { label: "maybe" }), 'label: "maybe" is not in labelSet [entailment, neutral, contradiction]'],
    [row("x", { response: "  " }), "response: must not be empty"],
    [row("x", { id: "" }), "id: must not be empty"],
    [
      row("x", { context: [{ role: "narrator", text: "hi" }] }),
      'context[0].role: "narrator" is not one of [system, user, assistant, premise, knowledge]',
    ],
    [row("x", { context: [{ role: "user", text: "" }] }), "context[0].text: must not be empty"],
    [row("x", { split: "dev" }), 'split: "dev" is not one of [train, test]'],
    [row("x", { explanations: ["ok", ""] }), "explanations[1]: must not be empty"],
    [row("x", { labelSet: [], label: "a" }), "labelSet: must not be empty"],
    [row("x", { labelSet: ["a", "b", "a"], label: "a" }), 'labelSet: "a" occurs more than once'],
    [
      row("x", { explanation: "typo" }),
      "explanation: unknown field (expected [id, source, dimension, context, response, label, labelSet, explanations, split])",
    ],
    [["not", "an", "object"], "(line): expected an object, got array"],
  ];
  for (const [bad, message] of cases) {
    // The bad row sits on line 3, after a good row and an empty line.
    const path = writeTemp(jsonl([row("a"), "", bad]));
    assert.throws(
      () => readExamples(path),
      (e: unknown) => {
        assert.ok(e instanceof DataError);
        assert.equal(e.message, `${path}:3: ${message}`);
        assert.equal(e.file, path);
        assert.equal(e.line, 3);
        return true;
      },
    );
  }
});

test("a line that is not JSON", () => {
  const path = writeTemp(jsonl([row("a"), "{not json"]));
  assert.throws(
    () => readExamples(path),
    (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.ok(e.message.startsWith(`${path}:2: (line): not valid JSON: `), e.message);
      return true;
    },
  );
});

test("checks across rows: duplicate id, changing labelSet", () => {
  const dup = writeTemp(jsonl([row("a"), row("b"), row("a")]));
  assert.throws(() => readExamples(dup), { message: `${dup}:3: id: "a" already used on line 1` });
  const changed = writeTemp(jsonl([row("a"), row("b", { labelSet: ["entailment", "contradiction"] })]));
  assert.throws(() => readExamples(changed), {
    message: `${changed}:2: labelSet: [entailment, contradiction] differs from [entailment, neutral, contradiction] on line 1`,
  });
});

test("strict: false skips bad rows and returns them", () => {
  const path = writeTemp(jsonl([row("a"), "{", row("b", { label: "maybe" }), row("a"), row("c")]));
  const { examples, skipped } = readExamples(path, { strict: false });
  assert.deepEqual(
    examples.map((e) => e.id),
    ["a", "c"],
  );
  assert.deepEqual(
    skipped.map((e) => [e.line, e.field]),
    [
      [2, "(line)"],
      [3, "label"],
      [4, "id"],
    ],
  );
});

test("bytes that are not UTF-8 are a bad row at their exact line and byte, never U+FFFD; a BOM and CRLF still read", () => {
  // Line 4's response holds `bytes` where "@@" stands.
  const [before, after] = JSON.stringify(row("c", { response: "An @@ moves." })).split("@@");
  const lines = (bytes: number[]) =>
    Buffer.concat([
      Buffer.from("\uFEFF" + JSON.stringify(row("a")) + "\r\n\r\n"),
      Buffer.from(JSON.stringify(row("b", { response: "Caf\u00e9 au lait." })) + "\n"),
      Buffer.from(before),
      Buffer.from(bytes),
      Buffer.from(after + "\n"),
      Buffer.from(JSON.stringify(row("d")) + "\n"),
    ]);
  const good = readExamples(writeTemp(lines([0x6f, 0x78])));
  assert.deepEqual(
    good.examples.map((e) => [e.id, e.response]),
    [
      ["a", "An animal moves."],
      ["b", "Caf\u00e9 au lait."],
      ["c", "An ox moves."],
      ["d", "An animal moves."],
    ],
  );
  const byte = Buffer.byteLength(before) + 1;
  const cases: [number[], string][] = [
    [[0xff, 0x78], "ff 78 20 6d"],
    // A two-byte sequence cut short by an ASCII byte: the problem starts at its lead byte.
    [[0xc3, 0x78], "c3 78 20 6d"],
    // A UTF-16 surrogate encoded as UTF-8 is not UTF-8 either.
    [[0xed, 0xa0, 0x80], "ed a0 80 20"],
  ];
  for (const [bytes, shown] of cases) {
    const path = writeTemp(lines(bytes));
    assert.throws(() => readExamples(path), { message: `${path}:4: (line): not valid UTF-8 at byte ${byte} of the line (bytes ${shown})` });
    const { examples, skipped } = readExamples(path, { strict: false });
    assert.deepEqual([examples.map((e) => e.id), skipped.map((e) => e.line)], [["a", "b", "d"], [4]]);
  }
});

test("the split option requires every row of a folder's file to have that split", () => {
  const path = writeTemp(jsonl([row("a"), row("b", { split: "test" })]));
  const { examples, skipped } = readExamples(path, { strict: false, split: "train" });
  assert.deepEqual([examples.map((e) => e.id), skipped.map((e) => e.message)], [["a"], [`${path}:2: split: "test" in the train file`]]);
});

test("trainingProblems: what xft train requires of a dataset, one line per problem", () => {
  const needs = { profile: "ci", batchSize: 2 };
  const ex = (id: string, split: "train" | "test", labelSet = LABELS) => row(id, { split, labelSet, label: labelSet[0] }) as unknown as Example;
  assert.deepEqual(trainingProblems({ where: "d", train: [ex("a", "train"), ex("b", "train")], test: [ex("t", "test")] }, needs), []);
  // Evaluation-only (no train file): only the test split is required.
  assert.deepEqual(trainingProblems({ where: "d", train: undefined, test: [ex("t", "test")] }, needs), []);
  assert.deepEqual(trainingProblems({ where: "d", train: undefined, test: [] }, needs), ["d: no test rows; xft train evaluates on the test split"]);
  assert.deepEqual(trainingProblems({ where: "d", train: [ex("a", "train"), ex("b", "train")], test: [ex("t", "test", ["yes", "no"])] }, needs), [
    "d: train labelSet [entailment, neutral, contradiction] differs from test labelSet [yes, no]",
  ]);
  const many = Array.from({ length: 17 }, (_, i) => `l${i}`);
  assert.deepEqual(trainingProblems({ where: "f.jsonl", train: [ex("a", "train", many)], test: [] }, needs), [
    "f.jsonl: 1 train rows, fewer than the one batch of 2 (profile ci) that xft train needs",
    "f.jsonl: no test rows; xft train evaluates on the test split",
    "f.jsonl: 17 labels in labelSet; xft supports at most 16 (one label token each)",
  ]);
});

test("gzip and plain files load the same", () => {
  const content = jsonl([row("a"), row("b", { label: "contradiction" })]);
  const plain = readExamples(writeTemp(content, "same.jsonl")).examples;
  const gz = readExamples(writeTemp(gzipSync(content), "same.jsonl.gz")).examples;
  assert.equal(plain.length, 2);
  assert.deepEqual(gz, plain);
});

test("a user's single JSONL file is split by its rows' split field", () => {
  const path = writeTemp(jsonl([row("a"), row("b", { split: "test" }), row("c"), row("d", { split: "test", label: "neutral" })]), "mine.jsonl");
  const ds = loadDataset(path);
  assert.equal(ds.name, "mine");
  assert.deepEqual(
    ds.train.map((e) => e.id),
    ["a", "c"],
  );
  assert.deepEqual(
    ds.test.map((e) => e.id),
    ["b", "d"],
  );
  assert.deepEqual(ds.labelSet, LABELS);
  assert.match(ds.hash, /^[0-9a-f]{64}$/);
});

test("datasets by name and by folder; unknown names list the available ones", () => {
  const root = join(tmp, "root");
  mkdirSync(join(root, "data", "alpha"), { recursive: true });
  mkdirSync(join(root, "data", "beta"), { recursive: true });
  mkdirSync(join(root, "data", "no-train"), { recursive: true });
  writeFileSync(join(root, "data", "alpha", "train.jsonl"), jsonl([row("a")]));
  writeFileSync(join(root, "data", "alpha", "test.jsonl.gz"), gzipSync(jsonl([row("t", { split: "test" })])));
  writeFileSync(join(root, "data", "beta", "train.jsonl.gz"), gzipSync(jsonl([row("a")])));
  writeFileSync(join(root, "data", "beta", "test.jsonl"), jsonl([row("t", { split: "test", labelSet: ["yes", "no"], label: "no" })]));
  writeFileSync(join(root, "data", "no-train", "test.jsonl"), jsonl([row("t", { split: "test" })]));

  assert.deepEqual(datasetNames(root), ["alpha", "beta", "no-train"]);
  const alpha = loadDataset("alpha", { root });
  assert.deepEqual([alpha.name, alpha.train.length, alpha.test.length], ["alpha", 1, 1]);
  assert.equal(loadDataset(join(root, "data", "alpha")).hash, alpha.hash);
  assert.throws(() => loadDataset("nope", { root }), /unknown dataset "nope"; available in .*: alpha, beta, no-train \(/);
  assert.throws(() => loadDataset("beta", { root }), /train labelSet \[entailment, neutral, contradiction\] differs from test labelSet \[yes, no\]/);
});

test("a folder with only a test file is evaluation-only: loaded on request, refused for training", () => {
  const dir = join(tmp, "eval-only");
  mkdirSync(dir);
  writeFileSync(join(dir, "test.jsonl.gz"), gzipSync(jsonl([row("t1", { split: "test" }), row("t2", { split: "test", label: "neutral" })])));
  assert.throws(() => loadDataset(dir), /eval-only holds no train\.jsonl or train\.jsonl\.gz: it is an evaluation-only dataset/);
  const ds = loadDataset(dir, { allowTestOnly: true });
  assert.deepEqual([ds.name, ds.train.length, ds.test.length], ["eval-only", 0, 2]);
  assert.deepEqual(ds.labelSet, LABELS);
  assert.match(ds.hash, /^[0-9a-f]{64}$/);
  const empty = join(tmp, "empty-folder");
  mkdirSync(empty);
  assert.throws(() => loadDataset(empty, { allowTestOnly: true }), /empty-folder holds no test\.jsonl or test\.jsonl\.gz/);
});

test("a row whose split disagrees with its file is a bad row", () => {
  const dir = join(tmp, "wrong-split");
  mkdirSync(dir);
  writeFileSync(join(dir, "train.jsonl"), jsonl([row("a"), row("b", { split: "test" })]));
  writeFileSync(join(dir, "test.jsonl"), jsonl([row("t", { split: "test" })]));
  assert.throws(() => loadDataset(dir), /train\.jsonl:2: split: "test" in the train file$/);
  const ds = loadDataset(dir, { strict: false });
  assert.deepEqual([ds.train.length, ds.skipped.length], [1, 1]);
});

test("the shipped e-SNLI loads with the documented counts", () => {
  const ds = loadDataset("esnli", { root: PROJECT_ROOT });
  assert.deepEqual(ds.labelSet, LABELS);
  assert.deepEqual([ds.train.length, ds.test.length, ds.skipped.length], [9842, 9824, 0]);
  const perLabel = (examples: Example[]) => LABELS.map((l) => examples.filter((e) => e.label === l).length);
  assert.deepEqual(perLabel(ds.train), [3329, 3235, 3278]);
  assert.deepEqual(perLabel(ds.test), [3368, 3219, 3237]);
  assert.ok([...ds.train, ...ds.test].every((e) => e.explanations.length === 3 && e.context[0].role === "premise"));
  assert.equal(ds.train[0].id, "esnli-dev-1");
  assert.equal(ds.test[0].id, "esnli-test-1");
});

test("e-SNLI detokenisation", () => {
  const cases: [string, string][] = [
    ["Two women are embracing while holding to go packages . ", "Two women are embracing while holding to go packages."],
    ["He does n't want hair , ca n't he ? ", "He doesn't want hair, can't he?"],
    ["the woman 's description ;  a ( one ) uniform", "the woman's description; a (one) uniform"],
    ["a banner reading `` Lotos . '' now", 'a banner reading "Lotos." now'],
    ["in their parents ' basement", "in their parents' basement"],
    ["it 'flies through the air ' he is", "it 'flies through the air' he is"],
    ["a banner that say 'london 2012 ' , does", "a banner that say 'london 2012', does"],
    ["costs $ 5", "costs $5"],
  ];
  for (const [raw, clean] of cases) assert.equal(detokenize(raw), clean);
});
