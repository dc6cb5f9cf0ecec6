/**
 * `xft bench`: training tokens/s, GFLOP/s, the backend's matmul GFLOP/s, peak RSS and the split of a step
 * into forward, backward and optimizer, for the reference configs (A-D, the default), GPT-2 small
 * (`--configs gpt2,gpt2-lora`: full fine-tuning and LoRA; about five steps of a minute each on 2 cores) or a
 * custom one. Each config runs in a child process so that its peak RSS is its own.
 */
import { spawnSync } from "child_process";
import { BENCH_CONFIGS, BenchConfig, benchConfig, BenchOptions, BenchResult, cpuModel, findBenchConfig, matmulGflops } from "../bench/bench";
import { TorchFigure, readTorchPeers } from "../bench/torch-peer";
import { BackendInfo, describeBackend, initBackend } from "../backend/engine";

export interface BenchArgs {
  configs: string[];
  custom?: string;
  backend?: string;
  json: boolean;
  options: BenchOptions;
  /** Run in this process (no per-config RSS); for tests and the child side. */
  inProcess: boolean;
  /** Every config with its blocks recomputed in the backward pass (BenchConfig's `recompute`). */
  recompute: boolean;
  /** scripts/torch-peer.py --json files from this machine: each config's faster PyTorch, and xft's ratio to it. */
  torch?: string[];
  child?: string;
}

export type ConfigReport = BenchResult & { torch?: TorchFigure; ratioToTorch?: number };

/** What `xft bench --json` prints. */
export interface BenchReport {
  cpu: string;
  backend: BackendInfo;
  /** describeBackend's line: the backend, its threads or adapter, and its kernels. */
  backendDescription: string;
  matmulGflops1024: number;
  options: BenchOptions;
  configs: ConfigReport[];
}

function parseCustom(spec: string): BenchConfig {
  const parts = spec.split(",").map(Number);
  if (parts.length !== 6 || parts.some((n) => !Number.isInteger(n) || n <= 0)) {
    throw new Error(`--custom takes layers,d,heads,seq,vocab,batch as positive integers, got "${spec}"`);
  }
  const [layers, dModel, heads, seq, vocab, batch] = parts;
  return { name: "custom", layers, dModel, heads, seq, vocab, batch };
}

function selectedConfigs(args: BenchArgs): BenchConfig[] {
  const configs = args.custom
    ? [parseCustom(args.custom)]
    : args.configs.map((name) => {
        const c = findBenchConfig(name);
        if (!c) throw new Error(`unknown bench config "${name}"; use ${BENCH_CONFIGS.map((r) => r.name).join(", ")} or --custom`);
        return c;
      });
  return args.recompute ? configs.map((c) => ({ ...c, recompute: true })) : configs;
}

async function runOne(c: BenchConfig, options: BenchOptions): Promise<ConfigReport> {
  return benchConfig(c, options, c.name === "C" || c.name === "custom");
}

function runInChild(c: BenchConfig, args: BenchArgs): ConfigReport {
  const o = args.options;
  // The child is started as this process was (bin/xft.cjs, or scripts/gpu-check-build.ts's bundle of the CLI).
  const childArgs = [
    ...process.execArgv,
    process.argv[1],
    "bench",
    "--child",
    JSON.stringify(c),
    "--repeats",
    String(o.repeats),
    "--seconds",
    String(o.secondsPerRepeat),
    "--warmup",
    String(o.warmupSteps),
    "--warmup-seconds",
    String(o.warmupSeconds),
  ];
  if (args.backend) childArgs.push("--backend", args.backend);
  const r = spawnSync(process.execPath, childArgs, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 * 2 ** 20 });
  if (r.status !== 0) throw new Error(`config ${c.name}: the benchmark process failed (exit ${r.status})`);
  return JSON.parse(r.stdout) as ConfigReport;
}

