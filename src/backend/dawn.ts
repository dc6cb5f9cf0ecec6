/**
 * The WebGPU backend in Node: Google's Dawn (the `webgpu` npm package) under @tensorflow/tfjs-backend-webgpu.
 *
 * Dawn reaches the GPU through Vulkan. A GPU's driver is a hardware adapter, and the engine takes it by default; a
 * software one (SwiftShader, which Debian's chromium ships, about 0.3 GFLOP/s) is for tests only and is used where
 * XFT_BACKEND=webgpu asks for it. So that a machine without a GPU never loads Dawn (nor prints Vulkan's warnings),
 * the default choice first looks for a Vulkan driver file that is not a software one.
 */
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";

/** What Dawn says of the adapter; `hardware` is false for a software rasteriser (a fallback adapter). */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  description: string;
  hardware: boolean;
}

/** SwiftShader's Vulkan driver in Debian's chromium: the software adapter the tests run on. */
export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

/** The folders where the Vulkan loader looks for driver (ICD) files, and the variables that replace them. */
const ICD_FOLDERS = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"];
const SOFTWARE_DRIVER = /swiftshader|lvp|lavapipe|llvmpipe/i;

/** The Vulkan driver files the loader will read: VK_DRIVER_FILES / VK_ICD_FILENAMES if set, else the usual folders. */
function vulkanDriverFiles(): string[] {
  const listed = process.env.VK_DRIVER_FILES || process.env.VK_ICD_FILENAMES;
  if (listed) return listed.split(":").filter(Boolean);
  return ICD_FOLDERS.flatMap((dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).map((f) => path.join(dir, f)) : []));
}

/** Why a default start would find no GPU here, without loading Dawn; undefined where a GPU driver may be present. */
export function noGpuDriver(): string | undefined {
  const drivers = vulkanDriverFiles().filter((f) => !SOFTWARE_DRIVER.test(path.basename(f)));
  return drivers.length === 0 ? "no Vulkan driver for a GPU (no ICD file besides software ones)" : undefined;
}

/**
 * What is read of Dawn's adapter, typed here: tfjs-core brings an older @webgpu/types whose GPUAdapter has no `info`
 * (newer WebGPU moved isFallbackAdapter into it).
 */
interface DawnAdapter {
  info: { vendor: string; architecture: string; description: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
}

let adapterSeen: AdapterDescription | undefined;

/**
 * Starts tfjs's webgpu backend on Dawn. `allowSoftware` (an explicit XFT_BACKEND=webgpu) accepts a software adapter,
 * and points Vulkan at SwiftShader where no driver file is set and no GPU driver is installed.
 */
export async function startWebGpu(allowSoftware: boolean): Promise<AdapterDescription> {
  const noGpu = noGpuDriver();
  if (noGpu && !allowSoftware) throw new Error(noGpu);
  if (noGpu && !process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && fs.existsSync(SWIFTSHADER_ICD)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  // Dawn keeps a cache and a socket under XDG_RUNTIME_DIR, which a container may not set.
  process.env.XDG_RUNTIME_DIR ??= require("os").tmpdir();
  const g = globalThis as unknown as { navigator?: { gpu?: GPU } };
  if (!g.navigator?.gpu) {
    // require, not import(): tslab compiles a notebook's imports as ES modules, and the two module systems would each
    // load their own copy (tfjs's above all, whose engine the backend registers with).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const dawn = require("webgpu") as { create(flags: string[]): GPU; globals: object };
    Object.assign(globalThis, dawn.globals);
    Object.defineProperty(globalThis, "navigator", { value: { ...g.navigator, gpu: dawn.create(["backend=vulkan"]) }, configurable: true });
  }
  const adapter = await g.navigator!.gpu!.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error(`Dawn found no Vulkan adapter (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? "unset"})`);
  const { info, isFallbackAdapter } = adapter as unknown as DawnAdapter;
  const seen: AdapterDescription = {
    vendor: info.vendor,
    architecture: info.architecture,
    description: info.description,
    hardware: !(info.isFallbackAdapter ?? isFallbackAdapter) && !SOFTWARE_DRIVER.test(info.architecture),
  };
  if (!seen.hardware && !allowSoftware) throw new Error(`the only adapter is a software one (${seen.description}); XFT_BACKEND=webgpu uses it`);
  // The backend registers itself at import, where navigator.gpu exists; it asks for its own adapter and device.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require("@tensorflow/tfjs-backend-webgpu");
  if (!(await tf.setBackend("webgpu"))) throw new Error("the webgpu backend did not initialise");
  mendReadSync();
  adapterSeen = seen;
  return seen;
}

/** The adapter the webgpu backend runs on, once started. */
export function webGpuAdapter(): AdapterDescription | undefined {
  return adapterSeen;
}

/**
 * tfjs reads the GPU synchronously through an OffscreenCanvas, which Node has not: dataSync() would fail with
 * "OffscreenCanvas is not defined". Say instead what to do. Values still on the CPU are returned as before.
 */
function mendReadSync(): void {
  const be = tf.backend() as unknown as { readSync(dataId: object): unknown; tensorMap: { get(id: object): { values: unknown } } };
  if (typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== "undefined") return;
  const original = be.readSync.bind(be);
  be.readSync = (dataId: object) => {
    if (be.tensorMap.get(dataId)?.values != null) return original(dataId);
    throw new Error("the webgpu backend cannot read the GPU synchronously in Node: use await tensor.data() instead of dataSync()");
  };
}
