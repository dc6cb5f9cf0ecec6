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
    // On the native backend `linear` runs TensorFlow's fused MatMul+BiasAdd directly (backend/native.ts); under
    // LoRA the model's own weights are frozen, and their gradients are never made.
    const y: tf.Tensor2D = bias
      ? linear(x2, params[w] as tf.Tensor2D, bias as tf.Tensor1D, lora !== undefined)
      : tf.matMul(x2, params[w] as tf.Tensor2D);
    const a = lora?.adapter[w + ".lora_a"];
    if (!lora || !a) return y;
    const update = loraUpdate(lora.scale, lora.dropout, hashSeed(lora.dropoutSeed, w));
    return y.add(update(x2, a as tf.Tensor2D, lora.adapter[w + ".lora_b"] as tf.Tensor2D)) as tf.Tensor2D;
  };
}

/**
 * The adapter's update scale * dropout(x) A B as one op with a hand-written gradient: autodiff would keep the
 * dropout's float multiplier and dropout(x), each [N, in], for every adapted matrix (GPT-2 small at batch 8 x 256:
 * about 0.9 GiB over its 48 matrices). This keeps which inputs the dropout kept, as booleans, and x A scale [N, r];
 * the backward pass remakes the multiplier and dropout(x) from them. Every number is the one tfjs's dropout
 * (tf.dropout: floor(u + keep) / keep with u ~ U[0, 1) of the seed) and autodiff give, op for op.
 */
function loraUpdate(scale: number, rate: number, seed: number): (x: tf.Tensor2D, a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D {
  const keep = 1 - rate;
  const multiplierOf = (kept: tf.Tensor) => tf.div(kept.cast("float32"), keep);
  return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    const kept = rate > 0 ? tf.floor(tf.add(tf.randomUniform(x.shape, 0, 1, "float32", seed), keep)).cast("bool") : undefined;
    const dropped = kept ? x.mul(multiplierOf(kept)) : x;
    const xaScaled = tf.matMul(dropped, a).mul(scale);
    save(kept ? [x, a, b, xaScaled, kept] : [x, a, b, xaScaled]);
    return {
      value: tf.matMul(xaScaled, b),
      // The products as tfjs's gradients of matMul and mul take them, so that the numbers are autodiff's.
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sx, sa, sb, sxa, skept] = saved as tf.Tensor2D[];
          const multiplier = skept ? multiplierOf(skept) : undefined;
          const dXa = tf.matMul(dy, sb, false, true).mul(scale);
          const dDropped = tf.matMul(dXa, sa, false, true);
          const dx = multiplier ? dDropped.mul(multiplier) : dDropped;
          const da = tf.matMul(multiplier ? sx.mul(multiplier) : sx, dXa, true, false);
          return [dx, da, tf.matMul(sxa, dy, true, false)];
        }),
    };
  }) as (x: tf.Tensor2D, a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;
}
