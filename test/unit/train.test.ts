import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { initBackend, tf } from "../../src/backend/engine";
import type { Example } from "../../src/data/schema";
import { createParams, disposeParams, GptConfig, paramsToValues } from "../../src/model/model";
import { xftFormat } from "../../src/text/format";
import { XftTokenizer } from "../../src/text/tokenizer";
import { AdamW, learningRate, OptimizerConfig } from "../../src/train/optimizer";
import { encodeExample, makeBatch, parseCondition, EncodedExample } from "../../src/train/sequences";
import { DataOrder, train, TrainConfig } from "../../src/train/trainer";
import { Rng } from "../../src/util/rng";

const tok = XftTokenizer.load();
const fmt = xftFormat(tok);
const example: Example = {
  id: "x1",
  source: "test",
  dimension: "entailment",
  context: [{ role: "premise", text: "A man plays a guitar on stage." }],
  response: "A man is performing music.",
  label: "entailment",
  labelSet: ["entailment", "neutral", "contradiction"],
  explanations: ["Playing a guitar on stage is performing music."],
  split: "train",
};
const SEQ = { maxLen: 64, maxExplTokens: 8 };

test("label condition: the target is the label token and <|eos|>", () => {
  const e = encodeExample(example, "label", fmt, SEQ);
  assert.deepEqual(e.tokens.slice(e.promptLen), [tok.labelToken(0), tok.special("<|eos|>")]);
  assert.equal(e.tokens[e.promptLen - 1], tok.special("<|score|>"));
  assert.equal(e.tokens[0], tok.special("<|bos|>"));
  assert.ok(e.tokens.includes(tok.roleToken("premise")));
});

test("label+expl condition: label, <|expl|>, the explanation (capped), <|eos|>", () => {
  const e = encodeExample(example, "label+expl", fmt, SEQ);
  const target = e.tokens.slice(e.promptLen);
  assert.equal(target[0], tok.labelToken(0));
  assert.equal(target[1], tok.special("<|expl|>"));
  assert.deepEqual(target.slice(2, -1), tok.encode(example.explanations[0]).slice(0, 8));
  assert.equal(target.at(-1), tok.special("<|eos|>"));
  // The prompt does not depend on the condition.
  assert.deepEqual(e.tokens.slice(0, e.promptLen), encodeExample(example, "label", fmt, SEQ).tokens.slice(0, e.promptLen));
});

test("an over-long example loses the start of its context, never the response or the cue", () => {
  const long = { ...example, context: [{ role: "premise" as const, text: "word ".repeat(200) }] };
  const e = encodeExample(long, "label+expl", fmt, SEQ);
  assert.equal(e.tokens.length, SEQ.maxLen);
  const responseIds = tok.encode(example.response);
  assert.deepEqual(e.tokens.slice(e.promptLen - 1 - responseIds.length, e.promptLen - 1), responseIds);
});

test("an over-long response keeps its start and leaves the question at least half the room", () => {
  const question = "Which vaccine should I get first?";
  const long = { ...example, context: [{ role: "user" as const, text: question }], response: "The answer is long. ".repeat(100) };
  const e = encodeExample(long, "label", fmt, SEQ);
  assert.equal(e.tokens.length, SEQ.maxLen);
  const q = tok.encode(question);
  const at = e.tokens.indexOf(tok.roleToken("user"));
  assert.deepEqual(e.tokens.slice(at + 1, at + 1 + q.length), q, "the whole question is kept");
  const r = e.tokens.indexOf(tok.special("<|response|>"));
  assert.deepEqual(e.tokens.slice(r + 1, r + 6), tok.encode(long.response).slice(0, 5), "the response keeps its start");
});

test("missing explanation and unknown condition are clear errors", () => {
  assert.throws(() => encodeExample({ ...example, explanations: [] }, "label+expl", fmt, SEQ), /example x1: this condition needs an explanation/);
  assert.throws(() => parseCondition("label+magic"), /unknown condition "label\+magic"; known: label, label\+expl/);
});

test("a batch trains only the target positions and pads to a multiple of 8", () => {
  const a = encodeExample(example, "label", fmt, SEQ);
  const b = encodeExample(example, "label+expl", fmt, SEQ);
  const batch = makeBatch([a, b], tok.special("<|pad|>"), SEQ.maxLen);
  assert.equal(batch.length % 8, 0);
  assert.equal(batch.lossPositions.length, a.tokens.length - a.promptLen + (b.tokens.length - b.promptLen));
  assert.equal(batch.lossPositions[0], a.promptLen - 1);
  assert.equal(batch.lossTargets[0], tok.labelToken(0));
  assert.equal(batch.inputs[batch.length - 1], tok.special("<|pad|>"));
});

test("learning rate: linear warm-up, cosine decay to minLr", () => {
  const c = { lr: 1, minLr: 0.1, warmupSteps: 10 } as OptimizerConfig;
  assert.equal(learningRate(c, 5, 110), 0.5);
  assert.equal(learningRate(c, 10, 110), 1);
  assert.ok(Math.abs(learningRate(c, 60, 110) - 0.55) < 1e-12);
  assert.ok(Math.abs(learningRate(c, 110, 110) - 0.1) < 1e-12);
});

