/**
 * The constrained label readout of PROTOCOL.md: at the label position, keep only the K label tokens'
 * logits and renormalise. prediction = argmax, confidence = max, sharpness = entropy of that distribution.
 *
 * Label-first conditions read the label at the prompt's last token (<|score|>): `readLabels`.
 * `expl+label` first generates the explanation greedily after <|expl|> and reads the label where the
 * model would write it: `readLabelsRationaleFirst`.
 */
import { assertBackendHealthy, tf } from "../backend/engine";
import { flatPositions, forward, headWeight, ModelConfig, Params } from "../model/model";
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

/** Final hidden states [rows, d] at position positions[b] of each row b. */
function hiddenAt(params: Params, model: ModelConfig, inputs: tf.Tensor2D, positions: readonly number[]): tf.Tensor2D {
  const [B, T] = inputs.shape;
  const { hidden } = forward(params, model, inputs);
  return tf.gather(hidden.reshape([B * T, model.dModel]), flatPositions(T, positions.map((_, b) => b), positions)) as tf.Tensor2D;
}

/** Label logits [rows, K] from hidden states [rows, d], through the head restricted to the label tokens. */
export function labelLogitsOf(params: Params, picked: tf.Tensor2D, labelTokenIds: readonly number[]): tf.Tensor2D {
  const labelEmb = tf.gather(headWeight(params), tf.tensor1d(labelTokenIds as number[], "int32"));
  return tf.matMul(picked, labelEmb, false, true) as tf.Tensor2D;
}

/** Label logits [rows, K] at each row's last prompt position. */
export function labelLogits(
  params: Params, model: ModelConfig, inputs: tf.Tensor2D, positions: readonly number[], labelTokenIds: readonly number[],
): tf.Tensor2D {
  return tf.tidy(() => labelLogitsOf(params, hiddenAt(params, model, inputs, positions), labelTokenIds));
}

/** Label probabilities [prompts * K] for prompts given as token ids, read at each prompt's last token. */
export async function readLabelsBatch(
  params: Params, model: ModelConfig, prompts: readonly number[][], labelTokenIds: readonly number[], padId: number,
): Promise<Float32Array> {
  const batch = makeBatch(prompts.map((tokens) => ({ tokens, promptLen: tokens.length, label: 0 })), padId, model.maxLen, false);
  const p = tf.tidy(() => {
    const inputs = tf.tensor2d(batch.inputs, [batch.rows, batch.length], "int32");
    return tf.softmax(labelLogits(params, model, inputs, prompts.map((t) => t.length - 1), labelTokenIds));
  });
  const probs = (await p.data()) as Float32Array;
  p.dispose();
  assertBackendHealthy();
  return probs;
}

export async function readLabels(
  params: Params, model: ModelConfig, examples: readonly EncodedExample[], labelTokenIds: readonly number[],
  opts: { padId: number; batchSize?: number; onProgress?: (done: number, total: number) => void },
): Promise<Readout> {
  const k = labelTokenIds.length;
  const batchSize = opts.batchSize ?? 64;
  const probs = new Float32Array(examples.length * k);
  for (let start = 0; start < examples.length; start += batchSize) {
    const prompts = examples.slice(start, start + batchSize).map((e) => e.tokens.slice(0, e.promptLen));
    probs.set(await readLabelsBatch(params, model, prompts, labelTokenIds, opts.padId), start * k);
    opts.onProgress?.(Math.min(start + batchSize, examples.length), examples.length);
    await yieldToEventLoop();
  }
  const predicted = examples.map((_, i) => argmax(probs.subarray(i * k, (i + 1) * k)));
  return { probs, k, predicted, gold: examples.map((e) => e.label) };
}

/** Why a rationale-first row stopped generating: it chose a label token, it chose <|eos|>, or it reached the cap. */
export type RationaleStop = "label" | "eos" | "cap";

export interface RationaleReadout extends Readout {
  /** Per example, the generated explanation token ids (after <|expl|>, without the token it stopped at). */
  rationales: number[][];
  stops: RationaleStop[];
}

