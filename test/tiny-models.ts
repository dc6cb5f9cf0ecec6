/** Small random models that the unit tests build in memory: a Qwen2-shaped Llama (GQA, q/k/v biases, an untied head). */
import type { LlamaConfig } from "../src/model/model";

export function tinyQwen2(sizes: Pick<LlamaConfig, "vocabSize" | "layers">): LlamaConfig {
  return {
    family: "llama",
    modelType: "qwen2",
    maxLen: 16,
    dModel: 16,
    heads: 4,
    kvHeads: 2,
    headDim: 4,
    mlpDim: 24,
    normEps: 1e-6,
    ropeTheta: 10000,
    ropeScale: 1,
    qkvBias: true,
    outBias: false,
    mlpBias: false,
    untiedHead: true,
    initStd: 0.2,
    ...sizes,
  };
}
