/**
 * A Hugging Face checkpoint's own tokenizer: its tokenizer.json run by the pure-JS @huggingface/tokenizers,
 * with the special tokens and chat template from tokenizer_config.json (and the files transformers keeps
 * beside it). Ids are those of Python's `tokenizers` for the same tokenizer.json, which is also what
 * transformers 5 gives: it drops tokenizer_config's add_bos_token/add_eos_token when a tokenizer.json is
 * there, so the tokenizer.json's post-processor alone decides which special tokens `addSpecialTokens` adds.
 *
 * Unlike XftTokenizer, added tokens written in the text (e.g. "</s>") become their ids, as in Python.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";

export const TOKENIZER_FILE = "tokenizer.json";
export const TOKENIZER_CONFIG_FILE = "tokenizer_config.json";
/** Older saves keep the special tokens here too. */
export const SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json";
/** transformers 5 (and late 4.x) saves the chat template here instead of in tokenizer_config.json. */
export const CHAT_TEMPLATE_FILE = "chat_template.jinja";

type Json = Record<string, unknown>;

/** The tokenizer.json parts read here; the rest goes to the library as it is. */
interface TokenizerJson {
  model: { vocab?: Record<string, number> | unknown[] };
  added_tokens?: { id: number; content: string }[];
}

export type SpecialRole = "bos" | "eos" | "pad" | "unk";
const SPECIAL_ROLES: readonly SpecialRole[] = ["bos", "eos", "pad", "unk"];

export interface HfEncodeOptions {
  /** Add what the tokenizer.json's post-processor adds (e.g. Llama's leading <s>), as Python's add_special_tokens. */
  addSpecialTokens: boolean;
}

export interface HfDecodeOptions {
  /** Leave out special added tokens (bos, eos, pad...), as Python's skip_special_tokens. */
  skipSpecialTokens?: boolean;
}

export class HfTokenizer {
  private static readonly cache = new Map<string, HfTokenizer>();

  /** Largest id + 1 over the model's vocabulary and the added tokens. */
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly padId: number | undefined;
  readonly unkId: number | undefined;
  /** The default chat template (Jinja), if the checkpoint has one. */
  readonly chatTemplate: string | undefined;
  /** The special tokens' strings by role, as a chat template reads them (`bos_token`, ...). */
  readonly specialTokens: Readonly<Partial<Record<SpecialRole, string>>>;
  /** What `addSpecialTokens` puts before and after a text's own ids (e.g. [bos] and []). */
  readonly addedAround: { before: number[]; after: number[] };
  private readonly tokenizer: Tokenizer;
  /** transformers' clean_up_tokenization_spaces, applied by decode; off unless the checkpoint turns it on. */
  private readonly cleanUpSpaces: boolean;

  /** The tokenizer of a checkpoint folder; one instance per folder. */
  static load(dir: string): HfTokenizer {
    const key = path.resolve(dir);
    let tokenizer = HfTokenizer.cache.get(key);
    if (!tokenizer) {
      tokenizer = HfTokenizer.fromFolder(key);
      HfTokenizer.cache.set(key, tokenizer);
    }
    return tokenizer;
  }

  private static fromFolder(dir: string): HfTokenizer {
    const file = path.join(dir, TOKENIZER_FILE);
    if (!fs.existsSync(file)) {
      throw new Error(
        `${dir}: no ${TOKENIZER_FILE} here; xft reads fast (tokenizers) tokenizers only. Where transformers is installed, ` +
          `AutoTokenizer.from_pretrained(dir).save_pretrained(dir) writes one.`,
      );
    }
    const text = fs.readFileSync(file, "utf8");
    const json = parseJson(text, file) as unknown as TokenizerJson;
    return new HfTokenizer(json, file, createHash("sha256").update(text).digest("hex"), readTokenizerSettings(dir));
  }

  private constructor(
    json: TokenizerJson,
    source: string,
    readonly hash: string,
    settings: TokenizerSettings,
  ) {
    const tokens = specialTokenStrings(settings);
    this.tokenizer = libraryTokenizer(json, tokens, source);
    this.vocabSize = largestId(json, source) + 1;
    const id = (role: SpecialRole) => specialTokenId(this.tokenizer, tokens, role, settings.source);
    this.bosId = id("bos");
    this.eosId = id("eos");
    this.padId = id("pad");
    this.unkId = id("unk");
    this.chatTemplate = settings.chatTemplate;
    this.specialTokens = settings.tokens;
    this.cleanUpSpaces = settings.cleanUpSpaces;
    this.addedAround = addedAround(this.tokenizer);
  }

  /** Token ids of the text, as Python's Tokenizer.encode(text, add_special_tokens=...).ids. */
  encode(text: string, options: HfEncodeOptions): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens }).ids;
  }

  decode(ids: number[], options: HfDecodeOptions = {}): string {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new RangeError(`token id ${id} is outside 0..${this.vocabSize - 1}`);
    }
    if (ids.length === 0) return ""; // the library throws on an empty list
    return this.tokenizer.decode(ids, { skip_special_tokens: options.skipSpecialTokens ?? false, clean_up_tokenization_spaces: this.cleanUpSpaces });
  }

  /** The id of a token given as its exact string (vocabulary or added token); undefined if there is none. */
  tokenId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }
}

