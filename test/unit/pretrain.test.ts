import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { initBackend } from "../../src/backend/engine";
import type { Example } from "../../src/data/schema";
import { probeRun } from "../../src/probe/run-probe";
import { readBaseCard } from "../../src/runs/base";
import { loadRunModel, runExperiment } from "../../src/runs/experiment";
import { GRID_PROFILES } from "../../src/runs/grid";
import { pretrain } from "../../src/runs/pretrain";
import { buildCorpus, packBlocks, xftDocuments } from "../../src/text/corpus";
import { XftTokenizer } from "../../src/text/tokenizer";
import { disposeParams } from "../../src/model/model";
import { Rng } from "../../src/util/rng";

const WORDS = "the a model answer question helpful kind clear short long topic reply user assistant says asks good bad fine very not quite".split(
  " ",
);
const SHARED_RESPONSE = "this exact reply is in the test split too";
const TEST_EXPLANATION = "an explanation only the test split has";

function sentence(rng: Rng, n: number): string {
  return Array.from({ length: n }, () => WORDS[rng.int(WORDS.length)]).join(" ");
}

function row(i: number, split: "train" | "test", rng: Rng, response = sentence(rng, 14), explanation = sentence(rng, 10)): Example {
  const labelSet = ["1", "2", "3"];
  return {
    id: `${split}-${i}`,
    source: "tiny",
    dimension: "quality",
    context: [{ role: "user", text: sentence(rng, 12) }],
    response,
    label: labelSet[rng.int(3)],
    labelSet,
    explanations: [explanation],
    split,
  };
}

/** A project root with the real tokenizer and one small dataset; some of its train texts are also test texts. */
function tinyProject(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "xft-pretrain-"));
  fs.mkdirSync(path.join(root, "data", "tiny"), { recursive: true });
  fs.copyFileSync(path.join(process.cwd(), "data", "tokenizer.json"), path.join(root, "data", "tokenizer.json"));
  const rng = new Rng(1);
  const train = Array.from({ length: 300 }, (_, i) => row(i, "train", rng));
  train[0] = row(0, "train", rng, SHARED_RESPONSE);
  train[1] = row(1, "train", rng, undefined, TEST_EXPLANATION);
  const test = Array.from({ length: 40 }, (_, i) => row(i, "test", rng));
  test[0] = row(0, "test", rng, SHARED_RESPONSE, TEST_EXPLANATION);
  for (const [split, rows] of [
    ["train", train],
    ["test", test],
  ] as const) {
    fs.writeFileSync(path.join(root, "data", "tiny", `${split}.jsonl`), rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  }
  return root;
}

const root = tinyProject();
process.env.XFT_ROOT = root;

test("the pretraining corpus has every train text once and no text of any test split", () => {
  const tok = XftTokenizer.load();
  const corpus = buildCorpus(xftDocuments(tok), { root });
  const texts = [...corpus.train, ...corpus.heldOut].map((d) => tok.decode(d));
  assert.equal(corpus.stats.excludedForTest, 2, "the conversation with the shared response and the test explanation");
  assert.ok(!texts.some((t) => t.includes(SHARED_RESPONSE) || t.includes(TEST_EXPLANATION)));
  assert.equal(corpus.stats.conversations + corpus.stats.explanations, corpus.stats.trainDocuments + corpus.stats.heldOutDocuments);
  assert.equal(corpus.stats.conversations, 299);
  assert.ok(corpus.stats.heldOutDocuments > 0 && corpus.stats.heldOutDocuments < corpus.stats.trainDocuments / 20);
  assert.ok(!texts.some((t) => /<\|label_/.test(t)), "no labels");
  const blocks = packBlocks(corpus.train, 32, 1);
  assert.ok(blocks.every((b) => b.length === 33));
  assert.deepEqual(blocks[1][0], blocks[0][32], "consecutive blocks share one token");
  assert.deepEqual(packBlocks(corpus.train, 32, 1), blocks, "seeded");
});

test("xft pretrain: the loss falls, the card says what it was trained on, and a resumed base equals an uninterrupted one", async () => {
  await initBackend();
  const whole = await pretrain("ci", { out: path.join(root, "base-a") });
  assert.equal(whole.status, "done");
  const card = whole.card!;
  assert.equal(card.tokensSeen, card.train.steps * card.train.batchSize * card.model.maxLen);
  assert.ok(card.losses.at(-1)!.loss < card.losses[0].loss - 1, `loss ${card.losses[0].loss} -> ${card.losses.at(-1)!.loss}`);
  assert.ok(card.heldOut.perplexity < card.model.vocabSize / 4, `held-out perplexity ${card.heldOut.perplexity}`);
  assert.deepEqual(fs.readdirSync(whole.dir).sort(), ["CARD.md", "base.json", "config.json", "model.safetensors.gz"]);
  assert.match(fs.readFileSync(path.join(whole.dir, "CARD.md"), "utf8"), /Held-out: loss [\d.]+, perplexity [\d.]+/);

  let steps = 0;
  const out = path.join(root, "base-b");
  const stopped = await pretrain("ci", { out, shouldStop: () => ++steps === 30 });
  assert.equal(stopped.status, "stopped");
  const resumed = await pretrain("ci", { out });
  assert.equal(resumed.card!.weightsHash, card.weightsHash, "same weights after an interruption");
  assert.equal((await pretrain("ci", { out })).reused, true);
  assert.throws(() => readBaseCard(path.join(root, "nowhere")), /no base model here/);
});

test("runs from the base: full fine-tuning and LoRA record the base; the LoRA run saves its adapter and probes on the merged model", async () => {
  await initBackend();
  const baseDir = path.join(root, "base-a");
  const card = readBaseCard(baseDir);
  const runsDir = path.join(root, "runs");
  const profile = GRID_PROFILES.ci.profile;
  const spec = { dataset: "tiny", condition: "label", seed: 1, profile };
  const scratch = await runExperiment(spec, { runsDir });
  const full = await runExperiment({ ...spec, init: "base", base: baseDir }, { runsDir });
  const lora = await runExperiment({ ...spec, init: "base", base: baseDir, adapter: "lora", lora: { rank: 2 } }, { runsDir });
  assert.equal(new Set([scratch.key, full.key, lora.key]).size, 3);
  assert.deepEqual(scratch.init, { from: "scratch" });
  assert.equal(full.init?.from === "base" && full.init.hash, card.weightsHash);
  assert.equal(lora.adapter?.rank, 2);
  assert.ok(fs.existsSync(path.join(lora.dir, "adapter.safetensors")) && !fs.existsSync(path.join(lora.dir, "model.safetensors")));
  assert.ok(fs.existsSync(path.join(full.dir, "model.safetensors")));
  // The probe checks its logit lens against the run's stored predictions: the merged model is the one evaluated.
  const probe = await probeRun(lora);
  assert.equal(probe.examples, lora.data.test);
  const { params } = loadRunModel(lora);
  disposeParams(params);
  await assert.rejects(runExperiment({ ...spec, adapter: "lora" }, { runsDir }), /a LoRA adapter needs pretrained weights: use init base/);
  await assert.rejects(runExperiment({ ...spec, init: "base", base: path.join(root, "nowhere") }, { runsDir }), /no base model here/);
});
