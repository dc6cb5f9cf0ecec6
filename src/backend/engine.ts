/**
 * Picks the fastest TensorFlow.js backend that is installed and initialises, in this order:
 * tfjs-node-gpu, webgpu on a hardware adapter (webgpu.ts), tfjs-node (native TensorFlow), wasm (XNNPACK), cpu (pure
 * JS). `XFT_BACKEND` overrides; XFT_BACKEND=webgpu also takes a software adapter (SwiftShader), for tests.
 * Everything else in xft imports `tf` from here, so that every module sees the same engine.
 */
import * as tf from "@tensorflow/tfjs";
import { notice } from "../util/notice";
import { loadAttentionKernel } from "./attention-kernel";
import type { Impl } from "./impl-choice";
import { registerNativeFixes } from "./native";
import { loadTfOps } from "./tf-ops";
import { registerWasmFixes, wasmFailure } from "./wasm";
import { AdapterDescription, startWebGpu } from "./dawn";
import { loadWgslOps } from "./wgsl/ops";

export { tf };

export type BackendName = "tensorflow-gpu" | "webgpu" | "tensorflow" | "wasm" | "cpu";
export const BACKEND_ORDER: readonly BackendName[] = ["tensorflow-gpu", "webgpu", "tensorflow", "wasm", "cpu"];

export interface BackendInfo {
  /** Our name for the choice (tfjs calls both native variants "tensorflow"). */
  name: BackendName;
  /** The name tfjs reports. */
  tfjsBackend: string;
  tfjsVersion: string;
  /** TensorFlow C library version, native backends only. */
  tensorflowVersion?: string;
  /** Threads the backend computes with (native: TF's intra-op pool; wasm: its pthreads; webgpu: 1, the GPU's own). */
  threads: number;
  /** webgpu: the adapter, and whether it is a GPU (false: a software rasteriser such as SwiftShader). */
  adapter?: AdapterDescription;
  /** Why the backends before the chosen one were passed over. */
  skipped: Record<string, string>;
  /** Causal attention: xft's kernel (attention-kernel.ts) or tfjs ops, and why not the kernel. */
  attention: Impl;
  attentionNote?: string;
  /** The backend's fused ops (fused-ops.ts: xft's TensorFlow ops on native, its WGSL kernels on webgpu) or tfjs ops. */
  tfOps: Impl;
  tfOpsNote?: string;
}

let current: BackendInfo | undefined;

/** Loads a native tfjs package; it registers the "tensorflow" backend with the shared tfjs engine. */
function loadNative(pkg: string): { TF_Version?: string } {
  // Keep TensorFlow's info banner off stderr unless the user asked for it.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= "1";
  // A small model is bound by per-op overhead, where one intra-op thread beats two (tfjs-native.md).
  process.env.TF_NUM_INTEROP_THREADS ??= "1";
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(pkg);
  const binding = (tf.findBackend("tensorflow") as unknown as { binding?: { TF_Version?: string } } | null)?.binding;
  return binding ?? {};
}

function wasmThreads(requested: string | undefined): number {
  if (requested === undefined || requested === "") return require("os").cpus().length;
  const n = Number(requested);
  if (!Number.isInteger(n) || n < 1) throw new Error(`XFT_WASM_THREADS=${requested} is not a thread count; give a whole number of at least 1`);
  return n;
}

