/**
 * What every long command (train, reproduce) does the same way: progress on stderr, and Ctrl-C that stops
 * cleanly. On a terminal the progress is one line redrawn in place; in a log (CI, a pipe) a line every 5 s
 * and the final one, so that a log stays readable and still shows that work goes on.
 */
const LOG_INTERVAL_MS = 5000;

export function statusLine(): (text: string, final: boolean) => void {
  const tty = process.stderr.isTTY;
  let last = 0;
  return (text, final) => {
    if (tty) process.stderr.write(`\r${text}\x1b[K${final ? "\n" : ""}`);
    else if (final || Date.now() - last > LOG_INTERVAL_MS) {
      last = Date.now();
      process.stderr.write(`${text}\n`);
    }
  };
}

/**
 * The first Ctrl-C asks the work to stop after its current step (a checkpoint is written, and the same
 * command resumes); a second one exits at once. `release` removes the handler.
 */
export function stopOnInterrupt(): { requested: () => boolean; release: () => void } {
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write("\nxft: stopping after this step (checkpoint kept; run the same command to resume; Ctrl-C again to abort)\n");
  };
  process.on("SIGINT", onSigint);
  return { requested: () => stop, release: () => process.off("SIGINT", onSigint) };
}
