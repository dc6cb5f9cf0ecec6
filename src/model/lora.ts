/**
 * LoRA (Hu et al., 2021): a frozen weight matrix W [in, out] is adapted by a trainable low-rank update,
 *   y = x W + b + (alpha / rank) * dropout(x) A B,   A [in, rank], B [rank, out],
 * with A drawn at random and B zero, so that a fresh adapter leaves the model's outputs exactly as they were.
 * Only A and B are trained and saved; for inference the update is merged into W (`mergeAdapter`), and the
 * merged model is an ordinary model for the readout and the probes. `forward` (model.ts, ops/linear.ts) applies an
 * unmerged adapter during training.
 */
import * as fs from "fs";
import * as path from "path";
import { tf } from "../backend/engine";
import { Rng } from "../util/rng";
import { isLlama, modelKind, ModelConfig } from "./config";
import { LoraForward, parameterShapes, Params, variablesFromValues } from "./model";
import { paramsToTensorMap, valuesWithPrefix } from "./io";
import { writeFileAtomic } from "../util/atomic-write";
import { assertFiniteTensors, loadSafetensors, saveSafetensors } from "./safetensors";
import { readJsonFile } from "../util/read-file";

/**
 * What an adapter can target, per family: every linear layer of a block (as in QLoRA), by xft's matrix name or
 * by the checkpoint's own module name (PEFT's `target_modules`). GPT-2 calls both output projections `c_proj`.
 */
const GPT_TARGETS: Record<string, string[]> = {
  "attn.wqkv": ["attn.wqkv"],
  "attn.wo": ["attn.wo"],
  "mlp.w1": ["mlp.w1"],
  "mlp.w2": ["mlp.w2"],
  c_attn: ["attn.wqkv"],
  c_proj: ["attn.wo", "mlp.w2"],
  c_fc: ["mlp.w1"],
};
const LLAMA_TARGETS: Record<string, string[]> = {
  "attn.wq": ["attn.wq"],
  "attn.wk": ["attn.wk"],
  "attn.wv": ["attn.wv"],
  "attn.wo": ["attn.wo"],
  "mlp.wgate": ["mlp.wgate"],
  "mlp.wup": ["mlp.wup"],
  "mlp.wdown": ["mlp.wdown"],
  q_proj: ["attn.wq"],
  k_proj: ["attn.wk"],
  v_proj: ["attn.wv"],
  o_proj: ["attn.wo"],
  gate_proj: ["mlp.wgate"],
  up_proj: ["mlp.wup"],
  down_proj: ["mlp.wdown"],
};
const KNOWN_TARGETS = [...new Set([...Object.keys(GPT_TARGETS), ...Object.keys(LLAMA_TARGETS)])];

function targetsOf(model: ModelConfig): Record<string, string[]> {
  return isLlama(model) ? LLAMA_TARGETS : GPT_TARGETS;
}

/** xft's matrix names in a target table (module names have no dot). */
function matrixNames(table: Record<string, string[]>): string[] {
  return Object.keys(table).filter((name) => name.includes("."));
}

/** Every linear layer of a block, by xft's names: the default targets for a model of this family. */
export function allLinearTargets(model: ModelConfig): string[] {
  return matrixNames(targetsOf(model));
}

/** The block matrices (xft's names, in order, each once) that targets name in a model of this family. */
export function targetMatrices(model: ModelConfig, targets: readonly string[]): string[] {
  const table = targetsOf(model);
  const unknown = targets.filter((t) => !(t in table));
  if (unknown.length > 0) {
    throw new Error(`LoRA: target ${unknown.join(", ")} is not a matrix of a ${modelKind(model)} model; it has ${Object.keys(table).join(", ")}`);
  }
  return [...new Set(targets.flatMap((t) => table[t]))];
}

export interface LoraConfig {
  rank: number;
  /** The update is scaled by alpha / rank, so that changing the rank does not change the learning rate's effect. */
  alpha: number;
  /** Dropout on the adapter's input during training. */
  dropout: number;
  /** Matrices by xft's name (attn.wqkv) or the checkpoint's module name (q_proj, c_attn). */
  targets: string[];
}

/** QLoRA's choices where the paper says nothing: every linear layer, rank 8, alpha 16, dropout 0.05. */
export const DEFAULT_LORA: LoraConfig = { rank: 8, alpha: 16, dropout: 0.05, targets: matrixNames(GPT_TARGETS) };

export const ADAPTER_WEIGHTS_FILE = "adapter.safetensors";
export const ADAPTER_CONFIG_FILE = "adapter.json";

