/**
 * PyTorch's figures beside xft bench's: `xft bench --torch FILE,...` reads what `scripts/torch-peer.py --json` wrote
 * (as it comes, with malloc kept, ...) and takes the faster PyTorch per config, as the speed issue's ratio does. A
 * ratio holds only side by side on one machine, so a file measured on another CPU is an error, not a footnote.
 */
import { displayPath, readJsonFile } from "../util/read-file";

/** PyTorch's training tokens/s on one config, and where it comes from. */
export interface TorchFigure {
  tokensPerSec: number;
  /** torch-peer's malloc settings ("as it comes" where none). */
  malloc: string;
  file: string;
}

interface PeerFile {
  cpu?: unknown;
  malloc?: unknown;
  configs?: unknown;
}

/** The faster PyTorch figure per config name (as torch-peer.py names them: A, B, gpt2, ...) over the files. */
export function readTorchPeers(files: readonly string[], cpu: string): Map<string, TorchFigure> {
  const best = new Map<string, TorchFigure>();
  for (const file of files) {
    const peer = readJsonFile<PeerFile>(file);
    const where = displayPath(file);
    if (typeof peer !== "object" || peer === null || !Array.isArray(peer.configs) || typeof peer.cpu !== "string") {
      throw new Error(`${where}: not the output of scripts/torch-peer.py --json (no "cpu" string and "configs" list)`);
    }
    if (peer.cpu !== cpu) throw new Error(`${where}: measured on "${peer.cpu}", this is "${cpu}"; compare figures from one machine, side by side`);
    const malloc =
      Object.entries((peer.malloc ?? {}) as Record<string, string>)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ") || "as it comes";
    peer.configs.forEach((c: { config?: unknown; tokensPerSec?: unknown }, i) => {
      if (typeof c?.config !== "string") throw new Error(`${where}: configs[${i}].config is not a name`);
      if (typeof c.tokensPerSec !== "number" || !(c.tokensPerSec > 0))
        throw new Error(`${where}: configs[${i}].tokensPerSec is not a positive number`);
      const seen = best.get(c.config);
      if (!seen || c.tokensPerSec > seen.tokensPerSec) best.set(c.config, { tokensPerSec: c.tokensPerSec, malloc, file: where });
    });
  }
  return best;
}
