/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * length, a JSON header naming each tensor's dtype, shape and byte range, then the raw little-endian data.
 * Only float32 and int32 are needed here. Writes are atomic: a temporary file renamed into place, so an
 * interrupted save never leaves a half-written checkpoint behind.
 */
import * as fs from "fs";
import * as path from "path";
import { readMaybeGzipped } from "../util/gzip";

export interface NamedArray { shape: number[]; data: Float32Array | Int32Array }
export type TensorMap = Map<string, NamedArray>;

const DTYPES = { F32: Float32Array, I32: Int32Array } as const;
type DtypeName = keyof typeof DTYPES;

export function encodeSafetensors(tensors: TensorMap, metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const names = [...tensors.keys()];
  for (const name of names) {
    const { shape, data } = tensors.get(name)!;
    const expected = shape.reduce((a, b) => a * b, 1);
    if (data.length !== expected) throw new Error(`safetensors: ${name} has ${data.length} values for shape [${shape}]`);
    const dtype: DtypeName = data instanceof Float32Array ? "F32" : "I32";
    header[name] = { dtype, shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so that the data starts 8-byte aligned (allowed by the format).
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf8");
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const { data } = tensors.get(name)!;
    Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, at);
    at += data.byteLength;
  }
  return out;
}

export function decodeSafetensors(buf: Buffer, source = "(buffer)"): { tensors: TensorMap; metadata: Record<string, string> } {
  if (buf.length < 8) throw new Error(`${source}: not a safetensors file (${buf.length} bytes)`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (8 + headerLen > buf.length) throw new Error(`${source}: header length ${headerLen} exceeds the file size`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString("utf8"));
  } catch (err) {
    throw new Error(`${source}: header is not valid JSON (${(err as Error).message})`);
  }
  const base = 8 + headerLen;
  const tensors: TensorMap = new Map();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") { metadata = entry as Record<string, string>; continue; }
    const { dtype, shape, data_offsets: [start, end] } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const Ctor = DTYPES[dtype as DtypeName];
    if (!Ctor) throw new Error(`${source}: tensor ${name} has unsupported dtype ${dtype}`);
    if (end > buf.length - base || (end - start) !== shape.reduce((a, b) => a * b, 1) * Ctor.BYTES_PER_ELEMENT) {
      throw new Error(`${source}: tensor ${name} byte range [${start}, ${end}) does not match shape [${shape}]`);
    }
    // Copy into a fresh, aligned buffer: the file's data need not be aligned for the typed array.
    const bytes = new Uint8Array(buf.subarray(base + start, base + end));
    tensors.set(name, { shape, data: new Ctor(bytes.buffer, bytes.byteOffset, (end - start) / Ctor.BYTES_PER_ELEMENT) });
  }
  return { tensors, metadata };
}

/** Writes `data` to `file` atomically (write a sibling temp file, fsync, rename). */
export function writeFileAtomic(file: string, data: Buffer | string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, "w");
  try {
    fs.writeSync(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

export function saveSafetensors(file: string, tensors: TensorMap, metadata: Record<string, string> = {}): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

export function loadSafetensors(file: string): { tensors: TensorMap; metadata: Record<string, string> } {
  return decodeSafetensors(readMaybeGzipped(file), file);
}
