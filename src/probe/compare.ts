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
import { armColumns, SeedDifferenceRow, seedGroups, seedInterval, seedPairedDifferences } from "../eval/compare";
import type { RunRecord } from "../runs/experiment";
import { LAYER_MEASURES, LayerMeasureName, EXAMPLE_MEASURES, ExampleMeasureName } from "./measures";
import type { ProbedRun, RunProbe } from "./run-probe";

type Table = ReturnType<typeof aq.table>;


type Keyed = ProbedRun & { spec: RunRecord["spec"]; key: string };

/** Items of the analysis carry their record's spec and key at the top, as seedGroups expects. */
function withSpec(runs: readonly ProbedRun[]): Keyed[] {
  return runs.map((r) => ({ ...r, spec: r.record.spec, key: r.record.key }));
}

const PROBE_COLUMNS = ["dataset", "dimension", "condition", "expl_tokens", "measure", "point", "point_index", "n_seeds", "mean", "lo", "hi"];

/**
 * Long format, one row per setting, arm, measure and point: layer measures at every residual point (or
 * block, for attention), example measures with point "output". All seeds of a setting and arm must have
 * the same model depth.
 */
export function probeSummary(runs: readonly ProbedRun[]): Table {
  const rows: Record<string, string | number | null>[] = [];
  for (const group of seedGroups<Keyed>(withSpec(runs))) {
    const first = group[0].probe;
    for (const g of group) {
      if (g.probe.points.join() !== first.points.join()) throw new Error(`run ${g.key}: its points differ from run ${group[0].key}'s; one arm, one model depth`);
    }
    const head = { ...armColumns(group[0].spec), n_seeds: group.length };
    for (const measure of Object.keys(LAYER_MEASURES) as LayerMeasureName[]) {
      const labels = LAYER_MEASURES[measure].over === "residual" ? first.points : first.blocks;
      labels.forEach((point, j) => rows.push({ ...head, measure, point, point_index: j, ...pick(seedInterval(group.map((g) => g.probe.layers[measure][j]))) }));
    }
    for (const measure of Object.keys(EXAMPLE_MEASURES) as ExampleMeasureName[]) {
      rows.push({ ...head, measure, point: "output", point_index: null, ...pick(seedInterval(group.map((g) => g.probe.means[measure]))) });
    }
  }
  return aq.from(rows, PROBE_COLUMNS);
}

export interface PointOverSettings {
  measure: string; point: string; condition: string; expl_tokens: number | null; settings: number; mean: number;
}

/**
 * A probeSummary table reduced to one curve per arm: per measure, point and arm, the mean over settings of
 * the per-setting means over seeds (what the layer-wise charts draw), in the summary's point order.
 */
export function pointsOverSettings(summary: Table): PointOverSettings[] {
  const groups = new Map<string, PointOverSettings & { sum: number; order: number }>();
  (summary.objects() as Array<Record<string, any>>).forEach((r, order) => {
    const key = JSON.stringify([r.measure, r.point, r.condition, r.expl_tokens]);
    const g = groups.get(key) ?? { measure: r.measure, point: r.point, condition: r.condition, expl_tokens: r.expl_tokens, settings: 0, mean: NaN, sum: 0, order };
    g.settings += 1;
    g.sum += r.mean;
    groups.set(key, g);
  });
  return [...groups.values()]
    .sort((a, b) => (a.measure < b.measure ? -1 : a.measure > b.measure ? 1 : a.order - b.order))
    .map(({ sum, order, ...g }) => ({ ...g, mean: sum / g.settings }));
}

