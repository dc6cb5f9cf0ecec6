import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { AtomicWriteFs, makeDirectory, writeFileAtomic } from "../../src/util/atomic-write";

const tmp = fs.mkdtempSync(join(tmpdir(), "xft-atomic-write-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The real file system with some calls replaced. */
function faultyFs(overrides: Partial<AtomicWriteFs>): AtomicWriteFs {
  return { ...fs, ...overrides };
}

/** An error as the system raises it. */
function systemError(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} failed`), { code, syscall });
}

/** The folder's entries, to check that no temporary file is left behind. */
function entries(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

function freshDir(name: string): string {
  const dir = join(tmp, name);
  fs.mkdirSync(dir);
  return dir;
}

test("a normal write round-trips bytes and strings, and leaves only the file", () => {
  const dir = freshDir("normal");
  const bytes = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));
  writeFileAtomic(join(dir, "w.bin"), bytes);
  writeFileAtomic(join(dir, "sub", "t.json"), '{"é": 1}\n');
  assert.deepEqual(fs.readFileSync(join(dir, "w.bin")), bytes);
  assert.equal(fs.readFileSync(join(dir, "sub", "t.json"), "utf8"), '{"é": 1}\n');
  assert.deepEqual(entries(dir), ["sub", "w.bin"]);
});

test("a write that comes back in pieces is completed by looping", () => {
  const dir = freshDir("pieces");
  const data = Buffer.from("x".repeat(10_000));
  let calls = 0;
  const inPieces = faultyFs({
    writeSync: ((fd: number, buf: Uint8Array, offset: number, length: number) => {
      calls++;
      return fs.writeSync(fd, buf, offset, Math.min(length, 999));
    }) as typeof fs.writeSync,
  });
  writeFileAtomic(join(dir, "f"), data, inPieces);
  assert.equal(calls, Math.ceil(10_000 / 999));
  assert.deepEqual(fs.readFileSync(join(dir, "f")), data);
  assert.deepEqual(entries(dir), ["f"]);
});

test("ENOSPC from writeSync leaves no file and no temporary file, and says disk full with the file's name", () => {
  const dir = freshDir("enospc");
  const file = join(dir, "checkpoint.safetensors");
  const full = faultyFs({
    writeSync: (() => {
      throw systemError("ENOSPC", "write");
    }) as typeof fs.writeSync,
  });
  assert.throws(() => writeFileAtomic(file, Buffer.alloc(4096, 1), full), { name: "WriteError", message: `disk full writing ${file}` });
  assert.deepEqual(entries(dir), []);
});

test("a short write with no progress leaves no file and no temporary file, and says how far it got", () => {
  const dir = freshDir("short");
  const file = join(dir, "configs.json");
  let writes = 0;
  // The first call writes 40,960 bytes (as tmpfs did in the issue), the next writes nothing.
  const short = faultyFs({
    writeSync: ((fd: number, buf: Uint8Array, offset: number, length: number) =>
      writes++ === 0 ? fs.writeSync(fd, buf, offset, Math.min(length, 40_960)) : 0) as typeof fs.writeSync,
  });
  assert.throws(() => writeFileAtomic(file, "y".repeat(122_243), short), {
    message: `could not write ${file}: the write stopped after 40960 of 122243 bytes (is the disk full?)`,
  });
  assert.deepEqual(entries(dir), []);
});

test("a failure while replacing an existing file leaves the old file intact and no temporary file", () => {
  const dir = freshDir("replace");
  const file = join(dir, "run.json");
  writeFileAtomic(file, "old\n");
  const failures: Array<[string, Partial<AtomicWriteFs>]> = [
    [
      "write",
      {
        writeSync: (() => {
          throw systemError("ENOSPC", "write");
        }) as typeof fs.writeSync,
      },
    ],
    [
      "fsync",
      {
        fsyncSync: () => {
          throw systemError("EIO", "fsync");
        },
      },
    ],
    [
      "rename",
      {
        renameSync: () => {
          throw systemError("EACCES", "rename");
        },
      },
    ],
  ];
  for (const [where, overrides] of failures) {
    assert.throws(
      () => writeFileAtomic(file, "new and longer\n", faultyFs(overrides)),
      new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")),
      where,
    );
    assert.equal(fs.readFileSync(file, "utf8"), "old\n", where);
    assert.deepEqual(entries(dir), ["run.json"], where);
  }
});

test("errors name the cause in words: permission denied, read-only, else the code and message", () => {
  const dir = freshDir("words");
  const file = join(dir, "f");
  const failing = (code: string) =>
    faultyFs({
      openSync: (() => {
        throw systemError(code, "open");
      }) as typeof fs.openSync,
    });
  assert.throws(() => writeFileAtomic(file, "x", failing("EACCES")), { message: `permission denied writing ${file}` });
  assert.throws(() => writeFileAtomic(file, "x", failing("EROFS")), { message: `permission denied writing ${file}: the file system is read-only` });
  assert.throws(() => writeFileAtomic(file, "x", failing("EIO")), { message: `could not write ${file}: EIO: EIO: open failed` });
  const noFolder = faultyFs({
    mkdirSync: (() => {
      throw systemError("EROFS", "mkdir");
    }) as typeof fs.mkdirSync,
  });
  assert.throws(() => writeFileAtomic(join(dir, "new", "f"), "x", noFolder), {
    message: `permission denied writing ${join(dir, "new", "f")}: the file system is read-only`,
  });
  assert.deepEqual(entries(dir), []);
});

test("makeDirectory names the real cause where Node's recursive mkdir says ENOENT (a read-only file system)", () => {
  const dir = freshDir("mkdir");
  const target = join(dir, "runs", "abc");
  // As Node does on a read-only file system: the recursive call says ENOENT, one level at a time says EROFS.
  const readOnly: Pick<AtomicWriteFs, "mkdirSync"> = {
    mkdirSync: ((p: string, opts?: { recursive?: boolean }) => {
      throw systemError(opts?.recursive ? "ENOENT" : "EROFS", `mkdir '${p}'`);
    }) as typeof fs.mkdirSync,
  };
  assert.throws(() => makeDirectory(target, readOnly), {
    message: `permission denied creating ${target}: the file system is read-only`,
    code: "EROFS",
  });
  const denied: Pick<AtomicWriteFs, "mkdirSync"> = {
    mkdirSync: (() => {
      throw systemError("EACCES", "mkdir");
    }) as typeof fs.mkdirSync,
  };
  assert.throws(() => makeDirectory(target, denied), { message: `permission denied creating ${target}` });
  makeDirectory(target);
  makeDirectory(target);
  assert.ok(fs.statSync(target).isDirectory());
});

/** Mounts a tmpfs at a fresh folder, or says why it cannot (not root, no mount permission in a container). */
function mountTmpfs(name: string, options: string): { dir: string } | { skip: string } {
  const dir = freshDir(name);
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir], { encoding: "utf8" });
  if (mounted.error) return { skip: `cannot run mount: ${mounted.error.message}` };
  if (mounted.status !== 0)
    return { skip: `mounting a tmpfs (${options}) was denied: ${mounted.stderr.trim().split("\n")[0] || `exit ${mounted.status}`}` };
  return { dir };
}

test("a real full disk (a 1 MiB tmpfs): the disk-full error names the file and no partial file is left", (t) => {
  const mount = mountTmpfs("tmpfs", "size=1m");
  if ("skip" in mount) {
    t.skip(mount.skip);
    return;
  }
  try {
    const file = join(mount.dir, "checkpoint.safetensors");
    writeFileAtomic(join(mount.dir, "small.json"), "{}\n");
    assert.throws(() => writeFileAtomic(file, Buffer.alloc(2 * 1024 * 1024, 7)), { message: `disk full writing ${file}`, code: "ENOSPC" });
    assert.deepEqual(entries(mount.dir), ["small.json"]);
    assert.equal(fs.readFileSync(join(mount.dir, "small.json"), "utf8"), "{}\n");
  } finally {
    spawnSync("umount", [mount.dir]);
  }
});

test("a read-only file system (a tmpfs mounted ro): folders and files say permission denied, read-only", (t) => {
  const mount = mountTmpfs("tmpfs-ro", "ro,size=64k");
  if ("skip" in mount) {
    t.skip(mount.skip);
    return;
  }
  try {
    const runDir = join(mount.dir, "runs", "abc");
    assert.throws(() => makeDirectory(runDir), { message: `permission denied creating ${runDir}: the file system is read-only` });
    const file = join(mount.dir, "run.json");
    assert.throws(() => writeFileAtomic(file, "{}\n"), { message: `permission denied writing ${file}: the file system is read-only` });
    assert.deepEqual(entries(mount.dir), []);
  } finally {
    spawnSync("umount", [mount.dir]);
  }
});
