/** What a family definition provides: its parameters' shapes and its forward pass. */
import { tf } from "../../backend/engine";
import { hook, HookRecorder } from "../hooks";
import type { LoraForward } from "../ops/linear";
import type { Params } from "../ops/params";

/** Parameter shapes by name; the order is the order of saving and of the optimizer state. */
export type ParameterShapes = Array<[string, number[]]>;

/**
 * Token ids [B, T] to the final normalised hidden states, flat [B*T, d], recording the wanted hook points.
 * Called inside a tidy (model.ts).
 */
export type FamilyForward<C> = (params: Params, config: C, tokens: tf.Tensor2D, hooks: HookRecorder, lora?: LoraForward) => tf.Tensor;

/** One family's sublayers, by block prefix (`blocks.{l}.`) and layer; `norm` takes the norm's name (`blocks.0.ln1`, `ln_f`). */
export interface Sublayers {
  norm(x: tf.Tensor, name: string): tf.Tensor;
  attention(prefix: string, x: tf.Tensor, layer: number): tf.Tensor;
  mlp(prefix: string, x: tf.Tensor): tf.Tensor;
}

/**
 * The pre-norm residual stream every family shares, from the embedded tokens (flat [B*T, d]) to the final norm:
 * per block x + attention(norm(x)), then x + mlp(norm(x)), with the hook points between.
 */
export function residualStream(embedded: tf.Tensor, layers: number, shape: [number, number, number], hooks: HookRecorder, s: Sublayers): tf.Tensor {
  let x = embedded;
  hooks.record(hook.embed, x, shape);
  for (let l = 0; l < layers; l++) {
    const p = `blocks.${l}.`;
    hooks.record(hook.residPre(l), x, shape);
    // Each sublayer in a tidy of its own, so that its temporaries go when it ends (under gradients the tape
    // keeps what the backward pass needs).
    x = tf.tidy(() => x.add(s.attention(p, s.norm(x, p + "ln1"), l)));
    hooks.record(hook.residMid(l), x, shape);
    x = tf.tidy(() => x.add(s.mlp(p, s.norm(x, p + "ln2"))));
    hooks.record(hook.residPost(l), x, shape);
  }
  return s.norm(x, "ln_f");
}
