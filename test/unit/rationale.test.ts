/**
 * The rationale-first condition `expl+label`: its training target, the readout that generates the explanation
 * greedily before reading the label, and a whole run.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { initBackend } from "../../src/backend/engine";
import type { Example } from "../../src/data/schema";
import { readLabels, readLabelsRationaleFirst, RationaleReadout } from "../../src/eval/readout";
import { disposeParams, GptConfig, initialValues, Params, paramsFromValues } from "../../src/model/model";
import { Prediction, runExperiment } from "../../src/runs/experiment";
import type { Profile } from "../../src/runs/profiles";
import { xftFormat } from "../../src/text/format";
import { XftTokenizer } from "../../src/text/tokenizer";
import { PseudoExplanations } from "../../src/train/pseudo";
import {
  CONDITIONS,
  encodeExample,
  encodePrompt,
  encodeRationalePrompt,
  EncodedExample,
  explanationTokens,
  isPseudo,
  isRationaleFirst,
  labelTokenIndex,
  makeBatch,
  parseCondition,
} from "../../src/train/sequences";

const tok = XftTokenizer.load();
const fmt = xftFormat(tok);
const example: Example = {
  id: "x1",
  source: "test",
  dimension: "entailment",
  context: [{ role: "premise", text: "A man plays a guitar on stage." }],
  response: "A man is performing music.",
  label: "neutral",
  labelSet: ["entailment", "neutral", "contradiction"],
  explanations: ["Playing a guitar on stage is performing music, for an audience."],
  split: "train",
};
const SEQ = { maxLen: 64, maxExplTokens: 8 };
const EXPL = tok.special("<|expl|>");
const EOS = tok.special("<|eos|>");
const PAD = tok.special("<|pad|>");

test("expl+label: a known condition after label+expl, neither pseudo nor label-first", () => {
  assert.equal(parseCondition("expl+label"), "expl+label");
  assert.equal(CONDITIONS.indexOf("expl+label"), CONDITIONS.indexOf("label+expl") + 1);
  assert.equal(isPseudo("expl+label"), false);
  assert.equal(isRationaleFirst("expl+label"), true);
  assert.ok(CONDITIONS.filter(isRationaleFirst).length === 1);
});

test("expl+label target: <|expl|>, the real explanation (capped), the label, <|eos|>; the loss covers all of it", () => {
  assert.ok(tok.encode(example.explanations[0]).length > SEQ.maxExplTokens, "the explanation is long enough to be capped");
  const e = encodeExample(example, "expl+label", fmt, SEQ);
  const target = e.tokens.slice(e.promptLen);
  const explanation = tok.encode(example.explanations[0]).slice(0, SEQ.maxExplTokens);
  assert.deepEqual(target, [EXPL, ...explanation, tok.labelToken(1), EOS]);
  assert.equal(e.label, 1);
  assert.equal(e.tokens[e.promptLen - 1], tok.special("<|score|>"));
  // The same explanation tokens as label+expl, and the same prompt.
  const le = encodeExample(example, "label+expl", fmt, SEQ);
  assert.deepEqual(
    explanationTokens(example, "expl+label", fmt, SEQ.maxExplTokens),
    explanationTokens(example, "label+expl", fmt, SEQ.maxExplTokens),
  );
  assert.deepEqual(e.tokens.slice(0, e.promptLen), le.tokens.slice(0, le.promptLen));
  // Where the label is: after the explanation for expl+label, right after the prompt for label-first conditions.
  assert.equal(e.tokens[labelTokenIndex(e, "expl+label", fmt, 1)], tok.labelToken(1));
  assert.equal(le.tokens[labelTokenIndex(le, "label+expl", fmt, 1)], tok.labelToken(1));
  assert.equal(labelTokenIndex(e, "expl+label", fmt, 1), e.promptLen + 1 + SEQ.maxExplTokens);
  // Loss on every target token, the label included, predicted from the last explanation token.
  const batch = makeBatch([e], PAD, SEQ.maxLen);
  assert.deepEqual(batch.lossTargets, target);
  assert.deepEqual(
    batch.lossPositions,
    target.map((_, j) => e.promptLen - 1 + j),
  );
  // Without an explanation it is the same clear error as label+expl, and the pseudo helpers do not apply.
  assert.throws(() => encodeExample({ ...example, explanations: [] }, "expl+label", fmt, SEQ), /example x1: this condition needs an explanation/);
  const pseudo = new PseudoExplanations([example, { ...example, id: "x2", explanations: ["another one"] }], fmt, 1);
  assert.deepEqual(encodeExample(example, "expl+label", fmt, SEQ, pseudo).tokens, e.tokens, "a pseudo source changes nothing");
});

test("expl+label with no explanation budget: <|expl|> then the label", () => {
  const e = encodeExample(example, "expl+label", fmt, { ...SEQ, maxExplTokens: 0 });
  assert.deepEqual(e.tokens.slice(e.promptLen), [EXPL, tok.labelToken(1), EOS]);
});

test("a rationale-first test prompt leaves room for <|expl|>, the capped explanation, the label and <|eos|>", () => {
  const long = { ...example, context: [{ role: "premise" as const, text: "word ".repeat(200) }], explanations: [] };
  const p = encodeRationalePrompt(long, fmt, SEQ);
  assert.equal(p.tokens.length, SEQ.maxLen - (SEQ.maxExplTokens + 3));
  assert.equal(p.promptLen, p.tokens.length);
  assert.equal(p.tokens.at(-1), tok.special("<|score|>"));
  assert.equal(p.label, 1);
  assert.deepEqual(p.tokens, encodePrompt(long, fmt, SEQ.maxLen - SEQ.maxExplTokens - 3));
  // A short example has the prompt training sees.
  const short = encodeExample(example, "expl+label", fmt, SEQ);
  assert.deepEqual(encodeRationalePrompt(example, fmt, SEQ).tokens, short.tokens.slice(0, short.promptLen));
});

/*
 * A hand-built model whose greedy next token is set by the position alone: every block's weights are small
 * random ones (so that attention mixes the context a little and padding would show), the token embedding is
 * one-hot on a few tokens and zero elsewhere, and the position embedding at t points strongly to TARGET[t].
 * The tied head then makes TARGET[t] the argmax at position t, whatever came before.
 */
