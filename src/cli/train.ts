/** `xft train`: one run, progress on stderr, metrics as JSON on stdout. Ctrl-C checkpoints and stops. */
import { initBackend } from "../backend/engine";
import { runExperiment, RunStart } from "../runs/experiment";
import { statusLine, stopOnInterrupt } from "./long-running";

export interface TrainArgs {
  dataset: string;
  dimension?: string;
  condition: string;
  seed: number;
  profile?: string;
  backend?: string;
  runsDir?: string;
  fresh: boolean;
  /** Recompute each block's activations in the backward pass; false leaves the profile's setting (off). */
  recompute: boolean;
  start: RunStart;
}

export async function runTrain(args: TrainArgs): Promise<number> {
  await initBackend({ requested: args.backend });
  const interrupt = stopOnInterrupt();
  const status = statusLine();
  try {
    const record = await runExperiment(
      {
        dataset: args.dataset,
        dimension: args.dimension,
        condition: args.condition,
        seed: args.seed,
        profile: args.profile,
        ...args.start,
        ...(args.recompute ? { recompute: true } : {}),
      },
      {
        runsDir: args.runsDir,
        fresh: args.fresh,
        shouldStop: interrupt.requested,
        onProgress: (e) => status(`${e.phase} ${e.text}`, e.done === e.total),
      },
    );
    if (record.reused) process.stderr.write(`xft: reused the finished run in ${record.dir} (--fresh retrains)\n`);
    if (record.status === "stopped") {
      process.stderr.write(`xft: stopped at step ${record.training.steps}; run the same command to resume\n`);
      return 130;
    }
    const { metrics, training } = record;
    process.stdout.write(
      JSON.stringify(
        {
          run: record.key,
          dir: record.dir,
          dataset: record.spec.dataset,
          dimension: record.spec.dimension,
          condition: record.spec.condition,
          seed: record.spec.seed,
          profile: record.spec.profile,
          init: record.init?.from ?? "scratch",
          base: record.init?.from === "base" ? record.init.dir : undefined,
          adapter: record.adapter ?? "none",
          backend: record.environment.backend,
          accuracy: metrics?.accuracy,
          macroF1: metrics?.macroF1,
          mae: metrics?.mae,
          qwk: metrics?.qwk,
          ece: metrics?.ece,
          brier: metrics?.brier,
          n: metrics?.n,
          confusion: metrics?.confusion,
          labelSet: record.data.labelSet,
          steps: training.steps,
          tokensPerSec: Math.round(training.tokensPerSec),
          trainWallS: Number(training.wallS.toFixed(1)),
          wallS: Number(record.wallS.toFixed(1)),
        },
        null,
        2,
      ) + "\n",
    );
    return 0;
  } finally {
    interrupt.release();
  }
}
