/**
 * The measurements rubric raters combine. Each signal reads one conversation and gives a goodness in
 * [0, 1] (higher is better on its dimension) and an evidence clause that quotes what it counted, e.g.
 * "repeats 'very very' 3 times". On-topic signals compare the response with the context, so they change
 * when the context does.
 */
import { Idf, TextProfile, cosine, firstWords, isStopword, lowerWords, mentions, plural, profile, quoteList, sentenceTexts } from "./text";
import { Conversation, Dimension, lastUserTurn } from "./judgment";

/** The response, the turn it answers (the request), the last dialogue turns and the whole context, profiled once. */
export interface ConversationText {
  response: TextProfile;
  request: TextProfile;
  /** The last RECENT_TURNS dialogue turns (not knowledge or system), most recent first. */
  recent: TextProfile[];
  context: TextProfile;
}

const RECENT_TURNS = 3;

/** What a signal may know about the source beyond the conversation: term rarity in its training split. */
export interface SourceStats {
  idf: Idf;
}

export interface Measurement {
  goodness: number;
  clause: string;
}

export interface Signal {
  dimension: Dimension;
  /** One line for data cards. */
  what: string;
  measure(text: ConversationText, stats: SourceStats): Measurement;
}

const analyses = new WeakMap<Conversation, ConversationText>();

/** Profiles a conversation, once per conversation object (all raters and dimensions share it). */
export function analyse(conversation: Conversation): ConversationText {
  let text = analyses.get(conversation);
  if (text === undefined) {
    text = {
      response: profile(conversation.response),
      request: profile(lastUserTurn(conversation.context)),
      recent: conversation.context
        .filter((t) => t.role !== "knowledge" && t.role !== "system")
        .slice(-RECENT_TURNS)
        .reverse()
        .map((t) => profile(t.text)),
      context: profile(conversation.context.map((t) => t.text).join("\n")),
    };
    analyses.set(conversation, text);
  }
  return text;
}

/** Term rarity over the source's training conversations (context and response as one document each). */
export function fitSourceStats(train: readonly Conversation[]): SourceStats {
  return { idf: new Idf(train.map((c) => [...analyse(c).context.content.keys(), ...analyse(c).response.content.keys()])) };
}

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));
const percent = (x: number) => `${Math.round(100 * x)}%`;
/** How often a repeated phrase occurs (at least twice). */
const times = (n: number) => (n === 2 ? "twice" : `${n} times`);

// ---------------------------------------------------------------------------------------------- naturalness

