/** Shared by the tests that hold xft's native implementations against tfjs ops. */
import assert from "node:assert/strict";
import { tf } from "../../src/backend/engine";
import type { Impl } from "../../src/backend/impl-choice";
import { createParams, disposeParams, flatPositions, forward, GptConfig, lossAt, Params } from "../../src/model/model";

/** Largest absolute difference of a from b, relative to b's largest entry. */
export function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => a.sub(b).abs().max().dataSync()[0] / Math.max(1e-12, b.abs().max().dataSync()[0]));
}

/** Causal attention of qkv [B*T, 3d] as plain tfjs ops, differentiated by autodiff: the reference. */
export function referenceAttention(qkv: tf.Tensor2D, batch: number, heads: number): tf.Tensor2D {
  const [rows, width3] = qkv.shape;
  const [T, d] = [rows / batch, width3 / 3];
  const hd = d / heads;
  const [q, k, v] = tf.unstack(qkv.reshape([batch, T, 3, heads, hd]).transpose([2, 0, 3, 1, 4]), 0);
  const mask = tf.linalg
    .bandPart(tf.ones([T, T]), -1, 0)
    .sub(1)
    .mul(1e9);
  const att = tf.softmax(tf.matMul(q, k, false, true).div(Math.sqrt(hd)).add(mask), -1);
  return tf.matMul(att, v).transpose([0, 2, 1, 3]).reshape([rows, d]) as tf.Tensor2D;
}

const CFG: GptConfig = { vocabSize: 50, maxLen: 16, layers: 2, dModel: 16, heads: 2, mlpRatio: 4, initStd: 0.5 };

/**
 * Asserts that a small model's loss and gradients are the same with the kernel and with tfjs ops; `use(impl)`
 * switches the implementation, and is called with "kernel" again at the end.
 */
export function assertModelSameWithKernel(use: (impl: Impl) => void): void {
  const params = createParams(CFG, 4);
  const tokens = tf.tensor2d(
    [
      [1, 2, 3, 4, 5, 6, 7],
      [7, 8, 9, 10, 11, 12, 13],
    ],
    [2, 7],
    "int32",
  );
  const idx = flatPositions(7, [0, 1, 1], [6, 2, 5]);
  const targets = tf.tensor1d([3, 9, 1], "int32");
  const lossAndGrads = (impl: Impl) => {
    use(impl);
    return tf.variableGrads(() => lossAt(params, forward(params, CFG, tokens).hidden, idx, targets), Object.values(params));
  };
  try {
    const kernel = lossAndGrads("kernel");
    const ops = lossAndGrads("tfjs");
    assert.ok(Math.abs(kernel.value.dataSync()[0] - ops.value.dataSync()[0]) < 1e-5);
    for (const [name, p] of Object.entries(params as Params)) {
      const diff = maxRelDiff(kernel.grads[p.name], ops.grads[p.name]);
      assert.ok(diff < 1e-4, `${name}: gradients differ by ${diff} of their largest entry`);
    }
  } finally {
    use("kernel");
    disposeParams(params);
  }
}
