/**
 * What tfjs-node (the "tensorflow" backend) does slowly, mended at registration time:
 * - its `_FusedMatMul` is BatchMatMul, then Add of the bias, then the activation: three ops and a second
 *   pass over the output. TensorFlow has the fused op itself (`_FusedMatMul` with fused_ops BiasAdd, and
 *   Relu), the same numbers bit for bit and 10-40% faster on the model's projections here; the mended
 *   kernel calls it for 2-D products. Passing its list-of-strings attribute needs a fix to the binding:
 *   patches/@tensorflow+tfjs-node+4.22.0.patch. The model's linear layers (`linear`) go further and call
 *   TensorFlow's ops themselves, with no 3-D reshapes around them;
 * - its `BatchMatMul` runs TensorFlow's BatchMatMulV2 even for one product, which is 15-30% slower than MatMul on
 *   the same operands (the head's [1048, 256] x [4000, 256]^T: 290 against 385 GFLOP/s; an MLP's [4096, 256] x
 *   [256, 1024]: 320 against 380; AMD EPYC Zen 5, 2 threads, the two ops timed alternately): a product of batch 1,
 *   which is every tf.matMul of 2-D tensors, runs as MatMul;
 * - its `Reshape` builds the target shape as a new tensor on every call (about 65 us against 25 us for a
 *   tiny Add); the shape tensors are kept here, one per shape.
 */
import * as tf from "@tensorflow/tfjs";
import type { FusedOps } from "./fused-ops";
import { fusedOps } from "./fused-ops";
import { KernelArgs, KernelOut, mendKernel } from "./mend-kernel";

/** What xft uses of tfjs-node's backend object: its binding's constants, and running a TensorFlow op by name. */
interface NodeBinding {
  TF_ATTR_BOOL: number;
  TF_ATTR_INT: number;
  TF_ATTR_FLOAT: number;
  TF_ATTR_STRING: number;
  TF_ATTR_TYPE: number;
  TF_FLOAT: number;
  TF_INT32: number;
}
interface OpAttr {
  name: string;
  type: number;
  value: unknown;
}
export interface NodeBackend {
  binding: NodeBinding;
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: tf.TensorInfo[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: tf.TensorInfo[], numOutputs: number): tf.Tensor[];
}

/** TensorFlow's fused ops for tfjs's activations (those it fuses; others stay on tfjs-node's kernel). */
const FUSED_OPS: Record<string, string[]> = { linear: ["BiasAdd"], relu: ["BiasAdd", "Relu"] };

let registered = false;
let fusedMatMulMended = false;
const shapeTensors = new Map<string, tf.Tensor1D>();
/** Distinct shapes kept at most; sequence lengths vary by batch, so the cache is bounded and starts over when full. */
const MAX_SHAPES = 4096;

/** The int32 tensor of a target shape (or of a transpose's permutation), kept for the life of the process. */
function shapeTensor(shape: number[]): tf.Tensor1D {
  const key = shape.join(",");
  let t = shapeTensors.get(key);
  if (!t) {
    if (shapeTensors.size >= MAX_SHAPES) {
      tf.dispose([...shapeTensors.values()]);
      shapeTensors.clear();
    }
    t = tf.keep(tf.tensor1d(shape, "int32"));
    shapeTensors.set(key, t);
  }
  return t;
}

/** A type attribute of a TensorFlow op (float32 and int32, the dtypes xft runs ops on). */
function dtypeAttr(be: NodeBackend, name: string, dtype: tf.DataType): OpAttr {
  if (dtype !== "float32" && dtype !== "int32") throw new Error(`native op: unexpected dtype ${dtype}`);
  return { name, type: be.binding.TF_ATTR_TYPE, value: dtype === "float32" ? be.binding.TF_FLOAT : be.binding.TF_INT32 };
}

function reshape(be: NodeBackend, x: tf.TensorInfo, shape: number[]): tf.Tensor {
  return be.executeSingleOutput("Reshape", [dtypeAttr(be, "T", x.dtype), dtypeAttr(be, "Tshape", "int32")], [x, shapeTensor(shape)]);
}

