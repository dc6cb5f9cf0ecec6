/**
 * Training-speed benchmark on synthetic tokens: the same model, loss and optimizer step the experiments
 * use (`trainStep`), timed on the reference configs of the speed issue, beside a bare float32 matmul of
 * the same backend so that the model's efficiency can be read as a share of what the backend can do.
 *
 * FLOPs per token are estimated as 6 x params + 12 x layers x seq x d (Kaplan et al. 2020; the second
 * term is attention's scores and weighted sum, forward and backward), with the loss on every position. Under
 * LoRA the frozen weights need no gradient of their own: 4 x params (forward, and the backward pass to the
 * inputs) + 6 x the adapter's parameters + the same attention term; the figure counts the work LoRA needs, not
 * what a backend happens to do.
 *
 * Besides A-D, the bench has GPT-2 small (GPT-2's own shape: 12 layers, d 768, 12 heads, vocab 50,257, at
 * seq 256 and batch 8, random weights), fully fine-tuned ("gpt2") and through a LoRA adapter ("gpt2-lora":
 * rank 8, alpha 16, dropout 0.05 on every linear layer of a block, xft train's LoRA path; "gpt2-lora-nodropout"
 * the same at dropout 0). A step takes about a minute on a 2-core AVX2 machine, so they are not in the default
 * set; with the default options each runs about five steps' time: one warm-up step (a step longer than a repeat
 * ends the warm-up), 3 timed repeats of one step, and the phases once.
 */
import * as os from "os";
import { tf } from "../backend/engine";
import { fusedOps } from "../backend/fused-ops";
import { useTensorFlowProducts } from "../backend/native";
import { readLabelsBatch } from "../eval/readout";
import { adapterShapes, createAdapter, DEFAULT_LORA, LoraConfig, loraForward } from "../model/lora";
import { countParameters, createParams, disposeParams, GptConfig, LoraForward, Params } from "../model/model";
import { AdamW } from "../train/optimizer";
import type { Batch } from "../train/sequences";
import { batchLoss, gradsByName, trainStep } from "../train/trainer";
import { hashSeed, Rng } from "../util/rng";

export interface BenchConfig {
  name: string;
  layers: number;
  dModel: number;
  heads: number;
  seq: number;
  vocab: number;
  batch: number;
  /** Train a LoRA adapter of this config on the frozen model (xft train's LoRA path); absent: every parameter. */
  lora?: LoraConfig;
  /**
   * Recompute each block's activations in the backward pass (`xft bench --recompute`, TrainConfig's `recompute`). The
   * FLOPs per token stay the model's: the second forward pass of the blocks shows as a lower GFLOP/s, not as more work.
   */
  recompute?: boolean;
}

export const REFERENCE_CONFIGS: readonly BenchConfig[] = [
  { name: "A", layers: 2, dModel: 64, heads: 4, seq: 128, vocab: 2000, batch: 16 },
  { name: "B", layers: 4, dModel: 128, heads: 4, seq: 256, vocab: 8000, batch: 16 },
  { name: "C", layers: 4, dModel: 128, heads: 4, seq: 256, vocab: 4000, batch: 16 },
  { name: "D", layers: 6, dModel: 256, heads: 8, seq: 256, vocab: 4000, batch: 16 },
];

/** GPT-2 small's shape (124M parameters with its 1,024 positions; these have 256), at seq 256 and batch 8. */
const GPT2_SMALL = { layers: 12, dModel: 768, heads: 12, seq: 256, vocab: 50257, batch: 8 };

/**
 * Configs a user names with `--configs` but that are not in the default set, since a step takes seconds:
 * GPT-2 small fully fine-tuned, and through xft's default LoRA adapter (rank 8, alpha 16, dropout 0.05,
 * every linear layer of a block: GPT-2's c_attn, attention c_proj, c_fc and MLP c_proj).
 */
