/**
 * How an example becomes tokens for a model: the prompt's parts, the tokens that write a label, mark an
 * explanation and end a sequence. src/train/sequences.ts assembles them into training sequences and test prompts.
 *
 * xft's own models (`xftFormat`) read special tokens of xft's tokenizer (src/text/tokenizer.ts):
 *
 *   prompt  <|bos|> <|task|> dimension  <|role|> turn ...  <|response|> response  <|score|>
 *   label   <|label_k|>, one token per label;  explanation marker <|expl|>;  end <|eos|>
 *
 * A pretrained checkpoint (`plainFormat`) gets no new tokens: the prompt is plain text in its own tokenizer,
 * the label is the label's own words, and the explanation follows a plain-text cue:
 *
 *   Task: <dimension> (<labels, comma-separated>)
 *   <Role>: <turn>                                   one line per context turn (User, Assistant, Premise, ...)
 *   Response: <response>
 *   Score:                                           then " <label>", for explained conditions
 *                                                    "\nExplanation: <explanation>", then the tokenizer's eos
 *
 * Rationale first (`expl+label`), the prompt ends "Explanation:" and the target is " <explanation>\nScore: <label>"
 * and eos. Explanations are written on one line (whitespace runs become one space), so that a generated newline
 * ends a generated rationale. The checkpoint's BOS, where its tokenizer adds one, starts the prompt. On request the
 * same prompt and target go through the checkpoint's chat template (chat-format.ts, `chatFormat`).
 */
import type { Example, Role } from "../data/schema";
import type { Rng } from "../util/rng";
import type { HfTokenizer } from "./hf-tokenizer";
import type { XftTokenizer } from "./tokenizer";

/** The parts of a prompt before it is fitted into a token budget (sequences.ts, `encodePrompt`). */
export interface PromptParts {
  head: number[];
  context: number[];
  response: number[];
  /** The last tokens, after which the target starts. */
  cue: number[];
}

/** Why a generated rationale ends: the format's cue for the label, or the end of the sequence. */
export type RationaleEnd = "label" | "eos";

export interface TextFormat {
  /**
   * "xft": xft's special tokens; "plain": a pretrained checkpoint's tokenizer and a plain-text template; "chat": the
   * plain template inside the checkpoint's chat template (chat-format.ts).
   */
  readonly kind: "xft" | "plain" | "chat";
  /** sha256 of the tokenizer's file: part of a run's identity. */
  readonly tokenizerHash: string;
  readonly padId: number;
  /** Plain text to ids, with no special tokens. */
  encode(text: string): number[];
  decode(ids: number[]): string;
  /** An explanation's tokens as they follow the explanation marker (or open a rationale). */
  encodeExplanation(text: string): number[];
  promptParts(ex: Example, rationaleFirst: boolean): PromptParts;
  /** The tokens of each label of a label set, in its order, as a target writes them. */
  labelTokens(labelSet: readonly string[]): number[][];
  /** Label first: the tokens between the label and the explanation. */
  readonly explanationMarker: number[];
  /** Rationale first: the tokens after the prompt, before the rationale, and after it, before the label. */
  readonly rationaleOpen: number[];
  readonly rationaleClose: number[];
  /** The tokens that end every target. */
  readonly end: number[];
  /** Whether a generated token ends a rationale, given the label tokens; undefined: it is part of the rationale. */
  endsRationale(token: number, labels: readonly number[][]): RationaleEnd | undefined;
  /** `label+filler`'s one repeated token. */
  readonly fillerToken: number;
  /** `label+random`'s draw: an ordinary token (never a special one), uniformly. */
  randomToken(rng: Rng): number;
}

