/**
 * What notebooks use: `import { show, table, progressBar, banner } from "./kernel-ext"`. The kernel's working directory
 * is the project root (see jupyter/kernels/tslab/kernel.json), so that import works from a notebook in any folder.
 */
export { show, type PlotlyFigure } from "./plotly";
export { table, type TableOptions } from "./table";
export { progressBar, type ProgressBar } from "./progress";
export { banner, type EnvironmentInfo } from "./banner";
