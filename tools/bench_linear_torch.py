#!/usr/bin/env python3
"""torch.mm (float32, MKL/oneDNN sgemm) at the linear layers' exact shapes of the sample
models (MiniLM 384/1536, SmolLM2 576/192/1536, Gemma 3 270M 640/1024/2048), with the same
thread count as attnscope's run: the baseline for `cargo run --release --example
linear_shapes` (BENCHMARKS.md).
Run: python3 tools/bench_linear_torch.py [THREADS]   (default 2)
"""
import subprocess
import sys
import time

import torch

SHAPES = [(576, 576), (576, 192), (576, 1536), (1536, 576), (384, 384), (384, 1536),
          (1536, 384), (640, 1024), (640, 2048), (2048, 640)]


def best_seconds(f):
    f()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        reps = 0
        while time.perf_counter() - t0 < 0.2:
            f()
            reps += 1
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    name = next((l.split(":", 1)[1].strip() for l in cpu.splitlines() if l.startswith("Model name")), "?")
    print(f"torch {torch.__version__}, {threads} threads, CPU: {name}")
    print("| n | k → m | torch.mm ms | GFLOP/s |")
    for k, m in SHAPES:
        for n in (128, 512):
            x = torch.randn(n, k)
            w = torch.randn(k, m)
            out = torch.empty(n, m)
            t = best_seconds(lambda: torch.mm(x, w, out=out))
            print(f"| {n} | {k} → {m} | {t * 1e3:.3f} | {2 * n * k * m / t / 1e9:.0f} |")


if __name__ == "__main__":
    main()