/** The library's tokenizer; its errors (an unknown model or pre-tokenizer type) name the file. */
function libraryTokenizer(json: TokenizerJson, tokens: Record<string, string>, source: string): Tokenizer {
  try {
    // Decoding cleans up spaces only where the checkpoint asks for it (HfTokenizer.decode passes that).
    return new Tokenizer(json, { ...tokens, clean_up_tokenization_spaces: false });
  } catch (err) {
    throw new Error(`${source}: @huggingface/tokenizers cannot run this tokenizer (${(err as Error).message})`);
  }
}

/** What tokenizer_config.json (and the files beside it) say about special tokens, the chat template and decoding. */
interface TokenizerSettings {
  /** The file the special tokens came from, for errors. */
  source: string;
  tokens: Partial<Record<SpecialRole, string>>;
  chatTemplate: string | undefined;
  cleanUpSpaces: boolean;
}

function readTokenizerSettings(dir: string): TokenizerSettings {
  const configFile = path.join(dir, TOKENIZER_CONFIG_FILE);
  const config = readJsonIfPresent(configFile);
  const mapFile = path.join(dir, SPECIAL_TOKENS_MAP_FILE);
  const map = readJsonIfPresent(mapFile);
  const tokens: Partial<Record<SpecialRole, string>> = {};
  for (const role of SPECIAL_ROLES) {
    const field = `${role}_token`;
    const token = tokenContent(config[field], configFile, field) ?? tokenContent(map[field], mapFile, field);
    if (token !== undefined) tokens[role] = token;
  }
  return {
    source: configFile,
    tokens,
    chatTemplate: readChatTemplate(dir, config, configFile),
    cleanUpSpaces: config.clean_up_tokenization_spaces === true,
  };
}

/** A special token as tokenizer_config.json writes it: a string, or an AddedToken object with `content`. */
function tokenContent(value: unknown, file: string, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (typeof value === "object" && typeof (value as Json).content === "string") return (value as Json).content as string;
  throw new Error(`${file}: "${field}" must be a string or an object with "content", got ${JSON.stringify(value)}`);
}

/**
 * The default chat template: chat_template.jinja when present (transformers gives it priority), else
 * tokenizer_config's chat_template, a string or a list of {name, template} of which "default" is used.
 */
function readChatTemplate(dir: string, config: Json, configFile: string): string | undefined {
  const jinja = path.join(dir, CHAT_TEMPLATE_FILE);
  if (fs.existsSync(jinja)) return fs.readFileSync(jinja, "utf8");
  const value = config.chat_template;
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const named = value.find((t) => typeof t === "object" && t !== null && (t as Json).name === "default");
    const template = named === undefined ? undefined : (named as Json).template;
    if (named !== undefined && typeof template !== "string")
      throw new Error(`${configFile}: "chat_template" entry "default" has no string "template"`);
    return template as string | undefined;
  }
  throw new Error(`${configFile}: "chat_template" must be a string or a list of {name, template}`);
}

function specialTokenStrings(settings: TokenizerSettings): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [role, token] of Object.entries(settings.tokens)) out[`${role}_token`] = token;
  return out;
}

/** The id of the role's token; a token named in the config but absent from the tokenizer is an error. */
function specialTokenId(tokenizer: Tokenizer, tokens: Record<string, string>, role: SpecialRole, source: string): number | undefined {
  const token = tokens[`${role}_token`];
  if (token === undefined) return undefined;
  const id = tokenizer.token_to_id(token);
  if (id === undefined)
    throw new Error(`${source}: "${role}_token" is ${JSON.stringify(token)}, which is not in the tokenizer's vocabulary or added tokens`);
  return id;
}

/** Largest id of the model's vocabulary (a token->id map, or Unigram's list of [piece, score]) and the added tokens. */
function largestId(json: TokenizerJson, source: string): number {
  const vocab = json.model?.vocab;
  if (vocab === undefined) throw new Error(`${source}: "model.vocab" is missing`);
  // A loop, not Math.max(...ids): vocabularies of 150k tokens overflow the argument list.
  let largest = Array.isArray(vocab) ? vocab.length - 1 : -1;
  if (!Array.isArray(vocab)) for (const id of Object.values(vocab)) largest = Math.max(largest, id);
  for (const t of json.added_tokens ?? []) largest = Math.max(largest, t.id);
  return largest;
}

/** What the post-processor adds around one text, found by encoding a probe with and without it. */
function addedAround(tokenizer: Tokenizer): { before: number[]; after: number[] } {
  const probe = "a";
  const plain = tokenizer.encode(probe, { add_special_tokens: false }).ids;
  const full = tokenizer.encode(probe, { add_special_tokens: true }).ids;
  for (let start = 0; start + plain.length <= full.length; start++) {
    if (plain.every((id, i) => full[start + i] === id)) return { before: full.slice(0, start), after: full.slice(start + plain.length) };
  }
  throw new Error(
    `the tokenizer's post-processor changes a text's own ids (${JSON.stringify(plain)} -> ${JSON.stringify(full)}); xft cannot tell what it adds`,
  );
}

function parseJson(text: string, file: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
}

function readJsonIfPresent(file: string): Json {
  return fs.existsSync(file) ? parseJson(fs.readFileSync(file, "utf8"), file) : {};
}
