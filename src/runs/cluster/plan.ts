/**
 * A grid handed to a scheduler: the commands its tasks run and what each task asks for. The scheduler files
 * (slurm.ts, kubernetes.ts) only put these into their own terms, so that both run the same xft commands: one
 * `reproduce --shard auto --train-only` per task into a shared runs folder, then one `reproduce` that finds every
 * run finished and writes the analysis.
 */
import { formatSeconds, RunStart } from "../experiment";
import type { ProfileName } from "../profiles";
import { CPUS_PER_TASK, ShardCost, StepCost } from "./cost";

export interface ClusterPlan {
  profile: ProfileName;
  /** `--part` as given (one part or several, comma-separated). */
  part: string;
  /** The start options, as command-line arguments (start-options.ts's `startArgs`). */
  startArgs: string[];
  start: RunStart;
  shards: number;
  cpusPerTask: number;
  costs: ShardCost[];
  stepCost: StepCost;
}

/** A task's limit: the largest shard's estimate with half again as margin, plus 10 minutes for start-up and evaluation. */
export function taskSeconds(plan: ClusterPlan): number {
  return Math.ceil(Math.max(...plan.costs.map((c) => c.seconds)) * 1.5 + 600);
}

/**
 * The analysis job's limit: a margin, not a measurement. It reads every run and, for conversation runs, evaluates
 * each on USR's human ratings (one evaluation pass per run, a fraction of a run's training): half an hour plus a
 * quarter of a task's limit.
 */
export function analysisSeconds(plan: ClusterPlan): number {
  return 1800 + Math.ceil(taskSeconds(plan) / 4);
}

/** Memory per task in MiB: the reference run's peak RSS with half again as margin, in steps of 256 MiB. */
export function taskMemoryMiB(plan: ClusterPlan): number {
  return Math.ceil((plan.stepCost.peakRssMiB * 1.5) / 256) * 256;
}

/** The training task's xft arguments (after `node bin/xft.cjs`): its shard from the scheduler. */
export function trainArgs(plan: ClusterPlan, runsDir: string): string[] {
  return ["reproduce", "--profile", plan.profile, "--part", plan.part, "--shard", "auto", "--train-only", "--runs-dir", runsDir, ...plan.startArgs];
}

/** The analysis job's xft arguments: the same grid, every run reused, the tables into `resultsDir`. */
export function analysisArgs(plan: ClusterPlan, runsDir: string, resultsDir: string): string[] {
  return ["reproduce", "--profile", plan.profile, "--part", plan.part, "--runs-dir", runsDir, "--out", resultsDir, ...plan.startArgs];
}

/** TensorFlow's threads for a task of `cpus` cores, one inter-op thread (as `--jobs` gives its jobs). */
export function threadEnvironment(cpus: number): Record<string, string> {
  return { TF_NUM_INTRAOP_THREADS: String(cpus), TF_NUM_INTEROP_THREADS: "1", TF_CPP_MIN_LOG_LEVEL: "2" };
}

function duration(seconds: number): string {
  return seconds < 3600 ? formatSeconds(seconds) : `${(seconds / 3600).toFixed(1)} h`;
}

/** A summary of the cost, as comment lines for the emitted files. */
export function costLines(plan: ClusterPlan): string[] {
  const total = plan.costs.reduce((a, c) => a + c.coreHours, 0);
  return [
    `${plan.shards} tasks of ${plan.cpusPerTask} core${plan.cpusPerTask === 1 ? "" : "s"}; estimates from ${plan.stepCost.source}, ` +
      `${plan.stepCost.secondsPerStep.toFixed(3)} s/step with ${CPUS_PER_TASK} threads:`,
    ...plan.costs.map(
      (c) =>
        `  shard ${c.shard}/${plan.shards}: ${c.runs} runs, ${c.steps} steps, about ${duration(c.seconds)}, ${c.coreHours.toFixed(2)} core-hours`,
    ),
    `  all shards: ${total.toFixed(2)} core-hours`,
  ];
}
