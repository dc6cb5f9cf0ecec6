import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { loadAttentionKernel } from "../../src/backend/attention-kernel";
import { initBackend, tf } from "../../src/backend/engine";
import {
  countParameters,
  createParams,
  disposeParams,
  forward,
  GptConfig,
  headChunkRows,
  hookNames,
  lossAt,
  flatPositions,
  Params,
} from "../../src/model/model";
import { layerNorm } from "../../src/model/ops/norms";
import { loadModel, saveModel } from "../../src/model/io";
import { decodeSafetensors, encodeSafetensors } from "../../src/model/safetensors";

const CFG: GptConfig = { vocabSize: 50, maxLen: 16, layers: 2, dModel: 16, heads: 2, mlpRatio: 4, initStd: 0.02 };
const tokens = () =>
  tf.tensor2d(
    [
      [1, 2, 3, 4, 5, 6],
      [7, 8, 9, 10, 11, 12],
    ],
    [2, 6],
    "int32",
  );

test("parameter count follows the config", async () => {
  await initBackend({ quiet: true });
  const d = 16;
  const perLayer = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d);
  assert.equal(countParameters(CFG), 50 * d + 16 * d + 2 * perLayer + 2 * d);
});

test("hook points have the documented shapes; attention is causal and rows sum to 1", async () => {
  await initBackend({ quiet: true });
  const params = createParams(CFG, 1);
  const { hidden, cache } = forward(params, CFG, tokens(), { hooks: "all" });
  assert.deepEqual(hidden.shape, [2, 6, 16]);
  assert.deepEqual([...cache.keys()].sort(), hookNames(CFG.layers).sort());
  assert.deepEqual(cache.get("blocks.1.hook_resid_post")!.shape, [2, 6, 16]);
  const att = (await cache.get("blocks.0.attn.hook_pattern")!.array()) as number[][][][];
  assert.deepEqual([att.length, att[0].length, att[0][0].length, att[0][0][0].length], [2, 2, 6, 6]);
  for (const row of att[1][1]) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  assert.equal(att[0][0][2][3], 0, "position 2 must not attend to position 3");
  // The residual stream after the last block, normalised, is the final hidden state.
  const last = cache.get("blocks.1.hook_resid_post")!;
  const { mean, variance } = tf.moments(last, -1, true);
  const normed = last.sub(mean).div(variance.add(1e-5).sqrt()).mul(params["ln_f.g"]).add(params["ln_f.b"]);
  assert.ok(tf.max(tf.abs(normed.sub(hidden))).dataSync()[0] < 1e-5);
  tf.dispose([...cache.values(), hidden]);
  disposeParams(params);
});

test("hooks do not change the outputs, and the same seed gives the same model", async () => {
  await initBackend({ quiet: true });
  const a = createParams(CFG, 7);
  const b = createParams(CFG, 7);
  const plain = forward(a, CFG, tokens()).hidden;
  const hooked = forward(b, CFG, tokens(), { hooks: "all" });
  assert.deepEqual(await plain.data(), await hooked.hidden.data());
  tf.dispose([plain, hooked.hidden, ...hooked.cache.values()]);
  disposeParams(a);
  disposeParams(b);
});

