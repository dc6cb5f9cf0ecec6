/**
 * Builds the three-dimension conversation benchmark: six datasets data/conv-<source>/{train,test}.jsonl.gz
 * and CARD.md, one example per (conversation, dimension), labelled 1-5 with one explanation by the rubric
 * teacher (src/teacher/). Real conversations stand in for the paper's six sources (docs/protocol.md).
 *
 *   node --import tsx scripts/build-benchmark.ts [--raw RAW_DIR] [SOURCE ...]   (default: all six sources)
 *
 * Reads the raw copies (../shared/data/raw) for Chatbot Arena and HH-RLHF, and the converted data/feedbackqa/
 * and data/usr/ (run scripts/convert-feedbackqa.ts and convert-usr.ts first). Each source's output depends only
 * on its own input and name, so one source can be rebuilt alone.
 */
import { existsSync, readFileSync, writeFileSync } from "fs";
import { join, relative, resolve } from "path";
import { parseArgs } from "util";
import { gunzipSync } from "zlib";
import { loadDataset } from "../src/data/load";
import { Example, Split, SPLITS, Turn } from "../src/data/schema";
import { BENCHMARK_SEED, benchmarkTeacher, RaterAgreement, raterAgreement } from "../src/teacher/benchmark";
import { ANCHOR_COUNT, EXPLANATION_MAX_WORDS, TeacherRating } from "../src/teacher/ensemble";
import { readUsrRatings, TeacherVsHuman, teacherVsUsr, USR_RATINGS_FILE } from "../src/teacher/human-agreement";
import { Conversation, DIMENSIONS, Dimension } from "../src/teacher/judgment";
import { RUBRIC_PROFILES } from "../src/teacher/raters";
import { SIGNALS, SignalName } from "../src/teacher/signals";
import { STRATEGIES } from "../src/teacher/strategies";
import { Rng, hashSeed } from "../src/util/rng";
import { labelTable, PROJECT_ROOT, RAW_ROOT, tableRow, words, writeSplits, madeWith } from "./converter-shared";
import { usrTable } from "./teacher-vs-usr";
import { mean } from "../src/data/stats";

export const LABEL_SET = ["1", "2", "3", "4", "5"];
/** Conversations per source at most (each gives one example per dimension). */
const MAX_CONVERSATIONS = 2500;
const TRAIN_SHARE = 2 / 3;

/** A response to rate, with where it came from and the conversation it belongs to. */
interface Candidate extends Conversation {
  /** Unique within the source. */
  id: string;
  /** Set when the source's own split is kept (feedbackqa-qa keeps data/feedbackqa's). */
  split?: Split;
}

interface SourceSpec {
  name: string;
  title: string;
  /** The paper's source this one stands in for. */
  standsFor: string;
  /** Card lines: where the conversations come from and how they were read. */
  origin: string[];
  license: string[];
  /** Every candidate, in source order; `rawDir` is the raw copies' folder, for the sources read from there. */
  read(rawDir: string): Candidate[];
}

/**
 * What ties responses of one conversation together: the first dialogue turn (not knowledge or system),
 * lower-cased with runs of other characters than letters and digits as one space. Every response after the
 * same opening goes to the same split, whichever turn it answers.
 */
export function conversationKey(context: readonly Turn[]): string {
  const opening = context.find((t) => t.role !== "knowledge" && t.role !== "system") ?? context[0];
  return (opening?.text ?? "")
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim();
}

/**
 * Train/test by whole conversations: openings in the order of a salted hash of their key go to train until
 * train holds TRAIN_SHARE of the conversations, the rest to test. The order depends only on the keys, not
 * on the source or the file order.
 */
function splitByKey(conversations: readonly Candidate[]): Record<Split, Candidate[]> {
  const sizes = new Map<string, number>();
  for (const c of conversations) sizes.set(conversationKey(c.context), (sizes.get(conversationKey(c.context)) ?? 0) + 1);
  const rank = (key: string) => hashSeed(BENCHMARK_SEED, "split", key);
  const trainKeys = new Set<string>();
  let inTrain = 0;
  for (const key of [...sizes.keys()].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1))) {
    if (inTrain >= TRAIN_SHARE * conversations.length) break;
    trainKeys.add(key);
    inTrain += sizes.get(key)!;
  }
  return {
    train: conversations.filter((c) => trainKeys.has(conversationKey(c.context))),
    test: conversations.filter((c) => !trainKeys.has(conversationKey(c.context))),
  };
}

