/**
 * The constrained label readout of PROTOCOL.md: at the label position, keep only the K label tokens'
 * logits and renormalise. prediction = argmax, confidence = max, sharpness = entropy of that distribution.
 */
import { assertBackendHealthy, tf } from "../backend/engine";
import { forward, GptConfig, Params } from "../model/gpt";
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

/** Label logits [rows, K] at each row's last prompt position. */
export function labelLogits(
  params: Params, model: GptConfig, inputs: tf.Tensor2D, positions: readonly number[], labelTokenIds: readonly number[],
): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, T] = inputs.shape;
    const { hidden } = forward(params, model, inputs);
    const flat = tf.tensor1d(positions.map((t, b) => b * T + t), "int32");
    const picked = tf.gather(hidden.reshape([B * T, model.dModel]), flat);
    const labelEmb = tf.gather(params.wte, tf.tensor1d(labelTokenIds as number[], "int32"));
    return tf.matMul(picked, labelEmb, false, true) as tf.Tensor2D;
  });
}

/** Label probabilities [prompts * K] for prompts given as token ids, read at each prompt's last token. */
export async function readLabelsBatch(
  params: Params, model: GptConfig, prompts: readonly number[][], labelTokenIds: readonly number[], padId: number,
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
  params: Params, model: GptConfig, examples: readonly EncodedExample[], labelTokenIds: readonly number[],
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