const A = tok.encode(" the")[0];
const B = tok.encode(" music")[0];
const C = tok.encode(" stage")[0];
const L = [0, 1, 2].map((k) => tok.labelToken(k));
const LABELS = L.map((id) => [id]);
const OUT = [A, B, C, ...L, EOS];
const MAXLEN = 32;
// Position -> greedy token. Rows with <|expl|> at 3, 6, 7, 10, 13, 16, 28 (prompt lengths) stop differently.
const TARGET: Record<number, number> = {
  3: A,
  4: B,
  5: C,
  6: L[1],
  7: B,
  8: EOS,
  9: A,
  10: A,
  11: C,
  12: A,
  13: B,
  14: C,
  15: A,
  16: C,
  17: L[2],
};
const targetAt = (t: number) => TARGET[t] ?? A;
const BIGRAM: GptConfig = { vocabSize: tok.vocabSize, maxLen: MAXLEN, layers: 2, dModel: 16, heads: 2, mlpRatio: 2, initStd: 0.1 };

function positionModel(): Params {
  const values = initialValues(BIGRAM, 5);
  const d = BIGRAM.dModel;
  const wte = new Float32Array(BIGRAM.vocabSize * d);
  OUT.forEach((id, j) => {
    wte[id * d + j] = 1;
  });
  const wpe = new Float32Array(MAXLEN * d);
  for (let t = 0; t < MAXLEN; t++) {
    for (let j = 0; j < d; j++) wpe[t * d + j] = 0.4 * Math.cos(1.3 * t + 0.7 * j);
    wpe[t * d + OUT.indexOf(targetAt(t))] += 5;
  }
  values.set("wte", wte);
  values.set("wpe", wpe);
  values.set("ln_f.g", new Float32Array(d).fill(1));
  values.set("ln_f.b", new Float32Array(d));
  return paramsFromValues(BIGRAM, values);
}

/** A prompt of n tokens ending in <|score|>; the filler tokens have a zero embedding. */
function prompt(n: number, label = 0): EncodedExample {
  const filler = Array.from({ length: n - 2 }, (_, i) => 200 + i);
  const tokens = [tok.special("<|bos|>"), ...filler, tok.special("<|score|>")];
  return { tokens, promptLen: tokens.length, label };
}

const rationaleOpts = (maxExplTokens: number, batchSize?: number) => ({ maxExplTokens, batchSize });

