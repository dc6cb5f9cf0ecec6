import assert from "node:assert/strict";
import { test } from "node:test";
import { kernelAttention, loadAttentionKernel } from "../../src/backend/attention-kernel";
import { initBackend, tf } from "../../src/backend/engine";
import {
  adamWOp,
  columnSums,
  fusedAddLayerNorm,
  fusedGelu,
  fusedLayerNorm,
  headCrossEntropy,
  linear,
  loadTfOps,
  matMul,
  softmaxCrossEntropy,
  TF_OPS_FILE,
} from "../../src/backend/tf-ops";
import { useTensorFlowProducts } from "../../src/backend/native";
import { createParams, disposeParams, GptConfig } from "../../src/model/model";
import { AdamW } from "../../src/train/optimizer";
import { assertModelSameWithKernel, maxRelDiff } from "./compare-impls";

/** GELU in its tanh form, by tfjs ops: an independent reference for the sigmoid form the op computes. */
function referenceGelu(x: tf.Tensor): tf.Tensor {
  return x.mul(0.5).mul(tf.tanh(x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI))).add(1));
}

function referenceLayerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).div(variance.add(1e-5).sqrt()).mul(g).add(b);
}

/** Runs the test on the native CPU backend only: elsewhere the ops are not meant to load. */
async function nativeOnly(t: { skip(why: string): void }): Promise<{ threads: number } | undefined> {
  const info = await initBackend({ quiet: true });
  if (info.name !== "tensorflow") {
    t.skip(`backend ${info.name}: xft's TensorFlow ops serve the native CPU backend only`);
    return undefined;
  }
  return info;
}

test("on the native backend, xft's TensorFlow ops are built (scripts/native-kernels.sh) and loaded", async (t) => {
  const info = await initBackend({ quiet: true });
  if (!(await nativeOnly(t))) return;
  assert.equal(info.tfOps, "kernel", `${TF_OPS_FILE}: ${info.tfOpsNote ?? "not loaded"}`);
});

