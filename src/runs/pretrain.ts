/**
 * Pretraining a base model: next-token prediction on the project's own corpus (src/text/corpus.ts: train
 * splits only, no test text), through the same training loop as fine-tuning, so it shows progress, writes
 * checkpoints and resumes. The result is a base folder (src/runs/base.ts) with its model card.
 *
 * Each profile's base has the architecture of that profile's experiment grid (GRID_PROFILES), so that grid
 * runs from scratch and from the base differ only in where they start.
 */
import * as fs from "fs";
import * as path from "path";
import { initBackend } from "../backend/engine";
import type { ModelConfig } from "../model/config";
import { countParameters, createParams, disposeParams, GptConfig, Params } from "../model/model";
import { saveModel, WEIGHTS_FILE, weightsFile } from "../model/io";
import { writeFileAtomic } from "../util/atomic-write";
import { interruptedSince } from "../util/interrupt";
import { readMaybeGzipped } from "../util/read-file";
import { buildCorpus, Corpus, packBlocks, xftDocuments } from "../text/corpus";
import { XftTokenizer } from "../text/tokenizer";
import { EncodedExample, makeBatch } from "../train/sequences";
import { batchLoss, LossPoint, train, TrainConfig, TrainProgress, TrainResult } from "../train/trainer";
import { hashSeed } from "../util/rng";
import { BASE_CARD_FILE, BaseCard, defaultBaseDir, readBaseCard, sha256 } from "./base";
import { collectEnvironment } from "./environment";
import { formatSeconds } from "./experiment";
import { GRID_PROFILES } from "./grid";
import { PROFILES, ProfileName, resolveProfile } from "./profiles";

export interface PretrainProfile {
  name: ProfileName;
  model: Omit<GptConfig, "vocabSize">;
  train: Omit<TrainConfig, "steps" | "seed">;
  /** Training tokens to see (the step count follows). */
  tokens: number;
  seed: number;
  /** Cap on corpus documents (a fixed choice by content), for the ci profile. */
  maxDocuments?: number;
}

const gridModel = (name: ProfileName) => GRID_PROFILES[name].profile.model;
const OPTIMIZER = PROFILES.quick.train;

export const PRETRAIN_PROFILES: Record<ProfileName, PretrainProfile> = {
  // Seconds: enough steps that the loss falls, for the tests and notebook 05 under ci.
  ci: {
    name: "ci",
    model: { ...gridModel("ci"), maxLen: 96 },
    train: { ...OPTIMIZER, lr: 3e-3, minLr: 3e-4, warmupSteps: 10, batchSize: 16, checkpointEvery: 100 },
    tokens: 16 * 96 * 80,
    seed: 1,
    maxDocuments: 3000,
  },
  // The shipped base (data/base-quick): the quick grid's one-layer model, about four passes over the corpus.
  quick: {
    name: "quick",
    model: { ...gridModel("quick"), maxLen: 128 },
    train: { ...OPTIMIZER, lr: 3e-3, minLr: 3e-4, warmupSteps: 200, batchSize: 32, checkpointEvery: 500 },
    tokens: 20_000_000,
    seed: 1,
  },
  full: {
    name: "full",
    model: { ...gridModel("full"), maxLen: 128 },
    train: { ...OPTIMIZER, lr: 1e-3, minLr: 1e-4, warmupSteps: 500, batchSize: 32, checkpointEvery: 500 },
    tokens: 100_000_000,
    seed: 1,
  },
};

export interface PretrainOptions {
  /**
   * Where the base is written; default the profile's base folder (`defaultBaseDir`: the shipped one, if any, is reused).
   * From a checkpoint (pretrain-checkpoint.ts): runs/pretrain/<profile>-hf-<checkpoint folder>.
   */
  out?: string;
  /** Architecture changes over the profile's (a base for another model size). */
  model?: Partial<Pick<GptConfig, "layers" | "dModel" | "heads">>;
  /** Pretrain again even if a finished base is there. */
  fresh?: boolean;
  /** Recorded in the card: the command that reproduces the base. */
  command?: string;
  /** Each step, with `done` and `total` as runExperiment's events have them (a notebook's live chart takes either). */
  onProgress?: (p: TrainProgress & { done: number; total: number; text: string }) => void;
  shouldStop?: () => boolean;
}

/** `card` is there when the base is done; a stopped one resumes from its checkpoint. */
export interface PretrainResult {
  dir: string;
  card?: BaseCard;
  status: "done" | "stopped";
  reused: boolean;
}

