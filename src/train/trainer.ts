/**
 * The training loop, top to bottom: seeded data order, forward, loss on target tokens, backward,
 * AdamW with clipping and the cosine schedule, progress reports, atomic checkpoints, and resume.
 * Resuming from a checkpoint gives the same numbers as a run that was never interrupted.
 */
import * as fs from "fs";
import { assertBackendHealthy, tf } from "../backend/engine";
import { forward, ForwardOptions, ModelConfig, lossAt, Params } from "../model/model";
import { LoraConfig, loraForward } from "../model/lora";
import { paramsToTensorMap, valuesWithPrefix } from "../model/io";
import { loadSafetensors, saveSafetensors, TensorMap } from "../model/safetensors";
import { yieldToEventLoop } from "../util/event-loop";
import { hashSeed, Rng } from "../util/rng";
import { AdamW, learningRate, OptimizerConfig } from "./optimizer";
import { EncodedExample, makeBatch, Batch } from "./sequences";

export interface TrainConfig extends OptimizerConfig {
  steps: number;
  batchSize: number;
  seed: number;
  /** Write a checkpoint every this many steps (and at the end). */
  checkpointEvery: number;
  /**
   * Recompute each block's activations in the backward pass (activation checkpointing, model.ts `ForwardOptions`):
   * less memory for one more forward pass of the blocks, the same numbers. Absent (off) unless asked for, so that
   * the configs of runs from before it existed are unchanged.
   */
  recompute?: boolean;
}

/**
 * The config without the settings that change how the numbers are computed but not what they are (`recompute`: the
 * same gradients, test/unit/recompute.test.ts; as with the backend, which is recorded but not keyed either): what
 * names a run (its key), and what a checkpoint must match to be resumed.
 */
export function identifyingConfig(c: TrainConfig): TrainConfig {
  const identifying = { ...c };
  delete identifying.recompute;
  return identifying;
}

export interface TrainProgress {
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  /** Non-padding tokens per second since the first step (which includes warm-up). */
  tokensPerSec: number;
  elapsedS: number;
  etaS: number;
}

export interface LossPoint {
  step: number;
  loss: number;
}

export interface TrainResult {
  losses: LossPoint[];
  steps: number;
  wallS: number;
  tokensPerSec: number;
  /** Step the run resumed from (0 for a fresh run). */
  resumedFromStep: number;
}

export interface TrainOptions {
  params: Params;
  model: ModelConfig;
  config: TrainConfig;
  examples: readonly EncodedExample[];
  padId: number;
  /** LoRA: train this adapter only, with `params` frozen (model/lora.ts); absent, every parameter is trained. */
  adapter?: { params: Params; config: LoraConfig };
  /** Where to write checkpoints; an existing one there is resumed. */
  checkpointFile?: string;
  onProgress?: (p: TrainProgress) => void;
  /** Polled after every step; true stops the run after writing a checkpoint. */
  shouldStop?: () => boolean;
}

/** The examples of training step `step` (0-based): epochs are reshuffled with a seed of (seed, epoch). */
export class DataOrder {
  private epoch = -1;
  private order: number[] = [];
  readonly stepsPerEpoch: number;

  constructor(
    private readonly count: number,
    private readonly batchSize: number,
    private readonly seed: number,
  ) {
    if (count < batchSize) throw new Error(`${count} training examples are fewer than one batch of ${batchSize}`);
    this.stepsPerEpoch = Math.floor(count / batchSize);
  }

  batchIndices(step: number): number[] {
    const epoch = Math.floor(step / this.stepsPerEpoch);
    if (epoch !== this.epoch) {
      this.epoch = epoch;
      this.order = new Rng(hashSeed(this.seed, "data-order", epoch)).shuffle([...Array(this.count).keys()]);
    }
    const start = (step % this.stepsPerEpoch) * this.batchSize;
    return this.order.slice(start, start + this.batchSize);
  }
}

/** How a training step runs its forward pass: with an unmerged LoRA adapter or not, with its blocks recomputed or not. */
export type StepOptions = Pick<ForwardOptions, "lora" | "recompute">;

/** Mean cross-entropy over the target positions of a batch. */
export function batchLoss(params: Params, model: ModelConfig, batch: Batch, opts: StepOptions = {}): tf.Scalar {
  const { lora } = opts;
  return tf.tidy(() => {
    const inputs = tf.tensor2d(batch.inputs, [batch.rows, batch.length], "int32");
    const { hidden } = forward(params, model, inputs, opts);
    // Under LoRA the head is frozen: its gradient is never asked for.
    return lossAt(params, hidden, tf.tensor1d(batch.lossPositions, "int32"), tf.tensor1d(batch.lossTargets, "int32"), lora === undefined);
  });
}

/** variableGrads' gradients (keyed by tfjs variable name) under the parameters' own names, as the optimizer takes them. */
export function gradsByName(params: Params, grads: tf.NamedTensorMap): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(params).map(([name, p]) => [name, grads[p.name]]));
}

/**
 * One optimisation step on a batch; returns the loss. With a LoRA adapter only its weights get gradients and
 * updates (`opt` is the adapter's); without, every parameter. The bench times exactly this.
 */
export async function trainStep(params: Params, model: ModelConfig, opt: AdamW, batch: Batch, lr: number, opts: StepOptions = {}): Promise<number> {
  const trained = opts.lora ? opts.lora.adapter : params;
  const { value, grads } = tf.variableGrads(() => batchLoss(params, model, batch, opts), Object.values(trained));
  const norm = opt.apply(gradsByName(trained, grads), lr);
  const loss = (await value.data())[0];
  tf.dispose([value, norm, ...Object.values(grads)]);
  assertBackendHealthy();
  return loss;
}

