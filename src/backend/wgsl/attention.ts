/**
 * Causal self-attention as WGSL kernels, flash-attention style: softmax(q k^T / sqrt(hd) + causal) v on the fused
 * projection qkv [B*T, 3d] (model/ops/attention.ts has the layout), without ever storing the [B, H, T, T] scores.
 *
 * Each kernel gives one thread one row of its side (a query row, or in dk/dv a key row), held in registers with its
 * accumulators, and a workgroup of ROWS threads one (batch, head, block of rows); the other side streams through
 * workgroup memory in tiles of TILE rows, which every thread reads at the same address (a broadcast), so that a row
 * is read from global memory once per workgroup rather than once per thread.
 * - Forward: an online softmax over the key tiles (running max m and sum l, the output rescaled when m grows);
 *   returns the output and keeps each row's log-sum-exp m + log l [B, H, T].
 * - Backward: with P = exp(s - lse) recomputed from q, k and the lse, dS = P * (dO v^T - D), D = rowsum(dO * O):
 *   one kernel per query block computes D and dQ = dS K / sqrt(hd), then one per key block dK = dS^T Q / sqrt(hd)
 *   and dV = P^T dO. Two kernels, each summing only over its own rows, because WGSL has no float atomics.
 */
import * as tf from "@tensorflow/tfjs";
import { runKernel } from "./dispatch";

/** Threads per workgroup, one row each. */
const ROWS = 64;
/** WebGPU's default limit on workgroup memory, in floats (16 KiB). */
const WORKGROUP_FLOATS = 4096;
const MAX_HEAD_DIM = 128;

/**
 * Whether the kernels take heads of this size: multiples of 4 (rows are read as vec4) up to 128, past which the
 * 2-4 rows of hd floats that each thread keeps in registers would spill, and a tile would hold too few rows.
 */
export function attends(headDim: number): boolean {
  return Number.isInteger(headDim) && headDim > 0 && headDim % 4 === 0 && headDim <= MAX_HEAD_DIM;
}

/** Rows per tile: two tiles of hd floats a row, and the dk/dv kernel's lse and D a row, fill at most 16 KiB. */
function tileRows(hd: number): number {
  return Math.min(32, Math.floor(WORKGROUP_FLOATS / (2 * hd + 2)));
}

/**
 * What every kernel shares: the constants, the uniforms, the tiles and the index of a row's vec4s. `dO` [B*T, d] is
 * laid out as the output; lse and D as [B, H, T]. `blocks` is the number of row blocks (workgroups along x).
 */
function common(hd: number): string {
  return `
const HD4: u32 = ${hd / 4}u;
const ROWS: u32 = ${ROWS}u;
const TILE: u32 = ${tileRows(hd)}u;
const SCALE: f32 = ${1 / Math.sqrt(hd)};
struct Params { T: u32, H: u32, d4: u32, blocks: u32 }
var<workgroup> tileA: array<vec4<f32>, TILE * HD4>;
var<workgroup> tileB: array<vec4<f32>, TILE * HD4>;
// The first vec4 of head h in row t of batch b: of q (part 0), k (1) or v (2) in qkv, or of the output.
fn qkvAt(b: u32, t: u32, part: u32, h: u32) -> u32 { return ((b * params.T + t) * 3u + part) * params.d4 + h * HD4; }
fn outAt(b: u32, t: u32, h: u32) -> u32 { return (b * params.T + t) * params.d4 + h * HD4; }
fn rowAt(b: u32, h: u32, t: u32) -> u32 { return (b * params.H + h) * params.T + t; }
`;
}

/** Loads rows r0..r0+TILE into the tiles, zeros past T, coalesced (neighbouring threads read neighbouring vec4s). */
function loadTiles(a: string, b: string): string {
  return `
fn loadTiles(b: u32, h: u32, r0: u32, lid: u32) {
  for (var i = lid; i < TILE * HD4; i += ROWS) {
    let r = r0 + i / HD4;
    let c = i % HD4;
    var x = vec4<f32>(0.0);
    var y = vec4<f32>(0.0);
    if (r < params.T) {
      x = ${a};
      y = ${b};
    }
    tileA[i] = x;
    tileB[i] = y;
  }
}`;
}

/** The dot product of a thread's row with row j of a tile (WGSL cannot pass workgroup arrays by pointer). */
function rowDot(tile: "tileA" | "tileB"): string {
  return `
fn dot_${tile}(x: ptr<function, array<vec4<f32>, HD4>>, j: u32) -> f32 {
  var acc = 0.0;
  for (var c = 0u; c < HD4; c++) { acc += dot((*x)[c], ${tile}[j * HD4 + c]); }
  return acc;
}`;
}

/** A kernel's entry point with its block's first row `r0` and this thread's row `t` (`live` where t < T). */
function entry(r0: string, body: string): string {
  return `
@compute @workgroup_size(ROWS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.z;
  let h = wid.y;
  let r0 = ${r0};
  let t = r0 + lid;
  let live = t < params.T;
${body}
}`;
}