// ----------------------------------------------------------------------------------------------- readers

function readChatbotArena(rawDir: string): Candidate[] {
  const path = join(rawDir, "chatbot-arena", "conversations.jsonl");
  const out: Candidate[] = [];
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (line.trim() === "") return;
      const record = JSON.parse(line) as { id: string; messages: { role: string; content: string }[] };
      const turns = record.messages.map((m) => {
        if (m.role !== "user" && m.role !== "assistant") throw new Error(`${path}:${i + 1}: unexpected role "${m.role}"`);
        return { role: m.role, text: m.content.trim() } as Turn;
      });
      turns.forEach((turn, t) => {
        const context = turns.slice(0, t).filter((c) => c.text !== "");
        if (turn.role !== "assistant" || turn.text === "" || !context.some((c) => c.role === "user")) return;
        out.push({ id: `${record.id}.${t}`, context, response: turn.text });
      });
    });
  return out;
}

/** "\n\nHuman: ...\n\nAssistant: ..." -> turns; undefined when the transcript is not in that form. */
export function parseHhTranscript(transcript: string): Turn[] | undefined {
  const parts = transcript.split(/\n\n(Human|Assistant): ?/);
  if (parts[0].trim() !== "" || parts.length < 3) return undefined;
  const turns: Turn[] = [];
  for (let i = 1; i < parts.length; i += 2) {
    turns.push({ role: parts[i] === "Human" ? "user" : "assistant", text: parts[i + 1].trim() });
  }
  return turns;
}

function hhReader(side: "chosen" | "rejected"): (rawDir: string) => Candidate[] {
  return (rawDir) => {
    const path = join(rawDir, "hh-rlhf", "harmless-base-test.jsonl.gz");
    const out: Candidate[] = [];
    gunzipSync(readFileSync(path))
      .toString("utf8")
      .split("\n")
      .forEach((line, i) => {
        if (line.trim() === "") return;
        const turns = parseHhTranscript((JSON.parse(line) as Record<string, string>)[side]);
        const last = turns?.[turns.length - 1];
        if (turns === undefined || last === undefined || last.role !== "assistant" || last.text === "") return;
        const context = turns.slice(0, -1).filter((t) => t.text !== "");
        if (!context.some((t) => t.role === "user")) return;
        out.push({ id: String(i + 1), context, response: last.text });
      });
    return out;
  };
}

/**
 * Candidates from a dataset this project already converted (data/<name>/), one per distinct local id:
 * `localId` maps a row to the response it rates (data/feedbackqa has one row per human rater of a response).
 */
function fromDataset(name: string, keep: (row: Example) => boolean, localId: (row: Example) => string, keepSplit: boolean): Candidate[] {
  const dataset = loadDataset(name, { root: PROJECT_ROOT, allowTestOnly: true });
  const out = new Map<string, Candidate>();
  for (const row of [...dataset.train, ...dataset.test].filter(keep)) {
    const id = localId(row);
    if (!out.has(id)) out.set(id, { id, context: row.context, response: row.response, split: keepSplit ? row.split : undefined });
  }
  return [...out.values()];
}

const readFeedbackqa = () =>
  fromDataset(
    "feedbackqa",
    () => true,
    (row) => row.id.replace(/^feedbackqa-/, "").replace(/-r\d+$/, ""),
    true,
  );

/** data/usr holds both USR sets; ids stay USR's (`<source>-<dialogue>-<system>`) so ratings.jsonl can be joined. */
const usrReader = (source: string) => () =>
  fromDataset(
    "usr",
    (row) => row.source === source,
    (row) => row.id.slice(source.length + 1),
    false,
  );