function formatTable(reports: ConfigReport[]): string {
  const withTorch = reports.some((r) => r.torch);
  const header = [
    "config",
    "params",
    "trained",
    "tokens/s",
    "GFLOP/s",
    "GEMM GFLOP/s",
    "% of GEMM",
    "peak RSS MiB",
    "ms/step",
    "CPU s/step",
    "fwd",
    "bwd",
    "opt",
    "readout ex/s",
    ...(withTorch ? ["PyTorch tokens/s", "xft / PyTorch"] : []),
  ];
  const rows = reports.map((r) => [
    r.config.recompute ? `${r.config.name} (recompute)` : r.config.name,
    r.parameters.toLocaleString("en-US"),
    r.trainedParameters.toLocaleString("en-US"),
    Math.round(r.tokensPerSec).toLocaleString("en-US"),
    r.gflops.toFixed(1),
    r.gemmGflops.toFixed(1),
    `${((100 * r.gflops) / r.gemmGflops).toFixed(1)}%`,
    r.peakRssMiB.toFixed(0),
    r.ms.step.toFixed(1),
    r.cpuSecondsPerStep.toFixed(2),
    r.ms.forward.toFixed(1),
    r.ms.backward.toFixed(1),
    r.ms.optimizer.toFixed(1),
    r.readoutExamplesPerSec === undefined ? "" : r.readoutExamplesPerSec.toFixed(0),
    ...(withTorch ? [r.torch ? Math.round(r.torch.tokensPerSec).toLocaleString("en-US") : "", r.ratioToTorch?.toFixed(2) ?? ""] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padStart(widths[i])).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

export async function runBench(args: BenchArgs): Promise<number> {
  if (args.child) {
    await initBackend({ requested: args.backend, quiet: true });
    process.stdout.write(JSON.stringify(await runOne(JSON.parse(args.child) as BenchConfig, args.options)) + "\n");
    return 0;
  }
  const backend = await initBackend({ requested: args.backend });
  const configs = selectedConfigs(args);
  const cpu = cpuModel();
  // Read before the minutes of timing, so that a wrong file fails at once.
  const onGpu = backend.name === "webgpu" || backend.name === "tensorflow-gpu";
  const torch = args.torch ? readTorchPeers(args.torch, cpu, onGpu) : undefined;
  const matmul = await matmulGflops();
  const reports: ConfigReport[] = [];
  for (const c of configs) {
    if (!args.json) process.stderr.write(`bench: config ${c.name} ...\n`);
    const report: ConfigReport = args.inProcess ? await runOne(c, args.options) : runInChild(c, args);
    // torch-peer.py never recomputes, so a recomputed step has no peer.
    const peer = c.recompute ? undefined : torch?.get(c.name);
    reports.push(peer ? { ...report, torch: peer, ratioToTorch: report.tokensPerSec / peer.tokensPerSec } : report);
  }
  if (args.json) {
    const report: BenchReport = {
      cpu,
      backend,
      backendDescription: describeBackend(backend),
      matmulGflops1024: matmul,
      options: args.options,
      configs: reports,
    };
    process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  } else {
    process.stdout.write(`${cpu}; backend ${describeBackend(backend)}; float32 matmul 1024^3: ${matmul.toFixed(1)} GFLOP/s\n`);
    process.stdout.write(`${formatTable(reports)}\n`);
    process.stdout.write(
      `tokens/s: median of ${args.options.repeats} repeats after ${args.options.warmupSteps}+ warm-up steps ` +
        `(${args.options.warmupSeconds} s at least; a step longer than a repeat ends the warm-up); ` +
        "GFLOP/s = tokens/s x (6 x params + 12 x layers x seq x d; under LoRA 4 x params + 6 x trained + the same); " +
        "GEMM GFLOP/s: the backend's float32 products on the config's own shapes (with xft's ops, the faster of xft's product and TensorFlow's MatMul), weighted as in a step, without reading them back; " +
        "CPU s/step: every thread's CPU time per timed step; peak RSS: the process's when the timed steps end (as torch-peer's); " +
        "loss on every position; readout: batch 64, 5 labels" +
        (torch ? `; PyTorch: the faster of the --torch files (scripts/torch-peer.py --json, this ${onGpu ? "machine's GPU" : "CPU"})` : "") +
        "\n",
    );
  }
  return 0;
}
