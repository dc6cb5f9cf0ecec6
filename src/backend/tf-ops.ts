/**
 * xft's own TensorFlow ops (src/backend/native/tf_ops.cc, built by scripts/native-kernels.sh into build/native/),
 * registered into the TensorFlow runtime of tfjs-node and run by its binding on TensorFlow's own tensors:
 * - GELU and LayerNorm, forward and backward: as tfjs ops 6 + 9 and 9 + 11 passes over the activations; one each
 *   here (5-8x faster on the reference configs' shapes); LayerNorm also with the residual add before it;
 * - the head's softmax cross-entropy: one pass over the logits for the probabilities and the summed loss;
 * - a linear layer's bias gradient, the column sums of its output's gradient (TensorFlow's BiasAddGrad is about 3x
 *   slower on the models' shapes);
 * - rows by id and their gradient, sums of rows by id, for tf.gather on 2-D tables (embeddings, the head);
 * - the AdamW step over all parameters: about 140 tfjs ops, most of them reshapes, for the flat update;
 * - the attention kernel (attention-kernel.ts), which as an op is spared the copies out of TensorFlow and back.
 *
 * They serve the CPU "tensorflow" backend only; elsewhere (and without the addon) the model and the optimizer run
 * the same maths as tfjs ops. XFT_TF_OPS=tfjs turns them off; XFT_TF_OPS=kernel insists and fails when they are missing.
 */
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import type { AdamWHyper, AdamWResult, FusedOps } from "./fused-ops";
import { addLayerNormKernel, setFusedOps } from "./fused-ops";
import { ImplChoice, implChoice } from "./impl-choice";
import { KernelArgs, KernelOut, mendKernel } from "./mend-kernel";
import type { NodeBackend } from "./native";

/** Where scripts/native-kernels.sh puts the addon. */
export const TF_OPS_FILE = path.resolve(__dirname, "../../build/native/xft_tf_ops.node");

let backend: NodeBackend | undefined;

/**
 * Registers the ops with TensorFlow when the backend is the CPU "tensorflow" one, unless XFT_TF_OPS says
 * otherwise; returns whether the model and optimizer will run on them ("kernel") or on tfjs ops, and why not.
 */
export function loadTfOps(backendName: string, threads: number, wanted = process.env.XFT_TF_OPS ?? ""): ImplChoice {
  const choice = implChoice("XFT_TF_OPS", wanted, "a choice of ops");
  backend = undefined;
  setFusedOps(undefined);
  if (choice.off) return choice.off;
  if (backendName !== "tensorflow") return choice.unavailable(`the ${backendName} backend is not tfjs-node's CPU TensorFlow`);
  if (!fs.existsSync(TF_OPS_FILE))
    return choice.unavailable(`${path.relative(process.cwd(), TF_OPS_FILE)} is not built; run bash scripts/native-kernels.sh`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require(TF_OPS_FILE) as { register(threads: number): string[] }).register(Math.max(1, threads));
  backend = tf.findBackend("tensorflow") as unknown as NodeBackend;
  setFusedOps(NATIVE_OPS);
  mendRowKernels();
  return { impl: "kernel" };
}

let rowKernelsMended = false;

/**
 * tf.gather of rows by id (the embeddings, the head's positions and targets) and the sums by id of its gradient run
 * as xft's ops while they are loaded: 2-D float32 rows, 1-D int32 ids. Anything else, or with the ops off, goes to
 * TensorFlow's GatherV2 and UnsortedSegmentSum as before.
 */
function mendRowKernels(): void {
  if (rowKernelsMended) return;
  rowKernelsMended = true;
  const rowsAndIds = (x: tf.TensorInfo, ids: tf.TensorInfo) =>
    x.dtype === "float32" && x.shape.length === 2 && ids.dtype === "int32" && ids.shape.length === 1;
  mendKernel("tensorflow", "GatherV2", (args: KernelArgs, original: (args: KernelArgs) => KernelOut) => {
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
    if (!backend || axis !== 0 || batchDims !== 0 || !rowsAndIds(x, indices)) return original(args);
    return backend.executeSingleOutput("XftGatherRows", [], [x, indices]);
  });
  mendKernel("tensorflow", "UnsortedSegmentSum", (args: KernelArgs, original: (args: KernelArgs) => KernelOut) => {
    const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
    const { numSegments } = args.attrs as unknown as { numSegments: number };
    if (!backend || !rowsAndIds(x, segmentIds) || segmentIds.shape[0] !== x.shape[0]) return original(args);
    const rows = tf.scalar(numSegments, "int32");
    const sums = backend.executeSingleOutput("XftSumRowsById", [], [x, segmentIds, rows]);
    rows.dispose();
    return sums;
  });
}

