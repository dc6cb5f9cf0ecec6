/**
 * The output head: next-token logits and the training loss through a head matrix [V, d] (the token embedding
 * where the head is tied, else `lm_head`).
 */
import { tf } from "../../backend/engine";
import { fusedOps } from "../../backend/fused-ops";
import type { Params } from "./params";

/** The head matrix [V, d]: `lm_head` where the model has one of its own, else the tied token embedding. */
export function headWeight(params: Params): tf.Variable {
  return params.lm_head ?? params.wte;
}

/** Flat indices b*T + t of the given (row, position) pairs, for gathering from [B*T, ...]. */
export function flatPositions(T: number, rows: readonly number[], positions: readonly number[]): tf.Tensor1D {
  return tf.tensor1d(
    rows.map((b, i) => b * T + positions[i]),
    "int32",
  );
}

/** Next-token logits [M, V] at flat positions of hidden [B, T, d]. */
export function logitsAt(params: Params, hidden: tf.Tensor3D, flatIdx: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, T, d] = hidden.shape;
    const picked = tf.gather(hidden.reshape([B * T, d]), flatIdx);
    return tf.matMul(picked, headWeight(params), false, true) as tf.Tensor2D;
  });
}

/**
 * Rows of the head's [rows, V] blocks: at most 16 MiB each. glibc serves an allocation of 32 MiB or more by a
 * fresh mmap whose every page faults on first touch (measured on native: one elementwise op on [4096, 4000],
 * 62.5 MiB, takes 32 ms; on a quarter of it 1.8 ms), and the head's logits and probabilities are the only
 * tensors of a step that large.
 */
export function headChunkRows(vocab: number): number {
  return Math.max(1, Math.floor((16 * 2 ** 20) / (4 * vocab)));
}

/**
 * Softmax of logits [m, V] and the cross-entropy against targets [m], summed, as tfjs ops (the backend's fused ops,
 * backend/fused-ops.ts, have the same as one op). The loss is lse - logit[target] with lse = max(logits) - log(max(P)): the largest
 * probability is at least 1/V, so its log is exact where the target's own probability could underflow.
 */
function softmaxCrossEntropyOps(logits: tf.Tensor2D, targets: tf.Tensor1D): [tf.Tensor2D, tf.Scalar] {
  const [m, V] = logits.shape;
  const p = tf.softmax(logits);
  const lse = tf.max(logits, 1).sub(tf.log(tf.max(p, 1)));
  const flat = tf.range(0, m, 1, "int32").mul(tf.scalar(V, "int32")).add(targets);
  return [p, lse.sub(tf.gather(logits.reshape([m * V]), flat)).sum()];
}

/**
 * Mean next-token cross-entropy of hidden states h [M, d] through a head W [V, d], against targets [M], with a
 * hand-written gradient that keeps the probabilities P and never forms P - onehot: with Y the one-hot targets,
 * dh = (P - Y) W / M = (P W - W[targets]) / M and dW = (P - Y)^T h / M = (P^T h - segment sums of h by target) / M.
 * Autodiff would keep the logits, P and Y, and pass over [M, V] about eight times; this is one fused op (or a
 * softmax and two row maxima). The rows go in blocks of headChunkRows (P is kept block by block), so that the
 * forward pass never allocates an [M, V] tensor whole. Where the head is frozen (LoRA), W is not an input of the
 * op and dW, a [V, M] x [M, d] product as costly as the logits, is never computed; P is then needed for P W alone,
 * which the forward pass makes block by block, so that the backward pass keeps P W - W[targets] [M, d] instead of
 * P [M, V] (GPT-2 small at batch 8 x 256: 6 MiB instead of 393 MiB, at the step's peak of memory).
 */
function headCrossEntropy(trainHead: boolean, w: tf.Tensor2D): (h: tf.Tensor2D, targets: tf.Tensor1D) => tf.Scalar {
  const fused = fusedHeadCrossEntropy(trainHead, w);
  if (fused) return fused;
  const [V] = w.shape;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [h, targets, weight] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor2D | undefined];
    const W = weight ?? w;
    const M = h.shape[0];
    const rows = headChunkRows(V);
    const sizes = Array.from({ length: Math.ceil(M / rows) }, (_, i) => Math.min(rows, M - i * rows));
    const blocks = <R extends tf.Rank>(x: tf.Tensor<R>) => (sizes.length > 1 ? tf.split(x, sizes) : [x]);
    const ts = blocks(targets);
    const fused = fusedOps();
    const probs: tf.Tensor2D[] = [];
    const losses = blocks(h).map((hc, c) => {
      const logits = tf.matMul(hc, W, false, true) as tf.Tensor2D;
      const [p, loss] = fused ? fused.softmaxCrossEntropy(logits, ts[c] as tf.Tensor1D) : softmaxCrossEntropyOps(logits, ts[c] as tf.Tensor1D);
      // Each block's logits go at once: left to the end of the forward pass, they would add a second [M, V].
      logits.dispose();
      probs.push(p);
      return loss;
    });
    const value = tf.addN(losses).div(M);
    if (!weight) {
      save([unscaledHiddenGradient(probs, W, targets, true)]);
      return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => [saved[0].mul(dy.div(M)), tf.zeros([M])]) };
    }
    save([h, targets, ...probs]);
    return {
      value,
      // The step's peak of memory is here, with every layer's activations still kept for the backward pass: so P
      // goes as soon as it has been used, and each [V, d] temporary as soon as the next one exists.
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sh, stargets, ...sprobs] = saved as [tf.Tensor2D, tf.Tensor1D, ...tf.Tensor2D[]];
          const scale = dy.div(M);
          const dh = unscaledHiddenGradient(sprobs, W, stargets, false).mul(scale);
          const noGradient = tf.zeros(stargets.shape); // (targets are ids)
          const pTh = probabilitiesTimesHidden(sprobs, sh);
          const segments = tf.unsortedSegmentSum(sh, stargets, V);
          const diff = pTh.sub(segments);
          tf.dispose([pTh, segments]);
          return [dh, noGradient, diff.mul(scale)];
        }),
    };
  });
  return (h, targets) => (trainHead ? op(h, targets, w) : op(h, targets)) as tf.Scalar;
}

