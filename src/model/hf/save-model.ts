/**
 * A model's weights as a transformers checkpoint: config.json (`hfConfigJson`) and model.safetensors (`xftToHf`,
 * float32). xft's own GPT is written as `gpt2`, the same architecture. Before writing, the config.json is read
 * back as transformers would read it (xft's reader keeps transformers' defaults) and every field that changes the
 * computation must come back as the model has it: what does not map exactly is an error, never an approximation.
 */
import * as fs from "fs";
import * as path from "path";
import { GptConfig, isLlama, LlamaConfig, ModelConfig, modelKind } from "../config";
import { LN_EPS } from "../ops/norms";
import { saveSafetensors } from "../safetensors";
import { HF_CONFIG_FILE, HF_WEIGHTS_FILE } from "./checkpoint";
import { hfConfigJson, hfModelConfig } from "./config";
import type { SpecialIds } from "./tokenizer-files";
import { xftToHf } from "./weights";

/** The fields of each family's config that change what the model computes. */
function computation(c: ModelConfig): Record<string, unknown> {
  if (isLlama(c)) {
    const { initStd: _initStd, ...rest } = c as LlamaConfig;
    return rest;
  }
  const g = c as GptConfig;
  return {
    vocabSize: g.vocabSize,
    maxLen: g.maxLen,
    layers: g.layers,
    dModel: g.dModel,
    heads: g.heads,
    mlpDim: g.mlpDim ?? g.mlpRatio * g.dModel,
    normEps: g.normEps ?? LN_EPS,
    untiedHead: g.untiedHead === true,
  };
}

/** config.json for the model, checked to mean to transformers what the model computes in xft. */
export function exactConfigJson(config: ModelConfig, ids: SpecialIds): Record<string, unknown> {
  if (!isLlama(config)) {
    const mlp = config.mlpDim ?? config.mlpRatio * config.dModel;
    if (!Number.isInteger(mlp))
      throw new Error(
        `export: the MLP width ${mlp} (mlpRatio ${config.mlpRatio} x d ${config.dModel}) is not a whole number; gpt2's n_inner must be`,
      );
    if (config.dModel % config.heads !== 0)
      throw new Error(`export: d ${config.dModel} is not a multiple of ${config.heads} heads, as gpt2 requires`);
  }
  const json: Record<string, unknown> = { ...hfConfigJson(config), ...ids };
  const reread = computation(hfModelConfig(json, "exported config.json"));
  const ours = computation(config);
  const differing = Object.keys(ours).filter((k) => JSON.stringify(ours[k]) !== JSON.stringify(reread[k]));
  if (differing.length > 0) {
    throw new Error(
      `export: a ${String(json.model_type)} config.json cannot say what this ${modelKind(config)} model computes ` +
        `(${differing.map((k) => `${k}: ${JSON.stringify(ours[k])} here, ${JSON.stringify(reread[k])} as transformers reads it`).join("; ")})`,
    );
  }
  return json;
}

/** config.json and model.safetensors of the model into `dir`. */
export function writeHfModel(dir: string, config: ModelConfig, values: Map<string, Float32Array>, ids: SpecialIds): void {
  const json = exactConfigJson(config, ids);
  const tensors = xftToHf(config, values);
  fs.writeFileSync(path.join(dir, HF_CONFIG_FILE), JSON.stringify(json, null, 2) + "\n");
  // transformers reads the "pt" format tag; the tensors are float32, as xft keeps them.
  saveSafetensors(path.join(dir, HF_WEIGHTS_FILE), tensors, { format: "pt" });
}
