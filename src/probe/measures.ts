/**
 * What the probes measure at the label-decision position (docs/protocol.md, "Internals"), each a named function
 * of one example's `DecisionSnapshot`, so that a new measure is one more entry in a table:
 *
 *   hidden_entropy     per residual point: p = softmax(LN(h)) over the d hidden units, LN without learned
 *                      parameters; H(p) / log d, in [0, 1]
 *   attention_entropy  per block: entropy (nats) of the attention row at the decision position, mean over heads
 *   lens_entropy       per residual point: entropy (nats) of the logit-lens label distribution (the residual
 *                      stream through the final LayerNorm and the tied head, restricted to the K label tokens)
 *   lens_max_prob      per residual point: the largest logit-lens label probability
 *
 *   first_top1_point   the first residual point at which the final prediction is already the lens's top-1
 *   output_entropy     entropy (nats) of the label distribution the run predicts with (the sharpness)
 *   output_max_prob    its largest probability (the confidence)
 *
 * The last residual point's lens distribution is the readout's (src/eval/readout.ts): same LayerNorm, same
 * head, same label tokens.
 */
import { argmax, entropy } from "../eval/readout";

/** One example's activations at its decision position. */
export interface DecisionSnapshot {
  /** Per residual point (see `residualPoints`), the d hidden units. */
  residual: Float32Array[];
  /** Per block, the attention rows of its H heads over the n positions up to the decision position, [H * n]. */
  attention: Float32Array[];
  heads: number;
  /** Per residual point, the K logit-lens label probabilities. */
  lens: Float32Array[];
}

/** p = softmax(LN(h)) over the units, its entropy divided by log d (docs/protocol.md). */
export function hiddenStateEntropy(h: ArrayLike<number>, eps = 1e-5): number {
  const d = h.length;
  if (d < 2) throw new Error(`hidden-state entropy needs at least 2 units, got ${d}`);
  let mean = 0;
  for (let i = 0; i < d; i++) mean += h[i];
  mean /= d;
  let variance = 0;
  for (let i = 0; i < d; i++) variance += (h[i] - mean) ** 2;
  const rstd = 1 / Math.sqrt(variance / d + eps);
  const z = Array.from(h, (x) => (x - mean) * rstd);
  const top = Math.max(...z);
  const weights = z.map((x) => Math.exp(x - top));
  const total = weights.reduce((a, b) => a + b, 0);
  return entropy(weights.map((w) => w / total)) / Math.log(d);
}

/** Mean over heads of the entropy (nats) of each head's attention row; rows is [heads * n]. */
export function attentionEntropy(rows: Float32Array, heads: number): number {
  if (rows.length % heads !== 0) throw new Error(`attention rows: ${rows.length} values do not split into ${heads} heads`);
  const n = rows.length / heads;
  let sum = 0;
  for (let h = 0; h < heads; h++) sum += entropy(rows.subarray(h * n, (h + 1) * n));
  return sum / heads;
}

/** The first point whose lens top-1 is the final point's (the prediction); 0 when it is there from the embedding on. */
export function firstTop1Point(lens: readonly Float32Array[]): number {
  const final = argmax(lens[lens.length - 1]);
  return lens.findIndex((p) => argmax(p) === final);
}

/** Measures with one value per residual point or per block. */
export const LAYER_MEASURES = {
  hidden_entropy: { over: "residual", of: (s: DecisionSnapshot) => s.residual.map((h) => hiddenStateEntropy(h)) },
  attention_entropy: { over: "block", of: (s: DecisionSnapshot) => s.attention.map((a) => attentionEntropy(a, s.heads)) },
  lens_entropy: { over: "residual", of: (s: DecisionSnapshot) => s.lens.map((p) => entropy(p)) },
  lens_max_prob: { over: "residual", of: (s: DecisionSnapshot) => s.lens.map((p) => Math.max(...p)) },
} as const satisfies Record<string, { over: "residual" | "block"; of: (s: DecisionSnapshot) => number[] }>;

/** Measures with one value per example. */
export const EXAMPLE_MEASURES = {
  first_top1_point: (s: DecisionSnapshot) => firstTop1Point(s.lens),
  output_entropy: (s: DecisionSnapshot) => entropy(s.lens[s.lens.length - 1]),
  output_max_prob: (s: DecisionSnapshot) => Math.max(...s.lens[s.lens.length - 1]),
} as const satisfies Record<string, (s: DecisionSnapshot) => number>;

export type LayerMeasureName = keyof typeof LAYER_MEASURES;
export type ExampleMeasureName = keyof typeof EXAMPLE_MEASURES;
