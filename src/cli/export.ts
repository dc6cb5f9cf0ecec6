/**
 * `xft export --run KEY|DIR --to OUT [--merged] [--peft-base DIR]` and `xft export --base DIR --to OUT`: a finished
 * run or an xft pretrained base as a Hugging Face model folder (or a PEFT adapter for a LoRA run), with its model card.
 * Prints {out, kind, files} as JSON.
 */
import { exportBase, exportRun } from "../export/hf-export";
import { readRunRecord } from "../runs/experiment";

export interface ExportArgs {
  run?: string;
  base?: string;
  to?: string;
  runsDir?: string;
  merged: boolean;
  peftBase?: string;
}

export async function runExport(args: ExportArgs): Promise<number> {
  if ((args.run === undefined) === (args.base === undefined)) throw new Error("give one of --run KEY|DIR and --base DIR");
  if (args.to === undefined) throw new Error("--to OUT is required: the new folder to export into");
  if (args.base !== undefined && (args.merged || args.peftBase !== undefined)) throw new Error("--merged and --peft-base are for LoRA runs, not --base");
  const result = args.base !== undefined
    ? await exportBase(args.base, args.to)
    : await exportRun(readRunRecord(args.run!, { runsDir: args.runsDir }), args.to, { merged: args.merged, peftBase: args.peftBase });
  process.stdout.write(JSON.stringify(result) + "\n");
  return 0;
}
