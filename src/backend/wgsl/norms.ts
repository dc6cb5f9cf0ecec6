/**
 * The normalisations over the last axis as WGSL (model/ops/norms.ts has the maths as tfjs ops, native/tf_ops.cc the
 * native XftLayerNorm and XftAddLayerNorm): LayerNorm, alone or with the residual add before it, and RMSNorm.
 *
 * Forward: one workgroup per row; its invocations stride the row (adjacent invocations, adjacent columns) and the
 * row's sums are trees in workgroup memory. LayerNorm's variance is a second pass over the row, about the mean,
 * rather than E[x^2] - mean^2, which loses digits where the mean is large. Each row's mean and 1/std are kept for
 * the gradient. Backward, with xhat = (x - mean) rstd and dxhat = dy g:
 *   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))   (RMSNorm: no mean, and no mean(dxhat) term),
 * one workgroup per row again; dg = sum over rows of dy xhat, db = sum of dy are column sums: first over slices of
 * rows (one invocation per column and slice, reading rows with adjacent columns side by side), then over the
 * slices, one workgroup per column. One workgroup per column over all rows would leave a large GPU mostly idle.
 */
import * as tf from "@tensorflow/tfjs";
import { addLayerNormKernel } from "../fused-ops";
import { bindingsWgsl, builtOnce, shapeText, workgroupReduce } from "./snippets";
import { KernelCall, recordKernel, runKernel, workgroupsFor } from "./dispatch";

/** A norm's shaders: LayerNorm centres the row and adds a bias b; RMSNorm does neither. `add`: x + delta first. */
interface Norm {
  op: string;
  name: string;
  centred: boolean;
  add: boolean;
}

const LAYER_NORM: Norm = { op: "LayerNorm (WGSL)", name: "layer-norm", centred: true, add: false };
const ADD_LAYER_NORM: Norm = { op: "AddLayerNorm (WGSL)", name: "add-layer-norm", centred: true, add: true };
const RMS_NORM: Norm = { op: "RMSNorm (WGSL)", name: "rms-norm", centred: false, add: false };

/** Rows of the column sums' first stage: enough work per invocation, and enough slices to fill a GPU. */
const SLICE_ROWS = 32;
/** Invocations per workgroup of the column sums' first stage, one per column. */
const COLUMN_GROUP = 256;

/** x [..., d] as rows of d. */
interface Rows {
  shape: number[];
  rows: number;
  d: number;
}

/** Invocations for a workgroup reducing n values: a power of two, at least 64 (two warps) and at most 256. */
function groupSize(n: number): number {
  return Math.min(256, Math.max(64, 2 ** Math.ceil(Math.log2(Math.max(1, n)))));
}

/** The start of a shader with one workgroup per row: `row`, `base` (the row's first element) and `d` (as f32) are set. */
function perRow(outputs: string[], inputs: string[], size: number): string {
  return `${bindingsWgsl(outputs, inputs, "rows: u32, d: u32, eps: f32, groupsX: u32")}
${workgroupReduce(size, { sumOf: "a + b" })}
@compute @workgroup_size(${size})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wg.x + wg.y * params.groupsX;
  if (row >= params.rows) { return; }
  let base = row * params.d;
  let d = f32(params.d);`;
}

/** The loop over the invocation's columns of the row, with i the element's index. */
const overRow = (size: number, body: string) => `
  for (var c = lid; c < params.d; c += ${size}u) {
    let i = base + c;
    ${body}
  }`;

/** Forward: [sum (add), y, mean (centred), rstd] from [x, delta (add), g, b (centred)]. */
const forwardWgsl = builtOnce(
  (n: Norm, size: number) => `${n.name}/${size}`,
  (n: Norm, size: number): string => {
    const outputs = [...(n.add ? ["s"] : []), "y", ...(n.centred ? ["mean"] : []), "rstd"];
    const inputs = ["x", ...(n.add ? ["delta"] : []), "g", ...(n.centred ? ["b"] : [])];
    // The add writes the sum in the first pass; the later passes read it back, each invocation its own elements.
    const v = n.add ? "s[i]" : "x[i]";
    const first = n.add ? "let v = x[i] + delta[i];\n    s[i] = v;" : "let v = x[i];";
    const stats = n.centred
      ? `let m = sumOf(lid, acc) / d;
  var sq = 0.0;${overRow(size, `let e = ${v} - m;\n    sq += e * e;`)}
  let r = inverseSqrt(sumOf(lid, sq) / d + params.eps);
  if (lid == 0u) { mean[row] = m; }`
      : `let m = 0.0;
  let r = inverseSqrt(sumOf(lid, acc) / d + params.eps);`;
    return `${perRow(outputs, inputs, size)}
  var acc = 0.0;${overRow(size, `${first}\n    acc += ${n.centred ? "v" : "v * v"};`)}
  ${stats}
  if (lid == 0u) { rstd[row] = r; }${overRow(size, `y[i] = (${v} - m) * r * g[c]${n.centred ? " + b[c]" : ""};`)}
}`;
  },
);

