/**
 * `--emit k8s`: a grid as two Kubernetes Jobs (batch/v1). The training Job is an Indexed Job, one completion per
 * shard (`--shard auto` reads JOB_COMPLETION_INDEX, and XFT_SHARD_COUNT, which Kubernetes does not set); the
 * analysis Job runs once the training Job is complete. Kubernetes has no dependency between Jobs, so submit.sh
 * applies the first, waits for it with `kubectl wait`, and applies the second. Both mount one volume (a
 * PersistentVolumeClaim that every node can write, ReadWriteMany) for the runs and the results.
 */
// Types only (erased at run time): an unknown or misspelt field in a manifest fails the type check, as kubectl's
// strict validation would; the tests validate the objects against the batch/v1 schema as well.
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IContainer } from "kubernetes-models/v1/Container";
import { stringify } from "yaml";
import { analysisArgs, analysisSeconds, ClusterPlan, costLines, taskMemoryMiB, taskSeconds, threadEnvironment, trainArgs } from "./plan";
import { shellQuote } from "./slurm";

export interface KubernetesOptions {
  /** A container image with the project set up in `workingDir` (README: "On Kubernetes"). */
  image: string;
  /** The PersistentVolumeClaim for runs and results. */
  claim: string;
  /** Where the image has the project. */
  workingDir: string;
}

/** Where the volume is mounted, and the runs and results folders on it. */
const VOLUME = "/xft-data";

/** A name Kubernetes accepts (DNS-1123: lower case, digits and '-', at most 63 characters). */
function jobName(plan: ClusterPlan, role: string): string {
  const base = `xft-${plan.profile}-${plan.part}`.toLowerCase().replace(/[^a-z0-9-]+/g, "-");
  return `${base.slice(0, 63 - role.length - 1)}-${role}`;
}

function container(plan: ClusterPlan, opts: KubernetesOptions, name: string, args: string[], extraEnv: Record<string, string>): IContainer {
  const memory = `${taskMemoryMiB(plan)}Mi`;
  const cpu = String(plan.cpusPerTask);
  const env = { ...threadEnvironment(plan.cpusPerTask), ...extraEnv };
  return {
    name,
    image: opts.image,
    workingDir: opts.workingDir,
    command: ["node", "bin/xft.cjs", ...args],
    env: Object.entries(env).map(([k, value]) => ({ name: k, value })),
    resources: { requests: { cpu, memory }, limits: { cpu, memory } },
    volumeMounts: [{ name: "xft-data", mountPath: VOLUME }],
  };
}

function job(
  plan: ClusterPlan,
  opts: KubernetesOptions,
  role: string,
  spec: Omit<NonNullable<IJob["spec"]>, "template">,
  podSeconds: number,
  c: IContainer,
): IJob {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: jobName(plan, role), labels: { app: "xft", "xft/profile": plan.profile, "xft/role": role } },
    spec: {
      ...spec,
      template: {
        metadata: { labels: { app: "xft", "xft/role": role } },
        spec: {
          restartPolicy: "Never",
          // A task's time limit, as Slurm's --time.
          activeDeadlineSeconds: podSeconds,
          containers: [c],
          volumes: [{ name: "xft-data", persistentVolumeClaim: { claimName: opts.claim } }],
        },
      },
    },
  };
}

/** The two Jobs as objects (what the tests validate against the batch/v1 schema). */
export function kubernetesJobs(plan: ClusterPlan, opts: KubernetesOptions): { train: IJob; analysis: IJob } {
  const runsDir = `${VOLUME}/runs`;
  const resultsDir = `${VOLUME}/results/${jobName(plan, "results")}`;
  const train = job(
    plan,
    opts,
    "train",
    // A failed pod resumes its shard from the run's checkpoint: a few retries for the whole Job.
    { completionMode: "Indexed", completions: plan.shards, parallelism: plan.shards, backoffLimit: 2 * plan.shards },
    taskSeconds(plan),
    container(plan, opts, "train", trainArgs(plan, runsDir), { XFT_SHARD_COUNT: String(plan.shards) }),
  );
  const analysis = job(
    plan,
    opts,
    "analysis",
    { completions: 1, parallelism: 1, backoffLimit: 1 },
    analysisSeconds(plan),
    container(plan, opts, "analysis", analysisArgs(plan, runsDir, resultsDir), {}),
  );
  return { train, analysis };
}

/** The files, by name: train-job.yaml, analysis-job.yaml, submit.sh. */
export function kubernetesFiles(plan: ClusterPlan, opts: KubernetesOptions): Record<string, string> {
  const { train, analysis } = kubernetesJobs(plan, opts);
  const header = costLines(plan)
    .map((l) => `# ${l}`)
    .join("\n");
  const trainName = jobName(plan, "train");
  // Every index runs at once: a task's limit, and twice more for pods that failed and were retried.
  const wait = 3 * taskSeconds(plan);
  const submit = [
    "#!/bin/bash",
    `# Applies ${trainName}, waits until every index has completed, then applies the analysis Job.`,
    "set -euo pipefail",
    'here="$(cd "$(dirname "$0")" && pwd)"',
    'kubectl apply -f "$here/train-job.yaml"',
    `kubectl wait --for=condition=complete ${shellQuote(`job/${trainName}`)} --timeout=${wait}s`,
    'kubectl apply -f "$here/analysis-job.yaml"',
    "",
  ].join("\n");
  return {
    "train-job.yaml": `${header}\n${stringify(train)}`,
    "analysis-job.yaml": stringify(analysis),
    "submit.sh": submit,
  };
}
