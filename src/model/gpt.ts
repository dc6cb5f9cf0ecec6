/**
 * A GPT-style decoder in one file: token + position embeddings, pre-LayerNorm blocks of causal
 * multi-head self-attention and a GELU MLP, a final LayerNorm and a head tied to the token embedding.
 * Parameters are plain tfjs variables in a flat, named record; the model is built from a plain config.
 *
 * Hook points (TransformerLens names) let probes read activations without touching the model:
 *   hook_embed                    [B, T, d]     token + position embedding
 *   blocks.{l}.hook_resid_pre     [B, T, d]     residual stream entering block l
 *   blocks.{l}.attn.hook_pattern  [B, H, T, T]  attention probabilities
 *   blocks.{l}.hook_resid_mid     [B, T, d]     after the attention sublayer
 *   blocks.{l}.hook_resid_post    [B, T, d]     after the MLP sublayer (= resid_pre of block l+1)
 *   ln_final.hook_normalized      [B, T, d]     after the final LayerNorm
 */
import { kernelAttends, kernelAttention } from "../backend/attention-kernel";
import { tf } from "../backend/engine";
import { linear } from "../backend/native";
import { fusedGelu, fusedLayerNorm, softmaxCrossEntropy, tfOpsLoaded } from "../backend/tf-ops";
import { hashSeed, Rng } from "../util/rng";

export interface GptConfig {
  vocabSize: number;
  /** Longest sequence the position embedding covers. */
  maxLen: number;
  layers: number;
  dModel: number;
  heads: number;
  /** MLP hidden width as a multiple of dModel. */
  mlpRatio: number;
  /** Standard deviation of the initial weights (GPT-2: 0.02). */
  initStd: number;
}

export const DEFAULT_GPT: Omit<GptConfig, "vocabSize"> = {
  maxLen: 128, layers: 4, dModel: 128, heads: 4, mlpRatio: 4, initStd: 0.02,
};

export type Params = Record<string, tf.Variable>;
export type Cache = Map<string, tf.Tensor>;

const LN_EPS = 1e-5;

export function hookNames(config: GptConfig): string[] {
  const names = ["hook_embed"];
  for (let l = 0; l < config.layers; l++) {
    names.push(`blocks.${l}.hook_resid_pre`, `blocks.${l}.attn.hook_pattern`,
      `blocks.${l}.hook_resid_mid`, `blocks.${l}.hook_resid_post`);
  }
  names.push("ln_final.hook_normalized");
  return names;
}

/** Parameter shapes by name; the order is the order of saving and of the optimizer state. */
export function parameterShapes(c: GptConfig): Array<[string, number[]]> {
  validateConfig(c);
  const d = c.dModel;
  const h = c.mlpRatio * d;
  const shapes: Array<[string, number[]]> = [["wte", [c.vocabSize, d]], ["wpe", [c.maxLen, d]]];
  for (let l = 0; l < c.layers; l++) {
    const p = `blocks.${l}.`;
    shapes.push(
      [p + "ln1.g", [d]], [p + "ln1.b", [d]],
      [p + "attn.wqkv", [d, 3 * d]], [p + "attn.bqkv", [3 * d]],
      [p + "attn.wo", [d, d]], [p + "attn.bo", [d]],
      [p + "ln2.g", [d]], [p + "ln2.b", [d]],
      [p + "mlp.w1", [d, h]], [p + "mlp.b1", [h]],
      [p + "mlp.w2", [h, d]], [p + "mlp.b2", [d]],
    );
  }
  shapes.push(["ln_f.g", [d]], ["ln_f.b", [d]]);
  return shapes;
}

export function countParameters(c: GptConfig): number {
  return parameterShapes(c).reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0);
}

export function validateConfig(c: GptConfig): void {
  for (const key of ["vocabSize", "maxLen", "layers", "dModel", "heads", "mlpRatio"] as const) {
    if (!Number.isInteger(c[key]) || c[key] <= 0) throw new Error(`model config: ${key} must be a positive integer, got ${c[key]}`);
  }
  if (c.dModel % c.heads !== 0) throw new Error(`model config: dModel ${c.dModel} is not divisible by heads ${c.heads}`);
}

