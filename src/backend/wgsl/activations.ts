/**
 * The MLPs' activations as WGSL, one pass each way (model/ops/activations.ts has the same maths as tfjs ops):
 * - GELU, GPT-2's tanh form: y = x sigmoid(z), z = b x + a x^3, with b = 2 sqrt(2/pi) and a = 0.044715 b;
 * - SwiGLU, Llama's gated unit: y = silu(gate) up, silu(v) = v sigmoid(v); its gradient is one pass with two outputs.
 * Each gradient recomputes the sigmoid from its input rather than keeping it: one exp against a tensor per layer.
 */
import * as tf from "@tensorflow/tfjs";
import { bindingsWgsl, shapeText } from "./snippets";
import { runKernel, workgroupsFor } from "./dispatch";

const WORKGROUP = 256;
const GELU_B = 2 * Math.sqrt(2 / Math.PI);
const GELU_A = GELU_B * 0.044715;

/**
 * An elementwise shader over n items: `body` reads the inputs and writes the outputs at index i. The sigmoid takes
 * exp of a non-positive number only: WGSL lets a compiler assume that no value overflows to infinity, so
 * 1 / (1 + exp(-z)) is not to be trusted for z below about -88.
 */
const elementwiseWgsl = (outputs: string[], inputs: string[], body: string) => `
${bindingsWgsl(outputs, inputs, "n: u32, rowStride: u32")}
const A: f32 = ${GELU_A};
const B: f32 = ${GELU_B};
fn sigmoid(z: f32) -> f32 {
  let e = exp(-abs(z));
  return select(e, 1.0, z >= 0.0) / (1.0 + e);
}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x + id.y * params.rowStride;
  if (i >= params.n) { return; }
  ${body}
}`;

const GELU_SIGMOID = "let v = x[i];\n  let s = sigmoid(v * (B + A * v * v));";
const GELU = elementwiseWgsl(["y"], ["x"], `${GELU_SIGMOID}\n  y[i] = v * s;`);
const GELU_GRAD = elementwiseWgsl(["dx"], ["dy", "x"], `${GELU_SIGMOID}\n  dx[i] = dy[i] * (s + v * s * (1.0 - s) * (B + 3.0 * A * v * v));`);

const SILU_SIGMOID = "let v = gate[i];\n  let s = sigmoid(v);";
const SWIGLU = elementwiseWgsl(["y"], ["gate", "up"], `${SILU_SIGMOID}\n  y[i] = v * s * up[i];`);
// d silu(v) / dv = s + v s (1 - s) = s (1 + v (1 - s)).
const SWIGLU_GRAD = elementwiseWgsl(
  ["dGate", "dUp"],
  ["dy", "gate", "up"],
  `${SILU_SIGMOID}\n  let d = dy[i];\n  dGate[i] = d * up[i] * s * (1.0 + v * (1.0 - s));\n  dUp[i] = d * v * s;`,
);

/** Runs an elementwise shader over inputs of one shape, with `outputs` outputs of that shape. */
function elementwise(name: string, wgsl: string, inputs: tf.Tensor[], outputs = 1): tf.Tensor[] {
  const { shape, size } = inputs[0];
  const [gx, gy] = workgroupsFor(size, WORKGROUP);
  return runKernel({
    name,
    wgsl,
    outputs: Array.from({ length: outputs }, () => ({ shape })),
    inputs,
    uniforms: [
      ["u32", size],
      ["u32", gx * WORKGROUP],
    ],
    workgroups: [gx, gy],
  });
}

/** Checks the tensors an activation reads: float32, and all of the first one's shape, which is not empty. */
function check(op: string, named: Record<string, tf.Tensor>): void {
  const [[firstName, first], ...rest] = Object.entries(named);
  // WebGPU binds no empty buffer.
  if (first.size === 0) throw new Error(`${op} (WGSL): ${firstName} must not be empty, got ${shapeText(first.shape)}`);
  for (const [name, t] of Object.entries(named)) {
    if (t.dtype !== "float32") throw new Error(`${op} (WGSL): ${name} must be float32, got ${t.dtype}`);
  }
  for (const [name, t] of rest) {
    if (!tf.util.arraysEqual(t.shape, first.shape))
      throw new Error(`${op} (WGSL): ${name} must be ${shapeText(first.shape)} as ${firstName} is, got ${shapeText(t.shape)}`);
  }
}

const geluOp = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  save([x]);
  return {
    value: elementwise("gelu", GELU, [x])[0],
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => elementwise("gelu-grad", GELU_GRAD, [dy, saved[0]]),
  };
}) as (x: tf.Tensor) => tf.Tensor;

/** GELU of x (any shape), differentiable. */
export function gelu(x: tf.Tensor): tf.Tensor {
  check("GELU", { x });
  return geluOp(x);
}

const swigluOp = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [gate, up, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([gate, up]);
  return {
    value: elementwise("swiglu", SWIGLU, [gate, up])[0],
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => elementwise("swiglu-grad", SWIGLU_GRAD, [dy, ...saved], 2),
  };
}) as (gate: tf.Tensor, up: tf.Tensor) => tf.Tensor;

/** SwiGLU silu(gate) * up of two tensors of one shape, differentiable in both. */
export function swiglu(gate: tf.Tensor, up: tf.Tensor): tf.Tensor {
  check("SwiGLU", { gate, up });
  return swigluOp(gate, up);
}
