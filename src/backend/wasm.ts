/**
 * What the wasm backend lacks or gets wrong, mended at registration time:
 * - it has no `UnsortedSegmentSum` kernel, which the gradient of `tf.gather` (embedding lookup) needs;
 * - its `BatchMatMul` reaches XNNPACK only for one non-transposed 2-D product; transposed operands
 *   (every matmul gradient) and batches (attention) fall to a plain loop about 10x slower. The mended
 *   kernel materialises the cheaper transpose and splits a batch into 2-D products that are views of the
 *   batch's memory (no copies);
 * - its `Transpose` moves one element at a time through index arithmetic; a permutation that keeps the
 *   last axis in place (attention's head split and merge) is done here as copies of whole rows, one that
 *   swaps the last two axes (matmul operands) in runs of 8 contiguous writes;
 * - its `Identity` copies its input, and its `GatherV2` of rows moves one element at a time; here they are a
 *   second reference to the same memory and one copy per row;
 * - its `Sum` over leading axes (bias and LayerNorm gradients) transposes the input first; here it is one
 *   pass of column sums;
 * - when XNNPACK cannot allocate inside the 4 GiB wasm heap it only prints
 *   "XNN status for ... is not successful" and leaves the output unwritten: silent wrong numbers.
 *   We turn that message into an error that `assertBackendHealthy()` throws.
 * Its slice (no whole-input copy) and its threads in Node are mended in the bundle itself, by
 * patches/@tensorflow+tfjs-backend-wasm+4.22.0.patch.
 */
import * as tf from "@tensorflow/tfjs";
import { KernelArgs, KernelOut, mendKernel } from "./mend-kernel";

interface WasmLikeBackend {
  incRef(dataId: object): void;
  readSync(dataId: object): tf.backend_util.BackendValues;
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: tf.backend_util.BackendValues): tf.TensorInfo;
  /** A view of a tensor's values on the heap; a later allocation may grow the heap and detach it. */
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  disposeData(dataId: object): boolean;
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number }; delete(dataId: object): void };
  wasm: { tfjs: { disposeData(id: number): void } };
}

let failure: Error | undefined;
let registered = false;

/** Sums rows of `x` into `numSegments` buckets by `segmentIds` (ids out of range are dropped, as in TF). */
export function unsortedSegmentSumValues(x: Float32Array, segmentIds: Int32Array, numSegments: number): Float32Array {
  const n = segmentIds.length;
  const inner = n === 0 ? 0 : x.length / n;
  const out = new Float32Array(numSegments * inner);
  for (let i = 0; i < n; i++) {
    const s = segmentIds[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) out[dst + j] += x[src + j];
  }
  return out;
}

function watchForXnnFailures(): void {
  for (const level of ["warn", "log", "error"] as const) {
    const original = console[level].bind(console);
    console[level] = (...args: unknown[]) => {
      const text = args.map(String).join(" ");
      if (/XNN status .* not successful/.test(text)) {
        failure ??= new Error(
          `wasm backend: XNNPACK could not allocate memory (${text.trim()}); its outputs are wrong. ` +
            "The 4 GiB wasm heap is full: use a smaller batch (or micro-batches) or the native backend.",
        );
      }
      original(...args);
    };
  }
}

export function registerWasmFixes(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: "UnsortedSegmentSum",
    backendName: "wasm",
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const { numSegments } = attrs as unknown as { numSegments: number };
      const be = backend as unknown as WasmLikeBackend;
      const values = unsortedSegmentSumValues(be.readSync(x.dataId) as Float32Array, be.readSync(segmentIds.dataId) as Int32Array, numSegments);
      return be.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype, undefined, values);
    },
  });
  mendIdentity();
  mendTranspose();
  mendGather();
  mendBatchMatMul();
  mendSum();
  watchForXnnFailures();
}

/**
 * Replaces wasm's Identity, which copies its input (about 170 copies a training step: the custom gradients'
 * outputs, clones), by a second reference to the same memory, as its Reshape and the cpu backend's Identity
 * do: no kernel writes into its inputs.
 */
