/**
 * The analysis of an experiment grid (docs/protocol.md, "Metrics per (dataset, dimension, condition)"): run
 * records and their test predictions in, arquero tables out. A *setting* is (dataset, dimension), an
 * *arm* is (condition, explTokens) (run-identity.ts); a grid runs every arm in every setting with the same seeds.
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
import type { EvaluatedRun, Prediction } from "./evaluated-run";
import { armKey, armOfRow, compareArms, compareRuns, describeRun, isBaseline, RunSpecRow, settingKey } from "./run-identity";
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

/** What the grouping reads of an item: the key and spec of the run it is or carries. */
export type KeyedRun = Pick<EvaluatedRun, "key" | "spec">;

/**
 * Items grouped by setting and arm, in compareRuns order, each group keyed by seed. Two runs of one
 * setting, arm and seed (e.g. from two profiles) are an error: counting both would count a seed twice.
 */
function groupRuns<T>(items: readonly T[], runOf: (item: T) => KeyedRun): Map<number, T>[] {
  const groups = new Map<string, Map<number, T>>();
  for (const item of [...items].sort((a, b) => compareRuns(runOf(a).spec, runOf(b).spec))) {
    const spec = runOf(item).spec;
    const key = settingKey(spec) + armKey(spec);
    let bySeed = groups.get(key);
    if (!bySeed) groups.set(key, (bySeed = new Map()));
    const previous = bySeed.get(spec.seed);
    if (previous !== undefined) {
      throw new Error(
        `runs ${runOf(previous).key} and ${runOf(item).key} are both ${describeRun(spec)}; a grid has one run per setting, arm and seed`,
      );
    }
    bySeed.set(spec.seed, item);
  }
  return [...groups.values()];
}

