import assert from "node:assert/strict";
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { test } from "node:test";
import { conversationKey, LABEL_SET, parseHhTranscript, SOURCES } from "../../scripts/build-benchmark";
import { Dataset, loadDataset } from "../../src/data/load";
import { Example } from "../../src/data/schema";
import { krippendorffAlphaOrdinal, meanPairwiseSpearman, ranks, spearman } from "../../src/teacher/agreement";
import { benchmarkTeacher, conversationsOf } from "../../src/teacher/benchmark";
import { mergeExplanations, mergeScores, Teacher } from "../../src/teacher/ensemble";
import { Conversation, DIMENSIONS, Dimension, Judgment } from "../../src/teacher/judgment";
import { buildPrompt, LlmRater, llmRaterConfigFromEnv, parseReply } from "../../src/teacher/llm-rater";
import { RubricRater, rubricRaters } from "../../src/teacher/raters";
import { quantilePosition, scoreAtPosition, STRATEGIES, toFivePoint } from "../../src/teacher/strategies";

const PROJECT_ROOT = resolve(__dirname, "../..");

const turn = (role: "user" | "assistant", text: string) => ({ role, text });
const ask = (request: string, response: string): Conversation => ({ context: [turn("user", request)], response });

const MUSEUM = "What time does the city museum open on Sunday? How much does a ticket for the dinosaur exhibition cost?";

/** A small source of ordinary exchanges to calibrate on: the hand-made cases are judged against it. */
const TRAIN: Conversation[] = [
  ask(
    "Can you recommend a good book about the history of Rome?",
    "Mary Beard's SPQR is a readable history of ancient Rome, from its founding to the third century.",
  ),
  ask("How do I boil an egg?", "Put the egg in boiling water for about nine minutes, then cool it in cold water before peeling."),
  ask("What's the weather like in Oslo in March?", "March in Oslo is still cold, usually around zero degrees, with some snow and longer days."),
  ask("Is it hard to learn the guitar?", "It takes patience. Most people can play simple chords after a few weeks of daily practice."),
  ask("Which train goes to the airport?", "The express train leaves from platform 4 every fifteen minutes and takes about twenty minutes."),
  ask("Why is the sky blue?", "Sunlight scatters off air molecules, and blue light scatters more than red light, so the sky looks blue."),
  ask("What should I cook tonight?", "A simple pasta with garlic, olive oil and some fresh tomatoes is quick and tasty."),
  ask("How many players are on a football team?", "Each team has eleven players on the field, including the goalkeeper."),
  ask("Do you like jazz?", "I do, especially the old recordings of Miles Davis and John Coltrane from the late fifties."),
  ask("Where can I park near the stadium?", "There is a public car park on the north side, but it fills up quickly on match days."),
  ask("tell me a joke", "ok"),
  ask("What is the capital of Australia?", "Canberra is the capital, although Sydney and Melbourne are larger cities."),
];

function fittedTeacher(): Teacher {
  const teacher = new Teacher(rubricRaters(), 7);
  teacher.fit(TRAIN);
  return teacher;
}

function fittedRaters(): RubricRater[] {
  const raters = rubricRaters();
  new Teacher(raters, 7).fit(TRAIN);
  return raters;
}

/** Every rater's raw value for `better` is above its raw value for `worse`. */
function assertEveryRaterPrefers(dimension: Dimension, better: Conversation, worse: Conversation): void {
  for (const rater of fittedRaters()) {
    const [b, w] = [rater.reading(better, dimension).raw, rater.reading(worse, dimension).raw];
    assert.ok(b > w, `${rater.name} ${dimension}: ${b.toFixed(3)} should exceed ${w.toFixed(3)}`);
  }
}

// ---------------------------------------------------------------------------------------------- raters

