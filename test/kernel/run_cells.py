"""Runs cells in one tslab kernel the way JupyterLab's Run All does, and prints what came back as JSON.

    source scripts/env.sh && $PY test/kernel/run_cells.py 'console.log(1)' 'throw new Error("x")' ...

Every execute_request is sent at once, before the first reply (stop_on_error=True, as JupyterLab sends them), so a
failed cell must abort the ones queued behind it. Each argument is one cell's source. Output: a JSON list with one
entry per cell: the execute_reply's status, ename, evalue and traceback, and the cell's iopub outputs in order
(stream: name and text; error: ename, evalue and traceback; other messages: their type).
"""
import json
import sys

from jupyter_client.manager import start_new_kernel

KERNEL_NAME = "tslab"
STARTUP_TIMEOUT_S = 60
# The cells may import xft's library, which tslab compiles on first import.
REPLY_TIMEOUT_S = 300


def output_of(msg):
    content = msg["content"]
    if msg["msg_type"] == "stream":
        return {"type": "stream", "name": content["name"], "text": content["text"]}
    if msg["msg_type"] == "error":
        return {"type": "error", **{key: content[key] for key in ("ename", "evalue", "traceback")}}
    return {"type": msg["msg_type"]}


def run_cells(kc, sources):
    msg_ids = [kc.execute(source, stop_on_error=True) for source in sources]
    results = {msg_id: {"outputs": []} for msg_id in msg_ids}
    replies = 0
    while replies < len(msg_ids):
        reply = kc.get_shell_msg(timeout=REPLY_TIMEOUT_S)
        msg_id = reply["parent_header"].get("msg_id")
        if msg_id in results and reply["msg_type"] == "execute_reply":
            content = reply["content"]
            results[msg_id].update({key: content.get(key) for key in ("status", "ename", "evalue", "traceback")})
            replies += 1
    # Outputs of all cells precede the last cell's "idle" status on iopub.
    idle = set()
    while len(idle) < len(msg_ids):
        msg = kc.get_iopub_msg(timeout=REPLY_TIMEOUT_S)
        msg_id = msg["parent_header"].get("msg_id")
        if msg_id not in results:
            continue
        if msg["msg_type"] == "status":
            if msg["content"]["execution_state"] == "idle":
                idle.add(msg_id)
            continue
        if msg["msg_type"] != "execute_input":
            results[msg_id]["outputs"].append(output_of(msg))
    return [results[msg_id] for msg_id in msg_ids]


def main():
    sources = sys.argv[1:]
    if not sources:
        sys.exit("usage: run_cells.py CELL_SOURCE...")
    km, kc = start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=STARTUP_TIMEOUT_S)
    try:
        print(json.dumps(run_cells(kc, sources), indent=1))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