/** Mean next-token loss over blocks, weighted by their target tokens (read asynchronously: webgpu cannot read in sync). */
export async function meanLoss(
  params: Params,
  model: ModelConfig,
  blocks: readonly EncodedExample[],
  padId: number,
  batchSize: number,
): Promise<number> {
  let total = 0;
  let count = 0;
  for (let at = 0; at < blocks.length; at += batchSize) {
    const batch = makeBatch(blocks.slice(at, at + batchSize), padId, model.maxLen);
    const loss = batchLoss(params, model, batch);
    total += (await loss.data())[0] * batch.lossTargets.length;
    count += batch.lossTargets.length;
    loss.dispose();
  }
  return total / count;
}

/** Blocks as training examples whose every position is a target (promptLen 1: the loss starts at token 0). */
function asExamples(blocks: number[][]): EncodedExample[] {
  return blocks.map((tokens) => ({ tokens, promptLen: 1, label: 0 }));
}

/** A corpus cut into the profile's seeded training and held-out blocks of `blockLen` inputs. */
export function corpusBlocks(corpus: Corpus, blockLen: number, seed: number): { train: EncodedExample[]; heldOut: EncodedExample[] } {
  const heldOut = asExamples(packBlocks(corpus.heldOut, blockLen, hashSeed(seed, "pack-held-out")));
  if (heldOut.length === 0)
    throw new Error(`the held-out corpus (${corpus.stats.heldOutTokens} tokens) is shorter than one block of ${blockLen + 1}`);
  return { train: asExamples(packBlocks(corpus.train, blockLen, hashSeed(seed, "pack"))), heldOut };
}

export interface CorpusTraining {
  params: Params;
  model: ModelConfig;
  config: TrainConfig;
  blocks: { train: EncodedExample[]; heldOut: EncodedExample[] };
  padId: number;
  /** The folder whose checkpoint.safetensors it resumes from. */
  dir: string;
}

/** What a finished pretraining reports: the training, the loss curve for a card, and the held-out loss. */
export interface CorpusTrainingResult {
  training: TrainResult;
  losses: LossPoint[];
  heldOut: { loss: number; perplexity: number; tokens: number };
}

/** Next-token training on the blocks, resumable; undefined where it stopped before its last step. */
export async function trainOnCorpus(run: CorpusTraining, opts: PretrainOptions): Promise<CorpusTrainingResult | undefined> {
  const { params, model, config, blocks, padId } = run;
  const training = await train({
    params,
    model,
    config,
    examples: blocks.train,
    padId,
    checkpointFile: path.join(run.dir, PRETRAIN_CHECKPOINT_FILE),
    shouldStop: opts.shouldStop ?? interruptedSince(),
    onProgress: (p) =>
      opts.onProgress?.({
        ...p,
        done: p.step,
        total: p.totalSteps,
        text:
          `pretrain step ${p.step}/${p.totalSteps}  loss ${p.loss.toFixed(3)}  ${Math.round(p.tokensPerSec)} tok/s  ` +
          `${formatSeconds(p.elapsedS)} elapsed, ${formatSeconds(p.etaS)} left`,
      }),
  });
  if (training.steps < config.steps) return undefined;
  const loss = await meanLoss(params, model, blocks.heldOut, padId, config.batchSize);
  const every = Math.max(1, Math.round(config.steps / 200));
  return {
    training,
    losses: training.losses.filter((l) => l.step % every === 0 || l.step === config.steps),
    heldOut: { loss, perplexity: Math.exp(loss), tokens: blocks.heldOut.length * model.maxLen },
  };
}

/** The training checkpoint of an unfinished pretraining, removed once it is done. */
export const PRETRAIN_CHECKPOINT_FILE = "checkpoint.safetensors";