/** readLabels at the last token of each example's prompt + <|expl|> + rationale: what the rationale readout must give. */
async function oracle(params: Params, examples: EncodedExample[], r: RationaleReadout): Promise<Float32Array> {
  const full = examples.map((e, i) => {
    const tokens = [...e.tokens.slice(0, e.promptLen), EXPL, ...r.rationales[i]];
    return { tokens, promptLen: tokens.length, label: e.label };
  });
  return (await readLabels(params, BIGRAM, full, LABELS, { padId: PAD })).probs;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = 1e-5): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

test("rationale readout: a label token as the first argmax is read at <|expl|>, exactly as readLabels reads it", async () => {
  await initBackend({ quiet: true });
  const params = positionModel();
  try {
    const ex = prompt(6, 1); // <|expl|> at position 6, where the argmax is <|label_1|>
    const r = await readLabelsRationaleFirst(params, BIGRAM, [ex], LABELS, fmt, rationaleOpts(5));
    assert.deepEqual(r.rationales, [[]]);
    assert.deepEqual(r.stops, ["label"]);
    const direct = await readLabels(params, BIGRAM, [{ tokens: [...ex.tokens, EXPL], promptLen: ex.tokens.length + 1, label: 1 }], LABELS, {
      padId: PAD,
    });
    assertClose(r.probs, direct.probs, "probs", 1e-6);
    assert.deepEqual(r.predicted, [1]);
    assert.deepEqual(r.gold, [1]);
    assert.equal(r.k, 3);
    // Not the <|score|> position's distribution, which readLabels gives for label-first conditions.
    const atScore = await readLabels(params, BIGRAM, [ex], LABELS, { padId: PAD });
    assert.ok(Math.abs(atScore.probs[1] - r.probs[1]) > 1e-3);
  } finally {
    disposeParams(params);
  }
});

test("rationale readout: generation stops at a label, at <|eos|>, at the cap and at the model's maxLen", async () => {
  await initBackend({ quiet: true });
  const params = positionModel();
  try {
    const examples = [3, 7, 10, 13, 16, 28].map((n) => prompt(n));
    const r = await readLabelsRationaleFirst(params, BIGRAM, examples, LABELS, fmt, rationaleOpts(5));
    assert.deepEqual(r.rationales, [
      [A, B, C], // then <|label_1|> at position 6
      [B], // then <|eos|> at 8
      [A, C, A, B, C], // five tokens: the cap, read at position 15
      [B, C, A, C], // then <|label_2|> at 17, just under the cap
      [C], // then <|label_2|> at 17
      [A, A, A], // positions 28..30: the fourth token would not fit in maxLen 32
    ]);
    assert.deepEqual(r.stops, ["label", "eos", "cap", "label", "label", "cap"]);
    assertClose(r.probs, await oracle(params, examples, r), "probs vs readLabels after the rationale");
    assert.equal(r.predicted[0], 1);
    assert.equal(r.predicted[3], 2);
    // A cap of zero reads every row at <|expl|>.
    const none = await readLabelsRationaleFirst(params, BIGRAM, examples, LABELS, fmt, rationaleOpts(0));
    assert.deepEqual(
      none.rationales,
      examples.map(() => []),
    );
    assert.deepEqual(none.stops, ["cap", "cap", "cap", "cap", "cap", "cap"]);
    assertClose(none.probs, await oracle(params, examples, none), "cap 0 probs");
  } finally {
    disposeParams(params);
  }
});

