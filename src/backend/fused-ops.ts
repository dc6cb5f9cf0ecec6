/**
 * The model's and the optimizer's fused ops, one implementation per backend: xft's TensorFlow ops on tfjs-node's
 * CPU TensorFlow (tf-ops.ts), xft's WGSL kernels on webgpu (wgsl/ops.ts). Each runs in one pass (or a few) what as
 * tfjs ops would cost many; the model and the optimizer ask `fusedOps()` and, where it is undefined (wasm, cpu, or
 * XFT_TF_OPS=tfjs), run the same maths as tfjs ops.
 */
import * as tf from "@tensorflow/tfjs";

/** AdamW's hyperparameters for one step (train/optimizer.ts has the maths). */
export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  biasCorrection1: number;
  biasCorrection2: number;
  gradClip: number;
}

export interface AdamWResult {
  params: tf.Tensor[];
  m: tf.Tensor;
  v: tf.Tensor;
  /** The global gradient norm before clipping. */
  norm: tf.Scalar;
}

export interface FusedOps {
  /** Who runs them, for the run record and the banner: "xft's TensorFlow ops", "xft's WGSL kernels". */
  readonly label: string;
  /** GELU (tanh form) of x, any shape; differentiable. */
  gelu(x: tf.Tensor): tf.Tensor;
  /** LayerNorm of x [..., d] over its last axis with gain g [d] and bias b [d]; differentiable. */
  layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor;
  /** The residual add and the LayerNorm of the sum: [x + delta, LayerNorm(x + delta)]; both differentiable. */
  addLayerNorm(x: tf.Tensor, delta: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): [tf.Tensor, tf.Tensor];
  /** RMSNorm of x [..., d] with gain g [d], as transformers' LlamaRMSNorm; differentiable. Absent: tfjs ops. */
  rmsNorm?(x: tf.Tensor, g: tf.Tensor, eps: number): tf.Tensor;
  /** SwiGLU silu(gate) * up; differentiable. Absent: tfjs ops. */
  swiglu?(gate: tf.Tensor, up: tf.Tensor): tf.Tensor;
  /**
   * The product of matrices a and b, each transposed where asked; not differentiable (a kernel of the backend's, which
   * tfjs's matMul and the linear layers call). Absent: the backend's own.
   */
  matMul?(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): tf.Tensor;
  /** x [N, k] w [k, m] + bias [m] in one op; not differentiable, as matMul. Absent: the backend's own. */
  linear?(x: tf.TensorInfo, w: tf.TensorInfo, bias: tf.TensorInfo): tf.Tensor;
  /** The sums over rows of x [rows, d], a linear layer's bias gradient. Absent: the backend's own. */
  columnSums?(x: tf.Tensor): tf.Tensor1D;
  /**
   * Softmax of logits [rows, V] and the cross-entropy against targets [rows] (int32 ids), summed over rows:
   * [probabilities, loss sum]. Not differentiable by itself: the head (model/ops/head.ts) writes its gradient.
   */
  softmaxCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): [tf.Tensor2D, tf.Scalar];
  /**
   * The head's loss and gradients in one pass, for h [M, d], the head w [V, d] and targets [M] (int32 ids), with P the
   * softmax of h w^T and Y the one-hot targets: [the loss summed over rows, dh = (P - Y) w [M, d], dw = (P - Y)^T h
   * [V, d]], each gradient before its scale; `gradients` 0 leaves both out ([0, d]), 1 leaves out dw. Not differentiable by
   * itself: the head (model/ops/head.ts) writes its gradient. Absent: logits, softmaxCrossEntropy and products.
   */
  headCrossEntropy?(h: tf.Tensor2D, w: tf.Tensor2D, targets: tf.Tensor1D, gradients: 0 | 1 | 2): [tf.Scalar, tf.Tensor2D, tf.Tensor2D];
  /** Whether `attention` takes heads of this size. */
  attends(headDim: number): boolean;
  /** Causal self-attention of qkv [B*T, 3d] to [B*T, d] (model/ops/attention.ts has the layout); differentiable. */
  attention(qkv: tf.Tensor2D, batch: number, heads: number): tf.Tensor2D;
  /**
   * One AdamW step over all parameters, with m and v flat in the parameters' order and `decays` [N] 1 where a
   * parameter decays. Where `inPlace[i]`, params[i] may be written over and returned as the new parameter.
   */
  adamW(params: tf.Tensor[], grads: tf.Tensor[], m: tf.Tensor, v: tf.Tensor, h: AdamWHyper, decays: tf.Tensor1D, inPlace: boolean[]): AdamWResult;
}

let active: FusedOps | undefined;

/** The backend's fused ops, or undefined where the model runs tfjs ops. */
export function fusedOps(): FusedOps | undefined {
  return active;
}

/** Set by the engine when it starts a backend (engine.ts). */
export function setFusedOps(ops: FusedOps | undefined): void {
  active = ops;
}

/** A backend's add-and-norm: [sum, norm, each row's mean, each row's 1/std] from (x, delta, g, b). */
type AddLayerNormForward = (inputs: { x: tf.TensorInfo; delta: tf.TensorInfo; g: tf.TensorInfo; b: tf.TensorInfo }, eps: number) => tf.TensorInfo[];
/** Its gradient: [dx, dg, db] from the sum's and the norm's gradients and what the forward pass kept. */
type AddLayerNormBackward = (dSum: tf.Tensor, dy: tf.Tensor, kept: { sum: tf.Tensor; g: tf.Tensor; mean: tf.Tensor; rstd: tf.Tensor }) => tf.Tensor[];

/**
 * The add-and-norm as a tfjs kernel with a registered gradient, since tfjs's custom gradients take one output and it
 * has two (and keeps the rows' statistics for its gradient). Registered once, under `kernelName`: gradients are
 * registered by name for every backend, so each backend's kernel has a name of its own.
 */
export function addLayerNormKernel(
  kernelName: string,
  backendName: string,
  forward: AddLayerNormForward,
  backward: AddLayerNormBackward,
): FusedOps["addLayerNorm"] {
  return (x, delta, g, b, eps) => {
    if (!tf.getKernel(kernelName, backendName)) {
      tf.registerKernel({
        kernelName,
        backendName,
        kernelFunc: ({ inputs, attrs }) =>
          forward(inputs as { x: tf.TensorInfo; delta: tf.TensorInfo; g: tf.TensorInfo; b: tf.TensorInfo }, (attrs as { epsilon: number }).epsilon),
      });
      tf.registerGradient({
        kernelName,
        inputsToSave: ["g"],
        outputsToSave: [true, false, true, true],
        // tfjs gives an output without a gradient (the statistics, and the sum or the norm where unused) zeros.
        gradFunc: (dys, saved) => {
          const [dSum, dy] = dys as tf.Tensor[];
          const [gain, sum, mean, rstd] = saved;
          const [dx, dg, db] = backward(dSum, dy, { sum, g: gain, mean, rstd });
          return { x: () => dx, delta: () => dx.clone(), g: () => dg, b: () => db };
        },
      });
    }
    const [sum, y, mean, rstd] = tf.engine().runKernel(kernelName, { x, delta, g, b }, { epsilon: eps }) as tf.Tensor[];
    // The gradient keeps copies of its own (tfjs clones the outputs it saves).
    tf.dispose([mean, rstd]);
    return [sum, y];
  };
}
