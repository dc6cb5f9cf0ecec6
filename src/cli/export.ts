/**
 * `xft export --run KEY|DIR --to OUT [--merged] [--peft-base DIR]`, `xft export --base DIR --to OUT` and
 * `xft export --grid --profile P [--part ...] [start options] --to OUT`: a finished run, an xft pretrained base, or
 * every run of a reproduced grid with an index card, as Hugging Face model folders (PEFT adapters for LoRA runs),
 * each with its model card. Prints the result as JSON.
 */
import { exportGrid } from "../export/grid-export";
import { exportBase, exportRun } from "../export/hf-export";
import type { RunStart } from "../runs/experiment";
import { readRunRecord } from "../runs/experiment";
import { gridProfile, reproductionGrid } from "../runs/grid";
import { parseParts } from "./reproduce";
import { startArgs } from "./start-options";

export interface ExportArgs {
  run?: string;
  base?: string;
  /** `--grid`: every run of the grid that `xft reproduce` trains with these options. */
  grid?: { profile?: string; part: string; start: RunStart };
  to?: string;
  runsDir?: string;
  merged: boolean;
  peftBase?: string;
}

async function exportOne(args: ExportArgs, to: string): Promise<object> {
  if (args.grid) {
    if (args.merged || args.peftBase !== undefined)
      throw new Error("--merged and --peft-base are for one LoRA run, not --grid (a grid's LoRA runs name its exported base)");
    const grid = reproductionGrid(parseParts(args.grid.part), gridProfile(args.grid.profile), args.grid.start);
    return exportGrid({ grid, part: args.grid.part, startArgs: startArgs(args.grid.start), runsDir: args.runsDir }, to);
  }
  if (args.base !== undefined) {
    if (args.merged || args.peftBase !== undefined) throw new Error("--merged and --peft-base are for LoRA runs, not --base");
    return exportBase(args.base, to);
  }
  return exportRun(readRunRecord(args.run!, { runsDir: args.runsDir }), to, { merged: args.merged, peftBase: args.peftBase });
}

export async function runExport(args: ExportArgs): Promise<number> {
  if ([args.run, args.base, args.grid].filter((x) => x !== undefined).length !== 1)
    throw new Error("give one of --run KEY|DIR, --base DIR and --grid");
  if (args.to === undefined) throw new Error("--to OUT is required: the new folder to export into");
  process.stdout.write(JSON.stringify(await exportOne(args, args.to)) + "\n");
  return 0;
}
