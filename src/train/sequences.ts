/**
 * From an example to the token sequence the model trains on (docs/protocol.md, "The reproduction"), in a text format
 * (src/text/format.ts: xft's special tokens, or plain text for a pretrained checkpoint). In xft's format:
 *
 *   prompt: <|bos|> <|task|> dimension  <|role|> turn ...  <|response|> response  <|score|>
 *   target: `label`       <|label_k|> <|eos|>
 *           `label+expl`  <|label_k|> <|expl|> explanation <|eos|>
 *           `expl+label`  <|expl|> explanation <|label_k|> <|eos|>                (rationale first)
 *           `label+X`     <|label_k|> <|expl|> pseudo-explanation X <|eos|>   (src/train/pseudo.ts)
 *
 * The loss covers the target tokens only. Label-first conditions read the label out at the <|score|>
 * position. `expl+label` reads it after the explanation: in training the label token follows the last
 * explanation token; at test time the explanation is generated greedily after <|expl|> until the model
 * emits a label token, <|eos|> or the cap (src/eval/readout.ts, `readLabelsRationaleFirst`), and the
 * label is read at that position.
 */
import type { Example } from "../data/schema";
import type { TextFormat } from "../text/format";
import { PseudoCondition, PseudoExplanations, PSEUDO_CONDITIONS, realExplanation } from "./pseudo";

export const CONDITIONS = ["label", "label+expl", "expl+label", ...PSEUDO_CONDITIONS] as const;
export type Condition = (typeof CONDITIONS)[number];

export function parseCondition(name: string): Condition {
  if (!(CONDITIONS as readonly string[]).includes(name)) {
    throw new Error(`unknown condition "${name}"; known: ${CONDITIONS.join(", ")}`);
  }
  return name as Condition;
}

export interface SequenceOptions {
  /** Longest whole sequence (prompt + target), in tokens. */
  maxLen: number;
  /** Explanations are cut to this many tokens. */
  maxExplTokens: number;
}

export interface EncodedExample {
  /** Prompt followed by target (a test prompt, for the readout: the prompt alone or followed by the target). */
  tokens: number[];
  /**
   * Number of prompt tokens; tokens[promptLen - 1] is <|score|> and tokens[promptLen] the first target token.
   * Where the label is (see `labelTokenIndex`): label-first conditions have it at tokens[promptLen], read out
   * at position promptLen - 1 (<|score|>); `expl+label` has <|expl|> at tokens[promptLen] and the label at
   * tokens[tokens.length - 2], after the explanation, read out at the last explanation token (or at <|expl|>
   * when the explanation is empty).
   */
  promptLen: number;
  /** Index of the gold label in the label set. */
  label: number;
}

/**
 * The prompt tokens of an example: everything up to and including the cue after which the target starts
 * (<|score|>), within `budget` tokens. Over budget, the context keeps its end (the most recent turns) and the
 * response its start; the context gets at least half of the room when it needs it, so that a long answer never
 * pushes out the question it answers. A rationale-first prompt ends in the format's cue for an explanation.
 */
export function encodePrompt(ex: Example, fmt: TextFormat, budget: number, rationaleFirst = false): number[] {
  const { head, context, response, cue } = fmt.promptParts(ex, rationaleFirst);
  const room = budget - head.length - cue.length;
  if (room < 8) throw new Error(`example ${ex.id}: a sequence budget of ${budget} tokens leaves no room for the text`);
  const contextRoom = Math.max(room - response.length, Math.min(context.length, Math.floor(room / 2)));
  const keptContext = context.slice(Math.max(0, context.length - contextRoom));
  return [...head, ...keptContext, ...response.slice(0, room - keptContext.length), ...cue];
}

export function isPseudo(condition: Condition): condition is PseudoCondition {
  return (PSEUDO_CONDITIONS as readonly string[]).includes(condition);
}

/** The rationale-first condition: explanation, then label; at test time the explanation is generated before the label is read. */
export type RationaleFirstCondition = "expl+label";
export function isRationaleFirst(condition: Condition): condition is RationaleFirstCondition {
  return condition === "expl+label";
}

/** A condition whose target has an explanation part (real or pseudo). */
export type ExplainedCondition = Exclude<Condition, "label">;

/**
 * The explanation tokens of a condition's target (between <|expl|> and <|eos|>, or for `expl+label`
 * between <|expl|> and the label), at most `maxExplTokens`. `label+expl` and `expl+label` use the real
 * explanation; `pseudo` is needed for the pseudo-explanation conditions (it holds the corpus and the seed).
 */
export function explanationTokens(
  ex: Example,
  condition: ExplainedCondition,
  fmt: TextFormat,
  maxExplTokens: number,
  pseudo?: PseudoExplanations,
): number[] {
  if (!isPseudo(condition)) return fmt.encodeExplanation(realExplanation(ex)).slice(0, maxExplTokens);
  if (!pseudo) throw new Error(`condition ${condition} needs pseudo-explanations built from the training set`);
  return pseudo.tokens(ex, condition, maxExplTokens);
}

/** The tokens of an example's gold label, as its target writes them. */
export function goldLabelTokens(ex: Example, fmt: TextFormat): number[] {
  return fmt.labelTokens(ex.labelSet)[ex.labelSet.indexOf(ex.label)];
}

export function encodeTarget(ex: Example, condition: Condition, fmt: TextFormat, opts: SequenceOptions, pseudo?: PseudoExplanations): number[] {
  const label = goldLabelTokens(ex, fmt);
  if (condition === "label") return [...label, ...fmt.end];
  const explanation = explanationTokens(ex, condition, fmt, opts.maxExplTokens, pseudo);
  if (isRationaleFirst(condition)) return [...fmt.rationaleOpen, ...explanation, ...fmt.rationaleClose, ...label, ...fmt.end];
  return [...label, ...fmt.explanationMarker, ...explanation, ...fmt.end];
}

