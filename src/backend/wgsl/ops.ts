/**
 * xft's WGSL kernels as the webgpu backend's fused ops (fused-ops.ts): GELU, SwiGLU, LayerNorm (with the residual add
 * before it), RMSNorm, the head's softmax cross-entropy, causal attention and the AdamW step. Elsewhere on webgpu
 * each would be several of tfjs's generic programs, a pass over memory each. XFT_TF_OPS=tfjs turns them off, as it
 * does xft's TensorFlow ops on the native backend.
 */
import { setFusedOps } from "../fused-ops";
import type { FusedOps } from "../fused-ops";
import { ImplChoice, implChoice } from "../impl-choice";
import { gelu, swiglu } from "./activations";
import { adamW } from "./adamw";
import { attends, attention } from "./attention";
import { softmaxCrossEntropy } from "./cross-entropy";
import { addLayerNorm, layerNorm, rmsNorm } from "./norms";

const WGSL_OPS: FusedOps = {
  label: "xft's WGSL kernels",
  gelu,
  swiglu,
  layerNorm,
  addLayerNorm,
  rmsNorm,
  softmaxCrossEntropy,
  attends,
  attention,
  adamW,
};

/** Makes the kernels the model's fused ops unless XFT_TF_OPS=tfjs; returns the choice as loadTfOps does. */
export function loadWgslOps(wanted = process.env.XFT_TF_OPS ?? ""): ImplChoice {
  const choice = implChoice("XFT_TF_OPS", wanted, "a choice of ops");
  setFusedOps(choice.off ? undefined : WGSL_OPS);
  return choice.off ?? { impl: "kernel" };
}