/**
 * Seeded initial values: N(0, initStd) for matrices, with the residual output projections scaled by
 * 1/sqrt(2 * layers) as in GPT-2; LayerNorm gains 1, biases 0. Drawn in JS so that every backend
 * starts from the same numbers.
 */
export function initialValues(c: GptConfig, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of parameterShapes(c)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(size);
    if (name.endsWith(".g")) v.fill(1);
    else if (shape.length === 2) {
      const residual = name.endsWith("attn.wo") || name.endsWith("mlp.w2");
      const std = residual ? c.initStd / Math.sqrt(2 * c.layers) : c.initStd;
      for (let i = 0; i < size; i++) v[i] = rng.normal() * std;
    }
    out.set(name, v);
  }
  return out;
}

export function createParams(c: GptConfig, seed: number): Params {
  return paramsFromValues(c, initialValues(c, seed));
}

export function paramsFromValues(c: GptConfig, values: Map<string, Float32Array>): Params {
  return variablesFromValues(parameterShapes(c), values);
}

/** Trainable variables of the given shapes from their values by name (the model's, or an adapter's). */
export function variablesFromValues(shapes: Array<[string, number[]]>, values: Map<string, Float32Array>): Params {
  const params: Params = {};
  for (const [name, shape] of shapes) {
    const v = values.get(name);
    if (!v) throw new Error(`missing parameter ${name}`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (v.length !== size) throw new Error(`parameter ${name}: expected ${size} values for shape [${shape}], got ${v.length}`);
    // In a tidy, so that the initial tensor is released: the variable keeps its data, nothing else is left behind.
    params[name] = tf.tidy(() => tf.variable(tf.tensor(v, shape, "float32"), true, name.replace(/\./g, "/") + "_" + uniqueSuffix()));
  }
  return params;
}

let variableCounter = 0;
/** tfjs variable names are global per engine; a counter keeps several models in one kernel apart. */
function uniqueSuffix(): number {
  return variableCounter++;
}

export function disposeParams(params: Params): void {
  for (const v of Object.values(params)) v.dispose();
}

export async function paramsToValues(params: Params): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of Object.entries(params)) out.set(name, (await v.data()) as Float32Array);
  return out;
}

/**
 * LayerNorm over the last axis: xft's fused TensorFlow op where it is loaded (tf-ops.ts), else tfjs ops. With no
 * gain and bias it is the parameter-free LN of the probes.
 */
export function layerNorm(x: tf.Tensor, g?: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  if (g && b) return tfOpsLoaded() ? fusedLayerNorm(x, g, b, LN_EPS) : affineLayerNorm(x, g, b);
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).mul(tf.rsqrt(variance.add(LN_EPS)));
}

/**
 * LayerNorm with gain and bias and a hand-written gradient (about half the ops of autodiff through
 * `moments`): dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), with dxhat = dy * g.
 *
 * Every hand-written gradient here runs in a tidy: tfjs calls a custom gradient outside one, so its
 * temporaries would otherwise stay alive until the whole backward pass ends.
 */
const affineLayerNorm = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, g, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  const axis = x.rank - 1;
  const xc = x.sub(x.mean(axis, true));
  const rstd = tf.rsqrt(xc.square().mean(axis, true).add(LN_EPS));
  const xhat = xc.mul(rstd);
  save([xhat, rstd, g]);
  return {
    value: xhat.mul(g).add(b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => {
      const [sxhat, srstd, sg] = saved;
      const dxhat = dy.mul(sg);
      const dx = dxhat.sub(dxhat.mean(axis, true)).sub(sxhat.mul(dxhat.mul(sxhat).mean(axis, true))).mul(srstd);
      const batchAxes = [...Array(axis).keys()];
      return [dx, dy.mul(sxhat).sum(batchAxes), dy.sum(batchAxes)];
    }),
  };
});

// GELU, tanh approximation (GPT-2): 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).
const GELU_B = 2 * Math.sqrt(2 / Math.PI);
const GELU_A = GELU_B * 0.044715;
/**
 * GELU in its sigmoid form (six ops, against nine for the tanh form), with a hand-written gradient:
 * autodiff through `pow` costs a log per element. With z = a x^3 + b x and s = sigmoid(z),
 * d/dx x s = s + x s (1 - s) (3 a x^2 + b).
 */
