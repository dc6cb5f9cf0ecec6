/**
 * The `xft` command line: the same library the notebooks call. Each command is a table of its options (with the help
 * of each) and what it does with them; `xft help` is written from the tables (src/cli/options.ts).
 */
import { DEFAULT_BENCH } from "../bench/bench";
import { runBench } from "./bench";
import { DATA_COMMANDS } from "./data";
import { runDoctor } from "./doctor";
import { runEval } from "./eval";
import { exportNotebooks } from "../export/notebook-export";
import { runExport } from "./export";
import { runLogits } from "./logits";
import { Command, commandUsage, OptionTable, parseOptions } from "./options";
import { runPretrain } from "./pretrain";
import { runProbe } from "./probe";
import { runReproduce } from "./reproduce";
import { RUNS_COMMANDS } from "./runs";
import { parseStart, START_OPTIONS } from "./start-options";
import { runTrain } from "./train";

const PROFILE = { type: "string", help: "ci|quick|full (default $XFT_PROFILE or quick)" } as const;
const BACKEND = { type: "string", help: "NAME (tensorflow-gpu, webgpu, tensorflow, wasm, cpu; default the fastest that loads)" } as const;
const RUNS_DIR = { type: "string", help: "DIR (default $XFT_RUNS_DIR, else runs/)" } as const;
const FRESH = { type: "boolean", default: false, help: "(retrain even if a finished run exists)" } as const;
const RECOMPUTE = {
  type: "boolean",
  default: false,
  help: "(recompute each block's activations in the backward pass: less memory for about a quarter more time a step; the same gradients)",
} as const;
const PART = { type: "string", default: "all", help: "all|explanations|pseudo|budget[,...] (default all)" } as const;

const TRAIN_OPTIONS = {
  dataset: { type: "string", default: "esnli", help: "NAME|PATH (default esnli)" },
  dimension: { type: "string", help: "NAME (default: every row)" },
  condition: { type: "string", default: "label", help: "label|label+expl|expl+label|label+shuffled|... (default label)" },
  seed: { type: "string", default: "1", help: "N (default 1)" },
  profile: PROFILE,
  backend: BACKEND,
  "runs-dir": RUNS_DIR,
  fresh: FRESH,
  recompute: RECOMPUTE,
  ...START_OPTIONS,
} as const satisfies OptionTable;

const BENCH_OPTIONS = {
  configs: { type: "string", default: "A,B,C,D", help: "A,B,C,D,gpt2,gpt2-lora,... (default A,B,C,D)" },
  custom: { type: "string", help: "layers,d,heads,seq,vocab,batch" },
  backend: BACKEND,
  json: { type: "boolean", default: false, help: "" },
  repeats: { type: "string", default: String(DEFAULT_BENCH.repeats), help: `N (default ${DEFAULT_BENCH.repeats})` },
  seconds: { type: "string", default: String(DEFAULT_BENCH.secondsPerRepeat), help: `S per repeat (default ${DEFAULT_BENCH.secondsPerRepeat})` },
  warmup: { type: "string", default: String(DEFAULT_BENCH.warmupSteps), help: `N steps (default ${DEFAULT_BENCH.warmupSteps})` },
  "warmup-seconds": {
    type: "string",
    default: String(DEFAULT_BENCH.warmupSeconds),
    help: `S (untimed steps go on until S s have passed, default ${DEFAULT_BENCH.warmupSeconds})`,
  },
  "in-process": { type: "boolean", default: false, help: "(no child process per config: no per-config peak RSS)" },
  recompute: RECOMPUTE,
  torch: { type: "string", help: "FILE,... (scripts/torch-peer.py --json outputs of this machine: PyTorch's tokens/s and the ratio)" },
  child: { type: "string", help: "", internal: true },
} as const satisfies OptionTable;

const REPRODUCE_OPTIONS = {
  profile: PROFILE,
  part: PART,
  shard: { type: "string", help: "k/n|auto (this machine's share of the grid; auto: from a Slurm array task or a Kubernetes Indexed Job)" },
  jobs: { type: "string", help: "N (train in N processes, shards of this machine, then analyse; 2 on a 2-core machine)" },
  "train-only": { type: "boolean", default: false, help: "(train the grid, no analysis: what each job of --jobs does)" },
  backend: BACKEND,
  "runs-dir": RUNS_DIR,
  out: { type: "string", help: "DIR (default results/<profile>, results/<profile>-base(-lora) from the base)" },
  fresh: { type: "boolean", default: false, help: "(retrain every run of the grid, or of the shard; the way past a damaged run)" },
  emit: { type: "string", help: "slurm|k8s (write the grid as a scheduler's job files into --out, train nothing)" },
  shards: { type: "string", help: "N (with --emit: tasks of the job array or completions of the Indexed Job)" },
  "cpus-per-task": { type: "string", help: "N (with --emit: cores per task, default 2)" },
  image: { type: "string", help: "IMAGE (with --emit k8s: an image with the project set up in /xft, default xft:latest)" },
  claim: { type: "string", help: "NAME (with --emit k8s: the PersistentVolumeClaim for runs and results, default xft-runs)" },
  ...START_OPTIONS,
} as const satisfies OptionTable;