/**
 * Index in `e.tokens` of the first token of the gold label of an example encoded (with its target) under
 * `condition`, whose label is `labelLength` tokens long; the label is read from the next-token predictions from one
 * position earlier on.
 */
export function labelTokenIndex(e: EncodedExample, condition: Condition, fmt: TextFormat, labelLength: number): number {
  return isRationaleFirst(condition) ? e.tokens.length - fmt.end.length - labelLength : e.promptLen;
}

/**
 * Tokens a rationale-first test prompt leaves free after itself: the rationale's opening, up to `maxExplTokens`
 * generated explanation tokens, the rationale's close, the longest label and the end (the longest target
 * `expl+label` trains on).
 */
export function rationaleRoom(fmt: TextFormat, labelSet: readonly string[], opts: SequenceOptions): number {
  const longestLabel = Math.max(...fmt.labelTokens(labelSet).map((l) => l.length));
  return fmt.rationaleOpen.length + opts.maxExplTokens + fmt.rationaleClose.length + longestLabel + fmt.end.length;
}

/**
 * The test input of `expl+label`: the prompt alone (tokens = the prompt, promptLen = its length), within
 * maxLen - rationaleRoom tokens so that the generated explanation and the label fit after it. It needs no
 * explanation, so unexplained test sets work. (Label-first conditions read test prompts encoded as under
 * `label`.)
 */
export function encodeRationalePrompt(ex: Example, fmt: TextFormat, opts: SequenceOptions): EncodedExample {
  const prompt = encodePrompt(ex, fmt, opts.maxLen - rationaleRoom(fmt, ex.labelSet, opts), true);
  return { tokens: prompt, promptLen: prompt.length, label: ex.labelSet.indexOf(ex.label) };
}

export interface ExplanationVariant {
  condition: ExplainedCondition;
  tokens: number;
  /** The tokens decoded; a run of one special token (the filler) is written once with its count, to stay readable. */
  text: string;
}

/**
 * What the model reads after <|expl|> for one example under `label+expl` and every pseudo-explanation
 * condition. `expl+label` is not listed: it trains on the same tokens as `label+expl` (before the label).
 */
export function explanationVariants(ex: Example, fmt: TextFormat, maxExplTokens: number, pseudo: PseudoExplanations): ExplanationVariant[] {
  const conditions: ExplainedCondition[] = ["label+expl", ...PSEUDO_CONDITIONS];
  return conditions.map((condition) => {
    const ids = explanationTokens(ex, condition, fmt, maxExplTokens, pseudo);
    const text = fmt.decode(ids).replace(/(<\|[a-z0-9_]+\|>)\1{2,}/g, (run, token: string) => `${token} ×${run.length / token.length}`);
    return { condition, tokens: ids.length, text };
  });
}

export function encodeExample(
  ex: Example,
  condition: Condition,
  fmt: TextFormat,
  opts: SequenceOptions,
  pseudo?: PseudoExplanations,
): EncodedExample {
  const target = encodeTarget(ex, condition, fmt, opts, pseudo);
  const prompt = encodePrompt(ex, fmt, opts.maxLen - target.length, isRationaleFirst(condition));
  return { tokens: [...prompt, ...target], promptLen: prompt.length, label: ex.labelSet.indexOf(ex.label) };
}

/** An encoded example as the text a person reads: its prompt and its target, decoded. */
export function encodedText(e: EncodedExample, fmt: Pick<TextFormat, "decode">): { prompt: string; target: string } {
  return { prompt: fmt.decode(e.tokens.slice(0, e.promptLen)), target: fmt.decode(e.tokens.slice(e.promptLen)) };
}

/** A padded batch: model inputs and the positions whose next token carries loss. */
export interface Batch {
  /** [rows * length] input ids, right-padded. */
  inputs: Int32Array;
  rows: number;
  length: number;
  /** Flat positions (row * length + t) whose next-token prediction is trained, and those next tokens. */
  lossPositions: number[];
  lossTargets: number[];
  /** Non-padding input tokens. */
  realTokens: number;
}

/**
 * Pads to the longest sequence of the batch, rounded up to a multiple of 8 so that the backend sees
 * few distinct shapes. Inputs are tokens[0..n-2]; position t predicts tokens[t+1].
 * Right padding is safe with a causal mask: no real position attends to a pad.
 */
export function makeBatch(examples: readonly EncodedExample[], padId: number, maxLen: number, withTargets = true): Batch {
  const inputLens = examples.map((e) => (withTargets ? e.tokens.length - 1 : e.promptLen));
  const longest = Math.max(...inputLens);
  const length = Math.min(maxLen, Math.ceil(longest / 8) * 8);
  if (longest > length) throw new Error(`a sequence of ${longest} tokens exceeds maxLen ${maxLen}`);
  const inputs = new Int32Array(examples.length * length).fill(padId);
  const lossPositions: number[] = [];
  const lossTargets: number[] = [];
  let realTokens = 0;
  examples.forEach((e, row) => {
    const n = inputLens[row];
    for (let t = 0; t < n; t++) inputs[row * length + t] = e.tokens[t];
    realTokens += n;
    if (withTargets) {
      for (let t = e.promptLen - 1; t < n; t++) {
        lossPositions.push(row * length + t);
        lossTargets.push(e.tokens[t + 1]);
      }
    }
  });
  return { inputs, rows: examples.length, length, lossPositions, lossTargets, realTokens };
}