export const LARGE_CONFIGS: readonly BenchConfig[] = [
  { name: "gpt2", ...GPT2_SMALL },
  { name: "gpt2-lora", ...GPT2_SMALL, lora: { ...DEFAULT_LORA, targets: [...DEFAULT_LORA.targets] } },
  // The same adapter without dropout: on tfjs the masks are drawn in JavaScript (tf.randomUniform), PEFT skips
  // its dropout at 0, so this one compares the rest of LoRA's step alone.
  { name: "gpt2-lora-nodropout", ...GPT2_SMALL, lora: { ...DEFAULT_LORA, targets: [...DEFAULT_LORA.targets], dropout: 0 } },
];

/** Every named config, A-D first; names are matched without regard to case. */
export const BENCH_CONFIGS: readonly BenchConfig[] = [...REFERENCE_CONFIGS, ...LARGE_CONFIGS];

export function findBenchConfig(name: string): BenchConfig | undefined {
  return BENCH_CONFIGS.find((c) => c.name.toLowerCase() === name.trim().toLowerCase());
}

export interface BenchOptions {
  /** Timed repeats; the reported figure is their median. */
  repeats: number;
  /** Minimum seconds per repeat (steps are added until it is reached). */
  secondsPerRepeat: number;
  /** Untimed steps first (kernel set-up, allocator warm-up)... */
  warmupSteps: number;
  /**
   * ...and then until this many seconds have passed: V8 is still optimising tfjs's engine code for the first
   * tens of steps (config A native: 47 ms a step over steps 6-35, 34 ms after), so a count of steps alone left
   * the first timed repeat below the others.
   */
  warmupSeconds: number;
}

export const DEFAULT_BENCH: BenchOptions = { repeats: 3, secondsPerRepeat: 2, warmupSteps: 3, warmupSeconds: 2 };

export interface BenchResult {
  config: BenchConfig;
  /** The model's parameters, and those the step trains (the adapter's under LoRA, else the same). */
  parameters: number;
  trainedParameters: number;
  /** Median training tokens per second, and each repeat's figure. */
  tokensPerSec: number;
  repeatTokensPerSec: number[];
  stepsPerRepeat: number;
  /**
   * CPU seconds (every thread's, user + system) per timed step: on a machine shared with other work, wall time
   * per step rises with their load while this stays near what the step needs.
   */
  cpuSecondsPerStep: number;
  flopsPerToken: number;
  gflops: number;
  /** Milliseconds per step (medians), split by phase; forward and backward are timed within the same runs. */
  ms: { step: number; forward: number; backward: number; optimizer: number };
  /** The backend's GEMM GFLOP/s on this config's own shapes (stepGemmGflops), which `gflops` is judged against. */
  gemmGflops: number;
  /** Label readout examples per second (forward to the last position, K = 5 labels, batch 64). */
  readoutExamplesPerSec?: number;
  /**
   * The process's peak RSS when the timed steps end, as scripts/torch-peer.py reads PyTorch's: what training takes,
   * without the phases, GEMM and readout measurements that follow (each allocates tensors of its own).
   */
  peakRssMiB: number;
}

export function flopsPerToken(c: BenchConfig): number {
  const attention = 12 * c.layers * c.seq * c.dModel;
  const params = countParameters(modelConfig(c));
  return c.lora ? 4 * params + 6 * adapterParameters(c) + attention : 6 * params + attention;
}

/** Parameters of the config's LoRA adapter (0 without one). */
export function adapterParameters(c: BenchConfig): number {
  return c.lora ? adapterShapes(modelConfig(c), c.lora).reduce((n, [, [a, b]]) => n + a * b, 0) : 0;
}

export function modelConfig(c: BenchConfig): GptConfig {
  return { vocabSize: c.vocab, maxLen: c.seq, layers: c.layers, dModel: c.dModel, heads: c.heads, mlpRatio: 4, initStd: 0.02 };
}

