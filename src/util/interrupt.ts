/**
 * SIGINT as a stop request for long work that was given no stop callback of its own: a notebook's cell, where a
 * kernel interrupt (Kernel > Interrupt, or I I) is a SIGINT to the kernel's process. tslab abandons the cell at once
 * ("Interrupted asynchronously") but its promise keeps running; training that polls `interruptedSince` stops after
 * its step and keeps its checkpoint, as Ctrl-C does on the CLI, and a grid stops after that run.
 */
let interrupts = 0;
let listening = false;

/** A stop callback that is true once a SIGINT has arrived after this call; the first call starts listening. */
export function interruptedSince(): () => boolean {
  if (!listening) {
    process.on("SIGINT", () => {
      interrupts++;
    });
    listening = true;
  }
  const seen = interrupts;
  return () => interrupts > seen;
}
