/**
 * One run: (dataset, condition, seed, profile) -> a trained model, its test predictions and metrics,
 * stored in a run folder keyed by a hash of everything that determines the result. A finished run is
 * reused; an interrupted one resumes from its last checkpoint. Notebooks and the CLI both call this.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { BackendInfo, initBackend } from "../backend/engine";
import { Dataset, loadDataset } from "../data/load";
import type { Example } from "../data/schema";
import { RunMetrics, runMetrics } from "../eval/metrics";
import { readLabels, readLabelsRationaleFirst, Readout } from "../eval/readout";
import { countParameters, createParams, disposeParams, GptConfig, ModelConfig, Params } from "../model/model";
import { TextFormat, xftFormat } from "../text/format";
import { CONFIG_FILE, loadModel, saveModel, WEIGHTS_FILE } from "../model/io";
import {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  adapterShapes,
  allLinearTargets,
  createAdapter,
  DEFAULT_LORA,
  loadAdapter,
  LoraConfig,
  mergeAdapter,
  saveAdapter,
  validateLoraConfig,
} from "../model/lora";
import { makeDirectory, writeFileAtomic } from "../util/atomic-write";
import { XftTokenizer } from "../text/tokenizer";
import { PseudoExplanations } from "../train/pseudo";
import { Condition, encodeExample, EncodedExample, encodeRationalePrompt, isPseudo, isRationaleFirst, parseCondition } from "../train/sequences";
import { identifyingConfig, LossPoint, train, TrainConfig, TrainProgress, TrainResult } from "../train/trainer";
import { hashSeed, Rng } from "../util/rng";
import { readJsonFile } from "../util/read-file";
import { Artifacts, checkRunFolder, damagedRunError, recordArtifacts, RUN_FILE } from "./artifacts";
import type { Prediction } from "../eval/evaluated-run";
import type { RunSpecRow } from "../eval/run-identity";
import { interruptedSince } from "../util/interrupt";
import { lockRun } from "./run-lock";
import { AdapterKind, BaseRef, baseParams, baseRunModel, checkBase, defaultBaseDir, Init, parseInit } from "./base";
import { checkCheckpoint, checkpointFormat, checkpointParams, checkpointRunConfig, CheckpointRef } from "./checkpoint-start";
import { notice } from "../util/notice";
import { collectEnvironment, Environment } from "./environment";
import { runsRoot } from "./paths";
import { CHECKPOINT_LR, Profile, resolveProfile } from "./profiles";

export interface RunSpec {
  /** A dataset name under data/, or a path to a JSONL file or folder in the example schema. */
  dataset: string;
  condition: Condition | string;
  seed: number;
  /** A profile name (ci, quick, full) or a profile object; default XFT_PROFILE, then quick. */
  profile?: string | Profile;
  /** Train and test on this dimension's rows only (a benchmark source rates three); default: every row. */
  dimension?: string;
  /** Cut explanations to this many tokens instead of the profile's cap (the token-budget ablation; src/eval/run-identity.ts). */
  explTokens?: number;
  /** Start from random weights (default), from a pretrained base (src/runs/base.ts), or from a Hugging Face checkpoint (`hf:DIR`). */
  init?: Init;
  /** The base's folder; default the profile's (`defaultBaseDir`). */
  base?: string;
  /** Fine-tune every weight (default) or train a LoRA adapter on the frozen base. */
  adapter?: AdapterKind;
  /** LoRA settings over `DEFAULT_LORA`. */
  lora?: Partial<LoraConfig>;
  /** With a checkpoint (`hf:`): its text through its chat template (src/text/chat-format.ts) instead of the plain format. */
  chatTemplate?: boolean;
  /** Recompute each block's activations in the backward pass (TrainConfig's `recompute`); default the profile's, off. */
  recompute?: boolean;
}

