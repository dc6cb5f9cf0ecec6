import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(__dirname, "../..");
const xft = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, "bin/xft.cjs"), ...args], {
  cwd: ROOT, encoding: "utf8", env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2" },
});

/** A user's own dataset in the example schema: the label is visible in the response, so it is learnable. */
function writeDataset(file: string, badLine?: string): void {
  const labelSet = ["low", "high"];
  const rows = Array.from({ length: 64 }, (_, i) => {
    const label = labelSet[i % 2];
    return JSON.stringify({
      id: `r${i}`, source: "cli-test", dimension: "quality", context: [{ role: "user", text: `question number ${i}` }],
      response: `this answer is ${label === "high" ? "great and complete" : "poor and vague"}`, label, labelSet,
      explanations: [`the answer is ${label === "high" ? "great" : "poor"}`], split: i < 48 ? "train" : "test",
    });
  });
  if (badLine) rows.splice(3, 0, badLine);
  fs.writeFileSync(file, rows.join("\n") + "\n");
}

test("xft train on a user's JSONL prints metrics as JSON, and a second call reuses the run", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xft-cli-"));
  const data = path.join(dir, "mine.jsonl");
  writeDataset(data);
  const args = ["train", "--dataset", data, "--condition", "label+expl", "--seed", "1", "--profile", "ci", "--runs-dir", path.join(dir, "runs")];
  const first = xft(...args);
  assert.equal(first.status, 0, first.stderr);
  const out = JSON.parse(first.stdout);
  assert.equal(out.condition, "label+expl");
  assert.equal(out.profile, "ci");
  assert.deepEqual(out.labelSet, ["low", "high"]);
  assert.equal(out.n, 16);
  assert.ok(out.accuracy >= 0 && out.accuracy <= 1);
  assert.ok(out.mae >= 0 && out.mae <= 1 && out.qwk >= -1 && out.qwk <= 1, `mae ${out.mae}, qwk ${out.qwk}`);
  assert.ok(out.ece >= 0 && out.ece <= 1 && out.brier >= 0 && out.brier <= 2, `ece ${out.ece}, brier ${out.brier}`);
  assert.ok(fs.existsSync(path.join(out.dir, "run.json")) && fs.existsSync(path.join(out.dir, "model.safetensors")));
  // Reusing a run recorded before MAE, QWK, ECE and Brier existed (a record of version 1, which had no version field)
  // fills them in from predictions.json.
  const recordFile = path.join(out.dir, "run.json");
  const { version, ...record } = JSON.parse(fs.readFileSync(recordFile, "utf8"));
  assert.equal(version, 2);
  const { n, accuracy, macroF1, confusion, f1 } = record.metrics;
  fs.writeFileSync(recordFile, JSON.stringify({ ...record, metrics: { n, accuracy, macroF1, confusion, f1 } }));
  const second = xft(...args);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stderr, /reused the finished run/);
  const reused = JSON.parse(second.stdout);
  assert.equal(reused.accuracy, out.accuracy);
  assert.equal(reused.mae, out.mae);
  assert.equal(reused.qwk, out.qwk);
  // predictions.json keeps 6 decimals of each probability.
  assert.ok(Math.abs(reused.ece - out.ece) < 1e-5 && Math.abs(reused.brier - out.brier) < 1e-5);
  const migrated = JSON.parse(fs.readFileSync(recordFile, "utf8"));
  assert.ok(migrated.metrics.reliability.length > 0 && migrated.version === 2, "run.json is rewritten in the current format");
  fs.rmSync(dir, { recursive: true });
});

test("xft train names the file, line and field of a bad row", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xft-cli-"));
  const data = path.join(dir, "bad.jsonl");
  writeDataset(data, JSON.stringify({ id: "bad" }));
  const r = xft("train", "--dataset", data, "--profile", "ci", "--runs-dir", path.join(dir, "runs"));
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`${data.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:4: \\w+: `));
  fs.rmSync(dir, { recursive: true });
});

test("xft doctor reports the backend; unknown commands and conditions are clear errors", () => {
  const doctor = xft("doctor");
  assert.match(doctor.stdout, /ok\s+backend\s+using \w+/);
  assert.match(doctor.stdout, /tokenizer/);
  const unknown = xft("frobnicate");
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  const badCondition = xft("train", "--condition", "label+magic", "--profile", "ci");
  assert.equal(badCondition.status, 1);
  assert.match(badCondition.stderr, /unknown condition "label\+magic"/);
});
