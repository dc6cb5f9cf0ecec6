/**
 * Parity with transformers: every family's logits, hidden states, loss and gradients on tiny random checkpoints
 * (test/unit/hf-fixtures.ts) equal the reference numbers within 1e-4 relative, on a right-padded batch. The
 * mutation tests show the comparison has teeth: a wrong RoPE base, a dropped bias or an untransposed GPT-2
 * weight each move the logits far past the tolerance.
 */
import assert from "node:assert/strict";
import * as path from "path";
import { test } from "node:test";
import { initBackend, tf } from "../../src/backend/engine";
import { ModelConfig } from "../../src/model/config";
import { readHfCheckpoint, loadHfWeights } from "../../src/model/hf/checkpoint";
import { xftToHf } from "../../src/model/hf/weights";
import { hook } from "../../src/model/hooks";
import { disposeParams, flatPositions, forward, logitsAt, lossAt, Params, paramsFromValues } from "../../src/model/model";
import { loadSafetensors, TensorMap } from "../../src/model/safetensors";
import { maxRelDiff } from "./compare-impls";
import { FIXTURES, FixtureName, fixtureDir, fixturesUnavailable } from "./hf-fixtures";

const TOLERANCE = 1e-4;
const skip = fixturesUnavailable();

interface Fixture {
  config: ModelConfig;
  values: Map<string, Float32Array>;
  ref: TensorMap;
  ids: tf.Tensor2D;
  /** Flat indices b*T + t of the real (unpadded) positions, and of those whose next token is real too. */
  real: number[];
  predicting: number[];
  targets: number[];
}

function loadFixture(name: FixtureName): Fixture {
  const dir = fixtureDir(name);
  const checkpoint = readHfCheckpoint(dir);
  const { tensors: ref } = loadSafetensors(path.join(dir, "reference.safetensors"));
  const [B, T] = ref.get("input_ids")!.shape;
  const idData = ref.get("input_ids")!.data;
  const mask = ref.get("attention_mask")!.data;
  const real: number[] = [];
  const predicting: number[] = [];
  const targets: number[] = [];
  for (let i = 0; i < B * T; i++) {
    if (mask[i] !== 1) continue;
    real.push(i);
    if (i % T < T - 1 && mask[i + 1] === 1) {
      predicting.push(i);
      targets.push(idData[i + 1]);
    }
  }
  return {
    config: checkpoint.config,
    values: loadHfWeights(checkpoint),
    ref,
    ids: tf.tensor2d(Int32Array.from(idData), [B, T], "int32"),
    real,
    predicting,
    targets,
  };
}

function refTensor(f: Fixture, name: string): tf.Tensor {
  const t = f.ref.get(name);
  if (!t) throw new Error(`reference has no ${name}`);
  return tf.tensor(t.data, t.shape, "float32");
}

/** Rows of x [B, T, ...] (flattened to [B*T, rest]) at flat positions. */
function rowsAt(x: tf.Tensor, positions: number[]): tf.Tensor {
  const [B, T] = x.shape;
  return tf.gather(x.reshape([B * T, -1]), tf.tensor1d(positions, "int32"));
}

/** Largest relative difference of xft's logits from the reference's, over the real positions. */
function logitsDiff(f: Fixture, params: Params, config = f.config): number {
  return tf.tidy(() => {
    const { hidden } = forward(params, config, f.ids);
    const ours = logitsAt(params, hidden, tf.tensor1d(f.real, "int32"));
    return maxRelDiff(ours, rowsAt(refTensor(f, "logits"), f.real));
  });
}

function withParams<T>(f: Fixture, use: (params: Params) => T, edit?: (values: Map<string, Float32Array>) => void): T {
  const values = new Map([...f.values].map(([k, v]) => [k, v.slice()]));
  edit?.(values);
  const params = paramsFromValues(f.config, values);
  try {
    return use(params);
  } finally {
    disposeParams(params);
  }
}