/**
 * Head matrices of at most this many values go through the backend's one-pass head where it has one. It reads the
 * matrix twice per block of 48 rows, from the cache where it fits: a step of config A ([2000, 64]) took 20.5 against
 * 22.3 ms, C ([4000, 128]) 150 against 152; B and D ([8000, 128], [4000, 256]) were even within the noise, and GPT-2's
 * [50257, 768] (154 MB) would come from memory for every block (Intel Xeon, 2 threads).
 */
const FUSED_HEAD_MAX_VALUES = 2 ** 19;

/**
 * The head's cross-entropy as the backend's one op (fused-ops.ts), which computes the gradients in the forward pass,
 * where the tape records it (otherwise the loss alone): no [M, V] tensor is ever made. Undefined where the backend has
 * no such op or the head is larger than FUSED_HEAD_MAX_VALUES.
 */
function fusedHeadCrossEntropy(trainHead: boolean, w: tf.Tensor2D): ((h: tf.Tensor2D, targets: tf.Tensor1D) => tf.Scalar) | undefined {
  const fused = fusedOps()?.headCrossEntropy;
  if (!fused || w.size > FUSED_HEAD_MAX_VALUES) return undefined;
  return (h, targets) => {
    const gradients = !tf.engine().isTapeOn() ? 0 : trainHead ? 2 : 1;
    const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const save = args.pop() as tf.GradSaveFunc;
      const [sh, st, weight] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor2D | undefined];
      const M = sh.shape[0];
      const [lossSum, dh, dw] = fused(sh, weight ?? w, st, gradients);
      save([dh, dw]);
      return {
        value: lossSum.div(M),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          tf.tidy(() => {
            const scale = dy.div(M);
            const noGradient = tf.zeros([M]); // (targets are ids)
            return weight ? [saved[0].mul(scale), noGradient, saved[1].mul(scale)] : [saved[0].mul(scale), noGradient];
          }),
      };
    });
    return (trainHead ? op(h, targets, w) : op(h, targets)) as tf.Scalar;
  };
}

/**
 * Rows of a block of P from which its own product with h runs near the GEMM's rate: below, P's blocks are joined
 * first (GPT-2 small at batch 8 x 256 has 25 blocks of 83 rows, whose products would each cost a [V, d] sum too).
 */
const MIN_PRODUCT_ROWS = 512;

/**
 * P^T h [V, d] from P's row blocks (each given up once used) and h [M, d]. Blocks of MIN_PRODUCT_ROWS or more: the
 * sum of each block's h_b^T P_b [d, V], in block order, transposed once. Joining the blocks (a copy of P whole) and one P^T h took
 * 27.7 ms against 21.0 on config D's head and 36.3 against 24.5 on B's (Intel Xeon, 2 threads; TensorFlow's product
 * is faster with the narrow h as its transposed operand). Smaller blocks are joined, and P^T h is one product.
 */
function probabilitiesTimesHidden(probs: tf.Tensor2D[], h: tf.Tensor2D): tf.Tensor2D {
  // (The first block has the blocks' size; the last may be shorter.)
  if (probs.length > 1 && probs[0].shape[0] < MIN_PRODUCT_ROWS) {
    const whole = tf.concat(probs);
    tf.dispose(probs);
    const product: tf.Tensor2D = tf.matMul(whole, h, true, false);
    whole.dispose();
    return product;
  }
  let start = 0;
  let sum: tf.Tensor2D | undefined;
  for (const p of probs) {
    const rows = p.shape[0];
    const hBlock = probs.length > 1 ? h.slice([start, 0], [rows, -1]) : h;
    const block = tf.matMul(hBlock, p, true, false);
    if (hBlock !== h) hBlock.dispose();
    p.dispose();
    start += rows;
    const next = sum ? sum.add(block) : block;
    if (sum) tf.dispose([sum, block]);
    sum = next as tf.Tensor2D;
  }
  const product: tf.Tensor2D = (sum as tf.Tensor2D).transpose();
  sum?.dispose();
  return product;
}

/** P W - W[targets] [M, d] from P's row blocks (dh before its scale dy / M); `release`: each block goes once used. */
function unscaledHiddenGradient(probs: tf.Tensor2D[], W: tf.Tensor2D, targets: tf.Tensor1D, release: boolean): tf.Tensor2D {
  return tf.tidy(() => {
    const pW = probs.map((p) => {
      const product = tf.matMul(p, W);
      if (release) p.dispose();
      return product;
    });
    return (pW.length > 1 ? tf.concat(pW) : pW[0]).sub(tf.gather(W, targets)) as tf.Tensor2D;
  });
}

/**
 * Mean next-token cross-entropy at flat positions of hidden [B, T, d] against targets [M]. `trainHead` false (a
 * LoRA step, whose head is frozen) leaves the head matrix out of the gradient.
 */
export function lossAt(params: Params, hidden: tf.Tensor3D, flatIdx: tf.Tensor1D, targets: tf.Tensor1D, trainHead = true): tf.Scalar {
  return tf.tidy(() => {
    const [B, T, d] = hidden.shape;
    return headCrossEntropy(trainHead, headWeight(params) as tf.Tensor2D)(tf.gather(hidden.reshape([B * T, d]), flatIdx) as tf.Tensor2D, targets);
  });
}
