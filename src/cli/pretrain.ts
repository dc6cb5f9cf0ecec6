/**
 * `xft pretrain`: pretrain a base model on the project's corpus, or with `--init hf:DIR` continue pretraining a
 * Hugging Face checkpoint (src/runs/pretrain-checkpoint.ts); progress on stderr, a summary of its card on stdout.
 */
import { initBackend } from "../backend/engine";
import { parseInit } from "../runs/base";
import { pretrain, PretrainOptions } from "../runs/pretrain";
import { pretrainCheckpoint } from "../runs/pretrain-checkpoint";
import { statusLine, stopOnInterrupt } from "./long-running";

export interface PretrainArgs {
  profile?: string;
  /** hf:DIR or hf:org/name: a checkpoint to continue pretraining. */
  init?: string;
  out?: string;
  layers?: number;
  dModel?: number;
  heads?: number;
  backend?: string;
  fresh: boolean;
  /** The command line as given, for the model card. */
  command: string;
}

/** The base's or the continued checkpoint's card as the command prints it; undefined where it stopped. */
async function pretrained(args: PretrainArgs, opts: PretrainOptions): Promise<{ dir: string; summary?: Record<string, unknown>; reused: boolean }> {
  const init = args.init === undefined ? undefined : parseInit(args.init);
  if (init !== undefined && !init.startsWith("hf:"))
    throw new Error(`pretrain --init takes hf:DIR (a Hugging Face checkpoint to continue), got "${args.init}"`);
  if (init === undefined) {
    const { dir, card: c, reused } = await pretrain(args.profile, opts);
    return {
      dir,
      reused,
      summary: c && {
        dir,
        parameters: c.model.parameters,
        corpusTokens: c.corpus.trainTokens,
        tokensSeen: c.tokensSeen,
        heldOutPerplexity: Number(c.heldOut.perplexity.toFixed(2)),
        finalLoss: c.losses.at(-1)?.loss,
        wallS: Number(c.wallS.toFixed(1)),
        tokensPerSec: Math.round(c.tokensPerSec),
        backend: c.environment.backend,
      },
    };
  }
  const { dir, card: c, reused } = await pretrainCheckpoint(args.profile, init as `hf:${string}`, opts);
  return {
    dir,
    reused,
    summary: c && {
      dir,
      init: `hf:${dir}`,
      from: c.from.dir,
      parameters: c.model.parameters,
      corpusTokens: c.corpus.trainTokens,
      tokensSeen: c.tokensSeen,
      heldOutPerplexityBefore: Number(c.heldOutBefore.perplexity.toFixed(2)),
      heldOutPerplexity: Number(c.heldOut.perplexity.toFixed(2)),
      firstLoss: c.losses[0]?.loss,
      finalLoss: c.losses.at(-1)?.loss,
      wallS: Number(c.wallS.toFixed(1)),
      tokensPerSec: Math.round(c.tokensPerSec),
      backend: c.environment.backend,
    },
  };
}

export async function runPretrain(args: PretrainArgs): Promise<number> {
  await initBackend({ requested: args.backend });
  const interrupt = stopOnInterrupt();
  const status = statusLine();
  try {
    const model = Object.fromEntries(
      Object.entries({ layers: args.layers, dModel: args.dModel, heads: args.heads }).filter(([, v]) => v !== undefined),
    );
    const result = await pretrained(args, {
      out: args.out,
      model,
      fresh: args.fresh,
      command: args.command,
      shouldStop: interrupt.requested,
      onProgress: (p) => status(p.text, p.step === p.totalSteps),
    });
    if (!result.summary) {
      process.stderr.write(`xft pretrain: stopped; run the same command to resume (checkpoint in ${result.dir})\n`);
      return 130;
    }
    if (result.reused)
      process.stderr.write(`xft pretrain: reused the finished ${args.init ? "checkpoint" : "base"} in ${result.dir} (--fresh pretrains again)\n`);
    process.stdout.write(JSON.stringify(result.summary, null, 2) + "\n");
    return 0;
  } finally {
    interrupt.release();
  }
}
