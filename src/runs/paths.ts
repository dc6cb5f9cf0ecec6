/** Where runs are stored: the one rule every writer of run folders (fine-tuning runs, pretrained bases) follows. */
import * as path from "path";
import { projectRoot } from "../data/load";

/** `runsDir`, else $XFT_RUNS_DIR, else <project root>/runs. */
export function runsRoot(runsDir?: string): string {
  return runsDir ?? process.env.XFT_RUNS_DIR ?? path.join(projectRoot(), "runs");
}
