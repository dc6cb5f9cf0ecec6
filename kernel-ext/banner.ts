/**
 * The environment banner at the top of a notebook: which backend, which versions, which machine, which commit.
 * Results are only comparable between runs when this is known, so every experiment notebook shows it first.
 * The caller passes what it set up (the tfjs backend); the banner finds the rest about the kernel process itself.
 */
import { execFileSync } from "child_process";
import * as os from "os";
import { versions as tslabVersions } from "tslab";
import { escapeHtml } from "./html";
import { type MimeBundle, writeDisplay } from "./output";

export interface EnvironmentInfo {
  /** The tfjs backend in use, e.g. "tensorflow", "wasm", "cpu". */
  backend: string;
  threads: number;
  tfjsVersion: string;
  /** The TensorFlow C library version (native backends only). */
  tensorflowVersion?: string;
  /** The run profile (XFT_PROFILE), e.g. "quick" or "full". */
  profile?: string;
  // Found by banner() when left out:
  nodeVersion?: string;
  tslabVersion?: string;
  typescriptVersion?: string;
  cpuModel?: string;
  cpuCount?: number;
  memoryBytes?: number;
  /** Short commit hash, with "+ uncommitted changes" when the work tree differs from it. */
  gitCommit?: string;
}

const GIT_TIMEOUT_MS = 2000;

function git(args: string[]): string {
  return execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: GIT_TIMEOUT_MS }).trim();
}

/** The commit of the working directory (the project root in a kernel), or undefined outside a repository. */
function gitCommit(): string | undefined {
  try {
    const commit = git(["rev-parse", "--short=12", "HEAD"]);
    const modified = git(["status", "--porcelain", "--untracked-files=no"]) !== "";
    return modified ? `${commit} + uncommitted changes` : commit;
  } catch {
    return undefined;
  }
}

/** What the kernel process can find out about itself. */
function describeHost(): Partial<EnvironmentInfo> {
  const cpus = os.cpus();
  return {
    profile: process.env.XFT_PROFILE,
    nodeVersion: process.version,
    tslabVersion: tslabVersions.tslab,
    typescriptVersion: tslabVersions.typescript,
    cpuModel: cpus[0]?.model.trim(),
    cpuCount: cpus.length,
    memoryBytes: os.totalmem(),
    gitCommit: gitCommit(),
  };
}

function gibibytes(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

/** Label → value rows; rows whose facts are missing are left out. */
function environmentRows(info: EnvironmentInfo): Array<[string, string]> {
  const rows: Array<[string, string | undefined]> = [
    ["backend", `${info.backend} (${info.threads} thread${info.threads === 1 ? "" : "s"})`],
    ["tfjs", info.tensorflowVersion ? `${info.tfjsVersion}, TensorFlow ${info.tensorflowVersion}` : info.tfjsVersion],
    ["profile", info.profile],
    ["node", info.nodeVersion],
    ["tslab", info.tslabVersion && `${info.tslabVersion} (TypeScript ${info.typescriptVersion ?? "?"})`],
    ["cpu", info.cpuCount !== undefined ? `${info.cpuCount} × ${info.cpuModel ?? "unknown model"}` : undefined],
    ["memory", info.memoryBytes !== undefined ? gibibytes(info.memoryBytes) : undefined],
    ["commit", info.gitCommit],
  ];
  return rows.filter((row): row is [string, string] => row[1] !== undefined && row[1] !== "");
}

/** The banner as aligned "label  value" lines. */
export function environmentText(info: EnvironmentInfo): string {
  const rows = environmentRows(info);
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join("\n");
}

export function environmentMimeBundle(info: EnvironmentInfo): MimeBundle {
  const cells = environmentRows(info)
    .map(
      ([label, value]) =>
        `<tr><th style="text-align: left; padding: 1px 12px 1px 0; color: #555;">${escapeHtml(label)}</th>` +
        `<td style="text-align: left; padding: 1px 0;">${escapeHtml(value)}</td></tr>`,
    )
    .join("");
  return {
    "text/html": `<table class="xft-environment" style="font-family: monospace; font-size: 12px;">${cells}</table>`,
    "text/plain": environmentText(info),
  };
}

/** Shows the environment; facts the caller leaves out are filled in from the kernel process. */
export function banner(info: EnvironmentInfo): void {
  const given = Object.fromEntries(Object.entries(info).filter(([, value]) => value !== undefined));
  writeDisplay(environmentMimeBundle({ ...describeHost(), ...given } as EnvironmentInfo));
}