/** The transpose of a float32 matrix. */
function transposeMatrix(be: NodeBackend, x: tf.TensorInfo): tf.Tensor {
  return be.executeSingleOutput("Transpose", [dtypeAttr(be, "T", "float32"), dtypeAttr(be, "Tperm", "int32")], [x, shapeTensor([1, 0])]);
}

export function registerNativeFixes(): void {
  if (registered) return;
  registered = true;
  mendKernel("tensorflow", "Reshape", (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { shape } = args.attrs as unknown as { shape: number[] };
    if (x.dtype !== "float32" && x.dtype !== "int32") return original(args);
    return reshape(args.backend as unknown as NodeBackend, x, shape);
  });
  mendKernel("tensorflow", "BatchMatMul", mendedBatchMatMul);
  fusedMatMulMended = bindingTakesStringLists();
  if (fusedMatMulMended) mendKernel("tensorflow", "_FusedMatMul", mendedFusedMatMul);
}

/** Whether linear layers run on TensorFlow's fused MatMul+BiasAdd (false before registration or with an unpatched binding). */
export function nativeFusedMatMul(): boolean {
  return fusedMatMulMended;
}

/**
 * Whether the binding passes list-of-strings attributes (our patch; a prebuilt addon fetched by tfjs-node's
 * own installer does not): one tiny fused product, which fails with "Argument is not a string!" without it.
 */
function bindingTakesStringLists(): boolean {
  try {
    tf.tidy(() => {
      const one = tf.ones([1, 1, 1]) as tf.Tensor3D;
      mendedFusedMatMul(
        {
          inputs: { a: one, b: one, bias: tf.ones([1]) },
          attrs: { transposeA: false, transposeB: false, activation: "linear" },
          backend: tf.backend(),
        } as unknown as KernelArgs,
        () => {
          throw new Error("not fused");
        },
      );
    });
    return true;
  } catch {
    return false;
  }
}

function mendedFusedMatMul(args: KernelArgs, original: (args: KernelArgs) => KernelOut): KernelOut {
  const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const { transposeA, transposeB, activation } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean; activation: string };
  const fusedOps = FUSED_OPS[activation];
  // tfjs hands over 3-D operands; one product (batch 1) is a 2-D product for TensorFlow's op.
  const outCols = b ? b.shape[transposeB ? 1 : 2] : 0;
  if (
    !a ||
    !b ||
    !bias ||
    preluActivationWeights ||
    !fusedOps ||
    a.dtype !== "float32" ||
    a.shape[0] !== 1 ||
    b.shape[0] !== 1 ||
    bias.shape.length !== 1 ||
    bias.shape[0] !== outCols
  ) {
    return original(args);
  }
  const be = args.backend as unknown as NodeBackend;
  return productOfMatrices(be, a, b, (a2, b2) => fusedMatMulOp(be, a2, b2, bias, transposeA, transposeB, fusedOps));
}

/** A product of two [1, rows, cols] operands, as `multiply` computes it on their 2-D views, given back as [1, m, n]. */
function productOfMatrices(be: NodeBackend, a: tf.TensorInfo, b: tf.TensorInfo, multiply: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const product = multiply(reshape(be, a, a.shape.slice(1)), reshape(be, b, b.shape.slice(1)));
    return reshape(be, product, [1, ...product.shape]);
  });
}

/**
 * tfjs's BatchMatMul (which tf.matMul hands 2-D operands as they are, and batches as 3-D): TensorFlow's MatMul
 * where a and b are one float32 matrix each, 2-D or [1, rows, cols].
 */
