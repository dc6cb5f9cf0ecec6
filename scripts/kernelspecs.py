"""Prints the kernelspecs Jupyter sees, as JSON {name: resource_dir}. Debian ships no `jupyter kernelspec`
command without the jupyter-client package, so setup and `xft doctor` ask jupyter_client directly.
Run with /usr/bin/python3 and JUPYTER_PATH set (scripts/env.sh)."""
import json

from jupyter_client.kernelspec import KernelSpecManager

print(json.dumps({name: spec["resource_dir"] for name, spec in KernelSpecManager().get_all_specs().items()}))
