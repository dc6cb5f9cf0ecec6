/**
 * `--emit slurm`: a grid as a Slurm job array, one shard per task, and a dependent analysis job. Three files: the
 * array's script, the analysis job's script, and submit.sh, which submits the one and then the other with
 * `--dependency=afterok` on the whole array (an analysis of a grid with a failed shard would be silently partial).
 */
import * as path from "path";
import { analysisArgs, analysisSeconds, ClusterPlan, costLines, taskMemoryMiB, taskSeconds, threadEnvironment, trainArgs } from "./plan";

/** Where the cluster sees the project and its folders (a shared filesystem); absolute. */
export interface SlurmPaths {
  projectRoot: string;
  runsDir: string;
  resultsDir: string;
  logsDir: string;
}

/** One argument for bash, quoted where it needs to be. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Seconds as Slurm's `--time` (D-HH:MM:SS), rounded up to the minute. */
export function slurmTime(seconds: number): string {
  const minutes = Math.ceil(seconds / 60);
  const days = Math.floor(minutes / 1440);
  const hh = String(Math.floor((minutes % 1440) / 60)).padStart(2, "0");
  const mm = String(minutes % 60).padStart(2, "0");
  return `${days}-${hh}:${mm}:00`;
}

function jobName(plan: ClusterPlan): string {
  return `xft-${plan.profile}-${plan.part.replace(/,/g, "+")}`;
}

function script(directives: string[], plan: ClusterPlan, paths: SlurmPaths, args: string[], comment: string[]): string {
  // TensorFlow gets the cores Slurm gave the task, where it says.
  const threads = { ...threadEnvironment(plan.cpusPerTask), TF_NUM_INTRAOP_THREADS: `\${SLURM_CPUS_PER_TASK:-${plan.cpusPerTask}}` };
  const env = Object.entries(threads).map(([k, v]) => `export ${k}=${v}`);
  return [
    "#!/bin/bash",
    ...directives.map((d) => `#SBATCH ${d}`),
    ...comment.map((l) => `# ${l}`),
    "set -euo pipefail",
    `cd ${shellQuote(paths.projectRoot)}`,
    ...env,
    `exec node bin/xft.cjs ${args.map(shellQuote).join(" ")}`,
    "",
  ].join("\n");
}

/** The three files, by name: train.sbatch, analyse.sbatch, submit.sh. */
export function slurmFiles(plan: ClusterPlan, paths: SlurmPaths): Record<string, string> {
  const name = jobName(plan);
  const memory = `--mem=${taskMemoryMiB(plan)}M`;
  const cpus = `--cpus-per-task=${plan.cpusPerTask}`;
  const train = script(
    [
      `--job-name=${name}`,
      `--array=0-${plan.shards - 1}`,
      cpus,
      memory,
      `--time=${slurmTime(taskSeconds(plan))}`,
      `--output=${path.join(paths.logsDir, "train-%A_%a.log")}`,
    ],
    plan,
    paths,
    trainArgs(plan, paths.runsDir),
    ["One shard of the grid per array task (--shard auto reads SLURM_ARRAY_TASK_ID), into one runs folder.", ...costLines(plan)],
  );
  const analyse = script(
    [
      `--job-name=${name}-analysis`,
      cpus,
      memory,
      `--time=${slurmTime(analysisSeconds(plan))}`,
      `--output=${path.join(paths.logsDir, "analysis-%j.log")}`,
    ],
    plan,
    paths,
    analysisArgs(plan, paths.runsDir, paths.resultsDir),
    ["The analysis of the whole grid, once every array task has succeeded: every run is reused, the tables go to the results folder."],
  );
  const here = (f: string) => `"$here/${f}"`;
  const submit = [
    "#!/bin/bash",
    `# Submits ${name}: the training array, then its analysis after every task of it has succeeded. Prints both job ids.`,
    "set -euo pipefail",
    'here="$(cd "$(dirname "$0")" && pwd)"',
    `mkdir -p ${shellQuote(paths.logsDir)}`,
    `train=$(sbatch --parsable ${here("train.sbatch")})`,
    "train=${train%%;*}",
    `analysis=$(sbatch --parsable --dependency=afterok:$train ${here("analyse.sbatch")})`,
    'echo "training array: $train"',
    'echo "analysis: ${analysis%%;*}"',
    "",
  ].join("\n");
  return { "train.sbatch": train, "analyse.sbatch": analyse, "submit.sh": submit };
}