function mendIdentity(): void {
  mendKernel("wasm", "Identity", (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype === "string") return original(args);
    (args.backend as unknown as WasmLikeBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  });
}

/**
 * Replaces wasm's Transpose, for permutations that keep the last axis last (row copies, transposeRows) and
 * for those that swap the last two axes (blocked copies, transposeLastTwo); it moves one element at a time
 * through index arithmetic, about 0.07 G elements/s.
 */
function mendTranspose(): void {
  mendKernel("wasm", "Transpose", (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { perm } = args.attrs as unknown as { perm: number[] };
    const rank = perm.length;
    const keepsLast = rank >= 3 && perm[rank - 1] === rank - 1;
    const swapsLastTwo = rank >= 2 && perm[rank - 1] === rank - 2 && perm[rank - 2] === rank - 1 && perm.slice(0, -2).every((p, i) => p === i);
    if (x.dtype !== "float32" || !(keepsLast || swapsLastTwo)) return original(args);
    const be = args.backend as unknown as WasmLikeBackend;
    const out = be.makeOutput(
      perm.map((p) => x.shape[p]),
      "float32",
    );
    const [xs, outs] = [be.typedArrayFromHeap(x), be.typedArrayFromHeap(out)];
    if (keepsLast) transposeRows(xs, x.shape, perm, outs);
    else transposeLastTwo(xs, x.shape[rank - 2], x.shape[rank - 1], outs);
    return out;
  });
}

/**
 * Writes x ([batch, rows, cols], batch = its length / (rows x cols)) as [batch, cols, rows] into `out`. Each
 * output row is written in runs of 8 consecutive elements (8 input rows, one column): square tiles wrote
 * columns at a stride of `rows` floats, which for a power-of-two `rows` such as 4096 all fall in one cache
 * set (6.8 ns an element against 2.2 here).
 */
export function transposeLastTwo(x: Float32Array, rows: number, cols: number, out: Float32Array): void {
  const group = 8;
  for (let base = 0; base < x.length; base += rows * cols) {
    for (let i0 = 0; i0 < rows; i0 += group) {
      const i1 = Math.min(i0 + group, rows);
      for (let j = 0; j < cols; j++) {
        let dst = base + j * rows + i0;
        for (let src = base + i0 * cols + j, end = base + i1 * cols; src < end; src += cols) out[dst++] = x[src];
      }
    }
  }
}

/** Writes x (of `shape`) permuted by `perm`, which keeps the last axis last, into `out`: one copy per row. */
export function transposeRows(x: Float32Array, shape: readonly number[], perm: readonly number[], out: Float32Array): void {
  const rank = shape.length;
  const row = shape[rank - 1];
  const inStrides = new Array<number>(rank).fill(row);
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = i === rank - 2 ? row : inStrides[i + 1] * shape[i + 1];
  const outShape = perm.slice(0, -1).map((p) => shape[p]);
  // Input stride of each output axis; an odometer walks the output rows in order.
  const strides = perm.slice(0, -1).map((p) => inStrides[p]);
  const index = new Array<number>(outShape.length).fill(0);
  const rows = outShape.reduce((a, b) => a * b, 1);
  let src = 0;
  for (let r = 0; r < rows; r++) {
    out.set(x.subarray(src, src + row), r * row);
    for (let axis = outShape.length - 1; axis >= 0; axis--) {
      index[axis]++;
      src += strides[axis];
      if (index[axis] < outShape[axis]) break;
      src -= strides[axis] * outShape[axis];
      index[axis] = 0;
    }
  }
}

/**
 * Replaces wasm's GatherV2 of whole rows (axis 0: the embedding lookup, the head's target rows), which it does
 * element by element through strides and a closure per index (about 20 ms for 4096 rows of 128), by one
 * copy per row.
 */
