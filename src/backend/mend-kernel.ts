/** Replacing one backend's kernel by a mended one that can fall back on the original (wasm.ts, native.ts). */
import * as tf from "@tensorflow/tfjs";

export type KernelArgs = Parameters<tf.KernelFunc>[0];
export type KernelOut = tf.TensorInfo;

/** Replaces `backend`'s kernel `name` by `mended`, which gets the original to fall back on. */
export function mendKernel(backend: string, name: string, mended: (args: KernelArgs, original: (args: KernelArgs) => KernelOut) => KernelOut): void {
  const config = tf.getKernel(name, backend);
  if (!config) throw new Error(`the ${backend} backend has no ${name} kernel to mend`);
  const original = config.kernelFunc as (args: KernelArgs) => KernelOut;
  tf.unregisterKernel(name, backend);
  tf.registerKernel({ ...config, kernelFunc: (args) => mended(args, original) });
}
