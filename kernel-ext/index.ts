/**
 * What notebooks use: `import { show, table, progressBar, liveRuns, gridProgress, banner } from "./kernel-ext/index"`.
 * Spell out "/index": tslab 1.0.22 loads the .ts modules it compiled only by exact file name, so the directory
 * import "./kernel-ext" type-checks but fails at run time with "Cannot find module './kernel-ext'".
 * The kernel's working directory is the project root (see jupyter/kernels/tslab/kernel.json), so the same import
 * works from a notebook in any folder.
 */
export { show, type PlotlyFigure } from "./plotly";
export { table, type TableOptions } from "./table";
export { progressBar, type ProgressBar } from "./progress";
export { liveLossChart, type LiveLossChart } from "./live-chart";
export { gridProgress, livePretrain, liveRuns, type LiveRuns, type TrainingEvent } from "./live-training";
export { banner, type EnvironmentInfo } from "./banner";
