/**
 * Llama's architecture, shared by Mistral and Qwen2: token embedding (no learned positions), pre-RMSNorm blocks
 * of grouped-query self-attention with rotary positions and a SwiGLU MLP, a final RMSNorm, and a head of its
 * own or tied to the embedding. Qwen2 adds q/k/v biases; Llama's `attention_bias` and `mlp_bias` add the rest.
 */
import { tf } from "../../backend/engine";
import type { LlamaConfig } from "../config";
import { hook } from "../hooks";
import { swiglu } from "../ops/activations";
import { causalSelfAttention, fuseGroupedQkv } from "../ops/attention";
import { projection } from "../ops/linear";
import { rmsNorm } from "../ops/norms";
import type { Params } from "../ops/params";
import { applyRope } from "../ops/rope";
import { FamilyForward, ParameterShapes, residualStream } from "./family";

export function llamaParameterShapes(c: LlamaConfig): ParameterShapes {
  const d = c.dModel;
  const [q, kv, m] = [c.heads * c.headDim, c.kvHeads * c.headDim, c.mlpDim];
  const shapes: ParameterShapes = [["wte", [c.vocabSize, d]]];
  for (let l = 0; l < c.layers; l++) {
    const p = `blocks.${l}.`;
    shapes.push([p + "ln1.g", [d]], [p + "attn.wq", [d, q]], [p + "attn.wk", [d, kv]], [p + "attn.wv", [d, kv]]);
    if (c.qkvBias) shapes.push([p + "attn.bq", [q]], [p + "attn.bk", [kv]], [p + "attn.bv", [kv]]);
    shapes.push([p + "attn.wo", [q, d]]);
    if (c.outBias) shapes.push([p + "attn.bo", [d]]);
    shapes.push([p + "ln2.g", [d]], [p + "mlp.wgate", [d, m]], [p + "mlp.wup", [d, m]], [p + "mlp.wdown", [m, d]]);
    if (c.mlpBias) shapes.push([p + "mlp.bgate", [m]], [p + "mlp.bup", [m]], [p + "mlp.bdown", [d]]);
  }
  shapes.push(["ln_f.g", [d]]);
  if (c.untiedHead) shapes.push(["lm_head", [c.vocabSize, d]]);
  return shapes;
}

/** The final RMSNorm, also the logit lens's view of any residual point. */
export function llamaFinalNorm(params: Params, c: LlamaConfig, x: tf.Tensor): tf.Tensor {
  return rmsNorm(x, params["ln_f.g"], c.normEps);
}

export const llamaForward: FamilyForward<LlamaConfig> = (params, c, tokens, pass) => {
  const [B, T] = tokens.shape;
  const d = c.dModel;
  const hd = c.headDim;
  const rope = { theta: c.ropeTheta, scale: c.ropeScale };
  const { hooks } = pass;
  const linear = projection(params, pass.lora);
  const bias = (on: boolean, name: string) => (on ? name : undefined);
  const norm = (x: tf.Tensor, name: string) => rmsNorm(x, params[name + ".g"], c.normEps);

  const attention = (p: string, x: tf.Tensor, l: number) => {
    const q = applyRope(linear(x, p + "attn.wq", bias(c.qkvBias, p + "attn.bq")), B, T, c.heads, hd, rope);
    const k = applyRope(linear(x, p + "attn.wk", bias(c.qkvBias, p + "attn.bk")), B, T, c.kvHeads, hd, rope);
    const v = linear(x, p + "attn.wv", bias(c.qkvBias, p + "attn.bv"));
    const qkv = fuseGroupedQkv(q, k, v, c.heads, c.kvHeads, hd);
    const mixed = causalSelfAttention(qkv, { batch: B, len: T, heads: c.heads, headDim: hd }, hooks.recorderOf(hook.pattern(l)));
    return linear(mixed, p + "attn.wo", bias(c.outBias, p + "attn.bo"));
  };
  const mlp = (p: string, x: tf.Tensor) => {
    const gate = linear(x, p + "mlp.wgate", bias(c.mlpBias, p + "mlp.bgate"));
    const up = linear(x, p + "mlp.wup", bias(c.mlpBias, p + "mlp.bup"));
    return linear(swiglu(gate, up), p + "mlp.wdown", bias(c.mlpBias, p + "mlp.bdown"));
  };

  // The residual stream is kept flat, [B*T, d], so that every projection is one 2-D matmul.
  const embedded = tf.gather(params.wte, tokens.reshape([B * T]));
  return residualStream(params, embedded, c.layers, [B, T, d], pass, { norm, attention, mlp });
};
