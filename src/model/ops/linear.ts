/**
 * Linear layers x W (+ b) by parameter name, with an unmerged LoRA adapter's low-rank update where it adapts
 * that matrix (training; inference merges the adapter into the weights, model/lora.ts).
 */
import { tf } from "../../backend/engine";
import { linear } from "../../backend/native";
import { hashSeed } from "../../util/rng";
import type { Params } from "./params";

/**
 * An unmerged LoRA adapter for training: `<matrix>.lora_a` [in, r] and `<matrix>.lora_b` [r, out] add
 * scale * dropout(x) A B to the matrix's output.
 */
export interface LoraForward {
  adapter: Params;
  scale: number;
  dropout: number;
  /** Seeds this step's dropout masks (one per matrix, derived from it). */
  dropoutSeed: number;
}

/** x [N, in] -> [N, out] through the matrix named `w` and the bias named `b` (none where absent). */
export type Projection = (x: tf.Tensor, w: string, b?: string) => tf.Tensor2D;

export function projection(params: Params, lora?: LoraForward): Projection {
  return (x, w, b) => {
    const x2 = x as tf.Tensor2D;
    const bias = b === undefined ? undefined : params[b];
    // On the native backend `linear` runs TensorFlow's fused MatMul+BiasAdd directly (backend/native.ts).
    const y: tf.Tensor2D = bias ? linear(x2, params[w] as tf.Tensor2D, bias as tf.Tensor1D) : tf.matMul(x2, params[w] as tf.Tensor2D);
    const a = lora?.adapter[w + ".lora_a"];
    if (!lora || !a) return y;
    const dropped = lora.dropout > 0 ? tf.dropout(x2, lora.dropout, undefined, hashSeed(lora.dropoutSeed, w)) : x2;
    return y.add(tf.matMul(dropped, a).mul(lora.scale).matMul(lora.adapter[w + ".lora_b"])) as tf.Tensor2D;
  };
}
