/**
 * A checkpoint's tensor names and layouts against xft's parameters, one table per family, used in both
 * directions (reading a checkpoint, exporting one).
 *
 * Layouts: xft's matrices are [in, out] (applied as x W). GPT-2's Conv1D stores [in, out] too, so its
 * matrices are copied as they are; Llama's nn.Linear stores [out, in], so its projections are transposed.
 * Embeddings and the head are [vocab, d] on both sides.
 */
import { GptConfig, isLlama, LlamaConfig, ModelConfig } from "../config";
import { NamedArray, TensorMap } from "../safetensors";

/** One parameter: xft's name and shape, the checkpoint's name, and whether the checkpoint stores the transpose. */
export interface ParameterName {
  /** xft's name, e.g. `blocks.0.attn.wq`. */
  xft: string;
  /** The checkpoint's tensor name, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  hf: string;
  /** The module the tensor belongs to, e.g. `model.layers.0.self_attn.q_proj` (what LoRA targets name). */
  hfModule: string;
  /** xft's shape: [in, out] for matrices. */
  shape: number[];
  /** The checkpoint stores [out, in] (nn.Linear). */
  transpose: boolean;
}

/** A row of a family's table; `{l}` in a block row's names stands for the layer index. */
interface Rule<C> {
  xft: string;
  hf: string;
  shape: (c: C) => number[];
  transpose?: boolean;
  /** Present only for configs where this holds (optional biases, an untied head). */
  when?: (c: C) => boolean;
}

/** A family's table: parameters before the blocks, those of each block, those after. */
interface Table<C> {
  before: Rule<C>[];
  block: Rule<C>[];
  after: Rule<C>[];
}

const gptMlpDim = (c: GptConfig) => c.mlpDim ?? c.mlpRatio * c.dModel;

/** GPT-2 as GPT2LMHeadModel saves it. Conv1D weights are [in, out]: nothing is transposed. */
const GPT2_TABLE: Table<GptConfig> = {
  before: [
    { xft: "wte", hf: "transformer.wte.weight", shape: (c) => [c.vocabSize, c.dModel] },
    { xft: "wpe", hf: "transformer.wpe.weight", shape: (c) => [c.maxLen, c.dModel] },
  ],
  block: [
    { xft: "blocks.{l}.ln1.g", hf: "transformer.h.{l}.ln_1.weight", shape: (c) => [c.dModel] },
    { xft: "blocks.{l}.ln1.b", hf: "transformer.h.{l}.ln_1.bias", shape: (c) => [c.dModel] },
    { xft: "blocks.{l}.attn.wqkv", hf: "transformer.h.{l}.attn.c_attn.weight", shape: (c) => [c.dModel, 3 * c.dModel] },
    { xft: "blocks.{l}.attn.bqkv", hf: "transformer.h.{l}.attn.c_attn.bias", shape: (c) => [3 * c.dModel] },
    { xft: "blocks.{l}.attn.wo", hf: "transformer.h.{l}.attn.c_proj.weight", shape: (c) => [c.dModel, c.dModel] },
    { xft: "blocks.{l}.attn.bo", hf: "transformer.h.{l}.attn.c_proj.bias", shape: (c) => [c.dModel] },
    { xft: "blocks.{l}.ln2.g", hf: "transformer.h.{l}.ln_2.weight", shape: (c) => [c.dModel] },
    { xft: "blocks.{l}.ln2.b", hf: "transformer.h.{l}.ln_2.bias", shape: (c) => [c.dModel] },
    { xft: "blocks.{l}.mlp.w1", hf: "transformer.h.{l}.mlp.c_fc.weight", shape: (c) => [c.dModel, gptMlpDim(c)] },
    { xft: "blocks.{l}.mlp.b1", hf: "transformer.h.{l}.mlp.c_fc.bias", shape: (c) => [gptMlpDim(c)] },
    { xft: "blocks.{l}.mlp.w2", hf: "transformer.h.{l}.mlp.c_proj.weight", shape: (c) => [gptMlpDim(c), c.dModel] },
    { xft: "blocks.{l}.mlp.b2", hf: "transformer.h.{l}.mlp.c_proj.bias", shape: (c) => [c.dModel] },
  ],
  after: [
    { xft: "ln_f.g", hf: "transformer.ln_f.weight", shape: (c) => [c.dModel] },
    { xft: "ln_f.b", hf: "transformer.ln_f.bias", shape: (c) => [c.dModel] },
    { xft: "lm_head", hf: "lm_head.weight", shape: (c) => [c.vocabSize, c.dModel], when: (c) => c.untiedHead === true },
  ],
};

const qWidth = (c: LlamaConfig) => c.heads * c.headDim;
const kvWidth = (c: LlamaConfig) => c.kvHeads * c.headDim;
const withQkvBias = (c: LlamaConfig) => c.qkvBias;
const withOutBias = (c: LlamaConfig) => c.outBias;
const withMlpBias = (c: LlamaConfig) => c.mlpBias;

