"""The PyTorch peer of `xft bench`: the same GPT (pre-LN, fused QKV, GELU-tanh, tied head), AdamW, float32,
random tokens with the loss on every position, timed the same way (median of 3 repeats of at least 2 s after
3 warm-up steps and 2 s), each config in a process of its own so that its peak RSS (ru_maxrss, as xft bench
reads it) is its own. It is the reference the native backend's speed is judged against, measured on your CPU.
With `--device cuda` it times the same models and step on the GPU (CUDA float32 eager, no TF32), the peer of the
webgpu backend: each step ends with torch.cuda.synchronize(), as xft's ends with reading the loss back, and the JSON
names the GPU; --threads does not apply there.

    python3 scripts/torch-peer.py --threads 2 [--configs A,B,C,D] [--json]
    python3 scripts/torch-peer.py --device cuda --configs D,gpt2 [--json]
    .venv-hf/bin/python scripts/torch-peer.py --threads 2 --configs gpt2,gpt2-lora [--impl hf]

gpt2, gpt2-lora and gpt2-lora-nodropout are GPT-2 small (12 layers, d 768, 12 heads, vocab 50,257, 256
positions; seq 256, batch 8, random weights), fully fine-tuned and through a PEFT LoRA adapter (rank 8, alpha 16,
dropout 0.05, or 0 where PEFT leaves dropout out, on every linear layer of a block), as in xft bench. They are
not in the default set: a step takes tens of seconds on 2 cores. `--impl own` (the default) runs this script's
GPT, the same computation as xft's: it is the fair comparison. `--impl hf` runs transformers' GPT2LMHeadModel
instead (attn_implementation "sdpa", dropout 0, no KV cache; LoRA on c_attn, c_proj and c_fc), what a PyTorch
user of a GPT-2 checkpoint runs: its GELU is written out in Python (several elementwise ops where F.gelu is one).

Needs PyTorch (`pip install torch`), and for the LoRA configs peft (and transformers for `--impl hf`), as in
.venv-hf; xft itself never imports them.
"""
import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {  # layers, d, heads, seq, vocab, batch: the configs of src/bench/bench.ts
    "A": (2, 64, 4, 128, 2000, 16),
    "B": (4, 128, 4, 256, 8000, 16),
    "C": (4, 128, 4, 256, 4000, 16),
    "D": (6, 256, 8, 256, 4000, 16),
    "gpt2": (12, 768, 12, 256, 50257, 8),
    "gpt2-lora": (12, 768, 12, 256, 50257, 8),
    "gpt2-lora-nodropout": (12, 768, 12, 256, 50257, 8),
}
# xft's default LoRA (src/model/lora.ts): every linear layer of a block; and the same without dropout.
LORA_CONFIGS = {"gpt2-lora": {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05},
                "gpt2-lora-nodropout": {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0}}
