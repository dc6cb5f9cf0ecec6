import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { Tokenizer as RustTokenizer } from "tokenizers";
import { GptConfig, LlamaConfig, ModelConfig } from "../../src/model/config";
import { checkpointHash, loadHfWeights, readHfCheckpoint } from "../../src/model/hf/checkpoint";
import { hfConfigJson, hfModelConfig } from "../../src/model/hf/config";
import { hubCacheDir, resolveHfModel } from "../../src/model/hf/resolve";
import { hfToXft, parameterNameMap, transpose2d, xftToHf } from "../../src/model/hf/weights";
import { parameterShapes } from "../../src/model/model";
import { decodeSafetensors, encodeSafetensors, TensorMap } from "../../src/model/safetensors";
import { HfTokenizer } from "../../src/text/hf-tokenizer";
import { FIXTURES, FixtureName, fixtureDir, fixturesUnavailable } from "./hf-fixtures";

const ROOT = resolve(__dirname, "../..");

// ------------------------------------------------------------------------------------------------ helpers

const tmpRoot = fs.mkdtempSync(join(os.tmpdir(), "xft-hf-load-"));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let tmpCount = 0;

function tmpDir(): string {
  const dir = join(tmpRoot, String(tmpCount++));
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, JSON.stringify(value, null, 2));
}

/** Deterministic values in [-1, 1): a checkpoint whose every entry differs from its neighbours. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function xftValues(config: ModelConfig): Map<string, Float32Array> {
  return new Map(
    parameterNameMap(config).map((p, i) => [
      p.xft,
      values(
        p.shape.reduce((a, b) => a * b, 1),
        i + 1,
      ),
    ]),
  );
}

/** A safetensors file of raw bytes in any dtype (xft itself writes F32/I32 only). */
function rawSafetensors(entries: { name: string; dtype: string; shape: number[]; bytes: Uint8Array }[]): Buffer {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.bytes.length] };
    offset += e.bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const out = Buffer.alloc(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let at = 8 + json.length;
  for (const e of entries) {
    out.set(e.bytes, at);
    at += e.bytes.length;
  }
  return out;
}

function halves(bits: number[]): Uint8Array {
  return new Uint8Array(new Uint16Array(bits).buffer);
}

/** float32 to bfloat16 bits, rounding to nearest even (as PyTorch's .to(torch.bfloat16)). */
function toBf16Bits(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0];
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

function gpt2Json(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { model_type: "gpt2", vocab_size: 50, n_positions: 16, n_embd: 8, n_layer: 2, n_head: 2, n_inner: null, ...overrides };
}

function llamaJson(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model_type: "llama",
    vocab_size: 40,
    hidden_size: 8,
    intermediate_size: 12,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 32,
    rms_norm_eps: 1e-6,
    ...overrides,
  };
}

const SRC = "/ckpt/config.json";
const gpt2Config = (o: Record<string, unknown> = {}) => hfModelConfig(gpt2Json(o), SRC) as GptConfig;
const llamaConfig = (o: Record<string, unknown> = {}) => hfModelConfig(llamaJson(o), SRC) as LlamaConfig;

/** A checkpoint folder written the way save_pretrained lays it out; `shards` > 1 writes an index. */
function writeCheckpoint(configJson: Record<string, unknown>, tensors: TensorMap, shards = 1): string {
  const dir = tmpDir();
  writeJson(join(dir, "config.json"), configJson);
  if (shards === 1) {
    fs.writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(tensors));
    return dir;
  }
  const names = [...tensors.keys()];
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
    const part: TensorMap = new Map(names.filter((_, i) => i % shards === s).map((n) => [n, tensors.get(n)!]));
    for (const n of part.keys()) weightMap[n] = file;
    fs.writeFileSync(join(dir, file), encodeSafetensors(part));
  }
  writeJson(join(dir, "model.safetensors.index.json"), { metadata: { total_size: 0 }, weight_map: weightMap });
  return dir;
}

// ------------------------------------------------------------------------------------------------ config.json

