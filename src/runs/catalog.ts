/**
 * The runs folder as a catalogue, for ad-hoc analysis in a notebook: every run's spec and metrics in one table
 * (`listRuns`), and one run's model ready to use (`loadRun`). README, "Extending an analysis".
 */
import * as aq from "arquero";
import * as fs from "fs";
import * as path from "path";
import { metricsRow } from "../eval/tables";
import { ModelConfig, Params } from "../model/model";
import type { TextFormat } from "../text/format";
import { RUN_FILE } from "./artifacts";
import { loadRunModel, readRunRecord, RunOptions, RunRecord, runFormat } from "./experiment";
import { runsRoot } from "./paths";

export interface ListOptions extends Pick<RunOptions, "runsDir"> {
  /** Only the runs of this profile (ci, quick, full). */
  profile?: string;
}

/** Every run under the runs folder (a folder with a run.json), by key. */
export function runRecords(opts: ListOptions = {}): RunRecord[] {
  const root = runsRoot(opts.runsDir);
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(root, e.name, RUN_FILE)))
    .map((e) => readRunRecord(path.join(root, e.name)))
    .filter((r) => opts.profile === undefined || r.spec.profile === opts.profile)
    .sort((a, b) => (a.key < b.key ? -1 : 1));
}

/** One row per run: its key, profile, start and status, then its spec and metrics as `metricsTable` has them. */
export function listRuns(opts: ListOptions = {}): ReturnType<typeof aq.from> {
  return aq.from(
    runRecords(opts).map((r) => ({
      key: r.key,
      profile: r.spec.profile,
      init: r.init?.from ?? "scratch",
      adapter: r.adapter ? "lora" : "none",
      status: r.status,
      expl_tokens: r.spec.explTokens,
      ...metricsRow(r),
    })),
  );
}

export interface LoadedRun {
  record: RunRecord;
  params: Params;
  config: ModelConfig;
  /** The text format the run reads and writes: encode a prompt with it, decode what the model writes. */
  format: TextFormat;
}

/** A finished run's model (LoRA merged into its base), by key or folder; dispose `params` when done. */
export function loadRun(keyOrDir: string, opts: Pick<RunOptions, "runsDir"> = {}): LoadedRun {
  const record = readRunRecord(keyOrDir, opts);
  const { params, config } = loadRunModel(record);
  return { record, params, config, format: runFormat(record) };
}