/** Where a run's weights start: the part of a RunSpec that `--init`, `--base`, `--adapter` and `--lora-*` set. */
export type RunStart = Pick<RunSpec, "init" | "base" | "adapter" | "lora" | "chatTemplate">;

/** A start as a folder-name suffix and a label: "" (scratch), "-base", "-base-lora", "-hf-<checkpoint folder>(-lora)". */
export function startSuffix(start: RunStart): string {
  const init = start.init ?? "scratch";
  const from = init === "base" ? "-base" : init.startsWith("hf:") ? `-hf-${path.basename(init.slice(3)).replace(/[^A-Za-z0-9._-]+/g, "_")}` : "";
  return from + (start.adapter === "lora" ? "-lora" : "") + (start.chatTemplate ? "-chat" : "");
}

export type ProgressEvent =
  ({ phase: "train"; done: number; total: number; text: string } & TrainProgress) | { phase: "eval"; done: number; total: number; text: string };

export interface RunOptions {
  /** Folder of run folders; default $XFT_RUNS_DIR, then <root>/runs. */
  runsDir?: string;
  /** Retrain even if a finished run exists (its folder is replaced). */
  fresh?: boolean;
  /** Retrain a run whose folder fails its check (`xft probe --fresh`), where otherwise that is an error; intact runs are reused. */
  retrainDamaged?: boolean;
  onProgress?: (e: ProgressEvent) => void;
  /** Stop training after the current step (checkpointed); default: on a SIGINT, as a notebook's kernel interrupt sends. */
  shouldStop?: () => boolean;
  /** Told when the run is locked by another process and this one waits for it (default: a line on stderr). */
  onWait?: (message: string) => void;
}

export type { Prediction } from "../eval/evaluated-run";

export interface RunRecord {
  /** The record's format (RUN_RECORD_VERSION); absent in records of version 1. */
  version?: number;
  key: string;
  dir: string;
  status: "done" | "stopped";
  reused: boolean;
  /** `explTokens`: the explanation-token budget when the run overrides the profile's (the ablation), else null. */
  spec: RunSpecRow & { condition: Condition };
  model: ModelConfig & { parameters: number };
  train: TrainConfig;
  sequence: Profile["sequence"];
  data: { name: string; dimension: string | null; hash: string; train: number; test: number; labelSet: string[] };
  tokenizerHash: string;
  /** Where the weights started: absent or "scratch" for random weights; a base by folder and weights hash; a checkpoint. */
  init?: { from: "scratch" } | ({ from: "base" } & BaseRef) | ({ from: "hf" } & CheckpointRef);
  /** The LoRA adapter's settings when only an adapter was trained (saved as adapter.safetensors), else absent or null. */
  adapter?: LoraConfig | null;
  /** The dataset as the run was given it (a name under data/, or a path); absent in records from before it was kept. */
  datasetSource?: string;
  environment: Environment;
  wallS: number;
  training: { steps: number; tokensPerSec: number; wallS: number; resumedFromStep: number; losses: LossPoint[] };
  metrics?: RunMetrics;
  /** Size and sha256 of each file a finished run wrote, checked before it is reused (artifacts.ts); absent in older records. */
  artifacts?: Artifacts;
}

const PREDICTIONS_FILE = "predictions.json";
/** A run's training checkpoint, while it trains. */
const CHECKPOINT_FILE = "checkpoint.safetensors";

/** The files a finished run writes beside run.json: its predictions, and its weights (a LoRA run's adapter) with their config. */
function artifactNames(adapter: boolean): string[] {
  return [PREDICTIONS_FILE, ...(adapter ? [ADAPTER_WEIGHTS_FILE, ADAPTER_CONFIG_FILE] : [WEIGHTS_FILE, CONFIG_FILE])];
}

