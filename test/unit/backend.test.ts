/**
 * The whole model's loss and gradients on every backend that starts here, against the pure-JS cpu
 * backend, for xft's GPT and for the Llama family (RMSNorm, rotary positions, grouped-query attention, SwiGLU).
 * Tolerance: |a - b| <= 1e-4 * max|b| + 1e-6 per parameter tensor, since float32 sums in a
 * different order differ in the last bits (measured here: about 1e-6 relative). webgpu runs on SwiftShader, the
 * software adapter in Debian's chromium, where no GPU is at hand.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { test } from "node:test";
import { BACKEND_ORDER, initBackend, tf } from "../../src/backend/engine";
import { linear, nativeFusedMatMul } from "../../src/backend/native";
import { columnSums, transposeLastTwo, unsortedSegmentSumValues } from "../../src/backend/wasm";
import { SWIFTSHADER_ICD } from "../../src/backend/dawn";
import { GptConfig, initialValues, ModelConfig, paramsFromValues, disposeParams } from "../../src/model/model";
import { batchLoss } from "../../src/train/trainer";
import { makeBatch } from "../../src/train/sequences";
import { tinyQwen2 } from "../tiny-models";

const CFG: GptConfig = { vocabSize: 64, maxLen: 16, layers: 2, dModel: 32, heads: 4, mlpRatio: 4, initStd: 0.02 };
/** Qwen2's options (q/k/v biases), two query heads per key/value head, an untied head. */
const LLAMA = tinyQwen2({ vocabSize: 64, layers: 2 });
const REL_TOL = 1e-4;

/** Read asynchronously: the webgpu backend cannot read the GPU synchronously in Node. */
async function lossAndGrads(cfg: ModelConfig): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const params = paramsFromValues(cfg, initialValues(cfg, 11));
  const examples = [
    { tokens: [1, 5, 9, 13, 2, 40, 41, 3], promptLen: 5, label: 0 },
    { tokens: [1, 6, 10, 2, 42, 3], promptLen: 4, label: 1 },
    { tokens: [1, 7, 11, 15, 19, 23, 2, 43, 44, 45, 3], promptLen: 7, label: 2 },
  ];
  const batch = makeBatch(examples, 0, cfg.maxLen);
  const vars = Object.values(params);
  const { value, grads } = tf.variableGrads(() => batchLoss(params, cfg, batch), vars);
  const out = new Map<string, Float32Array>();
  for (const [name, p] of Object.entries(params)) out.set(name, (await grads[p.name].data()) as Float32Array);
  const loss = (await value.data())[0];
  tf.dispose([value, ...Object.values(grads)]);
  disposeParams(params);
  return { loss, grads: out };
}

test("UnsortedSegmentSum (wasm's missing kernel) sums rows into segments", () => {
  const x = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(Array.from(unsortedSegmentSumValues(x, new Int32Array([2, 0, 2, 9]), 3)), [3, 4, 0, 0, 6, 8]);
});

test("transposeLastTwo swaps rows and columns of each matrix in a batch", () => {
  const out = new Float32Array(12);
  transposeLastTwo(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), 2, 3, out);
  assert.deepEqual(Array.from(out), [1, 4, 2, 5, 3, 6, 7, 10, 8, 11, 9, 12]);
  // Rows not a multiple of its groups of 8, in a batch of 3.
  const [rows, cols] = [19, 5];
  const x = Float32Array.from({ length: 3 * rows * cols }, (_, i) => i);
  const big = new Float32Array(x.length);
  transposeLastTwo(x, rows, cols, big);
  for (let b = 0; b < 3; b++) {
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) assert.equal(big[b * rows * cols + j * rows + i], x[b * rows * cols + i * cols + j]);
    }
  }
});

test("columnSums adds rows in float64, so a large sum keeps small terms", () => {
  const out = new Float32Array(2);
  columnSums(new Float32Array([1e8, 1, 1, 2, 1, 3, -1e8, 4]), out);
  assert.deepEqual(Array.from(out), [2, 10]);
});

