/**
 * `xft reproduce`: the paper's grid (src/runs/grid.ts) at a profile's sizes, then its analysis. Finished runs
 * are reused, an interrupted grid resumes, `--shard k/n` runs one share; the results folder gets the tables as
 * CSV and the run configs, and the summary tables are printed.
 */
import { spawn } from "child_process";
import * as os from "os";
import * as path from "path";
import type { ColumnTable } from "arquero";
import { initBackend } from "../backend/engine";
import { projectRoot } from "../data/load";
import type { RunRecord, RunStart } from "../runs/experiment";
import { expandGrid, GridPart, gridProfile, gridResultsDir, reproductionGrid, runGrid } from "../runs/grid";
import { parseShard, shardOf } from "../runs/cluster/shard";
import { humanTransfer } from "../runs/human-transfer";
import { analyzeGrid, writeResults } from "../runs/results";
import { writeFileAtomic } from "../util/atomic-write";
import { runEmit } from "./cluster-emit";
import { formatTable } from "./data-format";
import { statusLine, stopOnInterrupt } from "./long-running";
import { startArgs } from "./start-options";

const GRID_PARTS: readonly GridPart[] = ["all", "explanations", "pseudo", "budget"];

export interface ReproduceArgs {
  profile?: string;
  part: string;
  shard?: string;
  backend?: string;
  runsDir?: string;
  out?: string;
  /** Train the grid in this many processes (shards 1/n .. n/n), each with cores / n threads, then analyse it here. */
  jobs?: number;
  /** Train only, no analysis: what each job of `--jobs` does. */
  trainOnly?: boolean;
  /** Retrain every run of the grid (or of the shard), as `train --fresh` retrains one; also the way past a damaged run. */
  fresh?: boolean;
  /** Where every run's weights start (default: from scratch). */
  start: RunStart;
  /** Write a scheduler's job files for the grid instead of training it (cluster-emit.ts), with its options. */
  emit?: string;
  shards?: string;
  cpusPerTask?: string;
  image?: string;
  claim?: string;
}

const TRAINING_ONLY = ["shard", "jobs", "trainOnly", "fresh"] as const;
const EMIT_ONLY = ["shards", "cpusPerTask", "image", "claim"] as const;

/** An arquero table as aligned text; numbers with 3 decimals. */
export function tableText(t: ColumnTable): string {
  const columns = t.columnNames();
  const cell = (v: unknown) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : String(v ?? ""));
  const rows = t.objects().map((row) => columns.map((c) => cell((row as Record<string, unknown>)[c])));
  const numeric = columns.map((c, i) => (typeof t.get(c, 0) === "number" ? i : -1)).filter((i) => i >= 0);
  return formatTable(columns, rows, numeric);
}

/** `--part a,b`: the named grid parts; an unknown one is an error that lists the known ones. */
export function parseParts(text: string): GridPart[] {
  const parts = text.split(",");
  const unknown = parts.filter((p) => !(GRID_PARTS as readonly string[]).includes(p));
  if (unknown.length > 0) throw new Error(`--part takes ${GRID_PARTS.join(", ")} (or several, comma-separated), got "${unknown.join(",")}"`);
  return parts as GridPart[];
}

export async function runReproduce(args: ReproduceArgs): Promise<number> {
  const parts = parseParts(args.part);
  const given = (keys: readonly (keyof ReproduceArgs)[]) => keys.filter((k) => args[k] !== undefined && args[k] !== false);
  if (args.emit !== undefined) {
    const clash = given(TRAINING_ONLY);
    if (clash.length > 0) throw new Error(`--emit writes job files and trains nothing; leave out ${clash.map(flagOf).join(", ")}`);
    return runEmit({ ...args, emit: args.emit, parts });
  }
  const stray = given(EMIT_ONLY);
  if (stray.length > 0) throw new Error(`${stray.map(flagOf).join(", ")} go with --emit slurm|k8s`);
  const grid = gridProfile(args.profile);
  const jobs = args.jobs ?? 1;
  if (!(Number.isInteger(jobs) && jobs >= 1)) throw new Error(`--jobs takes a positive integer, got ${args.jobs}`);
  if (jobs > 1 && args.shard !== undefined) throw new Error("--jobs splits the grid into shards itself; give --jobs or --shard, not both");
  if (jobs > 1) {
    const code = await trainInJobs(args, grid.profile.name, jobs);
    if (code !== 0) return code;
  }
  const shard = args.shard === undefined ? undefined : parseShard(args.shard);
  const specs = shardOf(expandGrid(reproductionGrid(parts, grid, args.start)), shard);
  await initBackend({ requested: args.backend });
  const shardText = shard ? `, shard ${shard.index}/${shard.count}` : "";
  process.stderr.write(
    `xft reproduce: profile ${grid.profile.name}, part ${args.part}${shardText}: ${specs.length} runs, seeds ${grid.seeds.join(",")}\n`,
  );
  const interrupt = stopOnInterrupt();
  const status = statusLine();
  const started = Date.now();
  try {
    const records = await runGrid(specs, {
      // With --jobs the jobs have retrained the grid; here it is only read back.
      runsDir: args.runsDir,
      fresh: args.fresh && jobs === 1,
      shouldStop: interrupt.requested,
      onProgress: (p) => status(p.text, false),
    });
    status(
      `xft reproduce: ${records.length} runs (${records.filter((r) => r.reused).length} reused) in ${((Date.now() - started) / 1000).toFixed(0)} s`,
      true,
    );
    if (records.some((r) => r.status === "stopped")) {
      process.stderr.write("xft reproduce: stopped; run the same command to resume\n");
      return 130;
    }
    if (args.trainOnly) return 0;
    const results = analyzeGrid(records);
    const out = args.out ?? gridResultsDir(grid.profile.name, args.start) + (shard ? `-shard${shard.index}of${shard.count}` : "");
    const files = writeResults(out, results, records);
    if (records.some((r) => r.data.name.startsWith("conv-"))) files.push(...(await writeHumanTransfer(out, records, args.runsDir, status)));
    process.stdout.write(`wins against label (settings where the arm's mean accuracy over seeds is higher)\n${tableText(results.wins)}\n`);
    process.stdout.write(
      `paired accuracy differences to label (mean over seeds, 95% bootstrap interval, sign count)\n${tableText(results.differences)}\n`,
    );
    process.stderr.write(`xft reproduce: wrote ${files.map((f) => path.relative(process.cwd(), f)).join(", ")}\n`);
    return 0;
  } finally {
    interrupt.release();
  }
}