/** The rows of one dimension; a dimension the dataset does not rate is an error that lists those it does. */
export function ofDimension(examples: Example[], dimension: string | undefined, datasetName: string): Example[] {
  if (dimension === undefined) return examples;
  const rows = examples.filter((ex) => ex.dimension === dimension);
  if (rows.length === 0) {
    const known = [...new Set(examples.map((ex) => ex.dimension))];
    throw new Error(`dataset ${datasetName} has no rows of dimension "${dimension}"; it has ${known.join(", ")}`);
  }
  return rows;
}

/** A fixed subset (independent of the run seed, so conditions and seeds see the same examples). */
export function subset(examples: Example[], max: number | undefined, salt: string): Example[] {
  if (max === undefined || examples.length <= max) return examples;
  return new Rng(hashSeed("subset", salt)).shuffle(examples).slice(0, max);
}

/** Subsets are drawn per dataset and dimension, so that every run of a setting sees the same examples. */
function subsetSalt(datasetName: string, dimension: string | undefined): string {
  return dimension === undefined ? datasetName : `${datasetName}/${dimension}`;
}

function runKey(parts: unknown): string {
  return crypto.createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, 16);
}

const datasetCache = new Map<string, Dataset>();
export function cachedDataset(name: string): Dataset {
  let ds = datasetCache.get(name);
  if (!ds) {
    ds = loadDataset(name);
    datasetCache.set(name, ds);
  }
  return ds;
}

/** A run's test set: the examples, their inputs as the run's readout sees them, and the label tokens. */
export interface TestSet {
  examples: Example[];
  /**
   * Label-first conditions share their test prompts (as under `label`: only the label after them is read); a
   * rationale-first prompt leaves room for the explanation the model generates before its label.
   */
  encoded: EncodedExample[];
  /** Each label's tokens, in the label set's order. */
  labels: number[][];
}

export function testSetOf(
  dataset: Dataset,
  dimension: string | undefined,
  maxTest: number | undefined,
  condition: Condition,
  fmt: TextFormat,
  sequence: Profile["sequence"],
): TestSet {
  const examples = subset(ofDimension(dataset.test, dimension, dataset.name), maxTest, `${subsetSalt(dataset.name, dimension)}/test`);
  const encoded = isRationaleFirst(condition)
    ? examples.map((ex) => encodeRationalePrompt(ex, fmt, sequence))
    : encodeAll(examples, "label", fmt, sequence);
  return { examples, encoded, labels: fmt.labelTokens(dataset.labelSet) };
}

/** The text format a run reads and writes: a checkpoint's own tokenizer for runs from one, else xft's. */
export function runFormat(record: Pick<RunRecord, "init" | "model">): TextFormat {
  return record.init?.from === "hf" ? checkpointFormat(record.init, record.model) : xftFormat(XftTokenizer.load());
}

/**
 * The test set of a finished run, rebuilt from its record: the subset is the run's because it is fixed by
 * the dataset, dimension and size, and a dataset that changed since (another hash) is an error.
 */
export function recordTestSet(record: RunRecord, fmt: TextFormat): TestSet {
  const dataset = cachedDataset(record.datasetSource ?? record.data.name);
  if (dataset.hash !== record.data.hash) {
    throw new Error(
      `run ${record.key}: dataset ${record.data.name} has changed since the run (hash ${dataset.hash.slice(0, 12)}, the run's ${record.data.hash.slice(0, 12)}); retrain it`,
    );
  }
  if (fmt.tokenizerHash !== record.tokenizerHash) throw new Error(`run ${record.key}: the tokenizer has changed since the run; retrain it`);
  const test = testSetOf(dataset, record.data.dimension ?? undefined, record.data.test, record.spec.condition, fmt, record.sequence);
  if (test.examples.length !== record.data.test) {
    throw new Error(`run ${record.key}: rebuilt ${test.examples.length} test examples, the run had ${record.data.test}`);
  }
  return test;
}

function encodeAll(
  examples: Example[],
  condition: Condition,
  fmt: TextFormat,
  seq: Profile["sequence"],
  pseudo?: PseudoExplanations,
): EncodedExample[] {
  return examples.map((ex) => encodeExample(ex, condition, fmt, seq, pseudo));
}

