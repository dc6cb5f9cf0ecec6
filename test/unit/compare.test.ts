import assert from "node:assert/strict";
import { test } from "node:test";
import * as aq from "arquero";
import { pairedDifferences, RunResult, summarize, tallyDirections, tQuantile, winsTable } from "../../src/eval/compare";
import { armKey, compareArms, describeArm, describeRun, isBaseline, settingKey } from "../../src/eval/run-identity";
import type { RunMetrics } from "../../src/eval/metrics";
import type { Prediction, RunRecord } from "../../src/runs/experiment";
import type { Condition } from "../../src/train/sequences";

interface SpecParts {
  dataset?: string;
  dimension?: string | null;
  condition?: Condition;
  explTokens?: number | null;
  seed?: number;
}

/** A finished run record: the fields the analysis reads from `spec` and `metrics`, the rest plausible ci-profile values. */
function record(parts: SpecParts, metrics: Partial<RunMetrics> = {}): RunRecord {
  const spec = {
    dataset: parts.dataset ?? "esnli",
    dimension: parts.dimension ?? null,
    condition: parts.condition ?? "label",
    explTokens: parts.explTokens ?? null,
    seed: parts.seed ?? 1,
    profile: "ci",
  };
  const key = `${spec.dataset}.${spec.dimension ?? "all"}.${spec.condition}.${spec.explTokens ?? "p"}.s${spec.seed}`;
  const model = { vocabSize: 512, maxLen: 96, layers: 2, dModel: 64, heads: 2, mlpRatio: 4, initStd: 0.02 };
  return {
    key,
    dir: `runs/${key}`,
    status: "done",
    reused: false,
    spec,
    model: { ...model, parameters: 120_000 },
    train: {
      lr: 1e-3,
      minLr: 1e-4,
      warmupSteps: 10,
      weightDecay: 0.01,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      gradClip: 1,
      steps: 100,
      batchSize: 16,
      seed: spec.seed,
      checkpointEvery: 50,
    },
    sequence: { maxLen: 96, maxExplTokens: 32 },
    data: { name: spec.dataset, dimension: spec.dimension, hash: "d0", train: 400, test: 100, labelSet: ["entailment", "neutral", "contradiction"] },
    tokenizerHash: "t0",
    environment: {
      nodeVersion: "v20.19.0",
      xftVersion: "0.1.0",
      cpuModel: "test",
      cpuCount: 2,
      memoryBytes: 2 ** 33,
      backend: "cpu",
      threads: 2,
      tfjsVersion: "4.22.0",
      attention: "tfjs",
    },
    wallS: 10,
    training: { steps: 100, tokensPerSec: 1000, wallS: 9, resumedFromStep: 0, losses: [{ step: 100, loss: 0.5 }] },
    metrics: {
      n: 100,
      accuracy: 0.5,
      macroF1: 0.5,
      confusion: [],
      f1: [],
      mae: 0.5,
      qwk: 0.5,
      ece: 0.1,
      brier: 0.6,
      reliability: [],
      ...metrics,
    },
  };
}

/** Predictions on examples ex0..ex{n-1}: right where `correct(i)`, else off by one label. */
function predictions(n: number, correct: (i: number) => boolean): Prediction[] {
  return Array.from({ length: n }, (_, i) => {
    const gold = i % 3;
    const predicted = correct(i) ? gold : (gold + 1) % 3;
    return { id: `ex${i}`, gold, predicted, probs: [0, 1, 2].map((k) => (k === predicted ? 0.8 : 0.1)) };
  });
}

function result(parts: SpecParts, n: number, correct: (i: number) => boolean): RunResult {
  return { record: record(parts), predictions: predictions(n, correct) };
}

type Row = Record<string, unknown>;
const rowsOf = (t: { objects(): object[] }) => t.objects() as Row[];

function assertClose(actual: unknown, expected: number, what: string, tol = 1e-9): void {
  assert.ok(typeof actual === "number" && Math.abs(actual - expected) <= tol, `${what}: ${String(actual)}, expected ${expected}`);
}

test("t quantiles match published values", () => {
  // scipy.stats.t.ppf values.
  const known: [number, number, number][] = [
    [0.975, 1, 12.706204736174698],
    [0.975, 2, 4.302652729749464],
    [0.975, 3, 3.182446305284263],
    [0.975, 4, 2.7764451051977987],
    [0.975, 9, 2.2621571627409915],
    [0.975, 29, 2.045229642132703],
    [0.975, 100, 1.9839715184496334],
    [0.995, 5, 4.032142983557536],
    [0.9, 1, 3.077683537175253],
  ];
  for (const [p, df, t] of known) assertClose(tQuantile(p, df), t, `t(${p}, ${df})`);
  assertClose(tQuantile(0.025, 4), -2.7764451051977987, "lower tail is the mirror image");
  assert.equal(tQuantile(0.5, 3), 0);
  assert.throws(() => tQuantile(1, 3), /p must be in \(0, 1\)/);
  assert.throws(() => tQuantile(0.975, 0), /df must be a positive integer/);
  assert.throws(() => tQuantile(0.975, 2.5), /df must be a positive integer/);
});

