/** What a run records about where it ran (backend, versions, machine, code commit); the banner shows the same. */
import { execFileSync } from "child_process";
import * as os from "os";
import type { BackendInfo } from "../backend/engine";
import type { AdapterDescription } from "../backend/dawn";

/** Facts about the process and machine, whatever the backend. */
export interface HostInfo {
  nodeVersion: string;
  xftVersion: string;
  /** Short commit hash, with "+ uncommitted changes" when tracked files differ from it; absent outside git. */
  gitCommit?: string;
  cpuModel: string;
  cpuCount: number;
  memoryBytes: number;
  /** XFT_PROFILE, when set. */
  profile?: string;
}

export interface Environment extends HostInfo {
  backend: string;
  threads: number;
  tfjsVersion: string;
  tensorflowVersion?: string;
  /** Causal attention as xft's kernel or as tfjs ops: the two differ in the last bits of float32. */
  attention: string;
  /** The backend's fused ops ("kernel") or tfjs ops ("tfjs"); absent in runs made before those ops existed. */
  tfOps?: string;
  /** webgpu: the adapter it ran on (vendor, architecture, description, hardware or software). */
  adapter?: AdapterDescription;
}

function git(args: string[]): string {
  const cwd = process.env.XFT_ROOT ?? process.cwd();
  return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 2000 }).trim();
}

function gitCommit(): string | undefined {
  try {
    const commit = git(["rev-parse", "--short=12", "HEAD"]);
    return git(["status", "--porcelain", "--untracked-files=no"]) !== "" ? `${commit} + uncommitted changes` : commit;
  } catch {
    return undefined;
  }
}

export function describeHost(): HostInfo {
  const cpus = os.cpus();
  return {
    nodeVersion: process.version,
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    xftVersion: (require("../../package.json") as { version: string }).version,
    gitCommit: gitCommit(),
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cpuCount: cpus.length,
    memoryBytes: os.totalmem(),
    profile: process.env.XFT_PROFILE,
  };
}

export function collectEnvironment(backend: BackendInfo): Environment {
  return {
    backend: backend.name,
    threads: backend.threads,
    tfjsVersion: backend.tfjsVersion,
    tensorflowVersion: backend.tensorflowVersion,
    attention: backend.attention,
    tfOps: backend.tfOps,
    adapter: backend.adapter,
    ...describeHost(),
  };
}
