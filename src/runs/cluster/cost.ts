/**
 * What a grid's shards cost, for a scheduler's request (time limit, memory) and for the README's core-hours: each
 * run's step count times the seconds a step takes. The seconds come from the runs already finished in the runs
 * folder with the same profile and start (the user's own machine, measured), else from one reference run per
 * profile measured here. Either way a figure says where it came from.
 */
import { runRecords } from "../catalog";
import { RunRecord, RunSpec, RunStart, runSteps } from "../experiment";
import { shardOf } from "./shard";
import type { ProfileName } from "../profiles";

/** The threads the reference runs had, and so the cores a task is given unless told otherwise. */
export const CPUS_PER_TASK = 2;

/**
 * One `xft train --dataset esnli --condition label+expl --seed 7` per profile (label+expl has the longest sequences
 * of the conditions), 2 TensorFlow threads, 2 vCPU AMD EPYC, 2026-12-05, while another job shared the cores: the
 * run's wall time over its steps (evaluation included) and the process's peak RSS (/usr/bin/time). `full` was
 * stopped after 150 s; its figure is the training's alone.
 */
const REFERENCE: Record<ProfileName, { secondsPerStep: number; peakRssMiB: number }> = {
  ci: { secondsPerStep: 0.035, peakRssMiB: 675 },
  quick: { secondsPerStep: 0.151, peakRssMiB: 1020 },
  full: { secondsPerStep: 0.954, peakRssMiB: 1449 },
};

export interface StepCost {
  secondsPerStep: number;
  peakRssMiB: number;
  /** Where the figures come from, in words. */
  source: string;
}

/** What a start costs like: scratch, base or a checkpoint, with or without an adapter (a run's weights change the cost; the checkpoint does too, but any measured one is nearer than none). */
function startKind(s: RunStart | RunRecord): string {
  const from =
    "spec" in s ? (s.init?.from ?? "scratch") : s.init === undefined || s.init === "scratch" ? "scratch" : s.init === "base" ? "base" : "hf";
  const lora = "spec" in s ? Boolean(s.adapter) : s.adapter === "lora";
  return `${from}${lora ? "+lora" : ""}`;
}

/** Seconds per step for a profile and start: the median over the runs folder's finished runs of it, else the reference run's. */
export function stepCost(profile: ProfileName, start: RunStart, runsDir?: string): StepCost {
  const reference = REFERENCE[profile];
  const measured = runRecords({ runsDir, profile })
    .filter((r) => r.status === "done" && r.training.steps > 0 && startKind(r) === startKind(start))
    .map((r) => r.wallS / r.training.steps)
    .sort((a, b) => a - b);
  if (measured.length === 0) {
    return { ...reference, source: `one reference run of the ${profile} profile (2 vCPU AMD EPYC, 2 threads)` };
  }
  return {
    secondsPerStep: measured[Math.floor(measured.length / 2)],
    peakRssMiB: reference.peakRssMiB,
    source: `the median of ${measured.length} finished ${profile} runs in the runs folder`,
  };
}

export interface ShardCost {
  /** 1-based. */
  shard: number;
  runs: number;
  steps: number;
  seconds: number;
  coreHours: number;
}

/** Each of `count` shards of the specs (as `--shard k/count` splits them): runs, steps, estimated seconds and core-hours at `cpus` a task. */
export function shardCosts(specs: readonly RunSpec[], count: number, cost: StepCost, cpus: number): ShardCost[] {
  const steps = specs.map(runSteps);
  return Array.from({ length: count }, (_, i) => {
    const own = shardOf(steps, { index: i + 1, count });
    const total = own.reduce((a, b) => a + b, 0);
    const seconds = total * cost.secondsPerStep;
    return { shard: i + 1, runs: own.length, steps: total, seconds, coreHours: (seconds * cpus) / 3600 };
  });
}
