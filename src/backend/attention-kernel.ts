/**
 * xft's own causal-attention kernel (src/backend/native/causal_attention.cc, a Node-API addon built by
 * scripts/native-kernels.sh into build/native/): forward and backward of softmax(q k^T / sqrt(hd) + causal) v
 * as one call each, on the fused QKV projection. It works with every tfjs backend, since it reads and writes
 * plain Float32Arrays held in JavaScript (so not on webgpu, whose tensors are on the GPU); where it is not built (no
 * C++ compiler) the model runs attention as tfjs ops. Where the backend has fused ops (fused-ops.ts), their attention
 * comes first: on the native backend the same kernel as a TensorFlow op, on webgpu a WGSL one.
 *
 * XFT_ATTENTION=tfjs turns it off (to compare, or to reproduce a run made without it); XFT_ATTENTION=kernel
 * insists on it and fails when it is missing.
 */
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { fusedOps } from "./fused-ops";
import { ImplChoice, implChoice } from "./impl-choice";

interface Addon {
  forward(batch: number, len: number, heads: number, headDim: number, threads: number, qkv: Float32Array): [Float32Array, Float32Array];
  backward(
    batch: number,
    len: number,
    heads: number,
    headDim: number,
    threads: number,
    qkv: Float32Array,
    out: Float32Array,
    lse: Float32Array,
    dOut: Float32Array,
  ): Float32Array;
}

/** Where scripts/native-kernels.sh puts the addon. */
export const KERNEL_FILE = path.resolve(__dirname, "../../build/native/xft_kernels.node");

let addon: Addon | undefined;
/** Whether XFT_ATTENTION lets a kernel attend (the addon, or the backend's fused attention). */
let allowed = false;
let threads = 1;

/**
 * Loads the kernel unless XFT_ATTENTION says otherwise; returns which attention the model will use and, when
 * it is tfjs, why. `threadCount` is the backend's, so that the kernel and the backend share the cores alike.
 * `onGpu`: the backend's tensors are on a GPU (webgpu), where the addon cannot read them; the backend's fused
 * attention is then the only kernel.
 */
export function loadAttentionKernel(threadCount: number, wanted = process.env.XFT_ATTENTION ?? "", onGpu = false): ImplChoice {
  const choice = implChoice("XFT_ATTENTION", wanted, "an attention implementation");
  threads = Math.max(1, threadCount);
  addon = undefined;
  allowed = !choice.off;
  if (choice.off) return choice.off;
  if (onGpu) return { impl: "kernel" };
  if (!fs.existsSync(KERNEL_FILE))
    return choice.unavailable(`${path.relative(process.cwd(), KERNEL_FILE)} is not built; run bash scripts/native-kernels.sh`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  addon = require(KERNEL_FILE) as Addon;
  return { impl: "kernel" };
}

/**
 * Whether the model's attention runs on a kernel for heads of this size: the backend's fused attention where it has
 * one, else the addon (multiples of 8).
 */
export function kernelAttends(headDim: number): boolean {
  const fused = fusedOps();
  if (allowed && fused) return fused.attends(headDim);
  return addon !== undefined && headDim % 8 === 0;
}

/**
 * Causal self-attention of the fused projection qkv [B*T, 3d] (row b*T+t = [q | k | v], heads side by side
 * in each) to the heads' outputs [B*T, d], head h in columns h*hd..(h+1)*hd. The backward pass recomputes
 * the probabilities from what the forward kept (q, k, v, the output and each row's log-sum-exp), so nothing
 * of size [B, H, T, T] is ever stored.
 */
export function kernelAttention(qkv: tf.Tensor2D, batch: number, heads: number): tf.Tensor2D {
  const [rows, width3] = qkv.shape;
  const d = width3 / 3;
  const len = rows / batch;
  const headDim = d / heads;
  if (!Number.isInteger(len) || !Number.isInteger(d) || !Number.isInteger(headDim)) {
    throw new Error(`attention kernel: qkv [${qkv.shape}] does not split into batch ${batch}, 3 x heads ${heads}`);
  }
  const fused = fusedOps();
  if (allowed && fused) return fused.attention(qkv, batch, heads);
  const kernel = addon;
  if (!kernel) throw new Error("the attention kernel is not loaded (loadAttentionKernel)");
  const attend = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor2D;
    const data = input.dataSync() as Float32Array;
    const [out, lse] = kernel.forward(batch, len, heads, headDim, threads, data);
    return {
      value: tf.tensor2d(out, [rows, d]),
      gradFunc: (dy: tf.Tensor) =>
        tf.tensor2d(kernel.backward(batch, len, heads, headDim, threads, data, out, lse, dy.dataSync() as Float32Array), [rows, width3]),
    };
  });
  return attend(qkv) as tf.Tensor2D;
}
