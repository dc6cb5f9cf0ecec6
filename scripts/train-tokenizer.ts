/**
 * One-off: trains the project's byte-level BPE tokenizer and writes data/tokenizer.json and
 * data/tokenizer.card.md.
 *
 *   node --import tsx scripts/train-tokenizer.ts
 *
 * Training text: the train split of every dataset in data/ (context turns, responses, explanations),
 * each distinct text once, so that a premise shared by several e-SNLI pairs is not counted three times.
 * Test splits are never read. Training uses the HF Rust library (`tokenizers` npm package); the
 * project runs the result with @huggingface/tokenizers (src/text/tokenizer.ts).
 *
 * The Rust binding exposes no trainer options (its BPE trainer always targets 30000 tokens and learns
 * only the characters it sees), so the result is fixed up by editing its JSON, as
 * compute-stack.md section 4 found to work in both libraries:
 *  - the full 256-symbol byte-level alphabet, or bytes absent from the corpus would be dropped;
 *  - truncation to TOTAL_VOCAB - specials ids: ids are alphabet first, then one per merge in
 *    training order, so keeping the first merges is exactly a smaller BPE;
 *  - a ByteLevel decoder (the binding cannot set one);
 *  - special tokens added after that, so that they get the ids after the BPE part.
 */
import { createHash } from "crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join, relative, resolve } from "path";
import { BPE, byteLevelAlphabet, byteLevelPreTokenizer, Tokenizer } from "tokenizers";
import { datasetNames, readExamples, splitFile } from "../src/data/load";
import { Example } from "../src/data/schema";
import { mean } from "../src/data/stats";
import { SPECIAL_TOKENS, XftTokenizer } from "../src/text/tokenizer";

const ROOT = resolve(__dirname, "..");
const OUT_JSON = join(ROOT, "data", "tokenizer.json");
const OUT_CARD = join(ROOT, "data", "tokenizer.card.md");
const TOTAL_VOCAB = 4096;
const BPE_VOCAB = TOTAL_VOCAB - SPECIAL_TOKENS.length;

interface BpeJson {
  model: { vocab: Record<string, number>; merges: [string, string][] };
  decoder: unknown;
  added_tokens: unknown[];
}

/** The texts of one example that a model reads or writes. */
function textsOf(e: Example): string[] {
  return [...e.context.map((t) => t.text), e.response, ...e.explanations];
}

/** Keeps the seen alphabet and the first merges, adds the unseen byte symbols, renumbers densely. */
function truncateBpe(json: BpeJson, size: number): BpeJson {
  const byId = Object.entries(json.model.vocab)
    .sort((a, b) => a[1] - b[1])
    .map(([token]) => token);
  const merges = json.model.merges;
  const seenAlphabet = byId.slice(0, byId.length - merges.length);
  // Check the layout this relies on: token alphabet.length + i is the result of merge i.
  merges.forEach(([left, right], i) => {
    if (byId[seenAlphabet.length + i] !== left + right) throw new Error(`merge ${i} does not produce id ${seenAlphabet.length + i}`);
  });
  const alphabet = [
    ...seenAlphabet,
    ...byteLevelAlphabet()
      .filter((s) => !seenAlphabet.includes(s))
      .sort(),
  ];
  if (alphabet.length !== 256) throw new Error(`byte-level alphabet has ${alphabet.length} symbols, expected 256`);
  const kept = merges.slice(0, size - alphabet.length);
  if (kept.length < size - alphabet.length) {
    throw new Error(`training learned only ${merges.length} merges; ${size - alphabet.length} are needed for ${size} ids`);
  }
  const tokens = [...alphabet, ...kept.map(([l, r]) => l + r)];
  const vocab: Record<string, number> = {};
  tokens.forEach((t, id) => (vocab[t] = id));
  return {
    ...json,
    model: { ...json.model, vocab, merges: kept },
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
  };
}

/** Mean tokens per text of each kind (context role, response, explanation), per dataset's train split. */
function tokenStats(tokenizer: XftTokenizer, byDataset: Map<string, Example[]>): string[] {
  const lines = ["| dataset (train) | text kind | texts | mean tokens | mean chars per token |", "|---|---|---|---|---|"];
  for (const [name, examples] of byDataset) {
    const kinds = new Map<string, string[]>();
    const add = (kind: string, text: string) => {
      if (!kinds.has(kind)) kinds.set(kind, []);
      kinds.get(kind)!.push(text);
    };
    for (const e of examples) {
      e.context.forEach((t) => add(`context: ${t.role}`, t.text));
      add("response", e.response);
      e.explanations.forEach((x) => add("explanation", x));
    }
    for (const [kind, texts] of kinds) {
      const counts = texts.map((t) => tokenizer.encode(t).length);
      const chars = texts.reduce((a, t) => a + t.length, 0);
      const total = counts.reduce((a, b) => a + b, 0);
      lines.push(`| ${name} | ${kind} | ${texts.length} | ${mean(counts).toFixed(2)} | ${(chars / total).toFixed(2)} |`);
    }
  }
  return lines;
}

