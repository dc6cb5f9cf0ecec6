/**
 * Runs that start from a Hugging Face checkpoint (`--init hf:DIR` or `hf:org/name`): the checkpoint is resolved
 * and checked from its config alone, identified by a hash of its files (part of the run's key), and its weights are
 * read only when a run trains or is loaded. Such a run reads and writes text in the checkpoint's own tokenizer
 * (src/text/format.ts, `plainFormat`).
 */
import * as fs from "fs";
import { modelKind, ModelConfig } from "../model/config";
import { checkpointHash, HfCheckpoint, loadHfWeights, readHfCheckpoint } from "../model/hf/checkpoint";
import { resolveHfModel } from "../model/hf/resolve";
import { Params, paramsFromValues } from "../model/model";
import { plainFormat, TextFormat } from "../text/format";
import { HfTokenizer } from "../text/hf-tokenizer";
import { withPositionsCut } from "./base";

/** A checkpoint as a run records it: the reference it was given, the folder it resolved to, and its content hash. */
export interface CheckpointRef {
  ref: string;
  dir: string;
  hash: string;
  modelType: string;
}

/** Hashes by folder, kept while the files' sizes and times are unchanged: a grid starts many runs from one checkpoint. */
const hashes = new Map<string, { stamp: string; hash: string }>();
function cachedHash(checkpoint: HfCheckpoint): string {
  const stamp = checkpoint.weightFiles.map((f) => {
    const st = fs.statSync(f);
    return `${f}:${st.size}:${st.mtimeMs}`;
  }).join("|");
  const cached = hashes.get(checkpoint.dir);
  if (cached?.stamp === stamp) return cached.hash;
  const hash = checkpointHash(checkpoint);
  hashes.set(checkpoint.dir, { stamp, hash });
  return hash;
}

export function checkCheckpoint(ref: string): { checkpoint: HfCheckpoint; start: CheckpointRef } {
  const checkpoint = readHfCheckpoint(resolveHfModel(ref));
  return { checkpoint, start: { ref, dir: checkpoint.dir, hash: cachedHash(checkpoint), modelType: modelKind(checkpoint.config) } };
}

/** The checkpoint's architecture for runs of `maxLen` positions, which it must cover. */
export function checkpointRunConfig(checkpoint: HfCheckpoint, maxLen: number): ModelConfig {
  if (checkpoint.config.maxLen < maxLen) {
    throw new Error(`checkpoint ${checkpoint.dir} covers ${checkpoint.config.maxLen} positions; this run needs ${maxLen} (a profile with a shorter maxLen)`);
  }
  return { ...checkpoint.config, maxLen };
}

/** The text format of runs from this checkpoint: its own tokenizer, which must fit the model's vocabulary. */
export function checkpointFormat(dir: string, model: ModelConfig): TextFormat {
  const tokenizer = HfTokenizer.load(dir);
  if (tokenizer.vocabSize > model.vocabSize) {
    throw new Error(`${dir}: the tokenizer has ${tokenizer.vocabSize} tokens, the model's vocabulary only ${model.vocabSize}`);
  }
  return plainFormat(tokenizer);
}

/** The checkpoint's weights as a run's starting parameters, checked against the hash the run recorded. */
export function checkpointParams(ref: CheckpointRef, model: ModelConfig): Params {
  const checkpoint = readHfCheckpoint(ref.dir);
  if (cachedHash(checkpoint) !== ref.hash) throw new Error(`checkpoint ${ref.dir} has changed since the run was keyed (another content hash)`);
  return paramsFromValues(model, withPositionsCut(loadHfWeights(checkpoint), model));
}
