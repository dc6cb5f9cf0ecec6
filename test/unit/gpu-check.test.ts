import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { buildGpuCheck } from "../../scripts/gpu-check-build";
import { formatGpuCheck, gpuCheckRows } from "../../scripts/gpu-check-table";
import { SWIFTSHADER_ICD } from "../../src/backend/dawn";
import type { BenchReport, ConfigReport } from "../../src/cli/bench";
import { PROJECT_ROOT, QUIET_ENV } from "../xft-cli";

const TINY = JSON.stringify({ name: "custom", layers: 1, dModel: 16, heads: 2, seq: 16, vocab: 64, batch: 2 });
const QUICK = ["--repeats", "1", "--seconds", "0.05", "--warmup", "1", "--warmup-seconds", "0"];

test("the GPU check's bundle runs xft bench on its own, outside the project, with Dawn beside it", async (t) => {
  // Outside the project, so that nothing resolves from its node_modules.
  const dir = mkdtempSync(path.join(os.tmpdir(), "xft-gpu-check-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { xft } = await buildGpuCheck(dir);
  copyFileSync(path.join(PROJECT_ROOT, "node_modules/webgpu/dist/linux-x64/dawn.node"), path.join(dir, "dawn.node"));
  const bench = (backend: string, env: NodeJS.ProcessEnv = QUIET_ENV) =>
    spawnSync(process.execPath, [xft, "bench", "--backend", backend, "--child", TINY, ...QUICK], { cwd: dir, encoding: "utf8", env });

  const cpu = bench("cpu");
  assert.equal(cpu.status, 0, cpu.stderr);
  assert.ok(JSON.parse(cpu.stdout).tokensPerSec > 0);
  const other = spawnSync(process.execPath, [xft, "train"], { cwd: dir, encoding: "utf8" });
  assert.equal(other.status, 1);
  assert.match(other.stderr, /runTrain is not in the GPU check's bundle/);

  if (!existsSync(SWIFTSHADER_ICD)) return;
  const gpu = bench("webgpu", { ...QUIET_ENV, VK_ICD_FILENAMES: SWIFTSHADER_ICD });
  assert.equal(gpu.status, 0, gpu.stderr);
  const r = JSON.parse(gpu.stdout);
  assert.ok(r.tokensPerSec > 0 && r.ms.forward > 0 && r.ms.optimizer > 0, gpu.stdout);
});

function report(backend: string, configs: Array<[string, number, Partial<ConfigReport>?]>): BenchReport {
  return {
    cpu: "Some CPU x2",
    backend: { name: backend } as BenchReport["backend"],
    backendDescription: backend,
    matmulGflops1024: 1,
    options: { repeats: 1, secondsPerRepeat: 1, warmupSteps: 1, warmupSeconds: 0 },
    configs: configs.map(([name, tokensPerSec, rest]) => ({ config: { name }, tokensPerSec, ...rest }) as ConfigReport),
  };
}

test("the GPU check's table: webgpu against the CPU bench and PyTorch CUDA, a missing config said", () => {
  const cpu = report("tensorflow", [
    ["D", 5000],
    ["gpt2", 300],
  ]);
  const webgpu = new Map([
    [
      "D",
      report("webgpu", [
        ["D", 150_000, { gflops: 30, gemmGflops: 60, torch: { tokensPerSec: 200_000, malloc: "", file: "t.json", device: "cuda" } }],
      ]),
    ],
  ]);
  const rows = gpuCheckRows(["D", "gpt2"], cpu, (name) => webgpu.get(name));
  assert.deepEqual(rows, [
    { config: "D", cpu: 5000, webgpu: 150_000, torchCuda: 200_000, gemmShare: 0.5 },
    { config: "gpt2", cpu: 300, missing: "no result" },
  ]);
  assert.equal(
    formatGpuCheck(rows),
    [
      "| config | webgpu tokens/s | CPU tokens/s | webgpu / CPU | PyTorch CUDA tokens/s | webgpu / PyTorch | webgpu % of GEMM |",
      "| --- | --- | --- | --- | --- | --- | --- |",
      "| D | 150,000 | 5,000 | 30.00 | 200,000 | 0.75 | 50.0% |",
      "| gpt2 | no result | 300 |  |  |  |  |",
    ].join("\n"),
  );
});