function main(): void {
  const byDataset = new Map<string, Example[]>();
  for (const name of datasetNames(ROOT)) {
    byDataset.set(name, readExamples(splitFile(join(ROOT, "data", name), "train")!).examples);
  }
  if (byDataset.size === 0) throw new Error(`no datasets with a train file under ${join(ROOT, "data")}`);
  const texts = [...new Set([...byDataset.values()].flat().flatMap(textsOf))];
  const corpus = texts.join("\n") + "\n";

  const work = mkdtempSync(join(tmpdir(), "xft-tokenizer-"));
  try {
    const corpusPath = join(work, "corpus.txt");
    writeFileSync(corpusPath, corpus);
    const trainer = new Tokenizer(BPE.empty());
    // GPT-2 style: split on the GPT-2 regex, no space prepended, so decode(encode(s)) === s.
    trainer.setPreTokenizer(byteLevelPreTokenizer(false, true));
    trainer.train([corpusPath]);
    const trainedPath = join(work, "trained.json");
    trainer.save(trainedPath, false);
    const trained = JSON.parse(readFileSync(trainedPath, "utf8")) as BpeJson;
    const learned = trained.model.merges.length;

    const truncatedPath = join(work, "truncated.json");
    writeFileSync(truncatedPath, JSON.stringify(truncateBpe(trained, BPE_VOCAB)));
    const final = Tokenizer.fromFile(truncatedPath);
    final.addSpecialTokens([...SPECIAL_TOKENS]);
    final.save(OUT_JSON, true);
    if (final.getVocabSize(true) !== TOTAL_VOCAB) throw new Error(`vocabulary is ${final.getVocabSize(true)}, expected ${TOTAL_VOCAB}`);

    const tokenizer = XftTokenizer.load(OUT_JSON);
    const card = [
      "# data/tokenizer.json",
      "",
      "Byte-level BPE (GPT-2 pre-tokenisation regex, no prefix space, no normalizer: case and bytes are kept,",
      `so decode(encode(s)) === s). ${TOTAL_VOCAB} ids: ${BPE_VOCAB} BPE ids (the 256 byte symbols, then one per merge,`,
      `${BPE_VOCAB - 256} merges), then ${SPECIAL_TOKENS.length} special tokens in this order, ids ${BPE_VOCAB}-${TOTAL_VOCAB - 1}:`,
      "",
      SPECIAL_TOKENS.map((t) => `\`${t}\``).join(" "),
      "",
      "Made with:",
      "",
      "```",
      "node --import tsx scripts/train-tokenizer.ts",
      "```",
      "",
      "## Training corpus",
      `Train splits only (${[...byDataset.keys()].join(", ")}): context turns, responses and explanations, each distinct`,
      `text once, one per line: ${texts.length} texts, ${Buffer.byteLength(corpus)} bytes, ` +
        `${corpus.split(/\s+/).filter((w) => w !== "").length} whitespace-separated words`,
      `(sha256 ${createHash("sha256").update(corpus).digest("hex")}).`,
      "",
      "## How it was made",
      "`tokenizers@0.23.2` (HF Rust, Node binding) BPE with its default trainer (the binding exposes no options)",
      `learned ${learned} merges; the JSON was then edited: the 256 byte-level alphabet symbols first (bytes absent`,
      `from the corpus added), the first ${BPE_VOCAB - 256} merges kept, a ByteLevel decoder set; then the special tokens`,
      "were added with the Rust library, which gave them the ids after the BPE part. At run time",
      "`src/text/tokenizer.ts` loads it with `@huggingface/tokenizers@0.2.0` and encodes text without the added",
      "tokens, so special-token strings inside text stay text.",
      "",
      "## Tokens per text",
      "",
      ...tokenStats(tokenizer, byDataset),
      "",
    ].join("\n");
    writeFileSync(OUT_CARD, card);
    console.log(`${texts.length} texts, ${Buffer.byteLength(corpus)} bytes; learned ${learned} merges, kept ${BPE_VOCAB - 256}`);
    console.log(`wrote ${relative(process.cwd(), OUT_JSON)} (${TOTAL_VOCAB} ids) and ${relative(process.cwd(), OUT_CARD)}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
