/** The small faults of issue 20, each with the message a person now gets: a seed that is not one, a divergence without a checkpoint. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { after, test } from "node:test";
import { initBackend, tf } from "../../src/backend/engine";
import { createParams, disposeParams, GptConfig, Params } from "../../src/model/model";
import { readBaseCard } from "../../src/runs/base";
import { XftTokenizer } from "../../src/text/tokenizer";
import { EncodedExample } from "../../src/train/sequences";
import { train, TrainConfig } from "../../src/train/trainer";
import { xft } from "../xft-cli";

const ROOT = path.resolve(__dirname, "../..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "xft-fault-messages-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("--seed must be written as an integer: empty, blank, 1e3, 0x10 and 1.5 are errors, not other seeds", () => {
  for (const seed of ["", " ", "1e3", "0x10", "1.5", "seven"]) {
    const r = xft("train", "--dataset", "esnli", "--condition", "label", `--seed=${seed}`, "--profile", "ci", "--runs-dir", path.join(tmp, "runs"));
    assert.equal(r.status, 1, `--seed="${seed}": ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").at(-1), `xft train: --seed must be an integer, got "${seed}"`);
  }
  assert.ok(!fs.existsSync(path.join(tmp, "runs")), "nothing was trained");
});

const tok = XftTokenizer.load();
const MODEL: GptConfig = { vocabSize: tok.vocabSize, maxLen: 16, layers: 1, dModel: 16, heads: 2, mlpRatio: 2, initStd: 0.02 };
const CONFIG: TrainConfig = {
  lr: 3e-3,
  minLr: 3e-4,
  warmupSteps: 2,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.99,
  eps: 1e-8,
  gradClip: 1,
  steps: 8,
  batchSize: 4,
  seed: 1,
  checkpointEvery: 2,
};
const EXAMPLES: EncodedExample[] = Array.from({ length: 8 }, (_, i) => {
  const prompt = [tok.special("<|bos|>"), 100 + i, 200 + i, tok.special("<|score|>")];
  return { tokens: [...prompt, tok.labelToken(i % 2), tok.special("<|eos|>")], promptLen: prompt.length, label: i % 2 };
});

/** One weight set to NaN, so that the next step's loss is NaN. */
function poison(params: Params): void {
  const [first] = Object.values(params);
  first.assign(tf.fill(first.shape, NaN));
}

/** Trains until the weights are poisoned after step `poisonAfter` (0: before the first step); the error it ends with. */
async function divergeAfter(poisonAfter: number, checkpointFile: string | undefined): Promise<string> {
  const params = createParams(MODEL, 3);
  if (poisonAfter === 0) poison(params);
  try {
    await train({
      params,
      model: MODEL,
      config: CONFIG,
      examples: EXAMPLES,
      padId: tok.special("<|pad|>"),
      checkpointFile,
      onProgress: (p) => {
        if (p.step === poisonAfter) poison(params);
      },
    });
    return "no error";
  } catch (err) {
    return (err as Error).message;
  } finally {
    disposeParams(params);
  }
}

test("a divergence claims a kept checkpoint only where one was written", async () => {
  await initBackend({ quiet: true });
  const first = path.join(tmp, "first", "checkpoint.safetensors");
  assert.match(await divergeAfter(0, first), /^training diverged: loss is NaN at step 1 \(lr [^)]+\); no checkpoint was written before it$/);
  assert.ok(!fs.existsSync(first));
  assert.match(await divergeAfter(0, undefined), /; no checkpoint was written before it$/);
  // The checkpoint of step 2 is on disk when step 4 diverges.
  const later = path.join(tmp, "later", "checkpoint.safetensors");
  const message = await divergeAfter(3, later);
  assert.equal(message.replace(/\(lr [^)]+\)/, "(lr)"), `training diverged: loss is NaN at step 4 (lr); the last checkpoint (${later}) is kept`);
  assert.ok(fs.existsSync(later));
});

test("a truncated .jsonl.gz and a corrupt JSON file name the file", () => {
  const data = path.join(tmp, "cut");
  fs.mkdirSync(data);
  const rows = fs.readFileSync(
    path.join(
      ROOT,
      "data",
      "esnli",
      fs.readdirSync(path.join(ROOT, "data", "esnli")).find((f) => f.startsWith("test."))!,
    ),
  );
  const gz = rows[0] === 0x1f ? rows : zlib.gzipSync(rows);
  fs.writeFileSync(path.join(data, "test.jsonl.gz"), gz.subarray(0, Math.floor(gz.length / 2)));
  const r = xft("data", "check", path.join(data, "test.jsonl.gz"));
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /test\.jsonl\.gz: truncated or corrupt gzip/);
  const card = path.join(tmp, "base-card");
  fs.mkdirSync(card);
  fs.writeFileSync(path.join(card, "base.json"), '{"model": {"layers": 1,');
  assert.throws(() => readBaseCard(card), new RegExp(`base ${card}: .*base\\.json is not valid JSON`));
});

test("xft reproduce --jobs 2 with failing jobs names each job's failure, its error and the command that reruns it", () => {
  const r = xft(
    "reproduce",
    "--profile",
    "ci",
    "--part",
    "explanations",
    "--init",
    "base",
    "--base",
    path.join(tmp, "no-base"),
    "--jobs",
    "2",
    "--runs-dir",
    path.join(tmp, "jobs-runs"),
  );
  assert.notEqual(r.status, 0);
  for (const j of [1, 2]) {
    assert.match(r.stderr, new RegExp(`job ${j}/2 failed \\(exit 1\\): .*no base model here`));
    assert.match(
      r.stderr,
      new RegExp(`rerun it alone: npx xft reproduce --profile ci --part explanations --shard ${j}/2 --train-only --init base --base \\S+no-base`),
    );
  }
  assert.doesNotMatch(r.stderr, /exit null/);
});
