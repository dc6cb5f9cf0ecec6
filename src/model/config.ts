/**
 * Model configs: plain objects, one type per family. The family decides the architecture (families/), the
 * config its sizes and options. xft's own GPT and a GPT-2 checkpoint are the same family (`gpt`): GPT-2's
 * architecture, with xft's configs leaving the checkpoint-only fields out (so that the run keys of models
 * built by xft stay as they were).
 *
 * Parameter names are xft's, the same in every family where the part is the same (`wte`, `blocks.{l}.ln1.g`,
 * `blocks.{l}.attn.wo`, `ln_f.g`, `lm_head`); matrices are [in, out], applied as x W. src/model/hf/ maps a
 * checkpoint's names onto them.
 */

/** GPT-2's architecture: learned positions, pre-LayerNorm blocks, fused QKV, GELU (tanh form), tied head. */
export interface GptConfig {
  /** Absent for xft's own models; "gpt2" for a checkpoint read from Hugging Face. */
  family?: "gpt2";
  vocabSize: number;
  /** Longest sequence the position embedding covers. */
  maxLen: number;
  layers: number;
  dModel: number;
  heads: number;
  /** MLP hidden width as a multiple of dModel (xft's models). */
  mlpRatio: number;
  /** Standard deviation of the initial weights (GPT-2: 0.02). */
  initStd: number;
  /** MLP hidden width where it is not mlpRatio x dModel (a checkpoint's `n_inner`). */
  mlpDim?: number;
  /** LayerNorm epsilon; default 1e-5 (GPT-2's). */
  normEps?: number;
  /** An output head of its own, `lm_head` [V, d], instead of the token embedding. */
  untiedHead?: boolean;
}

/**
 * Llama's architecture, which Mistral and Qwen2 share: RMSNorm, rotary positions, grouped-query attention,
 * a SwiGLU MLP. They differ in options: Qwen2 has q/k/v biases, some checkpoints tie the head.
 */
export interface LlamaConfig {
  family: "llama";
  /** The checkpoint's `model_type`: llama, mistral or qwen2. */
  modelType: "llama" | "mistral" | "qwen2";
  vocabSize: number;
  /** Longest sequence the model is run on. */
  maxLen: number;
  layers: number;
  dModel: number;
  heads: number;
  /** Key/value heads (grouped-query attention); equal to heads for plain multi-head attention. */
  kvHeads: number;
  headDim: number;
  mlpDim: number;
  normEps: number;
  ropeTheta: number;
  /** Linear RoPE scaling: positions are divided by this factor (1: none). */
  ropeScale: number;
  /** Biases on the q, k and v projections (Qwen2; Llama's `attention_bias`). */
  qkvBias: boolean;
  /** A bias on the output projection (Llama's `attention_bias`). */
  outBias: boolean;
  /** Biases on the MLP's projections (Llama's `mlp_bias`). */
  mlpBias: boolean;
  untiedHead: boolean;
  /** Standard deviation of the initial weights, for models made from scratch. */
  initStd: number;
}

export type ModelConfig = GptConfig | LlamaConfig;

export function isLlama(c: ModelConfig): c is LlamaConfig {
  return c.family === "llama";
}

/** The family's name as a person would say it: xft-gpt, gpt2, llama, mistral, qwen2. */
export function modelKind(c: ModelConfig): string {
  return isLlama(c) ? c.modelType : (c.family ?? "xft-gpt");
}
