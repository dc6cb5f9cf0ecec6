/**
 * NaN and Inf never become a stored result: weights at load (model and LoRA adapter), readout probabilities,
 * and the probe's snapshots and self-check are errors that name the file, tensor, example, run or measure.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { initBackend } from "../../src/backend/engine";
import { readLabels } from "../../src/eval/readout";
import { loadModel, paramsToTensorMap, saveModel } from "../../src/model/io";
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, createAdapter, DEFAULT_LORA, loadAdapter } from "../../src/model/lora";
import { createParams, disposeParams, GptConfig, paramsFromValues, paramsToValues } from "../../src/model/model";
import { saveSafetensors } from "../../src/model/safetensors";
import { DecisionSnapshot } from "../../src/probe/measures";
import { assertFiniteSnapshots, maxReadoutDifference, PROBE_FILE, probeRun } from "../../src/probe/run-probe";
import { recordArtifacts } from "../../src/runs/artifacts";
import { baseParams, sha256 } from "../../src/runs/base";
import { runExperiment, RunRecord } from "../../src/runs/experiment";
import { GRID_PROFILES } from "../../src/runs/grid";

const TINY: GptConfig = { vocabSize: 16, maxLen: 8, layers: 1, dModel: 8, heads: 2, mlpRatio: 2, initStd: 0.02 };

let tmp: string;
before(async () => {
  await initBackend({ quiet: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "xft-nonfinite-"));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A model folder whose weights are `TINY`'s with one value of `tensor` set to `value`. */
async function saveWithValue(dir: string, tensor: string, value: number): Promise<void> {
  const params = createParams(TINY, 1);
  const values = await paramsToValues(params);
  disposeParams(params);
  values.get(tensor)![0] = value;
  const poisoned = paramsFromValues(TINY, values);
  await saveModel(dir, poisoned, TINY);
  disposeParams(poisoned);
}

test("a NaN or Inf weight in a saved model is an error at load naming the file and the tensor", async () => {
  const nan = path.join(tmp, "nan-model");
  await saveWithValue(nan, "ln_f.g", NaN);
  assert.throws(() => loadModel(nan), /nan-model\/model\.safetensors: tensor ln_f\.g has a non-finite value \(NaN\) at index 0/);
  const inf = path.join(tmp, "inf-model");
  await saveWithValue(inf, "wte", -Infinity);
  assert.throws(() => loadModel(inf), /model\.safetensors: tensor wte has a non-finite value \(-Infinity\)/);
  const fine = path.join(tmp, "fine-model");
  await saveWithValue(fine, "ln_f.g", 1);
  disposeParams(loadModel(fine).params);
});

test("a NaN in a pretrained base's weights is an error when a run starts from it, naming the file and the tensor", async () => {
  const dir = path.join(tmp, "nan-base");
  await saveWithValue(dir, "blocks.0.attn.wqkv", NaN);
  const bytes = fs.readFileSync(path.join(dir, "model.safetensors"));
  assert.throws(
    () => baseParams({ dir, hash: sha256(bytes) }, TINY),
    /nan-base\/model\.safetensors: tensor blocks\.0\.attn\.wqkv has a non-finite value \(NaN\)/,
  );
});

test("a NaN in a LoRA adapter is an error at load naming adapter.safetensors and the tensor", async () => {
  const dir = path.join(tmp, "nan-adapter");
  fs.mkdirSync(dir);
  const adapter = createAdapter(TINY, DEFAULT_LORA, 1);
  const tensors = await paramsToTensorMap(adapter);
  disposeParams(adapter);
  const [name, first] = [...tensors][0];
  first.data[1] = NaN;
  saveSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE), tensors, { format: "xft-lora" });
  fs.writeFileSync(path.join(dir, ADAPTER_CONFIG_FILE), JSON.stringify({ lora: DEFAULT_LORA, base: { dir: "none", hash: "none" } }));
  assert.throws(
    () => loadAdapter(dir, TINY),
    new RegExp(`adapter\\.safetensors: tensor ${name.replace(/\./g, "\\.")} has a non-finite value \\(NaN\\) at index 1`),
  );
});

