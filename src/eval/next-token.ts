/**
 * Next-token log-probabilities at the last position of a text: a user's sanity check on a checkpoint (`xft
 * logits`), and the handle by which xft's numbers are compared with another implementation's.
 */
import { assertBackendHealthy, tf } from "../backend/engine";
import { forward, logitsAt, ModelConfig, Params } from "../model/model";

export interface NextToken {
  /** The text's token ids, as the model read them. */
  ids: number[];
  /** The `top` most likely next tokens as [id, log-probability], most likely first. */
  top: Array<[number, number]>;
}

export async function nextTokenLogprobs(params: Params, config: ModelConfig, ids: readonly number[], top = 20): Promise<NextToken> {
  if (ids.length === 0) throw new Error("the text has no tokens: give a non-empty text");
  if (ids.length > config.maxLen) throw new Error(`the text has ${ids.length} tokens; the model reads at most ${config.maxLen}`);
  if (!(Number.isInteger(top) && top > 0)) throw new Error(`top must be a positive integer, got ${top}`);
  const [values, indices] = tf.tidy(() => {
    const { hidden } = forward(params, config, tf.tensor2d([ids as number[]], [1, ids.length], "int32"));
    const logprobs = tf.logSoftmax(logitsAt(params, hidden, tf.tensor1d([ids.length - 1], "int32")));
    const best = tf.topk(logprobs.reshape([-1]), Math.min(top, config.vocabSize));
    return [best.values, best.indices];
  });
  const [v, i] = await Promise.all([values.data(), indices.data()]);
  tf.dispose([values, indices]);
  assertBackendHealthy();
  return { ids: [...ids], top: Array.from(i, (id, k) => [id, v[k]]) };
}
