"""A kernel interrupt (Kernel > Interrupt: SIGINT to the kernel) stops training that runs in a cell, as Ctrl-C does
on the command line: the run stops after its step with a checkpoint, and the same cell run again resumes it.

    source scripts/env.sh && $PY test/kernel/interrupt_training.py RUNS_DIR

Prints one JSON object: the interrupted reply, the step the training was at when interrupted and where it stopped,
what the run folder held then, and the second run's result.
"""
import glob
import json
import os
import sys
import time

from jupyter_client.manager import start_new_kernel

RUNS_DIR = os.path.abspath(sys.argv[1])
PROGRESS = os.path.join(RUNS_DIR, "progress.txt")
INTERRUPT_AT_STEP = 30
# The ci profile at 20 epochs: 1,000 steps of a few ms each, long enough to interrupt midway.
CELL = f"""
import * as fs from "fs";
import {{ runExperiment }} from "./src/runs/experiment";
import {{ resolveProfile }} from "./src/runs/profiles";

const record = await runExperiment({{ dataset: "esnli", condition: "label", seed: 11, profile: {{ ...resolveProfile("ci"), epochs: 20 }} }}, {{
  runsDir: {json.dumps(RUNS_DIR)},
  onProgress: (e) => {{ if (e.phase === "train") fs.writeFileSync({json.dumps(PROGRESS)}, String(e.done)); }},
}});
console.log(JSON.stringify({{ status: record.status, steps: record.training.steps, resumedFromStep: record.training.resumedFromStep }}));
"""


def step():
    try:
        with open(PROGRESS) as f:
            return int(f.read() or 0)
    except FileNotFoundError:
        return 0


def wait_until(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(what)


def reply_and_stdout(kc, msg_id, timeout_s):
    """The execute reply's status and evalue, and the cell's stdout."""
    stdout = []
    while True:
        msg = kc.get_iopub_msg(timeout=timeout_s)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            stdout.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    while True:
        msg = kc.get_shell_msg(timeout=timeout_s)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_reply":
            break
    reply = msg["content"]
    return {"status": reply["status"], "evalue": reply.get("evalue")}, "".join(stdout)


def main():
    os.makedirs(RUNS_DIR, exist_ok=True)
    km, kc = start_new_kernel(kernel_name="tslab", startup_timeout=60)
    try:
        msg_id = kc.execute(CELL)
        wait_until(lambda: step() >= INTERRUPT_AT_STEP, 300, f"training never reached step {INTERRUPT_AT_STEP}")
        interrupted_at = step()
        started = time.monotonic()
        km.interrupt_kernel()
        reply, _ = reply_and_stdout(kc, msg_id, 60)
        reply_s = time.monotonic() - started
        # The training goes on in the background until its next step check: wait until the step stays put for 2 s.
        last, since = step(), time.monotonic()
        while time.monotonic() - since < 2:
            time.sleep(0.1)
            if step() != last:
                last, since = step(), time.monotonic()
        run_dirs = [os.path.dirname(p) for p in glob.glob(os.path.join(RUNS_DIR, "*", "run.json"))]
        folder = sorted(os.listdir(run_dirs[0])) if run_dirs else []
        status = json.load(open(os.path.join(run_dirs[0], "run.json")))["status"] if run_dirs else None
        second_id = kc.execute(CELL)
        second_reply, second_stdout = reply_and_stdout(kc, second_id, 300)
        print(json.dumps({
            "interrupted_at": interrupted_at, "reply": reply, "reply_s": reply_s, "stopped_at": last,
            "folder": folder, "status": status, "second_reply": second_reply,
            "second": json.loads(second_stdout.strip().splitlines()[-1]) if second_stdout.strip() else None,
        }))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
