import assert from "node:assert/strict";
import { test } from "node:test";
import { KERNEL_FILE, kernelAttention, loadAttentionKernel } from "../../src/backend/attention-kernel";
import { initBackend, tf } from "../../src/backend/engine";
import { assertModelSameWithKernel, maxRelDiff, referenceAttention } from "./compare-impls";

test("the attention kernel is built (scripts/native-kernels.sh, run by the set-up) and the model uses it", async () => {
  const info = await initBackend({ quiet: true });
  assert.equal(info.attention, "kernel", `${KERNEL_FILE}: ${info.attentionNote ?? "not loaded"}; run bash scripts/native-kernels.sh`);
});

// Lengths that are not multiples of the kernel's 4-row blocks or 16-column tiles, and every head size it
// specialises (16, 32, 64) plus one it reads at run time (24).
for (const [B, T, H, hd] of [
  [2, 37, 2, 24],
  [3, 20, 2, 16],
  [1, 33, 1, 32],
  [2, 18, 3, 64],
  [1, 1, 1, 8],
]) {
  test(`kernel forward and gradient match autodiff of tfjs ops (B ${B}, T ${T}, heads ${H}, head dim ${hd})`, async () => {
    await initBackend({ quiet: true });
    const qkv = tf.randomNormal([B * T, 3 * H * hd], 0, 2, "float32", T) as tf.Tensor2D;
    const weight = tf.randomNormal([B * T, H * hd], 0, 1, "float32", hd); // a random downstream weighting
    const ours = kernelAttention(qkv, B, H);
    const reference = referenceAttention(qkv, B, H);
    assert.ok(maxRelDiff(ours, reference) < 2e-6, `forward differs by ${maxRelDiff(ours, reference)}`);
    const grad = (f: typeof referenceAttention) =>
      tf.grad((x: tf.Tensor) =>
        f(x as tf.Tensor2D, B, H)
          .mul(weight)
          .sum(),
      )(qkv);
    const diff = maxRelDiff(grad(kernelAttention), grad(referenceAttention));
    assert.ok(diff < 1e-5, `gradient differs by ${diff} (relative to its largest entry)`);
  });
}

test("kernel numbers do not depend on the thread count", async () => {
  const info = await initBackend({ quiet: true });
  const qkv = tf.randomNormal([4 * 50, 3 * 64], 0, 1, "float32", 8) as tf.Tensor2D;
  const run = (threads: number) => {
    loadAttentionKernel(threads);
    return tf
      .grad((x: tf.Tensor) =>
        kernelAttention(x as tf.Tensor2D, 4, 2)
          .square()
          .sum(),
      )(qkv)
      .dataSync();
  };
  try {
    assert.deepEqual(run(1), run(3));
  } finally {
    loadAttentionKernel(info.threads);
  }
});

test("XFT_ATTENTION: an unknown value and a missing kernel are clear errors", async () => {
  const info = await initBackend({ quiet: true });
  assert.throws(() => loadAttentionKernel(1, "flash"), /XFT_ATTENTION=flash is not an attention implementation/);
  assert.deepEqual(loadAttentionKernel(1, "tfjs"), { impl: "tfjs", why: "XFT_ATTENTION=tfjs" });
  assert.throws(() => kernelAttention(tf.zeros([4, 6]) as tf.Tensor2D, 1, 1), /not loaded/);
  loadAttentionKernel(info.threads);
  assert.throws(() => kernelAttention(tf.zeros([5, 6]) as tf.Tensor2D, 2, 1), /does not split into batch 2/);
});

test("the model's loss and gradients are the same with the kernel and with tfjs ops", async () => {
  const info = await initBackend({ quiet: true });
  assertModelSameWithKernel((impl) => loadAttentionKernel(info.threads, impl));
});
