#!/usr/bin/python3
"""Executes notebooks headlessly with the project's tslab kernel and writes the executed copies.

    source scripts/env.sh && $PY scripts/run-notebooks.py --out build/notebooks [--timeout 1800] nb1.ipynb ...

Run it with Debian's /usr/bin/python3 (pyenv's python3 cannot see Debian's Jupyter packages), after sourcing
scripts/env.sh so that Jupyter finds the kernelspec in kernel-ext/jupyter. The kernel starts in the project root
whatever folder a notebook is in, and inherits this process's environment (XFT_PROFILE and the like).

Every notebook runs, even after one fails. The executed copy is written to --out either way, so a failing run can be
inspected. For a failed cell this prints its source, its stderr output (where tslab writes compile errors) and its
`error` output (a run-time error: the traceback, mapped to the .ts source by the project's tslab patch). A cell fails
when its execute_reply says "error", which is what nbclient's CellExecutionError reports.
Exit status: 0 when all notebooks ran, 1 when any failed, 2 for bad arguments.
"""
import argparse
import os
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

KERNEL_NAME = "tslab"
KERNEL_STARTUP_TIMEOUT_S = 60


def stream_text(cell, name):
    return "".join(
        output.get("text", "")
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == name
    )


def error_text(cell):
    """The cell's `error` outputs: each one's traceback lines (which begin with "ename: evalue")."""
    return "\n".join(
        "\n".join(output.get("traceback") or [f"{output.get('ename')}: {output.get('evalue')}"])
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    )


def describe_failure(nb, cell_index, error):
    """The failing cell's number, source, stderr and error, for the terminal."""
    if cell_index is None:
        return f"{type(error).__name__}: {error}"
    cell = nb.cells[cell_index]
    label = f"cell [{cell.get('execution_count')}] (index {cell_index})"
    stderr = stream_text(cell, "stderr").rstrip() or "(no stderr output)"
    if isinstance(error, CellExecutionError):
        reason = "the cell failed"
    else:
        reason = f"{type(error).__name__}: {str(error).strip()}"
    report = f"{label}: {reason}\n--- source ---\n{cell.source}\n--- stderr ---\n{stderr}"
    traceback = error_text(cell)
    return f"{report}\n--- error ---\n{traceback}" if traceback else report


def run_notebook(path, out_path, timeout_s):
    """Executes one notebook, writes the executed copy, and returns None or a description of the failure."""
    nb = nbformat.read(path, as_version=4)
    current = {"index": None}

    def remember_cell(cell, cell_index):
        current["index"] = cell_index

    client = NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=timeout_s,
        startup_timeout=KERNEL_STARTUP_TIMEOUT_S,
        # The kernel's own cwd is the project root (its kernelspec cds there); this only sets where it is launched.
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
        on_cell_start=remember_cell,
    )
    failure = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
        failure = describe_failure(nb, current["index"], error)
    except Exception as error:  # the kernel did not start, the notebook is malformed, ...
        failure = describe_failure(nb, None, error)
    nbformat.write(nb, out_path)
    return failure


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for the executed copies")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds one cell may run (default 1800)")
    parser.add_argument("notebooks", nargs="+")
    args = parser.parse_args()

    names = [os.path.basename(path) for path in args.notebooks]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        parser.error(f"two notebooks would be written to the same file in --out: {', '.join(duplicates)}")
    os.makedirs(args.out, exist_ok=True)

    failed = []
    for path, name in zip(args.notebooks, names):
        out_path = os.path.join(args.out, name)
        started = time.monotonic()
        failure = run_notebook(path, out_path, args.timeout)
        elapsed = time.monotonic() - started
        if failure is None:
            print(f"ok      {path} -> {out_path} ({elapsed:.1f} s)", flush=True)
        else:
            failed.append(path)
            print(f"FAILED  {path} -> {out_path} ({elapsed:.1f} s)\n{failure}", file=sys.stderr, flush=True)

    print(f"{len(args.notebooks) - len(failed)} notebook(s) ran, {len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
