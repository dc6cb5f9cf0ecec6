/**
 * A Hugging Face checkpoint folder (save_pretrained's output): config.json, and the weights as one
 * model.safetensors or as shards listed by model.safetensors.index.json. Reading the folder is cheap (no
 * weights); loading the weights widens bf16/f16 to float32 and maps the names onto xft's.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { ModelConfig } from "../config";
import { assertFiniteTensors, loadSafetensors, TensorMap } from "../safetensors";
import { HfModelType, hfModelConfig } from "./config";
import { hfToXft } from "./weights";
import { readJsonFile } from "../../util/read-file";

export const HF_CONFIG_FILE = "config.json";
export const HF_WEIGHTS_FILE = "model.safetensors";
export const HF_WEIGHTS_INDEX = "model.safetensors.index.json";

export interface HfCheckpoint {
  /** The folder, absolute. */
  dir: string;
  config: ModelConfig;
  modelType: HfModelType;
  /** The weight files, absolute, in order (shards by name: model-00001-of-0000n first). */
  weightFiles: string[];
}

/** The checkpoint's config and weight files; reads config.json and the shard index, no weights. */
export function readHfCheckpoint(dir: string): HfCheckpoint {
  const abs = path.resolve(dir);
  const configFile = path.join(abs, HF_CONFIG_FILE);
  if (!fs.existsSync(configFile)) throw new Error(`${abs}: no ${HF_CONFIG_FILE} here, so not a Hugging Face checkpoint folder`);
  const json = readJsonFile<unknown>(configFile);
  const config = hfModelConfig(json, configFile);
  return { dir: abs, config, modelType: (json as { model_type: HfModelType }).model_type, weightFiles: weightFiles(abs) };
}

function weightFiles(dir: string): string[] {
  const single = path.join(dir, HF_WEIGHTS_FILE);
  if (fs.existsSync(single)) return [single];
  const index = path.join(dir, HF_WEIGHTS_INDEX);
  if (fs.existsSync(index)) return shardFiles(index);
  throw noSafetensorsError(dir);
}

/** The shards a model.safetensors.index.json's weight_map names, each once, in name order; all must exist. */
function shardFiles(indexFile: string): string[] {
  const weightMap = (readJsonFile<unknown>(indexFile) as { weight_map?: unknown }).weight_map;
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap))
    throw new Error(`${indexFile}: "weight_map" is missing or not an object`);
  const names = Object.values(weightMap);
  if (names.length === 0) throw new Error(`${indexFile}: "weight_map" is empty`);
  const bad = names.find((n) => typeof n !== "string" || n === "" || n !== path.basename(n));
  if (bad !== undefined) throw new Error(`${indexFile}: "weight_map" names ${JSON.stringify(bad)}, not a file name in this folder`);
  const shards = [...new Set(names as string[])].sort().map((n) => path.join(path.dirname(indexFile), n));
  const missing = shards.filter((f) => !fs.existsSync(f));
  if (missing.length > 0)
    throw new Error(`${indexFile}: "weight_map" names shards that are not in the folder: ${missing.map((f) => path.basename(f)).join(", ")}`);
  return shards;
}

function noSafetensorsError(dir: string): Error {
  const pickles = fs.readdirSync(dir).filter((f) => /^pytorch_model.*\.bin(\.index\.json)?$/.test(f));
  if (pickles.length > 0) {
    return new Error(
      `${dir}: the weights are ${pickles.join(", ")} (PyTorch pickles); xft reads safetensors only. Convert them where ` +
        `transformers is installed: AutoModelForCausalLM.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)`,
    );
  }
  return new Error(`${dir}: no ${HF_WEIGHTS_FILE} or ${HF_WEIGHTS_INDEX} here`);
}

/** Every weight file's tensors (float32 or int32; bf16/f16 widened), in one map; a name in two shards is an error. */
export function readWeightTensors(checkpoint: HfCheckpoint): TensorMap {
  const all: TensorMap = new Map();
  const fileOf = new Map<string, string>();
  for (const file of checkpoint.weightFiles) {
    const { tensors } = loadSafetensors(file);
    assertFiniteTensors(tensors, file);
    for (const [name, tensor] of tensors) {
      if (all.has(name)) throw new Error(`${file}: tensor ${name} is also in ${fileOf.get(name)}`);
      all.set(name, tensor);
      fileOf.set(name, file);
    }
  }
  return all;
}

/** xft's parameter values (float32, xft's names and [in, out] layouts) from the checkpoint's weights. */
export function loadHfWeights(checkpoint: HfCheckpoint): Map<string, Float32Array> {
  return hfToXft(checkpoint.config, readWeightTensors(checkpoint), checkpoint.dir);
}

/** Bytes read at a time when hashing, so that a large checkpoint is never all in memory for it. */
const HASH_CHUNK = 16 << 20;

/** sha256 over config.json's bytes, then each weight file's bytes in order: identifies the checkpoint in run records. */
export function checkpointHash(checkpoint: HfCheckpoint): string {
  const hash = createHash("sha256");
  const buffer = Buffer.alloc(HASH_CHUNK);
  for (const file of [path.join(checkpoint.dir, HF_CONFIG_FILE), ...checkpoint.weightFiles]) {
    const fd = fs.openSync(file, "r");
    try {
      for (let n = fs.readSync(fd, buffer, 0, HASH_CHUNK, null); n > 0; n = fs.readSync(fd, buffer, 0, HASH_CHUNK, null)) {
        hash.update(buffer.subarray(0, n));
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  return hash.digest("hex");
}