// Shapes whose rows are not a multiple of the ops' 64-row blocks and whose width is not a multiple of 8.
for (const shape of [
  [3, 37],
  [2, 70, 24],
  [130, 128],
  [1, 1],
]) {
  test(`fused GELU and LayerNorm match autodiff of tfjs ops on [${shape}]`, async (t) => {
    if (!(await nativeOnly(t))) return;
    const d = shape[shape.length - 1];
    const x = tf.randomNormal(shape, 0.3, 2, "float32", d);
    const weight = tf.randomNormal(shape, 0, 1, "float32", d + 1);
    const g = tf.randomNormal([d], 1, 0.5, "float32", 3);
    const b = tf.randomNormal([d], 0, 0.5, "float32", 4);
    assert.ok(maxRelDiff(fusedGelu(x), referenceGelu(x)) < 1e-6, "GELU forward");
    const dGelu = (f: (x: tf.Tensor) => tf.Tensor) => tf.grad((v: tf.Tensor) => f(v).mul(weight).sum())(x);
    assert.ok(maxRelDiff(dGelu(fusedGelu), dGelu(referenceGelu)) < 1e-5, "GELU gradient");
    if (d > 1) {
      // (a LayerNorm of width 1 is 0 everywhere, with a gradient of 0)
      assert.ok(maxRelDiff(fusedLayerNorm(x, g, b, 1e-5), referenceLayerNorm(x, g, b)) < 1e-5, "LayerNorm forward");
      const grads = (f: (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor) =>
        tf.grads((...a: tf.Tensor[]) => f(a[0], a[1], a[2]).mul(weight).sum())([x, g, b]);
      const ours = grads((x, g, b) => fusedLayerNorm(x, g, b, 1e-5));
      const reference = grads(referenceLayerNorm);
      ["x", "g", "b"].forEach((name, i) => {
        const diff = maxRelDiff(ours[i], reference[i]);
        assert.ok(diff < 1e-5, `LayerNorm gradient of ${name} differs by ${diff}`);
      });
      // The add-and-norm: the add and the norm's own numbers, bit for bit; its gradients take in the sum's own.
      const delta = tf.randomNormal(shape, 0, 1, "float32", d + 2);
      const [sum, normed] = fusedAddLayerNorm(x, delta, g, b, 1e-5);
      assert.deepEqual(sum.dataSync(), x.add(delta).dataSync(), "add-and-norm: the sum");
      assert.deepEqual(normed.dataSync(), fusedLayerNorm(x.add(delta), g, b, 1e-5).dataSync(), "add-and-norm: the norm");
      const sumWeight = tf.randomNormal(shape, 0, 1, "float32", d + 3);
      const addGrads = (f: (x: tf.Tensor, delta: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => [tf.Tensor, tf.Tensor]) =>
        tf.grads((...a: tf.Tensor[]) => {
          const [s, y] = f(a[0], a[1], a[2], a[3]);
          return s.mul(sumWeight).sum().add(y.mul(weight).sum());
        })([x, delta, g, b]);
      const fusedAdd = addGrads((x, delta, g, b) => fusedAddLayerNorm(x, delta, g, b, 1e-5));
      const referenceAdd = addGrads((x, delta, g, b) => {
        const s = x.add(delta);
        return [s, referenceLayerNorm(s, g, b)];
      });
      ["x", "delta", "g", "b"].forEach((name, i) => {
        const diff = maxRelDiff(fusedAdd[i], referenceAdd[i]);
        assert.ok(diff < 1e-5, `add-and-norm gradient of ${name} differs by ${diff}`);
      });
    }
  });
}

test("the fused softmax cross-entropy matches tfjs ops, also where a probability underflows", async (t) => {
  if (!(await nativeOnly(t))) return;
  const logits = tf.randomNormal([70, 33], 0, 30, "float32", 9) as tf.Tensor2D; // spread wide: many exp(x - max) below 1e-38
  const targets = tf.tensor1d(
    Array.from({ length: 70 }, (_, i) => (i * 7) % 33),
    "int32",
  );
  const [probs, lossSum] = softmaxCrossEntropy(logits, targets);
  assert.ok(maxRelDiff(probs, tf.softmax(logits)) < 1e-6, "probabilities");
  const reference = tf.tidy(() => tf.logSoftmax(logits).mul(tf.oneHot(targets, 33)).sum().neg());
  assert.ok(Math.abs(lossSum.dataSync()[0] / reference.dataSync()[0] - 1) < 1e-6, `loss ${lossSum.dataSync()[0]} against ${reference.dataSync()[0]}`);
  assert.throws(
    () => softmaxCrossEntropy(logits.slice([0, 0], [2, 33]), tf.tensor1d([3, 33], "int32")),
    /XftSoftmaxCrossEntropy: target 33 of row 1 is outside the vocabulary \[0, 33\)/,
  );
  assert.throws(() => softmaxCrossEntropy(logits, tf.tensor1d([1, 2], "int32")), /XftSoftmaxCrossEntropy: targets must be \[70\], got \[2\]/);
});

test("the one-pass head matches autodiff of tfjs ops: loss, dh and dW, over rows that are not a multiple of its blocks", async (t) => {
  if (!(await nativeOnly(t))) return;
  // 100 rows: two blocks of 48 and one of 4; a vocabulary that is no multiple of the product's panels
  const [M, d, V] = [100, 24, 70];
  const h = tf.randomNormal([M, d], 0, 1, "float32", 21) as tf.Tensor2D;
  const w = tf.randomNormal([V, d], 0, 1, "float32", 22) as tf.Tensor2D;
  const targets = tf.tensor1d(
    Array.from({ length: M }, (_, i) => (i * 13) % V),
    "int32",
  );
  const hv = tf.variable(h);
  const wv = tf.variable(w);
  const lossOf = () => tf.losses.softmaxCrossEntropy(tf.oneHot(targets, V), tf.matMul(hv, wv, false, true), undefined, undefined, tf.Reduction.SUM);
  const { value, grads } = tf.variableGrads(lossOf as () => tf.Scalar, [hv, wv]);
  for (const gradients of [0, 1, 2] as const) {
    const [loss, dh, dw] = headCrossEntropy(h, w, targets, gradients);
    assert.ok(Math.abs(loss.dataSync()[0] / value.dataSync()[0] - 1) < 1e-5, `loss, gradients ${gradients}`);
    assert.deepEqual([dh.shape, dw.shape], [gradients >= 1 ? [M, d] : [0, d], gradients === 2 ? [V, d] : [0, d]]);
    if (gradients >= 1) assert.ok(maxRelDiff(dh, grads[hv.name]) < 1e-5, "dh");
    if (gradients === 2) assert.ok(maxRelDiff(dw, grads[wv.name]) < 1e-5, "dw");
  }
  assert.throws(() => headCrossEntropy(h, w, tf.tensor1d([1], "int32"), 2), /XftHeadCrossEntropy: targets must be \[100\], got \[1\]/);
  assert.throws(
    () => headCrossEntropy(h, tf.ones([V, 5]) as tf.Tensor2D, targets, 2),
    /XftHeadCrossEntropy: w must be \[vocabulary, 24\], got \[70,5\]/,
  );
  assert.throws(
    () => headCrossEntropy(h.slice(0, 2), w, tf.tensor1d([0, 70], "int32"), 1),
    /XftHeadCrossEntropy: target 70 of row 1 is outside the vocabulary \[0, 70\)/,
  );
});

test("the fused AdamW step matches the tfjs-ops update (clipping, weight decay on matrices only, bias correction)", async (t) => {
  const info = await nativeOnly(t);
  if (!info) return;
  const cfg: GptConfig = { vocabSize: 50, maxLen: 16, layers: 2, dModel: 16, heads: 2, mlpRatio: 4, initStd: 0.5 };
  const run = (impl: "kernel" | "tfjs") => {
    loadTfOps("tensorflow", info.threads, impl);
    const params = createParams(cfg, 3);
    const opt = new AdamW({ lr: 1e-2, minLr: 1e-5, warmupSteps: 0, weightDecay: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, gradClip: 50 }, params);
    const norms: number[] = [];
    for (let step = 1; step <= 4; step++) {
      // gradients of norm about 90 against a clip of 50 on odd steps, 45 on even ones
      const grads = Object.fromEntries(
        Object.entries(params).map(([n, p], i) => [n, tf.randomNormal(p.shape, 0, step % 2 ? 1 : 0.5, "float32", 100 * step + i + 1)]),
      );
      norms.push(opt.apply(grads, 1e-2).dataSync()[0]);
      tf.dispose(Object.values(grads));
    }
    const values = [...Object.values(params).map((p) => p.dataSync()), opt.m.dataSync(), opt.v.dataSync()].map((a) => Array.from(a));
    opt.dispose();
    disposeParams(params);
    return { norms, values };
  };
  try {
    const fused = run("kernel");
    const ops = run("tfjs");
    fused.norms.forEach((n, i) => assert.ok(Math.abs(n / ops.norms[i] - 1) < 1e-6, `norm of step ${i + 1}: ${n} against ${ops.norms[i]}`));
    assert.ok(fused.norms[0] > 50 && fused.norms[1] < 50, `the clip must act on step 1 only (norms ${fused.norms})`);
    fused.values.forEach((v, k) => {
      const diff = Math.max(...v.map((x, i) => Math.abs(x - ops.values[k][i])));
      assert.ok(diff < 1e-6, `tensor ${k} differs by ${diff}`);
    });
  } finally {
    loadTfOps("tensorflow", info.threads);
  }
  const one = tf.ones([2, 2]);
  assert.throws(
    () =>
      adamWOp(
        [one],
        [tf.ones([4])],
        tf.zeros([4]),
        tf.zeros([4]),
        { lr: 1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, biasCorrection1: 1, biasCorrection2: 1, gradClip: 0 },
        tf.ones([1]),
      ),
    /XftAdamW: grads\[0\] must be \[2,2\], got \[4\]/,
  );
});

test("the ops' numbers do not depend on the thread count, and attention as an op has the addon's bits", async (t) => {
  const info = await nativeOnly(t);
  if (!info) return;
  // 2100 rows of 192: 33 row blocks, work enough for three threads; attention: batch 3, length 700, 2 heads of 32
  const x = tf.randomNormal([2100, 192], 0, 1, "float32", 5) as tf.Tensor2D;
  const g = tf.randomNormal([192], 1, 0.5, "float32", 6);
  const b = tf.randomNormal([192], 0, 0.5, "float32", 7);
  const ids = tf.tensor1d(
    Array.from({ length: 2100 }, (_, i) => (i * 37) % 1500),
    "int32",
  );
  const all = () => {
    // tf.gather's rows and, in its gradient, the sums of rows by id
    const rowsById = tf.grad((v: tf.Tensor) => tf.gather(v, ids).square().sum())(x);
    const gelu = tf.grad((v: tf.Tensor) => fusedGelu(v).square().sum())(x);
    const ln = tf.grads((...a: tf.Tensor[]) => fusedLayerNorm(a[0], a[1], a[2], 1e-5).square().sum())([x, g, b]);
    const addLn = tf.grads((...a: tf.Tensor[]) => {
      const [sum, normed] = fusedAddLayerNorm(a[0], a[1], a[2], a[3], 1e-5);
      return sum.mul(normed).sum();
    })([x, gelu, g, b]);
    const attention = tf.grad((v: tf.Tensor) =>
      kernelAttention(v as tf.Tensor2D, 3, 2)
        .square()
        .sum(),
    )(x);
    const crossEntropy = softmaxCrossEntropy(
      x,
      tf.tensor1d(
        Array.from({ length: 2100 }, (_, i) => i % 96),
        "int32",
      ),
    );
    const zeros = tf.zeros([x.size + g.size]);
    const adam = adamWOp(
      [x, g],
      [gelu, ln[1]],
      zeros,
      zeros,
      { lr: 1e-3, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, biasCorrection1: 0.1, biasCorrection2: 0.01, gradClip: 1 },
      tf.ones([2]),
    );
    // products: 2100 x 100 x 192 multiply-adds (10 threads' worth), and x^T x, a sum over 2100 rows in 9 blocks of k
    const w = tf.randomNormal([192, 100], 0, 1, "float32", 8);
    const products = [linear(x, w, tf.range(0, 100)), matMul(x, x, true, false), matMul(x, w, false, false)];
    // the one-pass head: 2100 rows in 44 blocks over 8 groups, against a vocabulary of 300
    const headTargets = tf.tensor1d(
      Array.from({ length: 2100 }, (_, i) => (i * 37) % 300),
      "int32",
    );
    const head = headCrossEntropy(x, tf.randomNormal([300, 192], 0, 0.1, "float32", 10) as tf.Tensor2D, headTargets, 2);
    return [attention, gelu, ...ln, ...addLn, ...crossEntropy, ...adam.params, adam.norm, rowsById, columnSums(gelu), ...products, ...head].map((v) =>
      Array.from(v.dataSync()),
    );
  };
  try {
    loadTfOps("tensorflow", 1);
    const one = all();
    loadTfOps("tensorflow", 3);
    all().forEach((v, i) => assert.deepEqual(v, one[i], `output ${i}`));
    loadTfOps("tensorflow", info.threads, "tfjs"); // attention back on the addon, which copies through Float32Arrays
    loadAttentionKernel(info.threads);
    assert.deepEqual(
      Array.from(
        tf
          .grad((v: tf.Tensor) =>
            kernelAttention(v as tf.Tensor2D, 3, 2)
              .square()
              .sum(),
          )(x)
          .dataSync(),
      ),
      one[0],
    );
  } finally {
    loadTfOps("tensorflow", info.threads);
  }
});

test("column sums, rows by id and sums of rows by id match plain sums in any order of rows", async (t) => {
  if (!(await nativeOnly(t))) return;
  for (const [rows, d] of [
    [1, 1],
    [65, 17],
    [700, 40],
  ]) {
    const x = tf.randomNormal([rows, d], 0, 1, "float32", rows) as tf.Tensor2D;
    assert.ok(maxRelDiff(columnSums(x), tf.sum(x, 0)) < 1e-5, `column sums of [${rows},${d}]`);
    // ids with repeats, in no order, and one that is dropped (negative, as TensorFlow's UnsortedSegmentSum drops it)
    const idValues = Array.from({ length: rows }, (_, i) => (i === 1 ? -1 : (i * 7) % Math.max(1, rows - 3)));
    const gathered = tf
      .gather(
        x,
        tf.tensor1d(
          idValues.map((i) => Math.max(0, i)),
          "int32",
        ),
      )
      .arraySync() as number[][];
    const xs = x.arraySync() as number[][];
    idValues.forEach((id, i) => assert.deepEqual(gathered[i], xs[Math.max(0, id)], `row ${i}`));
    const segments = Math.max(1, rows - 3);
    const sums = tf.unsortedSegmentSum(x, tf.tensor1d(idValues, "int32"), segments);
    const expected = Array.from({ length: segments }, () => new Array<number>(d).fill(0));
    idValues.forEach((id, i) => id >= 0 && xs[i].forEach((v, c) => (expected[id][c] += v)));
    assert.ok(maxRelDiff(sums, tf.tensor2d(expected)) < 1e-5, `sums by id of [${rows},${d}]`);
  }
});

test("xft's products match TensorFlow's MatMul at the edges of its tiles, transposed or not, with a bias or not", async (t) => {
  if (!(await nativeOnly(t))) return;
  // m, k, n: fewer rows than a tile, a part panel, several blocks of k (256), an empty sum, one thread's and several
  for (const [m, k, n] of [
    [1, 1, 1],
    [5, 3, 7],
    [13, 70, 33],
    [100, 37, 45],
    [64, 600, 96],
    [300, 256, 48],
    [2048, 64, 2000],
    [7, 0, 9],
  ]) {
    for (const [ta, tb] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ]) {
      const a = tf.randomNormal(ta ? [k, m] : [m, k], 0, 1, "float32", m + k);
      const b = tf.randomNormal(tb ? [n, k] : [k, n], 0, 1, "float32", n + k);
      const before = useTensorFlowProducts(true);
      const expected = tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, ta, tb);
      useTensorFlowProducts(before);
      const name = `[${m},${k}]${ta ? "^T" : ""} x [${k},${n}]${tb ? "^T" : ""}`;
      assert.deepEqual(matMul(a, b, ta, tb).shape, [m, n], name);
      assert.ok(maxRelDiff(matMul(a, b, ta, tb), expected) < 1e-5, name);
      if (!ta && !tb) {
        const bias = tf.randomNormal([n], 0, 1, "float32", 9);
        assert.ok(maxRelDiff(linear(a, b, bias), expected.add(bias)) < 1e-5, `${name} + bias`);
      }
    }
  }
});

