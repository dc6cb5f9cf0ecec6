/**
 * The experiment grid: (setting, arm, seed) runs, where a setting is (dataset, dimension) and an arm is
 * (condition, explanation-token budget). Every run is an ordinary `runExperiment` run, stored in its own
 * folder keyed by everything that determines it, so a finished run is reused, an interrupted grid resumes
 * where it stopped (the run it was in resumes from its checkpoint), and `--shard k/n` (cluster/shard.ts) lets n
 * machines each take one share of the runs and merge their run folders afterwards (merge.ts).
 *
 * The paper's grid (docs/protocol.md): six conversation sources x three dimensions (18 settings) plus the
 * real-explanation datasets, every condition, several seeds. The sizes of one run come from the grid
 * profile (`GRID_PROFILES`), smaller than the quickstart's: a grid is hundreds of runs.
 */
import * as path from "path";
import { datasetNames, projectRoot } from "../data/load";
import { dimensionsOf } from "../data/stats";
import { Arm, armKey, describeRun } from "../eval/run-identity";
import { Condition, CONDITIONS } from "../train/sequences";
import { interruptedSince } from "../util/interrupt";
import { cachedDataset, formatSeconds, ProgressEvent, RunOptions, RunRecord, runExperiment, RunSpec, RunStart, startSuffix } from "./experiment";
import { Profile, PROFILES, ProfileName, resolveProfile } from "./profiles";

export interface Setting {
  dataset: string;
  dimension: string;
}

export interface GridSpec {
  settings: Setting[];
  arms: Arm<Condition>[];
  seeds: number[];
  profile: Profile;
  /** Where every run's weights start (default: from scratch). */
  start?: RunStart;
}

/** The grid's sizes per profile: the run profile, the seeds, and which conversation sources take part. */
export interface GridProfile {
  profile: Profile;
  seeds: number[];
  /** Conversation benchmark sources (data/conv-*) in the grid; "all" for every one. */
  sources: string[] | "all";
}

/** The real-explanation datasets (docs/protocol.md): human or GPT-4 rationales, not the teacher's. */
export const REAL_EXPLANATION_DATASETS = ["feedbackqa", "autoj", "esnli"] as const;
/** The token-budget ablation: label+expl with explanations cut to these many tokens (and whole, the default cap). */
export const EXPLANATION_BUDGETS = [0, 8, 16, 32] as const;

const base = (name: ProfileName): Profile => PROFILES[name];

export const GRID_PROFILES: Record<ProfileName, GridProfile> = {
  // Minutes for the whole grid, for the tests: a one-layer model on a few dozen examples per setting.
  ci: {
    profile: {
      ...base("ci"),
      model: { layers: 1, dModel: 32, heads: 2, mlpRatio: 4, initStd: 0.02 },
      sequence: { maxLen: 96, maxExplTokens: 24 },
      train: { ...base("ci").train, warmupSteps: 4, checkpointEvery: 1000 },
      epochs: 2,
      maxTrain: 96,
      maxTest: 48,
    },
    seeds: [1, 2],
    sources: ["conv-usr-topical", "conv-hh-chosen"],
  },
  // Every source, three seeds: 756 runs (504 of the paper's grid, 252 of the budget ablation). A one-layer model
  // for more epochs rather than a deeper one for fewer: at 600 examples and 3 epochs a two-layer model predicted
  // the majority class in every setting, so there was nothing to compare; 8 epochs at lr 3e-3 learn the settings
  // that can be learned at this size. `--jobs 2` trains two at a time (README: what the grid costs).
  quick: {
    profile: {
      ...base("quick"),
      model: { layers: 1, dModel: 64, heads: 4, mlpRatio: 4, initStd: 0.02 },
      sequence: { maxLen: 96, maxExplTokens: 40 },
      train: { ...base("quick").train, lr: 3e-3, warmupSteps: 20, checkpointEvery: 200 },
      epochs: 8,
      maxTrain: 400,
      maxTest: 200,
    },
    seeds: [1, 2, 3],
    sources: "all",
  },
  // The full profile as it is (its model, every example), five seeds: the grid whose numbers one reports.
  full: {
    profile: base("full"),
    seeds: [1, 2, 3, 4, 5],
    sources: "all",
  },
};

/** Where a grid's tables go: results/<profile>, or results/<profile>-base(-lora) for runs from the base. */
export function gridResultsDir(profile: ProfileName, start: RunStart = {}, root = projectRoot()): string {
  return path.join(root, "results", profile + startSuffix(start));
}

export function gridProfile(name?: string): GridProfile {
  return GRID_PROFILES[resolveProfile(name).name];
}

/** Every (dataset, dimension) of the named datasets, in dataset order, then the order dimensions first appear. */
export function settingsOf(datasets: readonly string[]): Setting[] {
  return datasets.flatMap((dataset) => dimensionsOf(cachedDataset(dataset).train).map((dimension) => ({ dataset, dimension })));
}

