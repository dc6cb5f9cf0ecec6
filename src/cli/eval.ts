/**
 * `xft eval --run KEY|DIR --dataset NAME|PATH [--dimension D] [--as-dimension D] [--out FILE.csv]`: a finished run
 * applied to a dataset (test split, or an evaluation-only dataset): its metrics as JSON on stdout (with `human`, the
 * Spearman rho of its expected score with each quality people rated, where the dataset has ratings.jsonl), and with
 * --out its predictions with every label's probability as CSV.
 */
import { initBackend } from "../backend/engine";
import { evaluateRun, predictionTable } from "../runs/evaluate";
import { writeFileAtomic } from "../util/atomic-write";
import { statusLine } from "./long-running";

export interface EvalArgs {
  run: string;
  dataset: string;
  dimension?: string;
  asDimension?: string;
  out?: string;
  runsDir?: string;
  backend?: string;
}

export async function runEval(args: EvalArgs): Promise<number> {
  await initBackend({ requested: args.backend });
  const status = statusLine();
  const e = await evaluateRun(args.run, args.dataset, {
    runsDir: args.runsDir,
    dimension: args.dimension,
    asDimension: args.asDimension,
    onProgress: (done, total) => status(`evaluating ${done}/${total}`, done === total),
  });
  if (args.out) writeFileAtomic(args.out, predictionTable(e).toCSV() + "\n");
  const m = e.metrics;
  process.stdout.write(
    JSON.stringify(
      {
        run: e.run,
        dataset: e.dataset,
        dimension: e.dimension,
        n: m.n,
        accuracy: m.accuracy,
        macroF1: m.macroF1,
        mae: m.mae,
        qwk: m.qwk,
        ece: m.ece,
        brier: m.brier,
        confusion: m.confusion,
        labelSet: e.labelSet,
        ...(e.human ? { human: e.human } : {}),
        ...(args.out ? { predictions: args.out } : {}),
      },
      null,
      2,
    ) + "\n",
  );
  return 0;
}