test("naturalness: every rater scores a repetitive reply below a fluent one, and cites the repetition", async () => {
  const fluent = ask("Is the new cafe any good?", "The coffee there is excellent, and the staff are friendly. I would happily go back next week.");
  const repetitive = ask(
    "Is the new cafe any good?",
    "the coffee is very very very very good good. the coffee is very very very very good good. the coffee is very very very very good good",
  );
  assertEveryRaterPrefers("naturalness", fluent, repetitive);
  const rating = await fittedTeacher().rate(repetitive, "naturalness");
  const fluentRating = await fittedTeacher().rate(fluent, "naturalness");
  assert.ok(rating.label < fluentRating.label, `labels ${rating.label} vs ${fluentRating.label}`);
  const clauses = rating.judgments.flatMap((j) => j.evidence).join(" | ");
  assert.match(clauses, /repeats 'very very' \d+ times/);
});

test("naturalness: stock assistant phrases and symbol clutter count against a reply", () => {
  const plain = ask(
    "Can you help me plan a trip to Lisbon?",
    "Lisbon is lovely in spring. Spend a day in Alfama, take tram 28 and try the custard tarts in Belem.",
  );
  const canned = ask(
    "Can you help me plan a trip to Lisbon?",
    "As an AI language model, I cannot provide personal opinions. ### **Trip** => {day1: Alfama} ;; @@ It is important to note that I hope this helps.",
  );
  assertEveryRaterPrefers("naturalness", plain, canned);
});

test("comprehensiveness: a reply that answers every question beats one that answers part", () => {
  const full = ask(
    MUSEUM,
    "The city museum opens at 10 am on Sunday. A ticket for the dinosaur exhibition costs 12 euros, and children under six go free.",
  );
  const partial = ask(MUSEUM, "The museum is nice.");
  assertEveryRaterPrefers("comprehensiveness", full, partial);
});

test("on-topic: an off-topic reply scores lower, and the score depends on the context", async () => {
  const onTopic = ask(MUSEUM, "The city museum opens at 10 on Sunday, and the dinosaur exhibition ticket is 12 euros.");
  const offTopic = ask(MUSEUM, "My cat likes to sleep in the sun all afternoon, especially in summer.");
  assertEveryRaterPrefers("on-topic", onTopic, offTopic);

  // The same response under another conversation's context.
  const swapped: Conversation = { context: [turn("user", "Why does my cat sleep so much in summer?")], response: offTopic.response };
  const teacher = fittedTeacher();
  const [here, there] = [await teacher.rate(offTopic, "on-topic"), await teacher.rate(swapped, "on-topic")];
  assert.ok(there.mean > here.mean, `on-topic mean ${there.mean} under a matching context vs ${here.mean}`);
  const [natHere, natThere] = [await teacher.rate(offTopic, "naturalness"), await teacher.rate(swapped, "naturalness")];
  assert.equal(natHere.mean, natThere.mean, "naturalness reads the response only");
});

test("a rater must be fitted before it judges", async () => {
  await assert.rejects(rubricRaters()[0].judge(TRAIN[0], "naturalness"), /call fit\(\)/);
  await assert.rejects(new Teacher(rubricRaters(), 1).rate(TRAIN[0], "naturalness"), /call fit\(\)/);
});

test("each rater gives one judgment per strategy, with its scale and a 1-5 score", async () => {
  const rating = await fittedTeacher().rate(TRAIN[0], "comprehensiveness");
  assert.equal(rating.judgments.length, 3 * STRATEGIES.length);
  for (const j of rating.judgments) {
    const strategy = STRATEGIES.find((s) => s.name === j.strategy)!;
    assert.ok(j.scaleScore >= 1 && j.scaleScore <= strategy.scale);
    assert.equal(j.score, toFivePoint(j.scaleScore, strategy.scale));
    assert.ok(j.evidence.length >= 1 && j.evidence.every((c) => j.explanation.includes(c)), j.explanation);
  }
});

// ------------------------------------------------------------------------------------ strategies, merge

