/**
 * The teacher of the conversation benchmark (data/conv-*) as scripts/build-benchmark.ts made it, and how much
 * its raters agree. The build script writes that agreement into the data cards; a notebook recomputes it from
 * the shipped files by refitting the same teacher, which needs only the files (the teacher is deterministic).
 */
import type { Dataset } from "../data/load";
import type { Example } from "../data/schema";
import { mean } from "../data/stats";
import { Rng, hashSeed } from "../util/rng";
import { krippendorffAlphaOrdinal, meanPairwiseSpearman } from "./agreement";
import { Teacher, TeacherRating } from "./ensemble";
import { Conversation, DIMENSIONS, Dimension } from "./judgment";
import { rubricRaters } from "./raters";

/** Seeds the benchmark's conversation sample, its split and the teachers' anchors. */
export const BENCHMARK_SEED = 1;

/** The teacher of one source, fitted on its training conversations (the order matters: it draws the anchors). */
export function benchmarkTeacher(source: string, train: readonly Conversation[]): Teacher {
  const teacher = new Teacher(rubricRaters(), hashSeed(BENCHMARK_SEED, "teacher", source));
  teacher.fit(train);
  return teacher;
}

/** Identifies a conversation by its text: the benchmark keeps one row per (context, response) and dimension. */
function conversationId(c: Conversation): string {
  return JSON.stringify([c.context, c.response]);
}

/** The distinct conversations of benchmark rows, in order of first appearance (a split file gives its teacher's training list). */
export function conversationsOf(rows: readonly Example[]): Conversation[] {
  const seen = new Map<string, Conversation>();
  for (const row of rows) {
    const key = conversationId(row);
    if (!seen.has(key)) seen.set(key, { context: row.context, response: row.response });
  }
  return [...seen.values()];
}

export interface RaterAgreement {
  /** Krippendorff's alpha (ordinal) over the 12 (rater, strategy) judgments of every conversation. */
  alpha: number;
  /** Mean pairwise Spearman of the three raters (each the mean of its four strategies). */
  spearman: number;
}

/** Agreement of the judgments behind ratings of one dimension, one rating per conversation. */
export function raterAgreement(ratings: readonly TeacherRating[]): RaterAgreement {
  if (ratings.length === 0) throw new Error("raterAgreement needs at least one rating");
  const alpha = krippendorffAlphaOrdinal(ratings.map((r) => r.judgments.map((j) => j.score)));
  const raters = [...new Set(ratings[0].judgments.map((j) => j.rater))];
  const byRater = raters.map((name) => ratings.map((r) => mean(r.judgments.filter((j) => j.rater === name).map((j) => j.score))));
  return { alpha, spearman: meanPairwiseSpearman(byRater) };
}

export interface DimensionAgreement extends RaterAgreement {
  dataset: string;
  dimension: Dimension;
  /** Conversations rated (train and test together, or the sample of them). */
  conversations: number;
  /** Share of them whose refitted rating equals the shipped label: 1 unless the teacher code changed since the build. */
  reproduced: number;
}

export interface AgreementOptions {
  /** Rate at most this many conversations (a seeded sample over both splits); default all, as the data cards do. */
  maxConversations?: number;
  seed?: number;
  /** Called after each conversation is rated on every dimension. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Refits the teacher of a benchmark dataset on its training conversations and rates its conversations again,
 * returning the raters' agreement per dimension. The teacher is fitted on every training conversation even
 * when only a sample is rated, so that the ratings are the shipped ones.
 */
export async function datasetAgreement(ds: Dataset, opts: AgreementOptions = {}): Promise<DimensionAgreement[]> {
  const rows = [...ds.train, ...ds.test];
  if (rows.length === 0) throw new Error(`${ds.name}: no rows to rate`);
  const teacher = benchmarkTeacher(rows[0].source, conversationsOf(ds.train));
  let conversations = conversationsOf(rows);
  if (opts.maxConversations !== undefined && conversations.length > opts.maxConversations) {
    conversations = new Rng(hashSeed(opts.seed ?? 1, "agreement", ds.name)).shuffle(conversations).slice(0, opts.maxConversations);
  }
  const shipped = new Map(rows.map((r) => [`${r.dimension} ${conversationId(r)}`, r.label]));
  const ratings = new Map<Dimension, TeacherRating[]>(DIMENSIONS.map((d) => [d, []]));
  const reproduced = new Map<Dimension, number>(DIMENSIONS.map((d) => [d, 0]));
  for (const [i, c] of conversations.entries()) {
    for (const dimension of DIMENSIONS) {
      const rating = await teacher.rate(c, dimension);
      ratings.get(dimension)!.push(rating);
      if (shipped.get(`${dimension} ${conversationId(c)}`) === String(rating.label)) reproduced.set(dimension, reproduced.get(dimension)! + 1);
    }
    opts.onProgress?.(i + 1, conversations.length);
  }
  return DIMENSIONS.map((dimension) => ({
    dataset: ds.name,
    dimension,
    ...raterAgreement(ratings.get(dimension)!),
    conversations: conversations.length,
    reproduced: reproduced.get(dimension)! / conversations.length,
  }));
}