function pick(s: { mean: number; lo: number; hi: number }) {
  return { mean: s.mean, lo: s.lo, hi: s.hi };
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

export const FINDINGS = {
  intermediate_hidden_entropy: { of: (r: ProbedRun) => intermediateHiddenEntropy(r.probe), paper: "higher" },
  output_entropy: { of: (r: ProbedRun) => r.probe.means.output_entropy, paper: "lower" },
  overconfidence: { of: (r: ProbedRun) => overconfidence(r.record), paper: "lower" },
} as const;
export type FindingName = keyof typeof FINDINGS;

/** Per quantity of FINDINGS, setting and arm: the seed-paired difference to `label`. */
export function findingDifferences(runs: readonly ProbedRun[]): Table {
  const rows = (Object.keys(FINDINGS) as FindingName[]).flatMap((quantity) =>
    seedPairedDifferences<Keyed>(withSpec(runs), (r) => FINDINGS[quantity].of(r)).map((r) => ({ quantity, ...r })));
  return aq.from(rows, ["quantity", "dataset", "dimension", "condition", "expl_tokens", "n_seeds", "diff_mean", "diff_lo", "diff_hi", "higher", "lower"]);
}

export interface FindingTally {
  quantity: FindingName;
  condition: string;
  expl_tokens: number | null;
  /** The direction the paper reports for explanation-trained models against label. */
  paper: "higher" | "lower";
  settings: number;
  /** Settings whose mean difference is in the paper's direction, and those whose whole interval is. */
  as_paper: number;
  as_paper_interval: number;
  /** Settings with the opposite sign, and those whose whole interval is on the opposite side. */
  against: number;
  against_interval: number;
}

/** Per quantity and arm, over settings: how often the difference to label goes the paper's way. */
export function findingTallies(differences: Table): FindingTally[] {
  const byArm = new Map<string, FindingTally>();
  for (const row of differences.objects() as Array<SeedDifferenceRow & { quantity: FindingName }>) {
    const paper = FINDINGS[row.quantity].paper;
    const key = JSON.stringify([row.quantity, row.condition, row.expl_tokens]);
    let t = byArm.get(key);
    if (!t) {
      t = { quantity: row.quantity, condition: row.condition, expl_tokens: row.expl_tokens, paper, settings: 0, as_paper: 0, as_paper_interval: 0, against: 0, against_interval: 0 };
      byArm.set(key, t);
    }
    const sign = paper === "higher" ? 1 : -1;
    t.settings += 1;
    if (sign * row.diff_mean > 0) t.as_paper += 1;
    if (sign * row.diff_mean < 0) t.against += 1;
    // An interval wholly on one side of zero; with one seed there is none (NaN), and nothing is counted.
    if (paper === "higher" ? row.diff_lo > 0 : row.diff_hi < 0) t.as_paper_interval += 1;
    if (paper === "higher" ? row.diff_hi < 0 : row.diff_lo > 0) t.against_interval += 1;
  }
  return [...byArm.values()];
}

/** Reliability bins summed over runs of each condition: the reliability diagram per condition. */
export function pooledReliability(records: readonly RunRecord[]): Table {
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
  const rows = [...pooled.values()].filter((p) => p.count > 0).map((p) => ({
    condition: p.condition, bin: p.bin, lo: p.lo, hi: p.hi, count: p.count, mean_confidence: p.conf / p.count, accuracy: p.correct / p.count,
  }));
  return aq.from(rows, ["condition", "bin", "lo", "hi", "count", "mean_confidence", "accuracy"]);
}

const FINDING_WORDS: Record<FindingName, string> = {
  intermediate_hidden_entropy: "hidden-state entropy at the intermediate points",
  output_entropy: "output entropy (lower: sharper)",
  overconfidence: "over-confidence (confidence minus accuracy)",
};

/** One sentence: in how many settings an arm's difference to label goes the paper's way for one quantity. */
export function describeFinding(tallies: readonly FindingTally[], quantity: FindingName, condition: string): string {
  const t = tallies.find((x) => x.quantity === quantity && x.condition === condition && x.expl_tokens === null);
  if (!t) return `${condition}: no setting has both ${condition} and label probes for ${quantity}`;
  return `${condition} vs label, ${FINDING_WORDS[quantity]}: ${t.paper} in ${t.as_paper} of ${t.settings} settings ` +
    `(interval wholly so in ${t.as_paper_interval}); the other way in ${t.against} (interval wholly so in ${t.against_interval})`;
}
