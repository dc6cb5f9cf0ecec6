/** Saving and loading a model: weights as safetensors, the config as JSON beside them. */
import * as fs from "fs";
import * as path from "path";
import { GptConfig, Params, paramsFromValues, paramsToValues, validateConfig } from "./gpt";
import { loadSafetensors, saveSafetensors, TensorMap, writeFileAtomic } from "./safetensors";

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

export async function saveModel(dir: string, params: Params, config: GptConfig): Promise<void> {
  saveSafetensors(path.join(dir, WEIGHTS_FILE), await paramsToTensorMap(params), { format: "xft-gpt" });
  writeFileAtomic(path.join(dir, CONFIG_FILE), JSON.stringify(config, null, 2) + "\n");
}

export function loadModel(dir: string): { params: Params; config: GptConfig } {
  const configFile = path.join(dir, CONFIG_FILE);
  if (!fs.existsSync(configFile)) throw new Error(`${configFile}: no model config here`);
  const config = JSON.parse(fs.readFileSync(configFile, "utf8")) as GptConfig;
  validateConfig(config);
  const { tensors } = loadSafetensors(path.join(dir, WEIGHTS_FILE));
  return { params: paramsFromValues(config, valuesWithPrefix(tensors)), config };
}
