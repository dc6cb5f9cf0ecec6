/**
 * Runs that start from a Hugging Face checkpoint (`--init hf:DIR` or `hf:org/name`): the checkpoint is resolved
 * and checked from its config alone, identified by a hash of its files (part of the run's key), and its weights are
 * read only when a run trains or is loaded. Such a run reads and writes text in the checkpoint's own tokenizer
 * (src/text/format.ts, `plainFormat`), or where it asks for it through the checkpoint's chat template
 * (src/text/chat-format.ts), whose hash is then recorded and keyed too.
 */
import * as fs from "fs";
import { modelKind, ModelConfig } from "../model/config";
import { checkpointHash, HfCheckpoint, loadHfWeights, readHfCheckpoint } from "../model/hf/checkpoint";
import { resolveHfModel } from "../model/hf/resolve";
import { Params, paramsFromValues } from "../model/model";
import { chatFormat, chatTemplateHash } from "../text/chat-format";
import { plainFormat, TextFormat } from "../text/format";
import { HfTokenizer } from "../text/hf-tokenizer";
import { withPositionsCut } from "./base";

/** A checkpoint as a run records it: the reference it was given, the folder it resolved to, and its content hash. */
export interface CheckpointRef {
  ref: string;
  dir: string;
  hash: string;
  modelType: string;
  /** sha256 of the chat template, where the run's text goes through it (`chatTemplate: true`); absent for the plain format. */
  chatTemplate?: string;
}

/** Hashes by folder, kept while the files' sizes and times are unchanged: a grid starts many runs from one checkpoint. */
const hashes = new Map<string, { stamp: string; hash: string }>();
function cachedHash(checkpoint: HfCheckpoint): string {
  const stamp = checkpoint.weightFiles
    .map((f) => {
      const st = fs.statSync(f);
      return `${f}:${st.size}:${st.mtimeMs}`;
    })
    .join("|");
  const cached = hashes.get(checkpoint.dir);
  if (cached?.stamp === stamp) return cached.hash;
  const hash = checkpointHash(checkpoint);
  hashes.set(checkpoint.dir, { stamp, hash });
  return hash;
}

/** The checkpoint `ref` names, checked, with its chat template's hash where the run asks for the template. */
export function checkCheckpoint(ref: string, chatTemplate = false): { checkpoint: HfCheckpoint; start: CheckpointRef } {
  const checkpoint = readHfCheckpoint(resolveHfModel(ref));
  const start: CheckpointRef = { ref, dir: checkpoint.dir, hash: cachedHash(checkpoint), modelType: modelKind(checkpoint.config) };
  if (chatTemplate) start.chatTemplate = chatTemplateHash(HfTokenizer.load(checkpoint.dir), checkpoint.dir);
  return { checkpoint, start };
}

/** The checkpoint's architecture for runs of `maxLen` positions, which it must cover. */
export function checkpointRunConfig(checkpoint: HfCheckpoint, maxLen: number): ModelConfig {
  if (checkpoint.config.maxLen < maxLen) {
    throw new Error(
      `checkpoint ${checkpoint.dir} covers ${checkpoint.config.maxLen} positions; this run needs ${maxLen} (a profile with a shorter maxLen)`,
    );
  }
  return { ...checkpoint.config, maxLen };
}

/**
 * The text format of runs from this checkpoint: its own tokenizer, which must fit the model's vocabulary; through its
 * chat template where the start records one, which must be the template it recorded.
 */
export function checkpointFormat(start: Pick<CheckpointRef, "dir" | "chatTemplate">, model: ModelConfig): TextFormat {
  const { dir } = start;
  const tokenizer = HfTokenizer.load(dir);
  if (tokenizer.vocabSize > model.vocabSize) {
    throw new Error(`${dir}: the tokenizer has ${tokenizer.vocabSize} tokens, the model's vocabulary only ${model.vocabSize}`);
  }
  if (start.chatTemplate === undefined) return plainFormat(tokenizer);
  const fmt = chatFormat(tokenizer, dir);
  if (fmt.templateHash !== start.chatTemplate) throw new Error(`${dir}: its chat template has changed since the run was keyed (another hash)`);
  return fmt;
}

/** The checkpoint's weights as a run's starting parameters, checked against the hash the run recorded. */
export function checkpointParams(ref: CheckpointRef, model: ModelConfig): Params {
  const checkpoint = readHfCheckpoint(ref.dir);
  if (cachedHash(checkpoint) !== ref.hash) throw new Error(`checkpoint ${ref.dir} has changed since the run was keyed (another content hash)`);
  return paramsFromValues(model, withPositionsCut(loadHfWeights(checkpoint), model));
}
