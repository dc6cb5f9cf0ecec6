"""Loads an `xft export` folder with transformers (and PEFT for an adapter) and prints what xft's tests compare.

Usage: check-export.py REQUESTS.json, a list of requests (one process for many exports: torch loads once), each
  {"dir": OUT, "adapter": bool, "ids": [[...], ...], "attention_mask": [[...], ...], "texts": [...]}
Prints a JSON list, per request {"logits": [B][T][V] float32 logits of the padded batch, "text_ids": [[...], ...]}, with
text_ids from AutoTokenizer on the export (add_special_tokens as transformers defaults). Offline: nothing is
downloaded (HF_HUB_OFFLINE).
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402


def load_model(out: str, adapter: bool):
    if not adapter:
        return AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    from peft import PeftModel

    with open(os.path.join(out, "adapter_config.json")) as f:
        base_dir = json.load(f)["base_model_name_or_path"]
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    return PeftModel.from_pretrained(base, out)


def check(req: dict) -> dict:
    model = load_model(req["dir"], req.get("adapter", False)).eval()
    ids = torch.tensor(req["ids"], dtype=torch.long)
    mask = torch.tensor(req["attention_mask"], dtype=torch.long)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
    tok = AutoTokenizer.from_pretrained(req["dir"])
    text_ids = [tok(t)["input_ids"] for t in req.get("texts", [])]
    return {"logits": logits.tolist(), "text_ids": text_ids}


def main() -> None:
    with open(sys.argv[1]) as f:
        requests = json.load(f)
    json.dump([check(r) for r in requests], sys.stdout)


if __name__ == "__main__":
    main()