function mendGather(): void {
  mendKernel("wasm", "GatherV2", (args, original) => {
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
    if (
      tf.util.parseAxisParam(axis, x.shape)[0] !== 0 ||
      batchDims !== 0 ||
      x.shape.length === 0 ||
      (x.dtype !== "float32" && x.dtype !== "int32") ||
      indices.dtype !== "int32"
    ) {
      return original(args);
    }
    const be = args.backend as unknown as WasmLikeBackend;
    // Int32Array views for int32 tensors, whatever the declared type; the index is checked before the output exists.
    const rows = x.shape[0];
    const bad = (be.typedArrayFromHeap(indices) as unknown as Int32Array).find((r) => !(r >= 0 && r < rows));
    if (bad !== undefined) throw new Error(`GatherV2: the index value ${bad} is not in [0, ${rows - 1}]`);
    const out = be.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
    gatherRows(be.typedArrayFromHeap(x), rows, be.typedArrayFromHeap(indices) as unknown as Int32Array, be.typedArrayFromHeap(out));
    return out;
  });
}

/** out[i] = row index[i] of x, which has `rows` rows (indices already checked to be in range). */
export function gatherRows(x: Float32Array, rows: number, index: Int32Array, out: Float32Array): void {
  const width = rows === 0 ? 0 : x.length / rows;
  for (let i = 0; i < index.length; i++) out.set(x.subarray(index[i] * width, (index[i] + 1) * width), i * width);
}

/**
 * Replaces wasm's BatchMatMul by one that only ever asks it for non-transposed 2-D products (its XNNPACK
 * path). A^T B is computed as A^T materialised, or as (B^T A)^T, whichever transposes fewer elements;
 * A B^T likewise; a batch is split into 2-D products written into one output.
 */
function mendBatchMatMul(): void {
  const transposeKernel = tf.getKernel("Transpose", "wasm")!.kernelFunc as (args: KernelArgs) => KernelOut;
  mendKernel("wasm", "BatchMatMul", (args, fast) => mendedBatchMatMul(args, fast, transposeKernel));
}

function mendedBatchMatMul(args: KernelArgs, fast: (args: KernelArgs) => KernelOut, transposeKernel: (args: KernelArgs) => KernelOut): KernelOut {
  const be = args.backend as unknown as WasmLikeBackend;
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
  const batchA = a.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  const batchB = b.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  const plain = (x: tf.TensorInfo, y: tf.TensorInfo) => fast({ ...args, inputs: { a: x, b: y }, attrs: { transposeA: false, transposeB: false } });
  const swapLast = (x: tf.TensorInfo) => {
    const perm = [...x.shape.keys()];
    [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
    return transposeKernel({ inputs: { x }, backend: args.backend, attrs: { perm } });
  };
  // Broadcasting a batch other than 1 keeps the original kernel.
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return fast(args);
  const temporaries: tf.TensorInfo[] = [];
  const temp = (t: tf.TensorInfo) => (temporaries.push(t), t);
  try {
    if (!transposeA && !transposeB) return batchA === 1 && batchB === 1 ? plain(a, b) : batched(a, b);
    // Which transpose costs less: the operand's, or the other operand's plus the output's.
    const m = transposeA ? a.shape[a.shape.length - 1] : a.shape[a.shape.length - 2];
    const n = transposeB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1];
    const transposed = transposeA ? a : b;
    const other = transposeA ? b : a;
    const direct = transposed.shape.reduce((x, y) => x * y, 1) + (transposeA && transposeB ? other.shape.reduce((x, y) => x * y, 1) : 0);
    const viaOutput = (transposeA && transposeB ? 0 : other.shape.reduce((x, y) => x * y, 1)) + Math.max(batchA, batchB) * m * n;
    if (transposeA && transposeB) {
      // A^T B^T = (B A)^T: one output transpose instead of two operand transposes.
      return viaOutput < direct ? swapLast(temp(batchedOrPlain(b, a))) : batchedOrPlain(temp(swapLast(a)), temp(swapLast(b)));
    }
    if (viaOutput < direct) {
      // A^T B = (B^T A)^T and A B^T = (B A^T)^T.
      return swapLast(temp(transposeA ? batchedOrPlain(temp(swapLast(b)), a) : batchedOrPlain(b, temp(swapLast(a)))));
    }
    return transposeA ? batchedOrPlain(temp(swapLast(a)), b) : batchedOrPlain(a, temp(swapLast(b)));
  } finally {
    for (const t of temporaries) be.disposeData(t.dataId);
  }

  function batchedOrPlain(x: tf.TensorInfo, y: tf.TensorInfo): tf.TensorInfo {
    const bx = x.shape.slice(0, -2).reduce((p, q) => p * q, 1);
    const by = y.shape.slice(0, -2).reduce((p, q) => p * q, 1);
    return bx === 1 && by === 1 ? plain(x, y) : batched(x, y);
  }

  /** x [...bx, m, k] @ y [...by, k, n] as max(bx, by) 2-D products (a batch of 1 is broadcast). */
  function batched(x: tf.TensorInfo, y: tf.TensorInfo): tf.TensorInfo {
    const [m, k] = x.shape.slice(-2);
    const n = y.shape[y.shape.length - 1];
    const bx = x.shape.slice(0, -2).reduce((p, q) => p * q, 1);
    const by = y.shape.slice(0, -2).reduce((p, q) => p * q, 1);
    const count = Math.max(bx, by);
    const outShape = [...(bx >= by ? x : y).shape.slice(0, -2), m, n];
    const out = be.makeOutput(outShape, "float32");
    for (let i = 0; i < count; i++) {
      const xi = heapView(be, x, bx === 1 ? 0 : i, [m, k]);
      const yi = heapView(be, y, by === 1 ? 0 : i, [k, n]);
      const oi = plain(xi, yi);
      be.typedArrayFromHeap(out).set(be.typedArrayFromHeap(oi), i * m * n);
      releaseView(be, xi);
      releaseView(be, yi);
      be.disposeData(oi.dataId);
    }
    return out;
  }
}

