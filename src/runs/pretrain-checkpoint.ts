/**
 * Continued pretraining of a Hugging Face checkpoint (`xft pretrain --init hf:DIR`, `pretrainCheckpoint`): next-token
 * prediction on xft's corpus (src/text/corpus.ts: train splits only, no test text) in the checkpoint's own tokenizer,
 * through the same loop, checkpoints and resume as `xft pretrain` (pretrain.ts).
 *
 * It writes a checkpoint folder in the checkpoint's own family, as `xft export` writes one (src/model/hf/save-model.ts:
 * config.json, model.safetensors in float32, the checkpoint's tokenizer files unchanged), with its card (pretrain.json,
 * README.md). `--init hf:OUT` then fine-tunes, probes and exports it as any checkpoint, and transformers loads it.
 * It is not a base (base.json, `--init base`): a base is xft's GPT in xft's tokenizer, run with the profile's
 * architecture and read through xft's special tokens, where a checkpoint keeps its family (Llama, Qwen2, ...), its
 * vocabulary and tokenizer, its module names for LoRA targets and its chat template: everything an `hf:` start reads.
 *
 * Documents are written as the plain format writes a prompt's lines (`User: ...`, `Response: ...`), so that continued
 * pretraining teaches the layout fine-tuning reads. Blocks have the profile's length (at most the checkpoint's
 * positions); learned positions past it are kept as they were. It trains at the pretrained learning rate
 * (CHECKPOINT_LR.full), and the card gives the held-out loss before and after.
 */
import * as fs from "fs";
import * as path from "path";
import { initBackend } from "../backend/engine";
import type { ModelConfig } from "../model/config";
import { HfCheckpoint, loadHfWeights } from "../model/hf/checkpoint";
import { writeHfModel } from "../model/hf/save-model";
import { copyCheckpointTokenizer, writeGenerationConfig } from "../model/hf/tokenizer-files";
import { countParameters, disposeParams, Params, paramsFromValues, paramsToValues } from "../model/model";
import { buildCorpus, CorpusStats, plainDocuments } from "../text/corpus";
import { plainFormat } from "../text/format";
import { HfTokenizer } from "../text/hf-tokenizer";
import type { LossPoint, TrainConfig } from "../train/trainer";
import { writeFileAtomic } from "../util/atomic-write";
import { readJsonFile } from "../util/read-file";
import { pretrainDir, withPositionsCut } from "./base";
import { checkCheckpoint, checkpointRunConfig, CheckpointRef } from "./checkpoint-start";
import { collectEnvironment, Environment } from "./environment";
import { formatSeconds, startSuffix } from "./experiment";
import { corpusBlocks, meanLoss, PRETRAIN_CHECKPOINT_FILE, PRETRAIN_PROFILES, PretrainOptions, trainOnCorpus } from "./pretrain";
import { CHECKPOINT_LR, ProfileName, resolveProfile } from "./profiles";

const CONTINUED_CARD_FILE = "pretrain.json";
const README_FILE = "README.md";

export interface ContinuedPretrainingCard {
  format: "xft-continued-pretraining";
  profile: ProfileName;
  /** The checkpoint it continued from. */
  from: CheckpointRef;
  /** The model as trained: the checkpoint's, at the blocks' length (config.json keeps the checkpoint's positions). */
  model: ModelConfig & { parameters: number };
  train: TrainConfig;
  corpus: CorpusStats;
  tokensSeen: number;
  /** Training loss, every few steps. */
  losses: LossPoint[];
  /** Held-out next-token loss of the checkpoint as it was, and after. */
  heldOutBefore: { loss: number; perplexity: number };
  heldOut: { loss: number; perplexity: number; tokens: number };
  wallS: number;
  tokensPerSec: number;
  environment: Environment;
  tokenizerHash: string;
  command: string;
}

export interface ContinuedPretrainingResult {
  dir: string;
  card?: ContinuedPretrainingCard;
  status: "done" | "stopped";
  reused: boolean;
}

/** The checkpoint's weights at the blocks' length, and its full learned positions (GPT-2's wpe) to write back. */
function startingWeights(checkpoint: HfCheckpoint, model: ModelConfig): { params: Params; positions?: Float32Array } {
  const values = loadHfWeights(checkpoint);
  const positions = values.get("wpe")?.slice();
  return { params: paramsFromValues(model, withPositionsCut(values, model)), positions };
}

/** The trained weights as a checkpoint folder of the checkpoint's own config, tokenizer and generation settings. */
async function writeCheckpoint(dir: string, fromDir: string, config: ModelConfig, params: Params, positions?: Float32Array): Promise<void> {
  const values = await paramsToValues(params);
  if (positions) {
    positions.set(values.get("wpe")!);
    values.set("wpe", positions);
  }
  const ids = copyCheckpointTokenizer(fromDir, dir);
  writeGenerationConfig(dir, ids, fromDir);
  writeHfModel(dir, config, values, ids);
}

