/**
 * Text measurements the rubric raters read: words, content words and their stems, sentences, names and
 * numbers, and TF-IDF vectors. Plain English heuristics, no model: each rater's evidence must be a
 * count a reader can redo by hand.
 */

/** Function words that say nothing about a topic; content words are the other words. */
const STOPWORDS = new Set(
  (
    "a about above after again against all am an and any are aren't as at be because been before being below " +
    "between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each " +
    "few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself " +
    "him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most mustn't " +
    "my myself no nor not of off on once only or other ought our ours ourselves out over own same shan't she she'd " +
    "she'll she's should shouldn't so some such than that that's the their theirs them themselves then there " +
    "there's these they they'd they'll they're they've this those through to too under until up very was wasn't we " +
    "we'd we'll we're we've were weren't what what's when when's where where's which while who who's whom why why's " +
    "with won't would wouldn't you you'd you'll you're you've your yours yourself yourselves also just like get got " +
    "one would will may might must shall yes yeah oh ok okay well really much many thing things know think go going " +
    "make made say said see want way lot sure even still us"
  ).split(" "),
);

/** A text broken into the units the signals count. */
export interface TextProfile {
  text: string;
  /** Lower-case words (letters, digits, inner apostrophes). */
  words: string[];
  /** Word lists of the sentences (split at . ! ? and line breaks). */
  sentences: string[][];
  /** Stem -> the first surface word it came from, for content words only; evidence quotes the surface word. */
  content: Map<string, string>;
  /** Lower-cased capitalised words that do not open a sentence (names, places), and numbers. */
  namesAndNumbers: Set<string>;
}

const WORD = /[a-z0-9]+(?:'[a-z]+)?/g;

export function lowerWords(text: string): string[] {
  return text.toLowerCase().replace(/[’‘]/g, "'").match(WORD) ?? [];
}

export function isStopword(word: string): boolean {
  return STOPWORDS.has(word);
}

/** A light suffix stripper, so that "vaccines" meets "vaccine" and "running" meets "run". */
function stem(word: string): string {
  let w = word.replace(/'s$/, "");
  if (w.length > 5 && w.endsWith("ies")) return w.slice(0, -3) + "y";
  for (const suffix of ["ing", "ed", "es", "ly", "s"]) {
    if (w.length - suffix.length >= 3 && w.endsWith(suffix)) {
      w = w.slice(0, -suffix.length);
      break;
    }
  }
  // "running" -> "runn" -> "run": undo the doubled final consonant the suffix left behind.
  return /([b-df-hj-np-tv-z])\1$/.test(w) && !/(ll|ss|zz)$/.test(w) ? w.slice(0, -1) : w;
}

/** Sentences as raw strings: split after . ! ? (followed by space) and at line breaks. */
export function sentenceTexts(text: string): string[] {
  return text
    .split(/\n+|(?<=[.!?])\s+/)
    .map((s) => s.trim())
    .filter((s) => lowerWords(s).length > 0);
}

/** Numbers standing alone (not the "19" of "COVID-19", which is part of a name). */
const NUMBER = /(?<![\p{L}\p{N}-])\d+(?:[.,]\d+)*(?![\p{L}\p{N}-])/gu;

function namesAndNumbers(sentences: string[]): Set<string> {
  const found = new Set<string>();
  for (const sentence of sentences) {
    for (const n of sentence.match(NUMBER) ?? []) found.add(n.replace(/,/g, ""));
    // Skip the first word: a capital there is the sentence's, not a name's.
    const tokens = sentence.replace(/[’‘]/g, "'").match(/[A-Za-z][A-Za-z0-9'-]*[A-Za-z0-9]/g) ?? [];
    for (const token of tokens.slice(1)) {
      if (/^[A-Z]/.test(token) && !token.startsWith("I'") && !isStopword(token.toLowerCase())) {
        found.add(token.toLowerCase().replace(/'s$/, ""));
      }
    }
  }
  return found;
}

/** Whether `lowerText` holds `term` as a whole word (not inside a longer word or number). */
export function mentions(lowerText: string, term: string): boolean {
  let from = 0;
  for (let at = lowerText.indexOf(term); at >= 0; at = lowerText.indexOf(term, from)) {
    const before = lowerText.charAt(at - 1);
    const after = lowerText.charAt(at + term.length);
    if (!/[\p{L}\p{N}]/u.test(before) && !/[\p{L}\p{N}]/u.test(after)) return true;
    from = at + 1;
  }
  return false;
}

export function profile(text: string): TextProfile {
  const words = lowerWords(text);
  const sentenceStrings = sentenceTexts(text);
  const content = new Map<string, string>();
  for (const w of words) {
    if (!isStopword(w) && /[a-z]/.test(w) && w.length > 1) {
      const s = stem(w);
      if (!content.has(s)) content.set(s, w);
    }
  }
  return {
    text,
    words,
    sentences: sentenceStrings.map(lowerWords),
    content,
    namesAndNumbers: namesAndNumbers(sentenceStrings),
  };
}

/**
 * Inverse document frequencies fitted on one source's training conversations (smoothed as in
 * scikit-learn: log((1 + N) / (1 + df)) + 1), over content-word stems.
 */
export class Idf {
  private readonly df = new Map<string, number>();
  private readonly docs: number;

  constructor(documents: Iterable<Iterable<string>>) {
    let n = 0;
    for (const doc of documents) {
      n++;
      for (const term of new Set(doc)) this.df.set(term, (this.df.get(term) ?? 0) + 1);
    }
    this.docs = n;
  }

  weight(term: string): number {
    return Math.log((1 + this.docs) / (1 + (this.df.get(term) ?? 0))) + 1;
  }

  /** term -> count x idf, for the content-word stems of the given words. */
  vector(words: readonly string[]): Map<string, number> {
    const v = new Map<string, number>();
    for (const w of words) {
      if (isStopword(w) || !/[a-z]/.test(w) || w.length < 2) continue;
      const s = stem(w);
      v.set(s, (v.get(s) ?? 0) + this.weight(s));
    }
    return v;
  }
}

export function cosine(a: Map<string, number>, b: Map<string, number>): number {
  let dot = 0;
  for (const [t, x] of a) dot += x * (b.get(t) ?? 0);
  const norm = (v: Map<string, number>) => Math.sqrt([...v.values()].reduce((s, x) => s + x * x, 0));
  const denominator = norm(a) * norm(b);
  return denominator === 0 ? 0 : dot / denominator;
}

/** "1 content word", "3 content words". */
export function plural(n: number, singular: string, pluralForm = singular + "s"): string {
  return `${n} ${n === 1 ? singular : pluralForm}`;
}

/** "'a', 'b'" for evidence clauses: at most `max` items, each quoted. */
export function quoteList(items: readonly string[], max: number): string {
  return items
    .slice(0, max)
    .map((s) => `'${s}'`)
    .join(", ");
}

/** The first `n` words of a text, with "..." when cut. */
export function firstWords(text: string, n: number): string {
  const words = text.trim().split(/\s+/);
  return words.length <= n ? words.join(" ") : words.slice(0, n).join(" ") + " ...";
}
