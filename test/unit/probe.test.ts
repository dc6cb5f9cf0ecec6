import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { initBackend, tf } from "../../src/backend/engine";
import { readLabelsBatch } from "../../src/eval/readout";
import { createParams, disposeParams, GptConfig, parameterShapes, paramsFromValues, paramsToValues } from "../../src/model/model";
import {
  findingDifferences,
  findingSentences,
  findingTallies,
  firstSeedRun,
  intermediateHiddenEntropy,
  lensAgreementByCondition,
  overconfidence,
  pointsOverSettings,
  pooledReliability,
  probeSummary,
  settingCurves,
} from "../../src/probe/compare";
import { attentionEntropy, firstTop1Point, hiddenStateEntropy } from "../../src/probe/measures";
import { cacheBytesPerSequence, probeBatchSize, probeSequences, residualPoints } from "../../src/probe/probe";
import { PROBE_FILE, probeRun, storedProbe, ProbedRun } from "../../src/probe/run-probe";
import { readRunRecord, runExperiment } from "../../src/runs/experiment";
import { GRID_PROFILES } from "../../src/runs/grid";

const LN_EPS = 1e-5;
const H = (ps: number[]) => -ps.reduce((a, p) => a + (p > 0 ? p * Math.log(p) : 0), 0);
const softmax = (xs: number[]) => {
  const e = xs.map((x) => Math.exp(x - Math.max(...xs)));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};

/**
 * Two blocks that leave the residual stream alone (zero attention and MLP weights: every score is 0, so
 * attention is uniform over the positions so far, and its values are 0), except the last MLP's output bias u,
 * which adds u at 1.post. Token 2's embedding is e = [1, -1, 1, -1]; u = [-3, 3, -3, 3] turns it into -2e, so
 * the lens prefers label 0 up to 1.mid and label 1 at the output.
 */
const HAND: GptConfig = { vocabSize: 8, maxLen: 8, layers: 2, dModel: 4, heads: 2, mlpRatio: 1, initStd: 0.02 };
const LABELS = [5, 6, 7].map((id) => [id]);
function handModel() {
  const values = new Map<string, Float32Array>();
  for (const [name, shape] of parameterShapes(HAND)) {
    const v = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith(".g")) v.fill(1);
    values.set(name, v);
  }
  const wte = values.get("wte")!;
  wte.set([1, -1, 1, -1], 2 * 4);
  wte.set([1, 0, 0, 0], 5 * 4);
  wte.set([0, 1, 0, 0], 6 * 4);
  values.get("blocks.1.mlp.b2")!.set([-3, 3, -3, 3]);
  return paramsFromValues(HAND, values);
}

test("hand-built model: hidden-state, attention and lens entropies and the first top-1 point match their closed forms", async () => {
  await initBackend({ quiet: true });
  const params = handModel();
  try {
    const seqLen = 5;
    const [s] = await probeSequences(params, HAND, [[2, 2, 2, 2, 2]], LABELS, { padId: 0 });
    assert.deepEqual(
      residualPoints(HAND).map((p) => p.label),
      ["embed", "0.mid", "0.post", "1.mid", "1.post"],
    );
    // LN(x [1,-1,1,-1]) = a(x) [1,-1,1,-1] with a(x) = x / sqrt(x^2 + eps): x = 1 for the embedding, and e + u =
    // [-2, 2, -2, 2] is x = -2. Softmax over the units: two of e^|a|, two of e^-|a|.
    const a = (x: number) => x / Math.sqrt(x * x + LN_EPS);
    const hiddenOf = (x: number) => {
      const b = Math.abs(a(x));
      const z = 2 * Math.exp(b) + 2 * Math.exp(-b);
      return H([Math.exp(b) / z, Math.exp(b) / z, Math.exp(-b) / z, Math.exp(-b) / z]) / Math.log(4);
    };
    const xs = [1, 1, 1, 1, -2];
    s.residual.forEach((h, j) =>
      assert.ok(Math.abs(hiddenStateEntropy(h) - hiddenOf(xs[j])) < 1e-6, `point ${j}: ${hiddenStateEntropy(h)} vs ${hiddenOf(xs[j])}`),
    );
    // Uniform attention over the 5 positions up to the decision position, in every head: ln 5.
    for (const row of s.attention) assert.ok(Math.abs(attentionEntropy(row, HAND.heads) - Math.log(seqLen)) < 1e-6);
    // Lens logits: LN(h) . wte[label] = [a, -a, 0]: label 0 ahead before the last MLP, label 1 after it.
    s.lens.forEach((p, j) => {
      const want = softmax([a(xs[j]), -a(xs[j]), 0]);
      p.forEach((v, c) => assert.ok(Math.abs(v - want[c]) < 1e-6, `lens point ${j} label ${c}: ${v} vs ${want[c]}`));
      assert.ok(Math.abs(H(Array.from(p)) - H(want)) < 1e-6);
    });
    assert.equal(firstTop1Point(s.lens), 4, "label 1 first becomes top-1 at 1.post");
    // A constant hidden state normalises to 0: the uniform distribution, entropy 1 after dividing by log d.
    assert.ok(Math.abs(hiddenStateEntropy([3, 3, 3, 3]) - 1) < 1e-12);
  } finally {
    disposeParams(params);
  }
});

