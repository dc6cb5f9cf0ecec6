import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { DATA_COMMANDS } from "../../src/cli/data";
import { COMMANDS, usage } from "../../src/cli/main";
import type { Command } from "../../src/cli/options";
import { RUNS_COMMANDS } from "../../src/cli/runs";
import { xft } from "../xft-cli";
import { runXft } from "../xft-cli";

/** A user's own dataset in the example schema: the label is visible in the response, so it is learnable. */
function writeDataset(file: string, badLine?: string): void {
  const labelSet = ["low", "high"];
  const rows = Array.from({ length: 64 }, (_, i) => {
    const label = labelSet[i % 2];
    return JSON.stringify({
      id: `r${i}`,
      source: "cli-test",
      dimension: "quality",
      context: [{ role: "user", text: `question number ${i}` }],
      response: `this answer is ${label === "high" ? "great and complete" : "poor and vague"}`,
      label,
      labelSet,
      explanations: [`the answer is ${label === "high" ? "great" : "poor"}`],
      split: i < 48 ? "train" : "test",
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

test("xft pretrain --profile ci, then xft train --profile ci --init base --adapter lora, work together as the README gives them", () => {
  const runs = fs.mkdtempSync(path.join(os.tmpdir(), "xft-cli-base-"));
  const env = { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2", XFT_RUNS_DIR: runs };
  const run = (...args: string[]) => runXft(args, env);
  const pretrained = run("pretrain", "--profile", "ci");
  assert.equal(pretrained.status, 0, pretrained.stderr);
  const trained = run("train", "--dataset", "esnli", "--condition", "label", "--profile", "ci", "--init", "base", "--adapter", "lora");
  assert.equal(trained.status, 0, trained.stderr);
  const record = JSON.parse(fs.readFileSync(path.join(JSON.parse(trained.stdout).dir, "run.json"), "utf8"));
  const base = JSON.parse(fs.readFileSync(path.join(runs, "pretrain", "ci", "base.json"), "utf8"));
  assert.equal(record.init.dir, path.join(runs, "pretrain", "ci"));
  for (const k of ["layers", "dModel", "heads", "mlpRatio"]) assert.equal(record.model[k], base.model[k], `the run has the base's ${k}`);
  fs.rmSync(runs, { recursive: true });
});

test("xft help is written from the option tables: every option a command accepts is in its block", () => {
  const text = usage();
  const blocks = text.split(/\n(?= {2}\S)/);
  const all: [string, Command][] = [
    ...Object.entries(COMMANDS).filter(([name]) => name !== "data" && name !== "runs"),
    ...Object.entries(DATA_COMMANDS).map(([sub, c]): [string, Command] => [`data ${sub}`, c]),
    ...Object.entries(RUNS_COMMANDS).map(([sub, c]): [string, Command] => [`runs ${sub}`, c]),
  ];
  for (const [name, command] of all) {
    const block = blocks.find((b) => b.startsWith(`  ${name} `) || b.startsWith(`  ${name}\n`));
    assert.ok(block, `a block for ${name}`);
    for (const [option, spec] of Object.entries(command.options)) {
      if (!spec.internal) assert.match(block!, new RegExp(`--${option}\\b`), `${name}'s usage shows --${option}`);
    }
  }
  assert.match(text, /--train-only/);
  assert.ok(
    text.split("\n").every((line) => line.length <= 118),
    "no line wider than 118 characters",
  );
  const r = xft("train", "--no-such-option");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /xft train: Unknown option '--no-such-option'/);
});