/** Random tokens with the loss on every position, as in the PyTorch reference. */
export function syntheticBatch(c: BenchConfig, seed = 1): Batch {
  const rng = new Rng(seed);
  const n = c.batch * c.seq;
  const inputs = new Int32Array(n).map(() => rng.int(c.vocab));
  const lossPositions = Array.from({ length: n }, (_, i) => i);
  return { inputs, rows: c.batch, length: c.seq, lossPositions, lossTargets: lossPositions.map(() => rng.int(c.vocab)), realTokens: n };
}

/** The CPU as the bench names it, model and count ("AMD EPYC x2"); scripts/torch-peer.py names it alike. */
export function cpuModel(): string {
  return `${os.cpus()[0]?.model.trim() ?? "unknown CPU"} x${os.cpus().length}`;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function timeMs(f: () => Promise<void>, times: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const t = performance.now();
    await f();
    samples.push(performance.now() - t);
  }
  return median(samples);
}

/** A matrix product [m, k] x [k, n] (the first factor transposed, [k, m], where `transposeA`). */
export interface GemmShape {
  m: number;
  k: number;
  n: number;
  transposeA?: boolean;
}

/**
 * float32 GFLOP/s of one product shape on the current backend: the median of 5 timed batches over about `seconds`.
 * Where xft's ops are loaded, tf.matMul runs xft's product and TensorFlow's MatMul is timed too (backend/native.ts):
 * the figure is the faster of the two, the machine's rate whichever code reaches it.
 */
export async function matmulGflops(shape: GemmShape = { m: 1024, k: 1024, n: 1024 }, seconds = 2): Promise<number> {
  if (!fusedOps()?.matMul) return productGflops(shape, seconds);
  const rates: number[] = [];
  for (const onTensorFlow of [false, true]) {
    const before = useTensorFlowProducts(onTensorFlow);
    try {
      rates.push(await productGflops(shape, seconds));
    } finally {
      useTensorFlowProducts(before);
    }
  }
  return Math.max(...rates);
}

/**
 * tf.matMul's float32 GFLOP/s on one shape. The products are not read back into JavaScript (that copy is not the
 * machine's GEMM rate); one element of each batch's last product is, so that a backend that queues work (WebGPU)
 * has finished the batch when it is timed.
 */
async function productGflops(shape: GemmShape, seconds: number): Promise<number> {
  const { m, k, n, transposeA = false } = shape;
  const a = tf.randomNormal(transposeA ? [k, m] : [m, k], 0, 1, "float32", 1) as tf.Tensor2D;
  const b = tf.randomNormal([k, n], 0, 1, "float32", 2) as tf.Tensor2D;
  const batch = async (reps: number) => {
    for (let i = 0; i < reps - 1; i++) tf.matMul(a, b, transposeA).dispose();
    const last = tf.matMul(a, b, transposeA);
    await settled([last]);
    last.dispose();
  };
  await batch(1);
  const oneMs = await timeMs(() => batch(1), 3);
  const reps = Math.max(1, Math.ceil((seconds * 1000) / 5 / Math.max(oneMs, 1e-3)));
  const samples: number[] = [];
  for (let s = 0; s < 5; s++) {
    const t = performance.now();
    await batch(reps);
    samples.push((2 * m * k * n * reps) / ((performance.now() - t) / 1000) / 1e9);
  }
  tf.dispose([a, b]);
  return median(samples);
}

/** The forward products of a training step of config c: per block the QKV, output, MLP up and down projections; the head. */
export function stepGemmShapes(c: BenchConfig): GemmShape[] {
  const rows = c.batch * c.seq;
  const d = c.dModel;
  return [
    { m: rows, k: d, n: 3 * d },
    { m: rows, k: d, n: d },
    { m: rows, k: d, n: 4 * d },
    { m: rows, k: 4 * d, n: d },
    { m: rows, k: d, n: c.vocab },
  ];
}

/**
 * The machine's GEMM rate on a config's own shapes: each timed on its own, combined as the step weighs them (the
 * total FLOPs over the total time: the block shapes once per layer, the head once). What the step's GFLOP/s is
 * judged against.
 */
