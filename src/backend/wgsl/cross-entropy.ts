/**
 * The head's softmax cross-entropy as WGSL: the probabilities of logits [rows, V] and the loss against target ids
 * [rows], summed (the native XftSoftmaxCrossEntropy in native/tf_ops.cc, and softmaxCrossEntropyOps in
 * model/ops/head.ts as tfjs ops). One workgroup per row makes the row's maximum and sum of exponentials in one pass
 * over the logits (an online softmax: each invocation rescales its running sum when its maximum grows) and writes
 * the probabilities in a second; a second kernel, one workgroup, adds the rows' losses in a fixed order.
 */
import * as tf from "@tensorflow/tfjs";
import { shapeText, workgroupReduce } from "./snippets";
import { runKernel, workgroupsFor } from "./dispatch";

const WORKGROUP = 256;
/** A quiet NaN's bits: a loss made NaN by bits, not by arithmetic, which WGSL lets a compiler assume away. */
const NAN_BITS = "0x7fc00000u";

const ROWS = `
@group(0) @binding(0) var<storage, read_write> probs: array<f32>;
@group(0) @binding(1) var<storage, read_write> loss: array<u32>;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<i32>;
struct Params { rows: u32, v: u32, groupsX: u32 }
@group(0) @binding(4) var<uniform> params: Params;
${workgroupReduce(WORKGROUP, { maxOf: "max(a, b)", sumOf: "a + b" })}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wg.x + wg.y * params.groupsX;
  if (row >= params.rows) { return; }
  let base = row * params.v;
  // Every invocation starts from the row's first logit, so that no maximum is ever -inf and no sum exp(-inf - -inf).
  var m = logits[base];
  var s = 0.0;
  for (var j = lid; j < params.v; j += ${WORKGROUP}u) {
    let x = logits[base + j];
    if (x > m) {
      s *= exp(m - x);
      m = x;
    }
    s += exp(x - m);
  }
  let rowMax = maxOf(lid, m);
  let sum = sumOf(lid, s * exp(m - rowMax));
  let inv = 1.0 / sum;
  for (var j = lid; j < params.v; j += ${WORKGROUP}u) {
    probs[base + j] = exp(logits[base + j] - rowMax) * inv;
  }
  if (lid == 0u) {
    let t = targets[row];
    // A target outside the vocabulary cannot be reported without reading it back: the row's loss is NaN instead.
    if (t < 0 || u32(t) >= params.v) {
      loss[row] = ${NAN_BITS};
    } else {
      loss[row] = bitcast<u32>(rowMax + log(sum) - logits[base + u32(t)]);
    }
  }
}`;

const TOTAL = `
@group(0) @binding(0) var<storage, read_write> total: array<u32>;
@group(0) @binding(1) var<storage, read> loss: array<u32>;
struct Params { rows: u32 }
@group(0) @binding(2) var<uniform> params: Params;
var<workgroup> sawNaN: atomic<u32>;
${workgroupReduce(WORKGROUP, { sumOf: "a + b" })}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < params.rows; i += ${WORKGROUP}u) {
    let bits = loss[i];
    // NaN is told by its bits, as it was made: the sum is NaN if any row's loss is.
    if ((bits & 0x7fffffffu) > 0x7f800000u) {
      atomicOr(&sawNaN, 1u);
    } else {
      s += bitcast<f32>(bits);
    }
  }
  let sum = sumOf(lid, s);
  if (lid == 0u) {
    total[0] = select(bitcast<u32>(sum), ${NAN_BITS}, atomicLoad(&sawNaN) != 0u);
  }
}`;

/**
 * Softmax of logits [rows, V] and the cross-entropy against targets [rows] (int32 ids), summed over rows:
 * [probabilities [rows, V], loss sum []]. A target outside [0, V) makes the loss sum NaN.
 */
export function softmaxCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): [tf.Tensor2D, tf.Scalar] {
  const fail = (message: string) => new Error(`SoftmaxCrossEntropy (WGSL): ${message}`);
  if (logits.rank !== 2 || logits.size === 0) throw fail(`logits must be [rows, vocabulary], got ${shapeText(logits.shape)}`);
  const [rows, v] = logits.shape;
  if (targets.rank !== 1 || targets.shape[0] !== rows) throw fail(`targets must be [${rows}], got ${shapeText(targets.shape)}`);
  if (targets.dtype !== "int32") throw fail(`targets must be int32, got ${targets.dtype}`);
  if (logits.dtype !== "float32") throw fail(`logits must be float32, got ${logits.dtype}`);
  const [gx, gy] = workgroupsFor(rows, 1);
  const [probs, rowLoss] = runKernel({
    name: "softmax-cross-entropy",
    wgsl: ROWS,
    outputs: [{ shape: [rows, v] }, { shape: [rows] }],
    inputs: [logits, targets],
    uniforms: [
      ["u32", rows],
      ["u32", v],
      ["u32", gx],
    ],
    workgroups: [gx, gy],
  });
  const [lossSum] = runKernel({
    name: "softmax-cross-entropy-sum",
    wgsl: TOTAL,
    outputs: [{ shape: [] }],
    inputs: [rowLoss],
    uniforms: [["u32", rows]],
    workgroups: [1],
  });
  rowLoss.dispose();
  return [probs as tf.Tensor2D, lossSum as tf.Scalar];
}