/**
 * The `index`-th block of `shape` inside t's memory, as a tensor of its own that shares that memory (no
 * copy). Release it with releaseView, never disposeData, which would free memory the view does not own.
 */
function heapView(be: WasmLikeBackend, t: tf.TensorInfo, index: number, shape: number[]): tf.TensorInfo {
  const size = shape.reduce((a, b) => a * b, 1);
  return be.makeOutput(shape, t.dtype, be.dataIdMap.get(t.dataId).memoryOffset + index * size * 4);
}

/** Forgets a heapView (and what the C++ side cached for it, such as XNNPACK operators) without freeing memory. */
function releaseView(be: WasmLikeBackend, view: tf.TensorInfo): void {
  be.wasm.tfjs.disposeData(be.dataIdMap.get(view.dataId).id);
  be.dataIdMap.delete(view.dataId);
}

/**
 * Replaces wasm's Sum over leading axes (bias and LayerNorm gradients: [rows, d] summed over rows), which
 * it does by transposing the input element by element first, by one pass of column sums.
 */
function mendSum(): void {
  mendKernel("wasm", "Sum", (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
    const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i);
    if (x.dtype !== "float32" || !leading) return original(args);
    const be = args.backend as unknown as WasmLikeBackend;
    const kept = x.shape.slice(axes.length);
    const out = be.makeOutput(keepDims ? [...axes.map(() => 1), ...kept] : kept, "float32");
    columnSums(be.typedArrayFromHeap(x), be.typedArrayFromHeap(out));
    return out;
  });
}

/** out[j] = sum over rows i of x[i * out.length + j], accumulated in float64. */
export function columnSums(x: Float32Array, out: Float32Array): void {
  const cols = out.length;
  const acc = new Float64Array(cols);
  for (let base = 0; base < x.length; base += cols) {
    for (let j = 0; j < cols; j++) acc[j] += x[base + j];
  }
  out.set(acc);
}

/** The first XNNPACK failure seen since the last call, cleared by reading it. */
export function wasmFailure(): Error | undefined {
  const f = failure;
  failure = undefined;
  return f;
}
