/**
 * Rotary position embeddings as transformers' Llama applies them (`apply_rotary_pos_emb` with `rotate_half`):
 * for each head, x * cos + rotate_half(x) * sin, where rotate_half(x) = [-x2, x1] for the two halves x1, x2 of the
 * head's dimensions, and the angle of position t and frequency i is t * theta^(-2i / hd) / scale, the same for
 * both halves. Linear RoPE scaling divides the positions by `scale`.
 */
import { tf } from "../../backend/engine";
import { tensorCache } from "../../backend/tensor-cache";

export interface RopeSettings {
  theta: number;
  /** Linear scaling factor (1: none). */
  scale: number;
}

/** cos and sin tables [T, hd] (each half repeated), cached per length and settings. */
const tables = tensorCache((key) => {
  const [T, hd, theta, scale] = key.split("/").map(Number);
  return makeRopeTables(T, hd, { theta, scale });
});
function ropeTables(T: number, hd: number, r: RopeSettings): [tf.Tensor2D, tf.Tensor2D] {
  return tables(`${T}/${hd}/${r.theta}/${r.scale}`);
}

function makeRopeTables(T: number, hd: number, r: RopeSettings): [tf.Tensor2D, tf.Tensor2D] {
  const half = hd / 2;
  const cos = new Float32Array(T * hd);
  const sin = new Float32Array(T * hd);
  // As transformers: inverse frequencies in float32 (linear scaling divides them), angles as float32 products.
  const invFreq = Float32Array.from({ length: half }, (_, i) => Math.fround(1 / Math.fround(Math.pow(r.theta, (2 * i) / hd))) / r.scale);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(t * invFreq[i]);
      cos[t * hd + i] = cos[t * hd + half + i] = Math.cos(angle);
      sin[t * hd + i] = sin[t * hd + half + i] = Math.sin(angle);
    }
  }
  return [tf.tensor2d(cos, [T, hd]), tf.tensor2d(sin, [T, hd])];
}

/** Rotates x [B*T, n*hd] (n heads side by side, positions 0..T-1 in each row of B) by position. */
export function applyRope(x: tf.Tensor2D, batch: number, len: number, heads: number, hd: number, r: RopeSettings): tf.Tensor2D {
  if (hd % 2 !== 0) throw new Error(`RoPE needs an even head size, got ${hd}`);
  const [cos, sin] = ropeTables(len, hd, r);
  const xs = x.reshape([batch, len, heads, hd]);
  const [x1, x2] = tf.split(xs, 2, 3);
  const rotated = tf.concat([x2.neg(), x1], 3);
  const c = cos.reshape([1, len, 1, hd]);
  const s = sin.reshape([1, len, 1, hd]);
  return xs
    .mul(c)
    .add(rotated.mul(s))
    .reshape([batch * len, heads * hd]) as tf.Tensor2D;
}
