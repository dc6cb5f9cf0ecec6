/**
 * A Hugging Face checkpoint's config.json as xft's ModelConfig. Defaults for absent fields are transformers'
 * own (5.x configuration classes; 4.x agrees on these), so that a checkpoint means here what it means to
 * transformers; the sizes have no default, since a config.json without them is not a checkpoint's. Anything
 * that would change the computation and that xft does not implement is an error naming the file and field,
 * never a silent approximation.
 */
import { GptConfig, LlamaConfig, ModelConfig } from "../config";

/** The `model_type`s xft reads. */
export const HF_MODEL_TYPES = ["gpt2", "llama", "mistral", "qwen2"] as const;
export type HfModelType = (typeof HF_MODEL_TYPES)[number];

type Json = Record<string, unknown>;

/** transformers' GPT-2 default for `initializer_range` and the other families'. */
const DEFAULT_INIT_STD = 0.02;
/** transformers' RotaryEmbeddingConfigMixin.default_theta. */
const DEFAULT_ROPE_THETA = 10_000;

/** Typed reads of a config.json's fields; every error names the file and the field. */
class ConfigFields {
  constructor(
    readonly json: Json,
    readonly source: string,
  ) {}

  /** Whether the field is written at all, null included. */
  present(name: string): boolean {
    return Object.hasOwn(this.json, name) && this.json[name] !== undefined;
  }

  /** Whether the field is present and not null (transformers treats null as "use the default"). */
  has(name: string): boolean {
    return this.present(name) && this.json[name] !== null;
  }

  error(name: string, message: string): Error {
    return new Error(`${this.source}: "${name}" ${message}`);
  }

  positiveInt(name: string, fallback?: number): number {
    const value = this.value(name, fallback);
    if (typeof value !== "number" || !Number.isInteger(value) || value <= 0)
      throw this.error(name, `must be a positive integer, got ${JSON.stringify(value)}`);
    return value;
  }

  positiveNumber(name: string, fallback?: number): number {
    const value = this.value(name, fallback);
    if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value))
      throw this.error(name, `must be a positive number, got ${JSON.stringify(value)}`);
    return value;
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.value(name, fallback);
    if (typeof value !== "boolean") throw this.error(name, `must be true or false, got ${JSON.stringify(value)}`);
    return value;
  }

  string(name: string, fallback?: string): string {
    const value = this.value(name, fallback);
    if (typeof value !== "string") throw this.error(name, `must be a string, got ${JSON.stringify(value)}`);
    return value;
  }

  /** The field's value; the fallback when absent or null; an error when absent without a fallback. */
  private value(name: string, fallback: unknown): unknown {
    if (this.has(name)) return this.json[name];
    if (fallback === undefined) throw this.error(name, "is missing");
    return fallback;
  }
}

/** xft's config for a checkpoint's config.json (parsed); `source` names the file in errors. */
export function hfModelConfig(json: unknown, source: string): ModelConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new Error(`${source}: not a JSON object`);
  const fields = new ConfigFields(json as Json, source);
  const modelType = hfModelType(fields);
  return modelType === "gpt2" ? gpt2Config(fields) : llamaConfig(fields, modelType);
}

function hfModelType(fields: ConfigFields): HfModelType {
  const modelType = fields.string("model_type");
  if (!(HF_MODEL_TYPES as readonly string[]).includes(modelType)) {
    throw new Error(`unsupported model_type ${JSON.stringify(modelType)} in ${fields.source}: xft reads ${HF_MODEL_TYPES.join(", ")}`);
  }
  return modelType as HfModelType;
}

function gpt2Config(f: ConfigFields): GptConfig {
  const dModel = f.positiveInt("n_embd");
  const heads = f.positiveInt("n_head");
  if (dModel % heads !== 0) throw f.error("n_embd", `(${dModel}) must be a multiple of n_head (${heads})`);
  const mlpDim = f.positiveInt("n_inner", 4 * dModel);
  checkGpt2Options(f);
  return {
    family: "gpt2",
    vocabSize: f.positiveInt("vocab_size"),
    maxLen: f.positiveInt("n_positions"),
    layers: f.positiveInt("n_layer"),
    dModel,
    heads,
    mlpRatio: mlpDim % dModel === 0 ? mlpDim / dModel : 4,
    mlpDim,
    initStd: f.positiveNumber("initializer_range", DEFAULT_INIT_STD),
    normEps: f.positiveNumber("layer_norm_epsilon", 1e-5),
    untiedHead: !f.bool("tie_word_embeddings", true),
  };
}

