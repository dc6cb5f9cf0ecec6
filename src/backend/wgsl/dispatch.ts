/**
 * Runs one of xft's WGSL compute shaders on the webgpu backend's own buffers, in the backend's own command stream.
 *
 * tfjs's program API (runWebGPUProgram) writes one output and binds its inputs read-only; the model's kernels need
 * several outputs (LayerNorm's mean and 1/std, attention's log-sum-exp) and AdamW updates its moments in place. So
 * a kernel here binds, in this order, at @group(0): its outputs (new tensors, read_write), its in-place operands
 * (read_write), its inputs (read) and, last, a uniform struct of 4-byte scalars, in the order given. It is recorded
 * where tfjs records its own programs, so that it runs after what came before it and before what comes after.
 */
import * as tf from "@tensorflow/tfjs";

/** A uniform: a 4-byte scalar, of WGSL type u32, i32 or f32, laid out in the order given. */
export type Uniform = ["u32" | "i32" | "f32", number];

export interface KernelCall {
  /** Names the shader in the pipeline cache together with its source. */
  name: string;
  /** The WGSL source, entry point `main`, with its bindings in the order above. */
  wgsl: string;
  outputs: Array<{ shape: number[]; dtype?: "float32" | "int32" }>;
  /** Tensors the shader writes over (bound read_write); the caller owns them and nothing else may share their data. */
  inPlace?: tf.TensorInfo[];
  inputs: tf.TensorInfo[];
  uniforms?: Uniform[];
  /** Workgroups in x, y, z. */
  workgroups: [number, number?, number?];
}

/** The webgpu backend's members this relies on (tfjs-backend-webgpu 4.22, pinned in package.json). */
interface WebGpuBackend {
  device: GPUDevice;
  queue: GPUQueue;
  tensorMap: { get(dataId: object): { resource?: GPUBuffer; values?: unknown } };
  bufferManager: { acquireBuffer(size: number, usage: number): GPUBuffer };
  uniformPendingDisposal: GPUBuffer[];
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  commandQueueOwnedIds: WeakSet<object>;
  dispatchCountInPass: number;
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  uploadToGPU(dataId: object): void;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

const pipelines = new Map<string, GPUComputePipeline>();

function backend(): WebGpuBackend {
  if (tf.getBackend() !== "webgpu") throw new Error(`xft's WGSL kernels run on the webgpu backend, not ${tf.getBackend()}`);
  return tf.backend() as unknown as WebGpuBackend;
}

function pipeline(be: WebGpuBackend, call: KernelCall): GPUComputePipeline {
  const key = `${call.name}\n${call.wgsl}`;
  let p = pipelines.get(key);
  if (!p) {
    const module = be.device.createShaderModule({ code: call.wgsl, label: call.name });
    p = be.device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" }, label: call.name });
    pipelines.set(key, p);
  }
  return p;
}

function uniformBuffer(be: WebGpuBackend, uniforms: Uniform[]): GPUBuffer {
  // A uniform struct's size is a multiple of 16 bytes.
  const bytes = new ArrayBuffer(Math.max(16, Math.ceil((uniforms.length * 4) / 16) * 16));
  const view = new DataView(bytes);
  uniforms.forEach(([type, value], i) => {
    if (type === "f32") view.setFloat32(i * 4, value, true);
    else if (type === "i32") view.setInt32(i * 4, value, true);
    else view.setUint32(i * 4, value, true);
  });
  const buffer = be.bufferManager.acquireBuffer(bytes.byteLength, GPUBufferUsage.COPY_DST | GPUBufferUsage.UNIFORM);
  be.queue.writeBuffer(buffer, 0, bytes);
  // Released, as tfjs's own uniforms are, once the commands that read it are submitted.
  be.uniformPendingDisposal.push(buffer);
  return buffer;
}

/**
 * Records the shader and returns its outputs as the backend's TensorInfos, for a tfjs kernel to return (a kernel with
 * several differentiable outputs is registered with tfjs, see norms.ts); in-place operands hold their new values
 * once it has run.
 */
export function recordKernel(call: KernelCall): tf.TensorInfo[] {
  const be = backend();
  const outputs = call.outputs.map((o) => be.makeTensorInfo(o.shape, o.dtype ?? "float32"));
  const bound = [...outputs, ...(call.inPlace ?? []), ...call.inputs];
  const entries: GPUBindGroupEntry[] = bound.map((t, i) => {
    be.uploadToGPU(t.dataId);
    be.commandQueueOwnedIds.add(t.dataId);
    return { binding: i, resource: { buffer: be.tensorMap.get(t.dataId).resource! } };
  });
  // A read (await t.data()) leaves the values on the CPU as well, which tfjs would return again once the shader has
  // written over the buffer: they go.
  for (const t of call.inPlace ?? []) be.tensorMap.get(t.dataId).values = null;
  if (call.uniforms) entries.push({ binding: bound.length, resource: { buffer: uniformBuffer(be, call.uniforms) } });
  const p = pipeline(be, call);
  const group = be.device.createBindGroup({ layout: p.getBindGroupLayout(0), entries });
  be.ensureCommandEncoderReady();
  be.computePassEncoder ??= be.commandEncoder!.beginComputePass();
  be.computePassEncoder.setPipeline(p);
  be.computePassEncoder.setBindGroup(0, group);
  const [x, y = 1, z = 1] = call.workgroups;
  be.computePassEncoder.dispatchWorkgroups(x, y, z);
  // Submit in batches, as tfjs does (its flag WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE).
  if (++be.dispatchCountInPass >= (tf.env().get("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE") as number)) {
    be.endComputePassEncoder();
    be.submitQueue();
  }
  return outputs;
}

/** Records the shader and returns its outputs as tensors. */
export function runKernel(call: KernelCall): tf.Tensor[] {
  return recordKernel(call).map((o) => tf.engine().makeTensorFromTensorInfo(o));
}

/** Workgroups of `size` threads to cover `n` items, folded into y where x would pass WebGPU's 65535 limit. */
export function workgroupsFor(n: number, size: number): [number, number] {
  const groups = Math.ceil(n / size);
  if (groups <= 65535) return [Math.max(1, groups), 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y];
}