const USR_ORIGIN = [
  "`data/usr/` (made by `scripts/convert-usr.ts` from the USR annotation set, GitHub",
  "`SmartDataAnalytics/proxy_indicators`, `data/`; Mehri & Eskenazi, ACL 2020): dialogue contexts with responses from",
  "several systems and people. Context = a `knowledge` turn ({fact}) and the dialogue turns, the last one the",
  "user's; response = one system's reply. USR's human ratings are not used for the labels; they are only compared",
  "with the teacher below.",
];

export const SOURCES: readonly SourceSpec[] = [
  {
    name: "chatbot-arena",
    title: "Chatbot Arena conversations",
    standsFor: "Chatbot Arena conversations",
    origin: [
      "`chatbot-arena/conversations.jsonl` (GitHub `issacting93/Convo-topo`, `conversations-raw/`; side A of",
      "lmsys `chatbot_arena_conversations`). Every assistant turn is a candidate response; its context is the turns",
      "before it.",
    ],
    license: ["Upstream (lmsys): prompts CC-BY-4.0, model outputs CC-BY-NC-4.0 (not verified for this copy)."],
    read: readChatbotArena,
  },
  {
    name: "hh-chosen",
    title: "HH-RLHF, chosen replies",
    standsFor: "HH-RLHF chosen",
    origin: [
      "`hh-rlhf/harmless-base-test.jsonl.gz` (GitHub `anthropics/hh-rlhf`, `harmless-base/test.jsonl.gz`), the",
      '`chosen` transcripts, parsed at "\\n\\nHuman:" / "\\n\\nAssistant:"; the last assistant turn is the response.',
      "Transcripts whose last assistant turn is empty are skipped.",
      "Red-team prompts: many conversations are offensive or about harm.",
    ],
    license: ["MIT (the hh-rlhf repository's LICENSE)."],
    read: hhReader("chosen"),
  },
  {
    name: "hh-rejected",
    title: "HH-RLHF, rejected replies",
    standsFor: "HH-RLHF rejected",
    origin: [
      "`hh-rlhf/harmless-base-test.jsonl.gz` (GitHub `anthropics/hh-rlhf`, `harmless-base/test.jsonl.gz`), the",
      '`rejected` transcripts, parsed at "\\n\\nHuman:" / "\\n\\nAssistant:"; the last assistant turn is the response.',
      "Transcripts whose last assistant turn is empty are skipped.",
      "Red-team prompts: many conversations are offensive or about harm. conv-hh-chosen is split the same way",
      "but on its own conversations, so a few openings near the cut may fall in different splits in the two datasets.",
    ],
    license: ["MIT (the hh-rlhf repository's LICENSE)."],
    read: hhReader("rejected"),
  },
  {
    name: "feedbackqa-qa",
    title: "FeedbackQA question-answer pairs",
    standsFor: "AmazonQA (question -> answer)",
    origin: [
      "`data/feedbackqa/` (made by `scripts/convert-feedbackqa.ts` from FeedbackQA, GitHub `McGill-NLP/feedbackqa`):",
      "one candidate per distinct (question, answer passage); context = the question, response = the passage.",
      "FeedbackQA's human ratings and explanations are not used here (they are in data/feedbackqa), and its split",
      "is kept: a question is in the same split in both datasets.",
    ],
    license: [
      "See data/feedbackqa/CARD.md: no license in the GitHub repository; passages from WHO, CDC, UK and",
      "Australian government pages. Cite Li et al., Findings of ACL 2022.",
    ],
    read: readFeedbackqa,
  },
  {
    name: "usr-topical",
    title: "USR Topical-Chat responses",
    standsFor: "CoQA (knowledge-grounded conversation)",
    origin: USR_ORIGIN.map((l) => l.replace("{fact}", "the Topical-Chat knowledge snippet")),
    license: ["See data/usr/CARD.md: none stated; cite USR (Mehri & Eskenazi 2020) and Topical-Chat (Gopalakrishnan et al. 2019)."],
    read: usrReader("usr-topical"),
  },
  {
    name: "usr-persona",
    title: "USR PersonaChat responses",
    standsFor: "Cornell Movie-Dialogs (open chit-chat)",
    origin: USR_ORIGIN.map((l) => l.replace("{fact}", "the responder's PersonaChat persona")),
    license: ["See data/usr/CARD.md: none stated; cite USR (Mehri & Eskenazi 2020) and PersonaChat (Zhang et al. 2018)."],
    read: usrReader("usr-persona"),
  },
];

