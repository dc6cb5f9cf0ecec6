/**
 * `xft export --grid`: every run of a reproduced grid as the Python ecosystem loads it, beside one index card.
 *   OUT/README.md           the index: the grid, its results tables (seed means and intervals, paired differences
 *                           to label, wins), how to load a run, and the commands that reproduce it all
 *   OUT/results/*.csv       the same tables as `xft reproduce` writes them, with the runs' configs
 *   OUT/base/               xft's pretrained base as gpt2, where the grid's LoRA runs start from it (their adapters'
 *                           base_model_name_or_path names it)
 *   OUT/runs/<key>/         each run as `xft export --run` writes it, its card giving the arm's seed interval
 * The folder appears whole or not at all; a grid with an unfinished run is an error that says how to finish it.
 */
import * as fs from "fs";
import * as path from "path";
import { describeArm, describeRun } from "../eval/run-identity";
import { readRunRecord, RunRecord, runFolderOf, startSuffix } from "../runs/experiment";
import { expandGrid, GridSpec } from "../runs/grid";
import { analyzeGrid, writeResults } from "../runs/results";
import { CARD_FILE, exportBase, exportRun } from "./hf-export";
import { armSummaryOf, markdownTable } from "./model-card";
import { writeFolderAtomically } from "./staged-folder";

export interface GridExportRequest {
  grid: GridSpec;
  /** The parts as `--part` gave them, and the start as its command-line options, for the commands in the index card. */
  part: string;
  startArgs: string[];
  runsDir?: string;
}

export interface GridExportResult {
  out: string;
  runs: number;
  base?: string;
}

/** The grid's runs, each finished; otherwise one error that lists what is missing and the command that trains it. */
function finishedRuns(req: GridExportRequest): RunRecord[] {
  const missing: string[] = [];
  const records: RunRecord[] = [];
  for (const spec of expandGrid(req.grid)) {
    const { dir } = runFolderOf(spec, req.runsDir);
    const record = fs.existsSync(path.join(dir, "run.json")) ? readRunRecord(dir) : undefined;
    if (record?.status === "done") records.push(record);
    else missing.push(`${describeRun(spec, startSuffix(spec))} (${record ? `status ${record.status}` : "not started"})`);
  }
  if (missing.length > 0) {
    throw new Error(
      `${missing.length} of ${missing.length + records.length} runs of the grid are not finished, e.g. ${missing.slice(0, 3).join("; ")}: ` +
        `run \`${reproduceCommand(req)}\` first, then export`,
    );
  }
  return records;
}

function reproduceCommand(req: GridExportRequest): string {
  return ["npx xft reproduce --profile", req.grid.profile.name, "--part", req.part, ...req.startArgs].join(" ");
}

/** The xft base folders that the grid's LoRA runs start from: PEFT needs each exported before the adapters name it. */
function loraBases(records: readonly RunRecord[]): string[] {
  return [...new Set(records.flatMap((r) => (r.adapter && r.init?.from === "base" ? [r.init.dir] : [])))];
}

export async function exportGrid(req: GridExportRequest, out: string): Promise<GridExportResult> {
  const records = finishedRuns(req);
  const bases = loraBases(records);
  if (bases.length > 1)
    throw new Error(`the grid's LoRA runs start from ${bases.length} different bases (${bases.join(", ")}); export them one run at a time`);
  const results = analyzeGrid(records);
  const target = path.resolve(out);
  // Adapters name their base by where it will be once the folder is in place, not by the staging folder.
  const baseTarget = bases.length === 1 ? path.join(target, "base") : undefined;
  await writeFolderAtomically(target, async (dir) => {
    if (baseTarget) await exportBase(bases[0], path.join(dir, "base"));
    for (const record of records) {
      await exportRun(record, path.join(dir, "runs", record.key), { peftBase: baseTarget, armSummary: armSummaryOf(results.summary, record) });
    }
    writeResults(path.join(dir, "results"), results, records);
    fs.writeFileSync(path.join(dir, CARD_FILE), indexCard(req, records, results, baseTarget !== undefined));
  });
  return { out: target, runs: records.length, base: baseTarget };
}

const exampleLoad = (record: RunRecord, withBase: boolean): string[] => {
  const run = `runs/${record.key}`;
  if (!record.adapter) return [`model = AutoModelForCausalLM.from_pretrained("${run}")`, `tokenizer = AutoTokenizer.from_pretrained("${run}")`];
  const base = withBase ? "base" : record.init?.from === "hf" ? record.init.ref.replace(/^hf:/, "") : "BASE";
  return [
    `from peft import PeftModel`,
    `model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("${base}"), "${run}")`,
    `tokenizer = AutoTokenizer.from_pretrained("${run}")`,
  ];
};

function indexCard(req: GridExportRequest, records: readonly RunRecord[], results: ReturnType<typeof analyzeGrid>, withBase: boolean): string {
  const profile = req.grid.profile.name;
  const start = req.grid.start ?? {};
  const seeds = req.grid.seeds.length;
  const summary = results.summary.select(
    "dataset",
    "dimension",
    "condition",
    "expl_tokens",
    "n_seeds",
    "accuracy_mean",
    "accuracy_lo",
    "accuracy_hi",
    "macro_f1_mean",
    "mae_mean",
    "ece_mean",
  );
  const runRows = records.map(
    (r) =>
      `| [${r.key}](runs/${r.key}/README.md) | ${r.spec.dataset} | ${r.spec.dimension ?? "all"} | ${describeArm(r.spec)}` +
      ` | ${r.spec.seed} | ${r.metrics!.accuracy.toFixed(3)} | ${r.adapter ? "PEFT adapter" : "model"} |`,
  );
  return [
    `# xft grid: profile \`${profile}\`, part \`${req.part}\`${start.init ? `, from \`${start.init}\`` : ""}${start.adapter === "lora" ? ", LoRA" : ""}`,
    "",
    `${records.length} finished runs (${req.grid.settings.length} settings x ${req.grid.arms.length} arms x ${seeds} seeds), exported by \`xft export --grid\`. ` +
      "Each folder under `runs/` has its own model card; `results/` holds the tables below as CSV and every run's config.",
    "",
    "## Results",
    "",
    `Test metrics per setting and arm: the mean over ${seeds} seeds and its 95% t-interval (accuracy_lo, accuracy_hi).`,
    "",
    markdownTable(summary),
    "",
    "Paired differences to `label` (same setting and seed), with bootstrap intervals:",
    "",
    markdownTable(results.differences),
    "",
    "Wins against `label` over settings:",
    "",
    markdownTable(results.wins),
    "",
    "## Runs",
    "",
    "| run | dataset | dimension | arm | seed | accuracy | export |",
    "|---|---|---|---|---|---|---|",
    ...runRows,
    "",
    "## Loading a run in Python",
    "",
    "```python",
    "from transformers import AutoModelForCausalLM, AutoTokenizer",
    ...exampleLoad(records[0], withBase),
    "```",
    "",
    "## Reproduce",
    "",
    "```bash",
    reproduceCommand(req),
    `npx xft export --grid --profile ${profile} --part ${req.part} ${req.startArgs.join(" ")} --to OUT`.replace(/ +/g, " "),
    "```",
    "",
    "## Limits",
    "",
    `- Every number is from this grid's test sets at profile \`${profile}\`; intervals are over ${seeds} seeds, and with few seeds they are wide.`,
    "- The runs were read by xft's readout on its own prompt format; the numbers hold for that format only.",
    "",
  ].join("\n");
}