/** Everything that determines a run, resolved and checked, with its key and folder. */
interface ResolvedRun {
  spec: RunSpec;
  profile: Profile;
  condition: Condition;
  dataset: Dataset;
  dimension: string | null;
  sequence: Profile["sequence"];
  start: ResolvedStart;
  model: ModelConfig;
  fmt: TextFormat;
  trainExamples: Example[];
  test: TestSet;
  trainConfig: TrainConfig;
  data: RunRecord["data"];
  key: string;
  dir: string;
}

/** Step 1: the spec resolved against the profile, the dataset and the start; the key hashes what determines the result. */
function resolveRun(spec: RunSpec, runsDir: string | undefined): ResolvedRun {
  const profile = profileOf(spec);
  const condition = parseCondition(spec.condition);
  if (!Number.isInteger(spec.seed)) throw new Error(`seed must be an integer, got ${spec.seed}`);
  if (spec.explTokens !== undefined && !(Number.isInteger(spec.explTokens) && spec.explTokens >= 0)) {
    throw new Error(`explTokens must be a non-negative integer, got ${spec.explTokens}`);
  }
  const dataset = cachedDataset(spec.dataset);
  const dimension = spec.dimension ?? null;
  const trainExamples = subset(
    ofDimension(dataset.train, spec.dimension, dataset.name),
    profile.maxTrain,
    `${subsetSalt(dataset.name, spec.dimension)}/train`,
  );
  const sequence = { ...profile.sequence, maxExplTokens: spec.explTokens ?? profile.sequence.maxExplTokens };
  const { start, model, fmt } = resolveStart(spec, profile, sequence.maxLen);
  const test = testSetOf(dataset, spec.dimension, profile.maxTest, condition, fmt, sequence);
  const steps = stepsOf(profile, trainExamples.length);
  // A pretrained checkpoint fine-tunes at its own, smaller learning rates (profiles.ts).
  const optimizer = start.checkpoint ? CHECKPOINT_LR[start.lora ? "lora" : "full"] : {};
  const trainConfig: TrainConfig = {
    ...profile.train,
    ...optimizer,
    seed: spec.seed,
    steps,
    ...(spec.recompute === undefined ? {} : { recompute: spec.recompute }),
  };
  const data = {
    name: dataset.name,
    dimension,
    hash: dataset.hash,
    train: trainExamples.length,
    test: test.examples.length,
    labelSet: dataset.labelSet,
  };
  // Runs from scratch keep the keys they had before bases existed; a base or checkpoint (its hash), an adapter and a chat template are part of the key.
  const key = runKey({
    data,
    condition,
    model,
    trainConfig: identifyingConfig(trainConfig),
    sequence,
    tokenizer: fmt.tokenizerHash,
    ...(start.base
      ? { base: start.base.hash, adapter: start.lora }
      : start.checkpoint
        ? { checkpoint: start.checkpoint.hash, adapter: start.lora, chatTemplate: start.checkpoint.chatTemplate }
        : {}),
  });
  return {
    spec,
    profile,
    condition,
    dataset,
    dimension,
    sequence,
    start,
    model,
    fmt,
    trainExamples,
    test,
    trainConfig,
    data,
    key,
    dir: path.join(runsRoot(runsDir), key),
  };
}

/** The folder that a spec's run trains into, found without training: what `xft export --grid` reads. */
export function runFolderOf(spec: RunSpec, runsDir?: string): { key: string; dir: string } {
  const { key, dir } = resolveRun(spec, runsDir);
  return { key, dir };
}

function profileOf(spec: RunSpec): Profile {
  return typeof spec.profile === "object" ? spec.profile : resolveProfile(spec.profile);
}