LORA_TARGETS = {"own": ["qkv", "proj", "up", "down"], "hf": ["c_attn", "c_proj", "c_fc"]}


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.up, self.down = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        B, T, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(B, T, d))
        return x + self.down(F.gelu(self.up(self.ln2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, layers, d, heads, seq, vocab):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(seq, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.init_like_xft(0.02, layers)

    def init_like_xft(self, std, layers):
        """xft's initial scale (src/model/model.ts, GPT-2's): N(0, std) for every matrix and embedding, the residual
        outputs (proj, down) at std / sqrt(2 x layers), biases 0. PyTorch's own defaults (N(0, 1) embeddings) give
        sharp softmaxes whose gradients are subnormal floats, which an Intel Xeon multiplies about 200x slower (the
        head's two backward products took 2 s of a 2.1 s step on config C): a cost of the initial values, not of
        the step."""
        for name, p in self.named_parameters():
            if p.dim() == 2:
                scale = std / math.sqrt(2 * layers) if name.endswith(("proj.weight", "down.weight")) else std
                nn.init.normal_(p, 0.0, scale)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T


def hf_gpt2(layers, d, heads, seq, vocab):
    """transformers' GPT2LMHeadModel of these sizes, random weights (std 0.02), no dropout, SDPA attention."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=vocab, n_positions=seq, n_embd=d, n_layer=layers, n_head=heads,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, use_cache=False)
    model = GPT2LMHeadModel._from_config(config, attn_implementation="sdpa")
    assert model.config._attn_implementation == "sdpa", model.config._attn_implementation
    return model


def median_tokens_per_sec(step, tokens, repeats=3, seconds=2.0, warmup=3, warmup_seconds=2.0):
    # As xft bench: `warmup` untimed steps, and more until `warmup_seconds` have passed, but a step longer than a
    # whole repeat (GPT-2 small) ends the warm-up; steps per repeat from the last warm-up steps, at least one.
    start = time.perf_counter()
    warmup_times = []
    while len(warmup_times) < warmup or time.perf_counter() - start < warmup_seconds:
        t = time.perf_counter()
        step()
        warmup_times.append(time.perf_counter() - t)
        if warmup_times[-1] > seconds:
            break
    if not warmup_times:
        for _ in range(2):
            t = time.perf_counter()
            step()
            warmup_times.append(time.perf_counter() - t)
    steps = max(1, math.ceil(seconds / statistics.median(warmup_times[-3:])))
    rates = []
    cpu = time.process_time()  # every thread's CPU time, as process.cpuUsage() in xft bench
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(tokens * steps / (time.perf_counter() - t))
    return statistics.median(rates), rates, steps, (time.process_time() - cpu) / (repeats * steps)


def bench(name, impl, timing, device):
    layers, d, heads, seq, vocab, batch = CONFIGS[name]
    torch.manual_seed(1)
    if impl == "hf":
        model = hf_gpt2(layers, d, heads, seq, vocab)
        logits_of = lambda x: model(input_ids=x).logits
    else:
        model = Gpt(layers, d, heads, seq, vocab)
        logits_of = model
    parameters = sum(p.numel() for p in model.parameters())  # the model's, as xft bench counts them
    lora = LORA_CONFIGS.get(name)
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(**lora, target_modules=LORA_TARGETS[impl], bias="none",
                                                 fan_in_fan_out=impl == "hf"))  # GPT-2's Conv1D is [in, out]
        if impl == "own":
            logits_of = model
    model.to(device).train()
    trained = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trained, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.1)
    x = torch.randint(vocab, (batch, seq), device=device)
    y = torch.randint(vocab, (batch, seq), device=device)

    def step():
        loss = F.cross_entropy(logits_of(x).view(-1, vocab), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        sync(device)

    rate, rates, steps, cpu_per_step = median_tokens_per_sec(step, batch * seq, **timing)
    gpu_memory = {"peakCudaMiB": torch.cuda.max_memory_allocated() / 2**20} if device == "cuda" else {}
    return {
        "config": name, "impl": impl, "parameters": parameters,
        "trainedParameters": sum(p.numel() for p in trained), "tokensPerSec": rate, "repeatTokensPerSec": rates,
        "stepsPerRepeat": steps, "msPerStep": 1000 * batch * seq / rate, "cpuSecondsPerStep": cpu_per_step,
        # ru_maxrss is in KiB on Linux, as process.resourceUsage().maxRSS in xft bench.
        "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **gpu_memory,
    }


def sync(device):
    """Waits for the GPU's queued work, so that a timing on CUDA counts the work and not its launch."""
    if device == "cuda":
        torch.cuda.synchronize()


def matmul_gflops(device, n=1024, seconds=2.0):
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    sync(device)
    reps, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        a @ b
        reps += 1
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def cpu_model():
    """The CPU as xft bench names it (Node's os.cpus()[0].model, the 'model name' of /proc/cpuinfo) and its count."""
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown CPU")
    except OSError:
        name = "unknown CPU"
    return f"{name} x{os.cpu_count()}"


def config_name(text):
    for name in CONFIGS:
        if name.lower() == text.strip().lower():
            return name
    raise SystemExit(f"unknown config {text!r}; use {', '.join(CONFIGS)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (--device cpu only)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                    help="cpu (default) or cuda: float32 eager on the GPU, the webgpu backend's peer")
    ap.add_argument("--configs", default="A,B,C,D")
    ap.add_argument("--impl", choices=["own", "hf"], default="own",
                    help="this script's GPT (default; the same computation as xft's) or transformers' GPT2LMHeadModel")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--warmup-seconds", type=float, default=2.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)  # one config, in this process
    args = ap.parse_args()
    on_gpu = args.device == "cuda"
    if on_gpu:
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: this PyTorch sees no CUDA GPU")
        # float32 as the webgpu backend computes it: no TF32 in matrix products.
        torch.set_float32_matmul_precision("highest")
    else:
        torch.set_num_threads(args.threads)
    timing = {"repeats": args.repeats, "seconds": args.seconds, "warmup": args.warmup, "warmup_seconds": args.warmup_seconds}
    if args.child:
        print(json.dumps(bench(args.child, args.impl, timing, args.device)))
        return
    names = [config_name(c) for c in args.configs.split(",")]
    out = {"cpu": cpu_model(), "device": args.device, **({"gpu": torch.cuda.get_device_name()} if on_gpu else {}),
           "torch": torch.__version__, "threads": None if on_gpu else args.threads, "impl": args.impl,
           "matmulGflops1024": matmul_gflops(args.device),
           "malloc": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}, "configs": []}
    for name in names:
        if not args.json:
            print(f"torch-peer: config {name} ...", file=sys.stderr, flush=True)
        child = [sys.executable, os.path.abspath(__file__), "--child", name, "--impl", args.impl, "--device", args.device,
                 "--threads", str(args.threads),
                 "--repeats", str(args.repeats), "--seconds", str(args.seconds), "--warmup", str(args.warmup),
                 "--warmup-seconds", str(args.warmup_seconds)]
        r = subprocess.run(child, stdout=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise SystemExit(f"config {name}: the benchmark process failed (exit {r.returncode})")
        out["configs"].append(json.loads(r.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(out, indent=2))
        return
    malloc = " ".join(f"{k}={v}" for k, v in out["malloc"].items()) or "malloc as it comes"
    where = f"{out['gpu']} (cuda)" if on_gpu else f"{args.threads} threads"
    print(f"{out['cpu']}; torch {out['torch']}, {where}, impl {args.impl}, {malloc}; "
          f"float32 matmul 1024^3: {out['matmulGflops1024']:.1f} GFLOP/s")
    for r in out["configs"]:
        print(f"{r['config']:<19} {r['parameters']:>12,} params {r['trainedParameters']:>12,} trained "
              f"{r['tokensPerSec']:>9,.0f} tokens/s {r['msPerStep']:>9,.1f} ms/step {r['cpuSecondsPerStep']:>7,.2f} CPU s/step "
              f"{r['peakRssMiB']:>7,.0f} MiB peak RSS")
    print(f"tokens/s: median of {args.repeats} repeats ({', '.join(str(r['stepsPerRepeat']) for r in out['configs'])} steps each) "
          f"after {args.warmup}+ warm-up steps ({args.warmup_seconds} s at least)")


if __name__ == "__main__":
    main()