describe("config.json -> ModelConfig", () => {
  test("gpt2: sizes, defaults, n_inner, tied and untied heads", () => {
    assert.deepEqual(gpt2Config(), {
      family: "gpt2",
      vocabSize: 50,
      maxLen: 16,
      layers: 2,
      dModel: 8,
      heads: 2,
      mlpRatio: 4,
      mlpDim: 32,
      initStd: 0.02,
      normEps: 1e-5,
      untiedHead: false,
    });
    assert.equal(gpt2Config({ n_inner: 24 }).mlpRatio, 3);
    assert.deepEqual([gpt2Config({ n_inner: 20 }).mlpRatio, gpt2Config({ n_inner: 20 }).mlpDim], [4, 20]);
    assert.equal(gpt2Config({ tie_word_embeddings: false }).untiedHead, true);
    assert.equal(gpt2Config({ activation_function: "gelu_pytorch_tanh", layer_norm_epsilon: 1e-6 }).normEps, 1e-6);
  });

  test("gpt2: unsupported options are errors naming the file and field", () => {
    assert.throws(() => gpt2Config({ activation_function: "relu" }), /\/ckpt\/config\.json: "activation_function" is "relu"/);
    assert.throws(() => gpt2Config({ scale_attn_by_inverse_layer_idx: true }), /\/ckpt\/config\.json: "scale_attn_by_inverse_layer_idx" is true/);
    assert.throws(() => gpt2Config({ scale_attn_weights: false }), /"scale_attn_weights" is false/);
    assert.throws(() => gpt2Config({ n_embd: undefined }), /\/ckpt\/config\.json: "n_embd" is missing/);
    assert.throws(() => gpt2Config({ n_head: 3 }), /"n_embd" \(8\) must be a multiple of n_head \(3\)/);
    assert.throws(() => gpt2Config({ n_layer: "2" }), /"n_layer" must be a positive integer, got "2"/);
  });

  test("unknown or missing model_type", () => {
    assert.throws(() => hfModelConfig({ model_type: "bert" }, SRC), {
      message: 'unsupported model_type "bert" in /ckpt/config.json: xft reads gpt2, llama, mistral, qwen2',
    });
    assert.throws(() => hfModelConfig({}, SRC), /\/ckpt\/config\.json: "model_type" is missing/);
    assert.throws(() => hfModelConfig([], SRC), /not a JSON object/);
  });

  test("llama: sizes and transformers' defaults", () => {
    assert.deepEqual(llamaConfig(), {
      family: "llama",
      modelType: "llama",
      vocabSize: 40,
      maxLen: 32,
      layers: 2,
      dModel: 8,
      heads: 4,
      kvHeads: 2,
      headDim: 2,
      mlpDim: 12,
      normEps: 1e-6,
      ropeTheta: 10000,
      ropeScale: 1,
      qkvBias: false,
      outBias: false,
      mlpBias: false,
      untiedHead: true,
      initStd: 0.02,
    });
    const c = llamaConfig({
      num_key_value_heads: null,
      head_dim: 4,
      attention_bias: true,
      mlp_bias: true,
      tie_word_embeddings: true,
      rms_norm_eps: 1e-5,
    });
    assert.deepEqual([c.kvHeads, c.headDim, c.qkvBias, c.outBias, c.mlpBias, c.untiedHead, c.normEps], [4, 4, true, true, true, false, 1e-5]);
    assert.equal(llamaConfig({ num_key_value_heads: undefined, max_position_embeddings: undefined }).kvHeads, 4);
    assert.equal(llamaConfig({ max_position_embeddings: undefined }).maxLen, 2048);
  });

  test("llama: errors name the file and field", () => {
    assert.throws(() => llamaConfig({ hidden_act: "gelu" }), /\/ckpt\/config\.json: "hidden_act" is "gelu"/);
    assert.equal(llamaConfig({ hidden_act: "swish" }).family, "llama");
    assert.throws(() => llamaConfig({ num_key_value_heads: 3 }), /"num_key_value_heads" \(3\) must divide num_attention_heads \(4\)/);
    assert.throws(() => llamaConfig({ head_dim: 3 }), /"head_dim" \(3\) must be even/);
    assert.throws(() => llamaConfig({ intermediate_size: undefined }), /"intermediate_size" is missing/);
  });

  test("qwen2: q/k/v biases always, no o bias; head tied only when the config says so", () => {
    const c = hfModelConfig(llamaJson({ model_type: "qwen2", attention_bias: false }), SRC) as LlamaConfig;
    assert.deepEqual([c.modelType, c.qkvBias, c.outBias, c.mlpBias, c.untiedHead], ["qwen2", true, false, false, true]);
    assert.equal((hfModelConfig(llamaJson({ model_type: "qwen2", tie_word_embeddings: true }), SRC) as LlamaConfig).untiedHead, false);
    // Absent num_key_value_heads takes Qwen2Config's class default (32), not num_attention_heads.
    assert.throws(() => hfModelConfig(llamaJson({ model_type: "qwen2", num_key_value_heads: undefined }), SRC), /"num_key_value_heads" \(32\)/);
  });

  test("sliding windows shorter than max_position_embeddings cap maxLen", () => {
    const mistral = (o: Record<string, unknown>) => (hfModelConfig(llamaJson({ model_type: "mistral", ...o }), SRC) as LlamaConfig).maxLen;
    assert.equal(mistral({ sliding_window: 16 }), 16);
    assert.equal(mistral({ sliding_window: 64 }), 32);
    assert.equal(mistral({ sliding_window: null }), 32);
    assert.equal(mistral({ max_position_embeddings: 8192 }), 4096); // MistralConfig's default window when the field is absent
    const qwen2 = (o: Record<string, unknown>) =>
      (hfModelConfig(llamaJson({ model_type: "qwen2", sliding_window: 16, ...o }), SRC) as LlamaConfig).maxLen;
    assert.equal(qwen2({}), 32); // use_sliding_window defaults to false
    assert.equal(qwen2({ use_sliding_window: true, max_window_layers: 1 }), 16);
    assert.equal(qwen2({ use_sliding_window: true, max_window_layers: 2 }), 32); // no layer at or past max_window_layers
    assert.equal(qwen2({ use_sliding_window: true, layer_types: ["full_attention", "sliding_attention"] }), 16);
  });

  test("RoPE: transformers 5's rope_parameters and 4.x's rope_theta/rope_scaling", () => {
    const rope = (o: Record<string, unknown>) => {
      const c = llamaConfig(o);
      return [c.ropeTheta, c.ropeScale];
    };
    assert.deepEqual(rope({ rope_parameters: { rope_type: "default", rope_theta: 500000 } }), [500000, 1]);
    // As transformers 5.18 writes a linear config (both type keys).
    assert.deepEqual(rope({ rope_parameters: { factor: 2.0, rope_theta: 10000.0, rope_type: "linear", type: "linear" } }), [10000, 2]);
    assert.deepEqual(rope({ rope_theta: 1e6, rope_scaling: null }), [1e6, 1]);
    assert.deepEqual(rope({ rope_theta: 1e6, rope_scaling: { type: "linear", factor: 4 } }), [1e6, 4]);
    assert.deepEqual(rope({ rope_theta: 1e6, rope_scaling: { rope_type: "linear", factor: 4 } }), [1e6, 4]);
    assert.deepEqual(rope({ rope_theta: 1e6, rope_parameters: { rope_type: "default" } }), [1e6, 1]);
    // rope_scaling wins over rope_parameters; the dict's theta over the top-level one (convert_rope_params_to_dict).
    assert.deepEqual(
      rope({ rope_theta: 7, rope_scaling: { type: "linear", factor: 3, rope_theta: 9 }, rope_parameters: { rope_type: "default" } }),
      [9, 3],
    );
    assert.deepEqual(rope({ rope_parameters: { full_attention: { rope_type: "linear", factor: 2, rope_theta: 5 } } }), [5, 2]);
  });

  test("RoPE: other types are errors naming them", () => {
    assert.throws(() => llamaConfig({ rope_parameters: { rope_type: "yarn", factor: 4, rope_theta: 1e4 } }), {
      message: '/ckpt/config.json: "rope_parameters.rope_type" is "yarn": xft implements RoPE types default and linear only',
    });
    assert.throws(() => llamaConfig({ rope_scaling: { type: "dynamic", factor: 2 } }), /"rope_scaling\.rope_type" is "dynamic"/);
    assert.throws(() => llamaConfig({ rope_scaling: { rope_type: "llama3", factor: 8 } }), /"llama3"/);
    assert.throws(() => llamaConfig({ rope_parameters: { rope_type: "linear" } }), /"rope_parameters\.factor" must be a positive number/);
    assert.throws(() => llamaConfig({ partial_rotary_factor: 0.5 }), /"partial_rotary_factor" is 0\.5/);
    assert.throws(
      () => llamaConfig({ rope_parameters: { full_attention: { rope_type: "default" }, sliding_attention: { rope_type: "linear", factor: 2 } } }),
      /per layer type/,
    );
  });

  test("hfConfigJson is read back as the same config", () => {
    const configs: ModelConfig[] = [
      gpt2Config(),
      gpt2Config({ n_inner: 20, tie_word_embeddings: false }),
      llamaConfig({ attention_bias: true, mlp_bias: true, rope_parameters: { rope_type: "linear", factor: 2, rope_theta: 5e5 } }),
      hfModelConfig(llamaJson({ model_type: "qwen2", tie_word_embeddings: true }), SRC),
      hfModelConfig(llamaJson({ model_type: "mistral", sliding_window: 16 }), SRC),
    ];
    for (const c of configs) assert.deepEqual(hfModelConfig(hfConfigJson(c), SRC), c);
    const xftGpt: GptConfig = { vocabSize: 50, maxLen: 16, layers: 1, dModel: 8, heads: 2, mlpRatio: 4, initStd: 0.02 };
    assert.deepEqual(hfModelConfig(hfConfigJson(xftGpt), SRC), { ...xftGpt, family: "gpt2", mlpDim: 32, normEps: 1e-5, untiedHead: false });
    assert.throws(() => hfConfigJson({ ...llamaConfig(), qkvBias: true }), /cannot express outBias = false/);
  });
});

