/**
 * The analysis of an experiment grid (docs/protocol.md, "Metrics per (dataset, dimension, condition)"): run
 * records and their test predictions in, arquero tables out. A *setting* is (dataset, dimension), an
 * *arm* is (condition, explTokens); a grid runs every arm in every setting with the same seeds.
 *
 * What each interval means:
 * - `summarize`, `<m>_lo` / `<m>_hi`: the 95% Student-t interval for the mean of metric m over seeds,
 *   mean +- t(0.975, n - 1) * s / sqrt(n), with s the sample standard deviation over the n seeds. It
 *   describes seed-to-seed variation only (initial weights, data order, pseudo-explanation draws), on the
 *   one fixed test set; it says nothing about how the numbers would move on other test examples, and it
 *   assumes the per-seed values are roughly normal, which with 3-5 seeds is an assumption, not a check.
 * - `pairedDifferences`, `diff_lo` / `diff_hi`: a 95% percentile bootstrap interval for the mean over seeds
 *   of accuracy(arm) - accuracy(baseline), paired by seed. Each of `resamples` draws takes n test examples
 *   with replacement (n the test-set size) and recomputes that statistic on them; the same drawn examples
 *   are used for both arms and every seed (and every arm of a setting), so it keeps the pairing over
 *   examples and over seeds. The interval is the 2.5% and 97.5% quantiles of the drawn statistics
 *   (linear interpolation between order statistics, numpy's default). It describes test-set sampling
 *   variation with the trained models held fixed; the seeds enter only through their mean, so it does not
 *   treat the seeds as a sample of possible trainings (the sign count over seeds is there for that).
 */
import * as aq from "arquero";
import type { EvaluatedRun, Prediction, RunSpecRow } from "./evaluated-run";
import { CONDITIONS } from "../train/sequences";
import { hashSeed, Rng } from "../util/rng";

type Table = ReturnType<typeof aq.table>;

export interface RunResult {
  record: EvaluatedRun;
  predictions: Prediction[];
}

/** Output column -> RunMetrics field, in the order the columns appear. */
const METRICS = {
  accuracy: "accuracy",
  macro_f1: "macroF1",
  mae: "mae",
  qwk: "qwk",
  ece: "ece",
  brier: "brier",
} as const;