test("strategies: quantile position with ties, bins, and the 1-4 to 1-5 map", () => {
  const ref = [1, 2, 2, 3];
  assert.equal(quantilePosition(0, ref), 0);
  assert.equal(quantilePosition(2, ref), (1 + 2 / 2) / 4);
  assert.equal(quantilePosition(9, ref), 1);
  assert.deepEqual(
    [0, 0.19, 0.2, 0.79, 0.8, 1].map((p) => scoreAtPosition(p, 5)),
    [1, 1, 2, 4, 5, 5],
  );
  assert.deepEqual(
    [1, 2, 3, 4].map((s) => toFivePoint(s, 4).toFixed(2)),
    ["1.00", "2.33", "3.67", "5.00"],
  );
  assert.equal(toFivePoint(3, 5), 3);
});

test("merge: the mean, rounded half up and clamped to 1-5", () => {
  assert.deepEqual(mergeScores([3, 4]), { mean: 3.5, label: 4 });
  assert.equal(mergeScores([2, 3]).label, 3);
  assert.equal(mergeScores([3, 3, 3.4]).label, 3);
  // 2.33 + 3.67 + 3 + 5 = 14 exactly; float sums of thirds must still round up from 3.5.
  assert.equal(mergeScores([toFivePoint(2, 4), toFivePoint(3, 4), 3, 5]).label, 4);
  assert.equal(mergeScores([0.2]).label, 1);
  assert.equal(mergeScores([5.8]).label, 5);
  assert.throws(() => mergeScores([]), /at least one score/);
});

test("merge: explanations keep the best-supported clauses near the label, without near-copies, under 40 words", () => {
  const judgment = (score: number, evidence: string[]): Judgment => ({
    rater: "r",
    strategy: "1-5",
    scaleScore: score,
    score,
    explanation: evidence.join("; "),
    evidence,
  });
  const judgments = [
    judgment(2, ["repeats 'very very' 3 times", "2 of 5 sentences are under 3 words"]),
    judgment(2, ["repeats 'very very' 3 times", "uses no stock assistant phrase"]),
    judgment(5, ["uses no stock assistant phrase", "all sentences start with a capital"]),
    judgment(2, ["2 of 5 sentences are under 3 words"]),
  ];
  assert.equal(mergeExplanations(judgments, 2), "Repeats 'very very' 3 times; 2 of 5 sentences are under 3 words.");
  assert.equal(mergeExplanations(judgments, 5), "Uses no stock assistant phrase; all sentences start with a capital.");

  const copies = [
    judgment(3, ["shares 2 content words with the last user turn ('tea', 'milk')", "shares 2 content words with the last user turn"]),
    judgment(3, ["is short"]),
  ];
  assert.equal(mergeExplanations(copies, 3), "Shares 2 content words with the last user turn ('tea', 'milk'); is short.");

  const long = Array.from({ length: 30 }, (_, i) => `w${i}`).join(" ");
  const capped = mergeExplanations([judgment(3, [long, long + " more"])], 3);
  assert.equal(capped, long.charAt(0).toUpperCase() + long.slice(1) + ".");
});

// ----------------------------------------------------------------------------------------- agreement

test("Krippendorff's alpha (ordinal) reproduces the published example; Spearman matches known values", () => {
  // Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 observers, 12 units, alpha_ordinal = 0.815.
  const observers = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, null, null, null],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, null, 3],
    [null, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, null],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, null],
  ];
  const units = observers[0].map((_, u) => observers.map((o) => o[u]));
  assert.equal(krippendorffAlphaOrdinal(units).toFixed(3), "0.815");
  assert.equal(
    krippendorffAlphaOrdinal([
      [1, 1],
      [2, 2],
      [3, 3],
    ]),
    1,
  );
  assert.ok(
    Number.isNaN(
      krippendorffAlphaOrdinal([
        [2, 2],
        [2, 2],
      ]),
    ),
  );

  assert.deepEqual(ranks([10, 20, 20, 5]), [2, 3.5, 3.5, 1]);
  // scipy.stats.spearmanr([1, 2, 2, 3, 5, 4], [2, 1, 3, 3, 6, 5]) = 0.8676470588235294
  assert.ok(Math.abs(spearman([1, 2, 2, 3, 5, 4], [2, 1, 3, 3, 6, 5]) - 0.8676470588235294) < 1e-12);
  assert.equal(spearman([1, 2, 3], [30, 20, 10]), -1);
  assert.ok(Number.isNaN(spearman([1, 1, 1], [1, 2, 3])));
  assert.equal(
    meanPairwiseSpearman([
      [1, 2, 3],
      [1, 2, 3],
      [3, 2, 1],
    ]),
    (1 - 1 - 1) / 3,
  );
});