// ------------------------------------------------------------------------------------------------ safetensors

describe("safetensors: BF16 and F16 widen to float32", () => {
  test("F16 bit patterns: normal, subnormal, zero, inf, NaN", () => {
    const bits = [0x3c00, 0xc100, 0x0001, 0x03ff, 0x8000, 0x7bff, 0x7c00, 0xfc00, 0x7e00];
    const { tensors } = decodeSafetensors(rawSafetensors([{ name: "h", dtype: "F16", shape: [bits.length], bytes: halves(bits) }]));
    const got = Array.from(tensors.get("h")!.data);
    assert.ok(tensors.get("h")!.data instanceof Float32Array);
    assert.deepEqual(got.slice(0, 8), [1, -2.5, 2 ** -24, 1023 * 2 ** -24, -0, 65504, Infinity, -Infinity]);
    assert.ok(Object.is(got[4], -0));
    assert.ok(Number.isNaN(got[8]));
  });

  test("BF16 bit patterns are the high half of a float32", () => {
    const bits = [0x3f80, 0xc020, 0x0001, 0x7f80, 0xff80, 0x7fc0, toBf16Bits(Math.PI)];
    const { tensors } = decodeSafetensors(rawSafetensors([{ name: "b", dtype: "BF16", shape: [bits.length], bytes: halves(bits) }]));
    const got = Array.from(tensors.get("b")!.data);
    assert.deepEqual(got.slice(0, 5), [1, -2.5, 2 ** -133, Infinity, -Infinity]);
    assert.ok(Number.isNaN(got[5]));
    assert.equal(got[6], 3.140625);
  });

  test("F32 and I32 read as before; an odd offset is fine; other dtypes are errors", () => {
    const f = new Float32Array([1.5, -2]);
    const i = new Int32Array([7, -8]);
    const buf = rawSafetensors([
      { name: "h", dtype: "F16", shape: [1], bytes: halves([0x3c00]) }, // leaves the next tensor 2-byte aligned only
      { name: "f", dtype: "F32", shape: [2], bytes: new Uint8Array(f.buffer) },
      { name: "i", dtype: "I32", shape: [1, 2], bytes: new Uint8Array(i.buffer) },
    ]);
    const { tensors } = decodeSafetensors(buf);
    assert.deepEqual(Array.from(tensors.get("f")!.data), [1.5, -2]);
    assert.ok(tensors.get("i")!.data instanceof Int32Array);
    assert.deepEqual(
      [Array.from(tensors.get("i")!.data), tensors.get("i")!.shape],
      [
        [7, -8],
        [1, 2],
      ],
    );
    assert.throws(
      () => decodeSafetensors(rawSafetensors([{ name: "d", dtype: "F64", shape: [1], bytes: new Uint8Array(8) }]), "x.safetensors"),
      /x\.safetensors: tensor d has unsupported dtype F64/,
    );
    assert.throws(
      () => decodeSafetensors(rawSafetensors([{ name: "h", dtype: "BF16", shape: [3], bytes: halves([1, 2]) }])),
      /does not match shape \[3\]/,
    );
  });
});

