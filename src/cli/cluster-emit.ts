/**
 * `xft reproduce --emit slurm|k8s --shards N [--out DIR]`: the grid as a scheduler's job files (src/runs/cluster/),
 * written into DIR (default build/cluster/<scheduler>-<profile>-<part>), with what each shard costs. Nothing is
 * trained here; the files run the grid where they are submitted.
 */
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../data/load";
import type { RunStart } from "../runs/experiment";
import { expandGrid, GridPart, gridProfile, reproductionGrid } from "../runs/grid";
import { runsRoot } from "../runs/paths";
import { CPUS_PER_TASK, shardCosts, stepCost } from "../runs/cluster/cost";
import { kubernetesFiles } from "../runs/cluster/kubernetes";
import { ClusterPlan, costLines } from "../runs/cluster/plan";
import { slurmFiles } from "../runs/cluster/slurm";
import { writeFileAtomic } from "../util/atomic-write";
import { displayPath } from "../util/read-file";
import { startArgs } from "./start-options";

const SCHEDULERS = ["slurm", "k8s"] as const;
type Scheduler = (typeof SCHEDULERS)[number];

export interface EmitArgs {
  emit: string;
  shards?: string;
  cpusPerTask?: string;
  profile?: string;
  part: string;
  parts: GridPart[];
  runsDir?: string;
  out?: string;
  image?: string;
  claim?: string;
  start: RunStart;
}

function positiveInteger(text: string | undefined, flag: string, fallback?: number): number {
  if (text === undefined && fallback !== undefined) return fallback;
  const n = Number(text);
  if (text === undefined || !Number.isInteger(n) || n < 1)
    throw new Error(`${flag} takes a positive integer, got ${text === undefined ? "nothing" : `"${text}"`}`);
  return n;
}

function plan(args: EmitArgs): ClusterPlan {
  const grid = gridProfile(args.profile);
  const shards = positiveInteger(args.shards, "--emit needs --shards N;");
  const cpusPerTask = positiveInteger(args.cpusPerTask, "--cpus-per-task", CPUS_PER_TASK);
  const specs = expandGrid(reproductionGrid(args.parts, grid, args.start));
  if (shards > specs.length) throw new Error(`--shards ${shards}: the grid has only ${specs.length} runs`);
  const cost = stepCost(grid.profile.name, args.start, args.runsDir);
  return {
    profile: grid.profile.name,
    part: args.part,
    start: args.start,
    startArgs: startArgs(args.start),
    shards,
    cpusPerTask,
    costs: shardCosts(specs, shards, cost, cpusPerTask),
    stepCost: cost,
  };
}

function files(scheduler: Scheduler, p: ClusterPlan, out: string, args: EmitArgs): Record<string, string> {
  if (scheduler === "slurm") {
    return slurmFiles(p, {
      projectRoot: projectRoot(),
      runsDir: path.resolve(runsRoot(args.runsDir)),
      resultsDir: path.join(out, "results"),
      logsDir: path.join(out, "logs"),
    });
  }
  return kubernetesFiles(p, { image: args.image ?? "xft:latest", claim: args.claim ?? "xft-runs", workingDir: "/xft" });
}

export function runEmit(args: EmitArgs): number {
  if (!(SCHEDULERS as readonly string[]).includes(args.emit)) throw new Error(`--emit takes ${SCHEDULERS.join(" or ")}, got "${args.emit}"`);
  const scheduler = args.emit as Scheduler;
  if (scheduler === "slurm" && (args.image !== undefined || args.claim !== undefined)) throw new Error("--image and --claim are for --emit k8s");
  const p = plan(args);
  const out = path.resolve(args.out ?? path.join(projectRoot(), "build", "cluster", `${scheduler}-${p.profile}-${args.part.replace(/,/g, "+")}`));
  fs.mkdirSync(out, { recursive: true });
  const written = Object.entries(files(scheduler, p, out, args)).map(([name, text]) => {
    const file = path.join(out, name);
    writeFileAtomic(file, text);
    if (name.endsWith(".sh")) fs.chmodSync(file, 0o755);
    return file;
  });
  process.stdout.write(costLines(p).join("\n") + "\n");
  process.stderr.write(`xft reproduce: wrote ${written.map(displayPath).join(", ")}; submit with ${displayPath(path.join(out, "submit.sh"))}\n`);
  return 0;
}
