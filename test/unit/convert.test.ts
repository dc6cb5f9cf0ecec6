import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { LABEL_SET as AUTOJ_LABELS, parseUsrmsg, RATING_LEAK, ratingLevel, splitCritique } from "../../scripts/convert-autoj";
import { answerText, htmlToText, LABEL_SET as FEEDBACKQA_LABELS, normalizeQuestion, questionSplit } from "../../scripts/convert-feedbackqa";
import { cleanText, contextTurns, LABEL_SET as USR_LABELS, overallLabel, UsrRatings } from "../../scripts/convert-usr";
import { loadDataset, splitFile } from "../../src/data/load";
import { Example } from "../../src/data/schema";

const ROOT = resolve(__dirname, "../..");
const RAW = resolve(ROOT, "../shared/data/raw");
const noRaw = existsSync(RAW) ? false : `no raw folder at ${RAW}`;
const load = (name: string) => loadDataset(name, { root: ROOT, allowTestOnly: true });
const perLabel = (labels: string[], examples: Example[]) => labels.map((l) => examples.filter((e) => e.label === l).length);

// FeedbackQA

test("feedbackqa: no question is in both splits, labels and counts as in the card", () => {
  const ds = load("feedbackqa");
  assert.deepEqual(ds.labelSet, FEEDBACKQA_LABELS);
  assert.deepEqual([ds.train.length, ds.test.length, ds.skipped.length], [6711, 3132, 0]);
  assert.deepEqual(perLabel(FEEDBACKQA_LABELS, ds.train), [2351, 1100, 1116, 2144]);
  assert.deepEqual(perLabel(FEEDBACKQA_LABELS, ds.test), [1155, 477, 520, 980]);
  const questions = (examples: Example[]) => new Set(examples.map((e) => normalizeQuestion(e.context[0].text)));
  const train = questions(ds.train);
  const crossing = [...questions(ds.test)].filter((q) => train.has(q));
  assert.deepEqual(crossing, []);
  for (const e of [...ds.train, ...ds.test]) {
    assert.equal(e.source, "feedbackqa");
    assert.equal(e.dimension, "answer-quality");
    assert.deepEqual(
      e.context.map((t) => t.role),
      ["user"],
    );
    assert.equal(e.explanations.length, 1, e.id);
    assert.equal(questionSplit(e.context[0].text), e.split, e.id);
  }
});

test("feedbackqa: each example carries its own rater's rating and explanation", { skip: noRaw }, () => {
  const ds = load("feedbackqa");
  const rawFiles = new Map<string, { rating: string[]; feedback: string[] }[]>();
  for (const e of [...ds.train, ...ds.test]) {
    const m = /^feedbackqa-(\w+)-(train|valid|test)-(\d+)-r(\d+)$/.exec(e.id);
    assert.ok(m, e.id);
    const [, website, rawSplit, record, rater] = m;
    const key = `${website}/feedback_${rawSplit}.json`;
    if (!rawFiles.has(key)) rawFiles.set(key, JSON.parse(readFileSync(join(RAW, "feedbackqa", key), "utf8")));
    const item = rawFiles.get(key)![Number(record) - 1];
    const k = Number(rater) - 1;
    assert.equal(e.label, item.rating[k], e.id);
    assert.deepEqual(e.explanations, [item.feedback[k].replace(/\s+/g, " ").trim()], e.id);
  }
});

test("feedbackqa: answers come from the passage HTML, one line per block", () => {
  const html =
    "<h3>Title</h3>\n<p>No. Current WHO guidance for HCW\ncaring for patients.</p>\n<ul><li>gloves &amp; gown</li><li></li>" +
    '<li><a href="/x-\ny">masks</a></li></ul><p>See <strong>here</strong>.<img src="a.png"></p>';
  assert.equal(htmlToText(html), "Title\nNo. Current WHO guidance for HCW caring for patients.\n- gloves & gown\n- masks\nSee here.");
  const reference = { page_title: "FAQ", section_headers: ["faq", "Can I travel?"], section_content_html: "<p>Yes.</p>" };
  assert.equal(answerText(reference), "FAQ\nCan I travel?\nYes.");
  assert.equal(normalizeQuestion("  Is it SAFE,  to travel?? "), "is it safe to travel");
  assert.equal(questionSplit("Is it safe to travel?"), questionSplit("is it safe to travel"));
});

// Auto-J

test("autoj: the 1-10 rating maps to five levels by the stated rule", () => {
  const cases: [number, string][] = [
    [1, "1"],
    [2, "1"],
    [3, "2"],
    [4, "3"],
    [5, "4"],
    [5.5, "5"],
    [6, "5"],
    [6.5, "5"],
    [7, "5"],
    [10, "5"],
  ];
  for (const [rating, level] of cases) assert.equal(ratingLevel(rating), level, String(rating));
  assert.throws(() => ratingLevel(0), /outside 1-10/);
  assert.throws(() => ratingLevel(11), /outside 1-10/);
});