function mendedBatchMatMul(args: KernelArgs, original: (args: KernelArgs) => KernelOut): KernelOut {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
  const oneMatrix = (x: tf.TensorInfo) => x.dtype === "float32" && (x.shape.length === 2 || (x.shape.length === 3 && x.shape[0] === 1));
  if (!oneMatrix(a) || !oneMatrix(b) || a.shape.length !== b.shape.length) return original(args);
  const be = args.backend as unknown as NodeBackend;
  const multiply = (a2: tf.TensorInfo, b2: tf.TensorInfo) => product(be, a2, b2, transposeA, transposeB);
  return a.shape.length === 2 ? multiply(a, b) : productOfMatrices(be, a, b, multiply);
}

/** A matmul's transpose_a and transpose_b attributes. */
function transposeAttrs(be: NodeBackend, transposeA: boolean, transposeB: boolean): OpAttr[] {
  return [
    { name: "transpose_a", type: be.binding.TF_ATTR_BOOL, value: transposeA },
    { name: "transpose_b", type: be.binding.TF_ATTR_BOOL, value: transposeB },
  ];
}

/** TensorFlow's _FusedMatMul of 2-D a and b with the bias (and activation) of `fusedOps`. */
function fusedMatMulOp(
  be: NodeBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  bias: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  fusedOps: string[],
): tf.Tensor {
  const { binding } = be;
  return be.executeSingleOutput(
    "_FusedMatMul",
    [
      dtypeAttr(be, "T", "float32"),
      ...transposeAttrs(be, transposeA, transposeB),
      { name: "num_args", type: binding.TF_ATTR_INT, value: 1 },
      { name: "fused_ops", type: binding.TF_ATTR_STRING, value: fusedOps },
      { name: "epsilon", type: binding.TF_ATTR_FLOAT, value: 0.0001 },
      { name: "leakyrelu_alpha", type: binding.TF_ATTR_FLOAT, value: 0.2 },
    ],
    [a, b, bias],
  );
}

/** TensorFlow's MatMul of 2-D a and b. */
function matMulOp(be: NodeBackend, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): tf.Tensor {
  return be.executeSingleOutput("MatMul", [dtypeAttr(be, "T", "float32"), ...transposeAttrs(be, transposeA, transposeB)], [a, b]);
}

/** XFT_PRODUCTS=tensorflow: every product on TensorFlow's MatMul, to compare a step with and without xft's. */
let tensorflowProducts = process.env.XFT_PRODUCTS === "tensorflow";

/**
 * Whether products run on TensorFlow's MatMul even where xft's ops are loaded (the bench times both, and judges the
 * step against the faster: bench/bench.ts); returns the setting it replaces.
 */
export function useTensorFlowProducts(on: boolean): boolean {
  const before = tensorflowProducts;
  tensorflowProducts = on;
  return before;
}

/**
 * Products whose inner or outer dimension is at most this run on xft's product (backend/native/gemm.h) where its ops
 * are loaded. Inside a training step it is 1.1-1.8x faster than TensorFlow's MatMul on config A's linear layers, where
 * TensorFlow's fixed costs per call are a large part of a product (the step: 1.10x), and as fast or faster on B-D,
 * whose every product has a side of 128 or 256 (their steps: 0.96-1.11x, within the machine's drift); on GPT-2's
 * larger ones (768 and up) TensorFlow's is up to 1.7x faster, timed alone (Intel Xeon, 2 threads; XFT_PRODUCTS=
 * tensorflow runs every product on TensorFlow's, to compare).
 */
const XFT_PRODUCT_MAX_SIDE = 512;

/** xft's ops where a product with inner side k and outer side n runs on them (one of the small products above). */
function xftOpsForProduct(k: number, n: number): FusedOps | undefined {
  return tensorflowProducts || Math.min(k, n) > XFT_PRODUCT_MAX_SIDE ? undefined : fusedOps();
}

