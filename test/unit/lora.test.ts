import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { initBackend, tf } from "../../src/backend/engine";
import { createParams, disposeParams, forward, GptConfig, Params, paramsToValues } from "../../src/model/model";
import {
  adapterShapes,
  createAdapter,
  DEFAULT_LORA,
  loadAdapter,
  LoraConfig,
  loraForward,
  mergeAdapter,
  parseLoraTargets,
  saveAdapter,
} from "../../src/model/lora";
import { projection } from "../../src/model/ops/linear";
import { makeBatch } from "../../src/train/sequences";
import { train } from "../../src/train/trainer";
import { hashSeed, Rng } from "../../src/util/rng";
import { tinyQwen2 } from "../tiny-models";

const MODEL: GptConfig = { vocabSize: 50, maxLen: 16, layers: 2, dModel: 16, heads: 2, mlpRatio: 4, initStd: 0.02 };
const LORA: LoraConfig = { rank: 4, alpha: 8, dropout: 0.1, targets: ["attn.wqkv", "attn.wo", "mlp.w1", "mlp.w2"] };

function tokens(seed: number, rows = 3, length = 12): tf.Tensor2D {
  const rng = new Rng(seed);
  return tf.tensor2d(
    Array.from({ length: rows * length }, () => rng.int(MODEL.vocabSize)),
    [rows, length],
    "int32",
  );
}

/** Final hidden states as numbers, with an optional unmerged adapter (no dropout: inference). */
function outputs(params: Params, input: tf.Tensor2D, adapter?: Params): Float32Array {
  const lora = adapter ? { ...loraForward(adapter, LORA, 0), dropout: 0 } : undefined;
  const { hidden } = forward(params, MODEL, input, { lora });
  const out = hidden.dataSync() as Float32Array;
  hidden.dispose();
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

/** The adapter training tests' settings: a high rate, so that a few steps on random tokens visibly learn. */
function trainConfig(steps: number) {
  return {
    lr: 1e-2,
    minLr: 1e-3,
    warmupSteps: 2,
    weightDecay: 0.1,
    beta1: 0.9,
    beta2: 0.99,
    eps: 1e-8,
    gradClip: 1,
    steps,
    batchSize: 8,
    seed: 1,
    checkpointEvery: 100,
  };
}

test("a fresh adapter (B zero) gives the base model's outputs exactly, unmerged and merged", async () => {
  await initBackend();
  const base = createParams(MODEL, 1);
  const adapter = createAdapter(MODEL, LORA, 2);
  const input = tokens(3);
  const expected = outputs(base, input);
  assert.deepEqual(outputs(base, input, adapter), expected);
  const merged = mergeAdapter(base, adapter, LORA);
  assert.deepEqual(outputs(merged, input), expected);
  // A is random, B zero: the adapter's update starts at zero but its gradient does not.
  const a = adapter["blocks.0.attn.wqkv.lora_a"].dataSync();
  assert.ok(a.some((v) => v !== 0));
  assert.ok(adapter["blocks.0.attn.wqkv.lora_b"].dataSync().every((v) => v === 0));
  for (const p of [base, adapter, merged]) disposeParams(p);
  input.dispose();
});

test("LoRA training changes the adapter only; merged, saved and loaded adapters give the same outputs", async () => {
  await initBackend();
  const base = createParams(MODEL, 1);
  const before = await paramsToValues(base);
  const adapter = createAdapter(MODEL, LORA, 2);
  const rng = new Rng(5);
  const examples = Array.from({ length: 16 }, () => ({ tokens: Array.from({ length: 12 }, () => rng.int(MODEL.vocabSize)), promptLen: 1, label: 0 }));
  const config = trainConfig(20);
  const result = await train({ params: base, model: MODEL, config, examples, padId: 0, adapter: { params: adapter, config: LORA } });
  assert.ok(result.losses.at(-1)!.loss < result.losses[0].loss, "the adapter learns");
  const after = await paramsToValues(base);
  for (const [name, v] of before) assert.deepEqual(after.get(name), v, `${name} is frozen`);
  assert.ok(
    adapter["blocks.1.mlp.w2.lora_b"].dataSync().some((v) => v !== 0),
    "B has moved off zero",
  );

  const input = tokens(7);
  const unmerged = outputs(base, input, adapter);
  const merged = mergeAdapter(base, adapter, LORA);
  const mergedOut = outputs(merged, input);
  assert.ok(maxAbsDiff(unmerged, mergedOut) < 1e-5, `merged and unmerged agree (max diff ${maxAbsDiff(unmerged, mergedOut)})`);
  assert.ok(maxAbsDiff(mergedOut, outputs(base, input)) > 1e-4, "and differ from the base");

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xft-lora-"));
  await saveAdapter(dir, adapter, { lora: LORA, base: { dir: "(test)", hash: "0" } });
  const stored = fs.readdirSync(dir).sort();
  assert.deepEqual(stored, ["adapter.json", "adapter.safetensors"], "only the adapter is saved");
  const loaded = loadAdapter(dir, MODEL);
  assert.deepEqual(loaded.info.lora, LORA);
  const remerged = mergeAdapter(base, loaded.adapter, loaded.info.lora);
  assert.deepEqual(outputs(remerged, input), mergedOut);
  const adapterValues = adapterShapes(MODEL, LORA).reduce((n, [, s]) => n + s[0] * s[1], 0);
  assert.ok(fs.statSync(path.join(dir, "adapter.safetensors")).size < adapterValues * 4 + 4096);
  for (const p of [base, adapter, merged, loaded.adapter, remerged]) disposeParams(p);
  input.dispose();
});

test("an interrupted LoRA run resumes from its checkpoint to the same adapter as an uninterrupted one", async () => {
  await initBackend();
  const rng = new Rng(6);
  const examples = Array.from({ length: 16 }, () => ({ tokens: Array.from({ length: 12 }, () => rng.int(MODEL.vocabSize)), promptLen: 1, label: 0 }));
  const config = trainConfig(12);
  const run = async (checkpointFile?: string, stopAt?: number) => {
    const base = createParams(MODEL, 1);
    const adapter = createAdapter(MODEL, LORA, 2);
    let steps = 0;
    await train({
      params: base,
      model: MODEL,
      config,
      examples,
      padId: 0,
      adapter: { params: adapter, config: LORA },
      checkpointFile,
      shouldStop: () => ++steps === stopAt,
    });
    const values = await paramsToValues(adapter);
    disposeParams(base);
    disposeParams(adapter);
    return values;
  };
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "xft-lora-")), "checkpoint.safetensors");
  await run(file, 5);
  assert.deepEqual(await run(file), await run());
});

