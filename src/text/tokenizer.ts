/**
 * The project's byte-level BPE tokenizer (data/tokenizer.json, made by scripts/train-tokenizer.ts),
 * run with the pure-JS @huggingface/tokenizers so that it works wherever Node does.
 *
 * Layout of the 4096 ids: byte-level BPE first, then SPECIAL_TOKENS in their order. Special tokens are
 * never produced from text: `encode` runs a copy of the tokenizer without its added tokens, so a user
 * writing "<|eos|>" gets the BPE pieces of those characters, not the end-of-sequence id. Prompts put
 * specials in by id (`special`, `labelToken`, `roleToken`).
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { createHash } from "crypto";
import { readFileSync } from "fs";
import { join, resolve } from "path";
import { projectRoot } from "../data/load";
import { MAX_LABELS, Role } from "../data/schema";

export { MAX_LABELS };

const ROLE_TOKENS: Record<Role, string> = {
  system: "<|system|>",
  user: "<|user|>",
  assistant: "<|assistant|>",
  premise: "<|premise|>",
  knowledge: "<|knowledge|>",
};

/** In id order, directly after the BPE ids. */
export const SPECIAL_TOKENS: readonly string[] = [
  "<|pad|>",
  "<|bos|>",
  "<|eos|>",
  "<|task|>",
  "<|response|>",
  "<|score|>",
  "<|expl|>",
  "<|answer|>",
  "<|filler|>",
  ...Object.values(ROLE_TOKENS),
  ...Array.from({ length: MAX_LABELS }, (_, k) => `<|label_${k}|>`),
];

/** The parts of a tokenizer.json this module reads; the rest is passed through to the library. */
interface TokenizerJson {
  model: { vocab: Record<string, number> };
  added_tokens: { id: number; content: string }[];
}

/** Without it, decode "cleans up" spaces before punctuation and round-trips break. */
const LIBRARY_CONFIG = { clean_up_tokenization_spaces: false };

export class XftTokenizer {
  private static readonly cache = new Map<string, XftTokenizer>();

  /** sha256 of the tokenizer.json text (`hash`, set by the constructor) identifies the tokenizer in run records. */
  /** BPE ids plus special tokens. */
  readonly vocabSize: number;
  /** Ids of `<|label_0|>` ... `<|label_15|>`. */
  readonly labelTokenIds: number[];
  /** The tokenizer without added tokens: maps text to BPE ids only. */
  private readonly plain: Tokenizer;
  private readonly specialIds = new Map<string, number>();
  private readonly specialById = new Map<number, string>();

  /** Loads a tokenizer.json (default `<XFT_ROOT or cwd>/data/tokenizer.json`); one instance per path. */
  static load(path: string = join(projectRoot(), "data", "tokenizer.json")): XftTokenizer {
    const key = resolve(path);
    let tokenizer = XftTokenizer.cache.get(key);
    if (!tokenizer) {
      const text = readFileSync(key, "utf8");
      tokenizer = new XftTokenizer(JSON.parse(text) as TokenizerJson, key, createHash("sha256").update(text).digest("hex"));
      XftTokenizer.cache.set(key, tokenizer);
    }
    return tokenizer;
  }

  private constructor(
    json: TokenizerJson,
    source: string,
    readonly hash: string,
  ) {
    const bpeSize = Object.keys(json.model.vocab).length;
    const added = new Map(json.added_tokens.map((t) => [t.content, t.id]));
    SPECIAL_TOKENS.forEach((token, i) => {
      const id = added.get(token);
      if (id !== bpeSize + i) {
        throw new Error(`${source}: special token ${token} has id ${id}, expected ${bpeSize + i} (after the ${bpeSize} BPE ids)`);
      }
      this.specialIds.set(token, id);
      this.specialById.set(id, token);
    });
    this.vocabSize = bpeSize + SPECIAL_TOKENS.length;
    this.labelTokenIds = Array.from({ length: MAX_LABELS }, (_, k) => this.special(`<|label_${k}|>`));
    this.plain = new Tokenizer({ ...json, added_tokens: [] }, LIBRARY_CONFIG);
  }

  /** Token ids of plain text; no special tokens are added, and none can come out of the text. */
  encode(text: string): number[] {
    return text === "" ? [] : this.plain.encode(text, { add_special_tokens: false }).ids;
  }

  /** Text of ids; special tokens are written as their strings. */
  decode(ids: number[]): string {
    let text = "";
    let run: number[] = [];
    const flush = () => {
      if (run.length > 0) text += this.plain.decode(run, LIBRARY_CONFIG);
      run = [];
    };
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new RangeError(`token id ${id} is outside 0..${this.vocabSize - 1}`);
      const special = this.specialById.get(id);
      if (special === undefined) {
        run.push(id);
      } else {
        flush();
        text += special;
      }
    }
    flush();
    return text;
  }

  /** Id of a special token given as its exact string, e.g. special("<|bos|>"). */
  special(name: string): number {
    const id = this.specialIds.get(name);
    if (id === undefined) throw new Error(`unknown special token ${JSON.stringify(name)}; known: ${SPECIAL_TOKENS.join(" ")}`);
    return id;
  }

  /** Id of `<|label_index|>`: the token for a dataset's label at that index of its labelSet. */
  labelToken(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= MAX_LABELS) {
      throw new RangeError(`label index ${index} is outside 0..${MAX_LABELS - 1}`);
    }
    return this.labelTokenIds[index];
  }

  /** Id of the token that opens a context turn of this role, e.g. `<|user|>`. */
  roleToken(role: Role): number {
    return this.special(ROLE_TOKENS[role]);
  }
}