/** Training steps: the profile's epochs over `examples` training examples, in its batches. */
function stepsOf(profile: Profile, examples: number): number {
  return Math.ceil((profile.epochs * examples) / profile.train.batchSize);
}

/** The steps a spec's run trains, without resolving the rest of it (test set, tokens, start): what a cluster job's time limit counts. */
export function runSteps(spec: RunSpec): number {
  const profile = profileOf(spec);
  const dataset = cachedDataset(spec.dataset);
  return stepsOf(profile, Math.min(ofDimension(dataset.train, spec.dimension, dataset.name).length, profile.maxTrain ?? Infinity));
}

/**
 * Step 2: a finished run in the run's folder, checked, is reused; a damaged one is an error unless the options say to
 * retrain it. Otherwise the folder is made ready: emptied where the run starts afresh, kept where it resumes.
 */
function reuseOrPrepare(run: ResolvedRun, opts: RunOptions): RunRecord | undefined {
  const recordFile = path.join(run.dir, RUN_FILE);
  let fresh = opts.fresh ?? false;
  if (fs.existsSync(recordFile) && !fresh) {
    const check = checkRunFolder<RunRecord>(run.dir, run.key);
    if (check.problems.length > 0 && !opts.retrainDamaged) throw damagedRunError(check);
    // A damaged run is never resumed: its checkpoint is no more to be trusted than its other files.
    fresh = check.problems.length > 0;
    if (!fresh && check.record?.status === "done") return { ...migrateRecord(check.record, run.dir), dir: run.dir, reused: true };
  }
  if (fresh) fs.rmSync(run.dir, { recursive: true, force: true });
  makeDirectory(run.dir);
  return undefined;
}

/** The weights a run starts from, and its LoRA adapter (the only thing that trains then). The caller disposes them. */
function startingWeights(run: ResolvedRun): { params: Params; adapter?: { params: Params; config: LoraConfig } } {
  const { start, model, spec } = run;
  const params = start.base
    ? baseParams(start.base, model as GptConfig)
    : start.checkpoint
      ? checkpointParams(start.checkpoint, model)
      : createParams(model, hashSeed(spec.seed, "init"));
  const adapter = start.lora && { params: createAdapter(model, start.lora, hashSeed(spec.seed, "lora")), config: start.lora };
  return { params, adapter };
}

/** Step 3: training, resumed from the folder's checkpoint where there is one. */
function trainRun(run: ResolvedRun, weights: ReturnType<typeof startingWeights>, opts: RunOptions): Promise<TrainResult> {
  // Pseudo-explanations draw from the training split only, with a seed of their own per run seed.
  const pseudo = isPseudo(run.condition) ? new PseudoExplanations(run.trainExamples, run.fmt, hashSeed(run.spec.seed, "pseudo")) : undefined;
  return train({
    params: weights.params,
    model: run.model,
    config: run.trainConfig,
    examples: encodeAll(run.trainExamples, run.condition, run.fmt, run.sequence, pseudo),
    padId: run.fmt.padId,
    adapter: weights.adapter,
    checkpointFile: path.join(run.dir, CHECKPOINT_FILE),
    shouldStop: opts.shouldStop ?? interruptedSince(),
    onProgress: (p) =>
      opts.onProgress?.({
        phase: "train",
        ...p,
        done: p.step,
        total: p.totalSteps,
        text:
          `step ${p.step}/${p.totalSteps}  loss ${p.loss.toFixed(4)}  ${Math.round(p.tokensPerSec)} tok/s  ` +
          `${formatSeconds(p.elapsedS)} elapsed, ${formatSeconds(p.etaS)} left`,
      }),
  });
}

/**
 * The readout of a test set as a run's condition reads it: right after the prompt for label-first conditions;
 * rationale first, after the explanation the model generates (`rationales`, token ids per example).
 */