test("LoRA dropout is seeded by (seed, step): the same seed gives the same masks", async () => {
  await initBackend();
  const base = createParams(MODEL, 1);
  const adapter = createAdapter(MODEL, LORA, 2);
  // With a nonzero B the dropout on the adapter's input shows in the output.
  for (const [name, v] of Object.entries(adapter)) if (name.endsWith("lora_b")) v.assign(tf.onesLike(v));
  const input = tokens(3);
  const run = (seed: number) => {
    const { hidden } = forward(base, MODEL, input, { lora: loraForward(adapter, { ...LORA, dropout: 0.5 }, seed) });
    const out = hidden.dataSync() as Float32Array;
    hidden.dispose();
    return out;
  };
  assert.deepEqual(run(11), run(11));
  assert.ok(maxAbsDiff(run(11), run(12)) > 1e-4);
  for (const p of [base, adapter]) disposeParams(p);
  input.dispose();
});

test("LoRA settings are checked: rank, alpha, dropout and target names", () => {
  assert.throws(() => adapterShapes(MODEL, { ...DEFAULT_LORA, rank: 0 }), /rank must be a positive integer/);
  assert.throws(() => adapterShapes(MODEL, { ...DEFAULT_LORA, dropout: 1 }), /dropout must be in \[0, 1\)/);
  assert.throws(() => adapterShapes(MODEL, { ...DEFAULT_LORA, alpha: -1 }), /alpha must be positive/);
  assert.throws(() => parseLoraTargets("attn.wqkv,attn.q"), /unknown target attn\.q/);
  assert.deepEqual(parseLoraTargets("attn.wqkv, mlp.w2"), ["attn.wqkv", "mlp.w2"]);
  assert.equal(adapterShapes(MODEL, { ...DEFAULT_LORA, targets: ["attn.wo"] }).length, 2 * MODEL.layers);
  assert.deepEqual(makeBatch([{ tokens: [1, 2, 3], promptLen: 1, label: 0 }], 0, 16).lossTargets, [2, 3], "a block's every next token is a target");
});

const LLAMA = tinyQwen2({ vocabSize: 50, layers: 2 });

