/**
 * Pseudo-explanations (docs/protocol.md's condition table): text in the explanation's place that keeps some
 * of its properties and drops others, to tell apart what an explanation contributes (meaning, vocabulary,
 * or just more target tokens). Every choice is a pure function of (seed, condition, example id), so a
 * run is reproducible and the same example gets the same pseudo-explanation in every epoch.
 *
 *   label+shuffled    the example's own explanation words in random order     (same words)
 *   label+bow         words drawn i.i.d. from the corpus's explanation words  (same word count)
 *                     (corpus: the training examples of the same dimension)
 *   label+random      tokens drawn uniformly from the BPE vocabulary          (same token count)
 *   label+filler      <|filler|> repeated                                     (same token count)
 *   label+mismatched  the real explanation of another training example of the same dimension
 */
import type { Example } from "../data/schema";
import type { TextFormat } from "../text/format";
import { hashSeed, Rng } from "../util/rng";

export const PSEUDO_CONDITIONS = ["label+shuffled", "label+bow", "label+random", "label+filler", "label+mismatched"] as const;
export type PseudoCondition = (typeof PSEUDO_CONDITIONS)[number];

export function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== "");
}

/** The explanation a condition trains on; the first one when an example has several. */
export function realExplanation(ex: Example): string {
  const e = ex.explanations[0];
  if (e === undefined) throw new Error(`example ${ex.id}: this condition needs an explanation, it has none`);
  return e;
}

/** The explained examples of one dimension and every word occurrence of their explanations. */
interface Pool {
  explained: Example[];
  words: string[];
}

export class PseudoExplanations {
  /**
   * By dimension: a dataset may rate several dimensions, whose explanations use different words, so bag-of-words
   * and mismatched draw from the example's own dimension. A uniform draw from `words` is a unigram draw.
   */
  private readonly pools = new Map<string, Pool>();
  /** `corpus`: the training examples (never the test split, whose explanations must not leak). */
  constructor(
    corpus: readonly Example[],
    private readonly fmt: TextFormat,
    private readonly seed: number,
  ) {
    for (const ex of corpus) {
      if (ex.explanations.length === 0) continue;
      let pool = this.pools.get(ex.dimension);
      if (!pool) this.pools.set(ex.dimension, (pool = { explained: [], words: [] }));
      pool.explained.push(ex);
      pool.words.push(...words(realExplanation(ex)));
    }
    if (this.pools.size === 0) throw new Error("pseudo-explanations need a training set with explanations");
  }

  private pool(ex: Example): Pool {
    const pool = this.pools.get(ex.dimension);
    if (!pool || pool.words.length === 0) throw new Error(`example ${ex.id}: no training explanations for dimension "${ex.dimension}"`);
    return pool;
  }

  private rng(condition: PseudoCondition, ex: Example): Rng {
    return new Rng(hashSeed(this.seed, condition, ex.id));
  }

  shuffled(ex: Example): string {
    return this.rng("label+shuffled", ex)
      .shuffle(words(realExplanation(ex)))
      .join(" ");
  }

  bagOfWords(ex: Example): string {
    const rng = this.rng("label+bow", ex);
    const pool = this.pool(ex).words;
    return words(realExplanation(ex))
      .map(() => pool[rng.int(pool.length)])
      .join(" ");
  }

  randomTokens(ex: Example, count: number): number[] {
    const rng = this.rng("label+random", ex);
    return Array.from({ length: count }, () => this.fmt.randomToken(rng));
  }

  filler(count: number): number[] {
    return new Array<number>(count).fill(this.fmt.fillerToken);
  }

  /** Another example's explanation (same dimension), never one equal to this example's own. */
  mismatched(ex: Example): string {
    const own = realExplanation(ex);
    const explained = this.pool(ex).explained;
    const rng = this.rng("label+mismatched", ex);
    // Retry on a draw of itself or of an identical text; give up only if nothing else exists.
    for (let attempt = 0; attempt < 64; attempt++) {
      const other = explained[rng.int(explained.length)];
      if (other.id !== ex.id && realExplanation(other) !== own) return realExplanation(other);
    }
    const other = explained.find((o) => o.id !== ex.id && realExplanation(o) !== own);
    if (!other) throw new Error(`example ${ex.id}: no other example has a different explanation to mismatch with`);
    return realExplanation(other);
  }

  /** The explanation tokens of a pseudo condition, at most `cap` of them (as the real explanation's are). */
  tokens(ex: Example, condition: PseudoCondition, cap: number): number[] {
    const realCount = () => Math.min(cap, this.fmt.encodeExplanation(realExplanation(ex)).length);
    switch (condition) {
      case "label+shuffled":
        return this.fmt.encodeExplanation(this.shuffled(ex)).slice(0, cap);
      case "label+bow":
        return this.fmt.encodeExplanation(this.bagOfWords(ex)).slice(0, cap);
      case "label+random":
        return this.randomTokens(ex, realCount());
      case "label+filler":
        return this.filler(realCount());
      case "label+mismatched":
        return this.fmt.encodeExplanation(this.mismatched(ex)).slice(0, cap);
    }
  }
}
