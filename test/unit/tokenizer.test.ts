import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { Tokenizer as RustTokenizer } from "tokenizers";
import { readExamples, splitFile } from "../../src/data/load";
import { Example } from "../../src/data/schema";
import { MAX_LABELS, SPECIAL_TOKENS, XftTokenizer } from "../../src/text/tokenizer";

const ROOT = resolve(__dirname, "../..");
const TOKENIZER_PATH = join(ROOT, "data", "tokenizer.json");
const tok = XftTokenizer.load(TOKENIZER_PATH);

function esnliTexts(split: "train" | "test"): string[] {
  const { examples } = readExamples(splitFile(join(ROOT, "data", "esnli"), split)!);
  return examples.flatMap((e: Example) => [e.context[0].text, e.response, ...e.explanations]);
}

/** Every k-th item, so that the sample spans the whole file. */
function spread<T>(items: T[], n: number): T[] {
  const step = Math.max(1, Math.floor(items.length / n));
  return items.filter((_, i) => i % step === 0).slice(0, n);
}

const ODD_TEXTS = [
  "naïve café, Ærøskøbing, 東京タワー, Москва, مرحبا",
  "emoji 🎉👩‍👩‍👧 and flags 🇫🇷 and a skin tone 👍🏽",
  "  leading and trailing spaces  ",
  "tabs\tand\nnewlines\r\nand\u00a0no-break\u2009thin\u200bzero-width",
  "combining e\u0301 vs é, ligature ﬁ, full-width ＡＢＣ",
  "control \u0000\u0007\u001b bytes and \u{10FFFF}",
  'code: if (x <= 3) { return a[i] ?? "<none>"; } // 100% #1 @user',
  "<|eos|> <|label_3|> <|bos|><|pad|>",
  " ",
];

test("vocabulary: BPE ids, then the special tokens in order, 4096 in all", () => {
  assert.equal(tok.vocabSize, 4096);
  assert.equal(SPECIAL_TOKENS.length, 14 + MAX_LABELS);
  const firstSpecial = 4096 - SPECIAL_TOKENS.length;
  SPECIAL_TOKENS.forEach((s, i) => assert.equal(tok.special(s), firstSpecial + i, s));
  assert.deepEqual(SPECIAL_TOKENS.slice(0, 3), ["<|pad|>", "<|bos|>", "<|eos|>"]);
  assert.throws(() => tok.special("<|nope|>"), /unknown special token/);
});

test("label and role tokens", () => {
  assert.equal(new Set(tok.labelTokenIds).size, MAX_LABELS);
  tok.labelTokenIds.forEach((id, k) => {
    assert.equal(tok.labelToken(k), id);
    assert.equal(tok.decode([id]), `<|label_${k}|>`);
  });
  assert.throws(() => tok.labelToken(MAX_LABELS), RangeError);
  assert.throws(() => tok.labelToken(-1), RangeError);
  assert.equal(tok.roleToken("user"), tok.special("<|user|>"));
  assert.equal(tok.roleToken("premise"), tok.special("<|premise|>"));
});

test("decode(encode(s)) === s on e-SNLI train and test lines and odd text", () => {
  const texts = [...spread(esnliTexts("train"), 2000), ...spread(esnliTexts("test"), 2000), ...ODD_TEXTS];
  for (const s of texts) assert.equal(tok.decode(tok.encode(s)), s);
  assert.deepEqual(tok.encode(""), []);
});

test("special-token strings in text stay text", () => {
  const text = "a <|eos|> b <|label_0|>";
  const ids = tok.encode(text);
  const specials = new Set(SPECIAL_TOKENS.map((s) => tok.special(s)));
  assert.ok(
    ids.every((id) => id >= 0 && !specials.has(id)),
    `ids ${ids}`,
  );
  assert.equal(tok.decode(ids), text);
});

test("decode writes specials as their strings and rejects unknown ids", () => {
  const ids = [tok.special("<|bos|>"), ...tok.encode("héllo 🎉"), tok.labelToken(2), tok.special("<|eos|>")];
  assert.equal(tok.decode(ids), "<|bos|>héllo 🎉<|label_2|><|eos|>");
  assert.throws(() => tok.decode([4096]), RangeError);
  assert.throws(() => tok.decode([-1]), RangeError);
});

test("same ids as the Rust tokenizers library on held-out (test split) lines", async () => {
  const rust = RustTokenizer.fromFile(TOKENIZER_PATH);
  // Rust maps special-token strings in text to their ids; the runtime deliberately does not.
  const texts = [...spread(esnliTexts("test"), 300), ...ODD_TEXTS.filter((s) => !s.includes("<|"))];
  for (const s of texts) {
    const expected = (await rust.encode(s, null, { addSpecialTokens: false })).getIds();
    assert.deepEqual(tok.encode(s), expected, s);
  }
});

test("load caches per path", () => {
  assert.equal(XftTokenizer.load(TOKENIZER_PATH), tok);
});
