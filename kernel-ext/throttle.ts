/**
 * Redraws of a live output (a progress bar, a chart) at a bounded rate: re-rendering an output costs a kernel message
 * and a frontend repaint, and a training loop reports thousands of times a second.
 */

/** At most ~4 redraws a second. */
export const MIN_REDRAW_INTERVAL_MS = 250;

export interface Throttle {
  /** Draws now if the last draw is old enough, else once when the interval is up (the latest state, then). */
  request(): void;
  /** Draws now, whatever the interval, and drops a pending draw. */
  flush(): void;
}

/** A request that arrives too soon is not lost: a timer draws when the interval is up. */
export function throttle(draw: () => void, minIntervalMs: number = MIN_REDRAW_INTERVAL_MS): Throttle {
  let lastDrawnAt = -Infinity;
  let pendingDraw: ReturnType<typeof setTimeout> | undefined;

  const flush = (): void => {
    if (pendingDraw !== undefined) clearTimeout(pendingDraw);
    pendingDraw = undefined;
    lastDrawnAt = Date.now();
    draw();
  };

  return {
    request() {
      const wait = lastDrawnAt + minIntervalMs - Date.now();
      if (wait <= 0) flush();
      else if (pendingDraw === undefined) {
        pendingDraw = setTimeout(flush, wait);
        // A pending redraw must not keep a plain Node script alive.
        pendingDraw.unref();
      }
    },
    flush,
  };
}