test("autoj: the critique loses its rating and a closing sentence about it", () => {
  assert.deepEqual(splitCritique("Good points.\n\nIn conclusion, fine. \n\nRating: [[6]]"), {
    explanation: "Good points.\n\nIn conclusion, fine.",
    rating: 6,
  });
  assert.deepEqual(splitCritique("Too short. \n\nRating: [[4]]. "), { explanation: "Too short.", rating: 4 });
  assert.deepEqual(splitCritique("It misses the point.\n\nTherefore, the response is rated as follows: \n\nRating: [[2]]."), {
    explanation: "It misses the point.",
    rating: 2,
    ratingSentence: "Therefore, the response is rated as follows:",
  });
  assert.equal(splitCritique("Cut off in the middle of a sent"), undefined);
  assert.throws(() => splitCritique("Rating: [[3]] was my first guess.\n\nRating: [[4]]"), /a rating is left in the explanation/);
  assert.deepEqual(
    parseUsrmsg("Write critiques:\n  \n[BEGIN DATA]\n***\n[Query]: \n\nHi?\n***\n[Response]: Hello.\n\n* a\n***\n[END DATA]\n\nWrite critiques."),
    { query: "Hi?", response: "Hello.\n\n* a" },
  );
  assert.throws(() => parseUsrmsg("[Query]: x"), /occurs 0 times, expected once/);
});

test("autoj: no explanation carries the rating; labels and counts as in the card", () => {
  const ds = load("autoj");
  assert.deepEqual(ds.labelSet, AUTOJ_LABELS);
  assert.deepEqual([ds.train.length, ds.test.length, ds.skipped.length], [959, 231, 0]);
  assert.deepEqual(perLabel(AUTOJ_LABELS, ds.train), [165, 178, 210, 128, 278]);
  assert.deepEqual(perLabel(AUTOJ_LABELS, ds.test), [8, 15, 58, 47, 103]);
  const ratingAtEnd = /(\[\[\s*\d+(\.\d+)?\s*\]\]|rat(ing|ed)\b[^.]*?\d+(\.\d+)?|\d+(\.\d+)?\s*(\/|out of)\s*10)\W*$/i;
  for (const e of [...ds.train, ...ds.test]) {
    assert.equal(e.explanations.length, 1, e.id);
    const [explanation] = e.explanations;
    assert.ok(!explanation.includes("Rating: [["), e.id);
    assert.ok(!RATING_LEAK.test(explanation), e.id);
    assert.ok(!ratingAtEnd.test(explanation), `${e.id}: ${explanation.slice(-80)}`);
    assert.equal(e.context[0].role, "user");
  }
});

// USR

test("usr: evaluation only, counts, labels from the mean Overall rating", () => {
  const dir = join(ROOT, "data", "usr");
  assert.equal(splitFile(dir, "train"), undefined);
  assert.throws(() => loadDataset("usr", { root: ROOT }), /evaluation-only/);
  const ds = load("usr");
  assert.deepEqual(ds.labelSet, USR_LABELS);
  assert.deepEqual([ds.train.length, ds.test.length], [0, 660]);
  assert.equal(ds.test.filter((e) => e.source === "usr-topical").length, 360);
  assert.equal(ds.test.filter((e) => e.source === "usr-persona").length, 300);
  assert.deepEqual(perLabel(USR_LABELS, ds.test), [44, 120, 161, 167, 168]);
  for (const e of ds.test) {
    const roles = e.context.map((t) => t.role);
    assert.equal(roles[0], "knowledge", e.id);
    assert.equal(roles[roles.length - 1], "user", e.id);
    roles.slice(1).forEach((r, i) => assert.equal(r, (roles.length - 2 - i) % 2 === 0 ? "user" : "assistant", e.id));
    assert.deepEqual(e.explanations, []);
  }
});

test("usr: ratings.jsonl has one line per example, same ids in the same order, three ratings each", () => {
  const ds = load("usr");
  const ratings = readFileSync(join(ROOT, "data", "usr", "ratings.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as UsrRatings);
  assert.deepEqual(
    ratings.map((r) => r.id),
    ds.test.map((e) => e.id),
  );
  ratings.forEach((r, i) => {
    for (const name of ["understandable", "natural", "maintainsContext", "engaging", "usesKnowledge", "overall"] as const) {
      assert.equal(r[name].length, 3, `${r.id} ${name}`);
    }
    assert.equal(r.annotators.length, 3);
    assert.equal(ds.test[i].label, overallLabel(r.overall), r.id);
    assert.equal(r.mean.overall, Number((r.overall.reduce((a, b) => a + b, 0) / 3).toFixed(4)));
  });
});

test("usr: text cleaning and turn roles", () => {
  assert.equal(cleanText('their " home grown " market , do n\'t you ?'), 'their "home grown" market, don\'t you?');
  assert.equal(cleanText("an award - winning , 21-year - old singer"), "an award-winning, 21-year-old singer");
  assert.equal(cleanText("a & ldquo;bad attitude.&rdquo ; and predictim&rsquo;s"), 'a "bad attitude." and predictim\'s');
  assert.equal(cleanText("what 's \" natural ."), "what's \" natural.");
  assert.deepEqual(contextTurns("hi there\nhello !\nhow are you ?\n", "your persona: i like dogs .\n"), [
    { role: "knowledge", text: "your persona: i like dogs." },
    { role: "user", text: "hi there" },
    { role: "assistant", text: "hello!" },
    { role: "user", text: "how are you?" },
  ]);
  assert.deepEqual(
    contextTurns("a \n b \n\n", "f").map((t) => t.role),
    ["knowledge", "assistant", "user"],
  );
  assert.equal(overallLabel([4, 4, 3]), "4");
  assert.equal(overallLabel([1, 2, 2]), "2");
});