const PROBE_OPTIONS = {
  run: { type: "string", help: "KEY|DIR (one run's per-point table)" },
  profile: PROFILE,
  part: PART,
  backend: BACKEND,
  "runs-dir": RUNS_DIR,
  out: { type: "string", help: "DIR (the grid's tables; default results/<profile>)" },
  fresh: { type: "boolean", default: false, help: "(probe again, and retrain the grid's damaged runs)" },
  "memory-mb": { type: "string", help: "N (bound on one batch's activation cache, default 256)" },
  ...START_OPTIONS,
} as const satisfies OptionTable;

const PRETRAIN_OPTIONS = {
  profile: { type: "string", help: "ci|quick|full (the grid's architecture; default $XFT_PROFILE or quick)" },
  init: { type: "string", help: "hf:DIR|hf:org/name (continue pretraining a Hugging Face checkpoint; writes a checkpoint folder for --init hf:OUT)" },
  out: { type: "string", help: "DIR (default data/base-<profile> where one is shipped (quick: reused), else runs/pretrain/<profile>[-hf-<name>])" },
  layers: { type: "string", help: "N" },
  "d-model": { type: "string", help: "N" },
  heads: { type: "string", help: "N (another architecture)" },
  fresh: { type: "boolean", default: false, help: "(pretrain again)" },
  backend: BACKEND,
} as const satisfies OptionTable;

const EVAL_OPTIONS = {
  run: { type: "string", help: "KEY|DIR" },
  dataset: { type: "string", help: "NAME|PATH" },
  dimension: { type: "string", help: "NAME (only its rows)" },
  "as-dimension": { type: "string", help: "NAME (read every row as this dimension: the run's own, on rows rated on others, e.g. usr)" },
  out: { type: "string", help: "FILE.csv (every example's label probabilities)" },
  "runs-dir": RUNS_DIR,
  backend: BACKEND,
} as const satisfies OptionTable;

const LOGITS_OPTIONS = {
  init: { type: "string", help: "hf:DIR|hf:org/name (a save_pretrained folder, or a model in the local Hugging Face cache)" },
  run: { type: "string", help: "KEY|DIR (a finished run, instead of --init)" },
  text: { type: "string", help: '"..." (required)' },
  top: { type: "string", default: "20", help: "N (default 20)" },
  json: { type: "boolean", default: false, help: "" },
  backend: BACKEND,
  "runs-dir": RUNS_DIR,
} as const satisfies OptionTable;

const EXPORT_OPTIONS = {
  run: { type: "string", help: "KEY|DIR (a finished run)" },
  ...START_OPTIONS,
  // One option, two uses: the base to export, or with --grid the base that the grid's runs start from.
  base: { type: "string", help: "DIR (an xft pretrained base to export; with --grid, the base its runs start from)" },
  grid: { type: "boolean", default: false, help: "(every run of the grid that reproduce trains with --profile, --part and the start options)" },
  profile: PROFILE,
  part: PART,
  to: { type: "string", help: "OUT (a new folder; required)" },
  merged: { type: "boolean", default: false, help: "(a LoRA run as one model, adapter merged)" },
  "peft-base": { type: "string", help: "DIR (a LoRA run on xft's base: that base's export)" },
  "runs-dir": RUNS_DIR,
} as const satisfies OptionTable;

const EXPORT_NOTEBOOK_OPTIONS = {
  profile: PROFILE,
  out: { type: "string", help: "DIR (the executed copies and their pages; default build/notebooks, with --executed each notebook's own folder)" },
  executed: { type: "boolean", default: false, help: "(the notebooks ran already: render their outputs as they are)" },
  pdf: { type: "boolean", default: false, help: "(also each page as a PDF, charts drawn, printed by headless Chromium)" },
} as const satisfies OptionTable;

const DOCTOR_OPTIONS = {
  init: { type: "string", help: "hf:DIR|hf:org/name (also read a checkpoint's config and tokenizer, and say what it is)" },
} as const satisfies OptionTable;