test("XFT_TF_OPS and bad input: clear errors naming the op and the shapes", async (t) => {
  const info = await nativeOnly(t);
  if (!info) return;
  assert.throws(() => loadTfOps("tensorflow", 1, "fast"), /XFT_TF_OPS=fast is not a choice of ops/);
  assert.throws(() => loadTfOps("wasm", 1, "kernel"), /XFT_TF_OPS=kernel but the wasm backend is not tfjs-node's CPU TensorFlow/);
  assert.deepEqual(loadTfOps("wasm", 1), { impl: "tfjs", why: "the wasm backend is not tfjs-node's CPU TensorFlow" });
  assert.throws(() => fusedGelu(tf.ones([2])), /not loaded/);
  loadTfOps("tensorflow", info.threads);
  assert.throws(() => fusedLayerNorm(tf.ones([3, 4]), tf.ones([5]), tf.ones([4]), 1e-5), /XftLayerNorm: g must be \[4\], got \[5\]/);
  assert.throws(
    () => fusedAddLayerNorm(tf.ones([3, 4]), tf.ones([4, 3]), tf.ones([4]), tf.ones([4]), 1e-5),
    /XftAddLayerNorm: delta must be \[3,4\], got \[4,3\]/,
  );
  assert.throws(() => matMul(tf.ones([3, 4]), tf.ones([5, 2]), false, false), /XftMatMul: a \[3,4\] and b \[5,2\] do not multiply/);
  assert.throws(() => matMul(tf.ones([3]), tf.ones([3, 2]), false, false), /XftMatMul: a and b must be matrices, got \[3\] and \[3,2\]/);
  assert.throws(() => linear(tf.ones([3, 4]), tf.ones([4, 2]), tf.ones([3])), /XftLinear: bias must be \[2\], got \[3\]/);
  assert.throws(() => tf.gather(tf.ones([3, 4]), tf.tensor1d([0, 5], "int32")), /XftGatherRows: id 5 at position 1 is outside the table's 3 rows/);
  assert.throws(
    () => tf.unsortedSegmentSum(tf.ones([2, 4]), tf.tensor1d([0, 7], "int32"), 4),
    /XftSumRowsById: id 7 at position 1 is not below rows \(4\)/,
  );
  assert.throws(
    () => kernelAttention(tf.ones([4, 30]) as tf.Tensor2D, 2, 1),
    /XftCausalAttention: qkv \[4,30\] does not split into batch 2 and 3 x 1 heads of a multiple of 8/,
  );
});

test("the model's loss and gradients are the same with xft's TensorFlow ops and with tfjs ops", async (t) => {
  const info = await nativeOnly(t);
  if (!info) return;
  assertModelSameWithKernel((impl) => loadTfOps("tensorflow", info.threads, impl));
});
