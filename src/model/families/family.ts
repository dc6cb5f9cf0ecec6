/** What a family definition provides: its parameters' shapes and its forward pass. */
import { tf } from "../../backend/engine";
import { hook, HookRecorder } from "../hooks";
import type { LoraForward } from "../ops/linear";
import type { Params } from "../ops/params";

/** Parameter shapes by name; the order is the order of saving and of the optimizer state. */
export type ParameterShapes = Array<[string, number[]]>;

/** How one forward pass runs: the hook points it records, the adapter it applies, and whether its blocks are checkpointed. */
export interface ForwardPass {
  hooks: HookRecorder;
  lora?: LoraForward;
  /** Under gradients, keep only each block's input and recompute the block in the backward pass (`checkpointed`). */
  recompute: boolean;
}

/**
 * Token ids [B, T] to the final normalised hidden states, flat [B*T, d], recording the wanted hook points.
 * Called inside a tidy (model.ts).
 */
export type FamilyForward<C> = (params: Params, config: C, tokens: tf.Tensor2D, pass: ForwardPass) => tf.Tensor;

/**
 * One family's sublayers, by block prefix (`blocks.{l}.`) and layer; `norm` takes the norm's name (`blocks.0.ln1`,
 * `ln_f`). `addNorm`, where a family has it, is the residual add x + delta and the norm of the sum as one op:
 * [sum, normed].
 */
export interface Sublayers {
  norm(x: tf.Tensor, name: string): tf.Tensor;
  addNorm?(x: tf.Tensor, delta: tf.Tensor, name: string): [tf.Tensor, tf.Tensor];
  attention(prefix: string, x: tf.Tensor, layer: number): tf.Tensor;
  mlp(prefix: string, x: tf.Tensor): tf.Tensor;
}

/**
 * The pre-norm residual stream every family shares, from the embedded tokens (flat [B*T, d]) to the final norm:
 * per block x + attention(norm(x)), then x + mlp(norm(x)), with the hook points between. Each add goes with the
 * norm that reads its sum (the next sublayer's, or the final one), as one op where the family has one.
 */
export function residualStream(
  params: Params,
  embedded: tf.Tensor,
  layers: number,
  shape: [number, number, number],
  pass: ForwardPass,
  s: Sublayers,
): tf.Tensor {
  const { hooks } = pass;
  const addNorm =
    s.addNorm ??
    ((x: tf.Tensor, delta: tf.Tensor, name: string): [tf.Tensor, tf.Tensor] => {
      const sum = x.add(delta);
      return [sum, s.norm(sum, name)];
    });
  const nextNorm = (l: number) => (l + 1 < layers ? `blocks.${l + 1}.ln1` : "ln_f");
  let x = embedded;
  hooks.record(hook.embed, x, shape);
  if (pass.recompute) {
    // No hook points here: a pass that records any runs its blocks as they are (model.ts). A checkpointed block
    // starts and ends at the stream itself, so its last add stays apart from the next block's norm.
    for (let l = 0; l < layers; l++) {
      const p = `blocks.${l}.`;
      const block = (y: tf.Tensor) => {
        const [mid, normed] = addNorm(y, s.attention(p, s.norm(y, p + "ln1"), l), p + "ln2");
        return mid.add(s.mlp(p, normed));
      };
      x = checkpointed(block, trainedWeights(params, pass.lora, p))(x);
    }
    return s.norm(x, "ln_f");
  }
  let normed = s.norm(x, "blocks.0.ln1");
  for (let l = 0; l < layers; l++) {
    const p = `blocks.${l}.`;
    hooks.record(hook.residPre(l), x, shape);
    // Each sublayer in a tidy of its own, so that its temporaries go when it ends (under gradients the tape
    // keeps what the backward pass needs).
    [x, normed] = tf.tidy(() => addNorm(x, s.attention(p, normed, l), p + "ln2"));
    hooks.record(hook.residMid(l), x, shape);
    [x, normed] = tf.tidy(() => addNorm(x, s.mlp(p, normed), nextNorm(l)));
    hooks.record(hook.residPost(l), x, shape);
  }
  return normed;
}

/** The tensors a block's gradient is taken for: its adapter's under LoRA (the model's weights frozen), else its own parameters. */
function trainedWeights(params: Params, lora: LoraForward | undefined, prefix: string): tf.Tensor[] {
  return Object.entries(lora?.adapter ?? params)
    .filter(([name]) => name.startsWith(prefix))
    .map(([, weight]) => weight);
}

/**
 * A block under activation checkpointing. tfjs runs a custom gradient's forward function with its tape off and in a
 * tidy, so the forward pass keeps only the block's input x, where autodiff would keep every activation of the block
 * until the backward pass ends (GPT-2 small at batch 8 x 256: about 0.1 GB a block). The gradient runs the block
 * again under a tape of its own and differentiates it with respect to x and `weights`; that tape and its activations
 * go when the block's gradient is done. The recomputation draws the same LoRA dropout masks, which are a function
 * of the step's seed and the matrix's name (ops/linear.ts), so the gradients are those of the pass that was run.
 */
function checkpointed(block: (x: tf.Tensor) => tf.Tensor, weights: tf.Tensor[]): (x: tf.Tensor) => tf.Tensor {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const x = args[0] as tf.Tensor;
    const save = args[args.length - 1] as tf.GradSaveFunc;
    save([x]);
    return {
      value: block(x),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => gradientsInBackward(block, [saved[0], ...weights], dy)),
    };
  });
  return (x) => op(x, ...weights);
}

/**
 * The gradients of block(inputs[0]) with respect to every input (the weights are read by the block itself), taken
 * while an outer backward pass runs. tfjs's gradients() starts a fresh tape when no other is being recorded, and
 * clears it when done, which would drop the outer pass's tape: it is put back, for the outer pass to release.
 */
function gradientsInBackward(block: (x: tf.Tensor) => tf.Tensor, inputs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  const engine = tf.engine();
  const outerTape = engine.state.activeTape;
  try {
    return tf.grads((x: tf.Tensor) => block(x))(inputs, dy);
  } finally {
    engine.state.activeTape = outerTape;
  }
}