/**
 * The p-quantile of Student's t distribution with `df` (a positive integer) degrees of freedom, by
 * bisection on the exact CDF, to about 1e-12. Integer df is all the seed intervals need, and it lets the
 * CDF be a finite series instead of an incomplete beta function.
 */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`t quantile: p must be in (0, 1), got ${p}`);
  if (!(Number.isInteger(df) && df >= 1)) throw new Error(`t quantile: df must be a positive integer, got ${df}`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -tQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (tCdf(hi, df) < p) {
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1e-13 * hi) {
    const mid = (lo + hi) / 2;
    if (tCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * P(T <= t) for integer df, from Abramowitz & Stegun 26.7.3 (odd df) and 26.7.4 (even df): with
 * theta = atan(t / sqrt(df)), P(|T| < t) is a finite sum of powers of cos(theta).
 */
function tCdf(t: number, df: number): number {
  const theta = Math.atan(Math.abs(t) / Math.sqrt(df));
  const sin = Math.sin(theta);
  const cos = Math.cos(theta);
  let central: number;
  if (df % 2 === 0) {
    // sin(theta) * (1 + 1/2 cos^2 + (1*3)/(2*4) cos^4 + ... + (1*3*..*(df-3))/(2*4*..*(df-2)) cos^(df-2))
    let term = 1;
    let sum = 1;
    for (let k = 1; k <= (df - 2) / 2; k++) {
      term *= ((2 * k - 1) / (2 * k)) * cos * cos;
      sum += term;
    }
    central = sin * sum;
  } else {
    // 2/pi * (theta + sin(theta) * (cos + 2/3 cos^3 + ... + (2*4*..*(df-3))/(1*3*..*(df-2)) cos^(df-2)))
    let term = cos;
    let sum = df === 1 ? 0 : cos;
    for (let k = 1; k <= (df - 3) / 2; k++) {
      term *= ((2 * k) / (2 * k + 1)) * cos * cos;
      sum += term;
    }
    central = (2 / Math.PI) * (theta + sin * sum);
  }
  return t >= 0 ? 0.5 + central / 2 : 0.5 - central / 2;
}

/** Mean and 95% Student-t interval of `values` (NaN already removed). */
function meanInterval(values: readonly number[]): { mean: number; lo: number; hi: number } {
  const n = values.length;
  const mean = n === 0 ? NaN : values.reduce((a, b) => a + b, 0) / n;
  // One seed says nothing about the spread between seeds, so there is no interval: NaN, rather than a
  // zero-width interval that would read as certainty.
  if (n < 2) return { mean, lo: NaN, hi: NaN };
  const sd = Math.sqrt(values.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const half = (tQuantile(0.975, n - 1) * sd) / Math.sqrt(n);
  return { mean, lo: mean - half, hi: mean + half };
}

type Spec = RunSpecRow;

/** "dataset/dimension condition expl=N seed S", for error messages. */
export function describeRun(spec: Spec): string {
  const expl = spec.explTokens === null ? "" : ` expl=${spec.explTokens}`;
  return `${spec.dataset}/${spec.dimension ?? "all"} ${spec.condition}${expl} seed ${spec.seed}`;
}

function settingKey(spec: Spec): string {
  return JSON.stringify([spec.dataset, spec.dimension]);
}

function armKey(spec: Spec): string {
  return JSON.stringify([spec.condition, spec.explTokens]);
}

/** Setting, then arm: dataset and dimension by name (all rows first), conditions in CONDITIONS order, budgets ascending (the profile's first). */
function compareSpecs(a: Spec, b: Spec): number {
  return compareStrings(a.dataset, b.dataset)
    || compareNullable(a.dimension, b.dimension, compareStrings)
    || compareArms(a, b);
}

/** An arm; `condition` is a string because a differences table's rows are not checked against CONDITIONS. */
interface Arm {
  condition: string;
  explTokens: number | null;
}

function compareArms(a: Arm, b: Arm): number {
  return conditionRank(a.condition) - conditionRank(b.condition)
    || compareStrings(a.condition, b.condition)
    || compareNullable(a.explTokens, b.explTokens, (x, y) => x - y);
}

/** A condition not in CONDITIONS (a record from another version) sorts after the known ones. */
function conditionRank(condition: string): number {
  const i = (CONDITIONS as readonly string[]).indexOf(condition);
  return i < 0 ? CONDITIONS.length : i;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareNullable<T>(a: T | null, b: T | null, compare: (x: T, y: T) => number): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  return compare(a, b);
}

/**
 * Items grouped by setting and arm, in compareSpecs order, each group keyed by seed. Two runs of one
 * setting, arm and seed (e.g. from two profiles) are an error: counting both would count a seed twice.
 */
function groupRuns<T>(items: readonly T[], specOf: (item: T) => Spec, keyOf: (item: T) => string): Map<number, T>[] {
  const groups = new Map<string, Map<number, T>>();
  for (const item of [...items].sort((a, b) => compareSpecs(specOf(a), specOf(b)))) {
    const spec = specOf(item);
    const key = settingKey(spec) + armKey(spec);
    let bySeed = groups.get(key);
    if (!bySeed) groups.set(key, (bySeed = new Map()));
    const previous = bySeed.get(spec.seed);
    if (previous !== undefined) {
      throw new Error(`runs ${keyOf(previous)} and ${keyOf(item)} are both ${describeRun(spec)}; a grid has one run per setting, arm and seed`);
    }
    bySeed.set(spec.seed, item);
  }
  return [...groups.values()];
}

const SUMMARY_COLUMNS = [
  "dataset", "dimension", "condition", "expl_tokens", "n_seeds",
  ...Object.keys(METRICS).flatMap((m) => [`${m}_mean`, `${m}_lo`, `${m}_hi`, `${m}_nan`]),
];

/**
 * One row per (dataset, dimension, condition, expl_tokens): n_seeds and, per metric m, `<m>_mean`,
 * `<m>_lo`, `<m>_hi` (the Student-t interval over seeds, see the header) and `<m>_nan`, the number of
 * seeds whose value was NaN (QWK is when a run predicts one class only), which are left out of that
 * metric's mean and interval. `dimension` is "all" for runs on every row, as in metricsTable;
 * `expl_tokens` is null for the profile's explanation budget. A record without metrics (a stopped run)
 * is an error, so that a missing seed never passes unnoticed.
 */
export function summarize(records: readonly EvaluatedRun[]): Table {
  const rows = seedGroups(records).map((runs) => {
    const row: Record<string, string | number | null> = { ...armColumns(runs[0].spec), n_seeds: runs.length };
    for (const [column, field] of Object.entries(METRICS)) {
      const values = runs.map((r) => {
        if (!r.metrics) throw new Error(`run ${r.key} (${describeRun(r.spec)}) has no metrics (status ${r.status}); summarize finished runs only`);
        return r.metrics[field];
      });
      const { mean, lo, hi, nan } = seedInterval(values);
      Object.assign(row, { [`${column}_mean`]: mean, [`${column}_lo`]: lo, [`${column}_hi`]: hi, [`${column}_nan`]: nan });
    }
    return row;
  });
  return aq.from(rows, SUMMARY_COLUMNS);
}

/** The columns that name a setting and arm in every table of the analysis. */
export function armColumns(spec: Spec): { dataset: string; dimension: string; condition: string; expl_tokens: number | null } {
  return { dataset: spec.dataset, dimension: spec.dimension ?? "all", condition: spec.condition, expl_tokens: spec.explTokens };
}

/** Finished runs (or anything carrying one's record) grouped by setting and arm in table order, one item per seed. */
export function seedGroups<T extends { spec: Spec; key: string }>(items: readonly T[]): T[][] {
  return groupRuns(items, (r) => r.spec, (r) => r.key).map((bySeed) => [...bySeed.values()]);
}

/** Mean and 95% t-interval over seeds of the non-NaN values (see the header), and how many were NaN. */
export function seedInterval(values: readonly number[]): { mean: number; lo: number; hi: number; nan: number } {
  const kept = values.filter((v) => !Number.isNaN(v));
  return { ...meanInterval(kept), nan: values.length - kept.length };
}

/** A row of `seedPairedDifferences`. */
export interface SeedDifferenceRow {
  dataset: string; dimension: string; condition: string; expl_tokens: number | null;
  n_seeds: number; diff_mean: number; diff_lo: number; diff_hi: number; higher: number; lower: number;
}

/**
 * For a per-run number (a probe measure, over-confidence, ...): per setting and non-baseline arm, the mean
 * over paired seeds of value(arm, seed) - value(baseline, seed) with its 95% t-interval over those seeds,
 * and on how many seeds the arm's value is higher / lower. Seeds without a baseline run, and NaN values,
 * are left out (n_seeds counts the rest); an arm with none left has no row.
 */
export function seedPairedDifferences<T extends { spec: Spec; key: string }>(
  items: readonly T[], valueOf: (item: T) => number, baseline = "label",
): SeedDifferenceRow[] {
  const groups = groupRuns(items, (r) => r.spec, (r) => r.key);
  const isBaseline = (spec: Spec) => spec.condition === baseline && spec.explTokens === null;
  const rows: SeedDifferenceRow[] = [];
  const specOf = (g: Map<number, T>) => g.values().next().value!.spec;
  for (const group of groups) {
    const spec = specOf(group);
    if (isBaseline(spec)) continue;
    const base = groups.find((g) => isBaseline(specOf(g)) && settingKey(specOf(g)) === settingKey(spec));
    if (!base) continue;
    const diffs = [...group.entries()].filter(([s]) => base.has(s))
      .map(([s, item]) => valueOf(item) - valueOf(base.get(s)!)).filter((d) => !Number.isNaN(d));
    if (diffs.length === 0) continue;
    const { mean, lo, hi } = meanInterval(diffs);
    rows.push({
      ...armColumns(spec), n_seeds: diffs.length, diff_mean: mean, diff_lo: lo, diff_hi: hi,
      higher: diffs.filter((d) => d > 0).length, lower: diffs.filter((d) => d < 0).length,
    });
  }
  return rows;
}

export interface PairingOptions {
  /** The condition every other arm is compared to, at the profile's explanation budget; default "label". */
  baseline?: string;
  /** Bootstrap resamples; default 2000. */
  resamples?: number;
  /** Seed of the bootstrap draws; default 1. */
  seed?: number;
}

/** An arm's seeds in one setting that have no baseline run of the same setting and seed. */
export interface UnpairedArm {
  dataset: string;
  dimension: string | null;
  condition: string;
  explTokens: number | null;
  seeds: number[];
}

export interface PairedDifferences {
  /** dataset, dimension, condition, expl_tokens, n_seeds, diff_mean, diff_lo, diff_hi, wins, losses, ties. */
  table: Table;
  /**
   * Arm runs left out for want of a baseline run. An arm with none of its seeds paired has no row in
   * `table`; one with some paired has a row over those seeds (n_seeds says how many).
   */
  unpaired: UnpairedArm[];
}

const DIFFERENCE_COLUMNS = ["dataset", "dimension", "condition", "expl_tokens", "n_seeds", "diff_mean", "diff_lo", "diff_hi", "wins", "losses", "ties"];

/**
 * The paired accuracy difference of every arm to the baseline, per setting: diff_mean is the mean over
 * the paired seeds of accuracy(arm) - accuracy(baseline), diff_lo / diff_hi its bootstrap interval (see
 * the header), wins / losses / ties the seeds on which the arm's accuracy is above / below / equal to the
 * baseline's. Accuracy is recomputed from the predictions (the share with predicted === gold), so that the
 * point estimate is exactly the bootstrap's statistic on the full test set. Predictions are matched by
 * example id; every paired run of a setting must have the test set of that setting's first baseline run.
 */
export function pairedDifferences(results: readonly RunResult[], opts: PairingOptions = {}): PairedDifferences {
  const baseline = opts.baseline ?? "label";
  const resamples = opts.resamples ?? 2000;
  const seed = opts.seed ?? 1;
  if (!(Number.isInteger(resamples) && resamples >= 1)) throw new Error(`resamples must be a positive integer, got ${resamples}`);
  const isBaseline = (spec: Spec) => spec.condition === baseline && spec.explTokens === null;

  const groups = groupRuns(results, (r) => r.record.spec, (r) => r.record.key);
  const rows: Record<string, string | number | null>[] = [];
  const unpaired: UnpairedArm[] = [];
  for (const setting of new Set(groups.map((g) => settingKey(firstSpec(g))))) {
    const inSetting = groups.filter((g) => settingKey(firstSpec(g)) === setting);
    const baselineRuns = inSetting.find((g) => isBaseline(firstSpec(g))) ?? new Map<number, RunResult>();
    // The first baseline run (lowest seed) fixes the example order that the bootstrap indices refer to.
    const reference = [...baselineRuns.entries()].sort(([a], [b]) => a - b)[0]?.[1];
    // One index stream per setting, restarted for every arm: each arm sees the same resampled examples.
    const streamSeed = hashSeed(seed, setting);
    for (const armRuns of inSetting.filter((g) => !isBaseline(firstSpec(g)))) {
      const spec = firstSpec(armRuns);
      const seeds = [...armRuns.keys()].sort((a, b) => a - b);
      const missing = seeds.filter((s) => !baselineRuns.has(s));
      if (missing.length > 0) {
        unpaired.push({ dataset: spec.dataset, dimension: spec.dimension, condition: spec.condition, explTokens: spec.explTokens, seeds: missing });
      }
      const paired = seeds.filter((s) => baselineRuns.has(s));
      // A paired seed means a baseline run, so `reference` is set then; the second test is for the compiler.
      if (paired.length === 0 || reference === undefined) continue;
      const index = exampleIndex(reference);
      const n = reference.predictions.length;
      // perExample[i]: mean over seeds of correct(arm, i) - correct(baseline, i); the statistic on a set
      // of examples is the mean of perExample over them.
      const perExample = new Float64Array(n);
      let wins = 0;
      let losses = 0;
      let correctDiffSum = 0;
      for (const s of paired) {
        const arm = correctness(armRuns.get(s)!, reference, index);
        const base = correctness(baselineRuns.get(s)!, reference, index);
        let correctDiff = 0;
        for (let i = 0; i < n; i++) {
          perExample[i] += (arm[i] - base[i]) / paired.length;
          correctDiff += arm[i] - base[i];
        }
        // Compared as integer counts (same n for both runs), so a tie is exact.
        if (correctDiff > 0) wins++;
        else if (correctDiff < 0) losses++;
        correctDiffSum += correctDiff;
      }
      const rng = new Rng(streamSeed);
      const stats = new Float64Array(resamples);
      for (let b = 0; b < resamples; b++) {
        let sum = 0;
        for (let j = 0; j < n; j++) sum += perExample[rng.int(n)];
        stats[b] = sum / n;
      }
      stats.sort();
      rows.push({
        dataset: spec.dataset, dimension: spec.dimension ?? "all", condition: spec.condition, expl_tokens: spec.explTokens,
        n_seeds: paired.length, diff_mean: correctDiffSum / (n * paired.length),
        diff_lo: quantileSorted(stats, 0.025), diff_hi: quantileSorted(stats, 0.975),
        wins, losses, ties: paired.length - wins - losses,
      });
    }
  }
  return { table: aq.from(rows, DIFFERENCE_COLUMNS), unpaired };
}

function firstSpec(bySeed: Map<number, RunResult>): Spec {
  return bySeed.values().next().value!.record.spec;
}

/** Example id -> position in the reference run; a repeated id would make the pairing ambiguous. */
function exampleIndex(reference: RunResult): Map<string, number> {
  const index = new Map<string, number>();
  reference.predictions.forEach((p, i) => {
    if (index.has(p.id)) throw new Error(`run ${reference.record.key} (${describeRun(reference.record.spec)}) has example id "${p.id}" twice`);
    index.set(p.id, i);
  });
  if (index.size === 0) throw new Error(`run ${reference.record.key} (${describeRun(reference.record.spec)}) has no predictions`);
  return index;
}

/** 1 where the run predicted the gold label, in the reference run's example order; the test sets must match. */
function correctness(run: RunResult, reference: RunResult, index: Map<string, number>): Uint8Array {
  const names = `runs ${reference.record.key} (${describeRun(reference.record.spec)}) and ${run.record.key} (${describeRun(run.record.spec)})`;
  const correct = new Uint8Array(index.size);
  const seen = new Uint8Array(index.size);
  for (const p of run.predictions) {
    const i = index.get(p.id);
    if (i === undefined) throw new Error(`${names} have different test sets: example "${p.id}" is only in ${run.record.key}`);
    if (seen[i]) throw new Error(`run ${run.record.key} (${describeRun(run.record.spec)}) has example id "${p.id}" twice`);
    if (p.gold !== reference.predictions[i].gold) {
      throw new Error(`${names} disagree on the gold label of example "${p.id}" (${reference.predictions[i].gold} vs ${p.gold}): not the same test data`);
    }
    seen[i] = 1;
    correct[i] = p.predicted === p.gold ? 1 : 0;
  }
  const absent = seen.indexOf(0);
  if (absent >= 0) {
    throw new Error(`${names} have different test sets: example "${reference.predictions[absent].id}" is only in ${reference.record.key}`);
  }
  return correct;
}

/** The p-quantile of sorted values, interpolating linearly between order statistics (numpy's default). */
function quantileSorted(sorted: Float64Array, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** A row of a pairedDifferences table. */
export interface DifferenceRow {
  dataset: string;
  dimension: string;
  condition: string;
  expl_tokens: number | null;
  n_seeds: number;
  diff_mean: number;
  diff_lo: number;
  diff_hi: number;
  wins: number;
  losses: number;
  ties: number;
}

/** A row of a winsTable. */
export interface WinsRow {
  condition: string;
  expl_tokens: number | null;
  settings: number;
  wins: number;
  significant_wins: number;
  losses: number;
  significant_losses: number;
}

/**
 * One row per arm (condition, expl_tokens) of a pairedDifferences table: settings (how many settings it
 * was compared in), wins (diff_mean > 0), significant_wins (diff_lo > 0: the whole bootstrap interval
 * above zero), losses (diff_mean < 0), significant_losses (diff_hi < 0). The paper's claim, "label+expl
 * beats label in all 18 settings", is wins = settings = 18 for label+expl (significant_wins says on how
 * many the test set alone makes it clear).
 */
export function winsTable(differences: Table): Table {
  const needed = ["condition", "expl_tokens", "diff_mean", "diff_lo", "diff_hi"];
  const missing = needed.filter((c) => !differences.columnNames().includes(c));
  if (missing.length > 0) throw new Error(`winsTable needs a pairedDifferences table; missing column(s) ${missing.join(", ")}`);
  const arms = new Map<string, Arm & { rows: DifferenceRow[] }>();
  for (const row of differences.objects() as DifferenceRow[]) {
    const key = JSON.stringify([row.condition, row.expl_tokens]);
    let arm = arms.get(key);
    if (!arm) arms.set(key, (arm = { condition: row.condition, explTokens: row.expl_tokens, rows: [] }));
    arm.rows.push(row);
  }
  const rows = [...arms.values()].sort(compareArms).map(({ condition, explTokens, rows }): WinsRow => ({
    condition,
    expl_tokens: explTokens,
    settings: rows.length,
    wins: rows.filter((r) => r.diff_mean > 0).length,
    significant_wins: rows.filter((r) => r.diff_lo > 0).length,
    losses: rows.filter((r) => r.diff_mean < 0).length,
    significant_losses: rows.filter((r) => r.diff_hi < 0).length,
  }));
  return aq.from(rows, ["condition", "expl_tokens", "settings", "wins", "significant_wins", "losses", "significant_losses"]);
}
