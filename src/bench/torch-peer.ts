/**
 * PyTorch's figures beside xft bench's: `xft bench --torch FILE,...` reads what `scripts/torch-peer.py --json` wrote
 * (as it comes, with malloc kept, ...) and takes the faster PyTorch per config, as the speed issue's ratio does. A
 * ratio holds only side by side on one machine and one kind of device, so a file measured on another CPU, or PyTorch
 * on CUDA beside xft on a CPU backend (and the reverse), is an error, not a footnote.
 */
import { displayPath, readJsonFile } from "../util/read-file";

/** PyTorch's training tokens/s on one config, and where it comes from. */
export interface TorchFigure {
  tokensPerSec: number;
  /** torch-peer's malloc settings ("as it comes" where none). */
  malloc: string;
  file: string;
  /** Where PyTorch ran: "cpu", or "cuda" with the GPU's name (torch-peer.py --device cuda). */
  device: string;
}

interface PeerFile {
  cpu?: unknown;
  /** torch-peer.py --device; files written before it had the option ran on the CPU. */
  device?: unknown;
  gpu?: unknown;
  malloc?: unknown;
  configs?: unknown;
}

/**
 * The faster PyTorch figure per config name (as torch-peer.py names them: A, B, gpt2, ...) over the files. `onGpu`:
 * xft runs on a GPU backend, whose peer is PyTorch on CUDA; on a CPU backend it is PyTorch on the CPU.
 */
export function readTorchPeers(files: readonly string[], cpu: string, onGpu: boolean): Map<string, TorchFigure> {
  const best = new Map<string, TorchFigure>();
  for (const file of files) {
    const peer = readJsonFile<PeerFile>(file);
    const where = displayPath(file);
    if (typeof peer !== "object" || peer === null || !Array.isArray(peer.configs) || typeof peer.cpu !== "string") {
      throw new Error(`${where}: not the output of scripts/torch-peer.py --json (no "cpu" string and "configs" list)`);
    }
    if (peer.cpu !== cpu) throw new Error(`${where}: measured on "${peer.cpu}", this is "${cpu}"; compare figures from one machine, side by side`);
    const device = peer.device ?? "cpu";
    if ((device === "cuda") !== onGpu) {
      throw new Error(
        `${where}: PyTorch ran on ${String(device)}, xft on a ${onGpu ? "GPU" : "CPU"} backend; compare like with like (torch-peer.py --device)`,
      );
    }
    const on = device === "cuda" ? `cuda (${String(peer.gpu)})` : "cpu";
    const malloc =
      Object.entries((peer.malloc ?? {}) as Record<string, string>)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ") || "as it comes";
    peer.configs.forEach((c: { config?: unknown; tokensPerSec?: unknown }, i) => {
      if (typeof c?.config !== "string") throw new Error(`${where}: configs[${i}].config is not a name`);
      if (typeof c.tokensPerSec !== "number" || !(c.tokensPerSec > 0))
        throw new Error(`${where}: configs[${i}].tokensPerSec is not a positive number`);
      const seen = best.get(c.config);
      if (!seen || c.tokensPerSec > seen.tokensPerSec) best.set(c.config, { tokensPerSec: c.tokensPerSec, malloc, file: where, device: on });
    });
  }
  return best;
}