const gelu = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const s = tf.sigmoid(x.square().mul(GELU_A).add(GELU_B).mul(x));
  // x^2 is recomputed in the backward pass rather than kept: one op against a tensor of [tokens, 4d] per layer.
  save([x, s]);
  return {
    value: x.mul(s),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => {
      const [sx, ss] = saved;
      const dz = sx.square().mul(3 * GELU_A).add(GELU_B);
      return [dy.mul(ss.add(sx.mul(ss.mul(tf.sub(1, ss))).mul(dz)))];
    }),
  };
});

/** Additive causal mask [T, T]: 0 on and below the diagonal, -1e9 above. Cached per length. */
const causalMasks = new Map<number, tf.Tensor2D>();
function causalMask(T: number): tf.Tensor2D {
  let m = causalMasks.get(T);
  if (!m || m.isDisposed) {
    m = tf.tidy(() => tf.linalg.bandPart(tf.ones([T, T]), -1, 0).sub(1).mul(1e9) as tf.Tensor2D);
    tf.keep(m);
    causalMasks.set(T, m);
  }
  return m;
}

/** Attention probabilities softmax(q k^T / sqrt(hd) + mask) [B, H, T, T] of q, k [B, H, T, hd]. */
function attentionPattern(q: tf.Tensor, k: tf.Tensor, mask: tf.Tensor): tf.Tensor4D {
  // Scaling q (T x hd) is cheaper than scaling the scores (T x T).
  const scale = 1 / Math.sqrt(q.shape[q.rank - 1]);
  return tf.softmax(tf.matMul(q.mul(scale), k, false, true).add(mask), -1) as tf.Tensor4D;
}

/**
 * Causal attention softmax(q k^T / sqrt(hd) + mask) v with a hand-written gradient that keeps only the
 * probabilities: autodiff would keep the scores, the masked scores and its own temporaries, each
 * [B, H, T, T], the largest tensors of a layer. With P the probabilities and dO the output's gradient:
 * dV = P^T dO, dS = P * (dO V^T - rowsum(dO V^T * P)), dQ = dS K / sqrt(hd), dK = dS^T Q / sqrt(hd).
 */
const causalAttention = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [q, k, v, mask, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor2D, tf.GradSaveFunc];
  const att = attentionPattern(q, k, mask);
  save([q, k, v, att]);
  return {
    value: tf.matMul(att, v),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => {
      const [sq, sk, sv, satt] = saved;
      const scale = 1 / Math.sqrt(sq.shape[sq.rank - 1]);
      const dAtt = tf.matMul(dy, sv, false, true);
      const dScores = satt.mul(dAtt.sub(dAtt.mul(satt).sum(-1, true)));
      return [
        tf.matMul(dScores, sk).mul(scale), tf.matMul(dScores, sq, true, false).mul(scale),
        tf.matMul(satt, dy, true, false), tf.zeros(mask.shape), // the mask is a constant
      ];
    }),
  };
});

/**
 * An unmerged LoRA adapter (lora.ts) for training: `<matrix>.lora_a` [in, r] and `<matrix>.lora_b` [r, out] add
 * scale * dropout(x) A B to the matrix's output. Inference uses the merged model instead.
 */
export interface LoraForward {
  adapter: Params;
  scale: number;
  dropout: number;
  /** Seeds this step's dropout masks (one per matrix, derived from it). */
  dropoutSeed: number;
}

export interface ForwardOptions {
  /** Hook points to record; "all" records every one. Recorded tensors are kept: dispose the cache. */
  hooks?: readonly string[] | "all";
  lora?: LoraForward;
}

/**
 * Runs the decoder on token ids [B, T] and returns the final normalised hidden states [B, T, d].
 * Call `logitsAt` for next-token logits of the positions you need.
 */
