/**
 * Training-speed benchmark on synthetic tokens: the same model, loss and optimizer step the experiments
 * use (`trainStep`), timed on the reference configs of the speed issue, beside a bare float32 matmul of
 * the same backend so that the model's efficiency can be read as a share of what the backend can do.
 *
 * FLOPs per token are estimated as 6 x params + 12 x layers x seq x d (Kaplan et al. 2020; the second
 * term is attention's scores and weighted sum, forward and backward), with the loss on every position.
 */
import { tf } from "../backend/engine";
import { readLabelsBatch } from "../eval/readout";
import { countParameters, createParams, disposeParams, GptConfig } from "../model/model";
import { AdamW } from "../train/optimizer";
import type { Batch } from "../train/sequences";
import { batchLoss, gradsByName, trainStep } from "../train/trainer";
import { Rng } from "../util/rng";

export interface BenchConfig {
  name: string;
  layers: number;
  dModel: number;
  heads: number;
  seq: number;
  vocab: number;
  batch: number;
}

export const REFERENCE_CONFIGS: readonly BenchConfig[] = [
  { name: "A", layers: 2, dModel: 64, heads: 4, seq: 128, vocab: 2000, batch: 16 },
  { name: "B", layers: 4, dModel: 128, heads: 4, seq: 256, vocab: 8000, batch: 16 },
  { name: "C", layers: 4, dModel: 128, heads: 4, seq: 256, vocab: 4000, batch: 16 },
  { name: "D", layers: 6, dModel: 256, heads: 8, seq: 256, vocab: 4000, batch: 16 },
];

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
  parameters: number;
  /** Median training tokens per second, and each repeat's figure. */
  tokensPerSec: number;
  repeatTokensPerSec: number[];
  stepsPerRepeat: number;
  flopsPerToken: number;
  gflops: number;
  /** Milliseconds per step (medians), split by phase: backward = (forward+backward) - forward, etc. */
  ms: { step: number; forward: number; backward: number; optimizer: number };
  /** Label readout examples per second (forward to the last position, K = 5 labels, batch 64). */
  readoutExamplesPerSec?: number;
}

export function flopsPerToken(c: BenchConfig): number {
  return 6 * countParameters(modelConfig(c)) + 12 * c.layers * c.seq * c.dModel;
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

/** float32 matmul n x n x n on the current backend, GFLOP/s (median of timed batches over about `seconds`). */
export async function matmulGflops(n = 1024, seconds = 2): Promise<number> {
  const a = tf.randomNormal([n, n], 0, 1, "float32", 1) as tf.Tensor2D;
  const b = tf.randomNormal([n, n], 0, 1, "float32", 2) as tf.Tensor2D;
  const once = async () => {
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
  };
  await once();
  const oneMs = await timeMs(once, 3);
  const reps = Math.max(3, Math.ceil((seconds * 1000) / 5 / Math.max(oneMs, 1e-3)));
  const samples: number[] = [];
  for (let k = 0; k < 5; k++) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) await once();
    samples.push((2 * n ** 3 * reps) / ((performance.now() - t) / 1000) / 1e9);
  }
  tf.dispose([a, b]);
  return median(samples);
}

export async function benchConfig(c: BenchConfig, opts: BenchOptions = DEFAULT_BENCH, withReadout = false): Promise<BenchResult> {
  const model = modelConfig(c);
  const params = createParams(model, 1);
  const opt = new AdamW({ lr: 1e-4, minLr: 1e-5, warmupSteps: 0, weightDecay: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, gradClip: 1 }, params);
  const batch = syntheticBatch(c);
  const tokens = c.batch * c.seq;
  try {
    const step = () => trainStep(params, model, opt, batch, 1e-4).then(() => undefined);
    const warmupStart = performance.now();
    for (let i = 0; i < opts.warmupSteps || performance.now() - warmupStart < 1000 * opts.warmupSeconds; i++) await step();
    const stepMs = await timeMs(step, 2);
    const stepsPerRepeat = Math.max(2, Math.ceil((opts.secondsPerRepeat * 1000) / stepMs));
    const repeatTokensPerSec: number[] = [];
    for (let r = 0; r < opts.repeats; r++) {
      const t = performance.now();
      for (let i = 0; i < stepsPerRepeat; i++) await step();
      repeatTokensPerSec.push((tokens * stepsPerRepeat) / ((performance.now() - t) / 1000));
    }
    const tokensPerSec = median(repeatTokensPerSec);
    const phaseTimes = Math.max(3, Math.min(stepsPerRepeat, 10));
    const forward = await timeMs(async () => {
      const loss = batchLoss(params, model, batch);
      await loss.data();
      loss.dispose();
    }, phaseTimes);
    const forwardBackward = await timeMs(async () => {
      const { value, grads } = tf.variableGrads(() => batchLoss(params, model, batch), Object.values(params));
      await value.data();
      tf.dispose([value, ...Object.values(grads)]);
    }, phaseTimes);
    // The optimizer is timed on its own, on one set of gradients, since a difference of two noisy
    // medians (step minus forward-backward) can come out negative.
    const { value, grads } = tf.variableGrads(() => batchLoss(params, model, batch), Object.values(params));
    const named = gradsByName(params, grads);
    const optimizer = await timeMs(async () => {
      const norm = opt.apply(named, 1e-4);
      await norm.data();
      norm.dispose();
    }, phaseTimes);
    tf.dispose([value, ...Object.values(grads)]);
    const fpt = flopsPerToken(c);
    const result: BenchResult = {
      config: c, parameters: countParameters(model), tokensPerSec, repeatTokensPerSec, stepsPerRepeat,
      flopsPerToken: fpt, gflops: (tokensPerSec * fpt) / 1e9,
      ms: { step: 1000 * tokens / tokensPerSec, forward, backward: forwardBackward - forward, optimizer },
    };
    if (withReadout) result.readoutExamplesPerSec = await readoutThroughput(c, params, model, opts);
    return result;
  } finally {
    opt.dispose();
    disposeParams(params);
  }
}

/** Examples per second of the constrained label readout on full-length prompts, batch 64, 5 labels. */
async function readoutThroughput(c: BenchConfig, params: ReturnType<typeof createParams>, model: GptConfig, opts: BenchOptions): Promise<number> {
  const rows = 64;
  const rng = new Rng(2);
  const prompts = Array.from({ length: rows }, () => Array.from({ length: c.seq }, () => rng.int(c.vocab)));
  const labelIds = [0, 1, 2, 3, 4];
  const once = async () => { await readLabelsBatch(params, model, prompts, labelIds, 0); };
  await once();
  const ms = await timeMs(once, Math.max(3, opts.repeats));
  return rows / (ms / 1000);
}
