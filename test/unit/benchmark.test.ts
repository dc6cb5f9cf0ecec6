import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, test } from "node:test";
import { loadDataset } from "../../src/data/load";
import type { Example } from "../../src/data/schema";
import { datasetAgreement, raterAgreement } from "../../src/teacher/benchmark";
import type { TeacherRating } from "../../src/teacher/ensemble";
import { HumanMeans, readUsrRatings, teacherVsUsr } from "../../src/teacher/human-agreement";
import type { Judgment } from "../../src/teacher/judgment";

const ROOT = resolve(__dirname, "../..");
const tmp = mkdtempSync(join(tmpdir(), "xft-benchmark-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A rating whose judgments are `scores[rater]` = that rater's scores under two strategies. */
function rating(scores: Record<string, [number, number]>): TeacherRating {
  const judgments = Object.entries(scores).flatMap(([rater, pair]) =>
    pair.map((score, s): Judgment => ({
      rater,
      strategy: s === 0 ? "1-5" : "1-5+anchors",
      scaleScore: score,
      score,
      explanation: "",
      evidence: [],
    })),
  );
  return { label: 3, mean: 3, explanation: "", judgments };
}

/** The "| dimension | a | b |" rows of a data card's table whose header starts with `heading`. */
function cardTable(dataset: string, heading: string): string[][] {
  const lines = readFileSync(join(ROOT, "data", dataset, "CARD.md"), "utf8").split("\n");
  const start = lines.findIndex((l) => l.startsWith(heading));
  assert.ok(start >= 0, `${dataset}/CARD.md has a table "${heading}"`);
  const rows: string[][] = [];
  for (let i = start + 2; i < lines.length && lines[i].startsWith("|"); i++)
    rows.push(
      lines[i]
        .split("|")
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  return rows;
}

test("rater agreement: raters are averaged over their strategies, then compared pairwise", () => {
  const same = [1, 3, 5].map((s) => rating({ a: [s, s], b: [s, s], c: [s, s] }));
  assert.deepEqual(raterAgreement(same), { alpha: 1, spearman: 1 });

  // a's means 2, 3, 5 and b's 1, 3, 5 rank alike; c ranks the other way: pairwise 1, -1, -1.
  const mixed = [
    rating({ a: [1, 3], b: [1, 1], c: [5, 5] }),
    rating({ a: [3, 3], b: [3, 3], c: [3, 3] }),
    rating({ a: [5, 5], b: [5, 5], c: [1, 1] }),
  ];
  const { alpha, spearman } = raterAgreement(mixed);
  assert.equal(spearman, -1 / 3);
  assert.ok(alpha < 0, `raters that contradict each other have alpha ${alpha} below 0`);
  assert.throws(() => raterAgreement([]), /at least one rating/);
});

test("dataset agreement: the refitted teacher reproduces the shipped labels and the card's agreement table", async () => {
  const ds = loadDataset("conv-usr-persona", { root: ROOT });
  const all = await datasetAgreement(ds);
  const card = cardTable("conv-usr-persona", "| dimension | Krippendorff");
  assert.deepEqual(
    all.map((a) => [a.dimension, a.alpha.toFixed(2), a.spearman.toFixed(2)]),
    card,
  );
  assert.ok(all.every((a) => a.reproduced === 1 && a.conversations === 300 && a.dataset === "conv-usr-persona"));

  let calls = 0;
  const sampled = await datasetAgreement(ds, { maxConversations: 40, seed: 2, onProgress: () => calls++ });
  assert.equal(calls, 40);
  assert.ok(sampled.every((a) => a.conversations === 40 && a.reproduced === 1));
  assert.deepEqual(await datasetAgreement(ds, { maxConversations: 40, seed: 2 }), sampled, "a seeded sample is the same every time");
});

test("teacher against people: rows are matched to USR ids by dropping the dimension, unmatched rows left out", () => {
  const row = (id: string, dimension: string, label: string): Example => ({
    id: `${id}-${dimension}`,
    source: "usr-topical",
    dimension,
    context: [{ role: "user", text: "hi" }],
    response: "hello",
    label,
    labelSet: ["1", "2", "3", "4", "5"],
    explanations: ["e"],
    split: "test",
  });
  const humans = new Map<string, HumanMeans>([
    ["usr-topical-1-a", { natural: 1, maintainsContext: 3 }],
    ["usr-topical-2-a", { natural: 2, maintainsContext: 2 }],
    ["usr-topical-3-a", { natural: 3, maintainsContext: 1 }],
  ]);
  const rows = [1, 2, 3].flatMap((i) => [row(`usr-topical-${i}-a`, "naturalness", String(i)), row(`usr-topical-${i}-a`, "on-topic", String(i))]);
  const [natural, context] = teacherVsUsr([...rows, row("usr-topical-9-z", "naturalness", "5")], humans);
  assert.deepEqual({ ...natural, pairs: undefined }, { dimension: "naturalness", quality: "Natural", n: 3, rho: 1, pairs: undefined });
  assert.deepEqual(natural.pairs, [
    { teacher: 1, human: 1 },
    { teacher: 2, human: 2 },
    { teacher: 3, human: 3 },
  ]);
  assert.equal(context.quality, "Maintains Context");
  assert.equal(context.rho, -1);
});

test("teacher against people on the shipped data gives the USR card's table; a bad ratings line is named", () => {
  const ds = loadDataset("conv-usr-topical", { root: ROOT });
  const results = teacherVsUsr([...ds.train, ...ds.test], readUsrRatings(join(ROOT, "data/usr/ratings.jsonl")));
  const card = cardTable("conv-usr-topical", "| teacher dimension | USR quality");
  assert.deepEqual(
    results.map((r) => [r.dimension, r.quality, String(r.n), r.rho.toFixed(3)]),
    card,
  );

  const bad = join(tmp, "ratings.jsonl");
  writeFileSync(
    bad,
    `{"id": "a", "annotators": ["x", "y"], "natural": [2, 3], "maintainsContext": [3, 3]}\n{"id": "b", "annotators": ["x", "y"], "natural": [2], "maintainsContext": [3, 3]}\n`,
  );
  assert.throws(() => readUsrRatings(bad), /ratings\.jsonl:2: field "natural": expected 2 numbers, one per annotator/);
});
