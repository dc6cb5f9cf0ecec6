/**
 * The JSONL loader under fuzzing: 1,200 rows from a fixed seed, each a valid row or one mutated in a known way (a
 * field deleted, retyped, emptied, renamed or given a value outside its set; a line cut short; bytes that are not
 * UTF-8; an id used before). With `strict: false` every mutated row is reported at its exact line with its field,
 * and every valid row loads as written: no miss and no false positive.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { readExamples } from "../../src/data/load";
import { Rng } from "../../src/util/rng";

const LABELS = ["1", "2", "3", "4", "5"];
const ROWS = 1200;

interface Mutation {
  field: string;
  apply: (row: Record<string, unknown>) => Record<string, unknown> | string | Buffer;
}

const without = (field: string) => (row: Record<string, unknown>) => {
  const copy = { ...row };
  delete copy[field];
  return copy;
};

/** Each way a row can go wrong, with the field its error must name. */
const MUTATIONS: Mutation[] = [
  ...["id", "source", "dimension", "context", "response", "label", "labelSet", "explanations", "split"].map((field) => ({
    field,
    apply: without(field),
  })),
  { field: "label", apply: (r) => ({ ...r, label: 3 }) },
  { field: "label", apply: (r) => ({ ...r, label: "6" }) },
  { field: "response", apply: (r) => ({ ...r, response: " \t" }) },
  { field: "response", apply: (r) => ({ ...r, response: null }) },
  { field: "context", apply: (r) => ({ ...r, context: "user: hi" }) },
  { field: "context[0].role", apply: (r) => ({ ...r, context: [{ role: "narrator", text: "hi" }] }) },
  { field: "context[0].text", apply: (r) => ({ ...r, context: [{ role: "user", text: "" }] }) },
  { field: "split", apply: (r) => ({ ...r, split: "dev" }) },
  { field: "explanations[0]", apply: (r) => ({ ...r, explanations: [""] }) },
  { field: "explanations", apply: (r) => ({ ...r, explanations: "because" }) },
  { field: "labelSet", apply: (r) => ({ ...r, labelSet: [] }) },
  { field: "id", apply: (r) => ({ ...r, id: "" }) },
  { field: "explanation", apply: (r) => ({ ...r, explanation: "a misspelt field" }) },
  { field: "(line)", apply: (r) => JSON.stringify(r).slice(0, 40) },
  { field: "(line)", apply: () => "[1, 2, 3]" },
  { field: "(line)", apply: (r) => Buffer.concat([Buffer.from(JSON.stringify(r).slice(0, 30)), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]) },
];

function validRow(i: number, rng: Rng): Record<string, unknown> {
  const words = ["kind", "helpful", "vague", "short", "detailed", "rude", "answer", "question", "ünïcödé", "emoji 🙂", 'quote " and \\ slash'];
  const text = (n: number) => Array.from({ length: n }, () => words[rng.int(words.length)]).join(" ");
  return {
    id: `row-${i}`,
    source: "fuzz",
    dimension: "quality",
    context: [{ role: "user", text: text(1 + rng.int(8)) }],
    response: text(1 + rng.int(12)),
    label: LABELS[rng.int(LABELS.length)],
    labelSet: LABELS,
    explanations: rng.int(2) ? [text(3)] : [],
    split: rng.int(4) ? "train" : "test",
  };
}

test(`the JSONL loader reports each of ${ROWS} fuzzed rows exactly: line and field for a bad one, the row itself for a good one`, () => {
  const rng = new Rng(20261205);
  const lines: Buffer[] = [];
  const expectedBad = new Map<number, string>();
  const expectedGood = new Map<number, Record<string, unknown>>();
  for (let i = 0; i < ROWS; i++) {
    const line = i + 1;
    const row = validRow(i, rng);
    if (i > 0 && rng.int(10) === 0) {
      // An id used on an earlier line (a valid row's own, so that its first use loads).
      const earlier = [...expectedGood.values()][rng.int(expectedGood.size)];
      lines.push(Buffer.from(JSON.stringify({ ...row, id: earlier.id })));
      expectedBad.set(line, "id");
    } else if (rng.int(2) === 0) {
      const m = MUTATIONS[rng.int(MUTATIONS.length)];
      const out = m.apply(row);
      lines.push(Buffer.isBuffer(out) ? out : Buffer.from(typeof out === "string" ? out : JSON.stringify(out)));
      expectedBad.set(line, m.field);
    } else {
      lines.push(Buffer.from(JSON.stringify(row)));
      expectedGood.set(line, row);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), "xft-fuzz-"));
  const file = join(dir, "fuzz.jsonl");
  writeFileSync(file, Buffer.concat(lines.flatMap((l) => [l, Buffer.from("\n")])));
  try {
    const { examples, skipped } = readExamples(file, { strict: false });
    assert.ok(expectedBad.size > 500 && expectedGood.size > 400, `${expectedBad.size} bad and ${expectedGood.size} good rows`);
    assert.deepEqual(
      skipped.map((e) => [e.line, e.field]),
      [...expectedBad].map(([line, field]) => [line, field]),
      "every bad row, at its line, with its field",
    );
    for (const e of skipped) assert.ok(e.message.startsWith(`${file}:${e.line}: ${e.field}: `), e.message);
    assert.deepEqual(
      examples.map((e) => e.id),
      [...expectedGood.values()].map((r) => r.id),
      "every good row, in order",
    );
    examples.forEach((e, k) => assert.deepEqual({ ...e }, [...expectedGood.values()][k]));
  } finally {
    rmSync(dir, { recursive: true });
  }
});
