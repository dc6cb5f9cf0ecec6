/**
 * A progress bar that is ONE notebook output, replaced in place (update_display_data), so a long training loop
 * leaves one line in the notebook instead of thousands. Updates are throttled (throttle.ts).
 * Outside a kernel (a script, a test) the bar is a single stderr line redrawn with "\r".
 */
import { escapeHtml } from "./html";
import { outputInPlace } from "./in-place";
import { insideTslabKernel } from "../src/util/notice";
import { type MimeBundle } from "./output";
import { MIN_REDRAW_INTERVAL_MS, throttle } from "./throttle";

export interface ProgressBar {
  update(done: number, total: number, text?: string): void;
  /**
   * Draws the final state now; later update() calls are ignored. `done` is the final count where the last update()
   * reported the start of the last item (a loop's "item i of n"), so that a finished bar reads n/n.
   */
  close(text?: string, done?: number): void;
}

export interface ProgressState {
  title: string;
  done: number;
  /** 0 while unknown. */
  total: number;
  text?: string;
  elapsedMs: number;
  closed: boolean;
}

/** Draws one state somewhere: a notebook output, a terminal line. */
export type ProgressRenderer = (state: ProgressState) => void;

const TEXT_BAR_WIDTH = 24;

function fractionDone(state: ProgressState): number {
  return state.total > 0 ? Math.min(1, Math.max(0, state.done / state.total)) : 0;
}

function formatDuration(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(Math.floor(seconds % 60)).padStart(2, "0")} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

/** "12/40 (30%) · 4.1 s · about 9.6 s left · loss 2.31" */
function statusText(state: ProgressState): string {
  const parts: string[] = [];
  if (state.total > 0) parts.push(`${state.done}/${state.total} (${Math.round(fractionDone(state) * 100)}%)`);
  else if (state.done > 0) parts.push(`${state.done}`);
  parts.push(formatDuration(state.elapsedMs));
  if (!state.closed && state.done > 0 && state.done < state.total) {
    parts.push(`about ${formatDuration((state.elapsedMs * (state.total - state.done)) / state.done)} left`);
  }
  if (state.text) parts.push(state.text);
  return parts.join(" · ");
}

/** "title [#########---------------] 12/40 (30%) · 4.1 s · …" */
export function progressLine(state: ProgressState): string {
  const filled = Math.round(fractionDone(state) * TEXT_BAR_WIDTH);
  return `${state.title} [${"#".repeat(filled)}${"-".repeat(TEXT_BAR_WIDTH - filled)}] ${statusText(state)}`;
}

export function progressMimeBundle(state: ProgressState): MimeBundle {
  const percent = (fractionDone(state) * 100).toFixed(1);
  const color = state.closed ? "#16a34a" : "#2563eb";
  const html = `<div class="xft-progress" style="font-family: monospace; font-size: 12px; margin: 4px 0;">
<div><b>${escapeHtml(state.title)}</b> ${escapeHtml(statusText(state))}</div>
<div style="max-width: 480px; height: 8px; margin-top: 3px; background: #e5e7eb; border-radius: 4px; overflow: hidden;">
<div style="width: ${percent}%; height: 100%; background: ${color};"></div></div></div>`;
  return { "text/html": html, "text/plain": progressLine(state) };
}

/** The in-kernel renderer: the first state creates the output, later states replace it. */
function notebookRenderer(): ProgressRenderer {
  const write = outputInPlace();
  return (state) => write(progressMimeBundle(state));
}

/** The fallback renderer: one stderr line, redrawn in place, ended with a newline when the bar closes. */
function stderrRenderer(): ProgressRenderer {
  let previousLength = 0;
  return (state) => {
    const line = progressLine(state);
    // Pad over the rest of a longer previous line; no ANSI codes, so a log file stays readable.
    process.stderr.write("\r" + line.padEnd(previousLength) + (state.closed ? "\n" : ""));
    previousLength = line.length;
  };
}

/**
 * A bar that draws through `render`: the first state at once, then at most one redraw per `minIntervalMs`. An update
 * that arrives too soon is not lost: the latest state is drawn when the interval is up, and close() draws the final
 * state immediately.
 */
export function throttledProgressBar(title: string, render: ProgressRenderer, minIntervalMs: number = MIN_REDRAW_INTERVAL_MS): ProgressBar {
  const startedAt = Date.now();
  const state: ProgressState = { title, done: 0, total: 0, elapsedMs: 0, closed: false };
  const redraw = throttle(() => {
    state.elapsedMs = Date.now() - startedAt;
    render({ ...state });
  }, minIntervalMs);

  redraw.flush();
  return {
    update(done, total, text) {
      // A callback that fires after close() (a late epoch hook) must not reopen a finished bar.
      if (state.closed) return;
      state.done = done;
      state.total = total;
      state.text = text;
      redraw.request();
    },
    close(text, done) {
      if (state.closed) return;
      state.closed = true;
      if (text !== undefined) state.text = text;
      if (done !== undefined) state.done = done;
      redraw.flush();
    },
  };
}

/** A progress bar in the current cell's output (or on stderr outside a kernel). */
export function progressBar(title: string): ProgressBar {
  return throttledProgressBar(title, insideTslabKernel() ? notebookRenderer() : stderrRenderer());
}
