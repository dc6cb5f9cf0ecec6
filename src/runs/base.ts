/**
 * Pretrained base models (`xft pretrain`, src/runs/pretrain.ts): a folder with the weights, config.json,
 * base.json (the machine-readable model card) and CARD.md. A run that starts from a base records the
 * base's folder and weights hash, and its run key includes the hash, so that another base is another run.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../data/load";
import { GptConfig, ModelConfig, Params, paramsFromValues } from "../model/model";
import { valuesWithPrefix, weightsFile } from "../model/io";
import { assertFiniteTensors, decodeSafetensors } from "../model/safetensors";
import { readJsonFile, readMaybeGzipped } from "../util/read-file";
import type { LossPoint, TrainConfig } from "../train/trainer";
import type { CorpusStats } from "../text/corpus";
import type { Environment } from "./environment";
import { runsRoot } from "./paths";
import type { ProfileName } from "./profiles";

export const BASE_CARD_FILE = "base.json";

export interface BaseCard {
  format: "xft-base";
  profile: ProfileName;
  model: GptConfig & { parameters: number };
  train: TrainConfig;
  corpus: CorpusStats;
  tokensSeen: number;
  /** Training loss, every few steps. */
  losses: LossPoint[];
  heldOut: { loss: number; perplexity: number; tokens: number };
  wallS: number;
  tokensPerSec: number;
  environment: Environment;
  tokenizerHash: string;
  /** sha256 of the uncompressed safetensors bytes. */
  weightsHash: string;
  /** The command that made it. */
  command: string;
}

/**
 * How a run starts: from random weights, from a base xft pretrained, or from a Hugging Face checkpoint (`hf:DIR` or
 * `hf:org/name`); from a base or a checkpoint, fully fine-tuned or through a LoRA adapter.
 */
export type Init = "scratch" | "base" | `hf:${string}`;

export function parseInit(text: string): Init {
  if (text === "scratch" || text === "base") return text;
  if (text.startsWith("hf:") && text.length > 3) return text as `hf:${string}`;
  throw new Error(`init takes scratch, base or hf:DIR (a Hugging Face checkpoint folder, or hf:org/name in the local cache), got "${text}"`);
}
export type AdapterKind = "none" | "lora";
export const ADAPTER_KINDS: readonly AdapterKind[] = ["none", "lora"];

export interface BaseRef {
  dir: string;
  hash: string;
}

export function sha256(bytes: Buffer): string {
  return crypto.createHash("sha256").update(bytes).digest("hex");
}

/** A profile's base: the one shipped in data/base-<profile>, else one pretrained here (`pretrainDir`). */
export function defaultBaseDir(profile: ProfileName): string {
  const shipped = path.join(projectRoot(), "data", `base-${profile}`);
  return fs.existsSync(path.join(shipped, BASE_CARD_FILE)) ? shipped : pretrainDir(profile);
}

/** Where `xft pretrain` writes by default: pretrain/<name> in the runs folder (a profile's name, or more). */
export function pretrainDir(name: string): string {
  return path.join(runsRoot(), "pretrain", name);
}

export function readBaseCard(dir: string): BaseCard {
  const file = path.join(dir, BASE_CARD_FILE);
  if (!fs.existsSync(file)) {
    // `xft pretrain --init hf:DIR` writes a checkpoint folder (pretrain-checkpoint.ts), which starts runs as hf: does.
    const checkpoint = fs.existsSync(path.join(dir, "config.json"));
    throw new Error(
      `${dir}: no base model here (no ${BASE_CARD_FILE}); ` +
        (checkpoint ? `it is a Hugging Face checkpoint folder: start from it with --init hf:${dir}` : "make one with `xft pretrain`"),
    );
  }
  return readJsonFile<BaseCard>(file, `base ${dir}`);
}

function describeArchitecture(c: Pick<GptConfig, "layers" | "dModel" | "heads" | "mlpRatio">): string {
  return `${c.layers} layer(s), d ${c.dModel}, ${c.heads} heads, MLP x${c.mlpRatio}`;
}

/**
 * The model of a run that starts from the base in `dir`: the base's architecture (as a run from a checkpoint has the
 * checkpoint's), with the profile's other settings, at the run's sequence length. So one profile's base serves every
 * command of that profile: `xft pretrain --profile ci` makes the ci grid's architecture, and `xft train --profile ci
 * --init base` (whose model from scratch is larger) starts from it. Spread over the profile's model, the keys keep
 * their order, and with it the run keys of runs that started from a base of the profile's own architecture.
 */
export function baseRunModel(dir: string, profileModel: Omit<GptConfig, "vocabSize" | "maxLen">, vocabSize: number, maxLen: number): GptConfig {
  const { layers, dModel, heads, mlpRatio } = readBaseCard(dir).model;
  return { ...profileModel, layers, dModel, heads, mlpRatio, vocabSize, maxLen };
}

/**
 * The base in `dir`, checked against a run from its card alone: the architecture and tokenizer must be the run's,
 * and the base must cover the run's sequence length. Its hash (the card's) goes into the run's key.
 */
export function checkBase(dir: string, model: GptConfig, tokenizerHash: string): BaseRef {
  const card = readBaseCard(dir);
  if (card.tokenizerHash !== tokenizerHash) throw new Error(`base ${dir} was pretrained with another tokenizer; pretrain it again`);
  const arch = (["layers", "dModel", "heads", "mlpRatio", "vocabSize"] as const).filter((k) => card.model[k] !== model[k]);
  if (arch.length > 0) {
    throw new Error(
      `base ${dir} is ${describeArchitecture(card.model)}; this run's model is ${describeArchitecture(model)} ` +
        `(${arch.join(", ")} differ): pretrain a base of this architecture (\`xft pretrain --layers ${model.layers} --d-model ${model.dModel} --heads ${model.heads} --out DIR\`) and pass --base DIR`,
    );
  }
  if (card.model.maxLen < model.maxLen) throw new Error(`base ${dir} covers ${card.model.maxLen} positions; this run needs ${model.maxLen}`);
  return { dir: path.resolve(dir), hash: card.weightsHash };
}

/**
 * A run's starting weights from a checked base (`checkBase`): the weights must match the hash, and the position
 * embedding is cut to the run's maxLen. Read only when the run trains or is loaded, never for a reused run.
 */
export function baseParams(ref: BaseRef, model: GptConfig): Params {
  const file = weightsFile(ref.dir);
  const bytes = readMaybeGzipped(file);
  if (sha256(bytes) !== ref.hash) throw new Error(`${file}: weights do not match the hash in ${BASE_CARD_FILE}; the base is damaged or was changed`);
  const { tensors } = decodeSafetensors(bytes, file);
  assertFiniteTensors(tensors, file);
  return paramsFromValues(model, withPositionsCut(valuesWithPrefix(tensors), model));
}

/** A checkpoint's values for a run of `model.maxLen` positions: a learned position embedding is cut to them. */
export function withPositionsCut(values: Map<string, Float32Array>, model: ModelConfig): Map<string, Float32Array> {
  const wpe = values.get("wpe");
  if (wpe) values.set("wpe", wpe.subarray(0, model.maxLen * model.dModel));
  return values;
}
