/**
 * The `xft` command line: the same library the notebooks call.
 *   xft train --dataset esnli --condition label+expl --seed 1 --profile quick [--init base --adapter lora]
 *   xft pretrain --profile ci|quick|full
 *   xft reproduce --profile ci|quick|full [--part ...] [--shard k/n]
 *   xft probe --run KEY | --profile ci|quick|full [--part ...]
 *   xft logits --init hf:DIR | --run KEY --text "..." [--json]
 *   xft doctor
 *   xft data list | show NAME|PATH | check FILE...
 *   xft runs list|verify [--runs-dir DIR]
 */
import { parseArgs } from "util";
import { DEFAULT_BENCH } from "../bench/bench";
import { runBench } from "./bench";
import { runData } from "./data";
import { runDoctor } from "./doctor";
import { runEval } from "./eval";
import { runExport } from "./export";
import { runLogits } from "./logits";
import { runPretrain } from "./pretrain";
import { runProbe } from "./probe";
import { runReproduce } from "./reproduce";
import { runRuns } from "./runs";
import { parseStart, START_OPTIONS, START_USAGE } from "./start-options";
import { runTrain } from "./train";

const USAGE = `usage: xft <command> [options]

commands:
  train    train one (dataset, condition, seed) run and print its metrics as JSON
           --dataset NAME|PATH  (default esnli)   --dimension NAME (default: every row)
           --condition label|label+expl|label+shuffled|... (default label)
           --seed N (default 1)   --profile ci|quick|full (default $XFT_PROFILE or quick)
           --backend NAME   --runs-dir DIR   --fresh (retrain even if a finished run exists)
           ${START_USAGE}
  reproduce  the paper's grid (sources x dimensions x conditions x seeds, and the real-explanation datasets),
           then its analysis; finished runs are reused, an interrupted grid resumes
           --profile ci|quick|full   --part all|explanations|pseudo|budget[,...] (default all)   --shard k/n
           --jobs N (train in N processes, shards of this machine, then analyse; 2 on a 2-core machine)
           --backend NAME   --runs-dir DIR   --out DIR (default results/<profile>, results/<profile>-base(-lora) from the base)
           --fresh (retrain every run of the grid, or of the shard; the way past a damaged run)
           --init, --base, --adapter, --lora-*: as for train, for every run of the grid
  probe    what the explanations change inside the model: hidden-state and attention entropy, logit lens,
           output sharpness at the label-decision position; stored beside each run (probe.json) and reused
           --run KEY|DIR (one run's per-point table) | --profile ci|quick|full --part ... (the grid, trained
           as reproduce trains it, then probed; tables into --out, default results/<profile>)
           --memory-mb N (bound on one batch's activation cache, default 256)   --backend NAME   --runs-dir DIR
           --fresh (probe again, and retrain the grid's damaged runs)
           --init, --base, --adapter, --lora-*: which grid (as for reproduce)
  bench    training speed on synthetic tokens for the reference configs A-D (each in its own process)
           --configs A,B,C,D  --custom layers,d,heads,seq,vocab,batch  --backend NAME  --json
           --repeats N (default 3)  --seconds S per repeat (default 2)  --warmup N (default 3)
           --warmup-seconds S (untimed steps go on until S s have passed, default 2)  --in-process
  pretrain next-token pretraining of a base model on every text the project ships (train splits only, no test
           text), resumable; writes the weights and a model card (CARD.md, base.json)
           --profile ci|quick|full (the grid's architecture; default $XFT_PROFILE or quick)
           --out DIR (default: data/base-<profile> where one is shipped (quick: reused), else runs/pretrain/<profile>)
           --layers N --d-model N --heads N (another architecture)   --fresh   --backend NAME
  eval     a finished run applied to a dataset (its test split, or an evaluation-only one such as usr): metrics as
           JSON, and with --out every example's label probabilities as CSV
           --run KEY|DIR   --dataset NAME|PATH   --dimension NAME   --out FILE.csv   --runs-dir DIR   --backend NAME
  logits   the token ids of a text and the next-token log-probabilities at its last position: a sanity check
           on a checkpoint (and the handle for comparing xft with transformers)
           --init hf:DIR|hf:org/name (a save_pretrained folder, or a model in the local Hugging Face cache)
           | --run KEY|DIR (a finished run)   --text "..."   --top N (default 20)   --json   --backend NAME   --runs-dir DIR
  export   a finished run as a Hugging Face model folder (config.json, model.safetensors, tokenizer, README.md card):
           a full run (xft's GPT as gpt2, a checkpoint's run in its own family), or a LoRA run as a PEFT adapter
           --run KEY|DIR | --base DIR (an xft pretrained base)   --to OUT (a new folder)   --runs-dir DIR
           --merged (a LoRA run as one model, adapter merged)   --peft-base DIR (a LoRA run on xft's base: its export)
           | --grid --profile NAME --part P,... [--init, --adapter, ... as reproduce]: every run of a reproduced grid,
           with an index card of its results tables (the base too, where its LoRA runs start from xft's)
  doctor   check the environment (backend, Jupyter, kernelspec, browser, data) and say how to fix gaps
           --init hf:DIR|hf:org/name (also read a checkpoint's config and tokenizer, and say what it is)
  data list                  every dataset under data/: dimensions, labels, train/test counts, explanations
  data show NAME|PATH        print examples readably   --n N (default 3)   --split train|test
  data check FILE|FOLDER...  every bad row of a JSONL(.gz) file as file:line: field: problem, and what train would
                             refuse (a missing split, fewer rows than a batch, too many labels); exit 1 if any
                             --profile ci|quick|full (the batch size to check against; default $XFT_PROFILE or quick)
  runs list                  every run as a table: key, profile, start, spec and metrics   --profile P   --runs-dir DIR
  runs verify                every run folder checked as reuse checks it (run.json parses, each file the run wrote has
                             its recorded size and sha256); lists the damaged runs, exit 1 if any   --runs-dir DIR
`;

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  train: async (args) => {
    const { values } = parseArgs({
      args,
      options: {
        dataset: { type: "string", default: "esnli" },
        dimension: { type: "string" },
        condition: { type: "string", default: "label" },
        seed: { type: "string", default: "1" },
        profile: { type: "string" },
        backend: { type: "string" },
        "runs-dir": { type: "string" },
        fresh: { type: "boolean", default: false },
        ...START_OPTIONS,
      },
    });
    return runTrain({
      dataset: values.dataset!, dimension: values.dimension, condition: values.condition!, seed: parseSeed(values.seed!), profile: values.profile,
      backend: values.backend, runsDir: values["runs-dir"], fresh: values.fresh!, start: parseStart(values),
    });
  },
  bench: async (args) => {
    const { values } = parseArgs({
      args,
      options: {
        configs: { type: "string", default: "A,B,C,D" },
        custom: { type: "string" },
        backend: { type: "string" },
        json: { type: "boolean", default: false },
        repeats: { type: "string", default: String(DEFAULT_BENCH.repeats) },
        seconds: { type: "string", default: String(DEFAULT_BENCH.secondsPerRepeat) },
        warmup: { type: "string", default: String(DEFAULT_BENCH.warmupSteps) },
        "warmup-seconds": { type: "string", default: String(DEFAULT_BENCH.warmupSeconds) },
        "in-process": { type: "boolean", default: false },
        child: { type: "string" },
      },
    });
    return runBench({
      configs: values.configs!.split(","), custom: values.custom, backend: values.backend, json: values.json!,
      inProcess: values["in-process"]!, child: values.child,
      options: { repeats: positive(values.repeats!, "--repeats"), secondsPerRepeat: positive(values.seconds!, "--seconds"), warmupSteps: nonNegative(values.warmup!, "--warmup"),
        warmupSeconds: nonNegative(values["warmup-seconds"]!, "--warmup-seconds") },
    });
  },
  reproduce: async (args) => {
    const { values } = parseArgs({
      args,
      options: {
        profile: { type: "string" }, part: { type: "string", default: "all" }, shard: { type: "string" },
        backend: { type: "string" }, "runs-dir": { type: "string" }, out: { type: "string" },
        jobs: { type: "string" }, "train-only": { type: "boolean", default: false }, fresh: { type: "boolean", default: false }, ...START_OPTIONS,
      },
    });
    return runReproduce({
      profile: values.profile, part: values.part!, shard: values.shard, backend: values.backend, runsDir: values["runs-dir"], out: values.out,
      jobs: values.jobs === undefined ? undefined : Number(values.jobs), trainOnly: values["train-only"]!, fresh: values.fresh!, start: parseStart(values),
    });
  },
  probe: async (args) => {
    const { values } = parseArgs({
      args,
      options: {
        run: { type: "string" }, profile: { type: "string" }, part: { type: "string", default: "all" },
        backend: { type: "string" }, "runs-dir": { type: "string" }, out: { type: "string" },
        fresh: { type: "boolean", default: false }, "memory-mb": { type: "string" }, ...START_OPTIONS,
      },
    });
    return runProbe({
      run: values.run, profile: values.profile, part: values.part!, backend: values.backend, runsDir: values["runs-dir"], out: values.out,
      fresh: values.fresh!, memoryMb: values["memory-mb"] === undefined ? undefined : positive(values["memory-mb"], "--memory-mb"),
      start: parseStart(values),
    });
  },
  pretrain: async (args) => {
    const { values } = parseArgs({
      args,
      options: {
        profile: { type: "string" }, out: { type: "string" }, layers: { type: "string" }, "d-model": { type: "string" },
        heads: { type: "string" }, backend: { type: "string" }, fresh: { type: "boolean", default: false },
      },
    });
    const int = (s: string | undefined, flag: string) => (s === undefined ? undefined : positiveInteger(s, flag));
    return runPretrain({
      profile: values.profile, out: values.out, layers: int(values.layers, "--layers"), dModel: int(values["d-model"], "--d-model"),
      heads: int(values.heads, "--heads"), backend: values.backend, fresh: values.fresh!,
      command: ["npx xft pretrain", ...args.filter((a) => a !== "--fresh")].join(" "),
    });
  },
  eval: async (args) => {
    const { values } = parseArgs({
      args,
      options: {
        run: { type: "string" }, dataset: { type: "string" }, dimension: { type: "string" }, out: { type: "string" },
        "runs-dir": { type: "string" }, backend: { type: "string" },
      },
    });
    if (values.run === undefined || values.dataset === undefined) throw new Error("give --run KEY|DIR and --dataset NAME|PATH");
    return runEval({ run: values.run, dataset: values.dataset, dimension: values.dimension, out: values.out, runsDir: values["runs-dir"], backend: values.backend });
  },
  logits: async (args) => {
    const { values } = parseArgs({
      args,
      options: {
        init: { type: "string" }, run: { type: "string" }, "runs-dir": { type: "string" }, text: { type: "string" },
        top: { type: "string", default: "20" }, json: { type: "boolean", default: false }, backend: { type: "string" },
      },
    });
    if (values.text === undefined) throw new Error("--text is required");
    return runLogits({
      init: values.init, run: values.run, runsDir: values["runs-dir"], text: values.text, top: positiveInteger(values.top!, "--top"),
      json: values.json!, backend: values.backend,
    });
  },
  export: async (args) => {
    const { values } = parseArgs({
      args,
      options: {
        // START_OPTIONS' --base: the base to export, or with --grid the base that the grid's runs start from.
        ...START_OPTIONS, run: { type: "string" }, to: { type: "string" }, "runs-dir": { type: "string" },
        merged: { type: "boolean", default: false }, "peft-base": { type: "string" },
        grid: { type: "boolean", default: false }, profile: { type: "string" }, part: { type: "string" },
      },
    });
    const startGiven = Object.keys(START_OPTIONS).filter((k) => k !== "base" && values[k as keyof typeof values] !== undefined);
    if (!values.grid && startGiven.length > 0) throw new Error(`--${startGiven[0]} is for --grid (which runs to export), not --run or --base`);
    return runExport({
      run: values.run, base: values.grid ? undefined : values.base, to: values.to, runsDir: values["runs-dir"], merged: values.merged!, peftBase: values["peft-base"],
      grid: values.grid ? { profile: values.profile, part: values.part ?? "all", start: parseStart(values) } : undefined,
    });
  },
  doctor: async (args) => {
    const { values } = parseArgs({ args, options: { init: { type: "string" } } });
    return runDoctor({ init: values.init });
  },
  data: async (args) => runData(args),
  runs: async (args) => runRuns(args),
};

function positive(s: string, flag: string): number {
  const n = Number(s);
  if (!(n > 0)) throw new Error(`${flag} must be a positive number, got "${s}"`);
  return n;
}

function nonNegative(s: string, flag: string): number {
  const n = Number(s);
  if (!(n >= 0) || s.trim() === "") throw new Error(`${flag} must be a number of at least 0, got "${s}"`);
  return n;
}

function positiveInteger(s: string, flag: string): number {
  const n = positive(s, flag);
  if (!Number.isInteger(n)) throw new Error(`${flag} must be a positive integer, got "${s}"`);
  return n;
}

function parseSeed(s: string): number {
  // Digits only: Number() reads "" and " " as 0 and "1e3" or "0x10" as other seeds than were meant.
  const n = /^-?\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n)) throw new Error(`--seed must be an integer, got "${s}"`);
  return n;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  const run = COMMANDS[command];
  if (!run) {
    process.stderr.write(`xft: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  try {
    return await run(rest);
  } catch (err) {
    process.stderr.write(`xft ${command}: ${(err as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
