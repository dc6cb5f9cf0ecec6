/**
 * LoRA (Hu et al., 2021): a frozen weight matrix W [in, out] is adapted by a trainable low-rank update,
 *   y = x W + b + (alpha / rank) * dropout(x) A B,   A [in, rank], B [rank, out],
 * with A drawn at random and B zero, so that a fresh adapter leaves the model's outputs exactly as they were.
 * Only A and B are trained and saved; for inference the update is merged into W (`mergeAdapter`), and the
 * merged model is an ordinary model for the readout and the probes. `forward` (gpt.ts) applies an unmerged
 * adapter during training.
 */
import * as fs from "fs";
import * as path from "path";
import { tf } from "../backend/engine";
import { Rng } from "../util/rng";
import { GptConfig, LoraForward, Params, variablesFromValues } from "./model";
import { paramsToTensorMap, valuesWithPrefix } from "./io";
import { loadSafetensors, saveSafetensors, writeFileAtomic } from "./safetensors";

/** The block matrices an adapter can target (every linear layer of a block, as in QLoRA). */
export const LORA_TARGETS = ["attn.wqkv", "attn.wo", "mlp.w1", "mlp.w2"] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export interface LoraConfig {
  rank: number;
  /** The update is scaled by alpha / rank, so that changing the rank does not change the learning rate's effect. */
  alpha: number;
  /** Dropout on the adapter's input during training. */
  dropout: number;
  targets: LoraTarget[];
}

/** QLoRA's choices where the paper says nothing: every linear layer, rank 8, alpha 16, dropout 0.05. */
export const DEFAULT_LORA: LoraConfig = { rank: 8, alpha: 16, dropout: 0.05, targets: [...LORA_TARGETS] };

export const ADAPTER_WEIGHTS_FILE = "adapter.safetensors";
export const ADAPTER_CONFIG_FILE = "adapter.json";

export function validateLoraConfig(c: LoraConfig): void {
  if (!Number.isInteger(c.rank) || c.rank <= 0) throw new Error(`LoRA: rank must be a positive integer, got ${c.rank}`);
  if (!(c.alpha > 0)) throw new Error(`LoRA: alpha must be positive, got ${c.alpha}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`LoRA: dropout must be in [0, 1), got ${c.dropout}`);
  if (c.targets.length === 0) throw new Error("LoRA: no target matrices");
  const unknown = c.targets.filter((t) => !(LORA_TARGETS as readonly string[]).includes(t));
  if (unknown.length > 0) throw new Error(`LoRA: unknown target ${unknown.join(", ")}; known: ${LORA_TARGETS.join(", ")}`);
}

/** `--lora-targets a,b`: target names, checked. */
export function parseLoraTargets(text: string): LoraTarget[] {
  const targets = text.split(",").map((t) => t.trim()) as LoraTarget[];
  validateLoraConfig({ ...DEFAULT_LORA, targets });
  return targets;
}

export function loraScale(c: LoraConfig): number {
  return c.alpha / c.rank;
}

/** Adapter parameter shapes by name: `<matrix>.lora_a` [in, rank] and `<matrix>.lora_b` [rank, out]. */
export function adapterShapes(model: GptConfig, c: LoraConfig): Array<[string, number[]]> {
  validateLoraConfig(c);
  const d = model.dModel;
  const h = model.mlpRatio * d;
  const dims: Record<LoraTarget, [number, number]> = { "attn.wqkv": [d, 3 * d], "attn.wo": [d, d], "mlp.w1": [d, h], "mlp.w2": [h, d] };
  const shapes: Array<[string, number[]]> = [];
  for (let l = 0; l < model.layers; l++) {
    for (const t of c.targets) {
      const [fanIn, fanOut] = dims[t];
      shapes.push([`blocks.${l}.${t}.lora_a`, [fanIn, c.rank]], [`blocks.${l}.${t}.lora_b`, [c.rank, fanOut]]);
    }
  }
  return shapes;
}

/** A fresh adapter: A uniform in +-1/sqrt(in) (PEFT's Kaiming-uniform bound), B zero; seeded, drawn in JS. */
export function createAdapter(model: GptConfig, c: LoraConfig, seed: number): Params {
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
export interface AdapterFile { lora: LoraConfig; base: { dir: string; hash: string } }

export async function saveAdapter(dir: string, adapter: Params, info: AdapterFile): Promise<void> {
  saveSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE), await paramsToTensorMap(adapter), { format: "xft-lora" });
  writeFileAtomic(path.join(dir, ADAPTER_CONFIG_FILE), JSON.stringify(info, null, 2) + "\n");
}

export function loadAdapter(dir: string, model: GptConfig): { adapter: Params; info: AdapterFile } {
  const configFile = path.join(dir, ADAPTER_CONFIG_FILE);
  if (!fs.existsSync(configFile)) throw new Error(`${configFile}: no adapter here`);
  const info = JSON.parse(fs.readFileSync(configFile, "utf8")) as AdapterFile;
  const { tensors } = loadSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE));
  return { adapter: variablesFromValues(adapterShapes(model, info.lora), valuesWithPrefix(tensors)), info };
}
