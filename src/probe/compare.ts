/**
 * The probes over a grid: per (dataset, dimension, condition) and point, each measure as mean and 95%
 * t-interval over seeds (src/eval/compare.ts, `seedInterval`), and the paper's two internal findings and
 * its over-confidence question as seed-paired differences to `label` (`seedPairedDifferences`):
 *
 *   intermediate_hidden_entropy  mean hidden-state entropy over the intermediate residual points (all but the
 *                                embedding and the last); the paper: higher after training with explanations
 *   output_entropy               entropy of the predicted label distribution; the paper: lower (sharper)
 *   overconfidence               mean top-1 confidence minus accuracy on the test set; the question: is it
 *                                higher for `label` than for the explanation conditions?
 */
import * as aq from "arquero";
import {
  ArmColumns,
  armColumns,
  Direction,
  SeedDifferenceRow,
  seedGroups,
  seedInterval,
  seedPairedDifferences,
  tallyDirections,
} from "../eval/compare";
import { Arm, armKey, armOfRow, compareArms, describeArm, isBaseline } from "../eval/run-identity";
import type { RunRecord } from "../runs/experiment";
import { LAYER_MEASURES, LayerMeasureName, EXAMPLE_MEASURES, ExampleMeasureName } from "./measures";
import type { ProbedRun, RunProbe } from "./run-probe";

type Table = ReturnType<typeof aq.table>;

/** The run a probed run carries, as the grouping and pairing of eval/compare.ts read it. */
const recordOf = (r: ProbedRun) => r.record;

const PROBE_COLUMNS = ["dataset", "dimension", "condition", "expl_tokens", "measure", "point", "point_index", "n_seeds", "mean", "lo", "hi"];

/**
 * Long format, one row per setting, arm, measure and point: layer measures at every residual point (or
 * block, for attention), example measures with point "output". All seeds of a setting and arm must have
 * the same model depth.
 */
export function probeSummary(runs: readonly ProbedRun[]): Table {
  const rows: Record<string, string | number | null>[] = [];
  for (const group of seedGroups(runs, recordOf)) {
    const first = group[0].probe;
    for (const g of group) {
      if (g.probe.points.join() !== first.points.join()) {
        throw new Error(`run ${g.record.key}: its points differ from run ${group[0].record.key}'s; one arm, one model depth`);
      }
    }
    const head = { ...armColumns(group[0].record.spec), n_seeds: group.length };
    for (const measure of Object.keys(LAYER_MEASURES) as LayerMeasureName[]) {
      const labels = LAYER_MEASURES[measure].over === "residual" ? first.points : first.blocks;
      labels.forEach((point, j) =>
        rows.push({ ...head, measure, point, point_index: j, ...intervalColumns(group.map((g) => g.probe.layers[measure][j])) }),
      );
    }
    for (const measure of Object.keys(EXAMPLE_MEASURES) as ExampleMeasureName[]) {
      rows.push({ ...head, measure, point: "output", point_index: null, ...intervalColumns(group.map((g) => g.probe.means[measure])) });
    }
  }
  return aq.from(rows, PROBE_COLUMNS);
}

/** A row of a probeSummary table. */
export interface ProbeSummaryRow extends ArmColumns {
  measure: string;
  point: string;
  /** The point's position (residual point or block); null for an example measure (point "output"). */
  point_index: number | null;
  n_seeds: number;
  mean: number;
  lo: number;
  hi: number;
}

/** A probeSummary table's rows. */
export function probeSummaryRows(summary: Table): ProbeSummaryRow[] {
  return summary.objects() as ProbeSummaryRow[];
}

/** One setting's curves of one measure, an arm each, with their intervals over seeds: rows of a probeSummary table. */
export function settingCurves(
  summary: Table,
  setting: Pick<ArmColumns, "dataset" | "dimension">,
  measure: string,
  arms: readonly Arm[],
): ProbeSummaryRow[] {
  const wanted = new Set(arms.map(armKey));
  return probeSummaryRows(summary).filter(
    (r) => r.dataset === setting.dataset && r.dimension === setting.dimension && r.measure === measure && wanted.has(armKey(armOfRow(r))),
  );
}

export interface PointOverSettings {
  measure: string;
  point: string;
  condition: string;
  expl_tokens: number | null;
  settings: number;
  mean: number;
}

/**
 * A probeSummary table reduced to one curve per arm: per measure, point and arm, the mean over settings of
 * the per-setting means over seeds (what the layer-wise charts draw), in the summary's point order.
 */
