/**
 * The GPU check's closing table (scripts/gpu-check.sh run), as Markdown: per config, xft's training tokens/s on the
 * webgpu backend, on the CPU bench made where the check was prepared (the native backend cannot travel: its
 * libtensorflow is hundreds of MB), and PyTorch CUDA float32 eager's on the same GPU (scripts/torch-peer.py --device
 * cuda, which the webgpu bench read with --torch), with webgpu's ratio to each.
 *
 *     node table.cjs --cpu CPU.json --configs A,B,C,D,gpt2 DIR
 *
 * DIR holds webgpu-<config>.json, one `xft bench --json` per config; a config without one failed or ran out of
 * time, and its webgpu-<config>.log says why. The table also goes to DIR/gpu-check.json, with the figures behind it.
 */
import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "util";
import type { BenchReport, ConfigReport } from "../src/cli/bench";

export interface GpuCheckRow {
  config: string;
  webgpu?: number;
  cpu?: number;
  torchCuda?: number;
  /** webgpu's share of its own GEMM rate on the config's shapes (BenchResult's gflops / gemmGflops). */
  gemmShare?: number;
  /** Why there is no webgpu figure. */
  missing?: string;
}

function readReport(file: string, webgpu: boolean): BenchReport {
  const report = JSON.parse(fs.readFileSync(file, "utf8")) as BenchReport;
  if (!Array.isArray(report?.configs) || typeof report.backend?.name !== "string") {
    throw new Error(`${file}: not the output of xft bench --json`);
  }
  if ((report.backend.name === "webgpu") !== webgpu) {
    throw new Error(`${file}: a bench on ${report.backend.name}, where the ${webgpu ? "webgpu" : "CPU"} one was wanted`);
  }
  return report;
}

const byName = (report: BenchReport | undefined, name: string): ConfigReport | undefined =>
  report?.configs.find((c) => c.config.name.toLowerCase() === name.toLowerCase() && !c.config.recompute);

/** One row per config, from the CPU report and each config's webgpu report (undefined where it has none). */
export function gpuCheckRows(names: readonly string[], cpu: BenchReport, webgpu: (name: string) => BenchReport | undefined): GpuCheckRow[] {
  return names.map((config) => {
    const gpu = byName(webgpu(config), config);
    const row: GpuCheckRow = { config, cpu: byName(cpu, config)?.tokensPerSec };
    if (!gpu) return { ...row, missing: "no result" };
    return { ...row, webgpu: gpu.tokensPerSec, torchCuda: gpu.torch?.tokensPerSec, gemmShare: gpu.gflops / gpu.gemmGflops };
  });
}

const tokens = (x: number | undefined) => (x === undefined ? "" : Math.round(x).toLocaleString("en-US"));
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? "" : (a / b).toFixed(2));

/** The rows as a Markdown table, the README's form. */
export function formatGpuCheck(rows: readonly GpuCheckRow[]): string {
  const header = ["config", "webgpu tokens/s", "CPU tokens/s", "webgpu / CPU", "PyTorch CUDA tokens/s", "webgpu / PyTorch", "webgpu % of GEMM"];
  const cells = rows.map((r) => [
    r.config,
    r.missing ?? tokens(r.webgpu),
    tokens(r.cpu),
    ratio(r.webgpu, r.cpu),
    tokens(r.torchCuda),
    ratio(r.webgpu, r.torchCuda),
    r.gemmShare === undefined ? "" : `${(100 * r.gemmShare).toFixed(1)}%`,
  ]);
  return [header, header.map(() => "---"), ...cells].map((line) => `| ${line.join(" | ")} |`).join("\n");
}

function main(argv: string[]): void {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { cpu: { type: "string" }, configs: { type: "string" } },
    allowPositionals: true,
  });
  const [dir] = positionals;
  if (!values.cpu || !values.configs || !dir) throw new Error("usage: node table.cjs --cpu CPU.json --configs A,B,... DIR");
  const cpu = readReport(values.cpu, false);
  const names = values.configs.split(",").map((s) => s.trim());
  const reports = new Map<string, BenchReport>();
  for (const name of names) {
    const file = path.join(dir, `webgpu-${name}.json`);
    if (fs.existsSync(file) && fs.statSync(file).size > 0) reports.set(name, readReport(file, true));
  }
  const rows = gpuCheckRows(names, cpu, (name) => reports.get(name));
  const gpu = [...reports.values()][0];
  const torch = [...reports.values()].flatMap((r) => r.configs).find((c) => c.torch)?.torch;
  const lines = [
    `webgpu: ${gpu?.backendDescription ?? "no config ran"}`,
    `CPU: ${cpu.cpu}, ${cpu.backendDescription ?? cpu.backend.name} (from ${values.cpu})`,
    `PyTorch: ${torch ? torch.device : "not run (no torch with CUDA on this machine)"}`,
    "",
    formatGpuCheck(rows),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  fs.writeFileSync(
    path.join(dir, "gpu-check.json"),
    JSON.stringify({ webgpu: gpu?.backend, cpu: { cpu: cpu.cpu, backend: cpu.backend }, torch, rows }, null, 2),
  );
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`gpu-check table: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
