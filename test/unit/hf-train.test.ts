/**
 * Fine-tuning and probing a Hugging Face checkpoint from the command line: `xft train --init hf:DIR` (fully and
 * with LoRA on the checkpoint's module names) finishes and prints metrics, keys the run by the checkpoint's
 * hash, reuses a finished run, and `xft probe` reads it back (its self-check holds the lens to the run's readout).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { fixtureDir, fixturesUnavailable } from "./hf-fixtures";
import { xft } from "../xft-cli";

const skip = fixturesUnavailable();
const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), "xft-hf-train-"));
after(() => fs.rmSync(runsDir, { recursive: true, force: true }));

function train(...extra: string[]) {
  const run = xft(
    "train",
    "--init",
    `hf:${fixtureDir("llama-gqa")}`,
    "--dataset",
    "esnli",
    "--condition",
    "label+expl",
    "--profile",
    "ci",
    "--runs-dir",
    runsDir,
    ...extra,
  );
  assert.equal(run.status, 0, run.stderr);
  return { out: JSON.parse(run.stdout) as Record<string, unknown> & { run: string; dir: string }, stderr: run.stderr };
}

test("xft train --init hf:<tiny llama> fine-tunes it, records the checkpoint, and reuses the finished run", { skip }, () => {
  const { out } = train();
  assert.equal(out.init, "hf");
  assert.ok(typeof out.accuracy === "number" && out.n === 300);
  const record = JSON.parse(fs.readFileSync(path.join(out.dir, "run.json"), "utf8"));
  assert.equal(record.init.from, "hf");
  assert.equal(record.init.modelType, "llama");
  assert.match(record.init.hash, /^[0-9a-f]{64}$/);
  assert.equal(record.model.family, "llama");
  assert.equal(record.train.lr, 5e-5, "a checkpoint fine-tunes at the pretrained learning rate");
  assert.ok(fs.existsSync(path.join(out.dir, "model.safetensors")));
  const again = train();
  assert.equal(again.out.run, out.run);
  assert.match(again.stderr, /reused the finished run/);
});

test("xft train --init hf:<tiny llama> --adapter lora trains an adapter on q_proj/v_proj, and xft probe reads the run", { skip }, () => {
  const { out } = train("--adapter", "lora", "--lora-targets", "q_proj,v_proj");
  assert.deepEqual((out.adapter as { targets: string[] }).targets, ["q_proj", "v_proj"]);
  assert.ok(fs.existsSync(path.join(out.dir, "adapter.safetensors")));
  assert.ok(!fs.existsSync(path.join(out.dir, "model.safetensors")), "only the adapter is saved");
  const probe = xft("probe", "--run", out.run, "--runs-dir", runsDir);
  assert.equal(probe.status, 0, probe.stderr);
  assert.match(probe.stdout, /hidden_entropy/);
  const wrongTarget = xft(
    "train",
    "--init",
    `hf:${fixtureDir("llama-gqa")}`,
    "--adapter",
    "lora",
    "--lora-targets",
    "c_attn",
    "--profile",
    "ci",
    "--runs-dir",
    runsDir,
  );
  assert.match(wrongTarget.stderr, /target c_attn is not a matrix of a llama model/);
});

test(
  "xft train --init hf:<tiny llama> --chat-template trains in the checkpoint's chat template, keyed apart, and xft probe reads it back",
  { skip },
  () => {
    const plain = train("--condition", "label");
    const { out } = train("--condition", "label", "--chat-template");
    assert.ok(typeof out.accuracy === "number" && out.n === 300);
    assert.notEqual(out.run, plain.out.run, "the template is part of the run's key");
    const record = JSON.parse(fs.readFileSync(path.join(out.dir, "run.json"), "utf8"));
    assert.match(record.init.chatTemplate, /^[0-9a-f]{64}$/);
    assert.equal(JSON.parse(fs.readFileSync(path.join(plain.out.dir, "run.json"), "utf8")).init.chatTemplate, undefined);
    // The probe rebuilds the run's text format from its record; its lens must give the run's stored predictions.
    const probe = xft("probe", "--run", out.run, "--runs-dir", runsDir);
    assert.equal(probe.status, 0, probe.stderr);
    const qwen = fixtureDir("qwen2");
    const none = xft(
      "train",
      "--init",
      `hf:${qwen}`,
      "--chat-template",
      "--dataset",
      "esnli",
      "--condition",
      "label",
      "--profile",
      "ci",
      "--runs-dir",
      runsDir,
    );
    assert.notEqual(none.status, 0);
    assert.match(none.stderr, new RegExp(`${qwen}: a chat template was asked for \\(--chat-template\\), but this checkpoint has none`));
  },
);