export interface RationaleOptions {
  padId: number;
  /** Id of <|expl|>, appended to every prompt before generating. */
  explId: number;
  /** Id of <|eos|>: a row that chooses it stops, and its label is read there. */
  eosId: number;
  /** Most explanation tokens generated; at the cap the label is read whatever the model would write. */
  maxExplTokens: number;
  /** Prompts per batch (default 64). */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * One greedy step for the rows of a batch: for each sequence, the argmax over the whole vocabulary at its last
 * token and the label distribution [rows * K] there. Sequences are right-padded; with the causal mask no real
 * position sees a pad, so a row's numbers do not depend on the others'.
 */
async function greedyStep(
  params: Params, model: ModelConfig, seqs: readonly number[][], labelTokenIds: readonly number[], padId: number,
): Promise<{ next: Int32Array; probs: Float32Array }> {
  const batch = makeBatch(seqs.map((tokens) => ({ tokens, promptLen: tokens.length, label: 0 })), padId, model.maxLen, false);
  const [nextT, probsT] = tf.tidy(() => {
    const inputs = tf.tensor2d(batch.inputs, [batch.rows, batch.length], "int32");
    const picked = hiddenAt(params, model, inputs, seqs.map((t) => t.length - 1));
    const logits = tf.matMul(picked, headWeight(params), false, true);
    return [tf.argMax(logits, 1).toInt(), tf.softmax(labelLogitsOf(params, picked, labelTokenIds))];
  });
  const [next, probs] = await Promise.all([nextT.data() as Promise<Int32Array>, probsT.data() as Promise<Float32Array>]);
  nextT.dispose();
  probsT.dispose();
  assertBackendHealthy();
  return { next, probs };
}

/**
 * The rationale-first readout of `expl+label`. For each prompt (ending in <|score|>): append <|expl|>, then
 * repeatedly take the argmax over the full vocabulary at the last token; a row stops as soon as that argmax
 * is one of the K label tokens or <|eos|>, or when it has generated `maxExplTokens` tokens (or would outgrow
 * the model's maxLen), and its label distribution is read at that position as `readLabels` reads it at
 * <|score|>: the K label logits, renormalised. Otherwise the argmax is appended to the explanation.
 * Rows of a batch stop at different steps; each step runs only the rows still generating.
 */
export async function readLabelsRationaleFirst(
  params: Params, model: ModelConfig, examples: readonly EncodedExample[], labelTokenIds: readonly number[], opts: RationaleOptions,
): Promise<RationaleReadout> {
  if (!(Number.isInteger(opts.maxExplTokens) && opts.maxExplTokens >= 0)) {
    throw new Error(`maxExplTokens must be a non-negative integer, got ${opts.maxExplTokens}`);
  }
  const k = labelTokenIds.length;
  const batchSize = opts.batchSize ?? 64;
  const isLabel = new Set(labelTokenIds);
  const probs = new Float32Array(examples.length * k);
  const rationales: number[][] = examples.map(() => []);
  const stops: RationaleStop[] = new Array(examples.length);
  for (let start = 0; start < examples.length; start += batchSize) {
    const ids = examples.slice(start, start + batchSize).map((_, j) => start + j);
    const seqs = new Map(ids.map((i) => [i, [...examples[i].tokens.slice(0, examples[i].promptLen), opts.explId]]));
    for (const [i, seq] of seqs) {
      if (seq.length > model.maxLen) throw new Error(`example ${i}: a prompt of ${seq.length - 1} tokens leaves no room for <|expl|> within maxLen ${model.maxLen}`);
    }
    const caps = new Map(ids.map((i) => [i, Math.min(opts.maxExplTokens, model.maxLen - seqs.get(i)!.length)]));
    let active = ids;
    while (active.length > 0) {
      const { next, probs: p } = await greedyStep(params, model, active.map((i) => seqs.get(i)!), labelTokenIds, opts.padId);
      const still: number[] = [];
      active.forEach((i, r) => {
        const token = next[r];
        const stop: RationaleStop | undefined = isLabel.has(token) ? "label" : token === opts.eosId ? "eos"
          : rationales[i].length >= caps.get(i)! ? "cap" : undefined;
        if (stop === undefined) {
          rationales[i].push(token);
          seqs.get(i)!.push(token);
          still.push(i);
        } else {
          stops[i] = stop;
          probs.set(p.subarray(r * k, (r + 1) * k), i * k);
        }
      });
      active = still;
      await yieldToEventLoop();
    }
    opts.onProgress?.(Math.min(start + batchSize, examples.length), examples.length);
  }
  const predicted = examples.map((_, i) => argmax(probs.subarray(i * k, (i + 1) * k)));
  return { probs, k, predicted, gold: examples.map((e) => e.label), rationales, stops };
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