test("LoRA targets by the checkpoint's module names: Llama's q_proj/o_proj/down_proj, GPT-2's c_proj (both output projections)", async () => {
  await initBackend();
  const lora: LoraConfig = { rank: 2, alpha: 4, dropout: 0, targets: ["q_proj", "o_proj", "down_proj"] };
  assert.deepEqual(
    adapterShapes(LLAMA, lora)
      .slice(0, 6)
      .map(([name, shape]) => `${name} [${shape}]`),
    [
      "blocks.0.attn.wq.lora_a [16,2]",
      "blocks.0.attn.wq.lora_b [2,16]",
      "blocks.0.attn.wo.lora_a [16,2]",
      "blocks.0.attn.wo.lora_b [2,16]",
      "blocks.0.mlp.wdown.lora_a [24,2]",
      "blocks.0.mlp.wdown.lora_b [2,16]",
    ],
  );
  assert.deepEqual(
    adapterShapes(MODEL, { ...lora, targets: ["c_proj"] })
      .map(([name]) => name)
      .filter((n) => n.startsWith("blocks.0.")),
    ["blocks.0.attn.wo.lora_a", "blocks.0.attn.wo.lora_b", "blocks.0.mlp.w2.lora_a", "blocks.0.mlp.w2.lora_b"],
  );
  assert.throws(() => adapterShapes(LLAMA, { ...lora, targets: ["c_attn"] }), /target c_attn is not a matrix of a qwen2 model; it has .*q_proj/);
  // Unmerged (training) and merged (inference) give the same outputs once B is non-zero.
  const base = createParams(LLAMA, 5);
  const adapter = createAdapter(LLAMA, lora, 6);
  for (const [name, v] of Object.entries(adapter)) if (name.endsWith(".lora_b")) v.assign(tf.randomNormal(v.shape, 0, 0.3, "float32", 7));
  const input = tf.tensor2d(
    [
      [1, 2, 3, 4, 5, 6],
      [7, 8, 9, 10, 11, 12],
    ],
    [2, 6],
    "int32",
  );
  const unmerged = forward(base, LLAMA, input, { lora: loraForward(adapter, lora, 0) }).hidden;
  const merged = mergeAdapter(base, adapter, lora);
  const viaMerge = forward(merged, LLAMA, input).hidden;
  const plain = forward(base, LLAMA, input).hidden;
  assert.ok(maxAbsDiff(unmerged.dataSync() as Float32Array, viaMerge.dataSync() as Float32Array) < 1e-5);
  assert.ok(maxAbsDiff(unmerged.dataSync() as Float32Array, plain.dataSync() as Float32Array) > 1e-3, "the adapter changes the outputs");
  tf.dispose([unmerged, viaMerge, plain, input]);
  for (const p of [base, adapter, merged]) disposeParams(p);
});

test("the adapter's update (one op, its own gradient) gives autodiff's numbers of dropout(x) A B exactly, kept from the tape as booleans", async () => {
  await initBackend();
  const rng = new Rng(5);
  const normal = (shape: number[]) =>
    tf.tensor(
      Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal()),
      shape,
      "float32",
    );
  const params: Params = { w: tf.variable(normal([16, 24])), b: tf.variable(normal([24])) };
  const adapter: Params = { "w.lora_a": tf.variable(normal([16, 4])), "w.lora_b": tf.variable(normal([4, 24])) };
  const x = normal([40, 16]);
  for (const dropout of [0, 0.3]) {
    const lora = { ...loraForward(adapter, LORA, 11), dropout };
    // The composition that autodiff differentiates, as the op's forward pass reads.
    const reference = () => {
      const dropped = dropout > 0 ? tf.dropout(x, dropout, undefined, hashSeed(lora.dropoutSeed, "w")) : x;
      const y = tf.matMul(x, params.w).add(params.b).add(tf.matMul(dropped, adapter["w.lora_a"]).mul(lora.scale).matMul(adapter["w.lora_b"]));
      return y.square().sum() as tf.Scalar;
    };
    const fused = () => projection(params, lora)(x, "w", "b").square().sum() as tf.Scalar;
    const vars = [adapter["w.lora_a"], adapter["w.lora_b"]];
    const want = tf.variableGrads(reference, vars);
    const before = tf.memory().numTensors;
    const got = tf.variableGrads(fused, vars);
    assert.equal(got.value.dataSync()[0], want.value.dataSync()[0], `loss at dropout ${dropout}`);
    for (const v of vars) assert.deepEqual(got.grads[v.name].dataSync(), want.grads[v.name].dataSync(), `${v.name} at dropout ${dropout}`);
    // Nothing is left behind but the loss and the two gradients.
    assert.equal(tf.memory().numTensors - before, 3);
    tf.dispose([want.value, got.value, ...Object.values(want.grads), ...Object.values(got.grads)]);
  }
  tf.dispose([x, ...Object.values(params), ...Object.values(adapter)]);
});