// ------------------------------------------------------------------------------------------------ names and layouts

describe("checkpoint names and layouts", () => {
  const families: [string, ModelConfig][] = [
    ["gpt2 tied", gpt2Config()],
    ["gpt2 untied, n_inner", gpt2Config({ tie_word_embeddings: false, n_inner: 20 })],
    ["llama, all biases", llamaConfig({ attention_bias: true, mlp_bias: true })],
    ["llama tied", llamaConfig({ tie_word_embeddings: true })],
    ["qwen2", hfModelConfig(llamaJson({ model_type: "qwen2", head_dim: 4 }), SRC)],
  ];

  test("every parameter of the family's shapes, in order, has one checkpoint name", () => {
    for (const [label, c] of families) {
      const map = parameterNameMap(c);
      assert.deepEqual(
        map.map((p) => [p.xft, p.shape]),
        parameterShapes(c),
        label,
      );
      assert.equal(new Set(map.map((p) => p.hf)).size, map.length, label);
    }
    const q = parameterNameMap(llamaConfig()).find((p) => p.xft === "blocks.1.attn.wq")!;
    assert.deepEqual(q, {
      xft: "blocks.1.attn.wq",
      hf: "model.layers.1.self_attn.q_proj.weight",
      hfModule: "model.layers.1.self_attn.q_proj",
      shape: [8, 8],
      transpose: true,
    });
    const qkv = parameterNameMap(gpt2Config()).find((p) => p.xft === "blocks.0.attn.wqkv")!;
    assert.deepEqual([qkv.hf, qkv.hfModule, qkv.transpose], ["transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn", false]);
  });

  test("hfToXft(xftToHf(values)) gives the values back", () => {
    for (const [label, c] of families) {
      const v = xftValues(c);
      const back = hfToXft(c, xftToHf(c, v));
      assert.deepEqual([...back.keys()], [...v.keys()], label);
      for (const [name, data] of v) assert.deepEqual(back.get(name), data, `${label}: ${name}`);
    }
  });

  test("Llama's nn.Linear [out, in] is transposed to [in, out]; GPT-2's Conv1D is not", () => {
    const c = llamaConfig();
    const hf = xftToHf(c, xftValues(c));
    // q_proj [out=8, in=8] with out row r, in column k = 100 r + k: wq[k][r] must be that value.
    const q = Float32Array.from({ length: 64 }, (_, i) => 100 * Math.floor(i / 8) + (i % 8));
    hf.set("model.layers.0.self_attn.q_proj.weight", { shape: [8, 8], data: q });
    // k_proj is [out = 2 heads x 2, in = 8]: not square, so a transposed read is also a shape check.
    const k = Float32Array.from({ length: 32 }, (_, i) => i);
    hf.set("model.layers.0.self_attn.k_proj.weight", { shape: [4, 8], data: k });
    const x = hfToXft(c, hf);
    const wq = x.get("blocks.0.attn.wq")!;
    assert.equal(wq[3 * 8 + 5], 503); // row in=3, column out=5 <- q_proj[5][3]
    assert.deepEqual(x.get("blocks.0.attn.wk"), transpose2d(k, 4, 8));
    assert.equal(x.get("blocks.0.attn.wk")![8 * 4 - 1], 31);

    const g = gpt2Config();
    const gh = xftToHf(g, xftValues(g));
    const cAttn = gh.get("transformer.h.0.attn.c_attn.weight")!;
    assert.deepEqual(cAttn.shape, [8, 24]);
    assert.equal(hfToXft(g, gh).get("blocks.0.attn.wqkv"), cAttn.data);
  });

  test("transpose2d on a matrix larger than a tile", () => {
    const rows = 70,
      cols = 131;
    const m = values(rows * cols, 5);
    const t = transpose2d(m, rows, cols);
    for (const [r, c] of [
      [0, 0],
      [69, 130],
      [3, 100],
      [65, 64],
    ])
      assert.equal(t[c * rows + r], m[r * cols + c]);
    assert.deepEqual(transpose2d(t, cols, rows), m);
  });

  test("missing, mis-shaped and unexpected tensors are errors naming them and the file", () => {
    const c = llamaConfig();
    const full = () => xftToHf(c, xftValues(c));
    const missing = full();
    missing.delete("model.layers.1.mlp.up_proj.weight");
    missing.delete("lm_head.weight");
    assert.throws(() => hfToXft(c, missing, "/ck"), { message: "/ck: missing tensors model.layers.1.mlp.up_proj.weight, lm_head.weight" });
    const misShaped = full();
    misShaped.set("model.norm.weight", { shape: [9], data: new Float32Array(9) });
    assert.throws(() => hfToXft(c, misShaped, "/ck"), /\/ck: tensor model\.norm\.weight has shape \[9\], expected \[8\] for xft's ln_f\.g/);
    const unexpected = full();
    unexpected.set("model.layers.0.self_attn.q_proj.bias", { shape: [8], data: new Float32Array(8) });
    unexpected.set("score.weight", { shape: [2, 8], data: new Float32Array(16) });
    assert.throws(() => hfToXft(c, unexpected, "/ck"), /\/ck: unexpected tensors model\.layers\.0\.self_attn\.q_proj\.bias, score\.weight/);
    const ints = full();
    ints.set("model.norm.weight", { shape: [8], data: new Int32Array(8) });
    assert.throws(() => hfToXft(c, ints, "/ck"), /model\.norm\.weight is integer-typed/);
  });

  test("known buffers and a tied head are ignored; GPT2Model names (no transformer.) are read", () => {
    const g = gpt2Config();
    const v = xftValues(g);
    const bare: TensorMap = new Map([...xftToHf(g, v)].map(([n, t]) => [n.replace(/^transformer\./, ""), t]));
    bare.set("h.0.attn.bias", { shape: [1, 1, 16, 16], data: new Float32Array(256) });
    bare.set("h.1.attn.masked_bias", { shape: [], data: new Float32Array(1) });
    bare.set("lm_head.weight", { shape: [50, 8], data: v.get("wte")! });
    assert.deepEqual(hfToXft(g, bare).get("blocks.1.mlp.w2"), v.get("blocks.1.mlp.w2"));

    const c = llamaConfig({ tie_word_embeddings: true });
    const hf = xftToHf(c, xftValues(c));
    assert.ok(!hf.has("lm_head.weight"), "a tied head is not exported");
    hf.set("lm_head.weight", { shape: [40, 8], data: new Float32Array(320) });
    hf.set("model.layers.0.self_attn.rotary_emb.inv_freq", { shape: [1], data: new Float32Array(1) });
    assert.equal(hfToXft(c, hf).size, parameterNameMap(c).length);
  });

  test("xftToHf rejects missing, extra and mis-sized values", () => {
    const c = gpt2Config();
    const v = xftValues(c);
    v.delete("ln_f.b");
    assert.throws(() => xftToHf(c, v), /no value for parameter ln_f\.b/);
    assert.throws(() => xftToHf(c, new Map([...xftValues(c), ["lora.a", new Float32Array(1)]])), /values lora\.a are not parameters/);
    assert.throws(() => xftToHf(c, new Map([...xftValues(c), ["wpe", new Float32Array(3)]])), /wpe has 3 values, expected \[16,8\]/);
  });
});

// ------------------------------------------------------------------------------------------------ checkpoint folders

describe("checkpoint folders", () => {
  const config = llamaJson({ attention_bias: true });
  const c = hfModelConfig(config, SRC);
  const v = xftValues(c);

  test("one model.safetensors: config and weights", () => {
    const dir = writeCheckpoint(config, xftToHf(c, v));
    const ck = readHfCheckpoint(dir);
    assert.deepEqual([ck.dir, ck.modelType, ck.config, ck.weightFiles], [dir, "llama", c, [join(dir, "model.safetensors")]]);
    assert.deepEqual(loadHfWeights(ck), v);
  });

  test("sharded: the index's shards in order, BF16 widened, the same values", () => {
    // Values that bf16 holds exactly, so that the sharded bf16 checkpoint reads back equal.
    const exact = new Map([...v].map(([n, d]) => [n, Float32Array.from(d, (x) => Math.round(x * 64) / 64)]));
    const hf = xftToHf(c, exact);
    const dir = writeCheckpoint(config, hf, 3);
    const ck = readHfCheckpoint(dir);
    assert.deepEqual(
      ck.weightFiles.map((f) => f.slice(dir.length + 1)),
      [1, 2, 3].map((s) => `model-0000${s}-of-00003.safetensors`),
    );
    assert.deepEqual(loadHfWeights(ck), exact);
    // The middle shard rewritten as BF16.
    const shard = ck.weightFiles[1];
    const entries = [...decodeSafetensors(fs.readFileSync(shard)).tensors].map(([name, t]) => ({
      name,
      dtype: "BF16",
      shape: t.shape,
      bytes: halves(Array.from(t.data, toBf16Bits)),
    }));
    fs.writeFileSync(shard, rawSafetensors(entries));
    assert.deepEqual(loadHfWeights(readHfCheckpoint(dir)), exact);
  });

  test("a missing shard, a duplicate tensor, a bad index are clear errors", () => {
    const dir = writeCheckpoint(config, xftToHf(c, v), 2);
    const second = join(dir, "model-00002-of-00002.safetensors");
    const bytes = fs.readFileSync(second);
    fs.rmSync(second);
    assert.throws(
      () => readHfCheckpoint(dir),
      /model\.safetensors\.index\.json: "weight_map" names shards that are not in the folder: model-00002-of-00002\.safetensors/,
    );
    fs.writeFileSync(second, bytes);
    fs.copyFileSync(join(dir, "model-00001-of-00002.safetensors"), second);
    assert.throws(
      () => loadHfWeights(readHfCheckpoint(dir)),
      /model-00002-of-00002\.safetensors: tensor \S+ is also in .*model-00001-of-00002\.safetensors/,
    );
    writeJson(join(dir, "model.safetensors.index.json"), { weight_map: { a: "../elsewhere.safetensors" } });
    assert.throws(() => readHfCheckpoint(dir), /not a file name in this folder/);
  });

  test("no config.json, PyTorch pickles only, no weights at all", () => {
    const empty = tmpDir();
    assert.throws(() => readHfCheckpoint(empty), /no config\.json here, so not a Hugging Face checkpoint folder/);
    writeJson(join(empty, "config.json"), config);
    assert.throws(() => readHfCheckpoint(empty), /no model\.safetensors or model\.safetensors\.index\.json here/);
    fs.writeFileSync(join(empty, "pytorch_model.bin"), "");
    assert.throws(() => readHfCheckpoint(empty), /pytorch_model\.bin \(PyTorch pickles\); xft reads safetensors only.*safe_serialization=True/);
  });

  test("the weights must match the config", () => {
    const dir = writeCheckpoint(llamaJson(), xftToHf(c, v)); // the weights have biases the config does not
    assert.throws(
      () => loadHfWeights(readHfCheckpoint(dir)),
      new RegExp(`${dir}: unexpected tensors model\\.layers\\.0\\.self_attn\\.q_proj\\.bias`),
    );
  });

  test("checkpointHash: sha256 of config.json then each weight file", () => {
    const dir = writeCheckpoint(config, xftToHf(c, v), 2);
    const ck = readHfCheckpoint(dir);
    const expected = createHash("sha256");
    for (const f of [join(dir, "config.json"), ...ck.weightFiles]) expected.update(fs.readFileSync(f));
    const before = checkpointHash(ck);
    assert.equal(before, expected.digest("hex"));
    const shard = fs.readFileSync(ck.weightFiles[1]);
    shard[shard.length - 1] ^= 1;
    fs.writeFileSync(ck.weightFiles[1], shard);
    assert.notEqual(checkpointHash(ck), before);
  });
});

// ------------------------------------------------------------------------------------------------ hf: references

describe("hf: references", () => {
  /** A fake cache with models--org--name: the given refs/main and snapshot folders, each with a config.json. */
  function cache(snapshots: string[], main?: string): { env: NodeJS.ProcessEnv; hub: string } {
    const home = tmpDir();
    const repo = join(home, "hub", "models--org--tiny");
    for (const s of snapshots) {
      fs.mkdirSync(join(repo, "snapshots", s), { recursive: true });
      writeJson(join(repo, "snapshots", s, "config.json"), {});
    }
    if (main !== undefined) {
      fs.mkdirSync(join(repo, "refs"), { recursive: true });
      fs.writeFileSync(join(repo, "refs", "main"), main + "\n");
    }
    return { env: { HF_HOME: home }, hub: join(home, "hub") };
  }

  test("hf:DIR is the folder", () => {
    const dir = tmpDir();
    assert.equal(resolveHfModel(`hf:${dir}`, {}), dir);
    assert.throws(() => resolveHfModel(dir, {}), /not a Hugging Face reference/);
    assert.throws(() => resolveHfModel(`hf:${dir}/nope/x/y`, {}), /no folder .*nope\/x\/y, and .* is not a Hub model name/);
  });

  test("hf:org/name: the revision refs/main names", () => {
    const { env, hub } = cache(["abc123", "def456"], "def456");
    assert.equal(resolveHfModel("hf:org/tiny", env), join(hub, "models--org--tiny", "snapshots", "def456"));
  });

  test("hf:org/name without refs/main: the only snapshot, or an error for several", () => {
    const one = cache(["abc123"]);
    assert.equal(resolveHfModel("hf:org/tiny", one.env), join(one.hub, "models--org--tiny", "snapshots", "abc123"));
    const two = cache(["abc123", "def456"]);
    assert.throws(() => resolveHfModel("hf:org/tiny", two.env), /2 snapshots and no refs\/main/);
  });

  test("a model not in the cache: where it looked and how to get it", () => {
    const { env, hub } = cache([]);
    assert.throws(
      () => resolveHfModel("hf:org/other", env),
      (err: Error) => {
        assert.match(err.message, /^hf:org\/other: org\/other is not in the local Hugging Face cache/);
        assert.ok(err.message.includes(join(hub, "models--org--other")), err.message);
        assert.match(err.message, /huggingface-cli download org\/other/);
        return true;
      },
    );
    const stale = cache([], "abc123"); // refs/main names a snapshot that is not there
    assert.throws(() => resolveHfModel("hf:org/tiny", stale.env), /snapshots\/abc123/);
  });

  test("the cache folder follows huggingface_hub: HF_HUB_CACHE, HF_HOME/hub, XDG_CACHE_HOME, ~/.cache", () => {
    assert.equal(hubCacheDir({ HF_HUB_CACHE: "/a", HF_HOME: "/b" }), "/a");
    assert.equal(hubCacheDir({ HF_HOME: "/b", XDG_CACHE_HOME: "/c" }), "/b/hub");
    assert.equal(hubCacheDir({ XDG_CACHE_HOME: "/c" }), "/c/huggingface/hub");
    assert.equal(hubCacheDir({}), join(os.homedir(), ".cache", "huggingface", "hub"));
  });
});

// ------------------------------------------------------------------------------------------------ tokenizer

describe("a checkpoint's tokenizer", () => {
  const TEXTS = [
    "Two women are embracing while holding to go packages.",
    "naïve café, Ærøskøbing, 東京タワー, Москва, مرحبا",
    "emoji 🎉👩‍👩‍👧 and flags 🇫🇷 and a skin tone 👍🏽",
    "  leading and trailing spaces  ",
    "tabs\tand\nnewlines\r\nand\u00a0no-break\u2009thin\u200bzero-width",
    "added tokens in text: <|eos|> a<|bos|>b <|pad|>",
    "I'm you're 12345 3.14159",
  ];

  /** The project's tokenizer.json as a checkpoint's, with a post-processor that prepends <|bos|>. */
  function tokenizerDir(config: Record<string, unknown>, withBos: boolean): string {
    const dir = tmpDir();
    const json = JSON.parse(fs.readFileSync(join(ROOT, "data", "tokenizer.json"), "utf8"));
    if (withBos) {
      const bos = json.added_tokens.find((t: { content: string }) => t.content === "<|bos|>").id;
      json.post_processor = {
        type: "TemplateProcessing",
        single: [{ SpecialToken: { id: "<|bos|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
        pair: [{ SpecialToken: { id: "<|bos|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }],
        special_tokens: { "<|bos|>": { id: "<|bos|>", ids: [bos], tokens: ["<|bos|>"] } },
      };
    }
    fs.writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(json));
    writeJson(join(dir, "tokenizer_config.json"), config);
    return dir;
  }

  test("special tokens (strings or AddedToken objects), vocab size, hash, chat template list", () => {
    const dir = tokenizerDir(
      {
        bos_token: { __type: "AddedToken", content: "<|bos|>", lstrip: false },
        eos_token: "<|eos|>",
        pad_token: null,
        chat_template: [
          { name: "tool_use", template: "T" },
          { name: "default", template: "D" },
        ],
      },
      true,
    );
    const tok = HfTokenizer.load(dir);
    assert.equal(HfTokenizer.load(dir), tok, "one instance per folder");
    assert.deepEqual([tok.bosId, tok.eosId, tok.padId, tok.unkId, tok.vocabSize], [4067, 4068, undefined, undefined, 4096]);
    assert.equal(
      tok.hash,
      createHash("sha256")
        .update(fs.readFileSync(join(dir, "tokenizer.json"), "utf8"))
        .digest("hex"),
    );
    assert.equal(tok.chatTemplate, "D");
    assert.deepEqual(tok.addedAround, { before: [4067], after: [] });
    assert.equal(tok.tokenId("<|eos|>"), 4068);
  });

  test("chat_template.jinja wins over tokenizer_config; special_tokens_map.json fills in", () => {
    const dir = tokenizerDir({ chat_template: "from config", eos_token: "<|eos|>" }, false);
    fs.writeFileSync(join(dir, "chat_template.jinja"), "from jinja");
    writeJson(join(dir, "special_tokens_map.json"), { pad_token: { content: "<|pad|>" }, eos_token: "<|bos|>" });
    const tok = HfTokenizer.load(dir);
    assert.deepEqual([tok.chatTemplate, tok.eosId, tok.padId, tok.bosId], ["from jinja", 4068, 4066, undefined]);
    assert.deepEqual(tok.addedAround, { before: [], after: [] });
  });

  test("errors: no tokenizer.json, a special token the tokenizer lacks", () => {
    assert.throws(() => HfTokenizer.load(tmpDir()), /no tokenizer\.json here/);
    const dir = tokenizerDir({ unk_token: "<unk>" }, false);
    assert.throws(() => HfTokenizer.load(dir), /tokenizer_config\.json: "unk_token" is "<unk>", which is not in the tokenizer's vocabulary/);
  });

  test("same ids and text as the Rust tokenizers library, with and without special tokens", async () => {
    for (const withBos of [false, true]) {
      const dir = tokenizerDir({}, withBos);
      const tok = HfTokenizer.load(dir);
      const rust = RustTokenizer.fromFile(join(dir, "tokenizer.json"));
      for (const text of TEXTS) {
        for (const addSpecialTokens of [false, true]) {
          const expected = (await rust.encode(text, null, { addSpecialTokens })).getIds();
          assert.deepEqual(tok.encode(text, { addSpecialTokens }), expected, `${JSON.stringify(text)} add=${addSpecialTokens}`);
          for (const skipSpecialTokens of [false, true]) {
            assert.equal(tok.decode(expected, { skipSpecialTokens }), await rust.decode(expected, skipSpecialTokens), JSON.stringify(text));
          }
        }
      }
      assert.equal(tok.decode([]), "");
      assert.throws(() => tok.decode([4096]), RangeError);
    }
  });
});

// ------------------------------------------------------------------------------------------------ Python fixtures

interface Reference {
  texts: { text: string; ids: number[]; ids_plain: number[] }[];
  bos_id: number | null;
  eos_id: number | null;
  pad_id: number | null;
}

/** A test of the named fixtures, skipped with the reason where the set-up could not build them (hf-fixtures.ts). */
function fixtureTest(title: string, names: readonly FixtureName[], fn: (...dirs: string[]) => void): void {
  test(`fixture ${title}`, { skip: fixturesUnavailable() }, () => fn(...names.map(fixtureDir)));
}

function reference(dir: string): Reference {
  return JSON.parse(fs.readFileSync(join(dir, "reference.json"), "utf8")) as Reference;
}

describe("Python reference fixtures", () => {
  for (const name of FIXTURES) {
    fixtureTest(`${name}: tokenizer ids equal Python's`, [name], (dir) => {
      const ref = reference(dir);
      const tok = HfTokenizer.load(dir);
      assert.ok(ref.texts.length > 0);
      for (const { text, ids, ids_plain } of ref.texts) {
        assert.deepEqual(tok.encode(text, { addSpecialTokens: true }), ids, JSON.stringify(text));
        assert.deepEqual(tok.encode(text, { addSpecialTokens: false }), ids_plain, JSON.stringify(text));
        assert.equal(tok.decode(ids_plain), text, JSON.stringify(text));
      }
      assert.deepEqual([tok.bosId, tok.eosId, tok.padId], [ref.bos_id ?? undefined, ref.eos_id ?? undefined, ref.pad_id ?? undefined]);
    });

    fixtureTest(`${name}: checkpoint reads into xft's parameters`, [name], (dir) => {
      const ck = readHfCheckpoint(dir);
      const values = loadHfWeights(ck);
      assert.deepEqual(
        [...values.keys()],
        parameterShapes(ck.config).map(([n]) => n),
      );
      assert.equal(ck.config.vocabSize, HfTokenizer.load(dir).vocabSize);
      assert.match(checkpointHash(ck), /^[0-9a-f]{64}$/);
    });
  }

  fixtureTest("configs say what the fixture script made", FIXTURES, () => {
    const config = (name: FixtureName) => readHfCheckpoint(fixtureDir(name)).config;
    const pick = (c: ModelConfig, keys: string[]) => Object.fromEntries(keys.map((k) => [k, (c as unknown as Record<string, unknown>)[k]]));
    assert.deepEqual(pick(config("gpt2"), ["family", "untiedHead", "mlpDim"]), { family: "gpt2", untiedHead: false, mlpDim: 128 });
    const keys = ["modelType", "kvHeads", "ropeTheta", "ropeScale", "qkvBias", "outBias", "mlpBias", "untiedHead"];
    assert.deepEqual(pick(config("llama-gqa"), keys), {
      modelType: "llama",
      kvHeads: 2,
      ropeTheta: 1e4,
      ropeScale: 1,
      qkvBias: false,
      outBias: false,
      mlpBias: false,
      untiedHead: true,
    });
    assert.deepEqual(pick(config("llama-linear-rope"), keys), {
      modelType: "llama",
      kvHeads: 4,
      ropeTheta: 1e4,
      ropeScale: 2,
      qkvBias: true,
      outBias: true,
      mlpBias: true,
      untiedHead: false,
    });
    assert.deepEqual(pick(config("qwen2"), keys), {
      modelType: "qwen2",
      kvHeads: 2,
      ropeTheta: 1e6,
      ropeScale: 1,
      qkvBias: true,
      outBias: false,
      mlpBias: false,
      untiedHead: false,
    });
    assert.deepEqual(pick(config("mistral"), keys), {
      modelType: "mistral",
      kvHeads: 1,
      ropeTheta: 1e4,
      ropeScale: 1,
      qkvBias: false,
      outBias: false,
      mlpBias: false,
      untiedHead: true,
    });
    assert.ok(readHfCheckpoint(fixtureDir("llama-bf16-sharded")).weightFiles.length > 1, "the bf16 fixture is sharded");
  });

  fixtureTest("bf16 and fp16 fixtures hold their float32 models' weights, rounded", ["llama-gqa", "llama-bf16-sharded", "gpt2", "gpt2-fp16"], () => {
    const weights = (name: FixtureName) => loadHfWeights(readHfCheckpoint(fixtureDir(name)));
    const llama = weights("llama-gqa");
    for (const [name, bf16] of weights("llama-bf16-sharded")) {
      const exact = llama.get(name)!;
      bf16.forEach((x, i) => assert.equal(x, new Float32Array(new Uint32Array([toBf16Bits(exact[i]) << 16]).buffer)[0], `${name}[${i}]`));
    }
    const gpt2 = weights("gpt2");
    for (const [name, f16] of weights("gpt2-fp16")) {
      // Half precision keeps 11 significant bits: rounding is within 2^-11 relative (2^-25 absolute near zero).
      const exact = gpt2.get(name)!;
      f16.forEach((x, i) => assert.ok(Math.abs(x - exact[i]) <= Math.abs(exact[i]) * 2 ** -11 + 2 ** -25, `${name}[${i}]: ${x} vs ${exact[i]}`));
    }
  });
});
