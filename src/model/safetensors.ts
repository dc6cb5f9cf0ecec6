/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * length, a JSON header naming each tensor's dtype, shape and byte range, then the raw little-endian data.
 * xft writes float32 and int32; it reads those and also bfloat16 and float16 (Hugging Face checkpoints),
 * widened to float32 on reading since every computation here is in float32. Writes are atomic: a temporary
 * file renamed into place, so an interrupted save never leaves a half-written checkpoint behind.
 */
import { writeFileAtomic } from "../util/atomic-write";
import { readMaybeGzipped } from "../util/read-file";

export interface NamedArray {
  shape: number[];
  data: Float32Array | Int32Array;
}
export type TensorMap = Map<string, NamedArray>;

/** The dtypes xft writes. */
type DtypeName = "F32" | "I32";

/** How each readable dtype's little-endian bytes become a typed array (the bytes are a fresh, aligned copy). */
const READERS: Record<string, { bytesPerElement: number; read: (bytes: Uint8Array) => Float32Array | Int32Array }> = {
  F32: { bytesPerElement: 4, read: (b) => new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) },
  I32: { bytesPerElement: 4, read: (b) => new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4) },
  BF16: { bytesPerElement: 2, read: (b) => bf16ToFloat32(new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2)) },
  F16: { bytesPerElement: 2, read: (b) => f16ToFloat32(new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2)) },
};

/** bfloat16 is the high half of a float32: shifting its 16 bits up gives the float32 exactly. */
export function bf16ToFloat32(halves: Uint16Array): Float32Array {
  const bits = new Uint32Array(halves.length);
  for (let i = 0; i < halves.length; i++) bits[i] = halves[i] << 16;
  return new Float32Array(bits.buffer);
}

/** IEEE 754 half precision (1 sign, 5 exponent, 10 fraction bits) to float32, all of it exact. */
export function f16ToFloat32(halves: Uint16Array): Float32Array {
  const table = halfTable();
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) out[i] = table[halves[i]];
  return out;
}

let halfValues: Float32Array | undefined;

/** Every half's float32 value, built once (256 KiB): a lookup is faster than decoding each of a checkpoint's values. */
function halfTable(): Float32Array {
  if (!halfValues) {
    halfValues = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfValues[h] = halfValue(h);
  }
  return halfValues;
}

function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals: fraction x 2^-14 x 2^-10
  if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

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
    if (name === "__metadata__") {
      metadata = entry as Record<string, string>;
      continue;
    }
    const {
      dtype,
      shape,
      data_offsets: [start, end],
    } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const reader = Object.hasOwn(READERS, dtype) ? READERS[dtype] : undefined;
    if (!reader) throw new Error(`${source}: tensor ${name} has unsupported dtype ${dtype} (xft reads ${Object.keys(READERS).join(", ")})`);
    if (end > buf.length - base || end - start !== shape.reduce((a, b) => a * b, 1) * reader.bytesPerElement) {
      throw new Error(`${source}: tensor ${name} byte range [${start}, ${end}) does not match shape [${shape}]`);
    }
    // Copy into a fresh, aligned buffer: the file's data need not be aligned for the typed array.
    tensors.set(name, { shape, data: reader.read(new Uint8Array(buf.subarray(base + start, base + end))) });
  }
  return { tensors, metadata };
}

export function saveSafetensors(file: string, tensors: TensorMap, metadata: Record<string, string> = {}): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

export function loadSafetensors(file: string): { tensors: TensorMap; metadata: Record<string, string> } {
  return decodeSafetensors(readMaybeGzipped(file), file);
}

/**
 * Every value of every tensor is finite: a NaN or Inf weight makes every output NaN, and downstream code (argmax,
 * entropy, Math.max) turns NaN into plausible-looking numbers, so it is stopped where the weights are read.
 */
export function assertFiniteTensors(tensors: TensorMap, file: string): void {
  for (const [name, { data }] of tensors) {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) throw new Error(`${file}: tensor ${name} has a non-finite value (${data[i]}) at index ${i}`);
    }
  }
}