interface CheckpointState {
  step: number;
  losses: LossPoint[];
  wallS: number;
}

function checkpointMeta(opts: TrainOptions): Record<string, string> {
  const meta = { model: JSON.stringify(opts.model), train: JSON.stringify(identifyingConfig(opts.config)), examples: String(opts.examples.length) };
  return opts.adapter ? { ...meta, adapter: JSON.stringify(opts.adapter.config) } : meta;
}

/** The parameters that training changes: the adapter's under LoRA, else the model's. */
function trainedParams(opts: TrainOptions): Params {
  return opts.adapter?.params ?? opts.params;
}

async function saveCheckpoint(file: string, opts: TrainOptions, opt: AdamW, state: CheckpointState): Promise<void> {
  const tensors: TensorMap = await paramsToTensorMap(trainedParams(opts), "param.");
  tensors.set("adam.m", { shape: opt.m.shape, data: (await opt.m.data()) as Float32Array });
  tensors.set("adam.v", { shape: opt.v.shape, data: (await opt.v.data()) as Float32Array });
  saveSafetensors(file, tensors, { ...checkpointMeta(opts), state: JSON.stringify(state) });
}

/** Loads a checkpoint into the params and optimizer; refuses one written for another config. */
function restoreCheckpoint(file: string, opts: TrainOptions, opt: AdamW): CheckpointState {
  const { tensors, metadata } = loadSafetensors(file);
  for (const [key, expected] of Object.entries(checkpointMeta(opts))) {
    if (metadata[key] !== expected) {
      throw new Error(`${file}: checkpoint was written with a different ${key} config; delete it to start over`);
    }
  }
  const trained = trainedParams(opts);
  // In a tidy, so that the loaded tensors are released once assigned.
  tf.tidy(() => {
    for (const [name, values] of valuesWithPrefix(tensors, "param.")) trained[name].assign(tf.tensor(values, trained[name].shape));
    for (const [name, moment] of [
      ["adam.m", opt.m],
      ["adam.v", opt.v],
    ] as const) {
      const saved = tensors.get(name);
      if (!saved || saved.data.length !== moment.size) throw new Error(`${file}: ${name} is missing or has the wrong size`);
      moment.assign(tf.tensor(saved.data, moment.shape));
    }
  });
  const state = JSON.parse(metadata.state) as CheckpointState;
  opt.step = state.step;
  return state;
}

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const { params, model, config, examples, padId } = opts;
  const order = new DataOrder(examples.length, config.batchSize, config.seed);
  const opt = new AdamW(config, trainedParams(opts));
  let state: CheckpointState = { step: 0, losses: [], wallS: 0 };
  try {
    if (opts.checkpointFile && fs.existsSync(opts.checkpointFile)) state = restoreCheckpoint(opts.checkpointFile, opts, opt);
    const resumedFromStep = state.step;
    const started = Date.now();
    let timedFrom = started;
    let timedTokens = 0;
    const elapsed = () => state.wallS + (Date.now() - started) / 1000;
    const checkpoint = async () => {
      if (opts.checkpointFile) await saveCheckpoint(opts.checkpointFile, opts, opt, { ...state, wallS: elapsed() });
    };

    while (state.step < config.steps) {
      const batch = makeBatch(
        order.batchIndices(state.step).map((i) => examples[i]),
        padId,
        model.maxLen,
      );
      const lr = learningRate(config, state.step + 1, config.steps);
      // LoRA's dropout masks are a function of (seed, step), so that a resumed run draws the same ones.
      const lora = opts.adapter && loraForward(opts.adapter.params, opts.adapter.config, hashSeed(config.seed, "lora-dropout", state.step));
      const loss = await trainStep(params, model, opt, batch, lr, { lora, recompute: config.recompute });
      if (!Number.isFinite(loss)) {
        // Only a checkpoint on disk is kept: before the first save (or without a checkpoint file) there is none.
        const kept =
          opts.checkpointFile && fs.existsSync(opts.checkpointFile)
            ? `the last checkpoint (${opts.checkpointFile}) is kept`
            : "no checkpoint was written before it";
        throw new Error(`training diverged: loss is ${loss} at step ${state.step + 1} (lr ${lr.toExponential(2)}); ${kept}`);
      }
      state.step += 1;
      state.losses.push({ step: state.step, loss });
      // The first step of a process pays for kernel set-up; throughput counts from its end.
      if (state.step === resumedFromStep + 1) timedFrom = Date.now();
      else timedTokens += batch.realTokens;
      const timedS = (Date.now() - timedFrom) / 1000;
      const tokensPerSec = timedS > 0 ? timedTokens / timedS : 0;
      const stepsDone = state.step - resumedFromStep;
      const etaS = ((Date.now() - started) / 1000 / stepsDone) * (config.steps - state.step);
      opts.onProgress?.({ step: state.step, totalSteps: config.steps, loss, lr, tokensPerSec, elapsedS: elapsed(), etaS });
      const stop = opts.shouldStop?.() ?? false;
      if (state.step % config.checkpointEvery === 0 || state.step === config.steps || stop) await checkpoint();
      if (stop) break;
      await yieldToEventLoop();
    }
    const timedS = (Date.now() - timedFrom) / 1000;
    return {
      losses: state.losses,
      steps: state.step,
      wallS: elapsed(),
      resumedFromStep,
      tokensPerSec: timedS > 0 ? timedTokens / timedS : 0,
    };
  } finally {
    opt.dispose();
  }
}