export function pointsOverSettings(summary: Table): PointOverSettings[] {
  const groups = new Map<string, PointOverSettings & { sum: number; order: number }>();
  probeSummaryRows(summary).forEach((r, order) => {
    const key = JSON.stringify([r.measure, r.point, r.condition, r.expl_tokens]);
    const g = groups.get(key) ?? {
      measure: r.measure,
      point: r.point,
      condition: r.condition,
      expl_tokens: r.expl_tokens,
      settings: 0,
      mean: NaN,
      sum: 0,
      order,
    };
    g.settings += 1;
    g.sum += r.mean;
    groups.set(key, g);
  });
  return [...groups.values()]
    .sort((a, b) => (a.measure < b.measure ? -1 : a.measure > b.measure ? 1 : a.order - b.order))
    .map(({ sum, order, ...g }) => ({ ...g, mean: sum / g.settings }));
}

/** The summary's columns of a seedInterval: its NaN count is not one of them. */
function intervalColumns(values: readonly number[]): { mean: number; lo: number; hi: number } {
  const { mean, lo, hi } = seedInterval(values);
  return { mean, lo, hi };
}

/** Mean hidden-state entropy over the intermediate points; NaN for a model with none (no blocks). */
export function intermediateHiddenEntropy(probe: RunProbe): number {
  const inner = probe.layers.hidden_entropy.slice(1, -1);
  return inner.length === 0 ? NaN : inner.reduce((a, b) => a + b, 0) / inner.length;
}

/** Mean top-1 confidence minus accuracy, from the run's reliability bins. */
export function overconfidence(record: RunRecord): number {
  const m = record.metrics;
  if (!m) throw new Error(`run ${record.key} has no metrics; over-confidence needs a finished run`);
  const n = m.reliability.reduce((a, b) => a + b.count, 0);
  const confidence = m.reliability.reduce((a, b) => a + b.count * (b.meanConfidence ?? 0), 0) / n;
  return confidence - m.accuracy;
}

const FINDINGS = {
  intermediate_hidden_entropy: { of: (r: ProbedRun) => intermediateHiddenEntropy(r.probe), paper: "higher" },
  output_entropy: { of: (r: ProbedRun) => r.probe.means.output_entropy, paper: "lower" },
  overconfidence: { of: (r: ProbedRun) => overconfidence(r.record), paper: "lower" },
} as const;
export type FindingName = keyof typeof FINDINGS;

/** Per quantity of FINDINGS, setting and arm: the seed-paired difference to `label`. */
export function findingDifferences(runs: readonly ProbedRun[]): Table {
  const rows = (Object.keys(FINDINGS) as FindingName[]).flatMap((quantity) =>
    seedPairedDifferences(runs, recordOf, (r) => FINDINGS[quantity].of(r)).map((r) => ({ quantity, ...r })),
  );
  return aq.from(rows, [
    "quantity",
    "dataset",
    "dimension",
    "condition",
    "expl_tokens",
    "n_seeds",
    "diff_mean",
    "diff_lo",
    "diff_hi",
    "higher",
    "lower",
  ]);
}

export interface FindingTally {
  quantity: FindingName;
  condition: string;
  expl_tokens: number | null;
  /** The direction the paper reports for explanation-trained models against label. */
  paper: Direction;
  settings: number;
  /** Settings whose mean difference is in the paper's direction, and those whose whole interval is. */
  as_paper: number;
  as_paper_interval: number;
  /** Settings with the opposite sign, and those whose whole interval is on the opposite side. */
  against: number;
  against_interval: number;
}

/** Per quantity and arm, over settings: how often the difference to label goes the paper's way (`tallyDirections`). */
export function findingTallies(differences: Table): FindingTally[] {
  type FindingRow = SeedDifferenceRow & { quantity: FindingName };
  const paperOf = (row: FindingRow): Direction => FINDINGS[row.quantity].paper;
  return tallyDirections<FindingRow>(
    differences.objects() as FindingRow[],
    (row) => JSON.stringify([row.quantity, armKey(armOfRow(row))]),
    paperOf,
  ).map(({ first, tally }) => ({
    quantity: first.quantity,
    condition: first.condition,
    expl_tokens: first.expl_tokens,
    paper: paperOf(first),
    settings: tally.settings,
    as_paper: tally.toward,
    as_paper_interval: tally.towardInterval,
    against: tally.away,
    against_interval: tally.awayInterval,
  }));
}

/** A reliability bin pooled over the runs of a condition. */
export interface ReliabilityRow {
  condition: string;
  bin: number;
  lo: number;
  hi: number;
  count: number;
  mean_confidence: number;
  accuracy: number;
}

