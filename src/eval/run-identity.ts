/**
 * A run's identity, in one place for the grid (src/runs/grid.ts), the analysis (compare.ts) and the probes
 * (src/probe): its *setting* (dataset, dimension), its *arm* (condition, explanation budget) and its seed; the order
 * of settings and arms in every table; which arm is the baseline; and how a run is named in messages.
 *
 * The explanation budget is `explTokens` everywhere: the explanation tokens a run keeps when it overrides its
 * profile's cap (the token-budget ablation); absent in a request and null in a record for the profile's own cap
 * (`sequence.maxExplTokens`, the cap a run's sequences are actually cut to, which is what the run key hashes).
 */
import { CONDITIONS } from "../train/sequences";

/** An arm: a condition at an explanation budget (absent or null: the profile's cap). */
export interface Arm<C extends string = string> {
  condition: C;
  explTokens?: number | null;
}

/** A run's identity as its record stores it (run.json's `spec`): setting, arm and seed. */
export interface RunSpecRow extends Arm {
  dataset: string;
  dimension: string | null;
  explTokens: number | null;
  seed: number;
  profile: string;
}

/** What names a run: its setting, arm and seed, as a record (null for none) or a request (absent for none) gives them. */
export type RunIdentity = Arm & Pick<RunSpecRow, "dataset" | "seed"> & { dimension?: string | null };

/** One string per arm; an absent budget and a null one are the same arm. */
export function armKey(arm: Arm): string {
  return JSON.stringify([arm.condition, arm.explTokens ?? null]);
}

/** One string per setting. */
export function settingKey(run: Pick<RunIdentity, "dataset" | "dimension">): string {
  return JSON.stringify([run.dataset, run.dimension ?? null]);
}

/** The arm every other arm of a setting is compared to: `baseline` (default `label`) at the profile's budget. */
export function isBaseline(arm: Arm, baseline = "label"): boolean {
  return arm.condition === baseline && (arm.explTokens ?? null) === null;
}

/** The arm of an analysis table's row (columns `condition` and `expl_tokens`). */
export function armOfRow(row: { condition: string; expl_tokens: number | null }): Arm {
  return { condition: row.condition, explTokens: row.expl_tokens };
}

/** "condition", or "condition@budget" for an arm with its own explanation budget. */
export function describeArm(arm: Arm): string {
  return arm.explTokens === undefined || arm.explTokens === null ? arm.condition : `${arm.condition}@${arm.explTokens}`;
}

/**
 * "dataset/dimension condition@budget seed S", for progress lines and error messages; `startSuffix` is where the
 * run's weights start as src/runs/experiment.ts's `startSuffix` writes it ("-base-lora"), shown as words.
 */
export function describeRun(run: RunIdentity, startSuffix = ""): string {
  return `${run.dataset}/${run.dimension ?? "all"} ${describeArm(run)} seed ${run.seed}${startSuffix.replace(/-/g, " ")}`;
}

/** Setting, then arm: dataset and dimension by name (all rows first), then compareArms. */
export function compareRuns(a: RunIdentity, b: RunIdentity): number {
  return compareStrings(a.dataset, b.dataset) || compareNullable(a.dimension ?? null, b.dimension ?? null, compareStrings) || compareArms(a, b);
}

/** Conditions in CONDITIONS order (one from another version after them, by name), budgets ascending, the profile's first. */
export function compareArms(a: Arm, b: Arm): number {
  return (
    conditionRank(a.condition) - conditionRank(b.condition) ||
    compareStrings(a.condition, b.condition) ||
    compareNullable(a.explTokens ?? null, b.explTokens ?? null, (x, y) => x - y)
  );
}

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
