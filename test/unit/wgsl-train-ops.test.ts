/**
 * xft's WGSL softmax cross-entropy and AdamW step on the webgpu backend (SwiftShader here), against tfjs ops on the
 * cpu backend and a plain-JS AdamW in double precision.
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import type { AdamWHyper } from "../../src/backend/fused-ops";
import { startWebGpu } from "../../src/backend/dawn";
import { adamW } from "../../src/backend/wgsl/adamw";
import { softmaxCrossEntropy } from "../../src/backend/wgsl/cross-entropy";
import { Rng } from "../../src/util/rng";

before(async () => {
  await startWebGpu(true);
});

/** Largest absolute difference of a from b, relative to b's largest entry. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

function normals(rng: Rng, n: number, std: number): number[] {
  return Array.from({ length: n }, () => rng.normal() * std);
}

/** Runs `fn` on the cpu backend, then goes back to webgpu; `fn` returns plain values. */
async function onCpu<T extends tf.TensorContainer>(fn: () => T): Promise<T> {
  await tf.setBackend("cpu");
  try {
    return tf.tidy(fn);
  } finally {
    await tf.setBackend("webgpu");
  }
}

for (const [rows, v] of [
  [7, 33],
  [3, 1500],
]) {
  test(`softmax cross-entropy (WGSL), rows ${rows}, V ${v}: probabilities and loss sum as tfjs ops on cpu`, async () => {
    const rng = new Rng(rows * 1000 + v);
    // Logits of a spread like a trained head's, with one row far above zero to test the maximum's shift.
    const logits = normals(rng, rows * v, 4).map((x, i) => (i < v ? x + 80 : x));
    const targets = Array.from({ length: rows }, (_, r) => (r === 0 ? v - 1 : rng.int(v)));
    const want = await onCpu(() => {
      const l = tf.tensor2d(logits, [rows, v]);
      const picked = tf.gather(
        l.reshape([-1]),
        tf.tensor1d(
          targets.map((t, r) => r * v + t),
          "int32",
        ),
      );
      return { probs: tf.softmax(l).dataSync(), loss: tf.logSumExp(l, 1).sub(picked).sum().dataSync()[0] };
    });
    const [probs, loss] = softmaxCrossEntropy(tf.tensor2d(logits, [rows, v]), tf.tensor1d(targets, "int32"));
    const gotProbs = await probs.data();
    const gotLoss = (await loss.data())[0];
    assert.deepEqual(probs.shape, [rows, v]);
    assert.deepEqual(loss.shape, []);
    const probErr = relDiff(gotProbs, want.probs);
    const lossErr = Math.abs(gotLoss - want.loss) / Math.abs(want.loss);
    console.log(`rows ${rows}, V ${v}: probs max rel ${probErr.toExponential(2)}, loss rel ${lossErr.toExponential(2)}`);
    assert.ok(probErr < 1e-5, `probabilities off by ${probErr}`);
    assert.ok(lossErr < 1e-5, `loss ${gotLoss}, want ${want.loss}`);
    tf.dispose([probs, loss]);
  });
}

test("softmax cross-entropy (WGSL): a target outside the vocabulary makes the loss NaN, not a number", async () => {
  for (const bad of [-1, 33]) {
    const [probs, loss] = softmaxCrossEntropy(tf.randomNormal([4, 33]) as tf.Tensor2D, tf.tensor1d([0, bad, 5, 32], "int32"));
    assert.ok(Number.isNaN((await loss.data())[0]), `target ${bad}`);
    tf.dispose([probs, loss]);
  }
});

test("softmax cross-entropy (WGSL): wrong shapes are errors naming the field", () => {
  const logits = tf.zeros([70, 5]) as tf.Tensor2D;
  assert.throws(() => softmaxCrossEntropy(logits, tf.tensor1d([1, 2], "int32")), /SoftmaxCrossEntropy \(WGSL\): targets must be \[70\], got \[2\]/);
  assert.throws(() => softmaxCrossEntropy(logits, tf.zeros([70]) as tf.Tensor1D), /targets must be int32, got float32/);
  assert.throws(
    () => softmaxCrossEntropy(tf.zeros([70]) as unknown as tf.Tensor2D, tf.zeros([70], "int32") as tf.Tensor1D),
    /logits must be \[rows, vocabulary\], got \[70\]/,
  );
});

interface Moments {
  params: number[][];
  m: number[];
  v: number[];
  norm: number;
}