/** GPT-2 options that change the computation away from what xft's gpt family computes. */
function checkGpt2Options(f: ConfigFields): void {
  // Both names are the tanh approximation of GELU, which xft's gpt family uses.
  const activation = f.string("activation_function", "gelu_new");
  if (activation !== "gelu_new" && activation !== "gelu_pytorch_tanh") {
    throw f.error("activation_function", `is ${JSON.stringify(activation)}: xft's GPT-2 uses the tanh GELU (gelu_new or gelu_pytorch_tanh)`);
  }
  if (f.bool("scale_attn_by_inverse_layer_idx", false)) {
    throw f.error("scale_attn_by_inverse_layer_idx", "is true: scaling attention by 1/(layer+1) is not supported");
  }
  if (!f.bool("scale_attn_weights", true)) {
    throw f.error("scale_attn_weights", "is false: attention without the 1/sqrt(head_dim) scale is not supported");
  }
  if (f.bool("add_cross_attention", false)) throw f.error("add_cross_attention", "is true: cross-attention is not supported");
}

/** transformers' class defaults where the three families differ. */
const LLAMA_DEFAULTS: Record<LlamaConfig["modelType"], { maxPositions: number; kvHeads?: number }> = {
  llama: { maxPositions: 2048 },
  mistral: { maxPositions: 4096 * 32, kvHeads: 8 },
  qwen2: { maxPositions: 32768, kvHeads: 32 },
};

function llamaConfig(f: ConfigFields, modelType: LlamaConfig["modelType"]): LlamaConfig {
  const dModel = f.positiveInt("hidden_size");
  const heads = f.positiveInt("num_attention_heads");
  // A field that is absent takes the class default; one that is null means "as many as heads" (__post_init__).
  const kvHeads = f.present("num_key_value_heads") ? f.positiveInt("num_key_value_heads", heads) : (LLAMA_DEFAULTS[modelType].kvHeads ?? heads);
  if (heads % kvHeads !== 0) throw f.error("num_key_value_heads", `(${kvHeads}) must divide num_attention_heads (${heads})`);
  const headDim = f.has("head_dim") ? f.positiveInt("head_dim") : wholeHeadDim(f, dModel, heads);
  if (headDim % 2 !== 0) throw f.error("head_dim", `(${headDim}) must be even for rotary positions`);
  checkLlamaActivation(f);
  const attentionBias = modelType === "llama" && f.bool("attention_bias", false);
  return {
    family: "llama",
    modelType,
    vocabSize: f.positiveInt("vocab_size"),
    maxLen: attentionSpan(f, modelType),
    layers: f.positiveInt("num_hidden_layers"),
    dModel,
    heads,
    kvHeads,
    headDim,
    mlpDim: f.positiveInt("intermediate_size"),
    normEps: f.positiveNumber("rms_norm_eps", 1e-6),
    ...ropeSettings(f),
    qkvBias: modelType === "qwen2" || attentionBias,
    outBias: attentionBias,
    mlpBias: modelType === "llama" && f.bool("mlp_bias", false),
    untiedHead: !f.bool("tie_word_embeddings", false),
    initStd: f.positiveNumber("initializer_range", DEFAULT_INIT_STD),
  };
}

function wholeHeadDim(f: ConfigFields, dModel: number, heads: number): number {
  if (dModel % heads !== 0)
    throw f.error("hidden_size", `(${dModel}) must be a multiple of num_attention_heads (${heads}) when head_dim is not given`);
  return dModel / heads;
}

function checkLlamaActivation(f: ConfigFields): void {
  // transformers' "swish" is the same function as "silu".
  const activation = f.string("hidden_act", "silu");
  if (activation !== "silu" && activation !== "swish")
    throw f.error("hidden_act", `is ${JSON.stringify(activation)}: xft's Llama MLP is SwiGLU (silu)`);
}