test("the tied head's cross-entropy and its hand-written gradient match autodiff of log-softmax", async () => {
  await initBackend({ quiet: true });
  const params = createParams(CFG, 2);
  const hidden = tf.randomNormal([2, 3, 16], 0, 1, "float32", 3) as tf.Tensor3D;
  const idx = flatPositions(3, [0, 0, 1, 1, 1], [0, 2, 0, 1, 2]);
  const targets = tf.tensor1d([0, 3, 49, 2, 2], "int32");
  const reference = (h: tf.Tensor, wte: tf.Tensor) => {
    const logits = tf.matMul(tf.gather(h.reshape([6, 16]), idx), wte, false, true);
    return tf.logSoftmax(logits).mul(tf.oneHot(targets, 50)).sum().neg().div(5) as tf.Scalar;
  };
  const ours = (h: tf.Tensor, wte: tf.Tensor) => lossAt({ ...params, wte: wte as tf.Variable }, h as tf.Tensor3D, idx, targets);
  assert.ok(Math.abs(ours(hidden, params.wte).dataSync()[0] - reference(hidden, params.wte).dataSync()[0]) < 1e-5);
  const a = tf.grads(ours)([hidden, params.wte]);
  const e = tf.grads(reference)([hidden, params.wte]);
  a.forEach((t, i) => {
    const diff = t.sub(e[i]).abs().max().dataSync()[0];
    assert.ok(diff < 1e-6, `gradient ${i} differs by ${diff}`);
  });
  disposeParams(params);
});

// Blocks of 104 rows, which the head joins for P^T h, and of 1,048, whose products it sums (head.ts).
for (const [V, M] of [
  [40_000, 230],
  [4_000, 2_300],
]) {
  test(`the tied head in blocks of rows (a vocabulary of ${V}, ${M} rows) matches autodiff of log-softmax`, async () => {
    await initBackend({ quiet: true });
    assert.ok(headChunkRows(V) < M / 2, "the test must span several blocks");
    const wte = tf.randomNormal([V, 16], 0, 0.3, "float32", 8) as tf.Variable;
    const h = tf.randomNormal([M, 16], 0, 1, "float32", 9) as tf.Tensor2D;
    const targets = tf.tensor1d(
      Array.from({ length: M }, (_, i) => (i * 7919) % V),
      "int32",
    );
    const all = tf.range(0, M, 1, "int32") as tf.Tensor1D;
    const ours = (hh: tf.Tensor, w: tf.Tensor) => lossAt({ wte: w as tf.Variable }, hh.reshape([1, M, 16]) as tf.Tensor3D, all, targets);
    const reference = (hh: tf.Tensor, w: tf.Tensor) =>
      tf
        .logSoftmax(tf.matMul(hh, w, false, true))
        .mul(tf.oneHot(targets, V))
        .sum()
        .neg()
        .div(M) as tf.Scalar;
    assert.ok(Math.abs(ours(h, wte).dataSync()[0] - reference(h, wte).dataSync()[0]) < 1e-5);
    const a = tf.grads(ours)([h, wte]);
    const e = tf.grads(reference)([h, wte]);
    a.forEach((t, i) => {
      const diff = t.sub(e[i]).abs().max().dataSync()[0];
      assert.ok(diff < 1e-6, `gradient ${i} differs by ${diff}`);
    });
  });
}

test("causal attention's hand-written gradient matches autodiff (the hooked forward pass takes plain ops)", async () => {
  const info = await initBackend({ quiet: true });
  // The tfjs-ops path (the kernel's own gradient is checked in attention-kernel.test.ts).
  loadAttentionKernel(info.threads, "tfjs");
  const params = createParams({ ...CFG, initStd: 0.5 }, 4);
  const idx = flatPositions(6, [0, 1, 1], [5, 2, 5]);
  const targets = tf.tensor1d([3, 9, 1], "int32");
  const gradsOf = (hooks: "all" | undefined) => {
    const { value, grads } = tf.variableGrads(() => {
      const { hidden, cache } = forward(params, CFG, tokens(), { hooks });
      tf.dispose([...cache.values()]);
      return lossAt(params, hidden, idx, targets);
    }, Object.values(params));
    value.dispose();
    return grads;
  };
  const custom = gradsOf(undefined);
  const autodiff = gradsOf("all");
  for (const [name, p] of Object.entries(params as Params)) {
    const diff = custom[p.name].sub(autodiff[p.name]).abs().max().dataSync()[0];
    const scale = autodiff[p.name].abs().max().dataSync()[0];
    assert.ok(diff <= 1e-5 * scale + 1e-7, `${name}: gradients differ by ${diff} (max |g| ${scale})`);
  }
  disposeParams(params);
  loadAttentionKernel(info.threads);
});