export function forward(
  params: Params, config: GptConfig, tokens: tf.Tensor2D, opts: ForwardOptions = {},
): { hidden: tf.Tensor3D; cache: Cache } {
  const [B, T] = tokens.shape;
  if (T > config.maxLen) throw new Error(`sequence length ${T} exceeds the model's maxLen ${config.maxLen}`);
  const d = config.dModel;
  const H = config.heads;
  const hd = d / H;
  const wanted = opts.hooks === "all" ? new Set(hookNames(config)) : new Set(opts.hooks ?? []);
  const cache: Cache = new Map();
  const hook = (name: string, x: tf.Tensor, shape?: number[]) => {
    if (wanted.has(name)) cache.set(name, tf.keep(shape ? x.reshape(shape) : x.clone()));
  };
  const lora = opts.lora;
  // x @ W + b for the matrix named w, plus the adapter's low-rank update where it adapts that matrix.
  const project = (x: tf.Tensor, w: string, b: string): tf.Tensor2D => {
    const y = linear(x as tf.Tensor2D, params[w] as tf.Tensor2D, params[b] as tf.Tensor1D);
    const a = lora?.adapter[w + ".lora_a"];
    if (!lora || !a) return y;
    const dropped = lora.dropout > 0 ? tf.dropout(x, lora.dropout, undefined, hashSeed(lora.dropoutSeed, w)) : x;
    return y.add(tf.matMul(dropped, a).mul(lora.scale).matMul(lora.adapter[w + ".lora_b"]));
  };

  const hidden = tf.tidy(() => {
    const tokEmb = tf.gather(params.wte, tokens.reshape([B * T]));
    const posEmb = params.wpe.slice([0, 0], [T, d]);
    // The residual stream is kept flat, [B*T, d], so that every projection is one 2-D matmul.
    let x = tokEmb.reshape([B, T, d]).add(posEmb).reshape([B * T, d]);
    hook("hook_embed", x, [B, T, d]);
    // Attention: one fused QKV projection, then xft's kernel where it is built, else tfjs ops with the heads
    // split by a reshape and one transpose. A wanted pattern is computed by tfjs ops; the output stays the
    // kernel's, so that recording the pattern leaves every number as it is.
    const splitHeads = (qkv: tf.Tensor) => tf.unstack(qkv.reshape([B, T, 3, H, hd]).transpose([2, 0, 3, 1, 4]), 0) as tf.Tensor4D[];
    const mergeHeads = (x: tf.Tensor4D) => x.transpose([0, 2, 1, 3]).reshape([B * T, d]);
    const attention = (p: string, h: tf.Tensor): tf.Tensor => {
      const qkv = project(h, p + "attn.wqkv", p + "attn.bqkv");
      const kernel = kernelAttends(hd);
      let mixed: tf.Tensor;
      if (wanted.has(p + "attn.hook_pattern")) {
        const [q, k, v] = splitHeads(qkv);
        const att = attentionPattern(q, k, causalMask(T));
        hook(p + "attn.hook_pattern", att);
        mixed = kernel ? kernelAttention(qkv, B, H) : mergeHeads(tf.matMul(att, v));
      } else if (kernel) {
        mixed = kernelAttention(qkv, B, H);
      } else {
        const [q, k, v] = splitHeads(qkv);
        mixed = mergeHeads(causalAttention(q, k, v, causalMask(T)) as tf.Tensor4D);
      }
      return project(mixed, p + "attn.wo", p + "attn.bo");
    };
    const activation = tfOpsLoaded() ? fusedGelu : gelu;
    const mlp = (p: string, h: tf.Tensor): tf.Tensor => project(activation(project(h, p + "mlp.w1", p + "mlp.b1")), p + "mlp.w2", p + "mlp.b2");
    // x + sublayer(LN(x)), in a tidy of its own so that its temporaries go when it ends, not with the whole
    // pass (probes and the readout run large batches without gradients; under gradients the tape holds
    // its own references to what the backward pass needs).
    const residual = (x: tf.Tensor, p: string, ln: string, sublayer: (p: string, h: tf.Tensor) => tf.Tensor) =>
      tf.tidy(() => x.add(sublayer(p, layerNorm(x, params[p + ln + ".g"], params[p + ln + ".b"]))));
    for (let l = 0; l < config.layers; l++) {
      const p = `blocks.${l}.`;
      hook(p + "hook_resid_pre", x, [B, T, d]);
      x = residual(x, p, "ln1", attention);
      hook(p + "hook_resid_mid", x, [B, T, d]);
      x = residual(x, p, "ln2", mlp);
      hook(p + "hook_resid_post", x, [B, T, d]);
    }
    const out = layerNorm(x, params["ln_f.g"], params["ln_f.b"]).reshape([B, T, d]);
    hook("ln_final.hook_normalized", out);
    return out as tf.Tensor3D;
  });
  return { hidden, cache };
}