// --------------------------------------------------------------------------------------- the benchmark

test("HH-RLHF transcripts parse into alternating turns", () => {
  assert.deepEqual(parseHhTranscript("\n\nHuman: hi there\n\nAssistant: hello\n\nHuman: bye\n\nAssistant: see you"), [
    turn("user", "hi there"),
    turn("assistant", "hello"),
    turn("user", "bye"),
    turn("assistant", "see you"),
  ]);
  assert.equal(parseHhTranscript("no speakers here"), undefined);
});

/** The six shipped datasets (scripts/build-benchmark.ts), loaded on first use so that a missing one fails only these tests. */
let shipped: { source: string; dataset: Dataset }[] | undefined;
function built(): { source: string; dataset: Dataset }[] {
  shipped ??= SOURCES.map((s) => ({ source: s.name, dataset: loadDataset(`conv-${s.name}`, { root: PROJECT_ROOT }) }));
  return shipped;
}

test("the built benchmark: six datasets, three dimensions, one explanation each, sizes as documented", () => {
  assert.equal(built().length, 6);
  for (const { source, dataset } of built()) {
    assert.deepEqual(dataset.labelSet, LABEL_SET);
    const rows = [...dataset.train, ...dataset.test];
    for (const d of DIMENSIONS) {
      const n = rows.filter((r) => r.dimension === d).length;
      assert.ok(n >= 300 && n <= 2500, `${source} ${d}: ${n} examples`);
    }
    assert.ok(rows.every((r) => r.source === source && (DIMENSIONS as readonly string[]).includes(r.dimension)));
    assert.ok(
      rows.every((r) => r.explanations.length === 1 && r.explanations[0].split(/\s+/).length <= 41),
      `${source}: explanations`,
    );
    const share = dataset.train.length / rows.length;
    assert.ok(share > 0.6 && share < 0.75, `${source}: train share ${share}`);
  }
});

test("the built benchmark: every label occurs and none is over 50%, per source and dimension", () => {
  for (const { source, dataset } of built()) {
    for (const d of DIMENSIONS) {
      const rows = [...dataset.train, ...dataset.test].filter((r) => r.dimension === d);
      for (const label of LABEL_SET) {
        const share = rows.filter((r) => r.label === label).length / rows.length;
        assert.ok(share > 0 && share <= 0.5, `${source} ${d}: label ${label} has share ${share.toFixed(3)}`);
      }
    }
  }
});

test("the built benchmark: no conversation is in both splits", () => {
  for (const { source, dataset } of built()) {
    const trainKeys = new Set(dataset.train.map((r) => conversationKey(r.context)));
    const leaked = dataset.test.filter((r) => trainKeys.has(conversationKey(r.context)));
    assert.equal(
      leaked.length,
      0,
      `${source}: ${leaked
        .slice(0, 3)
        .map((r) => r.id)
        .join(", ")}`,
    );
  }
});