/** An argument's command-line flag: `cpusPerTask` is --cpus-per-task. */
function flagOf(key: string): string {
  return "--" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

/** The conversation runs against USR's people (src/runs/human-transfer.ts): human-transfer.csv and its differences. */
async function writeHumanTransfer(
  out: string,
  records: RunRecord[],
  runsDir: string | undefined,
  status: (text: string, final: boolean) => void,
): Promise<string[]> {
  const transfer = await humanTransfer(records, {
    runsDir,
    onProgress: (done, total) => status(`xft reproduce: conversation runs on USR's human ratings ${done}/${total}`, done === total),
  });
  const files = [path.join(out, "human-transfer.csv"), path.join(out, "human-transfer-differences.csv")];
  writeFileAtomic(files[0], transfer.summary.toCSV());
  writeFileAtomic(files[1], transfer.differences.toCSV());
  process.stdout.write(
    `agreement with people on USR (Spearman rho of the expected score, mean over seeds, 95% interval)\n${tableText(transfer.summary)}\n`,
  );
  return files;
}

/**
 * `--jobs n`: n child processes, each `xft reproduce --shard k/n --train-only` into the same runs folder, with
 * cores / n TensorFlow threads each (unless TF_NUM_INTRAOP_THREADS is set). Small models spend much of a step
 * in per-op overhead on one thread, so on 2 cores two 1-thread jobs train about 1.8x the runs of one 2-thread
 * process. Their progress is shown as one line per job; Ctrl-C reaches every job, each stops after its step.
 */
async function trainInJobs(args: ReproduceArgs, profile: string, jobs: number): Promise<number> {
  const threads = process.env.TF_NUM_INTRAOP_THREADS ?? String(Math.max(1, Math.floor(os.cpus().length / jobs)));
  const status = statusLine();
  const latest = new Array<string>(jobs).fill("starting");
  const bin = path.join(projectRoot(), "bin", "xft.cjs");
  process.stderr.write(`xft reproduce: ${jobs} jobs, ${threads} TensorFlow thread(s) each\n`);
  const failures: string[] = [];
  const codes = await Promise.all(
    latest.map(
      (_, j) =>
        new Promise<number>((resolve) => {
          const childArgs = [
            bin,
            "reproduce",
            "--profile",
            profile,
            "--part",
            args.part,
            "--shard",
            `${j + 1}/${jobs}`,
            "--train-only",
            ...startArgs(args.start),
          ];
          if (args.backend) childArgs.push("--backend", args.backend);
          if (args.runsDir) childArgs.push("--runs-dir", args.runsDir);
          if (args.fresh) childArgs.push("--fresh");
          const child = spawn(process.execPath, childArgs, {
            stdio: ["ignore", "ignore", "pipe"],
            env: { ...process.env, TF_NUM_INTRAOP_THREADS: threads, TF_NUM_INTEROP_THREADS: "1", TF_CPP_MIN_LOG_LEVEL: "2" },
          });
          let pending = "";
          let lastLine = "";
          child.stderr.setEncoding("utf8");
          child.stderr.on("data", (chunk: string) => {
            const lines = (pending + chunk).split(/[\r\n]/);
            pending = lines.pop() ?? "";
            lastLine =
              lines
                .map((l) => l.trim())
                .filter((l) => l !== "")
                .at(-1) ?? lastLine;
            // The job's own progress lines; TensorFlow's start-up log lines are left out.
            const last = lines
              .map((l) => l.replace(/\x1b\[K/g, "").trim())
              .filter((l) => /^(run |xft )/.test(l))
              .at(-1);
            if (last) {
              latest[j] = last;
              status(latest.map((t, i) => `[${i + 1}/${jobs}] ${t}`).join("  |  "), false);
            }
          });
          child.on("close", (code, signal) => {
            const failed = code !== 0;
            latest[j] = failed ? `failed (${signal ? `killed by ${signal}` : `exit ${code}`})` : "done";
            if (failed) {
              // The job's own error is its last line; its command runs it alone (finished runs are reused).
              failures.push(
                `job ${j + 1}/${jobs} ${latest[j]}${lastLine ? `: ${lastLine}` : ""}\n  rerun it alone: npx xft ${childArgs.slice(1).join(" ")}`,
              );
            }
            resolve(code ?? 1);
          });
        }),
    ),
  );
  status(`xft reproduce: jobs finished: ${latest.map((t, j) => `[${j + 1}/${jobs}] ${t}`).join(", ")}`, true);
  for (const f of failures) process.stderr.write(`xft reproduce: ${f}\n`);
  if (failures.length > 0) process.stderr.write("xft reproduce: rerunning this command resumes every job; finished runs are reused\n");
  return codes.find((c) => c !== 0) ?? 0;
}