/** Flat indices b*T + t of the given (row, position) pairs, for gathering from [B*T, ...]. */
export function flatPositions(T: number, rows: readonly number[], positions: readonly number[]): tf.Tensor1D {
  return tf.tensor1d(rows.map((b, i) => b * T + positions[i]), "int32");
}

/** Next-token logits [M, V] at flat positions of hidden [B, T, d], through the tied head. */
export function logitsAt(params: Params, hidden: tf.Tensor3D, flatIdx: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, T, d] = hidden.shape;
    const picked = tf.gather(hidden.reshape([B * T, d]), flatIdx);
    return tf.matMul(picked, params.wte, false, true) as tf.Tensor2D;
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
 * Softmax of logits [m, V] and the cross-entropy against targets [m], summed, as tfjs ops (tf-ops.ts has the
 * same as one op). The loss is lse - logit[target] with lse = max(logits) - log(max(P)): the largest
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
 * Mean next-token cross-entropy of hidden states h [M, d] through the tied head wte [V, d], against
 * targets [M], with a hand-written gradient that keeps the probabilities P and never forms P - onehot:
 * with Y the one-hot targets, dh = (P - Y) wte / M = (P wte - wte[targets]) / M and
 * dwte = (P - Y)^T h / M = (P^T h - segment sums of h by target) / M. Autodiff would keep the logits,
 * P and Y, and pass over [M, V] about eight times; this is one fused op (or a softmax and two row maxima). The rows go in
 * blocks of headChunkRows (P is kept block by block), so that no [M, V] tensor is ever allocated whole.
 */
const tiedHeadCrossEntropy = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [h, wte, targets, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  const [M, V] = [h.shape[0], wte.shape[0]];
  const rows = headChunkRows(V);
  const sizes = Array.from({ length: Math.ceil(M / rows) }, (_, i) => Math.min(rows, M - i * rows));
  const blocks = <R extends tf.Rank>(x: tf.Tensor<R>) => (sizes.length > 1 ? tf.split(x, sizes) : [x]);
  const hs = blocks(h);
  const ts = blocks(targets);
  const probs: tf.Tensor2D[] = [];
  const losses = hs.map((hc, c) => {
    const [p, loss] = (tfOpsLoaded() ? softmaxCrossEntropy : softmaxCrossEntropyOps)(tf.matMul(hc, wte, false, true), ts[c] as tf.Tensor1D);
    probs.push(p);
    return loss;
  });
  save([h, wte, targets, ...probs]);
  return {
    value: tf.addN(losses).div(M),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => {
      const [sh, swte, stargets, ...sprobs] = saved;
      const scale = dy.div(M);
      const shs = blocks(sh);
      const pWte = sprobs.map((p) => tf.matMul(p, swte));
      const dh = (pWte.length > 1 ? tf.concat(pWte) : pWte[0]).sub(tf.gather(swte, stargets)).mul(scale);
      const pTh = sprobs.map((p, c) => tf.matMul(p, shs[c], true, false));
      const dwte = (pTh.length > 1 ? tf.addN(pTh) : pTh[0]).sub(tf.unsortedSegmentSum(sh, stargets as tf.Tensor1D, V)).mul(scale);
      return [dh, dwte, tf.zeros(stargets.shape)]; // (targets are ids: no gradient)
    }),
  };
});

/** Mean next-token cross-entropy at flat positions of hidden [B, T, d] against targets [M]. */
export function lossAt(params: Params, hidden: tf.Tensor3D, flatIdx: tf.Tensor1D, targets: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const [B, T, d] = hidden.shape;
    return tiedHeadCrossEntropy(tf.gather(hidden.reshape([B * T, d]), flatIdx), params.wte, targets) as tf.Scalar;
  });
}