/** Llama, Mistral and Qwen2 as their *ForCausalLM save them. nn.Linear weights are [out, in]: transposed. */
const LLAMA_TABLE: Table<LlamaConfig> = {
  before: [{ xft: "wte", hf: "model.embed_tokens.weight", shape: (c) => [c.vocabSize, c.dModel] }],
  block: [
    { xft: "blocks.{l}.ln1.g", hf: "model.layers.{l}.input_layernorm.weight", shape: (c) => [c.dModel] },
    { xft: "blocks.{l}.attn.wq", hf: "model.layers.{l}.self_attn.q_proj.weight", shape: (c) => [c.dModel, qWidth(c)], transpose: true },
    { xft: "blocks.{l}.attn.wk", hf: "model.layers.{l}.self_attn.k_proj.weight", shape: (c) => [c.dModel, kvWidth(c)], transpose: true },
    { xft: "blocks.{l}.attn.wv", hf: "model.layers.{l}.self_attn.v_proj.weight", shape: (c) => [c.dModel, kvWidth(c)], transpose: true },
    { xft: "blocks.{l}.attn.bq", hf: "model.layers.{l}.self_attn.q_proj.bias", shape: (c) => [qWidth(c)], when: withQkvBias },
    { xft: "blocks.{l}.attn.bk", hf: "model.layers.{l}.self_attn.k_proj.bias", shape: (c) => [kvWidth(c)], when: withQkvBias },
    { xft: "blocks.{l}.attn.bv", hf: "model.layers.{l}.self_attn.v_proj.bias", shape: (c) => [kvWidth(c)], when: withQkvBias },
    { xft: "blocks.{l}.attn.wo", hf: "model.layers.{l}.self_attn.o_proj.weight", shape: (c) => [qWidth(c), c.dModel], transpose: true },
    { xft: "blocks.{l}.attn.bo", hf: "model.layers.{l}.self_attn.o_proj.bias", shape: (c) => [c.dModel], when: withOutBias },
    { xft: "blocks.{l}.ln2.g", hf: "model.layers.{l}.post_attention_layernorm.weight", shape: (c) => [c.dModel] },
    { xft: "blocks.{l}.mlp.wgate", hf: "model.layers.{l}.mlp.gate_proj.weight", shape: (c) => [c.dModel, c.mlpDim], transpose: true },
    { xft: "blocks.{l}.mlp.wup", hf: "model.layers.{l}.mlp.up_proj.weight", shape: (c) => [c.dModel, c.mlpDim], transpose: true },
    { xft: "blocks.{l}.mlp.wdown", hf: "model.layers.{l}.mlp.down_proj.weight", shape: (c) => [c.mlpDim, c.dModel], transpose: true },
    { xft: "blocks.{l}.mlp.bgate", hf: "model.layers.{l}.mlp.gate_proj.bias", shape: (c) => [c.mlpDim], when: withMlpBias },
    { xft: "blocks.{l}.mlp.bup", hf: "model.layers.{l}.mlp.up_proj.bias", shape: (c) => [c.mlpDim], when: withMlpBias },
    { xft: "blocks.{l}.mlp.bdown", hf: "model.layers.{l}.mlp.down_proj.bias", shape: (c) => [c.dModel], when: withMlpBias },
  ],
  after: [
    { xft: "ln_f.g", hf: "model.norm.weight", shape: (c) => [c.dModel] },
    { xft: "lm_head", hf: "lm_head.weight", shape: (c) => [c.vocabSize, c.dModel], when: (c) => c.untiedHead },
  ],
};

/**
 * Tensors a checkpoint may hold that are not parameters: GPT-2's causal-mask buffers (older saves) and
 * Llama's rotary inverse frequencies (saves before transformers 4.31 or so).
 */
const GPT2_BUFFERS = /^transformer\.h\.\d+\.attn\.(bias|masked_bias)$/;
const LLAMA_BUFFERS = /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/;

/** Every parameter of the config, in xft's order (the family's parameter shapes'), with its checkpoint name. */
export function parameterNameMap(config: ModelConfig): ParameterName[] {
  return isLlama(config) ? expand(LLAMA_TABLE, config) : expand(GPT2_TABLE, config);
}

function expand<C extends ModelConfig>(table: Table<C>, c: C): ParameterName[] {
  const rows = (rules: Rule<C>[], layer?: number) =>
    rules
      .filter((r) => r.when?.(c) ?? true)
      .map((r): ParameterName => {
        const hf = layer === undefined ? r.hf : r.hf.replace("{l}", String(layer));
        return {
          xft: layer === undefined ? r.xft : r.xft.replace("{l}", String(layer)),
          hf,
          hfModule: hf.replace(/\.(weight|bias)$/, ""),
          shape: r.shape(c),
          transpose: r.transpose ?? false,
        };
      });
  return [...rows(table.before), ...Array.from({ length: c.layers }, (_, l) => rows(table.block, l)).flat(), ...rows(table.after)];
}

