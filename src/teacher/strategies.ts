/**
 * The four prompt strategies of the paper's teacher: a 1-4 and a 1-5 scale, each with and without
 * anchor examples. A rubric rater turns its raw value into a score on the strategy's scale by the raw
 * value's quantile position among reference values: without anchors the reference is every training
 * conversation of the source (cut points at the training quantiles), with anchors it is only the few
 * anchor conversations (coarser and noisier, like a prompt with a handful of examples).
 */

export type StrategyName = "1-4" | "1-4+anchors" | "1-5" | "1-5+anchors";

export interface Strategy {
  name: StrategyName;
  /** Top of the scale: scores are 1..scale. */
  scale: 4 | 5;
  anchors: boolean;
}

export const STRATEGIES: readonly Strategy[] = [
  { name: "1-4", scale: 4, anchors: false },
  { name: "1-4+anchors", scale: 4, anchors: true },
  { name: "1-5", scale: 5, anchors: false },
  { name: "1-5+anchors", scale: 5, anchors: true },
];

/** Maps a score on 1..scale linearly onto 1-5 keeping both ends: on 1-4, 1 -> 1, 2 -> 2.33, 3 -> 3.67, 4 -> 5. */
export function toFivePoint(scaleScore: number, scale: number): number {
  return 1 + ((scaleScore - 1) * 4) / (scale - 1);
}

/**
 * Where `value` falls among `sortedReference` (ascending), in [0, 1]: the share of reference values below
 * it, with ties counting half, so a value tied with every reference value sits in the middle.
 */
export function quantilePosition(value: number, sortedReference: readonly number[]): number {
  if (sortedReference.length === 0) throw new Error("quantilePosition needs at least one reference value");
  const firstAtLeast = (v: number, strict: boolean): number => {
    let lo = 0;
    let hi = sortedReference.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (strict ? sortedReference[mid] <= v : sortedReference[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const below = firstAtLeast(value, false);
  const ties = firstAtLeast(value, true) - below;
  return (below + ties / 2) / sortedReference.length;
}

/** The score on 1..scale for a quantile position: equal-width bins, 1 + floor(position x scale), top bin closed. */
export function scoreAtPosition(position: number, scale: number): number {
  return 1 + Math.min(scale - 1, Math.floor(position * scale));
}