/**
 * The longest sequence xft may run the model on: max_position_embeddings, or a sliding attention window
 * when one is shorter, since xft attends over the whole causal prefix and a window is not implemented (with
 * sequences no longer than the window, windowed and full attention are the same).
 */
function attentionSpan(f: ConfigFields, modelType: LlamaConfig["modelType"]): number {
  const maxPositions = f.positiveInt("max_position_embeddings", LLAMA_DEFAULTS[modelType].maxPositions);
  const window = slidingWindow(f, modelType);
  return window !== undefined && window < maxPositions ? window : maxPositions;
}

/** The attention window some layer uses, or undefined when every layer attends to the whole prefix. */
function slidingWindow(f: ConfigFields, modelType: LlamaConfig["modelType"]): number | undefined {
  if (modelType === "llama") return undefined;
  if (modelType === "mistral") {
    // MistralConfig's sliding_window defaults to 4096 when the field is absent; null turns it off.
    if (!f.present("sliding_window")) return 4096;
    return f.has("sliding_window") ? f.positiveInt("sliding_window") : undefined;
  }
  // Qwen2 windows only with use_sliding_window, and then only the layers from max_window_layers on
  // (or those its layer_types names "sliding_attention").
  if (!f.bool("use_sliding_window", false)) return undefined;
  const window = f.positiveInt("sliding_window", 4096);
  return qwen2LayerTypes(f).includes("sliding_attention") ? window : undefined;
}

function qwen2LayerTypes(f: ConfigFields): string[] {
  if (f.has("layer_types")) {
    const types = f.json.layer_types;
    if (!Array.isArray(types) || !types.every((t) => typeof t === "string")) throw f.error("layer_types", "must be a list of strings");
    return types;
  }
  const layers = f.positiveInt("num_hidden_layers");
  const firstWindowed = f.positiveInt("max_window_layers", 28);
  return Array.from({ length: layers }, (_, i) => (i >= firstWindowed ? "sliding_attention" : "full_attention"));
}

/**
 * RoPE's base and linear scale. transformers 5.x writes `rope_parameters` ({rope_type, rope_theta, factor});
 * 4.x wrote `rope_theta` beside `rope_scaling` ({type or rope_type, factor}). As in transformers'
 * convert_rope_params_to_dict: a non-empty rope_scaling wins over rope_parameters, and the dict's rope_theta
 * over the top-level one.
 */
function ropeSettings(f: ConfigFields): { ropeTheta: number; ropeScale: number } {
  const { field, params } = ropeParameters(f);
  const theta = params.rope_theta ?? (f.has("rope_theta") ? f.positiveNumber("rope_theta") : DEFAULT_ROPE_THETA);
  if (typeof theta !== "number" || !(theta > 0)) throw f.error(`${field}.rope_theta`, `must be a positive number, got ${JSON.stringify(theta)}`);
  const partial = params.partial_rotary_factor ?? f.json.partial_rotary_factor ?? 1;
  if (partial !== 1) throw f.error("partial_rotary_factor", `is ${JSON.stringify(partial)}: xft rotates the whole head`);
  const ropeType = params.rope_type ?? params.type ?? "default";
  if (ropeType === "default") return { ropeTheta: theta, ropeScale: 1 };
  if (ropeType === "linear") {
    const factor = params.factor;
    if (typeof factor !== "number" || !(factor > 0))
      throw f.error(`${field}.factor`, `must be a positive number for linear RoPE, got ${JSON.stringify(factor)}`);
    return { ropeTheta: theta, ropeScale: factor };
  }
  throw f.error(`${field}.rope_type`, `is ${JSON.stringify(ropeType)}: xft implements RoPE types default and linear only`);
}

/** The RoPE dict in force and the field it came from. */
function ropeParameters(f: ConfigFields): { field: string; params: Json } {
  for (const field of ["rope_scaling", "rope_parameters"]) {
    if (!f.has(field)) continue;
    const value = f.json[field];
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw f.error(field, "must be an object");
    if (Object.keys(value).length === 0) continue; // Python's `rope_scaling or rope_parameters`: {} is falsy
    return { field, params: singleRopeDict(f, field, value as Json) };
  }
  return { field: "rope_parameters", params: {} };
}