test("wasm's mended matMul, Transpose, Sum and GatherV2 give the cpu backend's results for every transpose, batch and axis", async () => {
  // [a shape, b shape, transposeA, transposeB]: both ways round of the cheaper-transpose choice, batches, a broadcast batch.
  const cases: Array<[number[], number[], boolean, boolean]> = [
    [[5, 3], [3, 4], false, false],
    [[3, 5], [3, 4], true, false],
    [[3, 50], [3, 2], true, false],
    [[5, 3], [4, 3], false, true],
    [[50, 3], [2, 3], false, true],
    [[3, 5], [4, 3], true, true],
    [[2, 5, 3], [2, 3, 4], false, false],
    [[2, 3, 5], [2, 3, 4], true, false],
    [[2, 5, 3], [2, 4, 3], false, true],
    [[2, 3, 5], [2, 4, 3], true, true],
    [[2, 5, 3], [3, 4], false, false],
    [[5, 3], [2, 4, 3], false, true],
  ];
  // Transposes that keep the last axis or swap the last two (the mended kernel; sizes across its 32-tiles),
  // and one that does neither (the original kernel).
  const perms: Array<[number[], number[]]> = [
    [
      [2, 3, 4, 5],
      [0, 2, 1, 3],
    ],
    [
      [2, 3, 2, 2, 4],
      [2, 0, 3, 1, 4],
    ],
    [
      [3, 2, 4],
      [1, 0, 2],
    ],
    [
      [3, 2, 4],
      [0, 2, 1],
    ],
    [
      [40, 70],
      [1, 0],
    ],
    [
      [2, 33, 65],
      [0, 2, 1],
    ],
    [
      [3, 2, 4],
      [2, 1, 0],
    ],
  ];
  // Sums over leading axes (mended, with and without keepDims, axes in any order) and over an inner one (original).
  const sums: Array<[number[], number | number[], boolean]> = [
    [[50, 7], 0, false],
    [[4, 5, 6], [0, 1], true],
    [[4, 5, 6], [1, 0], false],
    [[4, 5, 6], 1, false],
  ];
  // Gathers of rows (mended: float32 and int32, indices of rank 1 and 2, repeated rows) and along axis 1 (original).
  const gathers: Array<[tf.DataType, number[], number[], number[], number]> = [
    ["float32", [9, 5], [4, 0, 8, 4], [4], 0],
    ["int32", [7, 3, 2], [6, 1, 1, 0, 2, 5], [2, 3], 0],
    ["float32", [9, 5], [3, 0, 4], [3], 1],
  ];
  const valuesOf = (make: () => tf.Tensor) =>
    tf.tidy(() => {
      const y = make();
      return { shape: y.shape, values: Array.from(y.dataSync()) };
    });
  const results = () => [
    ...cases.map(([sa, sb, ta, tb], i) =>
      valuesOf(() => tf.matMul(tf.randomUniform(sa, -1, 1, "float32", 2 * i + 1), tf.randomUniform(sb, -1, 1, "float32", 2 * i + 2), ta, tb)),
    ),
    ...perms.map(([shape, perm], i) => valuesOf(() => tf.randomUniform(shape, -1, 1, "float32", 100 + i).transpose(perm))),
    ...sums.map(([shape, axis, keepDims], i) => valuesOf(() => tf.randomUniform(shape, -1, 1, "float32", 200 + i).sum(axis, keepDims))),
    ...gathers.map(([dtype, shape, index, indexShape, axis], i) =>
      valuesOf(() => tf.gather(tf.randomUniform(shape, -100, 100, dtype, 300 + i), tf.tensor(index, indexShape, "int32"), axis)),
    ),
  ];
  await initBackend({ requested: "cpu", quiet: true });
  const expected = results();
  await initBackend({ requested: "wasm", quiet: true });
  results().forEach((got, i) => {
    assert.deepEqual(got.shape, expected[i].shape, `case ${i}: shape`);
    got.values.forEach((v, j) =>
      assert.ok(Math.abs(v - expected[i].values[j]) < 1e-5, `case ${i}: element ${j} is ${v}, expected ${expected[i].values[j]}`),
    );
  });
  const [x, index] = [tf.ones([3, 2]), tf.tensor1d([0, 3], "int32")];
  const before = tf.memory().numTensors;
  assert.throws(() => tf.gather(x, index), /index value 3 is not in \[0, 2\]/);
  assert.equal(tf.memory().numTensors, before, "a rejected gather leaves no output behind");
  tf.dispose([x, index]);
});

for (const [family, cfg] of [
  ["xft's GPT", CFG],
  ["Llama (Qwen2's options)", LLAMA],
] as const) {
  test(`${family}: loss and gradients on every available backend match the cpu backend`, async () => {
    await initBackend({ requested: "cpu", quiet: true });
    const reference = await lossAndGrads(cfg);
    const compared: string[] = [];
    for (const name of BACKEND_ORDER.filter((b) => b !== "cpu")) {
      let info;
      try {
        info = await initBackend({ requested: name, quiet: true });
      } catch {
        continue; // not installed here
      }
      // On webgpu, xft's WGSL kernels are what is compared (tfjs's own programs are the fallback).
      if (name === "webgpu") assert.deepEqual([info.tfOps, info.attention], ["kernel", "kernel"], "webgpu runs xft's WGSL kernels");
      const got = await lossAndGrads(cfg);
      assert.ok(Math.abs(got.loss - reference.loss) <= REL_TOL * Math.abs(reference.loss), `${name}: loss ${got.loss} vs ${reference.loss}`);
      const worstRel: Array<[string, number]> = [];
      for (const [param, ref] of reference.grads) {
        const g = got.grads.get(param)!;
        const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const worst = ref.reduce((m, v, i) => Math.max(m, Math.abs(v - g[i])), 0);
        assert.ok(worst <= REL_TOL * scale + 1e-6, `${name}: gradient of ${param} differs by ${worst} (scale ${scale})`);
        worstRel.push([param, worst / (scale || 1)]);
      }
      const rel = worstRel.map(([, r]) => r);
      compared.push(`${name} (worst gradient ${Math.max(...rel).toExponential(1)} of its tensor's largest)`);
      // Per parameter tensor, for the closing notes of backend work: the largest difference over the largest entry.
      if (name === "webgpu") console.log(`${family} on webgpu, per tensor: ${worstRel.map(([p, r]) => `${p} ${r.toExponential(1)}`).join(", ")}`);
    }
    assert.ok(
      compared.some((c) => c.startsWith("wasm")),
      "the wasm backend ships with the project and must always be compared",
    );
    // SwiftShader comes with Debian's chromium, which the set-up installs: where it is, webgpu must be compared.
    if (fs.existsSync(SWIFTSHADER_ICD))
      assert.ok(
        compared.some((c) => c.startsWith("webgpu")),
        "webgpu on SwiftShader",
      );
    console.log(`${family}, compared with cpu: ${compared.join(", ")}`);
  });
}