/**
 * a b (each transposed where asked): xft's product for the small products above, else TensorFlow's MatMul. A
 * transposed a (a weight's gradient, x^T dy, and the head's P^T h) stays on TensorFlow's: in a step of config A it is
 * as fast as xft's on the blocks' shapes and faster on the head's (1.5-1.7 against 2.0-2.1 ms for [2048, 64]^T
 * [2048, 2000]). TensorFlow's is faster with the narrower factor transposed, so a^T b with a wider than b is made as
 * (b^T a)^T: config D's MLP down-projection gradient [4096, 1024]^T [4096, 256] took 8.1-8.7 ms, as [4096, 256]^T
 * [4096, 1024] 5.7-5.9 and 0.2 for the transpose, 26 ms off a 540 ms step (Intel Xeon, 2 threads).
 */
function product(be: NodeBackend, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): tf.Tensor {
  if (transposeA && !transposeB && a.shape[1] > b.shape[1]) {
    const flipped = matMulOp(be, b, a, true, false);
    const result = transposeMatrix(be, flipped);
    flipped.dispose();
    return result;
  }
  const k = transposeB ? b.shape[1] : b.shape[0];
  const n = transposeB ? b.shape[0] : b.shape[1];
  const xft = transposeA ? undefined : xftOpsForProduct(k, n)?.matMul;
  return xft ? xft(a, b, transposeA, transposeB) : matMulOp(be, a, b, transposeA, transposeB);
}

/** x w + b: xft's op for the small products above, else TensorFlow's fused MatMul+BiasAdd. */
function linearProduct(be: NodeBackend, x: tf.TensorInfo, w: tf.TensorInfo, b: tf.TensorInfo): tf.Tensor {
  const xft = xftOpsForProduct(w.shape[0], w.shape[1])?.linear;
  return xft ? xft(x, w, b) : fusedMatMulOp(be, x, w, b, false, false, FUSED_OPS.linear);
}

/**
 * x [N, k] @ w [k, m] + b as one TensorFlow op, its gradient as three (two MatMuls and the bias's column sums, xft's
 * op where it is loaded, else BiasAddGrad). tfjs's
 * fused matMul works on 3-D operands, so that every operand, output and gradient of a linear layer also
 * passes through a Reshape: 14 TensorFlow ops, each with tfjs-node's cost per op, where these are 4.
 */
const linearOps = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, w, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  const be = tf.backend() as unknown as NodeBackend;
  save([x, w]);
  return {
    value: linearProduct(be, x, w, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sw] = saved;
      const biasGrad =
        fusedOps()?.columnSums?.(dy) ??
        be.executeSingleOutput(
          "BiasAddGrad",
          [dtypeAttr(be, "T", "float32"), { name: "data_format", type: be.binding.TF_ATTR_STRING, value: "NHWC" }],
          [dy],
        );
      return [product(be, dy, sw, false, true), product(be, sx, dy, true, false), biasGrad];
    },
  };
});

/**
 * The same layer with w and b frozen (a LoRA step's base weights), so that its gradient is x's alone, the same
 * product as linearOps': a custom gradient computes every input's gradient, asked for or not, and tfjs keeps the
 * ones nobody asked for until the backward pass ends (GPT-2 small: 340 MB of frozen matrices' gradients).
 */
function frozenLinearOps(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  const be = tf.backend() as unknown as NodeBackend;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [input] = args as [tf.Tensor2D];
    return {
      value: linearProduct(be, input, w, b),
      gradFunc: (dy: tf.Tensor) => [product(be, dy, w, false, true)],
    };
  });
  return op(x) as tf.Tensor2D;
}

/**
 * A linear layer x [N, k] @ w [k, m] + b: TensorFlow's ops directly where the backend is tfjs-node with the
 * patched binding (nativeFusedMatMul), else tfjs's fused matMul. `frozen`: no gradient for w and b.
 */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, frozen = false): tf.Tensor2D {
  if (fusedMatMulMended && tf.getBackend() === "tensorflow" && x.dtype === "float32") {
    return frozen ? frozenLinearOps(x, w, b) : (linearOps(x, w, b) as tf.Tensor2D);
  }
  return tf.fused.matMul({ a: x, b: w, bias: b }) as tf.Tensor2D;
}