export async function stepGemmGflops(c: BenchConfig, seconds = 1): Promise<number> {
  let flops = 0;
  let time = 0;
  for (const [i, shape] of stepGemmShapes(c).entries()) {
    const f = 2 * shape.m * shape.k * shape.n * (i < 4 ? c.layers : 1);
    flops += f;
    time += f / (await matmulGflops(shape, seconds));
  }
  return flops / time;
}

export async function benchConfig(c: BenchConfig, opts: BenchOptions = DEFAULT_BENCH, withReadout = false): Promise<BenchResult> {
  const model = modelConfig(c);
  const params = createParams(model, 1);
  const adapter = c.lora ? createAdapter(model, c.lora, 2) : undefined;
  const trained = adapter ?? params;
  const opt = new AdamW({ lr: 1e-4, minLr: 1e-5, warmupSteps: 0, weightDecay: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, gradClip: 1 }, trained);
  const batch = syntheticBatch(c);
  const tokens = c.batch * c.seq;
  // As `train`: under LoRA each step draws its dropout masks from a seed of its own.
  let steps = 0;
  const lora = (): LoraForward | undefined => adapter && c.lora && loraForward(adapter, c.lora, hashSeed(1, "lora-dropout", steps));
  const pass = () => ({ lora: lora(), recompute: c.recompute });
  const loss = () => batchLoss(params, model, batch, pass());
  try {
    const step = async () => {
      await trainStep(params, model, opt, batch, 1e-4, pass());
      steps++;
    };
    // The warm-up; a step longer than a whole repeat (GPT-2 small) ends it, since such a step is bound by its
    // matmuls and has nothing left for V8 to optimise after the first (gpt2 native on 2 AMD EPYC cores: 25-30 s
    // for the first step, then 7-8 s each).
    const warmupMs: number[] = [];
    const warmupStart = performance.now();
    for (let i = 0; i < opts.warmupSteps || performance.now() - warmupStart < 1000 * opts.warmupSeconds; i++) {
      const t = performance.now();
      await step();
      warmupMs.push(performance.now() - t);
      if (warmupMs[i] > 1000 * opts.secondsPerRepeat) break;
    }
    // Steps per repeat from the last warm-up steps (from two more where there was none); a step longer than a
    // repeat's seconds makes a repeat of one step.
    const stepMs = warmupMs.length > 0 ? median(warmupMs.slice(-3)) : await timeMs(step, 2);
    const stepsPerRepeat = Math.max(1, Math.ceil((opts.secondsPerRepeat * 1000) / stepMs));
    const repeatTokensPerSec: number[] = [];
    const cpuFrom = process.cpuUsage();
    for (let r = 0; r < opts.repeats; r++) {
      const t = performance.now();
      for (let i = 0; i < stepsPerRepeat; i++) await step();
      repeatTokensPerSec.push((tokens * stepsPerRepeat) / ((performance.now() - t) / 1000));
    }
    const cpu = process.cpuUsage(cpuFrom);
    const peakRssMiB = process.resourceUsage().maxRSS / 1024;
    const tokensPerSec = median(repeatTokensPerSec);
    // The phases as often as a repeat has steps, 3 to 10 times; once where one step fills a repeat.
    const phases = await phaseTimesMs(loss, trained, opt, stepsPerRepeat === 1 ? 1 : Math.max(3, Math.min(stepsPerRepeat, 10)));
    const fpt = flopsPerToken(c);
    const result: BenchResult = {
      config: c,
      parameters: countParameters(model),
      trainedParameters: countOf(trained),
      tokensPerSec,
      repeatTokensPerSec,
      stepsPerRepeat,
      cpuSecondsPerStep: (cpu.user + cpu.system) / 1e6 / (opts.repeats * stepsPerRepeat),
      flopsPerToken: fpt,
      gflops: (tokensPerSec * fpt) / 1e9,
      gemmGflops: await stepGemmGflops(c),
      ms: { step: (1000 * tokens) / tokensPerSec, ...phases },
      peakRssMiB,
    };
    if (withReadout) result.readoutExamplesPerSec = await readoutThroughput(c, params, model, opts);
    return result;
  } finally {
    opt.dispose();
    if (adapter) disposeParams(adapter);
    disposeParams(params);
  }
}