test("probing reads the model without changing it: the final lens is the readout, before and after, and the weights are unchanged", async () => {
  await initBackend({ quiet: true });
  const config: GptConfig = { vocabSize: 64, maxLen: 24, layers: 2, dModel: 16, heads: 4, mlpRatio: 2, initStd: 0.5 };
  const params = createParams(config, 7);
  try {
    const prompts = [[1, 2, 3, 4, 5], [9, 8, 7], [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20], [30]];
    const labels = [40, 41, 42, 43].map((id) => [id]);
    const before = await readLabelsBatch(params, config, prompts, labels, 0);
    const weights = await paramsToValues(params);
    // A memory bound that allows one sequence per batch: the batching must not change a number.
    const oneAtATime = cacheBytesPerSequence(config, config.maxLen);
    assert.equal(probeBatchSize(config, { memoryBytes: oneAtATime }), 1);
    const snapshots = await probeSequences(params, config, prompts, labels, { padId: 0, memoryBytes: oneAtATime });
    const batched = await probeSequences(params, config, prompts, labels, { padId: 0 });
    const after = await readLabelsBatch(params, config, prompts, labels, 0);
    assert.deepEqual(Array.from(after), Array.from(before));
    for (const [name, v] of await paramsToValues(params)) assert.deepEqual(Array.from(v), Array.from(weights.get(name)!), name);
    snapshots.forEach((s, i) => {
      const final = s.lens[s.lens.length - 1];
      final.forEach((p, c) => assert.ok(Math.abs(p - before[i * labels.length + c]) < 1e-5, `example ${i} label ${c}`));
      s.residual.forEach((h, j) => h.forEach((x, u) => assert.ok(Math.abs(x - batched[i].residual[j][u]) < 1e-5)));
      assert.equal(s.attention[0].length, config.heads * prompts[i].length, "one row per head over the positions so far");
    });
  } finally {
    disposeParams(params);
  }
});

/** Two labels, shown in the response, so that a tiny model learns something. */
function writeDataset(file: string): void {
  const labelSet = ["low", "high"];
  const rows = Array.from({ length: 40 }, (_, i) => {
    const label = labelSet[i % 2];
    return JSON.stringify({
      id: `x-${i}`,
      source: "probe-test",
      dimension: "clarity",
      context: [{ role: "user", text: `question ${i}` }],
      response: `this answer is ${label === "high" ? "clear and deep" : "vague and thin"}`,
      label,
      labelSet,
      explanations: [`it is ${label === "high" ? "clear" : "vague"}`],
      split: i < 28 ? "train" : "test",
    });
  });
  fs.writeFileSync(file, rows.join("\n") + "\n");
}