test("real benchmark rows: the teacher refitted from the files reproduces the labels, and swapping context changes on-topic", async () => {
  const { dataset } = built().find((b) => b.source === "usr-topical")!;
  const teacher = benchmarkTeacher("usr-topical", conversationsOf(dataset.train));
  const rows = dataset.test.filter((r) => r.dimension === "on-topic");
  for (const row of rows) {
    const rating = await teacher.rate(row, "on-topic");
    assert.equal(String(rating.label), row.label, `${row.id}`);
    assert.equal(rating.explanation, row.explanations[0]);
  }

  // Give each response the context of a conversation with another opening.
  const other = (row: Example) => rows.find((r) => conversationKey(r.context) !== conversationKey(row.context))!;
  let changed = 0;
  let ownMean = 0;
  let swappedMean = 0;
  for (const row of rows) {
    const own = await teacher.rate(row, "on-topic");
    const swapped = await teacher.rate({ context: other(row).context, response: row.response }, "on-topic");
    if (swapped.label !== own.label) changed++;
    ownMean += own.mean / rows.length;
    swappedMean += swapped.mean / rows.length;
  }
  assert.ok(changed > rows.length / 2, `${changed} of ${rows.length} on-topic labels changed`);
  assert.ok(ownMean > swappedMean + 0.5, `mean on-topic ${ownMean.toFixed(2)} in context, ${swappedMean.toFixed(2)} swapped`);
});

// ---------------------------------------------------------------------------------------- LLM rater

interface Loopback {
  baseUrl: string;
  requests: { path: string; authorization?: string; body: { model: string; messages: { role: string; content: string }[] } }[];
  close(): Promise<void>;
}