test("LayerNorm's hand-written gradient matches autodiff of the textbook formula", async () => {
  await initBackend({ quiet: true });
  const x = tf.randomNormal([6, 8], 1, 3, "float32", 4);
  const g = tf.randomNormal([8], 1, 0.5, "float32", 5);
  const b = tf.randomNormal([8], 0, 0.5, "float32", 6);
  const w = tf.randomNormal([6, 8], 0, 1, "float32", 7); // a random downstream weighting
  const textbook = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
    const { mean, variance } = tf.moments(xx, -1, true);
    return xx.sub(mean).div(variance.add(1e-5).sqrt()).mul(gg).add(bb).mul(w).sum() as tf.Scalar;
  };
  const ours = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => layerNorm(xx, gg, bb).mul(w).sum() as tf.Scalar;
  assert.ok(Math.abs(ours(x, g, b).dataSync()[0] - textbook(x, g, b).dataSync()[0]) < 1e-4);
  const a = tf.grads(ours)([x, g, b]);
  const e = tf.grads(textbook)([x, g, b]);
  a.forEach((t, i) => {
    const diff = t.sub(e[i]).abs().max().dataSync()[0];
    assert.ok(diff < 1e-4, `gradient ${i} differs by ${diff}`);
  });
});

test("the model's gradient matches a finite difference", async () => {
  await initBackend({ quiet: true });
  const params = createParams(CFG, 3);
  const idx = flatPositions(6, [0, 1], [4, 5]);
  const targets = tf.tensor1d([3, 9], "int32");
  const lossOf = () => lossAt(params, forward(params, CFG, tokens()).hidden, idx, targets);
  const w = params["blocks.0.mlp.w1"];
  const grad = tf.variableGrads(lossOf, [w]).grads[w.name].dataSync();
  const values = w.dataSync().slice();
  for (const i of [0, 17, 123]) {
    const eps = 1e-2;
    const at = (delta: number) => {
      const v = values.slice();
      v[i] += delta;
      w.assign(tf.tensor(v, w.shape));
      return lossOf().dataSync()[0];
    };
    const numeric = (at(eps) - at(-eps)) / (2 * eps);
    assert.ok(Math.abs(numeric - grad[i]) < 2e-3 + 0.05 * Math.abs(grad[i]), `param ${i}: numeric ${numeric} vs ${grad[i]}`);
  }
  disposeParams(params);
});

test("safetensors round-trips, and a truncated file is a clear error", () => {
  const tensors = new Map([
    ["a", { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }],
    ["b", { shape: [1], data: new Int32Array([42]) }],
  ]);
  const buf = encodeSafetensors(tensors, { note: "hi" });
  assert.equal(Number(buf.readBigUInt64LE(0)) % 8, 0, "data starts 8-byte aligned");
  const back = decodeSafetensors(buf);
  assert.deepEqual(back.metadata, { note: "hi" });
  assert.deepEqual(Array.from(back.tensors.get("a")!.data), [1, 2, 3, 4, 5, 6]);
  assert.ok(back.tensors.get("b")!.data instanceof Int32Array);
  assert.throws(() => decodeSafetensors(buf.subarray(0, buf.length - 4), "x.safetensors"), /x\.safetensors: tensor b byte range/);
});

test("a saved model loads with the same config and gives the same outputs", async () => {
  await initBackend({ quiet: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xft-model-"));
  const params = createParams(CFG, 5);
  await saveModel(dir, params, CFG);
  const loaded = loadModel(dir);
  assert.deepEqual(loaded.config, CFG);
  const a = forward(params, CFG, tokens()).hidden;
  const b = forward(loaded.params, loaded.config, tokens()).hidden;
  assert.deepEqual(await a.data(), await b.data());
  tf.dispose([a, b]);
  disposeParams(params);
  disposeParams(loaded.params);
  fs.rmSync(dir, { recursive: true });
});