test("rationale readout: rows that stop at different steps in one batch give what each gives alone", async () => {
  await initBackend({ quiet: true });
  const params = positionModel();
  try {
    const examples = [10, 3, 16, 7, 13, 6, 28, 4].map((n, i) => prompt(n, i % 3));
    const together = await readLabelsRationaleFirst(params, BIGRAM, examples, LABELS, fmt, rationaleOpts(5));
    const inPairs = await readLabelsRationaleFirst(params, BIGRAM, examples, LABELS, fmt, rationaleOpts(5, 3));
    const progress: number[] = [];
    const alone = await readLabelsRationaleFirst(params, BIGRAM, examples, LABELS, fmt, {
      ...rationaleOpts(5, 1),
      onProgress: (done) => progress.push(done),
    });
    assert.deepEqual(progress, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.ok(new Set(together.rationales.map((x) => x.length)).size >= 4, "the rows stop at different steps");
    for (const other of [inPairs, alone]) {
      assert.deepEqual(other.rationales, together.rationales);
      assert.deepEqual(other.stops, together.stops);
      assert.deepEqual(other.predicted, together.predicted);
      assertClose(other.probs, together.probs, "probs");
    }
    assert.deepEqual(
      together.gold,
      examples.map((e) => e.label),
    );
  } finally {
    disposeParams(params);
  }
});

test("rationale readout: a prompt with no room for a rationale and a bad cap are clear errors", async () => {
  await initBackend({ quiet: true });
  const params = positionModel();
  try {
    await assert.rejects(
      readLabelsRationaleFirst(params, BIGRAM, [prompt(MAXLEN)], LABELS, fmt, rationaleOpts(5)),
      /leaves no room for a rationale and its label within maxLen 32/,
    );
    await assert.rejects(
      readLabelsRationaleFirst(params, BIGRAM, [prompt(4)], LABELS, fmt, rationaleOpts(-1)),
      /maxExplTokens must be a non-negative integer/,
    );
  } finally {
    disposeParams(params);
  }
});

/** A small dataset in the example schema, its label visible in the response (as in test/unit/cli.test.ts). */
function writeDataset(file: string): void {
  const labelSet = ["low", "high"];
  const rows = Array.from({ length: 48 }, (_, i) => {
    const label = labelSet[i % 2];
    return JSON.stringify({
      id: `r${i}`,
      source: "rationale-test",
      dimension: "quality",
      context: [{ role: "user", text: `question number ${i}` }],
      response: `this answer is ${label === "high" ? "great and complete" : "poor and vague"}`,
      label,
      labelSet,
      explanations: [`the answer is ${label === "high" ? "great" : "poor"} because it is ${label === "high" ? "complete" : "vague"}`],
      split: i < 36 ? "train" : "test",
    });
  });
  fs.writeFileSync(file, rows.join("\n") + "\n");
}

const TINY: Profile = {
  name: "ci",
  model: { layers: 1, dModel: 32, heads: 2, mlpRatio: 2, initStd: 0.02 },
  sequence: { maxLen: 48, maxExplTokens: 6 },
  train: {
    lr: 3e-3,
    minLr: 3e-4,
    weightDecay: 0.1,
    beta1: 0.9,
    beta2: 0.99,
    eps: 1e-8,
    gradClip: 1,
    warmupSteps: 2,
    batchSize: 8,
    checkpointEvery: 100,
  },
  epochs: 4,
};

test("runExperiment with expl+label: predictions carry the generated rationale, and metrics are recorded", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xft-rationale-"));
  try {
    const data = path.join(dir, "mine.jsonl");
    writeDataset(data);
    const runsDir = path.join(dir, "runs");
    const phases = new Set<string>();
    const record = await runExperiment(
      { dataset: data, condition: "expl+label", seed: 1, profile: TINY },
      { runsDir, onProgress: (e) => phases.add(e.phase) },
    );
    assert.equal(record.status, "done");
    assert.equal(record.spec.condition, "expl+label");
    assert.deepEqual([...phases].sort(), ["eval", "train"]);
    assert.ok(record.metrics, "metrics recorded");
    assert.equal(record.metrics.n, 12);
    assert.ok(record.metrics.accuracy >= 0 && record.metrics.accuracy <= 1);
    assert.ok(Number.isFinite(record.metrics.brier) && Number.isFinite(record.metrics.ece));
    const predictions = JSON.parse(fs.readFileSync(path.join(record.dir, "predictions.json"), "utf8")) as Prediction[];
    assert.equal(predictions.length, 12);
    for (const p of predictions) {
      assert.equal(typeof p.rationale, "string", `prediction ${p.id} has a rationale`);
      assert.equal(p.probs.length, 2);
      assert.ok(Math.abs(p.probs[0] + p.probs[1] - 1) < 1e-4);
      assert.equal(p.predicted, p.probs[0] >= p.probs[1] ? 0 : 1);
      assert.ok(tok.encode(p.rationale!).length <= 6 * 4, "at most maxExplTokens tokens (re-encoding may split them)");
    }
    assert.ok(
      predictions.some((p) => p.rationale !== ""),
      "the model writes something after <|expl|>",
    );
    // A label-first run on the same data records no rationale.
    const plain = await runExperiment({ dataset: data, condition: "label", seed: 1, profile: TINY }, { runsDir });
    const plainPredictions = JSON.parse(fs.readFileSync(path.join(plain.dir, "predictions.json"), "utf8")) as Prediction[];
    assert.ok(plainPredictions.every((p) => !("rationale" in p)));
    assert.notEqual(plain.key, record.key);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