test("summarize: mean and Student-t interval over seeds, one row per setting and arm, in a readable order", () => {
  const records = [
    record({ dataset: "b", condition: "label+expl", seed: 1 }, { accuracy: 0.5 }),
    record({ dataset: "a", dimension: "on-topic", condition: "label", seed: 1 }),
    record({ dataset: "a", condition: "label+expl", seed: 2 }, { accuracy: 0.7, brier: 0.4 }),
    record({ dataset: "a", condition: "label+bow", seed: 1 }),
    record({ dataset: "a", condition: "label+expl", explTokens: 8, seed: 1 }),
    record({ dataset: "a", condition: "label+expl", seed: 1 }, { accuracy: 0.6, brier: 0.5 }),
    record({ dataset: "a", condition: "label", seed: 1 }),
    record({ dataset: "a", condition: "label+expl", seed: 3 }, { accuracy: 0.8, brier: 0.6 }),
  ];
  const rows = rowsOf(summarize(records));
  assert.deepEqual(
    rows.map((r) => [r.dataset, r.dimension, r.condition, r.expl_tokens, r.n_seeds]),
    [
      ["a", "all", "label", null, 1],
      ["a", "all", "label+expl", null, 3],
      ["a", "all", "label+expl", 8, 1],
      ["a", "all", "label+bow", null, 1],
      ["a", "on-topic", "label", null, 1],
      ["b", "all", "label+expl", null, 1],
    ],
  );
  const expl = rows[1];
  // accuracy 0.6, 0.7, 0.8: mean 0.7, sample sd 0.1, half-width t(0.975, 2) * 0.1 / sqrt(3).
  const half = (4.302652729749464 * 0.1) / Math.sqrt(3);
  assertClose(expl.accuracy_mean, 0.7, "accuracy mean");
  assertClose(expl.accuracy_lo, 0.7 - half, "accuracy lo");
  assertClose(expl.accuracy_hi, 0.7 + half, "accuracy hi");
  // brier 0.5, 0.4, 0.6: the same spread around 0.5.
  assertClose(expl.brier_mean, 0.5, "brier mean");
  assertClose(expl.brier_hi, 0.5 + half, "brier hi");
  // Equal values across seeds: a zero-width interval.
  assert.equal(expl.mae_lo, 0.5);
  assert.equal(expl.mae_hi, 0.5);
  // One seed: a mean, no interval.
  assert.equal(rows[0].accuracy_mean, 0.5);
  assert.ok(Number.isNaN(rows[0].accuracy_lo) && Number.isNaN(rows[0].accuracy_hi));
  assert.deepEqual(summarize([]).columnNames().slice(0, 9), [
    "dataset",
    "dimension",
    "condition",
    "expl_tokens",
    "n_seeds",
    "accuracy_mean",
    "accuracy_lo",
    "accuracy_hi",
    "accuracy_nan",
  ]);
});

test("summarize leaves NaN values out of a metric's mean and counts them; stopped runs and repeated seeds are errors", () => {
  const records = [1, 2, 3].map((seed, i) => record({ seed }, { qwk: [NaN, 0.5, 0.7][i], accuracy: 0.6 }));
  const [row] = rowsOf(summarize(records));
  assert.equal(row.n_seeds, 3);
  assert.equal(row.qwk_nan, 1);
  assert.equal(row.accuracy_nan, 0);
  assertClose(row.qwk_mean, 0.6, "qwk mean over the two seeds that have one");
  // Two values 0.5, 0.7: sd sqrt(0.02), df 1.
  assertClose(row.qwk_hi, 0.6 + (12.706204736174698 * Math.sqrt(0.02)) / Math.sqrt(2), "qwk hi");
  const allNaN = rowsOf(summarize([record({}, { qwk: NaN })]))[0];
  assert.ok(Number.isNaN(allNaN.qwk_mean));
  assert.equal(allNaN.qwk_nan, 1);

  const stopped = { ...record({ seed: 4 }), status: "stopped" as const, metrics: undefined };
  assert.throws(() => summarize([...records, stopped]), /run esnli\.all\.label\.p\.s4 .* has no metrics \(status stopped\)/);
  const again = { ...record({ seed: 2 }), key: "other" };
  assert.throws(() => summarize([...records, again]), /runs esnli\.all\.label\.p\.s2 and other are both esnli\/all label seed 2/);
});