/**
 * The step's phases, each the median of `times` runs: the forward pass, the backward pass, and the optimizer.
 * Forward and backward are timed inside the same runs (passMs), which keeps each figure a measurement of its own: a
 * difference of two noisy medians can come out negative on a small model.
 */
async function phaseTimesMs(
  loss: () => tf.Scalar,
  trained: Params,
  opt: AdamW,
  times: number,
): Promise<{ forward: number; backward: number; optimizer: number }> {
  const forward: number[] = [];
  const backward: number[] = [];
  for (let i = 0; i < times; i++) {
    const ms = tf.getBackend() === "webgpu" ? await queuedPassMs(loss, trained) : await splitPassMs(loss, trained);
    forward.push(ms.forward);
    backward.push(ms.backward);
  }
  const { value, grads } = tf.variableGrads(loss, Object.values(trained));
  const named = gradsByName(trained, grads);
  const optimizer = await timeMs(async () => {
    const norm = opt.apply(named, 1e-4);
    await norm.data();
    norm.dispose();
  }, times);
  tf.dispose([value, ...Object.values(grads)]);
  return { forward: median(forward), backward: median(backward), optimizer };
}

/**
 * One gradient pass split at the moment the loss is known: a blocking read of the scalar inside the tape, so that
 * a backend that queues work has finished the forward pass.
 */
async function splitPassMs(loss: () => tf.Scalar, trained: Params): Promise<{ forward: number; backward: number }> {
  const start = performance.now();
  let forwardEnd = start;
  const { value, grads } = tf.variableGrads(() => {
    const l = loss();
    l.dataSync();
    forwardEnd = performance.now();
    return l;
  }, Object.values(trained));
  await settled(Object.values(grads));
  const end = performance.now();
  tf.dispose([value, ...Object.values(grads)]);
  return { forward: forwardEnd - start, backward: end - forwardEnd };
}

/**
 * The same for WebGPU in Node, which cannot read the GPU synchronously, while the tape cannot wait for a promise:
 * the forward pass alone, read back, then a whole gradient pass right after it; the backward pass is the difference
 * of the two, run by run.
 */
async function queuedPassMs(loss: () => tf.Scalar, trained: Params): Promise<{ forward: number; backward: number }> {
  const start = performance.now();
  const l = tf.tidy(loss);
  await l.data();
  const forward = performance.now() - start;
  l.dispose();
  const passStart = performance.now();
  const { value, grads } = tf.variableGrads(loss, Object.values(trained));
  await settled(Object.values(grads));
  const pass = performance.now() - passStart;
  tf.dispose([value, ...Object.values(grads)]);
  return { forward, backward: pass - forward };
}

/** Waits until every tensor is computed, reading back one element of each rather than the whole tensor. */
async function settled(tensors: tf.Tensor[]): Promise<void> {
  const corners = tf.tidy(() => tensors.map((t) => t.reshape([-1]).slice(0, 1)));
  await Promise.all(corners.map((c) => c.data()));
  tf.dispose(corners);
}

function countOf(params: Params): number {
  return Object.values(params).reduce((n, p) => n + p.size, 0);
}

/** Examples per second of the constrained label readout on full-length prompts, batch 64, 5 labels. */
async function readoutThroughput(c: BenchConfig, params: ReturnType<typeof createParams>, model: GptConfig, opts: BenchOptions): Promise<number> {
  const rows = 64;
  const rng = new Rng(2);
  const prompts = Array.from({ length: rows }, () => Array.from({ length: c.seq }, () => rng.int(c.vocab)));
  // Each label one token (readLabelsBatch takes every label as its tokens).
  const labels = [0, 1, 2, 3, 4].map((id) => [id]);
  const once = async () => {
    await readLabelsBatch(params, model, prompts, labels, 0);
  };
  await once();
  const ms = await timeMs(once, Math.max(3, opts.repeats));
  return rows / (ms / 1000);
}
