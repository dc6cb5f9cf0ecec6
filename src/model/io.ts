/** Saving and loading a model: weights as safetensors, the config as JSON beside them. */
import * as fs from "fs";
import * as path from "path";
import { ModelConfig, Params, paramsFromValues, paramsToValues, validateConfig } from "./model";
import * as zlib from "zlib";
import { writeFileAtomic } from "../util/atomic-write";
import { assertFiniteTensors, encodeSafetensors, loadSafetensors, TensorMap } from "./safetensors";
import { readJsonFile } from "../util/read-file";

export const WEIGHTS_FILE = "model.safetensors";
export const CONFIG_FILE = "config.json";

export async function paramsToTensorMap(params: Params, prefix = ""): Promise<TensorMap> {
  const out: TensorMap = new Map();
  for (const [name, data] of await paramsToValues(params)) out.set(prefix + name, { shape: params[name].shape, data });
  return out;
}

/** Values of the tensors whose names start with `prefix`, with the prefix removed. */
export function valuesWithPrefix(tensors: TensorMap, prefix = ""): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, t] of tensors) {
    if (name.startsWith(prefix)) out.set(name.slice(prefix.length), t.data as Float32Array);
  }
  return out;
}

export interface SaveOptions {
  /** Write model.safetensors.gz (for checkpoints shipped in git) instead of model.safetensors. */
  compress?: boolean;
}

export async function saveModel(dir: string, params: Params, config: ModelConfig, opts: SaveOptions = {}): Promise<void> {
  const bytes = encodeSafetensors(await paramsToTensorMap(params), { format: "xft-gpt" });
  // level 9 and no timestamp in the gzip header: the same weights give the same file.
  writeFileAtomic(path.join(dir, WEIGHTS_FILE + (opts.compress ? ".gz" : "")), opts.compress ? zlib.gzipSync(bytes, { level: 9 }) : bytes);
  writeFileAtomic(path.join(dir, CONFIG_FILE), JSON.stringify(config, null, 2) + "\n");
}

/** The model's weights file in `dir`: model.safetensors, or model.safetensors.gz. */
export function weightsFile(dir: string): string {
  const plain = path.join(dir, WEIGHTS_FILE);
  if (fs.existsSync(plain)) return plain;
  if (fs.existsSync(plain + ".gz")) return plain + ".gz";
  throw new Error(`${dir}: no ${WEIGHTS_FILE} (or .gz) here`);
}

export function loadModel(dir: string): { params: Params; config: ModelConfig } {
  const configFile = path.join(dir, CONFIG_FILE);
  if (!fs.existsSync(configFile)) throw new Error(`${configFile}: no model config here`);
  const config = readJsonFile<ModelConfig>(configFile);
  validateConfig(config);
  const file = weightsFile(dir);
  const { tensors } = loadSafetensors(file);
  assertFiniteTensors(tensors, file);
  return { params: paramsFromValues(config, valuesWithPrefix(tensors)), config };
}
