/**
 * A grid's shards: `--shard k/n` gives one process every n-th run of the grid, and `--shard auto` the shard that a
 * scheduler's task stands for, read from the scheduler's own environment, so that one job script serves every task
 * of an array. Slurm sets SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT (and
 * _MIN/_MAX); a Kubernetes Indexed Job sets JOB_COMPLETION_INDEX (0-based) and says nothing of the count, which
 * the emitted manifest passes as XFT_SHARD_COUNT.
 */
type Environment = Record<string, string | undefined>;

export interface Shard {
  index: number;
  count: number;
}

/** "k/n" (1 <= k <= n): the k-th of n shares; "auto": the share a scheduler's task stands for (below). */
export function parseShard(text: string, env: Environment = process.env): Shard {
  if (text.trim() === "auto") return shardFromScheduler(env);
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) throw new Error(`--shard takes k/n with 1 <= k <= n, or auto, got "${text}"`);
  return { index, count };
}

/** Every n-th run starting at the k-th: shares of similar cost, since neighbouring runs are alike. */
export function shardOf<T>(runs: readonly T[], shard?: Shard): T[] {
  if (!shard) return [...runs];
  return runs.filter((_, i) => i % shard.count === shard.index - 1);
}

/** A non-negative integer from the environment, or undefined when unset; anything else is an error naming the variable. */
function integerVariable(env: Environment, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === "") return undefined;
  if (!/^\d+$/.test(text.trim())) throw new Error(`--shard auto: ${name} must be a non-negative integer, got "${text}"`);
  return Number(text.trim());
}

function checked(shard: Shard, source: string): Shard {
  if (shard.count < 1 || shard.index < 1 || shard.index > shard.count) {
    throw new Error(`--shard auto: ${source} gives shard ${shard.index} of ${shard.count}, which is not one of 1..${shard.count}`);
  }
  return shard;
}

/** A Slurm array task: its position in the array, which must be contiguous (no `:step`, no list). */
function slurmShard(env: Environment): Shard {
  const id = integerVariable(env, "SLURM_ARRAY_TASK_ID")!;
  const min = integerVariable(env, "SLURM_ARRAY_TASK_MIN");
  const max = integerVariable(env, "SLURM_ARRAY_TASK_MAX");
  const count = integerVariable(env, "SLURM_ARRAY_TASK_COUNT");
  const step = integerVariable(env, "SLURM_ARRAY_TASK_STEP");
  if (step !== undefined && step !== 1) throw new Error(`--shard auto: the Slurm array steps by ${step}; give it a contiguous range (--array=0-N)`);
  if (min === undefined || max === undefined) {
    if (count === undefined)
      throw new Error("--shard auto: SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MIN/MAX");
    // Without MIN, the array is taken to start at 0 (sbatch --array=0-N, as xft emits it).
    return checked({ index: id + 1, count }, `SLURM_ARRAY_TASK_ID=${id} with SLURM_ARRAY_TASK_COUNT=${count}`);
  }
  const span = max - min + 1;
  if (count !== undefined && count !== span) {
    throw new Error(`--shard auto: the Slurm array ${min}-${max} has ${count} tasks, not ${span}; give it a contiguous range (--array=0-N)`);
  }
  return checked({ index: id - min + 1, count: span }, `SLURM_ARRAY_TASK_ID=${id} in ${min}-${max}`);
}

function kubernetesShard(env: Environment): Shard {
  const index = integerVariable(env, "JOB_COMPLETION_INDEX")!;
  const count = integerVariable(env, "XFT_SHARD_COUNT");
  if (count === undefined) {
    throw new Error("--shard auto: JOB_COMPLETION_INDEX is set but XFT_SHARD_COUNT is not (set it to the Job's completions, as `--emit k8s` does)");
  }
  return checked({ index: index + 1, count }, `JOB_COMPLETION_INDEX=${index} with XFT_SHARD_COUNT=${count}`);
}

/** This task's shard from the scheduler's variables; without any, an error that says which ones it reads. */
export function shardFromScheduler(env: Environment = process.env): Shard {
  if (integerVariable(env, "SLURM_ARRAY_TASK_ID") !== undefined) return slurmShard(env);
  if (integerVariable(env, "JOB_COMPLETION_INDEX") !== undefined) return kubernetesShard(env);
  throw new Error(
    "--shard auto reads the scheduler's environment, and none is set: SLURM_ARRAY_TASK_ID (a Slurm job array) or " +
      "JOB_COMPLETION_INDEX with XFT_SHARD_COUNT (a Kubernetes Indexed Job); outside a scheduler give --shard k/n",
  );
}
