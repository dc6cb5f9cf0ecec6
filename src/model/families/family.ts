/** What a family definition provides: its parameters' shapes and its forward pass. */
import type { tf } from "../../backend/engine";
import type { HookRecorder } from "../hooks";
import type { LoraForward } from "../ops/linear";
import type { Params } from "../ops/params";

/** Parameter shapes by name; the order is the order of saving and of the optimizer state. */
export type ParameterShapes = Array<[string, number[]]>;

/**
 * Token ids [B, T] to the final normalised hidden states, flat [B*T, d], recording the wanted hook points.
 * Called inside a tidy (model.ts).
 */
export type FamilyForward<C> = (params: Params, config: C, tokens: tf.Tensor2D, hooks: HookRecorder, lora?: LoraForward) => tf.Tensor;