/** Backward's rows: dx from [dsum (add), dy, x, g, mean (centred), rstd]; the add's dx has dsum added. */
const backwardRowsWgsl = builtOnce(
  (n: Norm, size: number) => `${n.name}/${size}`,
  (n: Norm, size: number): string => {
    const inputs = [...(n.add ? ["dsum"] : []), "dy", "x", "g", ...(n.centred ? ["mean"] : []), "rstd"];
    return `${perRow(["dx"], inputs, size)}
  let m = ${n.centred ? "mean[row]" : "0.0"};
  let r = rstd[row];
  var sumDxhat = 0.0;
  var sumDxhatXhat = 0.0;${overRow(size, "let dxhat = dy[i] * g[c];\n    sumDxhat += dxhat;\n    sumDxhatXhat += dxhat * (x[i] - m) * r;")}
  let a = ${n.centred ? "sumOf(lid, sumDxhat) / d" : "0.0"};
  let b = sumOf(lid, sumDxhatXhat) / d;${overRow(size, `dx[i] = r * (dy[i] * g[c] - a - (x[i] - m) * r * b)${n.add ? " + dsum[i]" : ""};`)}
}`;
  },
);

/** The column sums' first stage: part [slices, 2, d], each slice's sums of dy xhat and of dy, from [dy, x, mean, rstd]. */
const columnSlicesWgsl = builtOnce(
  (n: Norm) => n.name,
  (n: Norm): string => {
    return `${bindingsWgsl(["part"], ["dy", "x", ...(n.centred ? ["mean"] : []), "rstd"], "rows: u32, d: u32, sliceRows: u32")}
@compute @workgroup_size(${COLUMN_GROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let c = id.x;
  if (c >= params.d) { return; }
  let first = id.y * params.sliceRows;
  var sumG = 0.0;
  var sumB = 0.0;
  for (var r = first; r < min(first + params.sliceRows, params.rows); r++) {
    let i = r * params.d + c;
    sumG += dy[i] * (x[i] - ${n.centred ? "mean[r]" : "0.0"}) * rstd[r];
    sumB += dy[i];
  }
  part[2u * id.y * params.d + c] = sumG;
  part[(2u * id.y + 1u) * params.d + c] = sumB;
}`;
  },
);

/** The column sums' second stage, one workgroup per column: dg and db (centred) from part [slices, 2, d]. */
const columnTotalsWgsl = builtOnce(
  (n: Norm, size: number) => `${n.name}/${size}`,
  (n: Norm, size: number): string => {
    return `${bindingsWgsl(["dg", ...(n.centred ? ["db"] : [])], ["part"], "slices: u32, d: u32, groupsX: u32")}
${workgroupReduce(size, { sumOf: "a + b" })}
@compute @workgroup_size(${size})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wg.x + wg.y * params.groupsX;
  if (c >= params.d) { return; }
  var sumG = 0.0;
  var sumB = 0.0;
  for (var k = lid; k < params.slices; k += ${size}u) {
    sumG += part[2u * k * params.d + c];
    sumB += part[(2u * k + 1u) * params.d + c];
  }
  let g = sumOf(lid, sumG);
  ${n.centred ? "let b = sumOf(lid, sumB);\n  if (lid == 0u) { db[c] = b; }" : ""}
  if (lid == 0u) { dg[c] = g; }
}`;
  },
);

/** A kernel with one workgroup per row of x; `eps` is the forward's (the gradient reads none). */
function perRowCall(name: string, wgsl: string, x: Rows, outputs: KernelCall["outputs"], inputs: tf.TensorInfo[], eps = 0): KernelCall {
  const [gx, gy] = workgroupsFor(x.rows, 1);
  const uniforms: KernelCall["uniforms"] = [
    ["u32", x.rows],
    ["u32", x.d],
    ["f32", eps],
    ["u32", gx],
  ];
  return { name, wgsl, outputs, inputs, uniforms, workgroups: [gx, gy] };
}

/** The forward pass: [sum (add), y, mean (centred), rstd] of inputs [x, delta (add), g, b (centred)]. */
function forwardCall(n: Norm, x: Rows, eps: number, inputs: tf.TensorInfo[]): KernelCall {
  const stats = n.centred ? 2 : 1;
  const outputs = [...(n.add ? [{ shape: x.shape }] : []), { shape: x.shape }, ...Array.from({ length: stats }, () => ({ shape: [x.rows] }))];
  return perRowCall(`${n.name}-forward`, forwardWgsl(n, groupSize(x.d)), x, outputs, inputs, eps);
}

/**
 * The gradient: [dx, dg, db (centred)] from dy, the forward's [x (the sum, for the add), g, mean (centred), rstd] and,
 * for the add, dsum, the gradient the sum has from elsewhere.
 */
