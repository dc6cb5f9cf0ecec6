/**
 * The one place that writes to the notebook. tslab's public `display` API sends one mime type per output, but a rich
 * output (a chart with an HTML fallback and a plain-text summary) has to go out as ONE bundle so that each frontend
 * picks the best representation it can render. Only tslab's internal `lastWriteDisplayData` can send that, which is
 * why package.json pins tslab to an exact version.
 */
import { randomBytes } from "crypto";
import * as jupyter from "tslab/dist/jupyter";

/** Mime type → representation: strings, except JSON mime types, which carry plain objects. */
export type MimeBundle = Record<string, unknown>;

/** The shape tslab's writer really accepts (its typings narrow the values to `string | Uint8Array`). */
type DisplayWriter = (message: { data: MimeBundle; metadata: Record<string, unknown>; transient: { display_id?: string } }, update: boolean) => void;

/** Where a bundle goes: a new output, or (with `update`) the existing output that carries `displayId`. */
export interface DisplayTarget {
  displayId?: string;
  update?: boolean;
}

function currentWriter(): DisplayWriter | null {
  // Typed as always set, but it is null until the kernel executes its first cell, and always null in plain Node.
  // tslab reassigns it on every execute, so read it at each call: an output created in one cell and updated from a
  // later cell must go through the later cell's writer.
  return jupyter.lastWriteDisplayData as unknown as DisplayWriter | null;
}

export function writeDisplay(bundle: MimeBundle, target: DisplayTarget = {}): void {
  const write = currentWriter();
  if (!write) throw new Error("rich output needs a tslab kernel: call this from a notebook cell");
  const transient = target.displayId ? { display_id: target.displayId } : {};
  write({ data: bundle, metadata: {}, transient }, target.update ?? false);
}

/** A fresh id for an output that will be replaced in place (update_display_data), as tslab's `newDisplay()` makes. */
export function newDisplayId(): string {
  return randomBytes(8).toString("hex");
}
