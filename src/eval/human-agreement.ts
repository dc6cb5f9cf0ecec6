/**
 * A trained rater against people: the rater's expected score (the label values weighted by its label
 * probabilities, so that a confident 4 and a hesitant 3-or-5 differ) correlated by Spearman's rho with the
 * annotators' mean rating on each quality the dataset's people rated (src/data/human-ratings.ts). Rank correlation,
 * because the rater's 1-5 scale and a quality's scale (USR's Natural is 1-3) need not match, only their order.
 */
import type { HumanRatings } from "../data/human-ratings";
import { spearman } from "../teacher/agreement";
import type { Prediction } from "./evaluated-run";

export interface HumanAgreementRow {
  quality: string;
  /** Predictions whose example people rated. */
  n: number;
  /** NaN when either side is constant. */
  rho: number;
}

/** Each label's value; a label that is not a number has none, so a rater of such labels has no expected score. */
export function labelValues(labelSet: readonly string[]): number[] {
  const values = labelSet.map(Number);
  const bad = labelSet.filter((_, k) => !Number.isFinite(values[k]));
  if (bad.length > 0)
    throw new Error(`an expected score needs numeric labels; ${bad.map((l) => `"${l}"`).join(", ")} ${bad.length === 1 ? "is" : "are"} not`);
  return values;
}

export function expectedScore(probs: readonly number[], values: readonly number[]): number {
  return probs.reduce((s, p, k) => s + p * values[k], 0);
}

/** Rho per rated quality over the predictions of rated examples; none rated is an error naming the ratings file. */
export function humanAgreement(
  predictions: readonly Pick<Prediction, "id" | "probs">[],
  labelSet: readonly string[],
  ratings: HumanRatings,
): HumanAgreementRow[] {
  const values = labelValues(labelSet);
  const rated = predictions.flatMap((p) => {
    const human = ratings.means.get(p.id);
    return human === undefined ? [] : [{ score: expectedScore(p.probs, values), human }];
  });
  if (rated.length === 0) throw new Error(`none of the ${predictions.length} predictions is of a response rated in ${ratings.file}`);
  const scores = rated.map((r) => r.score);
  return ratings.qualities.map((quality) => ({
    quality,
    n: rated.length,
    rho: spearman(
      scores,
      rated.map((r) => r.human[quality]),
    ),
  }));
}
