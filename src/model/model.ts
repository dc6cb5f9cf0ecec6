/**
 * The model, whatever its family: parameters from a config, the forward pass with its hook points, and the
 * family's final norm (the logit lens reads every residual point through it). The architectures themselves
 * are in families/ (gpt.ts: GPT-2 and xft's own; llama.ts: Llama, Mistral, Qwen2), the operations they share in
 * ops/, and the hook names in hooks.ts.
 */
import { tf } from "../backend/engine";
import { Rng } from "../util/rng";
import { isLlama, ModelConfig } from "./config";
import type { ForwardPass, ParameterShapes } from "./families/family";
import { gptFinalNorm, gptForward, gptParameterShapes } from "./families/gpt";
import { llamaFinalNorm, llamaForward, llamaParameterShapes } from "./families/llama";
import { Cache, HookRecorder, HookRequest, hook } from "./hooks";
import type { LoraForward } from "./ops/linear";
import type { Params } from "./ops/params";

export type { GptConfig, LlamaConfig, ModelConfig } from "./config";
export { hookNames } from "./hooks";
export type { Cache } from "./hooks";
export { flatPositions, headChunkRows, headWeight, logitsAt, lossAt } from "./ops/head";
export type { LoraForward } from "./ops/linear";
export type { Params } from "./ops/params";

export function validateConfig(c: ModelConfig): void {
  const integers = isLlama(c)
    ? (["vocabSize", "maxLen", "layers", "dModel", "heads", "kvHeads", "headDim", "mlpDim"] as const).map((k) => [k, c[k]] as const)
    : (["vocabSize", "maxLen", "layers", "dModel", "heads", "mlpRatio"] as const).map((k) => [k, c[k]] as const);
  for (const [key, value] of integers) {
    if (!Number.isInteger(value) || value <= 0) throw new Error(`model config: ${key} must be a positive integer, got ${value}`);
  }
  if (isLlama(c)) {
    if (c.heads % c.kvHeads !== 0) throw new Error(`model config: heads ${c.heads} is not a multiple of kvHeads ${c.kvHeads}`);
  } else if (c.dModel % c.heads !== 0) {
    throw new Error(`model config: dModel ${c.dModel} is not divisible by heads ${c.heads}`);
  }
}

/** Parameter shapes by name; the order is the order of saving, of initial draws and of the optimizer state. */
export function parameterShapes(c: ModelConfig): ParameterShapes {
  validateConfig(c);
  return isLlama(c) ? llamaParameterShapes(c) : gptParameterShapes(c);
}

export function countParameters(c: ModelConfig): number {
  return parameterShapes(c).reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0);
}

/** The projections that write into the residual stream, whose initial scale shrinks with depth (GPT-2). */
const RESIDUAL_OUTPUTS = ["attn.wo", "mlp.w2", "mlp.wdown"];

/**
 * Seeded initial values: N(0, initStd) for matrices, with the residual output projections scaled by
 * 1/sqrt(2 * layers) as in GPT-2; norm gains 1, biases 0. Drawn in JS so that every backend starts from the
 * same numbers.
 */
export function initialValues(c: ModelConfig, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of parameterShapes(c)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(size);
    if (name.endsWith(".g")) v.fill(1);
    else if (shape.length === 2) {
      const residual = RESIDUAL_OUTPUTS.some((suffix) => name.endsWith(suffix));
      const std = residual ? c.initStd / Math.sqrt(2 * c.layers) : c.initStd;
      for (let i = 0; i < size; i++) v[i] = rng.normal() * std;
    }
    out.set(name, v);
  }
  return out;
}

export function createParams(c: ModelConfig, seed: number): Params {
  return paramsFromValues(c, initialValues(c, seed));
}

export function paramsFromValues(c: ModelConfig, values: Map<string, Float32Array>): Params {
  return variablesFromValues(parameterShapes(c), values);
}

/** Trainable variables of the given shapes from their values by name (the model's, or an adapter's). */
export function variablesFromValues(shapes: ParameterShapes, values: Map<string, Float32Array>): Params {
  const params: Params = {};
  for (const [name, shape] of shapes) {
    const v = values.get(name);
    if (!v) throw new Error(`missing parameter ${name}`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (v.length !== size) throw new Error(`parameter ${name}: expected ${size} values for shape [${shape}], got ${v.length}`);
    // In a tidy, so that the initial tensor is released: the variable keeps its data, nothing else is left behind.
    params[name] = tf.tidy(() => tf.variable(tf.tensor(v, shape, "float32"), true, name.replace(/\./g, "/") + "_" + uniqueSuffix()));
  }
  return params;
}

let variableCounter = 0;
/** tfjs variable names are global per engine; a counter keeps several models in one kernel apart. */
function uniqueSuffix(): number {
  return variableCounter++;
}

export function disposeParams(params: Params): void {
  for (const v of Object.values(params)) v.dispose();
}

export async function paramsToValues(params: Params): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of Object.entries(params)) out.set(name, (await v.data()) as Float32Array);
  return out;
}

export interface ForwardOptions {
  /** Hook points to record; "all" records every one. Recorded tensors are kept: dispose the cache. */
  hooks?: HookRequest;
  lora?: LoraForward;
  /**
   * Activation checkpointing: under gradients each block keeps only its input and is recomputed in the backward pass
   * (families/family.ts), one more forward pass of the blocks for the memory of their activations. The gradients are
   * the same. A pass that records hook points runs its blocks as they are: the hooks read their insides.
   */
  recompute?: boolean;
}

/** Whether a request names any hook point. */
function recordsHooks(request: HookRequest | undefined): boolean {
  return request === "all" || (request?.length ?? 0) > 0;
}

/**
 * Runs the decoder on token ids [B, T] and returns the final normalised hidden states [B, T, d] and the
 * recorded hook points. Call `logitsAt` for next-token logits of the positions you need.
 */
export function forward(params: Params, config: ModelConfig, tokens: tf.Tensor2D, opts: ForwardOptions = {}): { hidden: tf.Tensor3D; cache: Cache } {
  const [B, T] = tokens.shape;
  if (T > config.maxLen) throw new Error(`sequence length ${T} exceeds the model's maxLen ${config.maxLen}`);
  const hooks = new HookRecorder(config.layers, opts.hooks);
  const hidden = tf.tidy(() => {
    const pass: ForwardPass = { hooks, lora: opts.lora, recompute: (opts.recompute ?? false) && !recordsHooks(opts.hooks) };
    const flat = isLlama(config) ? llamaForward(params, config, tokens, pass) : gptForward(params, config, tokens, pass);
    const out = flat.reshape([B, T, config.dModel]) as tf.Tensor3D;
    hooks.record(hook.finalNorm, out);
    return out;
  });
  return { hidden, cache: hooks.cache };
}

/** The family's final norm of a residual stream: the logit lens reads every point as the model reads its last. */
export function finalNorm(params: Params, config: ModelConfig, x: tf.Tensor): tf.Tensor {
  return isLlama(config) ? llamaFinalNorm(params, config, x) : gptFinalNorm(params, config, x);
}