export async function readTestSet(
  params: Params,
  model: ModelConfig,
  test: TestSet,
  condition: Condition,
  fmt: TextFormat,
  maxExplTokens: number,
  onProgress?: (done: number, total: number) => void,
): Promise<{ readout: Readout; rationales?: number[][] }> {
  if (!isRationaleFirst(condition)) return { readout: await readLabels(params, model, test.encoded, test.labels, { padId: fmt.padId, onProgress }) };
  const r = await readLabelsRationaleFirst(params, model, test.encoded, test.labels, fmt, { maxExplTokens, onProgress });
  return { readout: r, rationales: r.rationales };
}

/** Step 4: the test readout and its metrics, on the trained weights (LoRA: merged, as inference would). */
async function evaluateTrained(run: ResolvedRun, params: Params, opts: RunOptions): Promise<{ metrics: RunMetrics; predictions: Prediction[] }> {
  const { readout, rationales } = await readTestSet(params, run.model, run.test, run.condition, run.fmt, run.sequence.maxExplTokens, (done, total) =>
    opts.onProgress?.({ phase: "eval", done, total, text: `evaluating ${done}/${total}` }),
  );
  const predictions: Prediction[] = run.test.examples.map((ex, i) => ({
    id: ex.id,
    gold: readout.gold[i],
    predicted: readout.predicted[i],
    probs: Array.from(readout.probs.subarray(i * readout.k, (i + 1) * readout.k), (p) => Number(p.toFixed(6))),
    ...(rationales ? { rationale: run.fmt.decode(rationales[i]) } : {}),
  }));
  return { metrics: runMetrics(readout.gold, readout.predicted, readout.probs, readout.k), predictions };
}

/** Step 5: a finished run's files: predictions, the weights (LoRA: the adapter only), and what they hash to. */
async function writeResults(run: ResolvedRun, weights: ReturnType<typeof startingWeights>, predictions: Prediction[]): Promise<Artifacts> {
  writeFileAtomic(path.join(run.dir, PREDICTIONS_FILE), JSON.stringify(predictions) + "\n");
  const from = run.start.base ?? run.start.checkpoint;
  const adapterOnly = Boolean(weights.adapter && from);
  if (weights.adapter && from)
    await saveAdapter(run.dir, weights.adapter.params, { lora: weights.adapter.config, base: { dir: from.dir, hash: from.hash } });
  else await saveModel(run.dir, weights.params, run.model);
  fs.rmSync(path.join(run.dir, CHECKPOINT_FILE), { force: true });
  return recordArtifacts(run.dir, artifactNames(adapterOnly));
}

function newRecord(run: ResolvedRun, training: TrainResult, backend: BackendInfo): RunRecord {
  const { spec, start, model } = run;
  return {
    version: RUN_RECORD_VERSION,
    key: run.key,
    dir: run.dir,
    status: training.steps < run.trainConfig.steps ? "stopped" : "done",
    reused: false,
    spec: {
      dataset: run.dataset.name,
      dimension: run.dimension,
      condition: run.condition,
      explTokens: spec.explTokens ?? null,
      seed: spec.seed,
      profile: run.profile.name,
    },
    model: { ...model, parameters: countParameters(model) },
    train: run.trainConfig,
    sequence: run.sequence,
    data: run.data,
    tokenizerHash: run.fmt.tokenizerHash,
    init: start.base ? { from: "base", ...start.base } : start.checkpoint ? { from: "hf", ...start.checkpoint } : { from: "scratch" },
    adapter: start.lora ?? null,
    datasetSource: run.dataset.name === spec.dataset ? spec.dataset : path.resolve(spec.dataset),
    environment: collectEnvironment(backend),
    wallS: 0,
    training,
  };
}

/** One run, top to bottom: resolve, reuse or train, evaluate, write. */
export async function runExperiment(spec: RunSpec, opts: RunOptions = {}): Promise<RunRecord> {
  const run = resolveRun(spec, opts.runsDir);
  // Another process training this run is waited for; its finished run is then reused below (run-lock.ts).
  const lock = await lockRun(path.dirname(run.dir), run.key, { onWait: opts.onWait ?? ((m) => notice(`xft: ${m}`)) });
  try {
    return await trainOrReuse(run, opts);
  } finally {
    lock.release();
  }
}