/** One AdamW step in double precision: the maths of train/optimizer.ts. */
function referenceStep(params: number[][], grads: number[][], s: Moments, h: AdamWHyper, decays: boolean[]): Moments {
  const norm = Math.sqrt(grads.flat().reduce((a, g) => a + g * g, 0));
  const scale = h.gradClip > 0 ? Math.min(1, h.gradClip / Math.max(norm, 1e-12)) : 1;
  const m = s.m.slice();
  const v = s.v.slice();
  let k = 0;
  const next = params.map((p, i) =>
    p.map((x, j) => {
      const g = grads[i][j] * scale;
      m[k] = h.beta1 * m[k] + (1 - h.beta1) * g;
      v[k] = h.beta2 * v[k] + (1 - h.beta2) * g * g;
      const update = m[k] / (Math.sqrt(v[k] / h.biasCorrection2) + h.eps) / h.biasCorrection1 + (decays[i] ? h.weightDecay * x : 0);
      k++;
      return x - h.lr * update;
    }),
  );
  return { params: next, m, v, norm };
}

const SHAPES = [[5, 7], [7], [3, 4, 2], [3000]];
const DECAYS = [true, false, true, false];

for (const clip of [0, 0.5]) {
  test(`AdamW (WGSL), ${clip ? `clipped to ${clip}` : "no clipping"}: three steps as the maths in double precision`, async () => {
    const rng = new Rng(7 + clip * 10);
    const sizes = SHAPES.map((s) => s.reduce((a, b) => a * b, 1));
    const total = sizes.reduce((a, b) => a + b, 0);
    let want: Moments = { params: sizes.map((n) => normals(rng, n, 0.5)), m: new Array(total).fill(0), v: new Array(total).fill(0), norm: 0 };
    let params = want.params.map((p, i) => tf.tensor(p, SHAPES[i]));
    const m = tf.zeros([total]);
    const v = tf.zeros([total]);
    const decays = tf.tensor1d(DECAYS.map((d) => (d ? 1 : 0)));
    const c = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: clip };
    for (let step = 1; step <= 3; step++) {
      // Gradients whose norm (about 0.05 sqrt(3078) = 2.8) is well above the clip, so that it binds.
      const grads = sizes.map((n) => normals(rng, n, 0.05));
      const h: AdamWHyper = { ...c, biasCorrection1: 1 - c.beta1 ** step, biasCorrection2: 1 - c.beta2 ** step };
      want = referenceStep(want.params, grads, want, h, DECAYS);
      const gradTensors = grads.map((g, i) => tf.tensor(g, SHAPES[i]));
      const out = adamW(
        params,
        gradTensors,
        m,
        v,
        h,
        decays,
        params.map(() => true),
      );
      assert.equal(out.m, m, "m is updated in place");
      assert.equal(out.v, v, "v is updated in place");
      out.params.forEach((p, i) => assert.deepEqual(p.shape, SHAPES[i]));
      // m and v are read after a kernel wrote over them: a read must not return what tfjs kept of the last one.
      const errs = {
        norm: Math.abs((await out.norm.data())[0] - want.norm) / want.norm,
        m: relDiff(await m.data(), want.m),
        v: relDiff(await v.data(), want.v),
        params: Math.max(...(await Promise.all(out.params.map(async (p, i) => relDiff(await p.data(), want.params[i]))))),
      };
      console.log(
        `clip ${clip}, step ${step}: ${Object.entries(errs)
          .map(([k, e]) => `${k} ${e.toExponential(2)}`)
          .join(", ")}`,
      );
      for (const [k, e] of Object.entries(errs)) assert.ok(e < 1e-5, `step ${step}: ${k} off by ${e}`);
      if (clip) assert.ok(want.norm > clip, "the clip binds");
      tf.dispose([...params, ...gradTensors, out.norm]);
      params = out.params;
    }
    tf.dispose([...params, m, v, decays]);
  });
}

test("AdamW (WGSL): wrong shapes are errors naming the field", () => {
  const p = [tf.zeros([3, 4]), tf.zeros([4])];
  const h: AdamWHyper = { lr: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, biasCorrection1: 0.1, biasCorrection2: 0.05, gradClip: 0 };
  const decays = tf.tensor1d([1, 0]);
  const run = (grads: tf.Tensor[], m: tf.Tensor) => adamW(p, grads, m, tf.zeros([16]), h, decays, [false, false]);
  assert.throws(() => run([tf.zeros([4, 3]), tf.zeros([4])], tf.zeros([16])), /AdamW \(WGSL\): grads\[0\] must be \[3,4\], got \[4,3\]/);
  assert.throws(() => run([tf.zeros([3, 4]), tf.zeros([4])], tf.zeros([15])), /AdamW \(WGSL\): m must be \[16\], got \[15\]/);
});
