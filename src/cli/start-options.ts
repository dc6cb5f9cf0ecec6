/**
 * The options that say where a run's weights start, shared by `xft train`, `xft reproduce` and `xft probe`:
 *   --init scratch|base|hf:DIR  --base DIR  --adapter none|lora  --lora-rank N  --lora-alpha A  --lora-dropout P  --lora-targets a,b
 *   --chat-template (with hf:, the text in the checkpoint's chat template)
 */
import { LoraConfig, parseLoraTargets } from "../model/lora";
import { ADAPTER_KINDS, AdapterKind, parseInit } from "../runs/base";
import type { RunStart } from "../runs/experiment";
import type { OptionTable, OptionValues } from "./options";

export const START_OPTIONS = {
  init: {
    type: "string",
    help:
      "scratch|base|hf:DIR|hf:org/name (default scratch: random weights; base: the pretrained base, see pretrain; hf: a " +
      "Hugging Face checkpoint, a save_pretrained folder or a model in the local cache)",
  },
  base: { type: "string", help: "DIR (with --init base; default data/base-<profile>, else runs/pretrain/<profile>)" },
  adapter: { type: "string", help: "none|lora (lora with base or hf:)" },
  "lora-rank": { type: "string", help: "N (8)" },
  "lora-alpha": { type: "string", help: "A (16)" },
  "lora-dropout": { type: "string", help: "P (0.05)" },
  "lora-targets": {
    type: "string",
    help: "a,b (default every linear layer: xft's attn.wqkv,attn.wo,mlp.w1,mlp.w2, or the checkpoint's module names q_proj,v_proj,c_attn,...)",
  },
  "chat-template": {
    type: "boolean",
    help: "(with hf:, the prompt as a user message and the target as the reply, in the checkpoint's chat template)",
  },
} as const satisfies OptionTable;

type StartValues = Partial<OptionValues<typeof START_OPTIONS>>;

function oneOf<T extends string>(value: string | undefined, known: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(known as readonly string[]).includes(value)) throw new Error(`${flag} takes ${known.join(" or ")}, got "${value}"`);
  return value as T;
}

function numberOf(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`${flag} must be a number, got "${value}"`);
  return n;
}

export function parseStart(values: StartValues): RunStart {
  const lora: Partial<LoraConfig> = {};
  const rank = numberOf(values["lora-rank"], "--lora-rank");
  const alpha = numberOf(values["lora-alpha"], "--lora-alpha");
  const dropout = numberOf(values["lora-dropout"], "--lora-dropout");
  if (rank !== undefined) lora.rank = rank;
  if (alpha !== undefined) lora.alpha = alpha;
  if (dropout !== undefined) lora.dropout = dropout;
  if (values["lora-targets"] !== undefined) lora.targets = parseLoraTargets(values["lora-targets"]);
  const adapter = oneOf<AdapterKind>(values.adapter, ADAPTER_KINDS, "--adapter");
  if (Object.keys(lora).length > 0 && adapter !== "lora") throw new Error("--lora-* options need --adapter lora");
  return {
    init: values.init === undefined ? undefined : parseInit(values.init),
    base: values.base,
    adapter,
    ...(Object.keys(lora).length > 0 ? { lora } : {}),
    ...(values["chat-template"] ? { chatTemplate: true } : {}),
  };
}

/** The same start as command-line flags, for the child processes of `--jobs`. */
export function startArgs(start: RunStart): string[] {
  const args: string[] = [];
  if (start.init) args.push("--init", start.init);
  if (start.base) args.push("--base", start.base);
  if (start.adapter) args.push("--adapter", start.adapter);
  const l = start.lora ?? {};
  if (l.rank !== undefined) args.push("--lora-rank", String(l.rank));
  if (l.alpha !== undefined) args.push("--lora-alpha", String(l.alpha));
  if (l.dropout !== undefined) args.push("--lora-dropout", String(l.dropout));
  if (l.targets) args.push("--lora-targets", l.targets.join(","));
  if (start.chatTemplate) args.push("--chat-template");
  return args;
}
