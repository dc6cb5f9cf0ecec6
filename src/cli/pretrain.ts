/** `xft pretrain`: pretrain a base model on the project's corpus; progress on stderr, its card on stdout. */
import { initBackend } from "../backend/engine";
import { pretrain } from "../runs/pretrain";
import { statusLine, stopOnInterrupt } from "./long-running";

export interface PretrainArgs {
  profile?: string;
  out?: string;
  layers?: number;
  dModel?: number;
  heads?: number;
  backend?: string;
  fresh: boolean;
  /** The command line as given, for the model card. */
  command: string;
}

export async function runPretrain(args: PretrainArgs): Promise<number> {
  await initBackend({ requested: args.backend });
  const interrupt = stopOnInterrupt();
  const status = statusLine();
  try {
    const model = Object.fromEntries(Object.entries({ layers: args.layers, dModel: args.dModel, heads: args.heads }).filter(([, v]) => v !== undefined));
    const result = await pretrain(args.profile, {
      out: args.out, model, fresh: args.fresh, command: args.command, shouldStop: interrupt.requested,
      onProgress: (p) => status(p.text, p.step === p.totalSteps),
    });
    if (result.status === "stopped" || !result.card) {
      process.stderr.write(`xft pretrain: stopped; run the same command to resume (checkpoint in ${result.dir})\n`);
      return 130;
    }
    if (result.reused) process.stderr.write(`xft pretrain: reused the finished base in ${result.dir} (--fresh pretrains again)\n`);
    const c = result.card;
    process.stdout.write(JSON.stringify({
      dir: result.dir, parameters: c.model.parameters, corpusTokens: c.corpus.trainTokens, tokensSeen: c.tokensSeen,
      heldOutPerplexity: Number(c.heldOut.perplexity.toFixed(2)), finalLoss: c.losses.at(-1)?.loss,
      wallS: Number(c.wallS.toFixed(1)), tokensPerSec: Math.round(c.tokensPerSec), backend: c.environment.backend,
    }, null, 2) + "\n");
    return 0;
  } finally {
    interrupt.release();
  }
}