async function tryBackend(
  name: BackendName,
  explicit: boolean,
): Promise<Omit<BackendInfo, "skipped" | "tfjsVersion" | "attention" | "attentionNote" | "tfOps" | "tfOpsNote">> {
  switch (name) {
    case "tensorflow-gpu":
    case "tensorflow": {
      const pkg = name === "tensorflow-gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node";
      const binding = loadNative(pkg);
      if (!(await tf.setBackend("tensorflow"))) throw new Error(`${pkg} loaded but its backend did not initialise`);
      // Measured on the CPU build only; the GPU build keeps tfjs-node's own kernels.
      if (name === "tensorflow") registerNativeFixes();
      const threads = Number(process.env.TF_NUM_INTRAOP_THREADS) || require("os").cpus().length;
      return { name, tfjsBackend: "tensorflow", tensorflowVersion: binding.TF_Version, threads };
    }
    case "webgpu": {
      const adapter = await startWebGpu(explicit);
      return { name, tfjsBackend: "webgpu", threads: 1, adapter };
    }
    case "wasm": {
      const wasm = await import("@tensorflow/tfjs-backend-wasm");
      // All cores unless XFT_WASM_THREADS says otherwise: XNNPACK's matmuls scale to them (the bundle patch
      // lifts backend.cc's cap at half the cores).
      wasm.setThreadsCount(wasmThreads(process.env.XFT_WASM_THREADS));
      registerWasmFixes();
      if (!(await tf.setBackend("wasm"))) throw new Error("the wasm backend did not initialise");
      return { name, tfjsBackend: "wasm", threads: wasm.getThreadsCount() };
    }
    case "cpu":
      if (!(await tf.setBackend("cpu"))) throw new Error("the cpu backend did not initialise");
      // Its first op prints an "install our node backend" banner; `xft doctor` gives that advice instead.
      (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
      return { name, tfjsBackend: "cpu", threads: 1 };
  }
}

function requestedOrder(requested: string | undefined): BackendName[] {
  if (!requested) return [...BACKEND_ORDER];
  const name = requested === "native" ? "tensorflow" : requested;
  if (!(BACKEND_ORDER as readonly string[]).includes(name)) {
    throw new Error(`XFT_BACKEND=${requested} is not a backend; use one of ${BACKEND_ORDER.join(", ")} (or "native")`);
  }
  return [name as BackendName];
}

/**
 * Initialises the backend once per process and returns what was chosen. `requested` (or XFT_BACKEND)
 * forces one backend and fails loudly if it cannot start. `quiet` skips the one-line report (see `notice`).
 */
export async function initBackend(opts: { requested?: string; quiet?: boolean } = {}): Promise<BackendInfo> {
  const requested = opts.requested ?? process.env.XFT_BACKEND;
  if (current && (!requested || requestedOrder(requested).includes(current.name))) return current;
  const skipped: Record<string, string> = {};
  for (const name of requestedOrder(requested)) {
    try {
      const got = await tryBackend(name, requested !== undefined && requested !== "");
      const onGpu = got.name === "webgpu";
      const ops = onGpu ? loadWgslOps() : loadTfOps(got.name, got.threads);
      // Always (re)loaded, so that the addon of an earlier backend never serves webgpu; there the fused ops attend.
      const kernel = loadAttentionKernel(got.threads, undefined, onGpu);
      const attention = onGpu && ops.impl === "tfjs" ? ops : kernel;
      current = {
        ...got,
        tfjsVersion: tf.version.tfjs,
        skipped,
        attention: attention.impl,
        attentionNote: attention.why,
        tfOps: ops.impl,
        tfOpsNote: ops.why,
      };
      if (!opts.quiet) notice(`xft: backend ${describeBackend(current)}`);
      return current;
    } catch (err) {
      skipped[name] = (err as Error).message.split("\n")[0];
    }
  }
  const why = Object.entries(skipped)
    .map(([n, m]) => `  ${n}: ${m}`)
    .join("\n");
  throw new Error(`no TensorFlow.js backend could start:\n${why}\nRun \`npx xft doctor\` for what to install.`);
}

/**
 * One line: "tensorflow (TensorFlow 2.21.0, 2 threads, tfjs 4.22.0, attention kernel, xft's TensorFlow ops)", or
 * "webgpu (nvidia hopper, NVIDIA H200, tfjs 4.22.0, ...)".
 */
export function describeBackend(b: BackendInfo): string {
  const tfv = b.tensorflowVersion ? `TensorFlow ${b.tensorflowVersion}, ` : "";
  const where = b.adapter ? `${describeAdapter(b.adapter)}, ` : `${tfv}${b.threads} thread${b.threads === 1 ? "" : "s"}, `;
  const ops = b.tfOps === "kernel" ? `, ${b.name === "webgpu" ? "xft's WGSL kernels" : "xft's TensorFlow ops"}` : "";
  return `${b.name} (${where}tfjs ${b.tfjsVersion}, attention ${b.attention === "kernel" ? "kernel" : "as tfjs ops"}${ops})`;
}

/** "nvidia hopper: NVIDIA H200", or "google swiftshader: SwiftShader driver 5.0.0, software". */
export function describeAdapter(a: AdapterDescription): string {
  return `${a.vendor} ${a.architecture}: ${a.description}${a.hardware ? "" : ", software"}`;
}

/**
 * Throws if the backend reported a silent failure since the last call (wasm: an XNNPACK allocation
 * failure leaves outputs unwritten). Call it after anything whose numbers are kept.
 */
export function assertBackendHealthy(): void {
  const failure = wasmFailure();
  if (failure) throw failure;
}
