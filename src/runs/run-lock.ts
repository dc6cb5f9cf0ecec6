/**
 * One process at a time per run: `<runs>/<key>.lock`, created exclusively and holding the owner's pid, host and
 * start time. A second process on the same run (a second `xft train`, a grid sharing the runs folder) waits for
 * the lock and then finds the run finished and reuses it, instead of training it again. A lock whose process has
 * died on this host (kill -9, a power cut) is stale and taken over. The lock sits beside the run's folder, not in
 * it, since a fresh run empties its folder.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

interface LockOwner {
  pid: number;
  host: string;
  started: string;
}

export interface RunLock {
  file: string;
  release(): void;
}

export interface LockOptions {
  /** Told once when the run is locked by another process and this one starts waiting. */
  onWait?: (message: string) => void;
  pollMs?: number;
}

function readOwner(file: string): LockOwner | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as LockOwner;
  } catch {
    return undefined; // gone since, or caught between its creation and its first write
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by another user
  }
}

/** The owner of a lock that no live process holds: one on this host whose pid is gone. */
function isStale(owner: LockOwner | undefined): boolean {
  return owner !== undefined && owner.host === os.hostname() && !alive(owner.pid);
}

function tryCreate(file: string): boolean {
  try {
    const fd = fs.openSync(file, "wx");
    fs.writeSync(fd, JSON.stringify({ pid: process.pid, host: os.hostname(), started: new Date().toISOString() } satisfies LockOwner));
    fs.closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new Error(`cannot create the run lock ${file}: ${(err as Error).message}`);
  }
}

/** Takes the lock of run `key` in `runsDir`, waiting while another live process holds it. */
export async function lockRun(runsDir: string, key: string, opts: LockOptions = {}): Promise<RunLock> {
  fs.mkdirSync(runsDir, { recursive: true });
  const file = path.join(runsDir, `${key}.lock`);
  let told = false;
  while (!tryCreate(file)) {
    const owner = readOwner(file);
    if (isStale(owner)) {
      // Renamed away first, so that of two processes taking over the same stale lock only one removes it.
      const aside = `${file}.stale-${process.pid}`;
      try {
        fs.renameSync(file, aside);
        fs.rmSync(aside, { force: true });
      } catch {
        // another process took it over first
      }
      continue;
    }
    if (!told && owner) {
      opts.onWait?.(`waiting for run ${key}: pid ${owner.pid} on ${owner.host} has been training it since ${owner.started} (${file})`);
      told = true;
    }
    await new Promise((resolve) => setTimeout(resolve, opts.pollMs ?? 500));
  }
  // A process that ends without releasing (an uncaught error, process.exit) still removes its lock.
  const onExit = () => release();
  function release(): void {
    process.off("exit", onExit);
    if (readOwner(file)?.pid === process.pid) fs.rmSync(file, { force: true });
  }
  process.on("exit", onExit);
  return { file, release };
}
