/**
 * Tensors the model keeps across calls (the causal mask, RoPE's tables, grouped-query column indices), made once
 * per key and per backend. Per backend, because a tensor made on one backend and used on another is moved by a
 * synchronous read, which the webgpu backend cannot do in Node (and which costs a copy elsewhere).
 */
import * as tf from "@tensorflow/tfjs";

/** A cache of kept tensors: `get(key)` returns the tensors made by `make(key)` on the current backend. */
export function tensorCache<T extends tf.Tensor | tf.Tensor[]>(make: (key: string) => T): (key: string) => T {
  const made = new Map<string, T>();
  return (key: string) => {
    const at = `${tf.getBackend()}\n${key}`;
    const cached = made.get(at);
    if (cached && ![cached].flat().some((t) => t.isDisposed)) return cached;
    const tensors = tf.tidy(() => make(key));
    for (const t of [tensors].flat()) tf.keep(t);
    made.set(at, tensors);
    return tensors;
  };
}