// Causal work grows with the query row, so the forward and dq kernels start the last query blocks first, and the
// dk/dv kernel (whose work grows towards the first keys) the first key blocks: the longest workgroups start first.
const LAST_BLOCKS_FIRST = "(params.blocks - 1u - wid.x) * ROWS";

const FORWARD = (hd: number) => `
@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;
@group(0) @binding(2) var<storage, read> qkv: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> params: Params;
${common(hd)}${loadTiles("qkv[qkvAt(b, r, 1u, h) + c]", "qkv[qkvAt(b, r, 2u, h) + c]")}${rowDot("tileA")}
${entry(
  LAST_BLOCKS_FIRST,
  `
  var q: array<vec4<f32>, HD4>;
  var o: array<vec4<f32>, HD4>;
  if (live) { for (var c = 0u; c < HD4; c++) { q[c] = qkv[qkvAt(b, t, 0u, h) + c] * SCALE; } }
  // Finite, so that the first rescale is exp(-huge) = 0 rather than exp(-inf + inf) = NaN.
  var m = -1e30;
  var l = 0.0;
  var s: array<f32, TILE>;
  for (var k0 = 0u; k0 < min(params.T, r0 + ROWS); k0 += TILE) {
    workgroupBarrier();
    loadTiles(b, h, k0, lid);
    workgroupBarrier();
    if (live && k0 <= t) {
      let n = min(TILE, t + 1u - k0);
      var mNew = m;
      for (var j = 0u; j < n; j++) { s[j] = dot_tileA(&q, j); mNew = max(mNew, s[j]); }
      let alpha = exp(m - mNew);
      l *= alpha;
      for (var c = 0u; c < HD4; c++) { o[c] *= alpha; }
      for (var j = 0u; j < n; j++) {
        let p = exp(s[j] - mNew);
        l += p;
        for (var c = 0u; c < HD4; c++) { o[c] += p * tileB[j * HD4 + c]; }
      }
      m = mNew;
    }
  }
  if (live) {
    for (var c = 0u; c < HD4; c++) { out[outAt(b, t, h) + c] = o[c] / l; }
    lse[rowAt(b, h, t)] = m + log(l);
  }`,
)}`;

const BACKWARD_QUERIES = (hd: number) => `
@group(0) @binding(0) var<storage, read_write> dqkv: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> rowD: array<f32>;
@group(0) @binding(2) var<storage, read> qkv: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> dO: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
${common(hd)}${loadTiles("qkv[qkvAt(b, r, 1u, h) + c]", "qkv[qkvAt(b, r, 2u, h) + c]")}${rowDot("tileA")}${rowDot("tileB")}
${entry(
  LAST_BLOCKS_FIRST,
  `
  var q: array<vec4<f32>, HD4>;
  var g: array<vec4<f32>, HD4>;
  var dq: array<vec4<f32>, HD4>;
  var D = 0.0;
  var L = 0.0;
  if (live) {
    for (var c = 0u; c < HD4; c++) {
      q[c] = qkv[qkvAt(b, t, 0u, h) + c] * SCALE;
      g[c] = dO[outAt(b, t, h) + c];
      D += dot(g[c], out[outAt(b, t, h) + c]);
    }
    L = lse[rowAt(b, h, t)];
    rowD[rowAt(b, h, t)] = D;
  }
  for (var k0 = 0u; k0 < min(params.T, r0 + ROWS); k0 += TILE) {
    workgroupBarrier();
    loadTiles(b, h, k0, lid);
    workgroupBarrier();
    if (live && k0 <= t) {
      for (var j = 0u; j < min(TILE, t + 1u - k0); j++) {
        let p = exp(dot_tileA(&q, j) - L);
        let ds = p * (dot_tileB(&g, j) - D);
        for (var c = 0u; c < HD4; c++) { dq[c] += ds * tileA[j * HD4 + c]; }
      }
    }
  }
  if (live) { for (var c = 0u; c < HD4; c++) { dqkv[qkvAt(b, t, 0u, h) + c] = dq[c] * SCALE; } }`,
)}`;

