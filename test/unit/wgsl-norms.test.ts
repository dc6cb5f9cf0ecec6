/**
 * xft's WGSL norms and activations (src/backend/wgsl/norms.ts, activations.ts) on the webgpu backend (SwiftShader
 * here) against the same maths as plain tfjs ops on the cpu backend, autodiff for the gradients: the forward values
 * and the gradient of every operand, on seeded random inputs, with the loss a random weighting of every output.
 * Errors are relative to the largest magnitude of the reference tensor.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { startWebGpu } from "../../src/backend/dawn";
import { gelu, swiglu } from "../../src/backend/wgsl/activations";
import { addLayerNorm, layerNorm, rmsNorm } from "../../src/backend/wgsl/norms";

const FORWARD_TOLERANCE = 1e-5;
const GRADIENT_TOLERANCE = 1e-4;
/** x [..., d] with d not a power of two, d above a workgroup (256), and rows over several 32-row column slices. */
const NORM_SHAPES = [
  [3, 5, 24],
  [7, 33],
  [2, 1000],
  [600, 8],
];

/** Seeded uniform values in [offset - scale, offset + scale) (mulberry32). */
function uniform(seed: number, n: number, scale = 1, offset = 0): Float32Array {
  let a = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return offset + scale * (2 * (((t ^ (t >>> 14)) >>> 0) / 4294967296) - 1);
  });
}

interface Operand {
  shape: number[];
  values: Float32Array;
}

/**
 * Forward values and the gradients of sum_k sum(outputs[k] * weights[k]) for the first `wrt` operands (all where
 * undefined), on `backend`.
 */
async function evaluate(backend: string, f: (xs: tf.Tensor[]) => tf.Tensor[], operands: Operand[], seed: number, wrt?: number) {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const xs = operands.map((o) => tf.tensor(o.values, o.shape));
  const outputs = f(xs);
  const weights = outputs.map((o, k) => tf.tensor(uniform(seed + 100 + k, o.size), o.shape));
  const loss = (...args: tf.Tensor[]) => tf.addN(f([...args, ...xs.slice(args.length)]).map((o, k) => o.mul(weights[k]).sum()));
  const grads = tf.grads(loss)(xs.slice(0, wrt));
  const read = (ts: tf.Tensor[]) => Promise.all(ts.map(async (t) => (await t.data()) as Float32Array));
  const result = { outputs: await read(outputs), grads: await read(grads) };
  tf.dispose([...xs, ...outputs, ...weights, ...grads]);
  return { ...result, leaked: tf.memory().numTensors - before };
}

/** The largest |a - b| over the largest |b|. */
function relativeError(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let err = 0;
  let scale = 0;
  b.forEach((v, i) => {
    err = Math.max(err, Math.abs(a[i] - v));
    scale = Math.max(scale, Math.abs(v));
  });
  return err / Math.max(scale, 1e-30);
}

/** Runs `wgsl` on webgpu and `reference` on cpu on the same operands, checks them, and returns the largest errors. */
async function compare(
  wgsl: (xs: tf.Tensor[]) => tf.Tensor[],
  reference: (xs: tf.Tensor[]) => tf.Tensor[],
  operands: Operand[],
  seed: number,
  wrt?: number,
): Promise<{ forward: number; gradient: number }> {
  const want = await evaluate("cpu", reference, operands, seed, wrt);
  const got = await evaluate("webgpu", wgsl, operands, seed, wrt);
  assert.equal(got.leaked, 0, "tensors left behind on webgpu");
  const forward = Math.max(...got.outputs.map((o, k) => relativeError(o, want.outputs[k])));
  const gradient = Math.max(...got.grads.map((g, k) => relativeError(g, want.grads[k])));
  assert.ok(forward <= FORWARD_TOLERANCE, `forward relative error ${forward}`);
  assert.ok(gradient <= GRADIENT_TOLERANCE, `gradient relative error ${gradient}`);
  return { forward, gradient };
}

/** x [..., d] with a mean away from zero, and gain and bias [d], seeded. */
function normOperands(shape: number[], seed: number, vectors: number): Operand[] {
  const d = shape[shape.length - 1];
  const x = { shape, values: uniform(seed, tf.util.sizeFromShape(shape), 2, 0.5) };
  const gain = { shape: [d], values: uniform(seed + 1, d, 0.5, 1) };
  const bias = { shape: [d], values: uniform(seed + 2, d, 0.5) };
  return [x, gain, bias].slice(0, 1 + vectors);
}

function referenceLayerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return x
    .sub(mean)
    .mul(tf.rsqrt(variance.add(eps)))
    .mul(g)
    .add(b);
}

before(async () => {
  await startWebGpu(true);
});

test("LayerNorm (WGSL) matches tfjs ops, forward and gradients of x, g and b", async (t) => {
  for (const [i, shape] of NORM_SHAPES.entries()) {
    const [x, g, b] = normOperands(shape, 10 * i + 1, 2);
    const errors = await compare(
      ([x, g, b]) => [layerNorm(x, g, b, 1e-5)],
      ([x, g, b]) => [referenceLayerNorm(x, g, b, 1e-5)],
      [x, g, b],
      i,
    );
    t.diagnostic(`[${shape}]: forward ${errors.forward.toExponential(2)}, gradients ${errors.gradient.toExponential(2)}`);
  }
});