test("readout: a non-finite label probability is an error naming the example", async () => {
  const params = createParams(TINY, 1);
  const values = await paramsToValues(params);
  disposeParams(params);
  values.get("ln_f.g")![0] = NaN;
  const poisoned = paramsFromValues(TINY, values);
  try {
    const examples = [
      { tokens: [1, 2, 3], promptLen: 3, label: 0 },
      { tokens: [4, 5], promptLen: 2, label: 1 },
    ];
    await assert.rejects(
      readLabels(poisoned, TINY, examples, [[6], [7]], { padId: 0 }),
      /readout: example 0 has a non-finite label probability \(NaN\)/,
    );
  } finally {
    disposeParams(poisoned);
  }
});

/** One example's snapshot with finite values everywhere: two points, one block, two labels. */
function snapshot(): DecisionSnapshot {
  return {
    residual: [new Float32Array([0.1, 0.2]), new Float32Array([0.3, 0.4])],
    attention: [new Float32Array([1, 0, 1, 0])],
    heads: 2,
    lens: [new Float32Array([0.5, 0.5]), new Float32Array([0.25, 0.75])],
  };
}

test("probe: a NaN in the snapshots, or in the probe's or the stored readout, is an error naming the run and the measure", () => {
  assert.doesNotThrow(() => assertFiniteSnapshots([snapshot()], "k1", ["embed", "0.post"]));
  const nanResidual = snapshot();
  nanResidual.residual[1][0] = NaN;
  assert.throws(
    () => assertFiniteSnapshots([snapshot(), nanResidual], "k1", ["embed", "0.post"]),
    /run k1, example 1: the residual stream at point 0\.post has a non-finite value \(NaN\)/,
  );
  const infAttention = snapshot();
  infAttention.attention[0][2] = Infinity;
  assert.throws(() => assertFiniteSnapshots([infAttention], "k1", ["embed", "0.post"]), /run k1, example 0: the attention at block 0/);

  assert.equal(maxReadoutDifference([snapshot()], [[0.25, 0.75]], "k1"), 0);
  // Math.max(worst, NaN) let this through as null before.
  const nanLens = snapshot();
  nanLens.lens[1][0] = NaN;
  assert.throws(() => maxReadoutDifference([nanLens], [[0.25, 0.75]], "k1"), /run k1, example 0, label 0: .* not a finite difference/);
  // A NaN that predictions.json stored comes back as null.
  assert.throws(() => maxReadoutDifference([snapshot()], [[null as unknown as number, 0.75]], "k1"), /run k1, example 0, label 0/);
});

test("xft probe on a run with a NaN weight fails naming the tensor, and writes no probe.json", async () => {
  const data = path.join(tmp, "mine.jsonl");
  const labelSet = ["low", "high"];
  fs.writeFileSync(
    data,
    Array.from({ length: 40 }, (_, i) =>
      JSON.stringify({
        id: `n-${i}`,
        source: "nonfinite-test",
        dimension: "clarity",
        context: [{ role: "user", text: `question ${i}` }],
        response: `this answer is ${i % 2 ? "clear and deep" : "vague and thin"}`,
        label: labelSet[i % 2],
        labelSet,
        explanations: ["it is so"],
        split: i < 28 ? "train" : "test",
      }),
    ).join("\n") + "\n",
  );
  const record = await runExperiment(
    { dataset: data, condition: "label", seed: 1, profile: { ...GRID_PROFILES.ci.profile, epochs: 1 } },
    { runsDir: path.join(tmp, "runs") },
  );
  const loaded = loadModel(record.dir);
  const values = await paramsToValues(loaded.params);
  disposeParams(loaded.params);
  values.get("ln_f.g")![0] = NaN;
  const poisoned = paramsFromValues(loaded.config, values);
  await saveModel(record.dir, poisoned, loaded.config);
  disposeParams(poisoned);

  // As the run records it: the changed file is a damaged run, before any weight is read.
  await assert.rejects(probeRun(record), new RegExp(`run ${record.key} is damaged: .*model\\.safetensors: sha256`));
  assert.equal(fs.existsSync(path.join(record.dir, PROBE_FILE)), false);
  // With the record rewritten to match (as a run saved with NaN weights would be): the NaN check at load.
  const rerecorded: RunRecord = { ...record, artifacts: recordArtifacts(record.dir, Object.keys(record.artifacts!)) };
  await assert.rejects(probeRun(rerecorded), /model\.safetensors: tensor ln_f\.g has a non-finite value \(NaN\)/);
  assert.equal(fs.existsSync(path.join(record.dir, PROBE_FILE)), false);
});
