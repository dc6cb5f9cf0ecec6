/** WGSL snippets and messages that several of xft's kernels share. */

/**
 * The bindings in dispatch.ts's order: f32 storage arrays, outputs (read_write) then inputs (read), then the uniform
 * struct `params` with the given fields.
 */
export function bindingsWgsl(outputs: string[], inputs: string[], params: string): string {
  const storage = [...outputs.map((name) => [name, "read_write"]), ...inputs.map((name) => [name, "read"])];
  return `${storage.map(([name, access], i) => `@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<f32>;`).join("\n")}
struct Params { ${params} }
@group(0) @binding(${storage.length}) var<uniform> params: Params;`;
}

/**
 * WGSL functions that reduce one f32 per invocation over a workgroup of `size` (a power of two) invocations, by a
 * tree in workgroup memory: for each entry of `combine` (name: an expression of a and b), `fn name(lid: u32, value:
 * f32) -> f32` returns the reduction to every invocation. Call them from uniform control flow (they hold barriers).
 */
export function workgroupReduce(size: number, combine: Record<string, string>): string {
  const fns = Object.entries(combine).map(
    ([name, expr]) => `
fn ${name}(lid: u32, value: f32) -> f32 {
  reduction[lid] = value;
  workgroupBarrier();
  for (var s = ${size / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let a = reduction[lid];
      let b = reduction[lid + s];
      reduction[lid] = ${expr};
    }
    workgroupBarrier();
  }
  let result = reduction[0];
  // Every invocation reads the result before a next reduction writes over it.
  workgroupBarrier();
  return result;
}`,
  );
  return `var<workgroup> reduction: array<f32, ${size}>;${fns.join("")}`;
}

/** A shape as the native ops write it: [3,4]. */
export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(",")}]`;
}

/**
 * A shader builder that makes each source once per key: a kernel runs every step with the same source, which would
 * otherwise be written again, and hashed again for the pipeline cache, on every call.
 */
export function builtOnce<A extends unknown[]>(key: (...args: A) => string, build: (...args: A) => string): (...args: A) => string {
  const built = new Map<string, string>();
  return (...args: A) => {
    const k = key(...args);
    let source = built.get(k);
    if (source === undefined) {
      source = build(...args);
      built.set(k, source);
    }
    return source;
  };
}
