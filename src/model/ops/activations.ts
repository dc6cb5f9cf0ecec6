/**
 * The MLPs' activations: GELU in GPT-2's tanh form (`gelu_new`) and SwiGLU (Llama's SiLU-gated unit).
 */
import { tf } from "../../backend/engine";
import { fusedOps } from "../../backend/fused-ops";

// GELU, tanh approximation (GPT-2): 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).
const GELU_B = 2 * Math.sqrt(2 / Math.PI);
const GELU_A = GELU_B * 0.044715;

/**
 * GELU in its sigmoid form (six ops, against nine for the tanh form), with a hand-written gradient:
 * autodiff through `pow` costs a log per element. With z = a x^3 + b x and s = sigmoid(z),
 * d/dx x s = s + x s (1 - s) (3 a x^2 + b).
 */
const geluOps = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const s = tf.sigmoid(x.square().mul(GELU_A).add(GELU_B).mul(x));
  // x^2 is recomputed in the backward pass rather than kept: one op against a tensor of [tokens, 4d] per layer.
  save([x, s]);
  return {
    value: x.mul(s),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      tf.tidy(() => {
        const [sx, ss] = saved;
        const dz = sx
          .square()
          .mul(3 * GELU_A)
          .add(GELU_B);
        return [dy.mul(ss.add(sx.mul(ss.mul(tf.sub(1, ss))).mul(dz)))];
      }),
  };
});

/** GELU (tanh form): the backend's fused op where it has one (backend/fused-ops.ts), else the tfjs ops above. */
export function gelu(x: tf.Tensor): tf.Tensor {
  const fused = fusedOps();
  return fused ? fused.gelu(x) : geluOps(x);
}

/** SwiGLU: silu(gate) * up, with silu(x) = x * sigmoid(x); the backend's fused op where it has one. */
export function swiglu(gate: tf.Tensor, up: tf.Tensor): tf.Tensor {
  const fused = fusedOps()?.swiglu;
  if (fused) return fused(gate, up);
  return gate.mul(tf.sigmoid(gate)).mul(up);
}
