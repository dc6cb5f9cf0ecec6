/**
 * `xft logits --init hf:DIR|--run KEY --text "..." [--top N] [--json]`: the text's token ids and the next-token
 * log-probabilities at its last position (the most likely `top`, default 20). With --json, one object
 * {ids, top: [[id, logprob], ...]}.
 */
import { initBackend } from "../backend/engine";
import { nextTokenLogprobs } from "../eval/next-token";
import { disposeParams, ModelConfig, Params } from "../model/model";
import { describeModel, loadPretrained } from "../model/pretrained";
import { loadRunModel, readRunRecord } from "../runs/experiment";
import { HfTokenizer } from "../text/hf-tokenizer";
import { XftTokenizer } from "../text/tokenizer";

export interface LogitsArgs {
  init?: string;
  run?: string;
  runsDir?: string;
  text: string;
  top: number;
  json: boolean;
  backend?: string;
}

interface Loaded {
  params: Params;
  config: ModelConfig;
  encode: (text: string) => number[];
  decode: (ids: number[]) => string;
  what: string;
}

/** The model and its tokenizer: a checkpoint's own (with its special tokens, as transformers encodes), or a run's. */
function loadModel(args: LogitsArgs): Loaded {
  if ((args.init === undefined) === (args.run === undefined)) throw new Error("give one of --init hf:DIR and --run KEY");
  if (args.init !== undefined) {
    const m = loadPretrained(args.init);
    return {
      params: m.params,
      config: m.config,
      what: `${m.dir} (${describeModel(m.config)})`,
      encode: (text) => m.tokenizer.encode(text, { addSpecialTokens: true }),
      decode: (ids) => m.tokenizer.decode(ids),
    };
  }
  const record = readRunRecord(args.run!, { runsDir: args.runsDir });
  const { params, config } = loadRunModel(record);
  const what = `run ${record.key} (${describeModel(config)})`;
  // A run from a checkpoint reads text as the checkpoint does, with its special tokens; xft's own runs without.
  if (record.init?.from === "hf") {
    const tok = HfTokenizer.load(record.init.dir);
    return { params, config, what, encode: (text) => tok.encode(text, { addSpecialTokens: true }), decode: (ids) => tok.decode(ids) };
  }
  const tok = XftTokenizer.load();
  return { params, config, what, encode: (text) => tok.encode(text), decode: (ids) => tok.decode(ids) };
}

export async function runLogits(args: LogitsArgs): Promise<number> {
  if (args.text === "") throw new Error("--text is empty: give the text whose next token to score");
  await initBackend({ requested: args.backend, quiet: args.json });
  const m = loadModel(args);
  try {
    const result = await nextTokenLogprobs(m.params, m.config, m.encode(args.text), args.top);
    if (args.json) {
      process.stdout.write(JSON.stringify(result) + "\n");
      return 0;
    }
    const lines = [
      m.what,
      `ids (${result.ids.length}): ${result.ids.join(" ")}`,
      `next token after the last position, top ${result.top.length}:`,
      ...result.top.map(([id, logprob]) => `  ${String(id).padStart(7)}  ${logprob.toFixed(5).padStart(10)}  ${JSON.stringify(m.decode([id]))}`),
    ];
    process.stdout.write(lines.join("\n") + "\n");
    return 0;
  } finally {
    disposeParams(m.params);
  }
}