async function trainOrReuse(run: ResolvedRun, opts: RunOptions): Promise<RunRecord> {
  const reused = reuseOrPrepare(run, opts);
  if (reused) return reused;
  const backend = await initBackend();
  const started = Date.now();
  const weights = startingWeights(run);
  let merged: Params | undefined;
  try {
    const record = newRecord(run, await trainRun(run, weights, opts), backend);
    if (record.status === "done") {
      merged = weights.adapter && mergeAdapter(weights.params, weights.adapter.params, weights.adapter.config);
      const { metrics, predictions } = await evaluateTrained(run, merged ?? weights.params, opts);
      record.metrics = metrics;
      record.artifacts = await writeResults(run, weights, predictions);
    }
    record.wallS = (Date.now() - started) / 1000;
    writeFileAtomic(path.join(run.dir, RUN_FILE), JSON.stringify(record, null, 1) + "\n");
    return record;
  } finally {
    for (const p of [weights.params, weights.adapter?.params, merged]) if (p) disposeParams(p);
  }
}

/** A RunStart resolved and checked: the base (by its card) or the checkpoint it names, and the full LoRA settings. */
interface ResolvedStart {
  base?: BaseRef;
  checkpoint?: CheckpointRef;
  lora?: LoraConfig;
}

/** The start, the model it gives a run of `maxLen` positions, and the text format that model reads. */
function resolveStart(spec: RunSpec, profile: Profile, maxLen: number): { start: ResolvedStart; model: ModelConfig; fmt: TextFormat } {
  const init = parseInit(spec.init ?? "scratch");
  const adapterKind = spec.adapter ?? "none";
  if (adapterKind !== "none" && adapterKind !== "lora") throw new Error(`adapter must be none or lora, got "${adapterKind}"`);
  if (init !== "base" && spec.base !== undefined) throw new Error(`a base folder is given but init is ${init}: use init base (--init base)`);
  if (spec.chatTemplate && !init.startsWith("hf:"))
    throw new Error(`a chat template is a checkpoint's, but init is ${init}: use it with init hf:DIR (--init hf:DIR)`);
  if (init.startsWith("hf:")) {
    const { checkpoint, start } = checkCheckpoint(init, spec.chatTemplate);
    const model = checkpointRunConfig(checkpoint, maxLen);
    // A checkpoint's LoRA targets every linear layer of its family unless told otherwise.
    const lora = adapterKind === "lora" ? { ...DEFAULT_LORA, targets: allLinearTargets(model), ...spec.lora } : undefined;
    if (lora) adapterShapes(model, lora);
    return { start: { checkpoint: start, lora }, model, fmt: checkpointFormat(start, model) };
  }
  const tok = XftTokenizer.load();
  const model: GptConfig = { ...profile.model, vocabSize: tok.vocabSize, maxLen };
  const fmt = xftFormat(tok);
  if (init === "scratch") {
    if (adapterKind === "lora")
      throw new Error("a LoRA adapter needs pretrained weights: use init base (--init base) or a checkpoint (--init hf:DIR) with it");
    return { start: {}, model, fmt };
  }
  const lora = adapterKind === "lora" ? { ...DEFAULT_LORA, ...spec.lora } : undefined;
  if (lora) validateLoraConfig(lora);
  const baseDir = spec.base ?? defaultBaseDir(profile.name);
  const baseModel = baseRunModel(baseDir, profile.model, tok.vocabSize, maxLen);
  return { start: { base: checkBase(baseDir, baseModel, tok.hash), lora }, model: baseModel, fmt };
}

