/**
 * A pretrained checkpoint, ready to run: `hf:DIR` (a save_pretrained folder) or `hf:org/name` (a model in the
 * local Hugging Face cache, never downloaded), read into xft's parameters with the checkpoint's own tokenizer.
 */
import { HfTokenizer } from "../text/hf-tokenizer";
import { modelKind, ModelConfig } from "./config";
import { loadHfWeights, readHfCheckpoint } from "./hf/checkpoint";
import { resolveHfModel } from "./hf/resolve";
import { countParameters, Params, paramsFromValues } from "./model";

export interface PretrainedModel {
  /** The checkpoint's folder. */
  dir: string;
  config: ModelConfig;
  params: Params;
  tokenizer: HfTokenizer;
}

/** Loads `hf:DIR` or `hf:org/name`; the caller disposes the parameters. */
export function loadPretrained(ref: string): PretrainedModel {
  const dir = resolveHfModel(ref);
  const checkpoint = readHfCheckpoint(dir);
  const tokenizer = HfTokenizer.load(dir);
  return { dir, config: checkpoint.config, params: paramsFromValues(checkpoint.config, loadHfWeights(checkpoint)), tokenizer };
}

/** One line a person reads: family, sizes, parameters. */
export function describeModel(config: ModelConfig): string {
  const heads = "kvHeads" in config && config.kvHeads !== config.heads ? `${config.heads} heads (${config.kvHeads} key/value)` : `${config.heads} heads`;
  const head = config.untiedHead ? "own head" : "tied head";
  return `${modelKind(config)}: ${config.layers} layers, d ${config.dModel}, ${heads}, ${config.maxLen} positions, ` +
    `vocabulary ${config.vocabSize}, ${head}, ${countParameters(config).toLocaleString("en-US")} parameters`;
}