const SUMMARY_COLUMNS = [
  "dataset",
  "dimension",
  "condition",
  "expl_tokens",
  "n_seeds",
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
  const rows = seedGroups(records, (r) => r).map((runs) => {
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
export interface ArmColumns {
  dataset: string;
  /** "all" for a run on every row. */
  dimension: string;
  condition: string;
  expl_tokens: number | null;
}

export function armColumns(spec: RunSpecRow): ArmColumns {
  return { dataset: spec.dataset, dimension: spec.dimension ?? "all", condition: spec.condition, expl_tokens: spec.explTokens };
}

/** Finished runs (or anything carrying one, `runOf`) grouped by setting and arm in table order, one item per seed. */
export function seedGroups<T>(items: readonly T[], runOf: (item: T) => KeyedRun): T[][] {
  return groupRuns(items, runOf).map((bySeed) => [...bySeed.values()]);
}

/** Mean and 95% t-interval over seeds of the non-NaN values (see the header), and how many were NaN. */
export function seedInterval(values: readonly number[]): { mean: number; lo: number; hi: number; nan: number } {
  const kept = values.filter((v) => !Number.isNaN(v));
  return { ...meanInterval(kept), nan: values.length - kept.length };
}

/** A row of `seedPairedDifferences`. */
export interface SeedDifferenceRow extends ArmColumns, DifferenceInterval {
  n_seeds: number;
  higher: number;
  lower: number;
}

/**
 * For a per-run number (a probe measure, over-confidence, ...): per setting and non-baseline arm, the mean
 * over paired seeds of value(arm, seed) - value(baseline, seed) with its 95% t-interval over those seeds,
 * and on how many seeds the arm's value is higher / lower. Seeds without a baseline run, and NaN values,
 * are left out (n_seeds counts the rest); an arm with none left has no row.
 */
export function seedPairedDifferences<T>(
  items: readonly T[],
  runOf: (item: T) => KeyedRun,
  valueOf: (item: T) => number,
  baseline = "label",
): SeedDifferenceRow[] {
  const groups = groupRuns(items, runOf);
  const rows: SeedDifferenceRow[] = [];
  const specOf = (g: Map<number, T>) => runOf(g.values().next().value!).spec;
  for (const group of groups) {
    const spec = specOf(group);
    if (isBaseline(spec, baseline)) continue;
    const base = groups.find((g) => isBaseline(specOf(g), baseline) && settingKey(specOf(g)) === settingKey(spec));
    if (!base) continue;
    const diffs = [...group.entries()]
      .filter(([s]) => base.has(s))
      .map(([s, item]) => valueOf(item) - valueOf(base.get(s)!))
      .filter((d) => !Number.isNaN(d));
    if (diffs.length === 0) continue;
    const { mean, lo, hi } = meanInterval(diffs);
    rows.push({
      ...armColumns(spec),
      n_seeds: diffs.length,
      diff_mean: mean,
      diff_lo: lo,
      diff_hi: hi,
      higher: diffs.filter((d) => d > 0).length,
      lower: diffs.filter((d) => d < 0).length,
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
export interface UnpairedArm extends Pick<RunSpecRow, "dataset" | "dimension" | "condition" | "explTokens"> {
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

const DIFFERENCE_COLUMNS = [
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
];

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

  const groups = groupRuns(results, (r) => r.record);
  const rows: Record<string, string | number | null>[] = [];
  const unpaired: UnpairedArm[] = [];
  for (const setting of new Set(groups.map((g) => settingKey(firstSpec(g))))) {
    const inSetting = groups.filter((g) => settingKey(firstSpec(g)) === setting);
    const baselineRuns = inSetting.find((g) => isBaseline(firstSpec(g), baseline)) ?? new Map<number, RunResult>();
    // The first baseline run (lowest seed) fixes the example order that the bootstrap indices refer to.
    const reference = [...baselineRuns.entries()].sort(([a], [b]) => a - b)[0]?.[1];
    // One index stream per setting, restarted for every arm: each arm sees the same resampled examples.
    const streamSeed = hashSeed(seed, setting);
    for (const armRuns of inSetting.filter((g) => !isBaseline(firstSpec(g), baseline))) {
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
        ...armColumns(spec),
        n_seeds: paired.length,
        diff_mean: correctDiffSum / (n * paired.length),
        diff_lo: quantileSorted(stats, 0.025),
        diff_hi: quantileSorted(stats, 0.975),
        wins,
        losses,
        ties: paired.length - wins - losses,
      });
    }
  }
  return { table: aq.from(rows, DIFFERENCE_COLUMNS), unpaired };
}

function firstSpec(bySeed: Map<number, RunResult>): RunSpecRow {
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
      throw new Error(
        `${names} disagree on the gold label of example "${p.id}" (${reference.predictions[i].gold} vs ${p.gold}): not the same test data`,
      );
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
export interface DifferenceRow extends ArmColumns, DifferenceInterval {
  n_seeds: number;
  wins: number;
  losses: number;
  ties: number;
}

/** A row of `summarize`: the arm's columns, the seeds, and per metric (`accuracy`, `macro_f1`, ...) mean, interval and NaN seeds. */
export type SummaryRow = ArmColumns & { n_seeds: number } & Record<`${keyof typeof METRICS}_${"mean" | "lo" | "hi" | "nan"}`, number>;

/**
 * A table's rows as the analysis types them (arquero's `objects()` is untyped), for filters and figures in a notebook
 * cell; `X`, the columns a caller added (compareStarts' `start`).
 */
export const summaryRows = <X extends object = object>(t: Table) => t.objects() as Array<SummaryRow & X>;
export const differenceRows = <X extends object = object>(t: Table) => t.objects() as Array<DifferenceRow & X>;
export const winsRows = (t: Table) => t.objects() as WinsRow[];

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
  const perArm = tallyDirections<DifferenceRow>(
    differenceRows(differences),
    (row) => armKey(armOfRow(row)),
    () => "higher",
  );
  const rows = perArm
    .sort((a, b) => compareArms(armOfRow(a.first), armOfRow(b.first)))
    .map(({ first, tally }): WinsRow => ({
      condition: first.condition,
      expl_tokens: first.expl_tokens,
      settings: tally.settings,
      wins: tally.toward,
      significant_wins: tally.towardInterval,
      losses: tally.away,
      significant_losses: tally.awayInterval,
    }));
  return aq.from(rows, ["condition", "expl_tokens", "settings", "wins", "significant_wins", "losses", "significant_losses"]);
}

/** The interval columns of a difference row, as pairedDifferences and seedPairedDifferences write them. */
export interface DifferenceInterval {
  diff_mean: number;
  diff_lo: number;
  diff_hi: number;
}

export type Direction = "higher" | "lower";

/** Over settings: how many differences go one direction (by their mean; by their whole interval), and how many the other way. */
export interface DirectionTally {
  settings: number;
  toward: number;
  towardInterval: number;
  away: number;
  awayInterval: number;
}

/**
 * Difference rows (one per setting) tallied per group (`groupOf`), groups in the order they first appear: a row
 * counts `toward` when its mean difference is on `directionOf(row)`'s side of zero ("higher": above), and
 * `towardInterval` when its whole interval is; `away` and `awayInterval` the other way. An interval that is NaN
 * (one seed) counts for neither. The one tally behind winsTable and the probes' finding tallies.
 */
export function tallyDirections<R extends DifferenceInterval>(
  rows: readonly R[],
  groupOf: (row: R) => string,
  directionOf: (row: R) => Direction,
): Array<{ first: R; tally: DirectionTally }> {
  const groups = new Map<string, { first: R; tally: DirectionTally }>();
  for (const row of rows) {
    const key = groupOf(row);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { first: row, tally: { settings: 0, toward: 0, towardInterval: 0, away: 0, awayInterval: 0 } }));
    const higher = directionOf(row) === "higher";
    const { tally } = group;
    tally.settings += 1;
    if ((higher ? 1 : -1) * row.diff_mean > 0) tally.toward += 1;
    if ((higher ? 1 : -1) * row.diff_mean < 0) tally.away += 1;
    if (higher ? row.diff_lo > 0 : row.diff_hi < 0) tally.towardInterval += 1;
    if (higher ? row.diff_hi < 0 : row.diff_lo > 0) tally.awayInterval += 1;
  }
  return [...groups.values()];
}
