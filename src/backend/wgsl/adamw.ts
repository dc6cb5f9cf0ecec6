/**
 * One AdamW step over all parameters as WGSL (train/optimizer.ts has the maths as tfjs ops, native/tf_ops.cc the
 * native XftAdamW). The global gradient norm stays on the GPU: each gradient's sum of squares goes to partial sums,
 * one per workgroup, which one workgroup adds into the norm; each parameter's update reads it from its buffer. The
 * step's numbers (learning rate, bias corrections) are uniforms, so that every step reuses the same pipelines.
 */
import * as tf from "@tensorflow/tfjs";
import type { AdamWHyper, AdamWResult } from "../fused-ops";
import { shapeText, workgroupReduce } from "./snippets";
import { runKernel, workgroupsFor } from "./dispatch";

const WORKGROUP = 256;
/** A gradient's sum of squares runs on at most this many workgroups, each invocation over at least 4 values. */
const MAX_PARTIALS = 1024;
const MIN_PER_INVOCATION = 4;

const SQUARES = `
@group(0) @binding(0) var<storage, read_write> partials: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
struct Params { n: u32, offset: u32, groups: u32 }
@group(0) @binding(2) var<uniform> params: Params;
${workgroupReduce(WORKGROUP, { sumOf: "a + b" })}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = wg.x * ${WORKGROUP}u + lid; i < params.n; i += params.groups * ${WORKGROUP}u) {
    let x = g[i];
    s += x * x;
  }
  let sum = sumOf(lid, s);
  if (lid == 0u) { partials[params.offset + wg.x] = sum; }
}`;

const NORM = `
@group(0) @binding(0) var<storage, read_write> norm: array<f32>;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
struct Params { n: u32 }
@group(0) @binding(2) var<uniform> params: Params;
${workgroupReduce(WORKGROUP, { sumOf: "a + b" })}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < params.n; i += ${WORKGROUP}u) { s += partials[i]; }
  let sum = sumOf(lid, s);
  if (lid == 0u) { norm[0] = sqrt(sum); }
}`;

// The same order of operations as the native op's, so that the two agree to the last bits where they can.
const UPDATE = `
@group(0) @binding(0) var<storage, read_write> next: array<f32>;
@group(0) @binding(1) var<storage, read_write> m: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read> p: array<f32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read> norm: array<f32>;
@group(0) @binding(6) var<storage, read> decays: array<f32>;
struct Params {
  n: u32, rowStride: u32, offset: u32, index: u32,
  lr: f32, beta1: f32, beta2: f32, eps: f32, weightDecay: f32, biasCorrection1: f32, biasCorrection2: f32, gradClip: f32,
}
@group(0) @binding(7) var<uniform> params: Params;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x + id.y * params.rowStride;
  if (i >= params.n) { return; }
  var scale = 1.0;
  if (params.gradClip > 0.0) { scale = min(1.0, params.gradClip / max(norm[0], 1e-12)); }
  let gi = g[i] * scale;
  let k = params.offset + i;
  let mi = m[k] * params.beta1 + gi * (1.0 - params.beta1);
  let vi = v[k] * params.beta2 + gi * gi * (1.0 - params.beta2);
  m[k] = mi;
  v[k] = vi;
  let decay = select(0.0, params.weightDecay, decays[params.index] != 0.0);
  let update = mi / (sqrt(vi / params.biasCorrection2) + params.eps) * (1.0 / params.biasCorrection1) + p[i] * decay;
  next[i] = p[i] - update * params.lr;
}`;

function check(params: tf.Tensor[], grads: tf.Tensor[], m: tf.Tensor, v: tf.Tensor, decays: tf.Tensor1D): void {
  const fail = (message: string) => new Error(`AdamW (WGSL): ${message}`);
  if (grads.length !== params.length) throw fail(`${params.length} parameters but ${grads.length} gradients`);
  params.forEach((p, i) => {
    if (!tf.util.arraysEqual(grads[i].shape, p.shape)) throw fail(`grads[${i}] must be ${shapeText(p.shape)}, got ${shapeText(grads[i].shape)}`);
    if (p.size === 0) throw fail(`params[${i}] is empty`);
  });
  const total = params.reduce((n, p) => n + p.size, 0);
  for (const [name, t, n] of [
    ["m", m, total],
    ["v", v, total],
    ["decays", decays, params.length],
  ] as const) {
    if (t.rank !== 1 || t.size !== n) throw fail(`${name} must be [${n}], got ${shapeText(t.shape)}`);
    // The kernels read every operand as f32.
    if (t.dtype !== "float32") throw fail(`${name} must be float32, got ${t.dtype}`);
  }
}

/** The global norm of all gradients, a scalar on the GPU. */
function gradientNorm(grads: tf.Tensor[]): tf.Scalar {
  const groups = grads.map((g) => Math.min(MAX_PARTIALS, Math.ceil(g.size / (WORKGROUP * MIN_PER_INVOCATION))));
  // Every slot is written, but tfjs makes no tensor without values: zeros are the cheapest.
  const partials = tf.zeros([groups.reduce((a, b) => a + b, 0)]);
  let offset = 0;
  grads.forEach((g, i) => {
    const uniforms: Array<["u32", number]> = [
      ["u32", g.size],
      ["u32", offset],
      ["u32", groups[i]],
    ];
    runKernel({ name: "adamw-squares", wgsl: SQUARES, outputs: [], inPlace: [partials], inputs: [g], uniforms, workgroups: [groups[i]] });
    offset += groups[i];
  });
  const [norm] = runKernel({
    name: "adamw-norm",
    wgsl: NORM,
    outputs: [{ shape: [] }],
    inputs: [partials],
    uniforms: [["u32", offset]],
    workgroups: [1],
  });
  partials.dispose();
  return norm as tf.Scalar;
}

/**
 * One AdamW step (FusedOps.adamW): returns the new parameters, m and v (the tensors given, updated in place) and
 * the gradient norm before clipping. Each new parameter is a new tensor whatever `inPlace` says: on webgpu a
 * tensor's buffer is its own, and two tensors cannot share one, so that the old parameter cannot hand its buffer
 * to the new one; only m and v, which the optimizer alone holds, are written over.
 */
export function adamW(
  params: tf.Tensor[],
  grads: tf.Tensor[],
  m: tf.Tensor,
  v: tf.Tensor,
  h: AdamWHyper,
  decays: tf.Tensor1D,
  _inPlace: boolean[],
): AdamWResult {
  check(params, grads, m, v, decays);
  const norm = gradientNorm(grads);
  let offset = 0;
  const next = params.map((p, i) => {
    const [gx, gy] = workgroupsFor(p.size, WORKGROUP);
    const [out] = runKernel({
      name: "adamw-update",
      wgsl: UPDATE,
      outputs: [{ shape: p.shape }],
      inPlace: [m, v],
      inputs: [p, grads[i], norm, decays],
      uniforms: [
        ["u32", p.size],
        ["u32", gx * WORKGROUP],
        ["u32", offset],
        ["u32", i],
        ...[h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.biasCorrection1, h.biasCorrection2, h.gradClip].map((x): ["f32", number] => ["f32", x]),
      ],
      workgroups: [gx, gy],
    });
    offset += p.size;
    return out;
  });
  return { params: next, m, v, norm };
}