/** transformers 5.x may nest the dict by layer type; xft has one RoPE for all layers, so they must agree. */
function singleRopeDict(f: ConfigFields, field: string, value: Json): Json {
  const nested = Object.keys(value).filter((k) => k === "full_attention" || k === "sliding_attention");
  if (nested.length === 0) return value;
  const dicts = nested.map((k) => JSON.stringify(value[k]));
  if (dicts.some((d) => d !== dicts[0])) throw f.error(field, `has different RoPE parameters per layer type (${nested.join(", ")}): not supported`);
  const first = value[nested[0]];
  if (typeof first !== "object" || first === null) throw f.error(`${field}.${nested[0]}`, "must be an object");
  return first as Json;
}

const ARCHITECTURES: Record<HfModelType, string> = {
  gpt2: "GPT2LMHeadModel",
  llama: "LlamaForCausalLM",
  mistral: "MistralForCausalLM",
  qwen2: "Qwen2ForCausalLM",
};

/**
 * A config.json for exporting a model as a Hugging Face checkpoint (the inverse of hfModelConfig). RoPE
 * is written both ways, as rope_parameters (transformers 5) and rope_theta/rope_scaling (4.x), so either
 * reads it. Options a model_type cannot express (Qwen2 without q/k/v biases, ...) are an error.
 */
export function hfConfigJson(config: ModelConfig): Json {
  return config.family === "llama" ? llamaConfigJson(config) : gpt2ConfigJson(config);
}

function gpt2ConfigJson(c: GptConfig): Json {
  return {
    architectures: [ARCHITECTURES.gpt2],
    model_type: "gpt2",
    vocab_size: c.vocabSize,
    n_positions: c.maxLen,
    n_embd: c.dModel,
    n_layer: c.layers,
    n_head: c.heads,
    n_inner: c.mlpDim ?? c.mlpRatio * c.dModel,
    activation_function: "gelu_new",
    layer_norm_epsilon: c.normEps ?? 1e-5,
    initializer_range: c.initStd,
    tie_word_embeddings: !c.untiedHead,
    torch_dtype: "float32",
  };
}

function llamaConfigJson(c: LlamaConfig): Json {
  checkExpressible(c);
  const linear = c.ropeScale !== 1;
  return {
    architectures: [ARCHITECTURES[c.modelType]],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.dModel,
    intermediate_size: c.mlpDim,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    num_key_value_heads: c.kvHeads,
    head_dim: c.headDim,
    hidden_act: "silu",
    max_position_embeddings: c.maxLen,
    rms_norm_eps: c.normEps,
    rope_parameters: linear
      ? { rope_type: "linear", rope_theta: c.ropeTheta, factor: c.ropeScale }
      : { rope_type: "default", rope_theta: c.ropeTheta },
    rope_theta: c.ropeTheta,
    rope_scaling: linear ? { type: "linear", rope_type: "linear", factor: c.ropeScale } : null,
    tie_word_embeddings: !c.untiedHead,
    initializer_range: c.initStd,
    ...(c.modelType === "llama" ? { attention_bias: c.qkvBias, mlp_bias: c.mlpBias } : {}),
    // xft attends over the whole prefix: no window, whatever the model was trained with.
    ...(c.modelType === "mistral" ? { sliding_window: null } : {}),
    ...(c.modelType === "qwen2" ? { use_sliding_window: false, sliding_window: null } : {}),
    torch_dtype: "float32",
  };
}

/** Each model_type fixes some biases; a config that differs has no config.json of that type. */
function checkExpressible(c: LlamaConfig): void {
  const fixed: Record<LlamaConfig["modelType"], { qkvBias?: boolean; outBias?: boolean; mlpBias?: boolean }> = {
    llama: { outBias: c.qkvBias }, // one attention_bias for q, k, v and o
    mistral: { qkvBias: false, outBias: false, mlpBias: false },
    qwen2: { qkvBias: true, outBias: false, mlpBias: false },
  };
  for (const [option, required] of Object.entries(fixed[c.modelType]) as [keyof typeof c, boolean][]) {
    if (c[option] !== required) throw new Error(`hfConfigJson: a ${c.modelType} config.json cannot express ${option} = ${String(c[option])}`);
  }
}
