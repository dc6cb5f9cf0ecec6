/**
 * The constrained label readout of docs/protocol.md: each label's log-probability after the prompt, restricted to the
 * label set and renormalised. prediction = argmax, confidence = max, sharpness = entropy of that distribution.
 * A label of several tokens scores the sum of its tokens' log-probabilities (as lm-evaluation-harness scores
 * multiple choice); where every label is one token (xft's own format) that is the softmax of the K label logits
 * at the prompt's last position, and is computed as such.
 *
 * Label-first conditions read the label right after the prompt (its cue, <|score|> or "Score:"): `readLabels`.
 * `expl+label` first generates the explanation greedily and reads the label where the model would write it:
 * `readLabelsRationaleFirst`.
 */
import { assertBackendHealthy, tf } from "../backend/engine";
import { flatPositions, forward, headWeight, ModelConfig, Params } from "../model/model";
import type { RationaleEnd, TextFormat } from "../text/format";
import { EncodedExample, makeBatch } from "../train/sequences";
import { yieldToEventLoop } from "../util/event-loop";

export interface Readout {
  /** [N * K] label probabilities, row-major. */
  probs: Float32Array;
  /** Number of labels K. */
  k: number;
  predicted: number[];
  gold: number[];
}

/** Every label one token: the fast path, one position per prompt. */
export function singleTokenLabels(labels: readonly number[][]): number[] | undefined {
  return labels.every((l) => l.length === 1) ? labels.map((l) => l[0]) : undefined;
}

/** Final hidden states [rows, d] at position positions[b] of each row b. */
function hiddenAt(params: Params, model: ModelConfig, inputs: tf.Tensor2D, positions: readonly number[]): tf.Tensor2D {
  const [B, T] = inputs.shape;
  const { hidden } = forward(params, model, inputs);
  return tf.gather(
    hidden.reshape([B * T, model.dModel]),
    flatPositions(
      T,
      positions.map((_, b) => b),
      positions,
    ),
  ) as tf.Tensor2D;
}

/** Label logits [rows, K] from hidden states [rows, d], through the head restricted to single-token labels. */
export function labelLogitsOf(params: Params, picked: tf.Tensor2D, labelTokenIds: readonly number[]): tf.Tensor2D {
  const labelEmb = tf.gather(headWeight(params), tf.tensor1d(labelTokenIds as number[], "int32"));
  return tf.matMul(picked, labelEmb, false, true) as tf.Tensor2D;
}

function batchInputs(seqs: readonly number[][], padId: number, maxLen: number): { inputs: tf.Tensor2D; length: number } {
  const batch = makeBatch(
    seqs.map((tokens) => ({ tokens, promptLen: tokens.length, label: 0 })),
    padId,
    maxLen,
    false,
  );
  return { inputs: tf.tensor2d(batch.inputs, [batch.rows, batch.length], "int32"), length: batch.length };
}

/** Softmax over each row of K scores (log-probabilities), in float64. */
function renormalise(scores: Float64Array, k: number): Float32Array {
  const out = new Float32Array(scores.length);
  for (let r = 0; r < scores.length / k; r++) {
    const row = scores.subarray(r * k, (r + 1) * k);
    const max = Math.max(...row);
    let sum = 0;
    for (const s of row) sum += Math.exp(s - max);
    row.forEach((s, c) => (out[r * k + c] = Math.exp(s - max) / sum));
  }
  return out;
}

/**
 * How a batch scores labels of several tokens: one row per (prompt, label), the prompt followed by the label's
 * tokens but its last; each label token is predicted at one (row, position). `rowOf[m]` is row m's (prompt, label)
 * index, prompt * K + label.
 */
export interface LabelScoring {
  rows: number[][];
  rowOf: number[];
  positions: number[];
  targets: number[];
}

export function labelScoring(prompts: readonly number[][], labels: readonly number[][]): LabelScoring {
  const scoring: LabelScoring = { rows: [], rowOf: [], positions: [], targets: [] };
  prompts.forEach((p, i) =>
    labels.forEach((l, k) => {
      scoring.rows.push([...p, ...l.slice(0, -1)]);
      l.forEach((token, j) => {
        scoring.rowOf.push(i * labels.length + k);
        scoring.positions.push(p.length - 1 + j);
        scoring.targets.push(token);
      });
    }),
  );
  return scoring;
}

/** Each predicted label token's log-probability [M] from hidden states [M, d] already normalised by the final norm. */
export function tokenLogProbs(params: Params, normed: tf.Tensor2D, targets: readonly number[]): tf.Tensor1D {
  const logprobs = tf.logSoftmax(tf.matMul(normed, headWeight(params), false, true)) as tf.Tensor2D;
  const V = logprobs.shape[1];
  return tf.gather(
    logprobs.reshape([-1]),
    tf.tensor1d(
      targets.map((t, m) => m * V + t),
      "int32",
    ),
  ) as tf.Tensor1D;
}

