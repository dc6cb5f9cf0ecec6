/**
 * Reading the project's files so that a failure names the file: paths as messages show them, JSON that does not
 * parse, and gzip that does not inflate (a truncated download, a file cut short by a full disk).
 */
import * as fs from "fs";
import * as path from "path";
import { gunzipSync } from "zlib";

/** A path as messages show it: relative to the working directory when it lies inside it. */
export function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : file;
}

/** The file's bytes, gunzipped when they start with the gzip magic number, whatever the file is called. */
export function readMaybeGzipped(file: string): Buffer {
  const bytes = fs.readFileSync(file);
  if (!(bytes[0] === 0x1f && bytes[1] === 0x8b)) return bytes;
  try {
    return gunzipSync(bytes);
  } catch (err) {
    throw new Error(`${displayPath(file)}: truncated or corrupt gzip (${(err as Error).message}); restore or re-create the file`);
  }
}

/**
 * A JSON file's value; a file that does not parse is an error naming it, and `owner` where given (e.g. "run KEY").
 * One line: JSON.parse quotes the text it choked on, newlines and all.
 */
export function readJsonFile<T>(file: string, owner?: string): T {
  const text = fs.readFileSync(file, "utf8");
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new Error(`${owner ? `${owner}: ` : ""}${displayPath(file)} is not valid JSON (${(err as Error).message.replace(/\s+/g, " ")})`);
  }
}