/**
 * A finished run's model, ready for inference: its saved weights, or for a LoRA run the base it was trained
 * on (checked by hash) with its adapter merged in. The caller disposes the parameters.
 */
export function loadRunModel(record: Pick<RunRecord, "key" | "dir" | "init" | "adapter" | "tokenizerHash" | "model">): {
  params: Params;
  config: ModelConfig;
} {
  if (!record.adapter) return loadModel(record.dir);
  const { parameters: _parameters, ...config } = record.model;
  const base = adaptedWeights(record, config);
  const { adapter, info } = loadAdapter(record.dir, config);
  try {
    return { params: mergeAdapter(base, adapter, info.lora), config };
  } finally {
    disposeParams(base);
    disposeParams(adapter);
  }
}

/** The weights a LoRA run's adapter was trained on: its base or checkpoint, checked against the hash the run recorded. */
function adaptedWeights(record: Pick<RunRecord, "key" | "init" | "tokenizerHash">, config: ModelConfig): Params {
  const init = record.init;
  if (init?.from === "hf") return checkpointParams(init, config);
  if (init?.from !== "base") throw new Error(`run ${record.key}: a LoRA run without a base in its record`);
  if (checkBase(init.dir, config as GptConfig, record.tokenizerHash).hash !== init.hash) {
    throw new Error(`run ${record.key}: its base ${init.dir} has changed since the run (another weights hash); retrain it`);
  }
  return baseParams(init, config as GptConfig);
}

/** The format of run.json; `migrateRecord` brings an older record up to this one. */
const RUN_RECORD_VERSION = 2;

/**
 * A record of an older format brought up to date, and rewritten, so that reusing a run never means retraining or a
 * record with fields missing. Version 1 (records without `version`): a run finished before MAE, QWK, ECE and Brier
 * were recorded gets them from its predictions.json. Records of version 1 have no `artifacts` to check.
 */
function migrateRecord(record: RunRecord, dir: string): RunRecord {
  if ((record.version ?? 1) >= RUN_RECORD_VERSION) return record;
  const stored: Partial<RunMetrics> | undefined = record.metrics;
  let metrics = record.metrics;
  if (stored !== undefined && stored.brier === undefined) {
    const predictions = readPredictions({ ...record, dir });
    metrics = runMetrics(
      predictions.map((p) => p.gold),
      predictions.map((p) => p.predicted),
      predictions.flatMap((p) => p.probs),
      record.data.labelSet.length,
    );
  }
  const upgraded: RunRecord = { ...record, version: RUN_RECORD_VERSION, metrics };
  writeFileAtomic(path.join(dir, RUN_FILE), JSON.stringify(upgraded, null, 1) + "\n");
  return upgraded;
}

/** A stored run's record, by its key (a folder under the runs folder) or by the path of its folder. */
export function readRunRecord(keyOrDir: string, opts: Pick<RunOptions, "runsDir"> = {}): RunRecord {
  const dir = fs.existsSync(path.join(keyOrDir, RUN_FILE)) ? keyOrDir : path.join(runsRoot(opts.runsDir), keyOrDir);
  const file = path.join(dir, RUN_FILE);
  if (!fs.existsSync(file)) throw new Error(`no run "${keyOrDir}": neither a run folder nor a key under ${runsRoot(opts.runsDir)}`);
  return { ...readJsonFile<RunRecord>(file, `run ${path.basename(path.resolve(dir))}`), dir: path.resolve(dir) };
}

/** The per-example predictions a finished run stored beside its record. */
export function readPredictions(record: Pick<RunRecord, "key" | "dir">): Prediction[] {
  const file = path.join(record.dir, PREDICTIONS_FILE);
  if (!fs.existsSync(file)) throw new Error(`run ${record.key} (${record.dir}) has no ${PREDICTIONS_FILE}; is it finished?`);
  return readJsonFile<Prediction[]>(file, `run ${record.key}`);
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, "0")}s` : `${s.toFixed(1)}s`;
}