/** xft's format (see the top of this file): exactly the sequences xft's models have always trained on. */
export function xftFormat(tok: XftTokenizer): TextFormat {
  const special = (name: string) => tok.special(name);
  const eos = special("<|eos|>");
  // Ids below <|pad|> are byte-level BPE tokens; the special tokens follow (src/text/tokenizer.ts).
  const bpeSize = special("<|pad|>");
  return {
    kind: "xft",
    tokenizerHash: tok.hash,
    padId: special("<|pad|>"),
    encode: (text) => tok.encode(text),
    decode: (ids) => tok.decode(ids),
    encodeExplanation: (text) => tok.encode(text),
    promptParts: (ex) => {
      const context: number[] = [];
      for (const turn of ex.context) context.push(tok.roleToken(turn.role), ...tok.encode(turn.text));
      return {
        head: [special("<|bos|>"), special("<|task|>"), ...tok.encode(ex.dimension)],
        context,
        response: [special("<|response|>"), ...tok.encode(ex.response)],
        cue: [special("<|score|>")],
      };
    },
    labelTokens: (labelSet) => labelSet.map((_, k) => [tok.labelToken(k)]),
    explanationMarker: [special("<|expl|>")],
    rationaleOpen: [special("<|expl|>")],
    rationaleClose: [],
    end: [eos],
    endsRationale: (token, labels) => (labels.some((l) => l[0] === token) ? "label" : token === eos ? "eos" : undefined),
    fillerToken: special("<|filler|>"),
    randomToken: (rng) => rng.int(bpeSize),
  };
}

const ROLE_NAMES: Record<Role, string> = { system: "System", user: "User", assistant: "Assistant", premise: "Premise", knowledge: "Knowledge" };

/** One line: whitespace runs as one space, so that a newline in the model's output always means "rationale over". */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** The plain prompt's text before its cue: the task line, one line per context turn, the response line. */
export interface PlainPromptText {
  head: string;
  context: string[];
  response: string;
}

export function plainPromptText(ex: Example): PlainPromptText {
  const lines = plainConversationLines(ex);
  return { head: `Task: ${ex.dimension} (${ex.labelSet.join(", ")})`, context: lines.slice(0, -1), response: lines.at(-1)! };
}

/** A conversation in the plain format: a line per context turn (`\nUser: ...`), then `\nResponse: ...`, each on one line. */
export function plainConversationLines(ex: Pick<Example, "context" | "response">): string[] {
  return [...ex.context.map((turn) => `\n${ROLE_NAMES[turn.role]}: ${oneLine(turn.text)}`), `\nResponse: ${oneLine(ex.response)}`];
}

/** The word after which a target starts: the label's, or rationale first the explanation's. */
export function cueWord(rationaleFirst: boolean): string {
  return rationaleFirst ? "Explanation:" : "Score:";
}

/** A pretrained checkpoint's format (see the top of this file), in its own tokenizer. */
export function plainFormat(tok: HfTokenizer): TextFormat {
  const encode = (text: string) => (text === "" ? [] : tok.encode(text, { addSpecialTokens: false }));
  if (tok.padId === undefined && tok.eosId === undefined) {
    throw new Error(`tokenizer ${tok.hash.slice(0, 12)}: it has neither a pad nor an eos token to pad batches with`);
  }
  const special = new Set([tok.bosId, tok.eosId, tok.padId, tok.unkId].filter((id): id is number => id !== undefined));
  const end = tok.eosId === undefined ? [] : [tok.eosId];
  const [filler] = encode(".");
  return {
    kind: "plain",
    tokenizerHash: tok.hash,
    // Padding is never attended to (the mask is causal and batches are right-padded), so eos serves where there is no pad.
    padId: tok.padId ?? tok.eosId!,
    encode,
    decode: (ids) => tok.decode(ids),
    encodeExplanation: (text) => encode(" " + oneLine(text)),
    promptParts: (ex, rationaleFirst) => {
      const text = plainPromptText(ex);
      return {
        head: [...tok.addedAround.before, ...encode(text.head)],
        context: text.context.flatMap(encode),
        response: encode(text.response),
        cue: encode("\n" + cueWord(rationaleFirst)),
      };
    },
    labelTokens: (labelSet) =>
      labelSet.map((label) => {
        const ids = encode(" " + label);
        if (ids.length === 0) throw new Error(`label "${label}" has no tokens`);
        return ids;
      }),
    explanationMarker: encode("\n" + cueWord(true)),
    rationaleOpen: [],
    rationaleClose: encode("\n" + cueWord(false)),
    end,
    endsRationale: (token) => (end.includes(token) ? "eos" : tok.decode([token]).includes("\n") ? "label" : undefined),
    fillerToken: filler,
    randomToken: (rng) => {
      // Special tokens are few; redraw until an ordinary one comes (the draw stays a function of the seed).
      for (;;) {
        const id = rng.int(tok.vocabSize);
        if (!special.has(id)) return id;
      }
    },
  };
}
