/**
 * What the wasm backend lacks or gets wrong, mended at registration time:
 * - it has no `UnsortedSegmentSum` kernel, which the gradient of `tf.gather` (embedding lookup) needs;
 * - when XNNPACK cannot allocate inside the 4 GiB wasm heap it only prints
 *   "XNN status for ... is not successful" and leaves the output unwritten: silent wrong numbers.
 *   We turn that message into an error that `assertBackendHealthy()` throws.
 */
import * as tf from "@tensorflow/tfjs";

interface WasmLikeBackend {
  readSync(dataId: object): tf.backend_util.BackendValues;
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: tf.backend_util.BackendValues): tf.TensorInfo;
}

let failure: Error | undefined;
let registered = false;

/** Sums rows of `x` into `numSegments` buckets by `segmentIds` (ids out of range are dropped, as in TF). */
export function unsortedSegmentSumValues(
  x: Float32Array, segmentIds: Int32Array, numSegments: number,
): Float32Array {
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
      const values = unsortedSegmentSumValues(
        be.readSync(x.dataId) as Float32Array, be.readSync(segmentIds.dataId) as Int32Array, numSegments,
      );
      return be.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype, undefined, values);
    },
  });
  watchForXnnFailures();
}

/** The first XNNPACK failure seen since the last call, cleared by reading it. */
export function wasmFailure(): Error | undefined {
  const f = failure;
  failure = undefined;
  return f;
}
