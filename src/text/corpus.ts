/**
 * The pretraining corpus: every text the project ships under data/ (conversation turns and responses,
 * passages, premises and hypotheses, explanations), from train splits only, as token documents; in xft's
 * tokenizer (`xftDocuments`):
 *
 *   conversation   <|bos|> <|role|> turn ... <|response|> response <|eos|>
 *   explanation    <|bos|> <|expl|> explanation <|eos|>
 *
 * and in a checkpoint's own tokenizer (`plainDocuments`, for `xft pretrain --init hf:DIR`) as the plain format
 * writes them (src/text/format.ts, one line each), after what its tokenizer puts first (e.g. bos), then its eos:
 *
 *   conversation   User: turn \n ... Response: response
 *   explanation    explanation
 *
 * No labels: it is next-token pretraining on the texts. A document is left out when any of its texts also
 * occurs in any dataset's test split (datasets share conversations), so no test text is ever seen. Documents
 * are deduplicated (a conversation is rated on several dimensions), and a fixed 2% of them, chosen by a hash
 * of their content, are held out for perplexity.
 */
import { datasetNames, loadDataset } from "../data/load";
import type { Example } from "../data/schema";
import { hashSeed, Rng } from "../util/rng";
import { oneLine, plainConversationLines } from "./format";
import type { HfTokenizer } from "./hf-tokenizer";
import type { XftTokenizer } from "./tokenizer";

export interface CorpusStats {
  datasets: string[];
  /** Unique documents by kind, before the held-out split. */
  conversations: number;
  explanations: number;
  /** Documents left out because a text of theirs is in a test split. */
  excludedForTest: number;
  trainDocuments: number;
  heldOutDocuments: number;
  trainTokens: number;
  heldOutTokens: number;
}

export interface Corpus {
  train: number[][];
  heldOut: number[][];
  stats: CorpusStats;
}

export interface CorpusOptions {
  /** Project root whose data/ is read (default: the working directory's). */
  root?: string;
  /** Keep at most this many documents (a seed-independent choice by content hash), for small profiles. */
  maxDocuments?: number;
}

/** One in HELD_OUT_EVERY documents is held out. */
const HELD_OUT_EVERY = 50;

/** How a document becomes tokens, per tokenizer. */
export interface DocumentEncoder {
  conversation(ex: Pick<Example, "context" | "response">): number[];
  explanation(text: string): number[];
}

/** Documents in xft's tokenizer, marked by its special tokens (see the top of this file). */
export function xftDocuments(tok: XftTokenizer): DocumentEncoder {
  return {
    conversation: (ex) => [
      tok.special("<|bos|>"),
      ...ex.context.flatMap((t) => [tok.roleToken(t.role), ...tok.encode(t.text)]),
      tok.special("<|response|>"),
      ...tok.encode(ex.response),
      tok.special("<|eos|>"),
    ],
    explanation: (text) => [tok.special("<|bos|>"), tok.special("<|expl|>"), ...tok.encode(text), tok.special("<|eos|>")],
  };
}

/** Documents in a checkpoint's tokenizer, as plain text in the plain format's layout (see the top of this file). */
export function plainDocuments(tok: HfTokenizer): DocumentEncoder {
  const eos = tok.eosId === undefined ? [] : [tok.eosId];
  const document = (text: string) => [...tok.addedAround.before, ...tok.encode(text, { addSpecialTokens: false }), ...eos];
  return {
    // The lines without the newline that opens the first.
    conversation: (ex) => document(plainConversationLines(ex).join("").slice(1)),
    explanation: (text) => document(oneLine(text)),
  };
}

interface Document {
  kind: "conversation" | "explanation";
  key: string;
  texts: string[];
  tokens: (encoder: DocumentEncoder) => number[];
}

function documentsOf(ex: Example): Document[] {
  const conversation: Document = {
    kind: "conversation",
    key: JSON.stringify(["conv", ex.context, ex.response]),
    texts: [...ex.context.map((t) => t.text), ex.response],
    tokens: (encoder) => encoder.conversation(ex),
  };
  const explanations = ex.explanations
    .filter((e) => e.trim() !== "")
    .map((e): Document => ({
      kind: "explanation",
      key: JSON.stringify(["expl", e]),
      texts: [e],
      tokens: (encoder) => encoder.explanation(e),
    }));
  return [conversation, ...explanations];
}

export function buildCorpus(encoder: DocumentEncoder, opts: CorpusOptions = {}): Corpus {
  const names = datasetNames(opts.root);
  const datasets = names.map((name) => loadDataset(name, { root: opts.root, allowTestOnly: true }));
  const testTexts = new Set<string>();
  for (const ds of datasets) for (const ex of ds.test) for (const doc of documentsOf(ex)) for (const t of doc.texts) testTexts.add(t);

  const seen = new Set<string>();
  let kept: Document[] = [];
  let excludedForTest = 0;
  for (const ds of datasets) {
    for (const ex of ds.train) {
      for (const doc of documentsOf(ex)) {
        if (seen.has(doc.key)) continue;
        seen.add(doc.key);
        if (doc.texts.some((t) => testTexts.has(t))) excludedForTest += 1;
        else kept.push(doc);
      }
    }
  }
  if (opts.maxDocuments !== undefined && kept.length > opts.maxDocuments) {
    kept = [...kept].sort((a, b) => hashSeed("corpus-subset", a.key) - hashSeed("corpus-subset", b.key)).slice(0, opts.maxDocuments);
  }
  const train: number[][] = [];
  const heldOut: number[][] = [];
  for (const doc of kept) (hashSeed("held-out", doc.key) % HELD_OUT_EVERY === 0 ? heldOut : train).push(doc.tokens(encoder));
  const count = (docs: number[][]) => docs.reduce((n, d) => n + d.length, 0);
  return {
    train,
    heldOut,
    stats: {
      datasets: names,
      conversations: kept.filter((d) => d.kind === "conversation").length,
      explanations: kept.filter((d) => d.kind === "explanation").length,
      excludedForTest,
      trainDocuments: train.length,
      heldOutDocuments: heldOut.length,
      trainTokens: count(train),
      heldOutTokens: count(heldOut),
    },
  };
}

/**
 * Documents in a seeded order, concatenated and cut into blocks of `length + 1` tokens (inputs and their
 * next tokens; consecutive blocks share one token). The tail shorter than a block is dropped.
 */
export function packBlocks(documents: readonly number[][], length: number, seed: number): number[][] {
  const stream = new Rng(seed).shuffle([...documents]).flat();
  const blocks: number[][] = [];
  for (let at = 0; at + length + 1 <= stream.length; at += length) blocks.push(stream.slice(at, at + length + 1));
  return blocks;
}