/** A command with subcommands (`xft data show`): its own name, then the subcommand's. */
function group(name: string, commands: Record<string, Command>): (args: string[]) => Promise<number> {
  return async ([sub, ...rest]) => {
    const command = sub === undefined ? undefined : commands[sub];
    if (!command) throw new Error(`${name} takes ${Object.keys(commands).join(", ")}, got ${sub === undefined ? "nothing" : `"${sub}"`}`);
    return command.run(rest);
  };
}

const int = (s: string | undefined, flag: string) => (s === undefined ? undefined : positiveInteger(s, flag));

export const COMMANDS: Record<string, Command> = {
  train: {
    summary: "train one (dataset, condition, seed) run and print its metrics as JSON",
    options: TRAIN_OPTIONS,
    run: (args) => {
      const { values } = parseOptions(args, TRAIN_OPTIONS);
      return runTrain({
        dataset: values.dataset,
        dimension: values.dimension,
        condition: values.condition,
        seed: parseSeed(values.seed),
        profile: values.profile,
        backend: values.backend,
        runsDir: values["runs-dir"],
        fresh: values.fresh,
        recompute: values.recompute,
        start: parseStart(values),
      });
    },
  },
  reproduce: {
    summary:
      "the paper's grid (sources x dimensions x conditions x seeds, and the real-explanation datasets), then its " +
      "analysis; finished runs are reused, an interrupted grid resumes; the start options apply to every run",
    options: REPRODUCE_OPTIONS,
    run: (args) => {
      const { values } = parseOptions(args, REPRODUCE_OPTIONS);
      return runReproduce({
        profile: values.profile,
        part: values.part,
        shard: values.shard,
        backend: values.backend,
        runsDir: values["runs-dir"],
        out: values.out,
        jobs: values.jobs === undefined ? undefined : Number(values.jobs),
        trainOnly: values["train-only"],
        fresh: values.fresh,
        start: parseStart(values),
        emit: values.emit,
        shards: values.shards,
        cpusPerTask: values["cpus-per-task"],
        image: values.image,
        claim: values.claim,
      });
    },
  },
  probe: {
    summary:
      "what the explanations change inside the model: hidden-state and attention entropy, logit lens, output " +
      "sharpness at the label-decision position; stored beside each run (probe.json) and reused; --run for one run, " +
      "or a grid (trained as reproduce trains it, then probed)",
    options: PROBE_OPTIONS,
    run: (args) => {
      const { values } = parseOptions(args, PROBE_OPTIONS);
      return runProbe({
        run: values.run,
        profile: values.profile,
        part: values.part,
        backend: values.backend,
        runsDir: values["runs-dir"],
        out: values.out,
        fresh: values.fresh,
        memoryMb: values["memory-mb"] === undefined ? undefined : positive(values["memory-mb"], "--memory-mb"),
        start: parseStart(values),
      });
    },
  },
  pretrain: {
    summary:
      "next-token pretraining of a base model on every text the project ships (train splits only, no test text), " +
      "resumable; writes the weights and a model card (CARD.md, base.json); --init hf:DIR continues a checkpoint in its own tokenizer " +
      "and writes a checkpoint folder (README.md, pretrain.json) that --init hf:OUT starts from",
    options: PRETRAIN_OPTIONS,
    run: (args) => {
      const { values } = parseOptions(args, PRETRAIN_OPTIONS);
      return runPretrain({
        profile: values.profile,
        init: values.init,
        out: values.out,
        layers: int(values.layers, "--layers"),
        dModel: int(values["d-model"], "--d-model"),
        heads: int(values.heads, "--heads"),
        backend: values.backend,
        fresh: values.fresh,
        command: ["npx xft pretrain", ...args.filter((a) => a !== "--fresh")].join(" "),
      });
    },
  },
  bench: {
    summary: "training speed on synthetic tokens for the reference configs (each in its own process)",
    options: BENCH_OPTIONS,
    run: (args) => {
      const { values } = parseOptions(args, BENCH_OPTIONS);
      return runBench({
        configs: values.configs.split(","),
        custom: values.custom,
        backend: values.backend,
        json: values.json,
        inProcess: values["in-process"],
        recompute: values.recompute,
        torch: values.torch?.split(","),
        child: values.child,
        options: {
          repeats: positive(values.repeats, "--repeats"),
          secondsPerRepeat: positive(values.seconds, "--seconds"),
          warmupSteps: nonNegative(values.warmup, "--warmup"),
          warmupSeconds: nonNegative(values["warmup-seconds"], "--warmup-seconds"),
        },
      });
    },
  },
  eval: {
    summary: "a finished run applied to a dataset (its test split, or an evaluation-only one such as usr): metrics as JSON",
    options: EVAL_OPTIONS,
    run: (args) => {
      const { values } = parseOptions(args, EVAL_OPTIONS);
      if (values.run === undefined || values.dataset === undefined) throw new Error("give --run KEY|DIR and --dataset NAME|PATH");
      return runEval({
        run: values.run,
        dataset: values.dataset,
        dimension: values.dimension,
        asDimension: values["as-dimension"],
        out: values.out,
        runsDir: values["runs-dir"],
        backend: values.backend,
      });
    },
  },
  logits: {
    summary:
      "the token ids of a text and the next-token log-probabilities at its last position: a sanity check on a " +
      "checkpoint (and the handle for comparing xft with transformers)",
    options: LOGITS_OPTIONS,
    run: (args) => {
      const { values } = parseOptions(args, LOGITS_OPTIONS);
      if (values.text === undefined) throw new Error("--text is required");
      return runLogits({
        init: values.init,
        run: values.run,
        runsDir: values["runs-dir"],
        text: values.text,
        top: positiveInteger(values.top, "--top"),
        json: values.json,
        backend: values.backend,
      });
    },
  },
  export: {
    summary:
      "a finished run as a Hugging Face model folder (config.json, model.safetensors, tokenizer, README.md card): a full " +
      "run (xft's GPT as gpt2, a checkpoint's run in its own family), a LoRA run as a PEFT adapter, an xft base, or a " +
      "reproduced grid's every run with an index card of its results tables",
    options: EXPORT_OPTIONS,
    run: (args) => {
      const { values } = parseOptions(args, EXPORT_OPTIONS);
      const startGiven = Object.keys(START_OPTIONS).filter((k) => k !== "base" && values[k as keyof typeof values] !== undefined);
      if (!values.grid && startGiven.length > 0) throw new Error(`--${startGiven[0]} is for --grid (which runs to export), not --run or --base`);
      return runExport({
        run: values.run,
        base: values.grid ? undefined : values.base,
        to: values.to,
        runsDir: values["runs-dir"],
        merged: values.merged,
        peftBase: values["peft-base"],
        grid: values.grid ? { profile: values.profile, part: values.part, start: parseStart(values) } : undefined,
      });
    },
  },
  "export-notebook": {
    positionals: "NOTEBOOK.ipynb...",
    summary:
      "a notebook as one HTML page that draws every chart with nothing else reachable (no network, no machine path): " +
      "executed with the profile, then checked in headless Chromium; a page that fails the check is not written",
    options: EXPORT_NOTEBOOK_OPTIONS,
    run: async (args) => {
      const { values, positionals } = parseOptions(args, EXPORT_NOTEBOOK_OPTIONS, true);
      if (positionals.length === 0) throw new Error("give the notebooks to export: xft export-notebook notebooks/00-quickstart.ipynb");
      if (values.executed && values.profile !== undefined) throw new Error("--profile is for notebooks that xft executes, not --executed ones");
      await exportNotebooks(positionals, {
        out: values.out,
        executed: values.executed,
        profile: values.profile,
        pdf: values.pdf,
        log: (line) => process.stdout.write(`${line}\n`),
      });
      return 0;
    },
  },
  doctor: {
    summary: "check the environment (backend, Jupyter, kernelspec, browser, data) and say how to fix gaps",
    options: DOCTOR_OPTIONS,
    run: (args) => runDoctor({ init: parseOptions(args, DOCTOR_OPTIONS).values.init }),
  },
  data: {
    positionals: "list|show|check",
    summary: "look at datasets before training on them (below)",
    options: {},
    run: group("data", DATA_COMMANDS),
  },
  runs: { positionals: "list|verify", summary: "the runs folder (below)", options: {}, run: group("runs", RUNS_COMMANDS) },
};

/** `xft help`: every command and subcommand with its options, from the tables above. */
export function usage(): string {
  const blocks = Object.entries(COMMANDS)
    .filter(([name]) => name !== "data" && name !== "runs")
    .map(([name, c]) => commandUsage(name, c));
  const groups = [
    ["data", DATA_COMMANDS],
    ["runs", RUNS_COMMANDS],
  ] as const;
  const subBlocks = groups.flatMap(([name, commands]) => Object.entries(commands).map(([sub, c]) => commandUsage(`${name} ${sub}`, c)));
  return `usage: xft <command> [options]\n\ncommands:\n${[...blocks, ...subBlocks].join("\n")}\n`;
}

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
    process.stdout.write(usage());
    return command ? 0 : 2;
  }
  const found = COMMANDS[command];
  if (!found) {
    process.stderr.write(`xft: unknown command "${command}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await found.run(rest);
  } catch (err) {
    process.stderr.write(`xft ${command}: ${(err as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
