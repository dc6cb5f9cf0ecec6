import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { startWebGpu } from "../../src/backend/dawn";
import { attends, attention } from "../../src/backend/wgsl/attention";
import { referenceAttention } from "./compare-impls";

interface Case {
  B: number;
  T: number;
  H: number;
  hd: number;
  /** The inputs' standard deviation: 3 makes the softmax sharp, so that the running max moves across tiles. */
  std: number;
}

// Lengths across the kernels' 64-row blocks and their tiles (32 rows up to hd 60, 31 for 64, 15 for 128).
const CASES: Case[] = [
  { B: 2, T: 5, H: 2, hd: 4, std: 1 },
  { B: 1, T: 37, H: 3, hd: 16, std: 1 },
  { B: 1, T: 70, H: 2, hd: 32, std: 3 },
  { B: 2, T: 70, H: 1, hd: 64, std: 1 },
  { B: 1, T: 20, H: 1, hd: 128, std: 1 },
  { B: 1, T: 1, H: 2, hd: 8, std: 1 },
];

interface Expected {
  qkv: Float32Array;
  w: Float32Array;
  out: Float32Array;
  grad: Float32Array;
}

const expected = new Map<Case, Expected>();

/** max |a - b| over max |b|: relative to the tensor's largest entry, since many entries are near zero. */
function relError(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / Math.max(scale, 1e-12);
}

const gradOf = (f: typeof referenceAttention, c: Case, w: tf.Tensor) =>
  tf.grad((x: tf.Tensor) =>
    f(x as tf.Tensor2D, c.B, c.H)
      .mul(w)
      .sum(),
  );

before(async () => {
  await tf.setBackend("cpu");
  for (const c of CASES) {
    const d = c.H * c.hd;
    tf.tidy(() => {
      const qkv = tf.randomNormal([c.B * c.T, 3 * d], 0, c.std, "float32", c.T * 131 + c.hd) as tf.Tensor2D;
      const w = tf.randomNormal([c.B * c.T, d], 0, 1, "float32", c.hd);
      const data = (t: tf.Tensor) => t.dataSync() as Float32Array;
      expected.set(c, {
        qkv: data(qkv),
        w: data(w),
        out: data(referenceAttention(qkv, c.B, c.H)),
        grad: data(gradOf(referenceAttention, c, w)(qkv)),
      });
    });
  }
  await startWebGpu(true);
});

for (const c of CASES) {
  test(`WGSL attention and its gradient match tfjs ops (B ${c.B}, T ${c.T}, heads ${c.H}, head dim ${c.hd}, std ${c.std})`, async (t) => {
    const e = expected.get(c)!;
    const d = c.H * c.hd;
    const qkv = tf.tensor2d(e.qkv, [c.B * c.T, 3 * d]);
    const w = tf.tensor2d(e.w, [c.B * c.T, d]);
    const out = attention(qkv, c.B, c.H);
    const grad = gradOf(attention, c, w)(qkv);
    const outError = relError((await out.data()) as Float32Array, e.out);
    const gradError = relError((await grad.data()) as Float32Array, e.grad);
    t.diagnostic(`max error relative to the largest entry: output ${outError.toExponential(2)}, gradient ${gradError.toExponential(2)}`);
    assert.ok(outError < 1e-4, `output differs by ${outError}`);
    assert.ok(gradError < 1e-4, `gradient differs by ${gradError}`);
    tf.dispose([qkv, w, out, grad]);
  });
}

test("WGSL attention keeps no tensors once the gradient is taken", async () => {
  const qkv = tf.randomNormal([2 * 9, 3 * 2 * 8]) as tf.Tensor2D;
  const before = tf.memory().numTensors;
  const grad = tf.grad((x: tf.Tensor) => attention(x as tf.Tensor2D, 2, 2).sum())(qkv);
  await grad.data();
  grad.dispose();
  assert.equal(tf.memory().numTensors, before);
  qkv.dispose();
});

test("WGSL attention: head sizes it takes, and shapes that do not split are clear errors", () => {
  assert.deepEqual(
    [4, 8, 64, 128, 2, 6, 132, 0].map((hd) => attends(hd)),
    [true, true, true, true, false, false, false, false],
  );
  const qkv = tf.zeros([10, 24]) as tf.Tensor2D;
  assert.throws(() => attention(qkv, 3, 2), /attention kernel: qkv \[10,24\] does not split into batch 3, 3 x heads 2/);
  assert.throws(() => attention(qkv, 2, 3), /does not split into batch 2, 3 x heads 3/);
  assert.throws(() => attention(tf.zeros([10, 18]) as tf.Tensor2D, 2, 1), /head size 6 .* is not a multiple of 4/);
  qkv.dispose();
});
