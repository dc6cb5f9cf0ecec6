/**
 * The environment banner at the top of a notebook: which backend, which versions, which machine, which commit.
 * Results are only comparable between runs when this is known, so every experiment notebook shows it first.
 * The caller passes what it set up (the tfjs backend); the banner finds the rest about the kernel process itself.
 */
import { versions as tslabVersions } from "tslab";
import { describeAdapter } from "../src/backend/engine";
import { describeHost, type HostInfo } from "../src/runs/environment";
import type { AdapterDescription } from "../src/backend/dawn";
import { escapeHtml } from "./html";
import { type MimeBundle, writeDisplay } from "./output";

/** What the banner shows: the backend in use (given by the caller) and host facts (found when left out). */
export interface EnvironmentInfo extends Partial<HostInfo> {
  /** The tfjs backend in use, e.g. "tensorflow", "wasm", "cpu". */
  backend: string;
  threads: number;
  tfjsVersion: string;
  /** The TensorFlow C library version (native backends only). */
  tensorflowVersion?: string;
  /** Causal attention: "kernel" (xft's native kernel) or "tfjs" (tfjs ops). */
  attention?: string;
  /** GELU, LayerNorm, attention, cross-entropy and AdamW: "kernel" (xft's fused ops) or "tfjs" (tfjs ops). */
  tfOps?: string;
  /** webgpu: the adapter. */
  adapter?: AdapterDescription;
  /** The model a notebook loaded, as `describeModel` (src/model/pretrained.ts) and its tokenizer say it. */
  model?: string;
  tslabVersion?: string;
  typescriptVersion?: string;
}

function gibibytes(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

/** Label → value rows; rows whose facts are missing are left out. */
function environmentRows(info: EnvironmentInfo): Array<[string, string]> {
  const rows: Array<[string, string | undefined]> = [
    ["backend", info.adapter ? info.backend : `${info.backend} (${info.threads} thread${info.threads === 1 ? "" : "s"})`],
    ["GPU", info.adapter && describeAdapter(info.adapter)],
    ["tfjs", info.tensorflowVersion ? `${info.tfjsVersion}, TensorFlow ${info.tensorflowVersion}` : info.tfjsVersion],
    ["attention", info.attention && (info.attention === "kernel" ? `xft's ${info.adapter ? "WGSL" : "native"} kernel` : "tfjs ops")],
    [
      info.adapter ? "WGSL kernels" : "TensorFlow ops",
      info.tfOps && (info.tfOps === "kernel" ? "xft's own (GELU, LayerNorm, attention, cross-entropy, AdamW)" : "tfjs ops"),
    ],
    ["model", info.model],
    ["profile", info.profile],
    ["node", info.nodeVersion],
    ["xft", info.xftVersion],
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
  const host = { ...describeHost(), tslabVersion: tslabVersions.tslab, typescriptVersion: tslabVersions.typescript };
  writeDisplay(environmentMimeBundle({ ...host, ...given } as EnvironmentInfo));
}
