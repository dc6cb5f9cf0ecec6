/**
 * The tokenizer files of a checkpoint folder xft writes (an export, a continued pretraining). xft's own tokenizer (data/tokenizer.json: byte-level BPE, then xft's special
 * tokens as added tokens) is copied as it is, with a tokenizer_config.json that names `<|bos|>`, `<|eos|>` and
 * `<|pad|>` as transformers' bos, eos and pad. A checkpoint's tokenizer files are copied unchanged: the export is
 * read exactly as the checkpoint was.
 */
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../../data/load";
import { CHAT_TEMPLATE_FILE, SPECIAL_TOKENS_MAP_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from "../../text/hf-tokenizer";
import { XftTokenizer } from "../../text/tokenizer";
import { readJsonFile } from "../../util/read-file";

/** Special token ids as config.json and generation_config.json write them. */
export interface SpecialIds {
  bos_token_id?: number;
  eos_token_id?: number;
  pad_token_id?: number;
}

/** Files a save_pretrained folder may keep its tokenizer in (copied where present). */
const CHECKPOINT_TOKENIZER_FILES = [
  TOKENIZER_FILE,
  TOKENIZER_CONFIG_FILE,
  SPECIAL_TOKENS_MAP_FILE,
  CHAT_TEMPLATE_FILE,
  "vocab.json",
  "merges.txt",
  "tokenizer.model",
  "added_tokens.json",
];

const XFT_SPECIALS = { bos_token: "<|bos|>", eos_token: "<|eos|>", pad_token: "<|pad|>" } as const;

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + "\n");
}

/** xft's tokenizer into `dir`; returns the special ids for config.json. `maxLen` is the model's longest sequence. */
export function writeXftTokenizer(dir: string, maxLen: number): SpecialIds {
  const tok = XftTokenizer.load();
  fs.copyFileSync(path.join(projectRoot(), "data", TOKENIZER_FILE), path.join(dir, TOKENIZER_FILE));
  writeJson(path.join(dir, TOKENIZER_CONFIG_FILE), {
    // The fast tokenizer reads tokenizer.json as it is; the class name is understood by transformers 4 and 5.
    tokenizer_class: "PreTrainedTokenizerFast",
    ...XFT_SPECIALS,
    model_max_length: maxLen,
    // xft decodes without transformers' space clean-up, which would break round trips.
    clean_up_tokenization_spaces: false,
  });
  writeJson(path.join(dir, SPECIAL_TOKENS_MAP_FILE), XFT_SPECIALS);
  return { bos_token_id: tok.special("<|bos|>"), eos_token_id: tok.special("<|eos|>"), pad_token_id: tok.special("<|pad|>") };
}

/** A checkpoint's tokenizer files into `dir`, unchanged; returns the special ids its config.json gives. */
export function copyCheckpointTokenizer(checkpointDir: string, dir: string): SpecialIds {
  const copied = CHECKPOINT_TOKENIZER_FILES.filter((name) => fs.existsSync(path.join(checkpointDir, name)));
  if (!copied.includes(TOKENIZER_FILE)) throw new Error(`${checkpointDir}: no ${TOKENIZER_FILE} to export with the model`);
  for (const name of copied) fs.copyFileSync(path.join(checkpointDir, name), path.join(dir, name));
  const config = readJsonFile<Record<string, unknown>>(path.join(checkpointDir, "config.json"));
  const ids: SpecialIds = {};
  for (const key of ["bos_token_id", "eos_token_id", "pad_token_id"] as const) {
    if (typeof config[key] === "number") ids[key] = config[key] as number;
  }
  return ids;
}

/** generation_config.json: the checkpoint's own where it has one, else one with the special ids. */
export function writeGenerationConfig(dir: string, ids: SpecialIds, checkpointDir?: string): void {
  const own = checkpointDir && path.join(checkpointDir, "generation_config.json");
  if (own && fs.existsSync(own)) fs.copyFileSync(own, path.join(dir, "generation_config.json"));
  else writeJson(path.join(dir, "generation_config.json"), { ...ids });
}
