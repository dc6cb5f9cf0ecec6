/**
 * What every teacher rater provides, rubric or LLM: for one conversation and one dimension, a judgment
 * under each prompt strategy (a score on the strategy's scale, its 1-5 equivalent, an explanation and the
 * evidence clauses that explanation cites). The ensemble (ensemble.ts) merges them.
 */
import { Turn } from "../data/schema";
import { StrategyName } from "./strategies";

export type Dimension = "naturalness" | "comprehensiveness" | "on-topic";
export const DIMENSIONS: readonly Dimension[] = ["naturalness", "comprehensiveness", "on-topic"];

/** A response to rate and the turns before it. */
export interface Conversation {
  context: Turn[];
  response: string;
}

export interface Judgment {
  rater: string;
  strategy: StrategyName;
  /** On the strategy's own scale, 1..K. */
  scaleScore: number;
  /** scaleScore mapped to 1-5 (strategies.ts: toFivePoint). */
  score: number;
  /** The rater's own short explanation. */
  explanation: string;
  /** The clauses the explanation rests on, most important first; the merge picks among these. */
  evidence: string[];
}

/** One source's training conversations and the anchor conversations drawn from them. */
export interface CalibrationSet {
  train: readonly Conversation[];
  anchors: readonly Conversation[];
}

export interface Rater {
  readonly name: string;
  /** Called once per source before any judge(). */
  fit(calibration: CalibrationSet): void;
  /** One judgment per strategy in STRATEGIES, in that order. */
  judge(conversation: Conversation, dimension: Dimension): Promise<Judgment[]>;
}

/** The turn a response answers: the last user turn, or the last turn of any role when there is none. */
export function lastUserTurn(context: readonly Turn[]): string {
  for (let i = context.length - 1; i >= 0; i--) if (context[i].role === "user") return context[i].text;
  return context.length > 0 ? context[context.length - 1].text : "";
}