export function validateLoraConfig(c: LoraConfig): void {
  if (!Number.isInteger(c.rank) || c.rank <= 0) throw new Error(`LoRA: rank must be a positive integer, got ${c.rank}`);
  if (!(c.alpha > 0)) throw new Error(`LoRA: alpha must be positive, got ${c.alpha}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`LoRA: dropout must be in [0, 1), got ${c.dropout}`);
  if (c.targets.length === 0) throw new Error("LoRA: no target matrices");
  const unknown = c.targets.filter((t) => !KNOWN_TARGETS.includes(t));
  if (unknown.length > 0) throw new Error(`LoRA: unknown target ${unknown.join(", ")}; known: ${KNOWN_TARGETS.join(", ")}`);
}

/** `--lora-targets a,b`: target names, checked. */
export function parseLoraTargets(text: string): string[] {
  const targets = text.split(",").map((t) => t.trim());
  validateLoraConfig({ ...DEFAULT_LORA, targets });
  return targets;
}

export function loraScale(c: LoraConfig): number {
  return c.alpha / c.rank;
}

/** Adapter parameter shapes by name: `<matrix>.lora_a` [in, rank] and `<matrix>.lora_b` [rank, out]. */
export function adapterShapes(model: ModelConfig, c: LoraConfig): Array<[string, number[]]> {
  validateLoraConfig(c);
  const matrices = targetMatrices(model, c.targets);
  const shapeOf = new Map(parameterShapes(model));
  const shapes: Array<[string, number[]]> = [];
  for (let l = 0; l < model.layers; l++) {
    for (const m of matrices) {
      const [fanIn, fanOut] = shapeOf.get(`blocks.${l}.${m}`)!;
      shapes.push([`blocks.${l}.${m}.lora_a`, [fanIn, c.rank]], [`blocks.${l}.${m}.lora_b`, [c.rank, fanOut]]);
    }
  }
  return shapes;
}

/** A fresh adapter: A uniform in +-1/sqrt(in) (PEFT's Kaiming-uniform bound), B zero; seeded, drawn in JS. */
export function createAdapter(model: ModelConfig, c: LoraConfig, seed: number): Params {
  const rng = new Rng(seed);
  const values = new Map<string, Float32Array>();
  for (const [name, shape] of adapterShapes(model, c)) {
    const v = new Float32Array(shape[0] * shape[1]);
    if (name.endsWith(".lora_a")) {
      const bound = 1 / Math.sqrt(shape[0]);
      for (let i = 0; i < v.length; i++) v[i] = (2 * rng.next() - 1) * bound;
    }
    values.set(name, v);
  }
  return variablesFromValues(adapterShapes(model, c), values);
}

/** What `forward` needs to apply the adapter in training; dropout draws follow `dropoutSeed`. */
export function loraForward(adapter: Params, c: LoraConfig, dropoutSeed: number): LoraForward {
  return { adapter, scale: loraScale(c), dropout: c.dropout, dropoutSeed };
}

/** New parameters with W + (alpha / rank) A B in every target matrix; the inputs are left as they are. */
export function mergeAdapter(params: Params, adapter: Params, c: LoraConfig): Params {
  const merged: Params = {};
  for (const [name, p] of Object.entries(params)) {
    const a = adapter[name + ".lora_a"];
    merged[name] = tf.tidy(() => {
      const value = a ? p.add(tf.matMul(a, adapter[name + ".lora_b"]).mul(loraScale(c))) : p.clone();
      // Unnamed: tfjs gives each variable a unique name of its own.
      return tf.variable(value, false);
    });
  }
  return merged;
}

/** What an adapter was trained on top of: the base checkpoint, by folder and content hash. */
export interface AdapterFile {
  lora: LoraConfig;
  base: { dir: string; hash: string };
}

export async function saveAdapter(dir: string, adapter: Params, info: AdapterFile): Promise<void> {
  saveSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE), await paramsToTensorMap(adapter), { format: "xft-lora" });
  writeFileAtomic(path.join(dir, ADAPTER_CONFIG_FILE), JSON.stringify(info, null, 2) + "\n");
}

export function loadAdapter(dir: string, model: ModelConfig): { adapter: Params; info: AdapterFile } {
  const configFile = path.join(dir, ADAPTER_CONFIG_FILE);
  if (!fs.existsSync(configFile)) throw new Error(`${configFile}: no adapter here`);
  const info = readJsonFile<AdapterFile>(configFile);
  const weights = path.join(dir, ADAPTER_WEIGHTS_FILE);
  const { tensors } = loadSafetensors(weights);
  assertFiniteTensors(tensors, weights);
  return { adapter: variablesFromValues(adapterShapes(model, info.lora), valuesWithPrefix(tensors)), info };
}