for (const name of FIXTURES) {
  test(`${name}: logits and hidden states equal transformers' on a padded batch`, { skip }, async () => {
    await initBackend({ quiet: true });
    const f = loadFixture(name);
    withParams(f, (params) => {
      assert.ok(logitsDiff(f, params) < TOLERANCE, `logits differ by ${logitsDiff(f, params)}`);
      const L = f.config.layers;
      const { hidden, cache } = forward(params, f.config, f.ids, { hooks: "all" });
      try {
        // transformers' hidden_states: the embedding, the output of every block but the last, then the final norm.
        const points = [hook.embed, ...Array.from({ length: L - 1 }, (_, l) => hook.residPost(l)), hook.finalNorm];
        points.forEach((point, i) => {
          const diff = tf.tidy(() => maxRelDiff(rowsAt(cache.get(point)!, f.real), rowsAt(refTensor(f, `hidden.${i}`), f.real)));
          assert.ok(diff < TOLERANCE, `${point} differs from hidden_states[${i}] by ${diff}`);
        });
      } finally {
        hidden.dispose();
        for (const t of cache.values()) t.dispose();
      }
    });
  });

  test(`${name}: one training step's loss and gradients equal PyTorch's`, { skip }, async () => {
    await initBackend({ quiet: true });
    const f = loadFixture(name);
    withParams(f, (params) => {
      const T = f.ids.shape[1];
      const { value, grads } = tf.variableGrads(() => {
        const { hidden } = forward(params, f.config, f.ids);
        return lossAt(
          params,
          hidden,
          flatPositions(
            T,
            f.predicting.map((i) => Math.floor(i / T)),
            f.predicting.map((i) => i % T),
          ),
          tf.tensor1d(f.targets, "int32"),
        );
      }, Object.values(params));
      const loss = value.dataSync()[0];
      const refLoss = f.ref.get("loss")!.data[0];
      assert.ok(Math.abs(loss - refLoss) / Math.abs(refLoss) < TOLERANCE, `loss ${loss} against ${refLoss}`);
      // Gradients in transformers' names and layouts, through the same table that maps the weights.
      const named = new Map(Object.entries(params).map(([k, p]) => [k, grads[p.name].dataSync() as Float32Array]));
      const hfGrads = xftToHf(f.config, named);
      let compared = 0;
      for (const [hfName, g] of hfGrads) {
        const reference = f.ref.get(`grad.${hfName}`);
        if (!reference) continue; // a tied lm_head.weight appears once, under the embedding's name
        const diff = tf.tidy(() => maxRelDiff(tf.tensor(g.data, g.shape), tf.tensor(reference.data, reference.shape)));
        assert.ok(diff < TOLERANCE, `gradient of ${hfName} differs by ${diff}`);
        compared += 1;
      }
      assert.equal(compared, [...f.ref.keys()].filter((k) => k.startsWith("grad.")).length, "every reference gradient was compared");
      tf.dispose([value, ...Object.values(grads)]);
    });
  });
}

test("mutations fail parity: a wrong RoPE base, a dropped q/k/v bias, an untransposed GPT-2 weight", { skip }, async () => {
  await initBackend({ quiet: true });
  const llama = loadFixture("llama-gqa");
  withParams(llama, (params) => {
    const wrongBase = { ...llama.config, ropeTheta: (llama.config as { ropeTheta: number }).ropeTheta * 2 } as ModelConfig;
    assert.ok(logitsDiff(llama, params, wrongBase) > 100 * TOLERANCE, "RoPE base x2 must break parity");
  });
  const qwen = loadFixture("qwen2");
  withParams(
    qwen,
    (params) => assert.ok(logitsDiff(qwen, params) > 100 * TOLERANCE, "a zeroed q bias must break parity"),
    (values) => values.get("blocks.0.attn.bq")!.fill(0),
  );
  const gpt2 = loadFixture("gpt2");
  withParams(
    gpt2,
    (params) => assert.ok(logitsDiff(gpt2, params) > 100 * TOLERANCE, "a transposed attention output weight must break parity"),
    (values) => {
      const d = gpt2.config.dModel;
      const w = values.get("blocks.0.attn.wo")!;
      const t = new Float32Array(w.length);
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) t[j * d + i] = w[i * d + j];
      values.set("blocks.0.attn.wo", t);
    },
  );
});
