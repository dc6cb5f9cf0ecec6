/**
 * An export folder written whole or not at all: the files go into a temporary folder beside the target, which is
 * renamed into place only once every file is written. A failure leaves no half-written export behind, and an
 * existing folder is never overwritten (an export is a result someone may already have shared).
 */
import * as fs from "fs";
import * as path from "path";

export async function writeFolderAtomically(out: string, write: (dir: string) => Promise<void> | void): Promise<string> {
  const target = path.resolve(out);
  if (fs.existsSync(target)) throw new Error(`${target} already exists: export into a new folder (or remove it first)`);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  // Beside the target, so that the rename stays on one file system.
  const staging = fs.mkdtempSync(path.join(path.dirname(target), `.${path.basename(target)}.partial-`));
  try {
    await write(staging);
    fs.renameSync(staging, target);
    return target;
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}
