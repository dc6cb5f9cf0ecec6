/**
 * Descriptive statistics of datasets: label distributions and explanation lengths, per dimension.
 * `xft data list`, the data notebook and the dataset converters' cards read them from here.
 */
import { Rng, hashSeed } from "../util/rng";
import type { Dataset } from "./load";
import type { Example } from "./schema";

/** Arithmetic mean; 0 for no values (a card's "mean words" of an empty split reads 0, not NaN). */
export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(values.length, 1);
}

/** The q-quantile of ascending values, interpolating linearly between neighbours (type 7, as R and numpy default). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new Error("quantile of no values");
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

/** Distinct `dimension` values of the examples, in order of first appearance. */
export function dimensionsOf(examples: readonly Example[]): string[] {
  return [...new Set(examples.map((e) => e.dimension))];
}

export interface LabelShare {
  dataset: string;
  dimension: string;
  label: string;
  count: number;
  /** count / examples of this (dataset, dimension); the shares of one dimension sum to 1. */
  share: number;
}

/** Label counts and shares over train and test together, per dimension, every label of the labelSet in its order (zeros included). */
export function labelDistribution(ds: Dataset): LabelShare[] {
  const examples = [...ds.train, ...ds.test];
  return dimensionsOf(examples).flatMap((dimension) => {
    const rows = examples.filter((e) => e.dimension === dimension);
    return ds.labelSet.map((label) => {
      const count = rows.filter((e) => e.label === label).length;
      return { dataset: ds.name, dimension, label, count, share: count / rows.length };
    });
  });
}

/** Token counts of every explanation of the examples (an example with several explanations gives several). */
export function explanationTokenCounts(examples: readonly Example[], countTokens: (text: string) => number): number[] {
  return examples.flatMap((e) => e.explanations.map(countTokens));
}

export interface LengthSummary {
  n: number;
  mean: number;
  p5: number;
  q1: number;
  median: number;
  q3: number;
  p95: number;
  max: number;
}

export function summarizeLengths(values: readonly number[]): LengthSummary {
  const sorted = [...values].sort((a, b) => a - b);
  const q = (p: number) => quantile(sorted, p);
  return {
    n: sorted.length,
    mean: mean(sorted),
    p5: q(0.05),
    q1: q(0.25),
    median: q(0.5),
    q3: q(0.75),
    p95: q(0.95),
    max: sorted[sorted.length - 1],
  };
}

export interface ExplanationLengths extends LengthSummary {
  dataset: string;
  dimension: string;
  /** Share of the measured explanations longer than `cap` tokens: those a sequence cuts. */
  overCap: number;
}

export interface ExplanationLengthOptions {
  /** The explanation cap of the sequence format (a profile's `sequence.maxExplTokens`). */
  cap: number;
  /** Measure at most this many examples per dimension, a seeded sample; default all. */
  maxExamples?: number;
  seed?: number;
}

/** Explanation lengths in tokens per dimension, over train and test together; dimensions without explanations are left out. */
export function explanationLengths(ds: Dataset, countTokens: (text: string) => number, opts: ExplanationLengthOptions): ExplanationLengths[] {
  const examples = [...ds.train, ...ds.test];
  return dimensionsOf(examples).flatMap((dimension) => {
    let rows = examples.filter((e) => e.dimension === dimension && e.explanations.length > 0);
    if (opts.maxExamples !== undefined && rows.length > opts.maxExamples) {
      rows = new Rng(hashSeed(opts.seed ?? 1, "lengths", ds.name, dimension)).shuffle(rows).slice(0, opts.maxExamples);
    }
    if (rows.length === 0) return [];
    const tokens = explanationTokenCounts(rows, countTokens);
    return [{ dataset: ds.name, dimension, ...summarizeLengths(tokens), overCap: tokens.filter((t) => t > opts.cap).length / tokens.length }];
  });
}