const BACKWARD_KEYS = (hd: number) => `
@group(0) @binding(0) var<storage, read_write> dqkv: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> qkv: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dO: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read> rowD: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;
${common(hd)}${loadTiles("qkv[qkvAt(b, r, 0u, h) + c] * SCALE", "dO[outAt(b, r, h) + c]")}${rowDot("tileA")}${rowDot("tileB")}
var<workgroup> tileL: array<f32, TILE>;
var<workgroup> tileD: array<f32, TILE>;
${entry(
  "wid.x * ROWS",
  `
  var k: array<vec4<f32>, HD4>;
  var v: array<vec4<f32>, HD4>;
  var dk: array<vec4<f32>, HD4>;
  var dv: array<vec4<f32>, HD4>;
  if (live) {
    for (var c = 0u; c < HD4; c++) { k[c] = qkv[qkvAt(b, t, 1u, h) + c]; v[c] = qkv[qkvAt(b, t, 2u, h) + c]; }
  }
  // Only queries at or after the block's first key see its keys.
  for (var i0 = r0; i0 < params.T; i0 += TILE) {
    workgroupBarrier();
    loadTiles(b, h, i0, lid);
    if (lid < TILE && i0 + lid < params.T) { tileL[lid] = lse[rowAt(b, h, i0 + lid)]; tileD[lid] = rowD[rowAt(b, h, i0 + lid)]; }
    workgroupBarrier();
    // The tile's queries i with t <= i < T; the tile holds scaled q, so s and dK need no further scaling.
    if (live && t < i0 + TILE) {
      for (var i = max(t, i0) - i0; i < min(TILE, params.T - i0); i++) {
        let p = exp(dot_tileA(&k, i) - tileL[i]);
        let ds = p * (dot_tileB(&v, i) - tileD[i]);
        for (var c = 0u; c < HD4; c++) {
          dv[c] += p * tileB[i * HD4 + c];
          dk[c] += ds * tileA[i * HD4 + c];
        }
      }
    }
  }
  if (live) {
    for (var c = 0u; c < HD4; c++) { dqkv[qkvAt(b, t, 1u, h) + c] = dk[c]; dqkv[qkvAt(b, t, 2u, h) + c] = dv[c]; }
  }`,
)}`;

interface Dims {
  batch: number;
  len: number;
  heads: number;
  headDim: number;
}

/** The attention's dimensions from qkv [B*T, 3d], or the native kernel's error where it does not split. */
function dimsOf(qkv: tf.Tensor2D, batch: number, heads: number): Dims {
  const [rows, width3] = qkv.shape;
  const splits = qkv.rank === 2 && Number.isInteger(batch) && batch > 0 && Number.isInteger(heads) && heads > 0;
  if (!splits || rows % batch !== 0 || width3 % (3 * heads) !== 0) {
    throw new Error(`attention kernel: qkv [${qkv.shape}] does not split into batch ${batch}, 3 x heads ${heads}`);
  }
  const dims = { batch, len: rows / batch, heads, headDim: width3 / (3 * heads) };
  if (!attends(dims.headDim)) {
    throw new Error(`attention (WGSL): head size ${dims.headDim} of qkv [${qkv.shape}] is not a multiple of 4 up to ${MAX_HEAD_DIM}`);
  }
  if (batch > 65535 || heads > 65535) throw new Error(`attention (WGSL): batch ${batch} and heads ${heads} must be at most 65535`);
  return dims;
}

/** Runs one of the kernels over (row blocks, heads, batch). */
function launch(name: string, wgsl: string, s: Dims, io: { outputs?: number[][]; inPlace?: tf.Tensor[]; inputs: tf.Tensor[] }) {
  const blocks = Math.ceil(s.len / ROWS);
  return runKernel({
    name,
    wgsl,
    outputs: (io.outputs ?? []).map((shape) => ({ shape })),
    inPlace: io.inPlace,
    inputs: io.inputs,
    uniforms: [
      ["u32", s.len],
      ["u32", s.heads],
      ["u32", (s.heads * s.headDim) / 4],
      ["u32", blocks],
    ],
    workgroups: [blocks, s.heads, s.batch],
  });
}

/** The three shaders for a head size, built once. */
const shaders = new Map<number, { forward: string; queries: string; keys: string }>();
function shadersFor(hd: number) {
  let s = shaders.get(hd);
  if (!s) {
    s = { forward: FORWARD(hd), queries: BACKWARD_QUERIES(hd), keys: BACKWARD_KEYS(hd) };
    shaders.set(hd, s);
  }
  return s;
}

/** dqkv [B*T, 3d]: dq and D from the query blocks, then dk and dv written beside dq from the key blocks. */
function backward(s: Dims, qkv: tf.Tensor, out: tf.Tensor, lse: tf.Tensor, dOut: tf.Tensor): tf.Tensor {
  const wgsl = shadersFor(s.headDim);
  return tf.tidy(() => {
    const rows = s.batch * s.len;
    const [dqkv, rowD] = launch("attention-grad-queries", wgsl.queries, s, {
      outputs: [
        [rows, 3 * s.heads * s.headDim],
        [s.batch, s.heads, s.len],
      ],
      inputs: [qkv, out, dOut, lse],
    });
    launch("attention-grad-keys", wgsl.keys, s, { inPlace: [dqkv], inputs: [qkv, dOut, lse, rowD] });
    return dqkv;
  });
}

/**
 * Causal self-attention of qkv [B*T, 3 * heads * hd] to [B*T, heads * hd], differentiable; the gradient recomputes
 * the probabilities from qkv and the kept log-sum-exp.
 */
export function attention(qkv: tf.Tensor2D, batch: number, heads: number): tf.Tensor2D {
  const s = dimsOf(qkv, batch, heads);
  const attend = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const [out, lse] = launch("attention", shadersFor(s.headDim).forward, s, {
      outputs: [
        [batch * s.len, heads * s.headDim],
        [batch, heads, s.len],
      ],
      inputs: [x],
    });
    save([x, out, lse]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => backward(s, saved[0], saved[1], saved[2], dy),
    };
  });
  return attend(qkv) as tf.Tensor2D;
}
