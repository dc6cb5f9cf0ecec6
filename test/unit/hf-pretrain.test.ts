/**
 * Continued pretraining of a Hugging Face checkpoint (src/runs/pretrain-checkpoint.ts): `xft pretrain --init
 * hf:<tiny llama> --profile ci` lowers the held-out loss and writes a checkpoint folder that `xft train --init hf:OUT`
 * starts from (and that --init base points to hf:); a GPT-2 keeps its learned positions past the blocks' length.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { initBackend } from "../../src/backend/engine";
import { loadHfWeights, readHfCheckpoint } from "../../src/model/hf/checkpoint";
import { pretrainCheckpoint } from "../../src/runs/pretrain-checkpoint";
import { fixtureDir, fixturesUnavailable } from "./hf-fixtures";
import { xft } from "../xft-cli";

const skip = fixturesUnavailable();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "xft-hf-pretrain-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test(
  "xft pretrain --init hf:<tiny llama> lowers the held-out loss and writes a checkpoint that xft train --init hf:OUT starts from",
  { skip },
  () => {
    const out = path.join(tmp, "continued");
    const pretrain = () => xft("pretrain", "--init", `hf:${fixtureDir("llama-gqa")}`, "--profile", "ci", "--out", out);
    const first = pretrain();
    assert.equal(first.status, 0, first.stderr);
    const summary = JSON.parse(first.stdout);
    assert.ok(
      summary.heldOutPerplexity < summary.heldOutPerplexityBefore * 0.97,
      `held-out perplexity ${summary.heldOutPerplexityBefore} -> ${summary.heldOutPerplexity}`,
    );
    assert.equal(summary.init, `hf:${out}`);
    assert.deepEqual(fs.readdirSync(out).sort(), [
      "README.md",
      "config.json",
      "generation_config.json",
      "model.safetensors",
      "pretrain.json",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    const again = pretrain();
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /reused the finished checkpoint/);

    const run = xft(
      "train",
      "--init",
      `hf:${out}`,
      "--dataset",
      "esnli",
      "--condition",
      "label",
      "--profile",
      "ci",
      "--runs-dir",
      path.join(tmp, "runs"),
    );
    assert.equal(run.status, 0, run.stderr);
    const record = JSON.parse(fs.readFileSync(path.join(JSON.parse(run.stdout).dir, "run.json"), "utf8"));
    assert.equal(record.init.dir, out);
    assert.equal(record.init.modelType, "llama");
    const fixtureHash = JSON.parse(fs.readFileSync(path.join(out, "pretrain.json"), "utf8")).from.hash;
    assert.notEqual(record.init.hash, fixtureHash, "the run starts from the continued weights, not the fixture's");
    const asBase = xft(
      "train",
      "--init",
      "base",
      "--base",
      out,
      "--dataset",
      "esnli",
      "--condition",
      "label",
      "--profile",
      "ci",
      "--runs-dir",
      path.join(tmp, "runs"),
    );
    assert.match(asBase.stderr, /it is a Hugging Face checkpoint folder: start from it with --init hf:/);
  },
);

test("continued pretraining of a GPT-2 trains the positions it sees and keeps the others as they were", { skip }, async () => {
  await initBackend({ quiet: true });
  const from = fixtureDir("gpt2");
  const result = await pretrainCheckpoint("ci", `hf:${from}`, { out: path.join(tmp, "gpt2") });
  assert.equal(result.status, "done");
  const blockLen = result.card!.model.maxLen;
  const [before, after] = [from, result.dir].map((dir) => loadHfWeights(readHfCheckpoint(dir)).get("wpe")!);
  assert.equal(after.length, before.length, "config.json keeps the checkpoint's positions");
  const d = before.length / readHfCheckpoint(from).config.maxLen;
  assert.ok(blockLen * d < before.length, "the fixture has positions past the blocks");
  assert.deepEqual(after.subarray(blockLen * d), before.subarray(blockLen * d));
  assert.notDeepEqual(after.subarray(0, blockLen * d), before.subarray(0, blockLen * d));
});