/** The label distributions [prompts * K] from each predicted token's log-probability: sums per label, renormalised. */
export function labelDistribution(tokenLogprobs: ArrayLike<number>, scoring: LabelScoring, k: number): Float32Array {
  const sums = new Float64Array(scoring.rows.length);
  for (let m = 0; m < tokenLogprobs.length; m++) sums[scoring.rowOf[m]] += tokenLogprobs[m];
  return renormalise(sums, k);
}

/** The distribution of labels of several tokens after each prompt (`labelScoring`). */
async function multiTokenLabels(
  params: Params,
  model: ModelConfig,
  prompts: readonly number[][],
  labels: readonly number[][],
  padId: number,
): Promise<Float32Array> {
  const scoring = labelScoring(prompts, labels);
  const picked = tf.tidy(() => {
    const { inputs, length } = batchInputs(scoring.rows, padId, model.maxLen);
    const { hidden } = forward(params, model, inputs);
    const [rows, T, d] = hidden.shape;
    const normed = tf.gather(hidden.reshape([rows * T, d]), flatPositions(length, scoring.rowOf, scoring.positions)) as tf.Tensor2D;
    return tokenLogProbs(params, normed, scoring.targets);
  });
  const values = await picked.data();
  picked.dispose();
  return labelDistribution(values, scoring, labels.length);
}

/** Label probabilities [prompts * K] for prompts given as token ids, read right after each prompt. */
export async function readLabelsBatch(
  params: Params,
  model: ModelConfig,
  prompts: readonly number[][],
  labels: readonly number[][],
  padId: number,
): Promise<Float32Array> {
  const single = singleTokenLabels(labels);
  let probs: Float32Array;
  if (single) {
    const p = tf.tidy(() =>
      tf.softmax(
        labelLogitsOf(
          params,
          hiddenAt(
            params,
            model,
            batchInputs(prompts, padId, model.maxLen).inputs,
            prompts.map((t) => t.length - 1),
          ),
          single,
        ),
      ),
    );
    probs = (await p.data()) as Float32Array;
    p.dispose();
  } else {
    probs = await multiTokenLabels(params, model, prompts, labels, padId);
  }
  assertBackendHealthy();
  return probs;
}

/** Prompts per batch: 64, divided among the K rows a prompt takes when labels have several tokens. */
function promptsPerBatch(labels: readonly number[][], batchSize = 64): number {
  return singleTokenLabels(labels) ? batchSize : Math.max(1, Math.floor(batchSize / labels.length));
}

export async function readLabels(
  params: Params,
  model: ModelConfig,
  examples: readonly EncodedExample[],
  labels: readonly number[][],
  opts: { padId: number; batchSize?: number; onProgress?: (done: number, total: number) => void },
): Promise<Readout> {
  const k = labels.length;
  const batchSize = promptsPerBatch(labels, opts.batchSize);
  const probs = new Float32Array(examples.length * k);
  for (let start = 0; start < examples.length; start += batchSize) {
    const prompts = examples.slice(start, start + batchSize).map((e) => e.tokens.slice(0, e.promptLen));
    probs.set(await readLabelsBatch(params, model, prompts, labels, opts.padId), start * k);
    opts.onProgress?.(Math.min(start + batchSize, examples.length), examples.length);
    await yieldToEventLoop();
  }
  return readoutOf(probs, k, examples);
}

/**
 * The readout of both readers, where the probabilities are checked once: a NaN would pass argmax as label 0
 * and the metrics as a number, so a non-finite probability is an error naming the example.
 */
function readoutOf(probs: Float32Array, k: number, examples: readonly EncodedExample[]): Readout {
  const bad = probs.findIndex((p) => !Number.isFinite(p));
  if (bad >= 0) {
    throw new Error(
      `readout: example ${Math.floor(bad / k)} has a non-finite label probability (${probs[bad]}) for label ${bad % k}; the model's weights or activations are not finite`,
    );
  }
  const predicted = examples.map((_, i) => argmax(probs.subarray(i * k, (i + 1) * k)));
  return { probs, k, predicted, gold: examples.map((e) => e.label) };
}

/** Why a rationale-first row stopped generating: the format's label cue (xft: a label token), the end, or the cap. */
export type RationaleStop = RationaleEnd | "cap";

export interface RationaleReadout extends Readout {
  /** Per example, the generated explanation token ids (without the token it stopped at). */
  rationales: number[][];
  stops: RationaleStop[];
}

/** The format's part in a rationale-first readout: what opens and closes a rationale, and what ends one. */
export type RationaleFormat = Pick<TextFormat, "padId" | "rationaleOpen" | "rationaleClose" | "endsRationale">;

