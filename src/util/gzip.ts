/** Reading files that may be gzip-compressed (datasets, shipped checkpoints), whatever they are called. */
import { readFileSync } from "fs";
import { gunzipSync } from "zlib";

/** The file's bytes, gunzipped when they start with the gzip magic number. */
export function readMaybeGzipped(path: string): Buffer {
  const bytes = readFileSync(path);
  return bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
}