/** The checkpoint's layout of a parameter: [out, in] where it stores the transpose. */
function hfShape(p: ParameterName): number[] {
  return p.transpose ? [p.shape[1], p.shape[0]] : p.shape;
}

/**
 * xft's parameter values from a checkpoint's tensors (float32, any dtype already widened). Every parameter
 * must be there with its shape; tensors that are no parameter of this config are an error, except known
 * buffers and a head saved although tied (transformers ties it to the embedding on loading, as xft does).
 */
export function hfToXft(config: ModelConfig, hfTensors: TensorMap, source = "checkpoint"): Map<string, Float32Array> {
  const byName = canonicalNames(config, hfTensors);
  const params = parameterNameMap(config);
  checkAllPresent(params, byName, source);
  checkNoneUnexpected(config, params, byName, source);
  const values = new Map<string, Float32Array>();
  for (const p of params) {
    const { name, tensor } = byName.get(p.hf)!;
    const expected = hfShape(p);
    if (!sameShape(tensor.shape, expected)) {
      throw new Error(`${source}: tensor ${name} has shape [${tensor.shape}], expected [${expected}] for xft's ${p.xft}`);
    }
    if (!(tensor.data instanceof Float32Array)) throw new Error(`${source}: tensor ${name} is integer-typed; expected floating point`);
    values.set(p.xft, p.transpose ? transpose2d(tensor.data, expected[0], expected[1]) : tensor.data);
  }
  return values;
}

/**
 * The checkpoint's tensors by their canonical name (as the *ForCausalLM model saves them), each with the
 * name it has in the file. A GPT2Model save (no head) names its tensors without `transformer.`.
 */
function canonicalNames(config: ModelConfig, hfTensors: TensorMap): Map<string, { name: string; tensor: NamedArray }> {
  const out = new Map<string, { name: string; tensor: NamedArray }>();
  for (const [name, tensor] of hfTensors) {
    const bare = !isLlama(config) && !name.startsWith("transformer.") && !name.startsWith("lm_head.");
    out.set(bare ? `transformer.${name}` : name, { name, tensor });
  }
  return out;
}

function checkAllPresent(params: ParameterName[], byName: Map<string, unknown>, source: string): void {
  const missing = params.filter((p) => !byName.has(p.hf)).map((p) => p.hf);
  if (missing.length > 0) throw new Error(`${source}: missing tensors ${listed(missing)}`);
}

function checkNoneUnexpected(config: ModelConfig, params: ParameterName[], byName: Map<string, { name: string }>, source: string): void {
  const known = new Set(params.map((p) => p.hf));
  const buffers = isLlama(config) ? LLAMA_BUFFERS : GPT2_BUFFERS;
  const unexpected = [...byName.entries()]
    .filter(([canonical]) => !known.has(canonical) && !buffers.test(canonical) && !(canonical === "lm_head.weight" && !config.untiedHead))
    .map(([, { name }]) => name);
  if (unexpected.length > 0)
    throw new Error(`${source}: unexpected tensors ${listed(unexpected)} (not parameters of this ${modelLabel(config)} config)`);
}

function modelLabel(config: ModelConfig): string {
  return isLlama(config) ? config.modelType : "gpt2";
}

/** A list of names for an error message, cut short where it would run for pages. */
function listed(names: string[], most = 12): string {
  const shown = names.slice(0, most).join(", ");
  return names.length > most ? `${shown} and ${names.length - most} more` : shown;
}

/**
 * A checkpoint's tensors (canonical names, the checkpoint's layouts, float32) from xft's parameter values:
 * for writing a model.safetensors. A tied head is left out, as transformers' save_pretrained does.
 */
export function xftToHf(config: ModelConfig, values: Map<string, Float32Array>): TensorMap {
  const params = parameterNameMap(config);
  const known = new Set(params.map((p) => p.xft));
  const extra = [...values.keys()].filter((name) => !known.has(name));
  if (extra.length > 0) throw new Error(`xftToHf: values ${listed(extra)} are not parameters of this ${modelLabel(config)} config`);
  const out: TensorMap = new Map();
  for (const p of params) {
    const data = values.get(p.xft);
    if (!data) throw new Error(`xftToHf: no value for parameter ${p.xft}`);
    const size = p.shape.reduce((a, b) => a * b, 1);
    if (data.length !== size) throw new Error(`xftToHf: ${p.xft} has ${data.length} values, expected [${p.shape}]`);
    out.set(p.hf, { shape: hfShape(p), data: p.transpose ? transpose2d(data, p.shape[0], p.shape[1]) : data });
  }
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/** Side of the square tiles the transpose works in, so that reads and writes both stay in cache. */
const TILE = 64;

/** The transpose of a row-major [rows, cols] matrix, as a row-major [cols, rows] one. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(rows, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) out[c * rows + r] = data[r * cols + c];
      }
    }
  }
  return out;
}
