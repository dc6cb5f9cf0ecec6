/**
 * Rubric raters: the built-in stand-ins for the paper's three teacher LLMs. A rater is a weighting of
 * signals (signals.ts) per dimension; its raw value is the weighted mean of the signals' goodness. The
 * three profiles read different signals with different weights, so they disagree the way different
 * judges do while tracking the same qualities.
 */
import { CalibrationSet, Conversation, DIMENSIONS, Dimension, Judgment, Rater } from "./judgment";
import { SIGNALS, SignalName, SourceStats, analyse, fitSourceStats } from "./signals";
import { STRATEGIES, quantilePosition, scoreAtPosition, toFivePoint } from "./strategies";

export interface RubricProfile {
  name: string;
  /** What the rater attends to, for data cards. */
  focus: string;
  /** Signal weights per dimension (each dimension's weights sum to 1). */
  weights: Record<Dimension, Partial<Record<SignalName, number>>>;
}

export const RUBRIC_PROFILES: readonly RubricProfile[] = [
  {
    name: "lexical",
    focus: "counts words, phrases and word forms",
    weights: {
      naturalness: { "repeated-bigrams": 0.35, "function-words": 0.3, symbols: 0.2, boilerplate: 0.15 },
      comprehensiveness: { coverage: 0.6, length: 0.4 },
      "on-topic": { overlap: 0.5, "char-trigrams": 0.3, "names-and-numbers": 0.2 },
    },
  },
  {
    name: "structural",
    focus: "reads sentences, layout, questions, names, numbers and the recent thread",
    weights: {
      naturalness: { "sentence-length": 0.35, "repeated-trigrams": 0.25, boilerplate: 0.2, capitalisation: 0.2 },
      comprehensiveness: { questions: 0.45, structure: 0.35, length: 0.2 },
      "on-topic": { "recent-turns": 0.5, "names-and-numbers": 0.3, "tfidf-last-turn": 0.2 },
    },
  },
  {
    name: "distributional",
    focus: "weighs terms by their rarity in the source and reads word statistics",
    weights: {
      naturalness: { "word-length": 0.35, diversity: 0.3, "repeated-trigrams": 0.25, symbols: 0.1 },
      comprehensiveness: { "weighted-coverage": 0.35, "content-words": 0.35, detail: 0.3 },
      "on-topic": { "tfidf-conversation": 0.7, overlap: 0.3 },
    },
  },
];

const DIMENSION_TITLES: Record<Dimension, string> = {
  naturalness: "Naturalness",
  comprehensiveness: "Comprehensiveness",
  "on-topic": "On-topic",
};

/** One signal's part in a raw value. */
export interface SignalReading {
  signal: SignalName;
  weight: number;
  goodness: number;
  clause: string;
}

export interface RubricReading {
  /** Weighted mean goodness, in [0, 1]. */
  raw: number;
  signals: SignalReading[];
}

interface Fitted {
  stats: SourceStats;
  /** Sorted raw values per dimension: of every training conversation, and of the anchors. */
  reference: Record<Dimension, { train: number[]; anchors: number[] }>;
  /** Mean goodness of each signal over the training split, the baseline evidence is judged against. */
  signalMeans: Map<SignalName, number>;
}

export class RubricRater implements Rater {
  private fitted: Fitted | undefined;

  constructor(readonly profile: RubricProfile) {}

  get name(): string {
    return this.profile.name;
  }

  fit({ train, anchors }: CalibrationSet): void {
    if (train.length === 0) throw new Error(`rater ${this.name}: no training conversations to calibrate on`);
    if (anchors.length === 0) throw new Error(`rater ${this.name}: no anchor conversations`);
    const stats = fitSourceStats(train);
    const signalMeans = new Map<SignalName, number>();
    const reference = {} as Fitted["reference"];
    for (const dimension of DIMENSIONS) {
      const readings = train.map((c) => this.read(c, dimension, stats));
      for (const signal of Object.keys(this.profile.weights[dimension]) as SignalName[]) {
        const total = readings.reduce((s, r) => s + r.signals.find((x) => x.signal === signal)!.goodness, 0);
        signalMeans.set(signal, total / readings.length);
      }
      const ascending = (xs: number[]) => xs.sort((a, b) => a - b);
      reference[dimension] = {
        train: ascending(readings.map((r) => r.raw)),
        anchors: ascending(anchors.map((c) => this.read(c, dimension, stats).raw)),
      };
    }
    this.fitted = { stats, reference, signalMeans };
  }

  /** The raw value and the signal readings behind it (needs fit() for the source's term statistics). */
  reading(conversation: Conversation, dimension: Dimension): RubricReading {
    return this.read(conversation, dimension, this.mustBeFitted().stats);
  }

  async judge(conversation: Conversation, dimension: Dimension): Promise<Judgment[]> {
    const fitted = this.mustBeFitted();
    const reading = this.read(conversation, dimension, fitted.stats);
    return STRATEGIES.map((strategy) => {
      const reference = fitted.reference[dimension][strategy.anchors ? "anchors" : "train"];
      const position = quantilePosition(reading.raw, reference);
      const scaleScore = scoreAtPosition(position, strategy.scale);
      const score = toFivePoint(scaleScore, strategy.scale);
      const evidence = this.evidenceFor(score, position, reading, fitted.signalMeans);
      const against = strategy.anchors ? " against the anchors" : "";
      return {
        rater: this.name,
        strategy: strategy.name,
        scaleScore,
        score,
        explanation: `${DIMENSION_TITLES[dimension]} ${scaleScore}/${strategy.scale}${against}: ${evidence.join("; ")}.`,
        evidence,
      };
    });
  }

  private mustBeFitted(): Fitted {
    if (this.fitted === undefined) throw new Error(`rater ${this.name}: call fit() with the source's training conversations first`);
    return this.fitted;
  }

  private read(conversation: Conversation, dimension: Dimension, stats: SourceStats): RubricReading {
    const text = analyse(conversation);
    const signals = Object.entries(this.profile.weights[dimension]).map(([name, weight]): SignalReading => {
      const signal = name as SignalName;
      const { goodness, clause } = SIGNALS[signal].measure(text, stats);
      return { signal, weight: weight!, goodness, clause };
    });
    const raw = signals.reduce((s, x) => s + x.weight * x.goodness, 0) / signals.reduce((s, x) => s + x.weight, 0);
    return { raw, signals };
  }

  /**
   * Two clauses that back the score: for a high score (>= 3.5 on 1-5) the signals that lift the raw value
   * most above the source's average (weight x (goodness - training mean)), for a low one (<= 2.5) those
   * that pull it down most, for a middle score the strongest of each, the side the raw value leans to
   * (its quantile position above or below one half) first.
   */
  private evidenceFor(score: number, position: number, reading: RubricReading, means: Map<SignalName, number>): string[] {
    const byLift = reading.signals
      .map((s) => ({ clause: s.clause, lift: s.weight * (s.goodness - means.get(s.signal)!) }))
      .sort((a, b) => b.lift - a.lift);
    const [up, down] = [byLift, [...byLift].reverse()];
    let picked = [up[0], down[0]];
    if (score >= 3.5) picked = up.slice(0, 2);
    else if (score <= 2.5) picked = down.slice(0, 2);
    else if (position < 0.5) picked = [down[0], up[0]];
    return [...new Set(picked.map((p) => p.clause))];
  }
}

/** The three built-in rubric raters, unfitted. */
export function rubricRaters(): RubricRater[] {
  return RUBRIC_PROFILES.map((p) => new RubricRater(p));
}
