/**
 * A chart of loss curves that is ONE notebook output, redrawn in place while training runs and throttled like the
 * progress bar (throttle.ts). A curve grows point by point, or is set whole (a reused run's stored curve, drawn at
 * once); close() draws the full curves, or a figure given in their place, as the output's final state: an ordinary
 * chart output (plotly.ts), which a saved notebook and its export draw like any other.
 * Outside a kernel it draws nothing: a script shows its training on the progress bar's stderr line.
 */
import type { LossPoint } from "../src/train/trainer";
import type { NamedLosses } from "../src/viz/figures";
import { insideTslabKernel } from "../src/util/notice";
import { chartInPlace, type PlotlyFigure } from "./plotly";
import { MIN_REDRAW_INTERVAL_MS, throttle } from "./throttle";

export interface LiveLossChart {
  /** Appends a point to the named curve (a new curve on first use); redraws, throttled. */
  add(name: string, point: LossPoint): void;
  /** Replaces the named curve with `losses` (an empty list starts it over); redraws, throttled. */
  set(name: string, losses: readonly LossPoint[]): void;
  /** Draws the final state now: the full curves, or `final` in their place. Later calls are ignored. */
  close(final?: PlotlyFigure): void;
}

/** What the chart draws from its curves: one of src/viz's figures. */
export type CurvesFigure = (curves: readonly NamedLosses[]) => PlotlyFigure;

/** Draws one state of the chart somewhere; `final` marks the last one. */
export type ChartRenderer = (figure: PlotlyFigure, final: boolean) => void;

/**
 * Live redraws show at most this many points per curve: a redraw sends the whole figure, and a long pretraining
 * reports thousands of steps. The final state has every point.
 */
export const MAX_LIVE_POINTS = 1000;

/** Every k-th point and the last one, k chosen so that at most `max` remain. */
export function thinned(points: readonly LossPoint[], max: number): LossPoint[] {
  if (points.length <= max) return [...points];
  const stride = Math.ceil(points.length / max);
  return points.filter((_, i) => i % stride === stride - 1 || i === points.length - 1);
}

/** A chart that draws through `render`: its empty axes at once, then at most one redraw per `minIntervalMs`. */
export function throttledLossChart(figureOf: CurvesFigure, render: ChartRenderer, minIntervalMs: number = MIN_REDRAW_INTERVAL_MS): LiveLossChart {
  const curves = new Map<string, LossPoint[]>();
  let closed = false;
  let finalFigure: PlotlyFigure | undefined;
  const named = (max: number): NamedLosses[] => [...curves].map(([name, losses]) => ({ name, losses: thinned(losses, max) }));
  const redraw = throttle(() => {
    if (closed) render(finalFigure ?? figureOf(named(Infinity)), true);
    else render(figureOf(named(MAX_LIVE_POINTS)), false);
  }, minIntervalMs);

  redraw.flush();
  return {
    add(name, point) {
      // A progress callback that fires after close() must not reopen a finished chart.
      if (closed) return;
      const curve = curves.get(name);
      if (curve) curve.push(point);
      else curves.set(name, [point]);
      redraw.request();
    },
    set(name, losses) {
      if (closed) return;
      curves.set(name, [...losses]);
      redraw.request();
    },
    close(final) {
      if (closed) return;
      closed = true;
      finalFigure = final;
      redraw.flush();
    },
  };
}

/** A live loss chart in the current cell's output; outside a kernel, one that draws nothing. */
export function liveLossChart(figureOf: CurvesFigure): LiveLossChart {
  const render: ChartRenderer = insideTslabKernel() ? chartInPlace() : () => undefined;
  return throttledLossChart(figureOf, render);
}
