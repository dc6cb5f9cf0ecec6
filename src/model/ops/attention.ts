/**
 * Causal self-attention on a fused projection qkv [B*T, 3 * H * hd] (row b*T+t = [q | k | v], heads side by side
 * in each) to the heads' outputs [B*T, H * hd]. Every family calls this one function; grouped-query and rotary
 * attention prepare their q, k and v and fuse them first (`fuseGroupedQkv`).
 *
 * Where it runs, chosen once at start-up by the backend (backend/attention-kernel.ts): xft's kernel (one pass
 * per query-row block with the scores in registers, the masked half skipped, probabilities recomputed in the
 * backward pass from each row's log-sum-exp: about 5x the tfjs ops at seq 256), else tfjs ops with a
 * hand-written gradient that keeps only the probabilities.
 */
import { kernelAttends, kernelAttention } from "../../backend/attention-kernel";
import { tf } from "../../backend/engine";
import { tensorCache } from "../../backend/tensor-cache";

/** Additive causal mask [T, T]: 0 on and below the diagonal, -1e9 above. Cached per length. */
const causalMasks = tensorCache((key) => {
  const T = Number(key);
  return tf.linalg
    .bandPart(tf.ones([T, T]), -1, 0)
    .sub(1)
    .mul(1e9) as tf.Tensor2D;
});
function causalMask(T: number): tf.Tensor2D {
  return causalMasks(String(T));
}

/** Attention probabilities softmax(q k^T / sqrt(hd) + mask) [B, H, T, T] of q, k [B, H, T, hd]. */
function attentionPattern(q: tf.Tensor, k: tf.Tensor, mask: tf.Tensor): tf.Tensor4D {
  // Scaling q (T x hd) is cheaper than scaling the scores (T x T).
  const scale = 1 / Math.sqrt(q.shape[q.rank - 1]);
  return tf.softmax(tf.matMul(q.mul(scale), k, false, true).add(mask), -1) as tf.Tensor4D;
}

/**
 * softmax(q k^T / sqrt(hd) + mask) v with a hand-written gradient that keeps only the probabilities: autodiff
 * would keep the scores, the masked scores and its own temporaries, each [B, H, T, T], the largest tensors of a
 * layer. With P the probabilities and dO the output's gradient: dV = P^T dO, dS = P * (dO V^T - rowsum(dO V^T * P)),
 * dQ = dS K / sqrt(hd), dK = dS^T Q / sqrt(hd).
 */
const attentionOps = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [q, k, v, mask, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor2D, tf.GradSaveFunc];
  const att = attentionPattern(q, k, mask);
  save([q, k, v, att]);
  return {
    value: tf.matMul(att, v),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      tf.tidy(() => {
        const [sq, sk, sv, satt] = saved;
        const scale = 1 / Math.sqrt(sq.shape[sq.rank - 1]);
        const dAtt = tf.matMul(dy, sv, false, true);
        const dScores = satt.mul(dAtt.sub(dAtt.mul(satt).sum(-1, true)));
        return [
          tf.matMul(dScores, sk).mul(scale),
          tf.matMul(dScores, sq, true, false).mul(scale),
          tf.matMul(satt, dy, true, false),
          tf.zeros(mask.shape), // the mask is a constant
        ];
      }),
  };
});

export interface AttentionShape {
  batch: number;
  len: number;
  heads: number;
  headDim: number;
}

/**
 * Causal self-attention of qkv [B*T, 3 * H * hd] to [B*T, H * hd]. `recordPattern`, when given, receives the
 * probabilities [B, H, T, T], computed by tfjs ops beside the kernel: the output stays the kernel's, so that
 * recording the pattern leaves every number as it is.
 */
export function causalSelfAttention(qkv: tf.Tensor2D, s: AttentionShape, recordPattern?: (pattern: tf.Tensor4D) => void): tf.Tensor2D {
  const { batch: B, len: T, heads: H, headDim: hd } = s;
  const splitHeads = () => tf.unstack(qkv.reshape([B, T, 3, H, hd]).transpose([2, 0, 3, 1, 4]), 0) as tf.Tensor4D[];
  const mergeHeads = (x: tf.Tensor4D) => x.transpose([0, 2, 1, 3]).reshape([B * T, H * hd]) as tf.Tensor2D;
  const kernel = kernelAttends(hd);
  if (recordPattern) {
    const [q, k, v] = splitHeads();
    const att = attentionPattern(q, k, causalMask(T));
    recordPattern(att);
    return kernel ? kernelAttention(qkv, B, H) : mergeHeads(tf.matMul(att, v));
  }
  if (kernel) return kernelAttention(qkv, B, H);
  const [q, k, v] = splitHeads();
  return mergeHeads(attentionOps(q, k, v, causalMask(T)) as tf.Tensor4D);
}

/**
 * Grouped-query attention's q [B*T, H*hd], k and v [B*T, KV*hd] as one qkv [B*T, 3*H*hd]: each key/value head
 * is repeated for the H/KV query heads that share it (transformers' `repeat_kv`), so that one attention serves
 * both. The repeat is a gather of columns; its gradient sums the copies back.
 */
export function fuseGroupedQkv(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, heads: number, kvHeads: number, headDim: number): tf.Tensor2D {
  if (heads % kvHeads !== 0) throw new Error(`attention: ${heads} heads do not divide into ${kvHeads} key/value heads`);
  if (kvHeads === heads) return tf.concat([q, k, v], 1);
  const group = heads / kvHeads;
  const columns = repeatedColumns(heads, group, headDim);
  return tf.concat([q, tf.gather(k, columns, 1), tf.gather(v, columns, 1)], 1);
}

/** Column indices that repeat each of H/group heads of width hd `group` times, in head order. Cached. */
const repeatColumns = tensorCache((key) => {
  const [heads, group, hd] = key.split("/").map(Number);
  const idx: number[] = [];
  for (let h = 0; h < heads; h++) for (let j = 0; j < hd; j++) idx.push(Math.floor(h / group) * hd + j);
  return tf.tensor1d(idx, "int32");
});
function repeatedColumns(heads: number, group: number, hd: number): tf.Tensor1D {
  return repeatColumns(`${heads}/${group}/${hd}`);
}