/** The conversation benchmark's sources under data/ (conv-*), or the profile's selection of them. */
function benchmarkSources(selection: GridProfile["sources"], root = projectRoot()): string[] {
  const all = datasetNames(root).filter((name) => name.startsWith("conv-"));
  if (selection === "all") return all;
  const unknown = selection.filter((s) => !all.includes(s));
  if (unknown.length > 0) throw new Error(`grid profile names unknown sources ${unknown.join(", ")}; known: ${all.join(", ")}`);
  return [...selection];
}

export type GridPart = "explanations" | "pseudo" | "budget" | "all";

/**
 * The reproduction's grid, or some parts of it (what each experiment notebook shows), each arm once:
 *   explanations  label and label+expl                            (02-explanations-vs-labels)
 *   pseudo        every condition: label, label+expl, expl+label and the pseudo ones (03-pseudo-explanations)
 *   budget        label and label+expl cut to 0, 8, 16, 32 tokens (03, the token-budget ablation)
 * on the benchmark's settings and the real-explanation datasets. Parts share runs (label is in all three): a run
 * that one notebook trained is reused by the next.
 */
export function reproductionGrid(parts: GridPart | readonly GridPart[], grid: GridProfile, start: RunStart = {}): GridSpec {
  const settings = settingsOf([...benchmarkSources(grid.sources), ...REAL_EXPLANATION_DATASETS]);
  const byPart: Record<Exclude<GridPart, "all">, Arm<Condition>[]> = {
    explanations: [{ condition: "label" }, { condition: "label+expl" }],
    pseudo: CONDITIONS.map((condition) => ({ condition })),
    budget: [{ condition: "label" }, ...EXPLANATION_BUDGETS.map((explTokens) => ({ condition: "label+expl" as const, explTokens }))],
  };
  const wanted = typeof parts === "string" ? [parts] : parts;
  const chosen = wanted.includes("all") ? Object.values(byPart) : wanted.map((p) => byPart[p as Exclude<GridPart, "all">]);
  const arms = uniqueArms(chosen.flat());
  return { settings, arms, seeds: grid.seeds, profile: grid.profile, start };
}

function uniqueArms(arms: Arm<Condition>[]): Arm<Condition>[] {
  const seen = new Map<string, Arm<Condition>>();
  for (const a of arms) if (!seen.has(armKey(a))) seen.set(armKey(a), a);
  return [...seen.values()];
}

/** The runs of a grid, in a fixed order (setting, arm, seed): shards and progress refer to positions in it. */
export function expandGrid(g: GridSpec): RunSpec[] {
  return g.settings.flatMap((s) =>
    g.arms.flatMap((a) =>
      g.seeds.map((seed): RunSpec => ({
        dataset: s.dataset,
        dimension: s.dimension,
        condition: a.condition,
        explTokens: a.explTokens ?? undefined,
        seed,
        profile: g.profile,
        ...g.start,
      })),
    ),
  );
}

export interface GridProgress {
  /** 1-based position of the current run among this shard's runs. */
  run: number;
  runs: number;
  spec: RunSpec;
  /** The current run's own progress; absent between runs. */
  event?: ProgressEvent;
  /** The run that just ended (finished, stopped or reused): reported once per run, after it; absent before. */
  finished?: RunRecord;
  /** Seconds left for the grid, from the mean wall time of the runs trained so far (reused runs cost nothing). */
  etaS: number;
  text: string;
}

export interface GridOptions extends Omit<RunOptions, "onProgress"> {
  onProgress?: (p: GridProgress) => void;
}

/**
 * Runs the specs one after the other; stops between steps (checkpointed) when `shouldStop` says so, by default on a
 * SIGINT (a notebook kernel's interrupt).
 */
export async function runGrid(specs: readonly RunSpec[], opts: GridOptions = {}): Promise<RunRecord[]> {
  const records: RunRecord[] = [];
  // One stop for the whole grid: an interrupt during one run's evaluation still stops the grid after that run.
  const shouldStop = opts.shouldStop ?? interruptedSince();
  let trainedS = 0;
  let trained = 0;
  const started = Date.now();
  for (const [i, spec] of specs.entries()) {
    const remaining = specs.length - i;
    const eta = () => (trained > 0 ? (trainedS / trained) * remaining : NaN);
    const report = (event?: ProgressEvent, finished?: RunRecord) =>
      opts.onProgress?.({
        run: i + 1,
        runs: specs.length,
        spec,
        event,
        finished,
        etaS: eta(),
        text:
          `run ${i + 1}/${specs.length} ${describeRun(spec, startSuffix(spec))}${event ? `: ${event.phase} ${event.done}/${event.total}` : ""}` +
          `${finished ? `: ${finished.reused ? "reused" : finished.status}` : ""}; ` +
          `grid ${formatSeconds((Date.now() - started) / 1000)} elapsed, ${formatSeconds(eta())} left`,
      });
    report();
    const record = await runExperiment(spec, { ...opts, shouldStop, onProgress: (event) => report(event) });
    records.push(record);
    if (!record.reused) {
      trainedS += record.wallS;
      trained += 1;
    }
    report(undefined, record);
    if (record.status === "stopped" || shouldStop()) break;
  }
  return records;
}