/** Continues pretraining the checkpoint `init` names; a finished folder with the same settings is reused. */
export async function pretrainCheckpoint(
  profileName: string | undefined,
  init: `hf:${string}`,
  opts: PretrainOptions = {},
): Promise<ContinuedPretrainingResult> {
  if (opts.model !== undefined && Object.keys(opts.model).length > 0)
    throw new Error("a checkpoint keeps its own architecture: --layers, --d-model and --heads are for xft's own base");
  const profile = PRETRAIN_PROFILES[resolveProfile(profileName).name];
  const { checkpoint, start } = checkCheckpoint(init);
  const dir = path.resolve(opts.out ?? pretrainDir(profile.name + startSuffix({ init })));
  if (dir === checkpoint.dir)
    throw new Error(`${dir}: continued pretraining writes a new checkpoint folder; pass another --out than the checkpoint's own`);
  const model = checkpointRunConfig(checkpoint, Math.min(profile.model.maxLen, checkpoint.config.maxLen));
  const steps = Math.ceil(profile.tokens / (profile.train.batchSize * model.maxLen));
  const trainConfig: TrainConfig = { ...profile.train, ...CHECKPOINT_LR.full, seed: profile.seed, steps };
  const cardFile = path.join(dir, CONTINUED_CARD_FILE);
  if (!opts.fresh && fs.existsSync(cardFile)) {
    const card = readJsonFile<ContinuedPretrainingCard>(cardFile, `continued pretraining ${dir}`);
    const same = card.from.hash === start.hash && JSON.stringify(card.train) === JSON.stringify(trainConfig) && card.model.maxLen === model.maxLen;
    if (!same)
      throw new Error(
        `${dir} holds a checkpoint pretrained from another checkpoint or with other settings; pass --fresh to replace it, or --out another folder`,
      );
    return { dir, card, status: "done", reused: true };
  }
  if (opts.fresh) fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });

  const backend = await initBackend();
  const tok = HfTokenizer.load(checkpoint.dir);
  const corpus = buildCorpus(plainDocuments(tok), { maxDocuments: profile.maxDocuments });
  const blocks = corpusBlocks(corpus, model.maxLen, profile.seed);
  const padId = plainFormat(tok).padId;
  const { params, positions } = startingWeights(checkpoint, model);
  try {
    const before = await meanLoss(params, model, blocks.heldOut, padId, trainConfig.batchSize);
    const done = await trainOnCorpus({ params, model, config: trainConfig, blocks, padId, dir }, opts);
    if (!done) return { dir, status: "stopped", reused: false };
    await writeCheckpoint(dir, checkpoint.dir, checkpoint.config, params, positions);
    const card: ContinuedPretrainingCard = {
      format: "xft-continued-pretraining",
      profile: profile.name,
      from: start,
      model: { ...model, parameters: countParameters(model) },
      train: trainConfig,
      corpus: corpus.stats,
      tokensSeen: steps * trainConfig.batchSize * model.maxLen,
      losses: done.losses,
      heldOutBefore: { loss: before, perplexity: Math.exp(before) },
      heldOut: done.heldOut,
      wallS: done.training.wallS,
      tokensPerSec: done.training.tokensPerSec,
      environment: collectEnvironment(backend),
      tokenizerHash: tok.hash,
      command: opts.command ?? `npx xft pretrain --init ${init} --profile ${profile.name}`,
    };
    fs.writeFileSync(path.join(dir, README_FILE), continuedCard(card, dir));
    // The card last: a folder with it is finished.
    writeFileAtomic(cardFile, JSON.stringify(card, null, 1) + "\n");
    fs.rmSync(path.join(dir, PRETRAIN_CHECKPOINT_FILE), { force: true });
    return { dir, card, status: "done", reused: false };
  } finally {
    disposeParams(params);
  }
}

/** The human-readable card (README.md) from the machine-readable one. */
function continuedCard(c: ContinuedPretrainingCard, dir: string): string {
  const losses = `${c.losses[0]?.loss.toFixed(3)} at step 1, ${c.losses.at(-1)?.loss.toFixed(3)} at the end`;
  return `# ${c.from.modelType} checkpoint, pretrained further by xft (profile ${c.profile})

From \`${c.from.ref}\` (${c.from.dir}, sha256 ${c.from.hash.slice(0, 16)}...), ${c.model.parameters.toLocaleString("en-US")} parameters,
trained on next-token prediction over xft's corpus (train splits only; ${c.corpus.trainTokens.toLocaleString("en-US")} tokens in
${c.corpus.trainDocuments.toLocaleString("en-US")} documents, in the checkpoint's own tokenizer), ${c.train.steps} steps of ${c.train.batchSize} x ${c.model.maxLen} tokens
(${c.tokensSeen.toLocaleString("en-US")} tokens seen), AdamW lr ${c.train.lr} (cosine to ${c.train.minLr}), seed ${c.train.seed}.

- Training loss: ${losses} (the curve is in ${CONTINUED_CARD_FILE}).
- Held-out perplexity: ${c.heldOutBefore.perplexity.toFixed(1)} before, ${c.heldOut.perplexity.toFixed(1)} after (${c.heldOut.tokens.toLocaleString("en-US")} tokens).
- Wall time: ${formatSeconds(c.wallS)} (${Math.round(c.tokensPerSec).toLocaleString("en-US")} tokens/s), backend ${c.environment.backend}.
- Use: \`npx xft train --init hf:${dir} ...\`, or \`AutoModelForCausalLM.from_pretrained("${dir}")\`.
- Reproduce: \`${c.command}\`.
`;
}
