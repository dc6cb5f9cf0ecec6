/**
 * Hook points: named activations that probes read without touching the model, with TransformerLens's names on
 * every family. One difference from TransformerLens: `hook_embed` holds the whole input to the first block (token
 * embedding plus learned positions where the family has them), since a rotary family has no position
 * embedding to hook separately.
 *
 *   hook_embed                    [B, T, d]     input to the first block
 *   blocks.{l}.hook_resid_pre     [B, T, d]     residual stream entering block l
 *   blocks.{l}.attn.hook_pattern  [B, H, T, T]  attention probabilities
 *   blocks.{l}.hook_resid_mid     [B, T, d]     after the attention sublayer
 *   blocks.{l}.hook_resid_post    [B, T, d]     after the MLP sublayer (= resid_pre of block l+1)
 *   ln_final.hook_normalized      [B, T, d]     after the final norm
 */
import { tf } from "../backend/engine";

export const hook = {
  embed: "hook_embed",
  residPre: (l: number) => `blocks.${l}.hook_resid_pre`,
  pattern: (l: number) => `blocks.${l}.attn.hook_pattern`,
  residMid: (l: number) => `blocks.${l}.hook_resid_mid`,
  residPost: (l: number) => `blocks.${l}.hook_resid_post`,
  finalNorm: "ln_final.hook_normalized",
} as const;

export function hookNames(layers: number): string[] {
  const names: string[] = [hook.embed];
  for (let l = 0; l < layers; l++) names.push(hook.residPre(l), hook.pattern(l), hook.residMid(l), hook.residPost(l));
  names.push(hook.finalNorm);
  return names;
}

/** Recorded activations by hook name. Recorded tensors are kept: the caller disposes them. */
export type Cache = Map<string, tf.Tensor>;

/** Hook points to record; "all" records every one. */
export type HookRequest = readonly string[] | "all";

/** Records the wanted hook points of one forward pass into its cache. */
export class HookRecorder {
  readonly cache: Cache = new Map();
  private readonly wanted: Set<string>;

  constructor(layers: number, request: HookRequest = []) {
    this.wanted = new Set(request === "all" ? hookNames(layers) : request);
  }

  wants(name: string): boolean {
    return this.wanted.has(name);
  }

  /** Keeps x (reshaped to `shape` where given, e.g. the flat stream [B*T, d] as [B, T, d]) under `name` if wanted. */
  record(name: string, x: tf.Tensor, shape?: number[]): void {
    if (this.wanted.has(name)) this.cache.set(name, tf.keep(shape ? x.reshape(shape) : x.clone()));
  }

  /** A callback that records under `name` where it is wanted, else undefined (so that nothing extra is computed). */
  recorderOf(name: string): ((x: tf.Tensor) => void) | undefined {
    return this.wanted.has(name) ? (x) => this.record(name, x) : undefined;
  }
}
