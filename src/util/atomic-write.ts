/**
 * Writes that are whole or absent. The bytes go to a sibling temporary file, every byte `fs.writeSync` reports
 * is counted (it may write fewer than asked, and on a full disk it does), the file is fsynced and only then
 * renamed over the target. On any failure the temporary file is removed and the target is left as it was, so a
 * full disk or a read-only folder never leaves a truncated checkpoint that a later run would trust.
 */
import * as fs from "fs";
import * as path from "path";

/** The file-system calls an atomic write makes; tests pass their own to inject a full disk or a short write. */
export type AtomicWriteFs = Pick<typeof fs, "mkdirSync" | "openSync" | "writeSync" | "fsyncSync" | "closeSync" | "renameSync" | "rmSync">;

/** A failed write, worded for a person: it names the file and the cause. `code` is the system's (ENOSPC, ...). */
export class WriteError extends Error {
  constructor(
    readonly file: string,
    readonly code: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "WriteError";
  }
}

/** Distinguishes temporary files of the same process (a pid alone repeats when one file is written twice). */
let tmpCounter = 0;

/** Writes `data` to `file` atomically: a sibling temp file, all of its bytes written, fsynced, renamed into place. */
export function writeFileAtomic(file: string, data: Buffer | string, io: AtomicWriteFs = fs): void {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  try {
    mkdirRecursive(path.dirname(file), io);
  } catch (err) {
    throw writeError(file, err);
  }
  const tmp = `${file}.tmp-${process.pid}-${tmpCounter++}`;
  try {
    writeWholeFile(tmp, bytes, io);
    io.renameSync(tmp, file);
  } catch (err) {
    // The target is untouched until the rename, so removing the temporary file restores the state before the call.
    removeQuietly(tmp, io);
    throw writeError(file, err);
  }
}

/** Creates `file` holding exactly `bytes`, fsynced; the descriptor is closed whatever happens. */
function writeWholeFile(file: string, bytes: Uint8Array, io: AtomicWriteFs): void {
  const fd = io.openSync(file, "w");
  try {
    writeAll(fd, bytes, io);
    io.fsyncSync(fd);
  } finally {
    io.closeSync(fd);
  }
}

/** Loops over `writeSync` until every byte is written; a call that writes nothing would loop forever, so it is an error. */
function writeAll(fd: number, bytes: Uint8Array, io: AtomicWriteFs): void {
  let written = 0;
  while (written < bytes.length) {
    const n = io.writeSync(fd, bytes, written, bytes.length - written);
    if (!(n > 0)) throw new ShortWrite(written, bytes.length);
    written += n;
  }
}

/** A write that stopped making progress: the system accepted `written` of `total` bytes and then none. */
class ShortWrite extends Error {
  constructor(
    readonly written: number,
    readonly total: number,
  ) {
    super(`the write stopped after ${written} of ${total} bytes`);
  }
}

function removeQuietly(file: string, io: AtomicWriteFs): void {
  try {
    io.rmSync(file, { force: true });
  } catch {
    // Best effort: the error worth reporting is the one that made the write fail.
  }
}

/** The failure of writing `file`, in words: the cause and the file. */
function writeError(file: string, err: unknown): WriteError {
  return failure("writing", file, err);
}

/** The failure of creating the folder `dir`, in words: the cause and the folder. */
function directoryError(dir: string, err: unknown): WriteError {
  return failure("creating", dir, err);
}

/** "disk full writing runs/abc/checkpoint.safetensors", "permission denied creating runs/abc", else the code and message. */
function failure(action: "writing" | "creating", target: string, err: unknown): WriteError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  const words = (text: string) => new WriteError(target, code, text, { cause: err });
  if (err instanceof ShortWrite) return words(`could not write ${target}: ${message} (is the disk full?)`);
  if (code === "ENOSPC" || code === "EDQUOT") return words(`disk full ${action} ${target}`);
  if (code === "EROFS") return words(`permission denied ${action} ${target}: the file system is read-only`);
  if (code === "EACCES" || code === "EPERM") return words(`permission denied ${action} ${target}`);
  return words(`could not ${action === "writing" ? "write" : "create"} ${target}: ${code ? `${code}: ` : ""}${message}`);
}

/**
 * Creates `dir` and its missing parents, failing with the words a person needs ("permission denied creating
 * runs/abc: the file system is read-only"). Use it for run folders, where a bare `mkdirSync` names the wrong cause.
 */
export function makeDirectory(dir: string, io: Pick<AtomicWriteFs, "mkdirSync"> = fs): void {
  try {
    mkdirRecursive(dir, io);
  } catch (err) {
    throw directoryError(dir, err);
  }
}

/**
 * `mkdirSync(dir, { recursive: true })`, with the true cause when it fails. Node's recursive mkdir reports ENOENT
 * on a read-only file system (it takes the EROFS of a missing parent for "parent does not exist"), so on ENOENT
 * the folders are made one at a time, from the deepest existing one down, which throws the real error.
 */
function mkdirRecursive(dir: string, io: Pick<AtomicWriteFs, "mkdirSync">): void {
  try {
    io.mkdirSync(dir, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    for (const missing of missingFolders(dir)) io.mkdirSync(missing);
  }
}

/** The folders from the shallowest missing ancestor of `dir` down to `dir` itself. */
function missingFolders(dir: string): string[] {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) {
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  return missing;
}
