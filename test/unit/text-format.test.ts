/**
 * The plain-text format of pretrained checkpoints (src/text/format.ts) and the readout over labels of several
 * tokens (src/eval/readout.ts): the template a person reads, targets of every condition, and label distributions
 * that equal the summed log-probabilities computed by hand.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { initBackend, tf } from "../../src/backend/engine";
import type { Example } from "../../src/data/schema";
import { readLabelsBatch } from "../../src/eval/readout";
import { createParams, disposeParams, forward, LlamaConfig, logitsAt } from "../../src/model/model";
import { plainFormat, xftFormat } from "../../src/text/format";
import { HfTokenizer } from "../../src/text/hf-tokenizer";
import { XftTokenizer } from "../../src/text/tokenizer";
import { PseudoExplanations } from "../../src/train/pseudo";
import { encodeExample, encodeRationalePrompt } from "../../src/train/sequences";
import { fixtureDir, fixturesUnavailable } from "./hf-fixtures";

const skip = fixturesUnavailable();
const example: Example = {
  id: "x1",
  source: "t",
  dimension: "on-topic",
  context: [
    { role: "user", text: "Where is   the\nstation?" },
    { role: "assistant", text: "Which one?" },
  ],
  response: "The central one, near the park.",
  label: "4",
  labelSet: ["1", "2", "3", "4", "5"],
  explanations: ["It answers\nthe question directly."],
  split: "train",
};
const SEQ = { maxLen: 128, maxExplTokens: 40 };

test("plain format: the prompt reads as the documented template, the target as the label's words", { skip }, () => {
  const tok = HfTokenizer.load(fixtureDir("llama-gqa"));
  const fmt = plainFormat(tok);
  const e = encodeExample(example, "label+expl", fmt, SEQ);
  assert.equal(e.tokens[0], tok.bosId, "the checkpoint's BOS starts the prompt");
  assert.equal(
    fmt.decode(e.tokens.slice(1, e.promptLen)),
    "Task: on-topic (1, 2, 3, 4, 5)\nUser: Where is the station?\nAssistant: Which one?\nResponse: The central one, near the park.\nScore:",
  );
  assert.equal(fmt.decode(e.tokens.slice(e.promptLen)), " 4\nExplanation: It answers the question directly.</s>");
  const label = encodeExample(example, "label", fmt, SEQ);
  assert.equal(fmt.decode(label.tokens.slice(label.promptLen)), " 4</s>");
  const rationale = encodeExample(example, "expl+label", fmt, SEQ);
  assert.ok(fmt.decode(rationale.tokens.slice(0, rationale.promptLen)).endsWith("Response: The central one, near the park.\nExplanation:"));
  assert.equal(fmt.decode(rationale.tokens.slice(rationale.promptLen)), " It answers the question directly.\nScore: 4</s>");
  assert.deepEqual(
    encodeRationalePrompt(example, fmt, SEQ).tokens,
    rationale.tokens.slice(0, rationale.promptLen),
    "the test prompt is the training prompt",
  );
  // A generated newline ends a rationale; eos ends it too; other tokens continue it.
  assert.equal(fmt.endsRationale(fmt.encode("\n")[0], []), "label");
  assert.equal(fmt.endsRationale(tok.eosId!, []), "eos");
  assert.equal(fmt.endsRationale(fmt.encode(" the")[0], []), undefined);
});

test("plain format: pseudo-explanations come from the checkpoint's vocabulary, never its special tokens", { skip }, () => {
  const tok = HfTokenizer.load(fixtureDir("qwen2"));
  const fmt = plainFormat(tok);
  const pseudo = new PseudoExplanations([example, { ...example, id: "x2", explanations: ["another reason entirely"] }], fmt, 1);
  const random = pseudo.tokens(example, "label+random", 40);
  assert.equal(random.length, fmt.encodeExplanation("It answers the question directly.").length);
  assert.ok(random.every((id) => id >= 0 && id < tok.vocabSize && ![tok.bosId, tok.eosId, tok.padId, tok.unkId].includes(id)));
  assert.deepEqual(new Set(pseudo.tokens(example, "label+filler", 40)), new Set([fmt.encode(".")[0]]));
  assert.equal(fmt.decode(pseudo.tokens(example, "label+mismatched", 40)), " another reason entirely");
});

test("xft's format gives exactly the sequences xft's models trained on", () => {
  const tok = XftTokenizer.load();
  const e = encodeExample(example, "label+expl", xftFormat(tok), SEQ);
  const s = (name: string) => tok.special(name);
  assert.equal(e.tokens[e.promptLen - 1], s("<|score|>"));
  assert.deepEqual(e.tokens.slice(e.promptLen), [
    tok.labelToken(3),
    s("<|expl|>"),
    ...tok.encode("It answers\nthe question directly."),
    s("<|eos|>"),
  ]);
});

test("labels of several tokens: each label's summed log-probability after the prompt, renormalised", async () => {
  await initBackend({ quiet: true });
  const config: LlamaConfig = {
    family: "llama",
    modelType: "llama",
    vocabSize: 40,
    maxLen: 16,
    layers: 1,
    dModel: 16,
    heads: 2,
    kvHeads: 1,
    headDim: 8,
    mlpDim: 32,
    normEps: 1e-6,
    ropeTheta: 10000,
    ropeScale: 1,
    qkvBias: false,
    outBias: false,
    mlpBias: false,
    untiedHead: true,
    initStd: 0.5,
  };
  const params = createParams(config, 3);
  try {
    const prompts = [
      [1, 2, 3, 4],
      [5, 6],
    ];
    const labels = [[7], [8, 9], [10, 11, 12]];
    const got = await readLabelsBatch(params, config, prompts, labels, 0);
    // By hand: the log-softmax of the full vocabulary at each position that predicts a label token.
    const logprob = (seq: number[], next: number) =>
      tf.tidy(() => {
        const { hidden } = forward(params, config, tf.tensor2d([seq], [1, seq.length], "int32"));
        return tf.logSoftmax(logitsAt(params, hidden, tf.tensor1d([seq.length - 1], "int32"))).dataSync()[next];
      });
    prompts.forEach((p, i) => {
      const scores = labels.map((l) => l.reduce((sum, token, j) => sum + logprob([...p, ...l.slice(0, j)], token), 0));
      const z = scores.reduce((a, s) => a + Math.exp(s), 0);
      scores.forEach((s, k) =>
        assert.ok(Math.abs(got[i * 3 + k] - Math.exp(s) / z) < 1e-5, `prompt ${i}, label ${k}: ${got[i * 3 + k]} vs ${Math.exp(s) / z}`),
      );
    });
    // Single-token labels take the fast path; it agrees with the general one.
    const single = await readLabelsBatch(params, config, prompts, [[7], [8]], 0);
    const general = await readLabelsBatch(params, config, prompts, [[7], [8], [8, 9]], 0);
    prompts.forEach((_, i) => {
      const ratio = general[i * 3] / (general[i * 3] + general[i * 3 + 1]);
      assert.ok(Math.abs(single[i * 2] - ratio) < 1e-5);
    });
  } finally {
    disposeParams(params);
  }
});
