import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import {
  adapterParameters,
  BENCH_CONFIGS,
  cpuModel,
  findBenchConfig,
  flopsPerToken,
  median,
  modelConfig,
  REFERENCE_CONFIGS,
} from "../../src/bench/bench";
import { readTorchPeers } from "../../src/bench/torch-peer";
import { countParameters } from "../../src/model/model";
import { xft } from "../xft-cli";

test("FLOPs per token: 6 x params + 12 x layers x seq x d", () => {
  const a = REFERENCE_CONFIGS.find((c) => c.name === "A")!;
  // Config A has 236,288 parameters (the PyTorch reference counts the same model).
  assert.equal(flopsPerToken(a), 6 * 236_288 + 12 * 2 * 128 * 64);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
});

test("GPT-2 small configs: GPT-2's shape, its parameter count, xft's default LoRA on every linear layer", () => {
  const [full, lora, noDropout] = ["gpt2", "GPT2-LoRA", "gpt2-lora-nodropout"].map((name) => findBenchConfig(name)!);
  for (const c of [full, lora, noDropout]) {
    const { layers, dModel, heads, seq, vocab, batch } = c;
    assert.deepEqual({ layers, dModel, heads, seq, vocab, batch }, { layers: 12, dModel: 768, heads: 12, seq: 256, vocab: 50257, batch: 8 });
    // GPT-2 small has 124,439,808 parameters with its 1,024 positions (tied head); these have 256.
    assert.equal(countParameters({ ...modelConfig(c), maxLen: 1024 }), 124_439_808);
    assert.equal(countParameters(modelConfig(c)), 124_439_808 - 768 * 768);
  }
  assert.equal(full.lora, undefined);
  assert.deepEqual(lora.lora, { rank: 8, alpha: 16, dropout: 0.05, targets: ["attn.wqkv", "attn.wo", "mlp.w1", "mlp.w2"] });
  assert.deepEqual(noDropout.lora, { ...lora.lora, dropout: 0 });
  // PEFT's count for GPT-2 with r = 8 on c_attn, c_proj and c_fc: 12 x 8 x ((768 + 2304) + (768 + 768) + 2 x (768 + 3072)).
  assert.equal(adapterParameters(lora), 1_179_648);
  assert.equal(adapterParameters(full), 0);
  // Under LoRA the frozen weights need no gradients: 4 x params + 6 x the adapter's.
  const attention = 12 * 12 * 256 * 768;
  assert.equal(flopsPerToken(full), 6 * 123_849_984 + attention);
  assert.equal(flopsPerToken(lora), 4 * 123_849_984 + 6 * 1_179_648 + attention);
  // Not in the default set (main.ts: A,B,C,D); an unknown name is not found.
  assert.deepEqual(
    REFERENCE_CONFIGS.map((c) => c.name),
    ["A", "B", "C", "D"],
  );
  assert.equal(findBenchConfig("gpt3"), undefined);
});

test("the PyTorch peer has the same configs and LoRA settings", () => {
  const peer = readFileSync(path.resolve(__dirname, "../../scripts/torch-peer.py"), "utf8");
  const py = (x: number) => (Number.isInteger(x) ? x.toFixed(1) : String(x)); // Python's repr of a float
  for (const c of BENCH_CONFIGS) {
    assert.ok(
      peer.includes(`"${c.name}": (${[c.layers, c.dModel, c.heads, c.seq, c.vocab, c.batch].join(", ")})`),
      `torch-peer.py has config ${c.name}`,
    );
    if (c.lora) {
      assert.ok(
        peer.includes(`"${c.name}": {"r": ${c.lora.rank}, "lora_alpha": ${c.lora.alpha}, "lora_dropout": ${py(c.lora.dropout)}}`),
        `torch-peer.py has config ${c.name}'s LoRA settings`,
      );
    }
  }
});