function loaded(): NodeBackend {
  if (!backend) throw new Error("xft's TensorFlow ops are not loaded (loadTfOps)");
  return backend;
}

/** GELU (tanh approximation, as gpt.ts's) of x, any shape; its gradient recomputes from x. */
export const fusedGelu = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const be = loaded();
  save([x]);
  return {
    value: be.executeSingleOutput("XftGelu", [], [x]),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [be.executeSingleOutput("XftGeluGrad", [], [dy, saved[0]])],
  };
}) as (x: tf.Tensor) => tf.Tensor;

/** LayerNorm of x [..., d] over its last axis with gain g [d] and bias b [d]; keeps each row's mean and 1/std. */
export function fusedLayerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [sx, sg, sb, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const be = loaded();
    const [y, mean, rstd] = be.executeMultipleOutputs(
      "XftLayerNorm",
      [{ name: "epsilon", type: be.binding.TF_ATTR_FLOAT, value: eps }],
      [sx, sg, sb],
      3,
    );
    save([sx, sg, mean, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => be.executeMultipleOutputs("XftLayerNormGrad", [], [dy, ...saved], 3),
    };
  });
  return op(x, g, b);
}

/**
 * The residual stream's add and the LayerNorm after it, s = x + delta and LayerNorm(s) with gain g and bias b, in one
 * pass: [s, LayerNorm(s)]. Its gradient is one pass too, which adds the gradient s has from the rest of the stream to
 * the norm's (autodiff would add the two as one more op). Both are the same numbers as x.add(delta) and
 * fusedLayerNorm of it.
 */
export const fusedAddLayerNorm = addLayerNormKernel(
  "XftAddLayerNorm",
  "tensorflow",
  ({ x, delta, g, b }, eps) => {
    const be = loaded();
    return be.executeMultipleOutputs("XftAddLayerNorm", [{ name: "epsilon", type: be.binding.TF_ATTR_FLOAT, value: eps }], [x, delta, g, b], 4);
  },
  (dSum, dy, { sum, g, mean, rstd }) => loaded().executeMultipleOutputs("XftAddLayerNormGrad", [], [dSum, dy, sum, g, mean, rstd], 3),
);

/**
 * The causal attention kernel as TensorFlow ops: qkv [B*T, 3d] to the heads' outputs [B*T, d] (attention-kernel.ts
 * checks the shapes and says what the layout is); the same computation, and the same bits, as the addon's.
 */
export function attentionOp(qkv: tf.Tensor2D, batch: number, heads: number): tf.Tensor2D {
  const be = loaded();
  const attrs = [
    { name: "batch", type: be.binding.TF_ATTR_INT, value: batch },
    { name: "heads", type: be.binding.TF_ATTR_INT, value: heads },
  ];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const [out, lse] = be.executeMultipleOutputs("XftCausalAttention", attrs, [x], 2);
    save([x, out, lse]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [be.executeSingleOutput("XftCausalAttentionGrad", attrs, [...saved, dy])],
    };
  });
  return op(qkv) as tf.Tensor2D;
}

/**
 * Softmax of logits [rows, V] and the cross-entropy against targets [rows] (int32 ids), summed over rows:
 * [probabilities [rows, V], loss sum []]. Not differentiable by itself: the tied head (gpt.ts) writes its gradient.
 */
export function softmaxCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): [tf.Tensor2D, tf.Scalar] {
  const [probs, lossSum] = loaded().executeMultipleOutputs("XftSoftmaxCrossEntropy", [], [logits, targets], 2);
  return [probs as tf.Tensor2D, lossSum as tf.Scalar];
}