/** Reliability bins summed over runs of each condition (at the profile's budget): the reliability diagram per condition. */
export function pooledReliability(records: readonly RunRecord[]): ReliabilityRow[] {
  const pooled = new Map<string, { condition: string; bin: number; lo: number; hi: number; count: number; conf: number; correct: number }>();
  for (const r of records) {
    if (!r.metrics || r.spec.explTokens !== null) continue;
    r.metrics.reliability.forEach((b, i) => {
      const key = `${r.spec.condition}/${i}`;
      const p = pooled.get(key) ?? { condition: r.spec.condition, bin: i, lo: b.lo, hi: b.hi, count: 0, conf: 0, correct: 0 };
      p.count += b.count;
      p.conf += b.count * (b.meanConfidence ?? 0);
      p.correct += b.count * (b.accuracy ?? 0);
      pooled.set(key, p);
    });
  }
  return [...pooled.values()]
    .filter((p) => p.count > 0)
    .map((p) => ({
      condition: p.condition,
      bin: p.bin,
      lo: p.lo,
      hi: p.hi,
      count: p.count,
      mean_confidence: p.conf / p.count,
      accuracy: p.correct / p.count,
    }));
}

const FINDING_WORDS: Record<FindingName, string> = {
  intermediate_hidden_entropy: "hidden-state entropy at the intermediate points",
  output_entropy: "output entropy (lower: sharper)",
  overconfidence: "over-confidence (confidence minus accuracy)",
};

/** Per arm of `arms` but the baseline, and per quantity of FINDINGS: a sentence of `describeFinding`. */
export function findingSentences(tallies: readonly FindingTally[], arms: readonly Arm[]): string[] {
  const quantities = Object.keys(FINDINGS) as FindingName[];
  return arms.filter((arm) => !isBaseline(arm)).flatMap((arm) => quantities.map((quantity) => describeFinding(tallies, quantity, arm)));
}

/** One sentence: in how many settings an arm's difference to label goes the paper's way for one quantity. */
function describeFinding(tallies: readonly FindingTally[], quantity: FindingName, arm: Arm): string {
  const name = describeArm(arm);
  const t = tallies.find((x) => x.quantity === quantity && armKey(armOfRow(x)) === armKey(arm));
  if (!t) return `${name}: no setting has both ${name} and label probes for ${quantity}`;
  return (
    `${name} vs label, ${FINDING_WORDS[quantity]}: ${t.paper} in ${t.as_paper} of ${t.settings} settings ` +
    `(interval wholly so in ${t.as_paper_interval}); the other way in ${t.against} (interval wholly so in ${t.against_interval})`
  );
}

/** The run of one setting (as a summary row names it) and arm with the lowest seed; an error when there is none. */
export function firstSeedRun(runs: readonly ProbedRun[], setting: Pick<ArmColumns, "dataset" | "dimension">, arm: Arm): ProbedRun {
  const matching = runs.filter((r) => {
    const columns = armColumns(r.record.spec);
    return columns.dataset === setting.dataset && columns.dimension === setting.dimension && armKey(r.record.spec) === armKey(arm);
  });
  if (matching.length === 0) throw new Error(`no probed run of ${setting.dataset}/${setting.dimension} ${describeArm(arm)}`);
  return matching.reduce((a, b) => (b.record.spec.seed < a.record.spec.seed ? b : a));
}

/** The logit lens's agreement with the final prediction, per point and condition (see lensAgreementByCondition). */
export interface LensAgreement {
  conditions: string[];
  points: string[];
  /** agreement[j][c]: at point j, condition c's mean share of examples whose lens top-1 is already the final prediction. */
  agreement: number[][];
}

/**
 * Per point and condition (at the profile's budget, in CONDITIONS order): the share of test examples whose lens top-1
 * is already the run's final prediction (RunProbe's `lensAgreement`), mean over the condition's runs (settings and
 * seeds alike). Every run must have the same points (one model depth).
 */
export function lensAgreementByCondition(runs: readonly ProbedRun[]): LensAgreement {
  if (runs.length === 0) throw new Error("lens agreement needs at least one probed run");
  const points = runs[0].probe.points;
  const byArm = new Map<string, { arm: Arm; runs: ProbedRun[] }>();
  for (const r of runs) {
    if (r.probe.points.join() !== points.join()) {
      throw new Error(`run ${r.record.key}: its points differ from run ${runs[0].record.key}'s; lens agreement needs one model depth`);
    }
    if (r.record.spec.explTokens !== null) continue;
    const key = armKey(r.record.spec);
    if (!byArm.has(key)) byArm.set(key, { arm: r.record.spec, runs: [] });
    byArm.get(key)!.runs.push(r);
  }
  const arms = [...byArm.values()].sort((a, b) => compareArms(a.arm, b.arm));
  return {
    conditions: arms.map((a) => a.arm.condition),
    points,
    agreement: points.map((_, j) => arms.map((a) => a.runs.reduce((sum, r) => sum + r.probe.lensAgreement[j], 0) / a.runs.length)),
  };
}
