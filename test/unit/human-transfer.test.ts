/**
 * Trained raters against people: the ratings reader, the expected-score agreement, and the grid's human-transfer
 * table on real ci runs (one conversation setting, both conditions, two seeds) read against USR.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { readHumanRatings } from "../../src/data/human-ratings";
import { expectedScore, humanAgreement, labelValues } from "../../src/eval/human-agreement";
import { spearman } from "../../src/teacher/agreement";
import { evaluateRun } from "../../src/runs/evaluate";
import { expandGrid, gridProfile, reproductionGrid, runGrid } from "../../src/runs/grid";
import { humanTransfer } from "../../src/runs/human-transfer";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "xft-human-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function ratingsDir(name: string, lines: string[]): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "ratings.jsonl"), lines.join("\n") + "\n");
  return dir;
}

test("people's ratings: one mean per quality and response; a bad line is named by file, line and field", () => {
  const good = ratingsDir("good", [
    '{"id": "a", "annotators": ["x", "y"], "natural": [1, 2], "overall": [4, 5], "mean": {"natural": 1.5}, "system": "s"}',
    '{"id": "b", "annotators": ["x", "y"], "natural": [3, 3], "overall": [2, 2]}',
  ]);
  const r = readHumanRatings(good)!;
  assert.deepEqual(r.qualities, ["natural", "overall"]);
  assert.deepEqual(r.means.get("a"), { natural: 1.5, overall: 4.5 });
  assert.equal(readHumanRatings(tmp), undefined, "no ratings.jsonl: no ratings");
  const bad: [string, RegExp][] = [
    ['{"id": "a", "annotators": ["x"], "natural": [1]}\n{"id": ', /ratings\.jsonl:2: not JSON/],
    ['{"id": "a", "annotators": ["x", "y"], "natural": [1, "2"]}', /ratings\.jsonl:1: field "natural": expected 2 numbers/],
    [
      '{"id": "a", "annotators": ["x"], "natural": [1]}\n{"id": "b", "annotators": ["x"], "overall": [1]}',
      /ratings\.jsonl:2: rates overall; line 1 rates natural/,
    ],
    [
      '{"id": "a", "annotators": ["x"], "natural": [1]}\n{"id": "a", "annotators": ["x"], "natural": [2]}',
      /ratings\.jsonl:2: field "id": a is rated twice/,
    ],
    ['{"annotators": ["x"], "natural": [1]}', /ratings\.jsonl:1: field "id"/],
  ];
  bad.forEach(([text, message], i) => assert.throws(() => readHumanRatings(ratingsDir(`bad${i}`, [text])), message));
});

test("agreement: the expected score's rank correlation with each quality; numeric labels only; unrated predictions are an error", () => {
  const ratings = readHumanRatings(
    ratingsDir("three", [
      '{"id": "a", "annotators": ["x"], "natural": [1], "overall": [3]}',
      '{"id": "b", "annotators": ["x"], "natural": [2], "overall": [2]}',
      '{"id": "c", "annotators": ["x"], "natural": [3], "overall": [1]}',
    ]),
  )!;
  const values = labelValues(["1", "2", "3"]);
  assert.equal(expectedScore([0.5, 0, 0.5], values), 2);
  // Expected scores 1.2, 2.0, 2.9 (and an unrated response that must be left out).
  const predictions = [
    { id: "a", probs: [0.8, 0.2, 0] },
    { id: "b", probs: [0.2, 0.6, 0.2] },
    { id: "c", probs: [0, 0.1, 0.9] },
    { id: "z", probs: [1, 0, 0] },
  ];
  assert.deepEqual(humanAgreement(predictions, ["1", "2", "3"], ratings), [
    { quality: "natural", n: 3, rho: 1 },
    { quality: "overall", n: 3, rho: -1 },
  ]);
  assert.throws(() => labelValues(["entailment", "2"]), /numeric labels; "entailment" is not/);
  assert.throws(
    () => humanAgreement([{ id: "z", probs: [1, 0, 0] }], ["1", "2", "3"], ratings),
    /none of the 1 predictions is of a response rated in .*ratings\.jsonl/,
  );
});

test("human transfer on real ci runs: per setting, arm and quality over seeds; each run's rho is its USR evaluation's; stored and reused", async () => {
  const runsDir = path.join(tmp, "runs");
  const specs = expandGrid(reproductionGrid("explanations", gridProfile("ci"))).filter(
    (s) => s.dataset === "conv-usr-topical" && s.dimension === "naturalness",
  );
  assert.equal(specs.length, 4, "label and label+expl, two seeds");
  const records = await runGrid(specs, { runsDir });
  const transfer = await humanTransfer(records, { runsDir });
  const summary = transfer.summary.objects() as Array<Record<string, unknown>>;
  assert.deepEqual(
    summary.map((r) => [r.condition, r.quality, r.n_seeds]),
    [
      ["label", "natural", 2],
      ["label+expl", "natural", 2],
      ["label", "overall", 2],
      ["label+expl", "overall", 2],
    ],
  );
  assert.deepEqual(
    (transfer.differences.objects() as Array<Record<string, unknown>>).map((r) => [r.condition, r.quality, r.n_seeds]),
    [
      ["label+expl", "natural", 2],
      ["label+expl", "overall", 2],
    ],
  );

  // One run's rho from scratch: its evaluation on USR as a naturalness rater, against the annotators' Natural means.
  const run = records[0];
  const direct = await evaluateRun(run, "usr", { asDimension: "naturalness" });
  const usr = readHumanRatings(path.join(__dirname, "../../data/usr"))!;
  const scores = direct.predictions.map((p) => expectedScore(p.probs, labelValues(direct.labelSet)));
  const rho = spearman(
    scores,
    direct.predictions.map((p) => usr.means.get(p.id)!.natural),
  );
  assert.equal(direct.predictions.length, 660);
  const row = (transfer.runs.objects() as Array<Record<string, unknown>>).find(
    (r) => r.seed === run.spec.seed && r.condition === run.spec.condition && r.quality === "natural",
  );
  assert.equal(row?.rho, rho);

  // Stored beside each run and reused: a second call reads the files (a changed one would be evaluated anew).
  const stored = path.join(run.dir, "usr-transfer.json");
  const mtime = fs.statSync(stored).mtimeMs;
  const again = await humanTransfer(records, { runsDir });
  assert.equal(fs.statSync(stored).mtimeMs, mtime);
  assert.deepEqual(again.summary.objects(), transfer.summary.objects());
  fs.writeFileSync(stored, JSON.stringify({ ...JSON.parse(fs.readFileSync(stored, "utf8")), hash: "stale" }));
  await humanTransfer(records, { runsDir });
  assert.notEqual(JSON.parse(fs.readFileSync(stored, "utf8")).hash, "stale", "a stale file is evaluated anew");
});