test("the add-and-norm (WGSL) matches x + delta and LayerNorm of it, with gradients through both outputs", async (t) => {
  for (const [i, shape] of NORM_SHAPES.entries()) {
    const [x, g, b] = normOperands(shape, 10 * i + 2, 2);
    const delta = { shape, values: uniform(10 * i + 5, x.values.length) };
    const errors = await compare(
      ([x, delta, g, b]) => addLayerNorm(x, delta, g, b, 1e-5),
      ([x, delta, g, b]) => {
        const sum = x.add(delta);
        return [sum, referenceLayerNorm(sum, g, b, 1e-5)];
      },
      [x, delta, g, b],
      i,
    );
    t.diagnostic(`[${shape}]: forward ${errors.forward.toExponential(2)}, gradients ${errors.gradient.toExponential(2)}`);
  }
});

test("the add-and-norm (WGSL) has the gradients of either output alone", async (t) => {
  const shape = [7, 33];
  const [x, g, b] = normOperands(shape, 4, 2);
  const operands = [x, { shape, values: uniform(6, x.values.length) }, g, b];
  const reference = ([x, delta, g, b]: tf.Tensor[]) => {
    const sum = x.add(delta);
    return [sum, referenceLayerNorm(sum, g, b, 1e-5)];
  };
  // tfjs gives the output left out a gradient of zeros; without the norm, g and b have no gradient to take.
  for (const [k, name, wrt] of [
    [1, "the norm", 4],
    [0, "the sum", 2],
  ] as const) {
    const only = (outputs: tf.Tensor[]) => {
      tf.dispose(outputs[1 - k]);
      return [outputs[k]];
    };
    const errors = await compare(
      ([x, delta, g, b]) => only(addLayerNorm(x, delta, g, b, 1e-5)),
      (xs) => only(reference(xs)),
      operands,
      4,
      wrt,
    );
    t.diagnostic(`${name} alone: forward ${errors.forward.toExponential(2)}, gradients ${errors.gradient.toExponential(2)}`);
  }
});

test("RMSNorm (WGSL) matches LlamaRMSNorm as tfjs ops, forward and gradients of x and g", async (t) => {
  for (const [i, shape] of NORM_SHAPES.entries()) {
    const errors = await compare(
      ([x, g]) => [rmsNorm(x, g, 1e-6)],
      ([x, g]) => [x.mul(tf.rsqrt(x.square().mean(-1, true).add(1e-6))).mul(g)],
      normOperands(shape, 10 * i + 3, 1),
      i,
    );
    t.diagnostic(`[${shape}]: forward ${errors.forward.toExponential(2)}, gradients ${errors.gradient.toExponential(2)}`);
  }
});

test("GELU and SwiGLU (WGSL) match tfjs ops, with gradients of gate and up, out to where exp would overflow", async (t) => {
  // The first values reach where exp(-z) passes float32's range.
  const wide = (seed: number, n: number) => Object.assign(uniform(seed, n, 4), { 0: -100, 1: 100, 2: -30, 3: 30 });
  const shape = [7, 33];
  const x = { shape, values: wide(7, 231) };
  const geluErrors = await compare(
    ([x]) => [gelu(x)],
    ([x]) => [x.mul(0.5).mul(tf.tanh(x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI))).add(1))],
    [x],
    7,
  );
  t.diagnostic(`GELU [${shape}]: forward ${geluErrors.forward.toExponential(2)}, gradient ${geluErrors.gradient.toExponential(2)}`);
  for (const shape of [
    [7, 33],
    [2, 1000],
  ]) {
    const n = tf.util.sizeFromShape(shape);
    const errors = await compare(
      ([gate, up]) => [swiglu(gate, up)],
      ([gate, up]) => [gate.mul(tf.sigmoid(gate)).mul(up)],
      [
        { shape, values: wide(8, n) },
        { shape, values: uniform(9, n, 2) },
      ],
      8,
    );
    t.diagnostic(`SwiGLU [${shape}]: forward ${errors.forward.toExponential(2)}, gradients ${errors.gradient.toExponential(2)}`);
  }
});

test("the WGSL norms and SwiGLU name the op and the operand whose shape is wrong", async () => {
  await tf.setBackend("webgpu");
  const x = tf.zeros([2, 4]);
  const v4 = tf.ones([4]);
  const v5 = tf.ones([5]);
  assert.throws(() => layerNorm(x, v5, v4, 1e-5), { message: "LayerNorm (WGSL): g must be [4], got [5]" });
  assert.throws(() => layerNorm(x, v4, v5, 1e-5), { message: "LayerNorm (WGSL): b must be [4], got [5]" });
  assert.throws(() => addLayerNorm(x, tf.zeros([4, 2]), v4, v4, 1e-5), { message: "AddLayerNorm (WGSL): delta must be [2,4], got [4,2]" });
  assert.throws(() => rmsNorm(x, tf.ones([1, 4]), 1e-6), { message: "RMSNorm (WGSL): g must be [4], got [1,4]" });
  assert.throws(() => swiglu(x, tf.zeros([8])), { message: "SwiGLU (WGSL): up must be [2,4] as gate is, got [8]" });
  assert.throws(() => layerNorm(tf.scalar(1), v4, v4, 1e-5), { message: "LayerNorm (WGSL): x must have a last axis, got []" });
  assert.throws(() => layerNorm(tf.zeros([0, 4]), v4, v4, 1e-5), { message: "LayerNorm (WGSL): x must not be empty, got [0,4]" });
  assert.throws(() => gelu(tf.zeros([0])), { message: "GELU (WGSL): x must not be empty, got [0]" });
});