test("AdamW: two steps match the formula, with decay on matrices only and clipping; a clone taken before keeps its values", async () => {
  await initBackend({ quiet: true });
  // Made in a tidy, so that each variable alone holds its data and the fused op updates it in place.
  const params = tf.tidy(() => ({ w: tf.variable(tf.tensor2d([[1, -2]])), b: tf.variable(tf.tensor1d([0.5])) }));
  const c: OptimizerConfig = { lr: 0.1, minLr: 0, warmupSteps: 0, weightDecay: 0.5, beta1: 0.9, beta2: 0.99, eps: 1e-8, gradClip: 1 };
  const opt = new AdamW(c, params);
  const before = params.w.clone();
  // Global norm of these gradients is 5, so they are scaled by 1/5 before the update. With the same gradients on
  // both steps, m_hat / sqrt(v_hat) = sign(g) (for g != 0) on each.
  const grads = { w: tf.tensor2d([[3, 0]]), b: tf.tensor1d([-4]) };
  let expected = { w: [1, -2], b: 0.5 };
  for (let step = 1; step <= 2; step++) {
    const norm = opt.apply(grads, 0.1);
    assert.ok(Math.abs(norm.dataSync()[0] - 5) < 1e-6);
    expected = { w: [expected.w[0] - 0.1 * (1 + 0.5 * expected.w[0]), expected.w[1] - 0.1 * (0 + 0.5 * expected.w[1])], b: expected.b + 0.1 };
    const w = params.w.dataSync();
    expected.w.forEach((x, i) => assert.ok(Math.abs(w[i] - x) < 1e-6, `step ${step}: w[${i}] = ${w[i]}, expected ${x}`));
    assert.ok(Math.abs(params.b.dataSync()[0] - expected.b) < 1e-6, `step ${step}: no decay on a bias`);
  }
  assert.deepEqual(Array.from(before.dataSync()), [1, -2], "a clone shares the variable's data: the update must not write over it");
  tf.dispose([before, grads.w, grads.b, params.w, params.b]);
  opt.dispose();
});

test("data order: every example once per epoch, reshuffled per epoch, the same for the same seed", () => {
  const order = new DataOrder(10, 3, 5);
  const epoch0 = [0, 1, 2].flatMap((s) => order.batchIndices(s));
  assert.equal(new Set(epoch0).size, 9);
  const epoch1 = [3, 4, 5].flatMap((s) => order.batchIndices(s));
  assert.notDeepEqual(epoch0, epoch1);
  assert.deepEqual(
    [0, 1, 2].flatMap((s) => new DataOrder(10, 3, 5).batchIndices(s)),
    epoch0,
  );
  assert.notDeepEqual(
    [0, 1, 2].flatMap((s) => new DataOrder(10, 3, 6).batchIndices(s)),
    epoch0,
  );
});

const MODEL: GptConfig = { vocabSize: tok.vocabSize, maxLen: 32, layers: 1, dModel: 16, heads: 2, mlpRatio: 2, initStd: 0.02 };
function synthetic(n: number): EncodedExample[] {
  const rng = new Rng(3);
  return Array.from({ length: n }, () => {
    const label = rng.int(3);
    const prompt = [tok.special("<|bos|>"), ...Array.from({ length: 6 }, () => 100 + rng.int(50) + label * 50), tok.special("<|score|>")];
    return { tokens: [...prompt, tok.labelToken(label), tok.special("<|eos|>")], promptLen: prompt.length, label };
  });
}
const CONFIG: TrainConfig = {
  lr: 3e-3,
  minLr: 3e-4,
  warmupSteps: 2,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.99,
  eps: 1e-8,
  gradClip: 1,
  steps: 12,
  batchSize: 8,
  seed: 1,
  checkpointEvery: 4,
};

async function trainOnce(opts: { checkpointFile?: string; stopAt?: number } = {}) {
  const params = createParams(MODEL, 9);
  const result = await train({
    params,
    model: MODEL,
    config: CONFIG,
    examples: synthetic(40),
    padId: tok.special("<|pad|>"),
    checkpointFile: opts.checkpointFile,
    shouldStop: () => false,
    onProgress: (p) => {
      if (p.step === opts.stopAt) throw new Error("simulated crash");
    },
  }).catch((err) => (err as Error).message);
  const values = await paramsToValues(params);
  disposeParams(params);
  return { result, values };
}

test("the same seed gives the same numbers, and the loss falls", async () => {
  await initBackend({ quiet: true });
  const a = await trainOnce();
  const b = await trainOnce();
  assert.ok(typeof a.result !== "string" && typeof b.result !== "string");
  assert.deepEqual(a.result.losses, b.result.losses);
  assert.deepEqual(a.values, b.values);
  assert.ok(a.result.losses.at(-1)!.loss < a.result.losses[0].loss);
});

test("a run interrupted after a checkpoint resumes to the same numbers as an uninterrupted one", async () => {
  await initBackend({ quiet: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xft-ckpt-"));
  const file = path.join(dir, "checkpoint.safetensors");
  const full = await trainOnce();
  const crashed = await trainOnce({ checkpointFile: file, stopAt: 6 }); // last checkpoint: step 4
  assert.equal(crashed.result, "simulated crash");
  assert.ok(fs.existsSync(file));
  const resumed = await trainOnce({ checkpointFile: file });
  assert.ok(typeof resumed.result !== "string" && typeof full.result !== "string");
  assert.equal(resumed.result.resumedFromStep, 4);
  assert.deepEqual(resumed.result.losses, full.result.losses);
  assert.deepEqual(resumed.values, full.values);
  assert.deepEqual(fs.readdirSync(dir), ["checkpoint.safetensors"], "no temporary files left behind");
  fs.rmSync(dir, { recursive: true });
});
