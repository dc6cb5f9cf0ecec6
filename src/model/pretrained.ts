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

/** What a notebook shows of a checkpoint before using it: read from its config and tokenizer, no weights. */
export interface CheckpointCard {
  dir: string;
  config: ModelConfig;
  tokenizer: HfTokenizer;
}

export function checkpointCard(ref: string): CheckpointCard {
  const dir = resolveHfModel(ref);
  return { dir, config: readHfCheckpoint(dir).config, tokenizer: HfTokenizer.load(dir) };
}

/** A checkpoint card as one table row. */
export function cardRow(card: CheckpointCard): Record<string, string | number> {
  const c = card.config;
  const t = card.tokenizer;
  const token = (id: number | undefined) => (id === undefined ? "none" : `${JSON.stringify(t.decode([id]))} (${id})`);
  return {
    model: modelKind(c),
    layers: c.layers,
    d_model: c.dModel,
    heads: c.heads,
    kv_heads: "kvHeads" in c ? c.kvHeads : c.heads,
    positions: c.maxLen,
    vocabulary: c.vocabSize,
    head: c.untiedHead ? "own" : "tied",
    parameters: countParameters(c),
    tokenizer_vocabulary: t.vocabSize,
    bos: token(t.bosId),
    eos: token(t.eosId),
    chat_template: t.chatTemplate ? "yes" : "no",
    folder: card.dir,
  };
}

/** One line a person reads: family, sizes, parameters. */
export function describeModel(config: ModelConfig): string {
  const heads =
    "kvHeads" in config && config.kvHeads !== config.heads ? `${config.heads} heads (${config.kvHeads} key/value)` : `${config.heads} heads`;
  const head = config.untiedHead ? "own head" : "tied head";
  return (
    `${modelKind(config)}: ${config.layers} layers, d ${config.dModel}, ${heads}, ${config.maxLen} positions, ` +
    `vocabulary ${config.vocabSize}, ${head}, ${countParameters(config).toLocaleString("en-US")} parameters`
  );
}