test("pairedDifferences: a difference that is the same on every example gives a point interval", () => {
  const n = 12;
  const { table, unpaired } = pairedDifferences([
    result({ condition: "label", seed: 1 }, n, (i) => i % 2 === 1),
    result({ condition: "label+expl", seed: 1 }, n, () => true),
    result({ condition: "label", seed: 2 }, n, (i) => i % 2 === 0),
    result({ condition: "label+expl", seed: 2 }, n, () => true),
    result({ condition: "label+bow", seed: 1 }, n, (i) => i % 2 === 0),
    result({ condition: "label+bow", seed: 2 }, n, (i) => i % 2 === 1),
  ]);
  assert.deepEqual(unpaired, []);
  const rows = rowsOf(table);
  assert.deepEqual(
    rows.map((r) => r.condition),
    ["label+expl", "label+bow"],
  );
  const [expl, bow] = rows;
  // label+expl: the arm is right on every example where the baseline is wrong (and everywhere else):
  // seed 1 +1 on even examples, seed 2 +1 on odd ones, so the mean over seeds is 0.5 on every example.
  assert.deepEqual([expl.n_seeds, expl.diff_mean, expl.diff_lo, expl.diff_hi, expl.wins, expl.losses, expl.ties], [2, 0.5, 0.5, 0.5, 2, 0, 0]);
  // label+bow: right exactly where the baseline is wrong, so seed 1 is +1 on even and -1 on odd examples,
  // seed 2 the reverse: 0 on every example once averaged over seeds. The point interval holds only if
  // every seed is resampled on the same examples; resampling each seed on its own would widen it.
  assert.deepEqual([bow.diff_mean, bow.diff_lo, bow.diff_hi, bow.wins, bow.losses, bow.ties], [0, 0, 0, 0, 0, 2]);
  assert.deepEqual(table.columnNames(), [
    "dataset",
    "dimension",
    "condition",
    "expl_tokens",
    "n_seeds",
    "diff_mean",
    "diff_lo",
    "diff_hi",
    "wins",
    "losses",
    "ties",
  ]);
});

test("pairedDifferences: sign count over mixed seeds, mean of the accuracy differences, an interval around it", () => {
  const n = 40;
  // Baseline right on the first 20 examples; per seed the arm gains or loses a few.
  const armCorrect: Record<number, number> = { 1: 24, 2: 18, 3: 20, 4: 22 };
  const results = [1, 2, 3, 4].flatMap((seed) => [
    result({ condition: "label", seed }, n, (i) => i < 20),
    result({ condition: "label+expl", seed }, n, (i) => i < armCorrect[seed]),
  ]);
  const [row] = rowsOf(pairedDifferences(results).table);
  assert.deepEqual([row.n_seeds, row.wins, row.losses, row.ties], [4, 2, 1, 1]);
  // (4 - 2 + 0 + 2) / 40 / 4 seeds.
  assertClose(row.diff_mean, 4 / 40 / 4, "diff_mean");
  assert.ok((row.diff_lo as number) < 0.025 && 0.025 < (row.diff_hi as number), `interval ${row.diff_lo}..${row.diff_hi}`);
});

test("pairedDifferences: the bootstrap interval has the width sampling theory predicts", () => {
  // One seed, the baseline never right, the arm right on half of 200 examples: the per-example difference
  // is 0 or 1 with p = 1/2, so the mean's standard error is sqrt(0.25 / 200) and the 95% interval is about
  // 0.5 +- 1.96 * 0.0354 = 0.5 +- 0.069.
  const n = 200;
  const results = [result({ condition: "label" }, n, () => false), result({ condition: "label+expl" }, n, (i) => i % 2 === 0)];
  const [row] = rowsOf(pairedDifferences(results).table);
  assert.equal(row.diff_mean, 0.5);
  const half = 1.96 * Math.sqrt(0.25 / n);
  assertClose(row.diff_lo, 0.5 - half, "diff_lo", 0.01);
  assertClose(row.diff_hi, 0.5 + half, "diff_hi", 0.01);
});