export interface RationaleOptions {
  /** Most explanation tokens generated; at the cap the label is read whatever the model would write. */
  maxExplTokens: number;
  /** Prompts per batch (default 64). */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * One greedy step for the rows of a batch: for each sequence, the argmax over the whole vocabulary at its last
 * token, and where `single` labels are given the label distribution [rows * K] there. Sequences are right-padded;
 * with the causal mask no real position sees a pad, so a row's numbers do not depend on the others'.
 */
async function greedyStep(
  params: Params,
  model: ModelConfig,
  seqs: readonly number[][],
  single: readonly number[] | undefined,
  padId: number,
): Promise<{ next: Int32Array; probs?: Float32Array }> {
  const outputs = tf.tidy(() => {
    const picked = hiddenAt(
      params,
      model,
      batchInputs(seqs, padId, model.maxLen).inputs,
      seqs.map((t) => t.length - 1),
    );
    const next = tf.argMax(tf.matMul(picked, headWeight(params), false, true), 1).toInt();
    return single ? [next, tf.softmax(labelLogitsOf(params, picked, single))] : [next];
  });
  const [next, probs] = await Promise.all(outputs.map((t) => t.data()));
  tf.dispose(outputs);
  assertBackendHealthy();
  return { next: next as Int32Array, probs: probs as Float32Array | undefined };
}

/**
 * The rationale-first readout of `expl+label`. For each prompt: append the format's rationale opening (xft's
 * <|expl|>), then repeatedly take the argmax over the full vocabulary at the last token; a row stops as soon as
 * that token ends the rationale (the format says which: xft's label tokens and <|eos|>, a pretrained checkpoint's
 * newline and eos), or when it has generated `maxExplTokens` tokens (or would outgrow the model's maxLen).
 * Otherwise the argmax is appended to the explanation. The label is then read after the rationale and the
 * format's close ("\nScore:"), as `readLabels` reads it after a prompt; where the close is empty and every label
 * one token, that is the distribution of the step that stopped. Rows stop at different steps; each step runs only
 * the rows still generating.
 */
export async function readLabelsRationaleFirst(
  params: Params,
  model: ModelConfig,
  examples: readonly EncodedExample[],
  labels: readonly number[][],
  fmt: RationaleFormat,
  opts: RationaleOptions,
): Promise<RationaleReadout> {
  if (!(Number.isInteger(opts.maxExplTokens) && opts.maxExplTokens >= 0)) {
    throw new Error(`maxExplTokens must be a non-negative integer, got ${opts.maxExplTokens}`);
  }
  const k = labels.length;
  const batchSize = promptsPerBatch(labels, opts.batchSize);
  const atStop = fmt.rationaleClose.length === 0 ? singleTokenLabels(labels) : undefined;
  // Room after the rationale: its close and the longest label (whose last token is only predicted, never read).
  const after = fmt.rationaleClose.length + Math.max(...labels.map((l) => l.length)) - 1;
  const probs = new Float32Array(examples.length * k);
  const rationales: number[][] = examples.map(() => []);
  const stops: RationaleStop[] = new Array(examples.length);
  for (let start = 0; start < examples.length; start += batchSize) {
    const ids = examples.slice(start, start + batchSize).map((_, j) => start + j);
    const seqs = new Map(ids.map((i) => [i, [...examples[i].tokens.slice(0, examples[i].promptLen), ...fmt.rationaleOpen]]));
    for (const [i, seq] of seqs) {
      if (seq.length + after > model.maxLen)
        throw new Error(
          `example ${i}: a prompt of ${examples[i].promptLen} tokens leaves no room for a rationale and its label within maxLen ${model.maxLen}`,
        );
    }
    const caps = new Map(ids.map((i) => [i, Math.min(opts.maxExplTokens, model.maxLen - after - seqs.get(i)!.length)]));
    let active = ids;
    while (active.length > 0) {
      const { next, probs: p } = await greedyStep(
        params,
        model,
        active.map((i) => seqs.get(i)!),
        atStop,
        fmt.padId,
      );
      const still: number[] = [];
      active.forEach((i, r) => {
        const token = next[r];
        const stop: RationaleStop | undefined = fmt.endsRationale(token, labels) ?? (rationales[i].length >= caps.get(i)! ? "cap" : undefined);
        if (stop === undefined) {
          rationales[i].push(token);
          seqs.get(i)!.push(token);
          still.push(i);
        } else {
          stops[i] = stop;
          if (p) probs.set(p.subarray(r * k, (r + 1) * k), i * k);
        }
      });
      active = still;
      await yieldToEventLoop();
    }
    if (!atStop)
      probs.set(
        await readLabelsBatch(
          params,
          model,
          ids.map((i) => [...seqs.get(i)!, ...fmt.rationaleClose]),
          labels,
          fmt.padId,
        ),
        start * k,
      );
    opts.onProgress?.(Math.min(start + batchSize, examples.length), examples.length);
  }
  return { ...readoutOf(probs, k, examples), rationales, stops };
}

export function argmax(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/** Entropy (nats) of a probability vector. */
export function entropy(p: ArrayLike<number>): number {
  let h = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) h -= p[i] * Math.log(p[i]);
  return h;
}
