/**
 * Activation checkpointing (TrainConfig's `recompute`, families/family.ts): the same loss and gradients as the plain
 * backward pass, full fine-tuning and LoRA with dropout, on both families, and a lower peak of live tensors.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { initBackend, tf } from "../../src/backend/engine";
import { allLinearTargets, createAdapter, LoraConfig, loraForward } from "../../src/model/lora";
import { createParams, disposeParams, forward, GptConfig, ModelConfig, Params } from "../../src/model/model";
import type { Batch } from "../../src/train/sequences";
import { runFolderOf } from "../../src/runs/experiment";
import { PROFILES } from "../../src/runs/profiles";
import { batchLoss, gradsByName, identifyingConfig, StepOptions } from "../../src/train/trainer";
import { Rng } from "../../src/util/rng";
import { tinyQwen2 } from "../tiny-models";

const GPT: GptConfig = { vocabSize: 40, maxLen: 16, layers: 3, dModel: 16, heads: 2, mlpRatio: 4, initStd: 0.2 };
const LLAMA = tinyQwen2({ vocabSize: 40, layers: 3 });

/** Random tokens with the loss on every position. */
function randomBatch(model: ModelConfig, rows: number, length: number, seed = 1): Batch {
  const rng = new Rng(seed);
  const n = rows * length;
  const inputs = new Int32Array(n).map(() => rng.int(model.vocabSize));
  const lossPositions = Array.from({ length: n }, (_, i) => i);
  return { inputs, rows, length, lossPositions, lossTargets: lossPositions.map(() => rng.int(model.vocabSize)), realTokens: n };
}

/** The loss and the gradient of every trained tensor (the adapter's under LoRA, else the model's), by name. */
function lossAndGrads(params: Params, model: ModelConfig, batch: Batch, opts: StepOptions): { loss: number; grads: Map<string, Float32Array> } {
  const trained = opts.lora?.adapter ?? params;
  const { value, grads } = tf.variableGrads(() => batchLoss(params, model, batch, opts), Object.values(trained));
  const named = gradsByName(trained, grads);
  const out = new Map(Object.entries(named).map(([name, g]) => [name, g.dataSync() as Float32Array]));
  const loss = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return { loss, grads: out };
}

/** Each gradient of `b` equal to `a`'s within 1e-5 of the gradient's largest magnitude. */
function assertSameGrads(a: Map<string, Float32Array>, b: Map<string, Float32Array>, what: string): void {
  assert.deepEqual([...b.keys()], [...a.keys()], `${what}: the same tensors get gradients`);
  for (const [name, ga] of a) {
    const gb = b.get(name)!;
    const scale = ga.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const diff = ga.reduce((m, v, i) => Math.max(m, Math.abs(v - gb[i])), 0);
    assert.ok(scale > 0, `${what}: ${name} has a gradient`);
    assert.ok(diff <= 1e-5 * scale, `${what}: ${name} differs by ${diff} (largest magnitude ${scale})`);
  }
}

for (const [family, model] of [
  ["gpt", GPT],
  ["llama", LLAMA],
] as const) {
  test(`${family}: recomputed blocks give the plain backward pass's loss and gradients, full and LoRA with dropout`, async () => {
    await initBackend({ quiet: true });
    const params = createParams(model, 3);
    const lora: LoraConfig = { rank: 4, alpha: 8, dropout: 0.3, targets: allLinearTargets(model) };
    const adapter = createAdapter(model, lora, 4);
    // B is zero in a fresh adapter, which leaves A without a gradient.
    for (const [name, v] of Object.entries(adapter)) if (name.endsWith(".lora_b")) v.assign(tf.randomNormal(v.shape, 0, 0.3, "float32", 5));
    const batch = randomBatch(model, 3, 12);
    // A first pass makes the tensors that ops keep for the process (masks, shapes, rotary tables).
    lossAndGrads(params, model, batch, { lora: loraForward(adapter, lora, 7), recompute: true });
    lossAndGrads(params, model, batch, {});
    const before = tf.memory().numTensors;
    for (const [what, pass] of [
      ["full", {}],
      ["LoRA", { lora: loraForward(adapter, lora, 7) }],
    ] as Array<[string, StepOptions]>) {
      const plain = lossAndGrads(params, model, batch, pass);
      const recomputed = lossAndGrads(params, model, batch, { ...pass, recompute: true });
      assert.ok(Math.abs(recomputed.loss - plain.loss) <= 1e-6 * Math.abs(plain.loss), `${what}: loss ${recomputed.loss} against ${plain.loss}`);
      assertSameGrads(plain.grads, recomputed.grads, `${family} ${what}`);
    }
    // The dropout masks matter: another step's seed gives other gradients.
    const otherMasks = lossAndGrads(params, model, batch, { lora: loraForward(adapter, lora, 8), recompute: true });
    const sameMasks = lossAndGrads(params, model, batch, { lora: loraForward(adapter, lora, 7), recompute: true });
    assert.notEqual(otherMasks.loss, sameMasks.loss);
    // Nothing is left behind: the recomputation's tape and activations go with the gradient.
    assert.equal(tf.memory().numTensors, before);
    disposeParams(adapter);
    disposeParams(params);
  });
}

test("recomputed blocks lower the peak of live tensors during a gradient", async () => {
  await initBackend({ quiet: true });
  const model: GptConfig = { vocabSize: 64, maxLen: 32, layers: 6, dModel: 32, heads: 4, mlpRatio: 4, initStd: 0.02 };
  const params = createParams(model, 1);
  const batch = randomBatch(model, 16, 32);
  const peakBytes = async (recompute: boolean) => {
    const profile = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(() => batchLoss(params, model, batch, { recompute }), Object.values(params));
      return [value, ...Object.values(grads)];
    });
    tf.dispose(profile.result as tf.Tensor[]);
    return profile.peakBytes;
  };
  const params0 = tf.memory().numBytes;
  const plain = (await peakBytes(false)) - params0;
  const recomputed = (await peakBytes(true)) - params0;
  // Six blocks' activations against one block's and six inputs: well under half.
  assert.ok(recomputed < 0.5 * plain, `peak above the parameters: ${recomputed} bytes recomputing against ${plain}`);
  disposeParams(params);
});

test("a forward pass that records hook points runs its blocks as they are", async () => {
  await initBackend({ quiet: true });
  const params = createParams(GPT, 2);
  const input = tf.tensor2d(randomBatch(GPT, 2, 8).inputs, [2, 8], "int32");
  const plain = forward(params, GPT, input, { hooks: "all" });
  const recompute = forward(params, GPT, input, { hooks: "all", recompute: true });
  assert.deepEqual([...recompute.cache.keys()], [...plain.cache.keys()]);
  assert.deepEqual(recompute.hidden.dataSync(), plain.hidden.dataSync());
  tf.dispose([plain.hidden, recompute.hidden, input, ...plain.cache.values(), ...recompute.cache.values()]);
  disposeParams(params);
});

test("recomputing is recorded in the run's config but leaves its key as it is", () => {
  const spec = { dataset: "esnli", condition: "label", seed: 1, profile: "ci" };
  const plain = runFolderOf(spec);
  assert.equal(runFolderOf({ ...spec, recompute: true }).key, plain.key);
  const config = { ...PROFILES.ci.train, seed: 1, steps: 10 };
  assert.deepEqual(identifyingConfig({ ...config, recompute: true }), config);
  assert.equal(JSON.stringify(identifyingConfig(config)), JSON.stringify(config), "a config without it is unchanged");
});
