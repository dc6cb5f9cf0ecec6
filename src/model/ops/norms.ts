/**
 * Normalisations over the last axis: LayerNorm (GPT-2, xft's GPT) and RMSNorm (Llama, Mistral, Qwen2).
 *
 * Each runs as the backend's fused op where it has one (backend/fused-ops.ts), else as tfjs ops, LayerNorm with a
 * hand-written gradient. Every hand-written gradient here runs in a tidy: tfjs calls a custom gradient outside
 * one, so its temporaries would otherwise stay alive until the whole backward pass ends.
 */
import { tf } from "../../backend/engine";
import { FusedOps, fusedOps } from "../../backend/fused-ops";

/** GPT-2's LayerNorm epsilon, and xft's. */
export const LN_EPS = 1e-5;

/** LayerNorm with gain g and bias b. */
export function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps = LN_EPS): tf.Tensor {
  const fused = fusedOps();
  return fused ? fused.layerNorm(x, g, b, eps) : affineLayerNorm(eps)(x, g, b);
}

/**
 * The residual add x + delta and the LayerNorm of the sum as one op, [sum, normed], where the backend has fused ops;
 * undefined elsewhere, where the stream adds and then calls layerNorm (families/family.ts).
 */
export function addLayerNormOp(): FusedOps["addLayerNorm"] | undefined {
  const fused = fusedOps();
  return fused && ((x, delta, g, b, eps) => fused.addLayerNorm(x, delta, g, b, eps));
}

/**
 * LayerNorm with a hand-written gradient (about half the ops of autodiff through `moments`):
 * dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), with dxhat = dy * g.
 */
const affineLayerNorms = new Map<number, (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor>();
function affineLayerNorm(eps: number): (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor {
  let op = affineLayerNorms.get(eps);
  if (op) return op;
  op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, g, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const axis = x.rank - 1;
    const xc = x.sub(x.mean(axis, true));
    const rstd = tf.rsqrt(xc.square().mean(axis, true).add(eps));
    const xhat = xc.mul(rstd);
    save([xhat, rstd, g]);
    return {
      value: xhat.mul(g).add(b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sxhat, srstd, sg] = saved;
          const dxhat = dy.mul(sg);
          const dx = dxhat
            .sub(dxhat.mean(axis, true))
            .sub(sxhat.mul(dxhat.mul(sxhat).mean(axis, true)))
            .mul(srstd);
          const batchAxes = [...Array(axis).keys()];
          return [dx, dy.mul(sxhat).sum(batchAxes), dy.sum(batchAxes)];
        }),
    };
  }) as (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor;
  affineLayerNorms.set(eps, op);
  return op;
}

/** RMSNorm as transformers' LlamaRMSNorm: g * x / sqrt(mean(x^2) + eps), in float32. Autodiff: four ops. */
export function rmsNorm(x: tf.Tensor, g: tf.Tensor, eps: number): tf.Tensor {
  const fused = fusedOps()?.rmsNorm;
  if (fused) return fused(x, g, eps);
  return x.mul(tf.rsqrt(x.square().mean(-1, true).add(eps))).mul(g);
}