function backward(n: Norm, x: Rows, dy: tf.Tensor, saved: tf.Tensor[], dsum?: tf.Tensor): tf.Tensor[] {
  const [sx, , ...stats] = saved;
  const rowsCall = perRowCall(
    `${n.name}-backward`,
    backwardRowsWgsl(n, groupSize(x.d)),
    x,
    [{ shape: x.shape }],
    [...(dsum ? [dsum] : []), dy, ...saved],
  );
  const [dx] = runKernel(rowsCall);
  // The column sums are the same with the add or without.
  const family = n.centred ? LAYER_NORM.name : RMS_NORM.name;
  // Slices of more rows where there would be more than WebGPU's 65535 workgroups in y.
  const sliceRows = Math.max(SLICE_ROWS, Math.ceil(x.rows / 65535));
  const slices = Math.max(1, Math.ceil(x.rows / sliceRows));
  const [part] = runKernel({
    name: `${family}-column-slices`,
    wgsl: columnSlicesWgsl(n),
    outputs: [{ shape: [slices, 2, x.d] }],
    inputs: [dy, sx, ...stats],
    uniforms: [
      ["u32", x.rows],
      ["u32", x.d],
      ["u32", sliceRows],
    ],
    workgroups: [Math.ceil(x.d / COLUMN_GROUP), slices],
  });
  const size = groupSize(slices);
  const [gx, gy] = workgroupsFor(x.d, 1);
  const totals = runKernel({
    name: `${family}-column-totals`,
    wgsl: columnTotalsWgsl(n, size),
    outputs: Array.from({ length: n.centred ? 2 : 1 }, () => ({ shape: [x.d] })),
    inputs: [part],
    uniforms: [
      ["u32", slices],
      ["u32", x.d],
      ["u32", gx],
    ],
    workgroups: [gx, gy],
  });
  part.dispose();
  return [dx, ...totals];
}

/** Checks a norm's operands (the messages are the native ops') and returns x's rows. */
function rowsOf(n: Norm, x: tf.Tensor, vectors: Record<string, tf.Tensor>, delta?: tf.Tensor): Rows {
  const fail = (message: string) => new Error(`${n.op}: ${message}`);
  const d = x.shape[x.rank - 1];
  if (x.rank === 0 || d === 0) throw fail(`x must have a last axis, got ${shapeText(x.shape)}`);
  // WebGPU binds no empty buffer.
  if (x.size === 0) throw fail(`x must not be empty, got ${shapeText(x.shape)}`);
  if (delta && !tf.util.arraysEqual(delta.shape, x.shape)) throw fail(`delta must be ${shapeText(x.shape)}, got ${shapeText(delta.shape)}`);
  for (const [name, v] of Object.entries(vectors)) {
    if (v.rank !== 1 || v.shape[0] !== d) throw fail(`${name} must be [${d}], got ${shapeText(v.shape)}`);
  }
  for (const [name, t] of Object.entries({ x, ...(delta ? { delta } : {}), ...vectors })) {
    if (t.dtype !== "float32") throw fail(`${name} must be float32, got ${t.dtype}`);
  }
  return rowsOfShape(x.shape);
}

/** x [..., d] of this shape as rows of d. */
function rowsOfShape(shape: number[]): Rows {
  const d = shape[shape.length - 1];
  return { shape, rows: tf.util.sizeFromShape(shape) / d, d };
}

/** LayerNorm of x [..., d] over its last axis with gain g [d] and bias b [d]; differentiable. */
export function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const rows = rowsOf(LAYER_NORM, x, { g, b });
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [sx, sg, sb, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [y, mean, rstd] = runKernel(forwardCall(LAYER_NORM, rows, eps, [sx, sg, sb]));
    save([sx, sg, mean, rstd]);
    return { value: y, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => backward(LAYER_NORM, rows, dy, saved) };
  });
  return op(x, g, b);
}

/** RMSNorm of x [..., d] with gain g [d], as transformers' LlamaRMSNorm: g x / sqrt(mean(x^2) + eps); differentiable. */
export function rmsNorm(x: tf.Tensor, g: tf.Tensor, eps: number): tf.Tensor {
  const rows = rowsOf(RMS_NORM, x, { g });
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [sx, sg, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [y, rstd] = runKernel(forwardCall(RMS_NORM, rows, eps, [sx, sg]));
    save([sx, sg, rstd]);
    return { value: y, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => backward(RMS_NORM, rows, dy, saved) };
  });
  return op(x, g);
}

/**
 * The residual add and the LayerNorm of the sum, s = x + delta and LayerNorm(s), in one pass: [s, LayerNorm(s)],
 * both differentiable. The gradient's row pass adds the gradient s has from the rest of the stream to the norm's.
 */
const addLayerNormKernelOp = addLayerNormKernel(
  "XftAddLayerNormWgsl",
  "webgpu",
  ({ x, delta, g, b }, eps) => recordKernel(forwardCall(ADD_LAYER_NORM, rowsOfShape(x.shape), eps, [x, delta, g, b])),
  (dSum, dy, { sum, g, mean, rstd }) => backward(ADD_LAYER_NORM, rowsOfShape(sum.shape), dy, [sum, g, mean, rstd], dSum),
);

/** The add-and-norm above, its shapes checked first (the kernel's errors would name no field). */
export function addLayerNorm(x: tf.Tensor, delta: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): [tf.Tensor, tf.Tensor] {
  rowsOf(ADD_LAYER_NORM, x, { g, b }, delta);
  return addLayerNormKernelOp(x, delta, g, b, eps);
}
