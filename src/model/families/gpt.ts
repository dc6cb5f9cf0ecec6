/**
 * GPT-2's architecture, which xft's own models share: token + learned position embeddings, pre-LayerNorm
 * blocks of causal multi-head self-attention (one fused QKV projection) and a GELU MLP, a final LayerNorm, and
 * a head tied to the token embedding (or `lm_head` of its own).
 */
import { tf } from "../../backend/engine";
import type { GptConfig } from "../config";
import { hook } from "../hooks";
import { gelu } from "../ops/activations";
import { causalSelfAttention } from "../ops/attention";
import { projection } from "../ops/linear";
import { addLayerNormOp, layerNorm, LN_EPS } from "../ops/norms";
import type { Params } from "../ops/params";
import { FamilyForward, ParameterShapes, residualStream } from "./family";

function mlpDim(c: GptConfig): number {
  return c.mlpDim ?? c.mlpRatio * c.dModel;
}

export function gptParameterShapes(c: GptConfig): ParameterShapes {
  const d = c.dModel;
  const m = mlpDim(c);
  const shapes: ParameterShapes = [
    ["wte", [c.vocabSize, d]],
    ["wpe", [c.maxLen, d]],
  ];
  for (let l = 0; l < c.layers; l++) {
    const p = `blocks.${l}.`;
    shapes.push(
      [p + "ln1.g", [d]],
      [p + "ln1.b", [d]],
      [p + "attn.wqkv", [d, 3 * d]],
      [p + "attn.bqkv", [3 * d]],
      [p + "attn.wo", [d, d]],
      [p + "attn.bo", [d]],
      [p + "ln2.g", [d]],
      [p + "ln2.b", [d]],
      [p + "mlp.w1", [d, m]],
      [p + "mlp.b1", [m]],
      [p + "mlp.w2", [m, d]],
      [p + "mlp.b2", [d]],
    );
  }
  shapes.push(["ln_f.g", [d]], ["ln_f.b", [d]]);
  if (c.untiedHead) shapes.push(["lm_head", [c.vocabSize, d]]);
  return shapes;
}

/** The final LayerNorm, also the logit lens's view of any residual point. */
export function gptFinalNorm(params: Params, c: GptConfig, x: tf.Tensor): tf.Tensor {
  return layerNorm(x, params["ln_f.g"], params["ln_f.b"], c.normEps ?? LN_EPS);
}

export const gptForward: FamilyForward<GptConfig> = (params, c, tokens, pass) => {
  const [B, T] = tokens.shape;
  const d = c.dModel;
  const eps = c.normEps ?? LN_EPS;
  const shape = { batch: B, len: T, heads: c.heads, headDim: d / c.heads };
  const { hooks } = pass;
  const linear = projection(params, pass.lora);
  const norm = (x: tf.Tensor, name: string) => layerNorm(x, params[name + ".g"], params[name + ".b"], eps);
  const fusedAddNorm = addLayerNormOp();
  const addNorm =
    fusedAddNorm && ((x: tf.Tensor, delta: tf.Tensor, name: string) => fusedAddNorm(x, delta, params[name + ".g"], params[name + ".b"], eps));

  const attention = (p: string, x: tf.Tensor, l: number) =>
    linear(causalSelfAttention(linear(x, p + "attn.wqkv", p + "attn.bqkv"), shape, hooks.recorderOf(hook.pattern(l))), p + "attn.wo", p + "attn.bo");
  const mlp = (p: string, x: tf.Tensor) => linear(gelu(linear(x, p + "mlp.w1", p + "mlp.b1")), p + "mlp.w2", p + "mlp.b2");

  // The residual stream is kept flat, [B*T, d], so that every projection is one 2-D matmul.
  const tokEmb = tf.gather(params.wte, tokens.reshape([B * T]));
  const embedded = tokEmb
    .reshape([B, T, d])
    .add(params.wpe.slice([0, 0], [T, d]))
    .reshape([B * T, d]);
  return residualStream(params, embedded, c.layers, [B, T, d], pass, { norm, addNorm, attention, mlp });
};