function repeatedPhrases(n: number): Signal {
  return {
    dimension: "naturalness",
    what: `1 - 4 x the share of ${n}-word phrases that repeat an earlier one (phrases of function words only are ignored unless one word is repeated, as in 'very very')`,
    measure({ response }) {
      const counts = new Map<string, number>();
      let total = 0;
      for (let i = 0; i + n <= response.words.length; i++) {
        const gram = response.words.slice(i, i + n);
        const stutter = gram.every((w) => w === gram[0]);
        if (!stutter && gram.every(isStopword)) continue;
        total++;
        const key = gram.join(" ");
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      let repeats = 0;
      let top = "";
      let topCount = 1;
      for (const [gram, c] of counts) {
        repeats += c - 1;
        if (c > topCount) [top, topCount] = [gram, c];
      }
      const rate = total === 0 ? 0 : repeats / total;
      return {
        goodness: clamp01(1 - 4 * rate),
        clause:
          repeats === 0
            ? `no ${n}-word phrase is repeated`
            : `repeats '${top}' ${times(topCount)} (${percent(rate)} of its ${n}-word phrases are repeats)`,
      };
    },
  };
}

const SHORT_SENTENCE = 3;
const LONG_SENTENCE = 40;
/** Sentence length with no penalty; the penalty grows with the squared log-ratio to it, reaching 1 at 1 word and at 144. */
const COMFORTABLE_SENTENCE = 12;

const sentenceLength: Signal = {
  dimension: "naturalness",
  what:
    `1 - mean over sentences of min(1, (ln(words / ${COMFORTABLE_SENTENCE}) / ln ${COMFORTABLE_SENTENCE})^2): ` +
    `fragments and run-ons cost most; the clause counts sentences under ${SHORT_SENTENCE} or over ${LONG_SENTENCE} words`,
  measure({ response }) {
    const lengths = response.sentences.map((s) => s.length);
    if (lengths.length === 0) return { goodness: 0, clause: "has no sentence" };
    const penalty = (l: number) => Math.min(1, (Math.log(l / COMFORTABLE_SENTENCE) / Math.log(COMFORTABLE_SENTENCE)) ** 2);
    const short = lengths.filter((l) => l < SHORT_SENTENCE).length;
    const long = lengths.filter((l) => l > LONG_SENTENCE).length;
    const n = lengths.length;
    const parts: string[] = [];
    if (long > 0) parts.push(`${long} of ${plural(n, "sentence")} ${long === 1 ? "runs" : "run"} past ${LONG_SENTENCE} words`);
    if (short > 0) parts.push(`${short} of ${plural(n, "sentence")} ${short === 1 ? "is" : "are"} under ${SHORT_SENTENCE} words`);
    const mean = lengths.reduce((a, b) => a + b, 0) / n;
    return {
      goodness: 1 - lengths.reduce((a, l) => a + penalty(l), 0) / n,
      clause:
        parts.length > 0
          ? parts.join(" and ")
          : `its ${n === 1 ? "sentence is" : `${n} sentences are`} ${SHORT_SENTENCE}-${LONG_SENTENCE} words long (mean ${mean.toFixed(0)})`,
    };
  },
};

/** Share of function words in fluent conversational English (median over this project's sources: 0.42-0.64). */
const TYPICAL_FUNCTION_SHARE = 0.55;

const functionWords: Signal = {
  dimension: "naturalness",
  what: `share of function words, against a typical ${TYPICAL_FUNCTION_SHARE}: 1 - abs(share - ${TYPICAL_FUNCTION_SHARE}) / ${(1 - TYPICAL_FUNCTION_SHARE).toFixed(2)} (keyword lists and padding both stray)`,
  measure({ response }) {
    if (response.words.length === 0) return { goodness: 0, clause: "has no words" };
    const share = response.words.filter(isStopword).length / response.words.length;
    const side =
      share < TYPICAL_FUNCTION_SHARE - 0.15 ? " (reads like a list of keywords)" : share > TYPICAL_FUNCTION_SHARE + 0.2 ? " (little content)" : "";
    return {
      goodness: clamp01(1 - Math.abs(share - TYPICAL_FUNCTION_SHARE) / (1 - TYPICAL_FUNCTION_SHARE)),
      clause: `${percent(share)} of its words are function words${side}`,
    };
  },
};

/** Mean letters per word of everyday English; jargon runs longer, fragments and baby talk shorter. */
const TYPICAL_WORD_LENGTH = 4.3;

const wordLength: Signal = {
  dimension: "naturalness",
  what: `mean letters per word against a typical ${TYPICAL_WORD_LENGTH}: exp(-((mean - ${TYPICAL_WORD_LENGTH}) / 1.2)^2)`,
  measure({ response }) {
    const words = response.words.filter((w) => /[a-z]/.test(w));
    if (words.length === 0) return { goodness: 0, clause: "has no words" };
    const mean = words.reduce((a, w) => a + w.length, 0) / words.length;
    const longest = [...words].sort((a, b) => b.length - a.length)[0];
    return {
      goodness: Math.exp(-(((mean - TYPICAL_WORD_LENGTH) / 1.2) ** 2)),
      clause: `its words average ${mean.toFixed(1)} letters` + (mean > TYPICAL_WORD_LENGTH + 0.8 ? ` (e.g. '${longest}')` : ""),
    };
  },
};

/** A whitespace token that is not a word once outer punctuation is stripped: '###', '{x}', '**bold**', 'a=b'. */
function isNonWord(token: string): boolean {
  const core = token.replace(/^[("'“‘[]+|[)"'”’\].,;:!?]+$/gu, "");
  return core === "" || /[^\p{L}\p{N}'’\-.,]/u.test(core);
}

const symbols: Signal = {
  dimension: "naturalness",
  what: "1 - 3 x the share of whitespace tokens that are symbols or non-words (markup, code, emoticons)",
  measure({ response }) {
    const tokens = response.text.split(/\s+/).filter((t) => t !== "");
    const odd = tokens.filter(isNonWord);
    const ratio = tokens.length === 0 ? 1 : odd.length / tokens.length;
    const examples = [...new Set(odd)].map((t) => t.slice(0, 12));
    return {
      goodness: clamp01(1 - 3 * ratio),
      clause:
        odd.length === 0
          ? "every token is an ordinary word"
          : `${percent(ratio)} of its tokens are symbols or non-words (e.g. ${quoteList(examples, 2)})`,
    };
  },
};

const capitalisation: Signal = {
  dimension: "naturalness",
  what: "1 - the share of sentences that start in lower case or are written in capitals",
  measure({ response }) {
    const sentences = sentenceTexts(response.text);
    if (sentences.length === 0) return { goodness: 0, clause: "has no sentence" };
    const firstLetter = (s: string) => s.match(/\p{L}/u)?.[0] ?? "";
    const lower = sentences.filter((s) => /^[("'“‘]?\p{Ll}/u.test(s)).length;
    const shouted = sentences.filter(
      (s) => s.split(/\s+/).length >= 3 && firstLetter(s) !== "" && s === s.toUpperCase() && s !== s.toLowerCase(),
    ).length;
    const n = sentences.length;
    const parts: string[] = [];
    if (lower > 0) parts.push(`${lower} of ${plural(n, "sentence")} ${lower === 1 ? "starts" : "start"} in lower case`);
    if (shouted > 0) parts.push(`${shouted} of ${plural(n, "sentence")} ${shouted === 1 ? "is" : "are"} in capitals`);
    return {
      goodness: 1 - (lower + shouted) / n,
      clause: parts.length > 0 ? parts.join(" and ") : n === 1 ? "its sentence starts with a capital" : `all ${n} sentences start with a capital`,
    };
  },
};

/** Stock phrases of chat assistants; each one makes a reply sound canned. */
const STOCK_PHRASES = [
  "as an ai",
  "language model",
  "i'm sorry, but",
  "i am sorry, but",
  "i apologize",
  "it is important to note",
  "it's important to note",
  "i hope this helps",
  "i don't have personal",
  "i do not have personal",
  "feel free to ask",
  "i'm just an ai",
  "i cannot provide",
  "i'm not able to provide",
];

const boilerplate: Signal = {
  dimension: "naturalness",
  what: `1 - 0.4 per stock assistant phrase (${STOCK_PHRASES.length} listed, e.g. 'as an AI', 'it is important to note')`,
  measure({ response }) {
    const text = response.text.toLowerCase().replace(/[’‘]/g, "'");
    const found = STOCK_PHRASES.filter((p) => text.includes(p));
    const count = found.reduce((n, p) => n + text.split(p).length - 1, 0);
    return {
      goodness: clamp01(1 - 0.4 * count),
      clause: count === 0 ? "uses no stock assistant phrase" : `uses the stock phrase '${found[0]}'` + (count > 1 ? ` and ${count - 1} more` : ""),
    };
  },
};

const DIVERSITY_WINDOW = 50;

const diversity: Signal = {
  dimension: "naturalness",
  what: `(r - 0.4) / 0.5, r = moving-average type-token ratio over ${DIVERSITY_WINDOW}-word windows`,
  measure({ response }) {
    const words = response.words;
    if (words.length === 0) return { goodness: 0, clause: "has no words" };
    const window = Math.min(DIVERSITY_WINDOW, words.length);
    const counts = new Map<string, number>();
    const add = (w: string, d: number) => {
      const c = (counts.get(w) ?? 0) + d;
      if (c === 0) counts.delete(w);
      else counts.set(w, c);
    };
    words.slice(0, window).forEach((w) => add(w, 1));
    let sum = counts.size;
    for (let i = window; i < words.length; i++) {
      add(words[i], 1);
      add(words[i - window], -1);
      sum += counts.size;
    }
    const ratio = sum / (words.length - window + 1) / window;
    return {
      goodness: clamp01((ratio - 0.4) / 0.5),
      clause: `${percent(ratio)} of its words are distinct (per ${window}-word stretch)`,
    };
  },
};

// -------------------------------------------------------------------------------------- comprehensiveness

const coverage: Signal = {
  dimension: "comprehensiveness",
  what: "share of the request's content words (stemmed) that the response uses",
  measure({ response, request }) {
    const asked = [...request.content];
    if (asked.length === 0) return { goodness: 0.5, clause: "the request has no content word to cover" };
    const covered = asked.filter(([s]) => response.content.has(s)).map(([, w]) => w);
    const missed = asked.filter(([s]) => !response.content.has(s)).map(([, w]) => w);
    const n = asked.length;
    let clause =
      covered.length === 0
        ? `picks up none of the request's ${plural(n, "content word")} (${quoteList(missed, 3)})`
        : `picks up ${covered.length} of the request's ${plural(n, "content word")} (${quoteList(covered, 3)})`;
    if (covered.length > 0 && missed.length > 0) clause += `, not ${quoteList(missed, 2)}`;
    return { goodness: covered.length / n, clause };
  },
};

const weightedCoverage: Signal = {
  dimension: "comprehensiveness",
  what: "share of the request's content-word weight (idf from the source's training split) that the response picks up",
  measure({ response, request }, { idf }) {
    const asked = [...request.content];
    if (asked.length === 0) return { goodness: 0.5, clause: "the request has no content word to cover" };
    const total = asked.reduce((a, [s]) => a + idf.weight(s), 0);
    const covered = asked.filter(([s]) => response.content.has(s)).reduce((a, [s]) => a + idf.weight(s), 0);
    const rarestMissed = asked.filter(([s]) => !response.content.has(s)).sort((a, b) => idf.weight(b[0]) - idf.weight(a[0]))[0];
    return {
      goodness: covered / total,
      clause:
        (covered === 0 ? "covers none of the request's term weight" : `covers ${percent(covered / total)} of the request's term weight`) +
        (rarestMissed !== undefined ? ` (misses '${rarestMissed[1]}')` : ""),
    };
  },
};

const contentWords: Signal = {
  dimension: "comprehensiveness",
  what: "how much the response says: n / (n + 20), n = its distinct content words",
  measure({ response }) {
    const n = response.content.size;
    return { goodness: n / (n + 20), clause: `uses ${n} distinct content words` };
  },
};

/** Requests shorter than this still deserve an answer of some length. */
const MIN_REQUEST_WORDS = 10;

const length: Signal = {
  dimension: "comprehensiveness",
  what: `response length relative to the request: r / (r + 1), r = response words / max(request words, ${MIN_REQUEST_WORDS})`,
  measure({ response, request }) {
    const r = response.words.length / Math.max(request.words.length, MIN_REQUEST_WORDS);
    return {
      goodness: r / (r + 1),
      clause: `answers a ${request.words.length}-word request in ${response.words.length} words`,
    };
  },
};

const structure: Signal = {
  dimension: "comprehensiveness",
  what: "list items, numbered steps and paragraphs: p / (p + 3), p = items + paragraphs - 1",
  measure({ response }) {
    const items = response.text.split("\n").filter((l) => /^\s*(?:[-*•]|\d{1,2}[.)]|step \d+:?)\s+\S/i.test(l)).length;
    const paragraphs = response.text.split(/\n\s*\n/).filter((p) => p.trim() !== "").length;
    const points = items + Math.max(0, paragraphs - 1);
    let clause = "is one block with no list or paragraph break";
    if (items > 0)
      clause = `lays out ${plural(items, "list item or step", "list items or steps")}` + (paragraphs > 1 ? ` in ${paragraphs} paragraphs` : "");
    else if (paragraphs > 1) clause = `is organised in ${paragraphs} paragraphs`;
    return { goodness: points / (points + 3), clause };
  },
};

const questions: Signal = {
  dimension: "comprehensiveness",
  what: "share of the request's questions (sentences ending in '?', else the request as one ask) whose content words the response takes up",
  measure({ response, request }) {
    const asked = sentenceTexts(request.text).filter((s) => s.endsWith("?"));
    const asks = asked.length > 0 ? asked : [request.text];
    const isTakenUp = (ask: string) => {
      const content = lowerWords(ask).filter((w) => !isStopword(w));
      return content.length === 0 || [...profile(ask).content.keys()].some((s) => response.content.has(s));
    };
    const missed = asks.filter((a) => !isTakenUp(a));
    const answered = asks.length - missed.length;
    let clause: string;
    if (asked.length === 0) {
      clause = `${missed.length === 0 ? "takes up" : "does not take up"} the request ('${firstWords(request.text, 8)}')`;
    } else if (missed.length === 0) {
      clause = asks.length === 1 ? "takes up the request's question" : `takes up all ${asks.length} questions of the request`;
    } else if (asks.length === 1) {
      clause = `does not take up the request's question ('${firstWords(missed[0], 8)}')`;
    } else {
      clause = `takes up ${answered} of the request's ${asks.length} questions, not '${firstWords(missed[0], 8)}'`;
    }
    return { goodness: answered / asks.length, clause };
  },
};

const EXAMPLE_MARKERS = /\b(?:for example|for instance|such as|e\.g\.|including)/gi;

const detail: Signal = {
  dimension: "comprehensiveness",
  what: "concrete details: distinct numbers, names and example markers ('for example', 'such as'): d / (d + 4)",
  measure({ response }) {
    const markers = [...new Set((response.text.match(EXAMPLE_MARKERS) ?? []).map((m) => m.toLowerCase()))];
    const details = [...response.namesAndNumbers, ...markers];
    const d = details.length;
    return {
      goodness: d / (d + 4),
      clause: d === 0 ? "gives no concrete detail (number, name or example)" : `gives ${plural(d, "concrete detail")} (${quoteList(details, 3)})`,
    };
  },
};

// ---------------------------------------------------------------------------------------------- on-topic

const overlap: Signal = {
  dimension: "on-topic",
  what: "content words shared with the last user turn: shared / sqrt(request content words x response content words)",
  measure({ response, request }) {
    if (request.content.size === 0) return { goodness: 0.5, clause: "the last user turn has no content word to share" };
    if (response.content.size === 0) return { goodness: 0, clause: "the reply has no content word" };
    const shared = [...response.content].filter(([s]) => request.content.has(s)).map(([, w]) => w);
    return {
      goodness: shared.length / Math.sqrt(request.content.size * response.content.size),
      clause:
        shared.length === 0
          ? "shares no content word with the last user turn"
          : `shares ${plural(shared.length, "content word")} with the last user turn (${quoteList(shared, 3)})`,
    };
  },
};

const namesAndNumbers: Signal = {
  dimension: "on-topic",
  what: "names and numbers of the context the response repeats (s) against new ones it brings in (n): (s + 1) / (s + n + 2)",
  measure({ response, context }) {
    const responseText = response.text.toLowerCase();
    const contextText = context.text.toLowerCase();
    const shared = [...context.namesAndNumbers].filter((x) => mentions(responseText, x));
    // A name the context wrote in lower case (or at a sentence start) is not new.
    const fresh = [...response.namesAndNumbers].filter((x) => !mentions(contextText, x));
    const parts: string[] = [];
    if (shared.length > 0)
      parts.push(`repeats ${plural(shared.length, "name or number", "names or numbers")} of the conversation (${quoteList(shared, 2)})`);
    if (fresh.length > 0) parts.push(`brings in ${fresh.length} the conversation never mentions (${quoteList(fresh, 2)})`);
    return {
      goodness: (shared.length + 1) / (shared.length + fresh.length + 2),
      clause: parts.length > 0 ? parts.join(" and ") : "names no person, place or number",
    };
  },
};

const recentTurns: Signal = {
  dimension: "on-topic",
  what: `share of the response's content words found in the last ${RECENT_TURNS} dialogue turns, a word counting 1, 1/2 or 1/4 as its most recent turn is the last, the second-last or the third-last`,
  measure({ response, recent }) {
    if (response.content.size === 0) return { goodness: 0, clause: "the reply has no content word" };
    let credit = 0;
    const found: string[] = [];
    for (const [s, w] of response.content) {
      const turn = recent.findIndex((t) => t.content.has(s));
      if (turn < 0) continue;
      credit += 0.5 ** turn;
      found.push(w);
    }
    const n = response.content.size;
    return {
      goodness: credit / n,
      clause:
        found.length === 0
          ? `none of its ${plural(n, "content word")} comes from the last ${RECENT_TURNS} turns`
          : `${found.length} of its ${plural(n, "content word")} come from the last ${RECENT_TURNS} turns (${quoteList(found, 3)})`,
    };
  },
};

/** Character trigrams of words padded with spaces: "dogs" -> " do", "dog", "ogs", "gs ". */
function trigramCounts(words: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const w of words) {
    const padded = ` ${w} `;
    for (let i = 0; i + 3 <= padded.length; i++) counts.set(padded.slice(i, i + 3), (counts.get(padded.slice(i, i + 3)) ?? 0) + 1);
  }
  return counts;
}

const charTrigrams: Signal = {
  dimension: "on-topic",
  what: "2 x cosine of the character-trigram counts of the response's and the last user turn's content words (catches 'dog' / 'dogs' / 'doggy')",
  measure({ response, request }) {
    const similarity = cosine(trigramCounts(response.content.values()), trigramCounts(request.content.values()));
    return {
      goodness: clamp01(2 * similarity),
      clause:
        similarity < 0.1
          ? `its content words share hardly any spelling with the last user turn's (trigram cosine ${similarity.toFixed(2)})`
          : `its content words resemble the last user turn's in spelling (trigram cosine ${similarity.toFixed(2)})`,
    };
  },
};

function tfidfSimilarity(reference: "conversation" | "last user turn"): Signal {
  return {
    dimension: "on-topic",
    what:
      reference === "conversation"
        ? "2 x TF-IDF cosine with the whole context (the last user turn counted twice), idf from the source's training split"
        : "2 x TF-IDF cosine with the last user turn, idf from the source's training split",
    measure({ response, request, context }, { idf }) {
      const reply = idf.vector(response.words);
      const ref = idf.vector(reference === "conversation" ? [...context.words, ...request.words] : request.words);
      const similarity = cosine(reply, ref);
      const shared = [...reply]
        .filter(([t]) => ref.has(t))
        .sort((a, b) => b[1] * ref.get(b[0])! - a[1] * ref.get(a[0])! || (a[0] < b[0] ? -1 : 1))
        .map(([t]) => response.content.get(t) ?? t);
      return {
        goodness: clamp01(2 * similarity),
        clause:
          `TF-IDF similarity to the ${reference} is ${similarity.toFixed(2)}` +
          (shared.length > 0 ? ` (shared terms ${quoteList(shared, 2)})` : " (no shared term)"),
      };
    },
  };
}

export const SIGNALS = {
  "repeated-bigrams": repeatedPhrases(2),
  "repeated-trigrams": repeatedPhrases(3),
  "sentence-length": sentenceLength,
  "function-words": functionWords,
  "word-length": wordLength,
  symbols,
  capitalisation,
  boilerplate,
  diversity,
  coverage,
  "weighted-coverage": weightedCoverage,
  "content-words": contentWords,
  length,
  structure,
  questions,
  detail,
  overlap,
  "recent-turns": recentTurns,
  "char-trigrams": charTrigrams,
  "names-and-numbers": namesAndNumbers,
  "tfidf-conversation": tfidfSimilarity("conversation"),
  "tfidf-last-turn": tfidfSimilarity("last user turn"),
} satisfies Record<string, Signal>;

export type SignalName = keyof typeof SIGNALS;