test("native: linear layers on TensorFlow's fused MatMul+BiasAdd equal matMul + add bit for bit; what it does not fuse keeps tfjs-node's kernel", async () => {
  await initBackend({ requested: "tensorflow", quiet: true });
  assert.ok(nativeFusedMatMul(), "the mended kernel is registered (needs the patched binding: npx patch-package, then scripts/native-tf.sh)");
  const a = tf.randomUniform([37, 20], -1, 1, "float32", 1) as tf.Tensor2D;
  const b = tf.randomUniform([20, 29], -1, 1, "float32", 2) as tf.Tensor2D;
  const bt = b.transpose() as tf.Tensor2D;
  const bias = tf.randomUniform([29], -1, 1, "float32", 3);
  const same = (x: tf.Tensor, y: tf.Tensor, what: string) => {
    assert.deepEqual(x.shape, y.shape, `${what}: shape`);
    assert.deepEqual(Array.from(x.dataSync()), Array.from(y.dataSync()), what);
  };
  same(tf.fused.matMul({ a, b, bias }), tf.matMul(a, b).add(bias), "linear");
  same(tf.fused.matMul({ a, b: bt, bias, transposeB: true }), tf.matMul(a, b).add(bias), "transposed weight");
  same(tf.fused.matMul({ a, b, bias, activation: "relu" }), tf.relu(tf.matMul(a, b).add(bias)), "relu");
  same(tf.fused.matMul({ a, b, bias, activation: "elu" }), tf.elu(tf.matMul(a, b).add(bias)), "elu (not fused: tfjs-node's kernel)");
  const batched = tf.randomUniform([3, 37, 20], -1, 1, "float32", 4) as tf.Tensor3D;
  same(tf.fused.matMul({ a: batched, b: tf.stack([b, b, b]) as tf.Tensor3D, bias }), tf.matMul(batched, b).add(bias), "batched (tfjs-node's kernel)");
  const grads = (f: (x: tf.Tensor, w: tf.Tensor, c: tf.Tensor) => tf.Tensor) =>
    tf.grads((x: tf.Tensor, w: tf.Tensor, c: tf.Tensor) => f(x, w, c).square().sum())([a, b, bias]);
  grads((x, w, c) => tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: c })).forEach((g, i) =>
    same(g, grads((x, w, c) => tf.matMul(x, w).add(c))[i], `gradient ${i}`),
  );
  // The model's linear layer, TensorFlow's ops called directly: the same product, gradients through autodiff's.
  same(linear(a, b, bias as tf.Tensor1D), tf.matMul(a, b).add(bias), "linear()");
  const reference = grads((x, w, c) => tf.matMul(x, w).add(c));
  grads((x, w, c) => linear(x as tf.Tensor2D, w as tf.Tensor2D, c as tf.Tensor1D)).forEach((g, i) => {
    assert.deepEqual(g.shape, reference[i].shape);
    const [got, want] = [g.dataSync(), reference[i].dataSync()];
    want.forEach((v, j) =>
      assert.ok(Math.abs(got[j] - v) <= 1e-5 * (1 + Math.abs(v)), `linear() gradient ${i}, element ${j}: ${got[j]} against ${v}`),
    );
  });
});

test("native: Reshape with kept shape tensors gives the same tensors, and a reshape leaves no tensor behind", async () => {
  await initBackend({ requested: "tensorflow", quiet: true });
  const x = tf.randomUniform([4, 6], -1, 1, "float32", 5);
  const ids = tf.tensor1d([1, 2, 3, 4, 5, 6], "int32");
  x.reshape([2, 12]).dispose(); // first use of these shapes keeps their shape tensors
  ids.reshape([2, 3]).dispose();
  const before = tf.memory().numTensors;
  const y = x.reshape([2, 12]);
  assert.deepEqual(y.shape, [2, 12]);
  assert.deepEqual(Array.from(y.dataSync()), Array.from(x.dataSync()));
  assert.deepEqual(ids.reshape([2, 3]).arraySync(), [
    [1, 2, 3],
    [4, 5, 6],
  ]);
  assert.equal(tf.memory().numTensors, before + 2, "only the two results");
});
