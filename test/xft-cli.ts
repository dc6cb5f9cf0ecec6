/**
 * The xft command line as the tests run it: a child process from the project root, as `npx xft ...` runs it, with
 * TensorFlow's start-up log lines off (the tests read stderr).
 */
import { spawnSync, SpawnSyncReturns } from "node:child_process";
import * as path from "node:path";

export const PROJECT_ROOT = path.resolve(__dirname, "..");
export const XFT_BIN = path.join(PROJECT_ROOT, "bin", "xft.cjs");
export const QUIET_ENV: NodeJS.ProcessEnv = { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2" };

/** `xft ARGS...` with `env` (default: this process's, quiet); never throws. */
export function runXft(args: readonly string[], env: NodeJS.ProcessEnv = QUIET_ENV): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [XFT_BIN, ...args], { cwd: PROJECT_ROOT, encoding: "utf8", env });
}

/** `xft ARGS...` in this process's environment, quiet. */
export const xft = (...args: string[]): SpawnSyncReturns<string> => runXft(args);