export async function pretrain(profileName: string | undefined, opts: PretrainOptions = {}): Promise<PretrainResult> {
  const profile = PRETRAIN_PROFILES[resolveProfile(profileName).name];
  const dir = opts.out ?? defaultBaseDir(profile.name);
  const tok = XftTokenizer.load();
  const model: GptConfig = { ...profile.model, ...opts.model, vocabSize: tok.vocabSize };
  const steps = Math.ceil(profile.tokens / (profile.train.batchSize * model.maxLen));
  const trainConfig: TrainConfig = { ...profile.train, seed: profile.seed, steps };
  if (!opts.fresh && fs.existsSync(path.join(dir, BASE_CARD_FILE))) {
    const card = readBaseCard(dir);
    const same =
      JSON.stringify({ ...card.model, parameters: undefined }) === JSON.stringify({ ...model, parameters: undefined }) &&
      JSON.stringify(card.train) === JSON.stringify(trainConfig) &&
      card.tokenizerHash === tok.hash;
    if (!same) throw new Error(`${dir} holds a base pretrained with other settings; pass --fresh to replace it, or --out another folder`);
    return { dir, card, status: "done", reused: true };
  }
  if (opts.fresh) fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });

  const backend = await initBackend();
  const corpus = buildCorpus(xftDocuments(tok), { maxDocuments: profile.maxDocuments });
  const padId = tok.special("<|pad|>");
  const params = createParams(model, hashSeed(profile.seed, "init"));
  try {
    const blocks = corpusBlocks(corpus, model.maxLen, profile.seed);
    const done = await trainOnCorpus({ params, model, config: trainConfig, blocks, padId, dir }, opts);
    if (!done) return { dir, status: "stopped", reused: false };
    await saveModel(dir, params, model, { compress: true });
    const card: BaseCard = {
      format: "xft-base",
      profile: profile.name,
      model: { ...model, parameters: countParameters(model) },
      train: trainConfig,
      corpus: corpus.stats,
      tokensSeen: steps * trainConfig.batchSize * model.maxLen,
      losses: done.losses,
      heldOut: done.heldOut,
      wallS: done.training.wallS,
      tokensPerSec: done.training.tokensPerSec,
      environment: collectEnvironment(backend),
      tokenizerHash: tok.hash,
      weightsHash: sha256(readMaybeGzipped(weightsFile(dir))),
      command: opts.command ?? `npx xft pretrain --profile ${profile.name}`,
    };
    writeFileAtomic(path.join(dir, BASE_CARD_FILE), JSON.stringify(card, null, 1) + "\n");
    writeFileAtomic(path.join(dir, "CARD.md"), modelCard(card));
    fs.rmSync(path.join(dir, PRETRAIN_CHECKPOINT_FILE), { force: true });
    return { dir, card, status: "done", reused: false };
  } finally {
    disposeParams(params);
  }
}

/** The human-readable model card (CARD.md) from the machine-readable one. */
function modelCard(c: BaseCard): string {
  const m = c.model;
  const e = c.environment;
  const firstLoss = c.losses[0]?.loss;
  const lastLoss = c.losses.at(-1)?.loss;
  return `# Base model: ${m.layers} layer(s), d ${m.dModel}, ${m.heads} heads (profile ${c.profile})

A small GPT (src/model/gpt.ts) pretrained by xft on the project's own text, to stand in for a pretrained LLM
(docs/protocol.md: no pretrained weights are reachable here). Fine-tune it with \`--init base\`, fully or \`--adapter lora\`.

- Parameters: ${m.parameters.toLocaleString("en-US")} (vocabulary ${m.vocabSize}, ${m.maxLen} positions, MLP x${m.mlpRatio}).
- Corpus: every text under data/ from train splits (${c.corpus.datasets.join(", ")}): ${c.corpus.conversations.toLocaleString("en-US")} unique
  conversations and passages, ${c.corpus.explanations.toLocaleString("en-US")} unique explanations; ${c.corpus.excludedForTest.toLocaleString("en-US")} documents
  left out because a text of theirs occurs in a test split. ${c.corpus.trainTokens.toLocaleString("en-US")} training tokens in
  ${c.corpus.trainDocuments.toLocaleString("en-US")} documents; ${c.corpus.heldOutTokens.toLocaleString("en-US")} held-out tokens in ${c.corpus.heldOutDocuments.toLocaleString("en-US")} documents
  (1 in 50, by a hash of the content). No labels are in the corpus.
- Training: ${c.train.steps} steps of ${c.train.batchSize} x ${m.maxLen} tokens = ${c.tokensSeen.toLocaleString("en-US")} tokens seen
  (${(c.tokensSeen / c.corpus.trainTokens).toFixed(1)} passes), AdamW lr ${c.train.lr} (cosine to ${c.train.minLr}, ${c.train.warmupSteps} warm-up steps),
  weight decay ${c.train.weightDecay}, seed ${c.train.seed}.
- Loss: ${firstLoss?.toFixed(3)} at step 1, ${lastLoss?.toFixed(3)} at the end (the loss curve is in ${BASE_CARD_FILE}).
- Held-out: loss ${c.heldOut.loss.toFixed(4)}, perplexity ${c.heldOut.perplexity.toFixed(1)} over ${c.heldOut.tokens.toLocaleString("en-US")} tokens
  (a uniform guess: ${m.vocabSize}).
- Wall time: ${formatSeconds(c.wallS)} (${Math.round(c.tokensPerSec).toLocaleString("en-US")} tokens/s) on ${e.cpuModel}, ${e.cpuCount} cores, backend ${e.backend}
  (${e.threads} threads), Node ${e.nodeVersion}, xft ${e.xftVersion}${e.gitCommit ? ` at ${e.gitCommit}` : ""}.
- Weights: ${WEIGHTS_FILE}.gz, sha256 of the uncompressed bytes ${c.weightsHash}.
- Reproduce: \`${c.command}\` (same seed and settings give the same weights on the same backend).
`;
}