test("pairedDifferences is deterministic in its seed and matches predictions by id, not position", () => {
  const n = 60;
  const results = [1, 2].flatMap((seed) => [
    result({ condition: "label", seed }, n, (i) => (i * seed) % 3 === 0),
    result({ condition: "label+expl", seed }, n, (i) => (i * seed) % 2 === 0),
  ]);
  const first = rowsOf(pairedDifferences(results, { seed: 7, resamples: 500 }).table);
  assert.deepEqual(rowsOf(pairedDifferences(results, { seed: 7, resamples: 500 }).table), first);
  const other = rowsOf(pairedDifferences(results, { seed: 8, resamples: 500 }).table)[0];
  assert.equal(other.diff_mean, first[0].diff_mean);
  assert.ok(other.diff_lo !== first[0].diff_lo || other.diff_hi !== first[0].diff_hi, "another seed draws other resamples");
  // The arm's predictions in reverse order: the same examples, so the same numbers.
  const reversed = results.map((r) => (r.record.spec.condition === "label" ? r : { ...r, predictions: [...r.predictions].reverse() }));
  assert.deepEqual(rowsOf(pairedDifferences(reversed, { seed: 7, resamples: 500 }).table), first);
});

test("pairedDifferences: mismatched test sets are an error naming both runs", () => {
  const base = result({ condition: "label" }, 5, () => true);
  const arm = result({ condition: "label+expl" }, 5, () => true);
  const renamed = { ...arm, predictions: arm.predictions.map((p, i) => (i === 2 ? { ...p, id: "other" } : p)) };
  assert.throws(
    () => pairedDifferences([base, renamed]),
    /runs esnli\.all\.label\.p\.s1 \(esnli\/all label seed 1\) and esnli\.all\.label\+expl\.p\.s1 \(esnli\/all label\+expl seed 1\) have different test sets: example "other" is only in esnli\.all\.label\+expl\.p\.s1/,
  );
  const shorter = { ...arm, predictions: arm.predictions.slice(0, 4) };
  assert.throws(() => pairedDifferences([base, shorter]), /have different test sets: example "ex4" is only in esnli\.all\.label\.p\.s1/);
  // A second baseline seed on another test set is caught too: the bootstrap indices refer to one set.
  const base2 = result({ condition: "label", seed: 2 }, 6, () => true);
  const arm2 = result({ condition: "label+expl", seed: 2 }, 6, () => true);
  assert.throws(
    () => pairedDifferences([base, arm, base2, arm2]),
    /runs esnli\.all\.label\.p\.s1 .* and esnli\.all\.label\+expl\.p\.s2 .* have different test sets: example "ex5"/,
  );
});

test("pairedDifferences lists arms without a baseline instead of dropping them; the baseline is configurable", () => {
  const n = 10;
  const results = [
    ...[1, 2].map((seed) => result({ condition: "label", seed }, n, (i) => i < 5)),
    ...[1, 2, 3].map((seed) => result({ condition: "label+expl", seed }, n, (i) => i < 6)),
    // label at another explanation budget is an arm, not the baseline.
    result({ condition: "label", explTokens: 16, seed: 1 }, n, (i) => i < 4),
    // A setting with no baseline run at all.
    result({ dataset: "autoj", condition: "label+expl", seed: 1 }, n, () => true),
  ];
  const { table, unpaired } = pairedDifferences(results, { resamples: 100 });
  assert.deepEqual(
    rowsOf(table).map((r) => [r.dataset, r.condition, r.expl_tokens, r.n_seeds, r.diff_mean]),
    // Arms in CONDITIONS order, then by budget.
    [
      ["esnli", "label", 16, 1, -0.1],
      ["esnli", "label+expl", null, 2, 0.1],
    ],
  );
  assert.deepEqual(unpaired, [
    { dataset: "autoj", dimension: null, condition: "label+expl", explTokens: null, seeds: [1] },
    { dataset: "esnli", dimension: null, condition: "label+expl", explTokens: null, seeds: [3] },
  ]);
  const vsExpl = rowsOf(pairedDifferences(results, { baseline: "label+expl", resamples: 100 }).table);
  assert.deepEqual(
    vsExpl.map((r) => [r.dataset, r.condition, r.expl_tokens, r.n_seeds]),
    [
      ["esnli", "label", null, 2],
      ["esnli", "label", 16, 1],
    ],
  );
  assert.throws(() => pairedDifferences(results, { resamples: 0 }), /resamples must be a positive integer/);
});

