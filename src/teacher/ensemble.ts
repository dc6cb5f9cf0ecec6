/**
 * The teacher: raters x prompt strategies, merged. As in the paper, scores are averaged over every
 * (rater, strategy) judgment; the explanations are merged into one by a fixed rule (the paper used an
 * LLM for that step): the evidence clauses that most support the merged score.
 */
import { Rng, hashSeed } from "../util/rng";
import { Conversation, Dimension, Judgment, Rater } from "./judgment";

/** Anchor conversations per source, drawn from its training split. */
export const ANCHOR_COUNT = 8;
/** Merged explanations stay under this many words. */
export const EXPLANATION_MAX_WORDS = 40;

export interface TeacherRating {
  /** The merged score, 1-5. */
  label: number;
  /** Mean of the judgments' 1-5 scores, before rounding. */
  mean: number;
  explanation: string;
  judgments: Judgment[];
}

/** Mean of 1-5 scores, rounded half up and clamped to 1-5 (the epsilon keeps 3.4999999 from float sums at 3.5). */
export function mergeScores(scores: readonly number[]): { mean: number; label: number } {
  if (scores.length === 0) throw new Error("mergeScores needs at least one score");
  const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
  return { mean, label: Math.min(5, Math.max(1, Math.floor(mean + 0.5 + 1e-9))) };
}

const normalised = (clause: string) =>
  clause
    .toLowerCase()
    .replace(/[^\p{L}\p{N}' ]+/gu, " ")
    .replace(/\s+/g, " ")
    .trim();
const wordCount = (text: string) => text.split(/\s+/).filter((w) => w !== "").length;

/**
 * One explanation from many. Each clause a judgment cites earns support 1 / (1 + 2 |that judgment's score -
 * merged label|), in full for the judgment's first clause and half for later ones. The best-supported
 * clause comes first, then the next one that is not a near-copy of it (same words, or one contains the
 * other); the second is left out if the two would pass EXPLANATION_MAX_WORDS, and a first clause longer
 * than that is cut.
 */
export function mergeExplanations(judgments: readonly Judgment[], label: number): string {
  const support = new Map<string, number>();
  for (const j of judgments) {
    j.evidence.forEach((clause, i) => {
      const s = (i === 0 ? 1 : 0.5) / (1 + 2 * Math.abs(j.score - label));
      support.set(clause, (support.get(clause) ?? 0) + s);
    });
  }
  // Stable sort: equal support keeps the order of first citation.
  const ranked = [...support].sort((a, b) => b[1] - a[1]).map(([clause]) => clause);
  if (ranked.length === 0) throw new Error("mergeExplanations: the judgments cite no evidence");
  const first = ranked[0];
  const second = ranked.slice(1).find((c) => {
    const [a, b] = [normalised(first), normalised(c)];
    return !a.includes(b) && !b.includes(a);
  });
  const clauses = second !== undefined && wordCount(first) + wordCount(second) <= EXPLANATION_MAX_WORDS ? [first, second] : [first];
  let text = clauses.join("; ");
  if (wordCount(text) > EXPLANATION_MAX_WORDS) text = text.split(/\s+/).slice(0, EXPLANATION_MAX_WORDS).join(" ") + " ...";
  text = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(text) ? text : text + ".";
}

export class Teacher {
  private fitted = false;

  constructor(
    readonly raters: readonly Rater[],
    readonly seed: number,
    readonly anchorCount: number = ANCHOR_COUNT,
  ) {
    if (raters.length === 0) throw new Error("a teacher needs at least one rater");
  }

  /** Draws the anchors (seeded) from one source's training conversations and fits every rater to them. */
  fit(train: readonly Conversation[]): void {
    if (train.length === 0) throw new Error("Teacher.fit: no training conversations");
    const anchors = new Rng(hashSeed(this.seed, "anchors")).shuffle(train).slice(0, this.anchorCount);
    for (const rater of this.raters) rater.fit({ train, anchors });
    this.fitted = true;
  }

  async rate(conversation: Conversation, dimension: Dimension): Promise<TeacherRating> {
    if (!this.fitted) throw new Error("Teacher: call fit() with the source's training conversations first");
    const judgments = (await Promise.all(this.raters.map((r) => r.judge(conversation, dimension)))).flat();
    const { mean, label } = mergeScores(judgments.map((j) => j.score));
    return { label, mean, explanation: mergeExplanations(judgments, label), judgments };
  }
}
