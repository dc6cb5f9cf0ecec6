/**
 * `xft reproduce`: the paper's grid (src/runs/grid.ts) at a profile's sizes, then its analysis. Finished runs
 * are reused, an interrupted grid resumes, `--shard k/n` runs one share; the results folder gets the tables as
 * CSV and the run configs, and the summary tables are printed.
 */
import * as path from "path";
import type { ColumnTable } from "arquero";
import { initBackend } from "../backend/engine";
import { projectRoot } from "../data/load";
import { expandGrid, GridPart, gridProfile, parseShard, reproductionGrid, runGrid, shardOf } from "../runs/grid";
import { analyzeGrid, writeResults } from "../runs/results";
import { formatTable } from "./data-format";
import { statusLine, stopOnInterrupt } from "./long-running";

export const GRID_PARTS: readonly GridPart[] = ["all", "explanations", "pseudo", "budget"];

export interface ReproduceArgs {
  profile?: string;
  part: string;
  shard?: string;
  backend?: string;
  runsDir?: string;
  out?: string;
}

/** An arquero table as aligned text; numbers with 3 decimals. */
export function tableText(t: ColumnTable): string {
  const columns = t.columnNames();
  const cell = (v: unknown) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : String(v ?? ""));
  const rows = t.objects().map((row) => columns.map((c) => cell((row as Record<string, unknown>)[c])));
  const numeric = columns.map((c, i) => (typeof t.get(c, 0) === "number" ? i : -1)).filter((i) => i >= 0);
  return formatTable(columns, rows, numeric);
}

export async function runReproduce(args: ReproduceArgs): Promise<number> {
  const parts = args.part.split(",");
  const unknown = parts.filter((p) => !(GRID_PARTS as readonly string[]).includes(p));
  if (unknown.length > 0) throw new Error(`--part takes ${GRID_PARTS.join(", ")} (or several, comma-separated), got "${unknown.join(",")}"`);
  const grid = gridProfile(args.profile);
  const shard = args.shard === undefined ? undefined : parseShard(args.shard);
  const specs = shardOf(expandGrid(reproductionGrid(parts as GridPart[], grid)), shard);
  await initBackend({ requested: args.backend });
  const shardText = shard ? `, shard ${shard.index}/${shard.count}` : "";
  process.stderr.write(`xft reproduce: profile ${grid.profile.name}, part ${args.part}${shardText}: ${specs.length} runs, seeds ${grid.seeds.join(",")}\n`);
  const interrupt = stopOnInterrupt();
  const status = statusLine();
  const started = Date.now();
  try {
    const records = await runGrid(specs, {
      runsDir: args.runsDir, shouldStop: interrupt.requested,
      onProgress: (p) => status(p.text, false),
    });
    status(`xft reproduce: ${records.length} runs (${records.filter((r) => r.reused).length} reused) in ${((Date.now() - started) / 1000).toFixed(0)} s`, true);
    if (records.some((r) => r.status === "stopped")) {
      process.stderr.write("xft reproduce: stopped; run the same command to resume\n");
      return 130;
    }
    const results = analyzeGrid(records);
    const out = args.out ?? path.join(projectRoot(), "results", grid.profile.name + (shard ? `-shard${shard.index}of${shard.count}` : ""));
    const files = writeResults(out, results, records);
    process.stdout.write(`wins against label (settings where the arm's mean accuracy over seeds is higher)\n${tableText(results.wins)}\n`);
    process.stdout.write(`paired accuracy differences to label (mean over seeds, 95% bootstrap interval, sign count)\n${tableText(results.differences)}\n`);
    process.stderr.write(`xft reproduce: wrote ${files.map((f) => path.relative(process.cwd(), f)).join(", ")}\n`);
    return 0;
  } finally {
    interrupt.release();
  }
}
