import assert from "node:assert/strict";
import { test } from "node:test";
import { loadDataset } from "../../src/data/load";
import { xftFormat } from "../../src/text/format";
import { XftTokenizer } from "../../src/text/tokenizer";
import { PseudoExplanations, PSEUDO_CONDITIONS, realExplanation, words } from "../../src/train/pseudo";
import { encodeExample, explanationVariants } from "../../src/train/sequences";

const tok = XftTokenizer.load();
const fmt = xftFormat(tok);
const corpus = loadDataset("esnli").train.slice(0, 400);
const pseudo = new PseudoExplanations(corpus, fmt, 1);
const sorted = (xs: string[]) => [...xs].sort();

test("shuffled keeps the multiset of the example's own explanation words, in another order", () => {
  let reordered = 0;
  for (const ex of corpus.slice(0, 100)) {
    const own = words(realExplanation(ex));
    const shuffled = words(pseudo.shuffled(ex));
    assert.deepEqual(sorted(shuffled), sorted(own));
    if (shuffled.join(" ") !== own.join(" ")) reordered++;
  }
  assert.ok(reordered > 90, `only ${reordered} of 100 were reordered`);
});

test("bag-of-words draws the same number of words from the corpus explanation distribution", () => {
  const counts = new Map<string, number>();
  let total = 0;
  for (const ex of corpus)
    for (const w of words(realExplanation(ex))) {
      counts.set(w, (counts.get(w) ?? 0) + 1);
      total++;
    }
  const drawn = new Map<string, number>();
  let n = 0;
  for (const ex of corpus) {
    const bow = words(pseudo.bagOfWords(ex));
    assert.equal(bow.length, words(realExplanation(ex)).length);
    for (const w of bow) {
      assert.ok(counts.has(w), `"${w}" is not a corpus explanation word`);
      drawn.set(w, (drawn.get(w) ?? 0) + 1);
      n++;
    }
  }
  // The most frequent corpus words are drawn about as often as they occur (within 3 binomial SDs).
  const top = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 5);
  for (const [w, c] of top) {
    const p = c / total;
    const sd = Math.sqrt(n * p * (1 - p));
    assert.ok(Math.abs((drawn.get(w) ?? 0) - n * p) < 3 * sd, `"${w}": drawn ${drawn.get(w)}, expected ${(n * p).toFixed(0)}`);
  }
});

test("random and filler match the real explanation's token count (after the cap)", () => {
  for (const cap of [8, 48]) {
    for (const ex of corpus.slice(0, 50)) {
      const count = Math.min(cap, tok.encode(realExplanation(ex)).length);
      const random = pseudo.tokens(ex, "label+random", cap);
      const filler = pseudo.tokens(ex, "label+filler", cap);
      assert.equal(random.length, count);
      assert.equal(filler.length, count);
      assert.ok(
        random.every((id) => id >= 0 && id < tok.special("<|pad|>")),
        "random tokens are BPE tokens, never specials",
      );
      assert.ok(filler.every((id) => id === tok.special("<|filler|>")));
    }
  }
});

test("mismatched never returns the example's own explanation", () => {
  for (const ex of corpus) assert.notEqual(pseudo.mismatched(ex), realExplanation(ex));
  // Even in a corpus of two where one explanation is duplicated.
  const twin = { ...corpus[0], id: "twin" };
  const tiny = new PseudoExplanations([corpus[0], twin, corpus[1]], fmt, 3);
  assert.equal(tiny.mismatched(corpus[0]), realExplanation(corpus[1]));
});

test("pseudo-explanations are deterministic in (seed, example) and change with the seed", () => {
  const again = new PseudoExplanations(corpus, fmt, 1);
  const other = new PseudoExplanations(corpus, fmt, 2);
  for (const condition of PSEUDO_CONDITIONS) {
    const a = corpus.slice(0, 20).map((ex) => pseudo.tokens(ex, condition, 48).join());
    assert.deepEqual(
      corpus.slice(0, 20).map((ex) => again.tokens(ex, condition, 48).join()),
      a,
      condition,
    );
    if (condition !== "label+filler")
      assert.notDeepEqual(
        corpus.slice(0, 20).map((ex) => other.tokens(ex, condition, 48).join()),
        a,
        condition,
      );
  }
});

test("every pseudo condition builds a label-first target: label, <|expl|>, pseudo-explanation, <|eos|>", () => {
  const ex = corpus[0];
  for (const condition of PSEUDO_CONDITIONS) {
    const e = encodeExample(ex, condition, fmt, { maxLen: 128, maxExplTokens: 48 }, pseudo);
    const target = e.tokens.slice(e.promptLen);
    assert.equal(target[0], tok.labelToken(ex.labelSet.indexOf(ex.label)));
    assert.equal(target[1], tok.special("<|expl|>"));
    assert.deepEqual(target.slice(2, -1), pseudo.tokens(ex, condition, 48));
    assert.equal(target.at(-1), tok.special("<|eos|>"));
  }
  assert.throws(() => encodeExample(ex, "label+bow", fmt, { maxLen: 128, maxExplTokens: 48 }), /needs pseudo-explanations/);
});

test("explanation variants: what each explanation condition trains on, decoded, the filler run written once with its count", () => {
  const ex = corpus[0];
  const variants = explanationVariants(ex, fmt, 8, pseudo);
  assert.deepEqual(
    variants.map((v) => v.condition),
    ["label+expl", ...PSEUDO_CONDITIONS],
  );
  for (const v of variants) {
    const e = encodeExample(ex, v.condition, fmt, { maxLen: 128, maxExplTokens: 8 }, pseudo);
    assert.equal(v.tokens, e.tokens.length - e.promptLen - 3, `${v.condition}: the target's tokens between <|expl|> and <|eos|>`);
  }
  assert.equal(variants[0].text, tok.decode(tok.encode(realExplanation(ex)).slice(0, 8)));
  const filler = variants.find((v) => v.condition === "label+filler")!;
  assert.equal(filler.text, `<|filler|> ×${filler.tokens}`);
});

test("bag-of-words and mismatched draw from the example's own dimension", () => {
  const conv = loadDataset("conv-chatbot-arena").train.slice(0, 300);
  const byDimension = new PseudoExplanations(conv, fmt, 4);
  const explanationsOf = new Map<string, Set<string>>();
  const wordsOf = new Map<string, Set<string>>();
  for (const ex of conv) {
    if (!explanationsOf.has(ex.dimension)) {
      explanationsOf.set(ex.dimension, new Set());
      wordsOf.set(ex.dimension, new Set());
    }
    explanationsOf.get(ex.dimension)!.add(realExplanation(ex));
    for (const w of words(realExplanation(ex))) wordsOf.get(ex.dimension)!.add(w);
  }
  assert.ok(explanationsOf.size >= 2, "the fixture has several dimensions");
  for (const ex of conv.slice(0, 60)) {
    assert.ok(explanationsOf.get(ex.dimension)!.has(byDimension.mismatched(ex)), `${ex.id}: mismatched from another dimension`);
    for (const w of words(byDimension.bagOfWords(ex))) assert.ok(wordsOf.get(ex.dimension)!.has(w), `${ex.id}: "${w}" from another dimension`);
  }
});