// ------------------------------------------------------------------------------------------------- build

interface Selection {
  candidates: number;
  duplicates: number;
  conversations: Record<Split, Candidate[]>;
}

/** Drops repeated (context, response) pairs, samples MAX_CONVERSATIONS (seeded; file order kept) and splits. */
function select(source: string, all: Candidate[]): Selection {
  const seen = new Set<string>();
  const unique = all.filter((c) => {
    const key = JSON.stringify([c.context, c.response]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const order = new Rng(hashSeed(BENCHMARK_SEED, "sample", source)).shuffle(unique.map((_, i) => i));
  const kept = order
    .slice(0, MAX_CONVERSATIONS)
    .sort((a, b) => a - b)
    .map((i) => unique[i]);
  const conversations = kept.every((c) => c.split !== undefined)
    ? { train: kept.filter((c) => c.split === "train"), test: kept.filter((c) => c.split === "test") }
    : splitByKey(kept);
  return { candidates: all.length, duplicates: all.length - unique.length, conversations };
}

const isUsr = (source: string) => source.startsWith("usr-");

interface SourceResult {
  spec: SourceSpec;
  selection: Selection;
  rows: Record<Split, Example[]>;
  agreement: Record<Dimension, RaterAgreement>;
  humans: TeacherVsHuman[] | undefined;
}

async function buildSource(spec: SourceSpec, rawDir: string): Promise<SourceResult> {
  const selection = select(spec.name, spec.read(rawDir));
  const teacher = benchmarkTeacher(spec.name, selection.conversations.train);
  const rows: Record<Split, Example[]> = { train: [], test: [] };
  const ratings = new Map<Dimension, TeacherRating[]>(DIMENSIONS.map((d) => [d, []]));
  for (const split of SPLITS) {
    for (const c of selection.conversations[split]) {
      for (const dimension of DIMENSIONS) {
        const rating = await teacher.rate(c, dimension);
        ratings.get(dimension)!.push(rating);
        rows[split].push({
          id: `${spec.name}-${c.id}-${dimension}`,
          source: spec.name,
          dimension,
          context: c.context,
          response: c.response,
          label: String(rating.label),
          labelSet: LABEL_SET,
          explanations: [rating.explanation],
          split,
        });
      }
    }
  }
  const agreement = Object.fromEntries(DIMENSIONS.map((d) => [d, raterAgreement(ratings.get(d)!)])) as Record<Dimension, RaterAgreement>;
  const usrRatings = join(PROJECT_ROOT, USR_RATINGS_FILE);
  const humans = isUsr(spec.name) && existsSync(usrRatings) ? teacherVsUsr([...rows.train, ...rows.test], readUsrRatings(usrRatings)) : undefined;
  return { spec, selection, rows, agreement, humans };
}

// -------------------------------------------------------------------------------------------------- card

const fixed = (x: number) => (Number.isNaN(x) ? "n/a" : x.toFixed(2));

function raterTable(): string[] {
  const signalsOf = (weights: Partial<Record<SignalName, number>>) =>
    Object.entries(weights)
      .map(([s, w]) => `${s} ${w}`)
      .join(", ");
  return [
    "| rater | reads | naturalness | comprehensiveness | on-topic |",
    "|---|---|---|---|---|",
    ...RUBRIC_PROFILES.map((p) => tableRow([p.name, p.focus, ...DIMENSIONS.map((d) => signalsOf(p.weights[d]))])),
    "",
    "| signal | dimension | goodness (clamped to [0, 1]) |",
    "|---|---|---|",
    ...(Object.keys(SIGNALS) as SignalName[]).map((s) => tableRow([s, SIGNALS[s].dimension, SIGNALS[s].what])),
  ];
}

/** The USR cards' comparison with people; other sources have no human ratings on these dimensions. */
function humanSection(result: SourceResult): string[] {
  if (!isUsr(result.spec.name)) return [];
  const header = ["## Teacher against people (USR's human ratings)", ""];
  if (result.humans === undefined) {
    return [...header, `Not computed: \`${USR_RATINGS_FILE}\` was missing when this card was built (\`scripts/teacher-vs-usr.ts\`).`, ""];
  }
  return [
    ...header,
    "Spearman correlation between the teacher's label and the mean over USR's annotators, on this dataset's",
    `responses matched in \`${USR_RATINGS_FILE}\` (both splits; \`scripts/teacher-vs-usr.ts\`). The teacher's signals`,
    "and weights were set by hand and not fitted to these ratings.",
    "",
    ...usrTable(result.humans),
    "",
  ];
}

function card(result: SourceResult, command: string): string {
  const { spec, selection, rows, agreement } = result;
  const all = [...rows.train, ...rows.test];
  const conversations = (s: Split) => selection.conversations[s].length;
  const groups = (s: Split) => new Set(selection.conversations[s].map((c) => conversationKey(c.context))).size;
  const explanationWords = all.map((e) => words(e.explanations[0]));
  const example = (dimension: Dimension, label: string) => rows.train.find((e) => e.dimension === dimension && e.label === label);
  return [
    `# ${spec.title} (data/conv-${spec.name})`,
    "",
    "Three-dimension conversation benchmark: rate a response for naturalness, comprehensiveness and on-topic",
    "adherence on 1-5. One example per (conversation, dimension), with one explanation.",
    "",
    "**The labels and explanations come from rubric raters computed from the text: not from people, and not",
    "from an LLM.** They are a transparent stand-in for the paper's LLM teacher (see `src/teacher/`).",
    "",
    "## Source",
    `Stands in for the paper's **${spec.standsFor}** source.`,
    "",
    ...spec.origin,
    "",
    "## License",
    ...spec.license,
    "The labels and explanations here are this project's (MIT, like the code).",
    "",
    "## How labels and explanations were made",
    `The teacher mirrors the paper's 3 LLMs x 4 prompt strategies: ${RUBRIC_PROFILES.length} rubric raters x ${STRATEGIES.length} strategies`,
    `(${STRATEGIES.map((s) => s.name).join(", ")}) = ${RUBRIC_PROFILES.length * STRATEGIES.length} scores and explanations per conversation and dimension.`,
    "",
    "- **Raters.** Each rater's raw value is the weighted mean of signal goodness values (weights below); the",
    "  raters read different signals, so they disagree. On-topic signals compare the response with the context,",
    "  so the same response gets another on-topic score under another context.",
    "- **Strategies and calibration.** A raw value becomes a score on the strategy's scale by its quantile position",
    "  among reference values (ties count half; score = 1 + floor(position x scale), top bin closed). Without anchors",
    "  the reference is the rater's raw values on **this source's training split**, i.e. the cut points are",
    "  calibrated to the training quantiles of each (rater, dimension); with anchors it is " + ANCHOR_COUNT + " anchor",
    "  conversations drawn (seeded) from the training split. The scores are therefore relative to this source:",
    "  a 5 is a response in the source's top fifth by that rater, not an absolute grade.",
    "- **1-4 to 1-5.** score5 = 1 + (score4 - 1) x 4 / 3 (1, 2.33, 3.67, 5).",
    "- **Merge.** Label = the mean of the 12 scores, rounded half up, clamped to 1-5. Explanation = the two",
    "  evidence clauses with the most support, where a clause cited by a judgment earns 1 / (1 + 2 |that judgment's",
    `  score - label|), halved when it is not the judgment's first clause; near-copies dropped; under ${EXPLANATION_MAX_WORDS} words.`,
    "  A judgment cites the two signals that lift its raw value most above the source's training average (high",
    "  scores), pull it down most (low scores), or one of each (middle scores, the side its raw value leans to first).",
    "",
    ...raterTable(),
    "",
    "## Splits",
    `Candidates read: ${selection.candidates}; repeated (context, response) pairs dropped: ${selection.duplicates};` +
      ` kept (seeded sample of at most ${MAX_CONVERSATIONS}): ${conversations("train") + conversations("test")}.`,
    ...(selection.conversations.train.some((c) => c.split !== undefined)
      ? ["The split is data/feedbackqa's: all answers to one question are on one side."]
      : [
          "Whole conversations go to one split: responses are grouped by their conversation's opening turn (lower-cased,",
          "other characters than letters and digits as spaces), the groups are ordered by a salted hash of that key, and",
          `groups go to train until it holds ${(100 * TRAIN_SHARE).toFixed(0)}% of the conversations; the rest are test.`,
        ]),
    "",
    "| split | conversations | distinct openings | examples (x 3 dimensions) |",
    "|---|---|---|---|",
    ...SPLITS.map((s) => tableRow([s, conversations(s), groups(s), rows[s].length])),
    "",
    "## Labels per dimension (labelSet 1-5)",
    "",
    ...DIMENSIONS.flatMap((d) => [
      `### ${d}`,
      "",
      ...labelTable(LABEL_SET, { train: rows.train.filter((e) => e.dimension === d), test: rows.test.filter((e) => e.dimension === d) }),
      "",
    ]),
    "## Inter-rater agreement (both splits)",
    "",
    "| dimension | Krippendorff's alpha, ordinal (12 rater x strategy judgments) | mean pairwise Spearman (3 raters, each averaged over its strategies) |",
    "|---|---|---|",
    ...DIMENSIONS.map((d) => tableRow([d, fixed(agreement[d].alpha), fixed(agreement[d].spearman)])),
    "",
    ...humanSection(result),
    "## Explanations",
    `One per example; mean ${mean(explanationWords).toFixed(1)} words, at most ${Math.max(...explanationWords)}. From the training split:`,
    "",
    ...DIMENSIONS.flatMap((d) =>
      ["1", "5"].map((l) => {
        const e = example(d, l);
        return e === undefined ? `- ${d}, label ${l}: none` : `- ${d}, label ${l}: "${e.explanations[0]}"`;
      }),
    ),
    "",
    "## Schema mapping",
    `\`id\` = \`${spec.name}-<conversation>-<dimension>\`, \`source\` = \`${spec.name}\`, \`dimension\` in`,
    "naturalness / comprehensiveness / on-topic, `context` = the turns before the response, `response` = the",
    "rated turn, `label` in `labelSet` = [1, 2, 3, 4, 5], `explanations` = [the merged teacher explanation].",
    "Rows are written conversation by conversation, the three dimensions together, in source order.",
    "",
    ...madeWith(command),
  ].join("\n");
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { raw: { type: "string" } }, allowPositionals: true });
  const rawDir = values.raw ?? RAW_ROOT;
  const unknown = positionals.filter((p) => !SOURCES.some((s) => s.name === p));
  if (unknown.length > 0) throw new Error(`unknown source ${unknown.join(", ")}; sources: ${SOURCES.map((s) => s.name).join(", ")}`);
  const chosen = positionals.length === 0 ? SOURCES : SOURCES.filter((s) => positionals.includes(s.name));
  const rawOption = values.raw === undefined ? "" : ` --raw ${relative(PROJECT_ROOT, resolve(values.raw))}`;
  for (const spec of chosen) {
    const started = Date.now();
    const result = await buildSource(spec, rawDir);
    const outDir = join(PROJECT_ROOT, "data", `conv-${spec.name}`);
    writeSplits(outDir, result.rows);
    writeFileSync(join(outDir, "CARD.md"), card(result, `node --import tsx scripts/build-benchmark.ts${rawOption} ${spec.name}`));
    const counts = SPLITS.map((s) => `${s} ${result.selection.conversations[s].length}`).join(", ");
    const alphas = DIMENSIONS.map((d) => `${d} ${fixed(result.agreement[d].alpha)}`).join(", ");
    console.log(`conv-${spec.name}: conversations ${counts}; alpha ${alphas} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    if (result.humans !== undefined) console.log(usrTable(result.humans).join("\n"));
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