/** An OpenAI-compatible /v1/chat/completions on 127.0.0.1 that answers with `reply(prompt)`. */
async function loopback(reply: (prompt: string) => { status?: number; content: string }): Promise<Loopback> {
  const requests: Loopback["requests"] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let data = "";
    req.on("data", (chunk) => (data += chunk));
    req.on("end", () => {
      const body = JSON.parse(data);
      requests.push({ path: req.url ?? "", authorization: req.headers.authorization, body });
      if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
        res.writeHead(404).end("not found");
        return;
      }
      const { status, content } = reply(body.messages[body.messages.length - 1].content);
      res.writeHead(status ?? 200, { "content-type": "application/json" });
      res.end(status === undefined ? JSON.stringify({ choices: [{ message: { role: "assistant", content } }] }) : content);
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as AddressInfo;
  // closeAllConnections: fetch keeps connections alive, and close() alone would wait for them.
  const close = () =>
    new Promise<void>((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    });
  return { baseUrl: `http://127.0.0.1:${port}/v1`, requests, close };
}

test("LLM rater: configured only from the environment", () => {
  assert.equal(llmRaterConfigFromEnv({}), undefined);
  assert.equal(llmRaterConfigFromEnv({ XFT_TEACHER_BASE_URL: "http://x/v1" }), undefined);
  assert.deepEqual(llmRaterConfigFromEnv({ XFT_TEACHER_BASE_URL: "http://x/v1", XFT_TEACHER_MODEL: "m", XFT_TEACHER_API_KEY: "k" }), {
    baseUrl: "http://x/v1",
    model: "m",
    apiKey: "k",
  });
  assert.equal(llmRaterConfigFromEnv({ XFT_TEACHER_BASE_URL: "http://x/v1", XFT_TEACHER_MODEL: "m" })!.apiKey, undefined);
});

test("LLM rater: parses score and explanation, and says what is wrong with a malformed reply", () => {
  assert.deepEqual(parseReply("Score: 4\nExplanation: Quotes 'tram 28'.", 5), { scaleScore: 4, explanation: "Quotes 'tram 28'." });
  assert.deepEqual(parseReply("**Score:** 3/4\n**Explanation:** fine.", 4), { scaleScore: 3, explanation: "fine." });
  assert.throws(() => parseReply("It is good.", 5), /no "Score: <1-5>" line; the reply began: "It is good."/);
  assert.throws(() => parseReply("Score: 5\nExplanation: ok", 4), /score 5 is outside 1-4/);
  assert.throws(() => parseReply("Score: 2", 4), /no "Explanation: \.\.\." line/);
});

test("LLM rater: one prompt per strategy over /v1/chat/completions, merged with the rubric raters", async () => {
  const server = await loopback((prompt) => ({
    content: prompt.includes("from 1 to 4")
      ? "Score: 3\nExplanation: The reply gives the opening time '10 am'. It also names the ticket price."
      : "Score: 5\nExplanation: It answers both questions with '10 am' and '12 euros'.",
  }));
  try {
    const llm = new LlmRater({ baseUrl: server.baseUrl, model: "judge-1", apiKey: "test-key" });
    const teacher = new Teacher([...rubricRaters(), llm], 7);
    teacher.fit(TRAIN);
    const conversation = ask(MUSEUM, "It opens at 10 am on Sunday, and the dinosaur ticket costs 12 euros.");
    const rating = await teacher.rate(conversation, "comprehensiveness");

    assert.equal(server.requests.length, STRATEGIES.length);
    for (const r of server.requests) {
      assert.equal(r.path, "/v1/chat/completions");
      assert.equal(r.authorization, "Bearer test-key");
      assert.equal(r.body.model, "judge-1");
    }
    const prompts = server.requests.map((r) => r.body.messages[1].content);
    assert.equal(prompts.filter((p) => p.includes("For calibration, here are 8 replies")).length, 2, "two anchor strategies");
    assert.ok(prompts.every((p) => p.includes("Comprehensiveness") && p.includes("Final reply: It opens at 10 am")));

    const mine = rating.judgments.filter((j) => j.rater === "llm:judge-1");
    assert.deepEqual(
      mine.map((j) => [j.strategy, j.scaleScore]),
      [
        ["1-4", 3],
        ["1-4+anchors", 3],
        ["1-5", 5],
        ["1-5+anchors", 5],
      ],
    );
    assert.deepEqual(mine[0].evidence, ["The reply gives the opening time '10 am'", "It also names the ticket price"]);
    assert.equal(rating.judgments.length, 4 * STRATEGIES.length);
    assert.equal(rating.label, mergeScores(rating.judgments.map((j) => j.score)).label);
  } finally {
    await server.close();
  }
});

test("LLM rater: malformed replies and HTTP errors fail with a clear message", async () => {
  const conversation = ask(MUSEUM, "Ten o'clock.");
  const malformed = await loopback(() => ({ content: "I would say it is fairly good." }));
  try {
    const llm = new LlmRater({ baseUrl: malformed.baseUrl, model: "judge-1" });
    llm.fit({ train: TRAIN, anchors: TRAIN.slice(0, 2) });
    await assert.rejects(
      llm.judge(conversation, "on-topic"),
      /LLM rater llm:judge-1: malformed reply to the on-topic prompt \(1-4\): no "Score: <1-4>" line/,
    );
    assert.equal(malformed.requests[0].authorization, undefined, "no key, no authorization header");
  } finally {
    await malformed.close();
  }
  const failing = await loopback(() => ({ status: 500, content: "overloaded" }));
  try {
    const llm = new LlmRater({ baseUrl: failing.baseUrl + "/", model: "judge-1" });
    llm.fit({ train: TRAIN, anchors: TRAIN.slice(0, 2) });
    await assert.rejects(llm.judge(conversation, "on-topic"), /POST http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions returned 500: overloaded/);
  } finally {
    await failing.close();
  }
});

test("LLM rater prompt: the scale, the anchors only with anchors, and the end of long conversations", () => {
  const long: Conversation = {
    context: Array.from({ length: 10 }, (_, i) => turn(i % 2 === 0 ? "user" : "assistant", `turn number ${i}`)),
    response: "the reply",
  };
  const [plain, anchored] = [STRATEGIES[2], STRATEGIES[3]].map((s) => buildPrompt(long, "on-topic", s, TRAIN.slice(0, 3)));
  assert.match(plain, /from 1 \(very poor\) to 5 \(excellent\)/);
  assert.doesNotMatch(plain, /For calibration/);
  assert.match(anchored, /For calibration, here are 3 replies/);
  assert.doesNotMatch(plain, /turn number 3\b/);
  assert.match(plain, /User: turn number 4\n[\s\S]*Assistant: turn number 9\n\nFinal reply: the reply/);
});
