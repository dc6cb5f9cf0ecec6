/**
 * Size profiles: one switch (`XFT_PROFILE=ci|quick|full`, or `--profile`) sets model, data and
 * training sizes. `ci` finishes a notebook in minutes for the tests, `quick` (the default for a person)
 * in tens of minutes, `full` is the setting for results one reports.
 */
import type { GptConfig } from "../model/model";
import type { TrainConfig } from "../train/trainer";
import type { SequenceOptions } from "../train/sequences";

const PROFILE_NAMES = ["ci", "quick", "full"] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export interface Profile {
  name: ProfileName;
  model: Omit<GptConfig, "vocabSize" | "maxLen">;
  sequence: SequenceOptions;
  /** Everything but the seed and the step count, which follows from `epochs`. */
  train: Omit<TrainConfig, "seed" | "steps">;
  epochs: number;
  /** Caps on the number of examples (a fixed, seed-independent subset); undefined: all. */
  maxTrain?: number;
  maxTest?: number;
}

const OPTIMIZER = { lr: 1e-3, minLr: 1e-4, weightDecay: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, gradClip: 1.0 };

/**
 * Learning rates for fine-tuning a pretrained Hugging Face checkpoint (`--init hf:DIR`), in every profile: the
 * profiles' own rates are for models trained from scratch, far too large for pretrained weights. The usual choices:
 * 5e-5 for full fine-tuning, 2e-4 for LoRA (as the QLoRA recipes use); the cosine schedule ends at a tenth.
 */
export const CHECKPOINT_LR = { full: { lr: 5e-5, minLr: 5e-6 }, lora: { lr: 2e-4, minLr: 2e-5 } } as const;

export const PROFILES: Record<ProfileName, Profile> = {
  ci: {
    name: "ci",
    model: { layers: 2, dModel: 64, heads: 4, mlpRatio: 4, initStd: 0.02 },
    sequence: { maxLen: 96, maxExplTokens: 32 },
    train: { ...OPTIMIZER, lr: 2e-3, warmupSteps: 10, batchSize: 16, checkpointEvery: 50 },
    epochs: 2,
    maxTrain: 800,
    maxTest: 300,
  },
  quick: {
    name: "quick",
    model: { layers: 4, dModel: 128, heads: 4, mlpRatio: 4, initStd: 0.02 },
    sequence: { maxLen: 128, maxExplTokens: 48 },
    train: { ...OPTIMIZER, warmupSteps: 100, batchSize: 32, checkpointEvery: 200 },
    epochs: 4,
  },
  full: {
    name: "full",
    model: { layers: 6, dModel: 256, heads: 8, mlpRatio: 4, initStd: 0.02 },
    sequence: { maxLen: 128, maxExplTokens: 48 },
    train: { ...OPTIMIZER, lr: 6e-4, minLr: 6e-5, warmupSteps: 200, batchSize: 32, checkpointEvery: 200 },
    epochs: 10,
  },
};

/** The profile named by `name`, or by XFT_PROFILE, or `quick`. */
export function resolveProfile(name?: string): Profile {
  const chosen = name ?? process.env.XFT_PROFILE ?? "quick";
  if (!(PROFILE_NAMES as readonly string[]).includes(chosen)) {
    throw new Error(`unknown profile "${chosen}"; use one of ${PROFILE_NAMES.join(", ")}`);
  }
  return PROFILES[chosen as ProfileName];
}