test("winsTable counts wins and significant wins per arm over settings", () => {
  const columns = ["dataset", "dimension", "condition", "expl_tokens", "diff_mean", "diff_lo", "diff_hi"];
  const differences = aq.from(
    [
      ["a", "all", "label+bow", null, -0.01, -0.03, 0.01],
      ["a", "all", "label+expl", null, 0.1, 0.02, 0.2],
      ["b", "all", "label+expl", null, 0.05, -0.01, 0.1],
      ["c", "x", "label+expl", null, -0.02, -0.05, -0.01],
      ["c", "y", "label+expl", null, 0, -0.02, 0.02],
      ["a", "all", "label+expl", 8, 0.03, 0.01, 0.05],
    ].map((v) => Object.fromEntries(columns.map((c, i) => [c, v[i]]))),
    columns,
  );
  assert.deepEqual(rowsOf(winsTable(differences)), [
    { condition: "label+expl", expl_tokens: null, settings: 4, wins: 1 + 1, significant_wins: 1, losses: 1, significant_losses: 1 },
    { condition: "label+expl", expl_tokens: 8, settings: 1, wins: 1, significant_wins: 1, losses: 0, significant_losses: 0 },
    { condition: "label+bow", expl_tokens: null, settings: 1, wins: 0, significant_wins: 0, losses: 1, significant_losses: 0 },
  ]);
  // Straight from pairedDifferences.
  const results = [1, 2].flatMap((seed) => [
    result({ condition: "label", seed }, 8, (i) => i < 4),
    result({ condition: "label+expl", seed }, 8, (i) => i < 5),
  ]);
  assert.deepEqual(rowsOf(winsTable(pairedDifferences(results, { resamples: 50 }).table))[0], {
    condition: "label+expl",
    expl_tokens: null,
    settings: 1,
    wins: 1,
    significant_wins: 0,
    losses: 0,
    significant_losses: 0,
  });
  assert.throws(() => winsTable(aq.from([{ condition: "label" }])), /missing column\(s\) expl_tokens, diff_mean, diff_lo, diff_hi/);
});

test("tallyDirections: per group in first-seen order, toward and away by the mean and by the whole interval, either direction", () => {
  const rows = [
    { group: "g", diff_mean: 0.1, diff_lo: 0.05, diff_hi: 0.2 },
    { group: "h", diff_mean: -0.1, diff_lo: -0.2, diff_hi: -0.05 },
    { group: "g", diff_mean: -0.1, diff_lo: -0.2, diff_hi: 0.1 },
    { group: "h", diff_mean: 0.2, diff_lo: NaN, diff_hi: NaN },
    { group: "g", diff_mean: 0, diff_lo: -0.1, diff_hi: 0.1 },
  ];
  const higher = tallyDirections(
    rows,
    (r) => r.group,
    () => "higher",
  );
  assert.deepEqual(
    higher.map((g) => g.first.group),
    ["g", "h"],
  );
  assert.deepEqual(higher[0].tally, { settings: 3, toward: 1, towardInterval: 1, away: 1, awayInterval: 0 });
  assert.deepEqual(higher[1].tally, { settings: 2, toward: 1, towardInterval: 0, away: 1, awayInterval: 1 }, "a NaN interval counts for neither");
  const lower = tallyDirections(
    rows,
    (r) => r.group,
    () => "lower",
  );
  assert.deepEqual(lower[1].tally, { settings: 2, toward: 1, towardInterval: 1, away: 1, awayInterval: 0 });
});

test("run identity: one arm key for an absent and a null budget, the baseline, arms in CONDITIONS order, one description", () => {
  assert.equal(armKey({ condition: "label+expl" }), armKey({ condition: "label+expl", explTokens: null }));
  assert.notEqual(armKey({ condition: "label+expl", explTokens: 8 }), armKey({ condition: "label+expl" }));
  assert.equal(settingKey({ dataset: "a" }), settingKey({ dataset: "a", dimension: null }));
  assert.ok(isBaseline({ condition: "label" }) && isBaseline({ condition: "label", explTokens: null }));
  assert.ok(!isBaseline({ condition: "label", explTokens: 16 }) && !isBaseline({ condition: "label+expl" }));
  assert.ok(isBaseline({ condition: "label+expl" }, "label+expl"));
  const arms = [{ condition: "label+expl", explTokens: 8 }, { condition: "zzz" }, { condition: "label+expl" }, { condition: "label" }];
  assert.deepEqual(arms.sort(compareArms).map(describeArm), ["label", "label+expl", "label+expl@8", "zzz"]);
  const spec = { dataset: "esnli", dimension: null, condition: "label+expl", explTokens: 8, seed: 2, profile: "ci" };
  assert.equal(describeRun(spec), "esnli/all label+expl@8 seed 2");
  assert.equal(
    describeRun({ dataset: "conv-usr", dimension: "engaging", condition: "label", seed: 1 }, "-base-lora"),
    "conv-usr/engaging label seed 1 base lora",
  );
});