test("xft bench runs a tiny config in its own process and reports every figure", () => {
  const r = xft("bench", "--custom", "1,16,2,16,64,2", "--repeats", "2", "--seconds", "0.05", "--warmup", "1", "--warmup-seconds", "0", "--json");
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.ok(out.matmulGflops1024 > 0);
  assert.match(out.cpu, / x\d+$/, "the CPU is named");
  const [c] = out.configs;
  assert.equal(c.config.name, "custom");
  assert.equal(c.repeatTokensPerSec.length, 2);
  for (const key of ["tokensPerSec", "gflops", "gemmGflops", "peakRssMiB", "cpuSecondsPerStep", "readoutExamplesPerSec"]) assert.ok(c[key] > 0, key);
  for (const phase of ["step", "forward", "backward"]) assert.ok(c.ms[phase] > 0, phase);
});

test("xft bench --torch puts the faster PyTorch of torch-peer's files beside each config, and refuses another CPU's", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "xft-torch-peer-"));
  const cpu = cpuModel();
  const peer = (name: string, body: object) => {
    const file = path.join(dir, name);
    writeFileSync(file, JSON.stringify(body));
    return file;
  };
  const plain = peer("plain.json", { cpu, malloc: {}, configs: [{ config: "A", tokensPerSec: 1000 }] });
  const kept = peer("kept.json", { cpu, malloc: { MALLOC_MMAP_MAX_: "0" }, configs: [{ config: "A", tokensPerSec: 2000 }] });
  const quick = ["--repeats", "1", "--seconds", "0.05", "--warmup", "1", "--warmup-seconds", "0"];
  const r = xft("bench", "--configs", "A", "--in-process", ...quick, "--torch", `${plain},${kept}`, "--json");
  assert.equal(r.status, 0, r.stderr);
  const [a] = JSON.parse(r.stdout).configs;
  assert.equal(a.torch.tokensPerSec, 2000);
  assert.equal(a.torch.malloc, "MALLOC_MMAP_MAX_=0");
  assert.ok(Math.abs(a.ratioToTorch - a.tokensPerSec / 2000) < 1e-9);

  const elsewhere = peer("elsewhere.json", { cpu: "Some Other CPU x2", malloc: {}, configs: [{ config: "A", tokensPerSec: 1 }] });
  const other = xft("bench", "--configs", "A", ...quick, "--torch", elsewhere);
  assert.notEqual(other.status, 0);
  assert.match(other.stderr, /elsewhere\.json: measured on "Some Other CPU x2"/);
  const broken = peer("broken.json", { cpu, configs: [{ config: "A", tokensPerSec: "fast" }] });
  assert.match(
    xft("bench", "--configs", "A", ...quick, "--torch", broken).stderr,
    /broken\.json: configs\[0\]\.tokensPerSec is not a positive number/,
  );
});

test("torch-peer's CUDA figures go beside a GPU backend only, and its CPU figures beside a CPU backend only", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "xft-torch-device-"));
  const peer = (name: string, body: object) => {
    const file = path.join(dir, name);
    writeFileSync(file, JSON.stringify({ cpu: "Some CPU x16", malloc: {}, configs: [{ config: "D", tokensPerSec: 9 }], ...body }));
    return file;
  };
  const cuda = peer("cuda.json", { device: "cuda", gpu: "NVIDIA H200" });
  // A file from before --device ran on the CPU.
  const cpu = peer("cpu.json", {});
  assert.equal(readTorchPeers([cuda], "Some CPU x16", true).get("D")?.device, "cuda (NVIDIA H200)");
  assert.equal(readTorchPeers([cpu], "Some CPU x16", false).get("D")?.device, "cpu");
  assert.throws(() => readTorchPeers([cuda], "Some CPU x16", false), /cuda\.json: PyTorch ran on cuda, xft on a CPU backend/);
  assert.throws(() => readTorchPeers([cpu], "Some CPU x16", true), /cpu\.json: PyTorch ran on cpu, xft on a GPU backend/);
});