test("probeRun: label-first and rationale-first runs, stored and reused, checked against the run's predictions; the grid tables", async () => {
  await initBackend({ quiet: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xft-probe-"));
  try {
    const data = path.join(dir, "mine.jsonl");
    writeDataset(data);
    const runsDir = path.join(dir, "runs");
    const profile = { ...GRID_PROFILES.ci.profile, epochs: 2 };
    const probed: ProbedRun[] = [];
    for (const condition of ["label", "label+expl", "expl+label"]) {
      for (const seed of [1, 2]) {
        const record = await runExperiment({ dataset: data, condition, seed, profile }, { runsDir });
        const probe = await probeRun(record);
        assert.equal(probe.examples, 12);
        assert.ok(probe.readoutMaxAbsDiff < 1e-3);
        assert.deepEqual(probe.points, ["embed", "0.mid", "0.post"]);
        assert.equal(probe.lensAgreement[probe.points.length - 1], 1, "the last point is the prediction");
        assert.equal(
          probe.firstTop1Counts.reduce((a, b) => a + b, 0),
          12,
        );
        assert.ok(fs.existsSync(path.join(record.dir, PROBE_FILE)));
        // Reused: the stored probe comes back, not a new one (its wall time would differ).
        assert.deepEqual(await probeRun(readRunRecord(record.key, { runsDir })), storedProbe(record));
        probed.push({ record, probe });
      }
    }
    const summary = probeSummary(probed);
    const rows = summary.objects() as Array<Record<string, any>>;
    const hidden = rows.filter((r) => r.measure === "hidden_entropy" && r.condition === "label");
    assert.deepEqual(
      hidden.map((r) => r.point),
      ["embed", "0.mid", "0.post"],
    );
    assert.ok(hidden.every((r) => r.n_seeds === 2 && r.lo <= r.mean && r.mean <= r.hi));
    const curves = pointsOverSettings(summary);
    assert.ok(curves.some((c) => c.measure === "attention_entropy" && c.point === "0" && c.condition === "expl+label"));
    const differences = findingDifferences(probed).objects() as Array<Record<string, any>>;
    const inner = differences.find((d) => d.quantity === "intermediate_hidden_entropy" && d.condition === "label+expl")!;
    const mean = (c: string) => probed.filter((p) => p.record.spec.condition === c).reduce((a, p) => a + intermediateHiddenEntropy(p.probe), 0) / 2;
    assert.ok(Math.abs(inner.diff_mean - (mean("label+expl") - mean("label"))) < 1e-9, "paired by seed, mean of differences = difference of means");
    const tallies = findingTallies(findingDifferences(probed));
    assert.equal(tallies.length, 3 * 2, "three quantities, two arms against label");
    assert.ok(tallies.every((t) => t.settings === 1 && t.as_paper + t.against <= 1));
    const arms = [{ condition: "label" }, { condition: "label+expl" }, { condition: "expl+label" }];
    const sentences = findingSentences(tallies, arms);
    assert.equal(sentences.length, 2 * 3, "every arm but the baseline, every quantity");
    assert.match(sentences[0], /^label\+expl vs label, hidden-state entropy at the intermediate points: higher in \d of 1 settings/);
    const setting = { dataset: probed[0].record.spec.dataset, dimension: "all" };
    const curve = settingCurves(summary, setting, "hidden_entropy", arms.slice(0, 2));
    assert.deepEqual(
      curve.map((r) => `${r.condition} ${r.point}`),
      ["label embed", "label 0.mid", "label 0.post", "label+expl embed", "label+expl 0.mid", "label+expl 0.post"],
    );
    assert.equal(
      firstSeedRun(probed, setting, arms[1]),
      probed.find((p) => p.record.spec.condition === "label+expl" && p.record.spec.seed === 1),
    );
    assert.throws(() => firstSeedRun(probed, setting, { condition: "label+expl", explTokens: 8 }), /no probed run of mine\/all label\+expl@8/);
    const lens = lensAgreementByCondition(probed);
    assert.deepEqual(lens.conditions, ["label", "label+expl", "expl+label"]);
    assert.deepEqual(lens.points, ["embed", "0.mid", "0.post"]);
    const ofExplLabel = probed.filter((p) => p.record.spec.condition === "expl+label").map((p) => p.probe.lensAgreement[1]);
    assert.ok(Math.abs(lens.agreement[1][2] - (ofExplLabel[0] + ofExplLabel[1]) / 2) < 1e-12);
    assert.deepEqual(lens.agreement[2], [1, 1, 1], "the last point is every run's prediction");
    const reliability = pooledReliability(probed.map((p) => p.record));
    assert.equal(
      reliability.filter((r) => r.condition === "label").reduce((a, r) => a + r.count, 0),
      24,
      "two seeds x 12 examples",
    );
    const o = overconfidence(probed[0].record);
    assert.ok(o >= -1 && o <= 1);
    // Training, evaluating and probing leave no tensors behind (a notebook kernel runs hundreds of runs): after
    // one more run of each kind has cached its shape's causal masks, two more change nothing.
    const more = async (seed: number) => {
      for (const condition of ["label+expl", "expl+label"])
        await probeRun(await runExperiment({ dataset: data, condition, seed, profile }, { runsDir }));
    };
    await more(3);
    const before = tf.memory().numTensors;
    await more(4);
    await more(5);
    assert.equal(tf.memory().numTensors, before);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
