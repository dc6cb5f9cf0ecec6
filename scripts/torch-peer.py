"""The PyTorch peer of `xft bench`: the same GPT (pre-LN, fused QKV, GELU-tanh, tied head), AdamW, float32,
random tokens with the loss on every position, timed the same way (median of 3 repeats of at least 2 s after
3 warm-up steps). It is the reference the native backend's speed is judged against, measured on your CPU.

    python3 scripts/torch-peer.py --threads 2 [--configs A,B,C,D] [--json]

Needs PyTorch (`pip install torch`); xft itself never imports it.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {  # layers, d, heads, seq, vocab, batch: the reference configs of src/bench/bench.ts
    "A": (2, 64, 4, 128, 2000, 16),
    "B": (4, 128, 4, 256, 8000, 16),
    "C": (4, 128, 4, 256, 4000, 16),
    "D": (6, 256, 8, 256, 4000, 16),
}


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

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T


def median_tokens_per_sec(step, tokens, repeats=3, seconds=2.0, warmup=3, warmup_seconds=2.0):
    # As xft bench: `warmup` untimed steps, and more until `warmup_seconds` have passed.
    start = time.perf_counter()
    done = 0
    while done < warmup or time.perf_counter() - start < warmup_seconds:
        step()
        done += 1
    t = time.perf_counter()
    step()
    steps = max(2, math.ceil(seconds / (time.perf_counter() - t)))
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(tokens * steps / (time.perf_counter() - t))
    return statistics.median(rates)


def bench(name):
    layers, d, heads, seq, vocab, batch = CONFIGS[name]
    torch.manual_seed(1)
    model = Gpt(layers, d, heads, seq, vocab)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.99), weight_decay=0.1)
    x = torch.randint(vocab, (batch, seq))
    y = torch.randint(vocab, (batch, seq))

    def step():
        loss = F.cross_entropy(model(x).view(-1, vocab), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    params = sum(p.numel() for p in model.parameters())
    return {"config": name, "parameters": params, "tokensPerSec": median_tokens_per_sec(step, batch * seq)}


def matmul_gflops(n=1024, seconds=2.0):
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    reps, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        a @ b
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--configs", default="A,B,C,D")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = {"torch": torch.__version__, "threads": args.threads, "matmulGflops1024": matmul_gflops(),
           "configs": [bench(c.strip().upper()) for c in args.configs.split(",")]}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"torch {out['torch']}, {args.threads} threads; float32 matmul 1024^3: {out['matmulGflops1024']:.1f} GFLOP/s")
    for r in out["configs"]:
        print(f"{r['config']}  {r['parameters']:>10,} params  {r['tokensPerSec']:>9,.0f} tokens/s")


if __name__ == "__main__":
    main()