/**
 * The head's summed loss and its gradients dh [M, d] and dw [V, d] before their scale, in one pass (fused-ops.ts has
 * the maths; tf_ops.cc the blocks that keep the logits in the cache).
 */
export function headCrossEntropy(h: tf.Tensor2D, w: tf.Tensor2D, targets: tf.Tensor1D, gradients: 0 | 1 | 2): [tf.Scalar, tf.Tensor2D, tf.Tensor2D] {
  const be = loaded();
  const [loss, dh, dw] = be.executeMultipleOutputs(
    "XftHeadCrossEntropy",
    [{ name: "gradients", type: be.binding.TF_ATTR_INT, value: gradients }],
    [h, w, targets],
    3,
  );
  return [loss as tf.Scalar, dh as tf.Tensor2D, dw as tf.Tensor2D];
}

/** The sums over rows of x [rows, d] (a linear layer's bias gradient), in an order that does not depend on the threads. */
export function columnSums(x: tf.Tensor): tf.Tensor1D {
  return loaded().executeSingleOutput("XftColumnSums", [], [x]) as tf.Tensor1D;
}

/**
 * One AdamW step (optimizer.ts has the maths) over all parameters: returns the new parameters, the new flat moments
 * m and v (the inputs, updated in place), and the gradient norm before clipping. `decays` [N] is 1 where a parameter
 * decays, 0 elsewhere. Where `inPlace[i]`, params[i] is updated in place and returned as the new parameter: the
 * caller gives it up, and no other tensor may share its data. (TensorFlow's own test for that, forwarding an input
 * whose buffer nothing else holds, never passes for tfjs-node's inputs: tried here, it always allocated.)
 */
export function adamWOp(
  params: tf.Tensor[],
  grads: tf.Tensor[],
  m: tf.Tensor,
  v: tf.Tensor,
  h: AdamWHyper,
  decays: tf.Tensor1D,
  inPlace: boolean[] = params.map(() => false),
): AdamWResult {
  const be = loaded();
  const n = params.length;
  // The step's numbers are an input, not attributes: TensorFlow keeps a kernel per distinct attribute set.
  const hyper = tf.tensor1d([h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.biasCorrection1, h.biasCorrection2, h.gradClip]);
  const inPlaceFlags = tf.tensor1d(inPlace.map((p) => (p ? 1 : 0)));
  const out = be.executeMultipleOutputs(
    "XftAdamW",
    [{ name: "N", type: be.binding.TF_ATTR_INT, value: n }],
    [...params, ...grads, m, v, hyper, decays, inPlaceFlags],
    n + 3,
  );
  tf.dispose([hyper, inPlaceFlags]);
  return { params: out.slice(0, n), m: out[n], v: out[n + 1], norm: out[n + 2] as tf.Scalar };
}

/** a b, each a float32 matrix, transposed where asked (gemm.h: faster than TensorFlow's MatMul on the models' shapes). */
export function matMul(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): tf.Tensor {
  const be = loaded();
  const attrs = [
    { name: "transpose_a", type: be.binding.TF_ATTR_BOOL, value: transposeA },
    { name: "transpose_b", type: be.binding.TF_ATTR_BOOL, value: transposeB },
  ];
  return be.executeSingleOutput("XftMatMul", attrs, [a, b]);
}

/** x [N, k] w [k, m] + bias [m], as matMul, with the bias added to each tile of the product as it is stored. */
export function linear(x: tf.TensorInfo, w: tf.TensorInfo, bias: tf.TensorInfo): tf.Tensor {
  return loaded().executeSingleOutput("XftLinear", [], [x, w, bias]);
}

/** The ops as the model and the optimizer call them (fused-ops.ts). The attention op is the kernel's (multiples of 8). */
const NATIVE_OPS: FusedOps = {
  label: "xft's TensorFlow ops",
  gelu: fusedGelu,
  layerNorm: fusedLayerNorm,
  addLayerNorm: fusedAddLayerNorm,
  matMul,
  linear,
  columnSums,
  softmaxCrossEntropy,
  headCrossEntropy,
  attends: (headDim) => headDim % 8 === 0,
  attention: attentionOp,
  adamW: adamWOp,
};
