#!/usr/bin/env python3
"""PyTorch CPU attention baseline for attnscope.

Times, for batch 1 and h heads of dimension d at each sequence length N:

  (a) "materialised": p = softmax(q @ k^T / sqrt(d), dim=-1); out = p @ v
      (the full N x N probability matrix p is kept, as attnscope does);
  (b) "sdpa": torch.nn.functional.scaled_dot_product_attention(q, k, v).

It also measures the machine's single-precision GEMM throughput with
torch.mm (and numpy.matmul for reference) on n x n matrices.

Attention FLOPs are counted as 4*h*N^2*d (two matmuls of 2*h*N^2*d each;
the softmax is not counted). GEMM FLOPs are 2*n^3.

Each measurement is warmed up and then repeated until both --min-reps
repetitions and --min-time seconds have been spent; the median is reported.

Usage:
  python3 tools/bench_torch.py                       # defaults below
  python3 tools/bench_torch.py --threads 1 --json bench.json
  python3 tools/bench_torch.py --seq 128 512 --min-reps 3 --min-time 0  # quick
"""
import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def measure(fn, warmup, min_reps, min_time, max_reps=10_000):
    """Return a list of wall-clock seconds for repeated calls of fn()."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= max_reps:
            break
        if len(times) >= min_reps and time.perf_counter() - start >= min_time:
            break
    return times


def summarise(times, flops):
    med = statistics.median(times)
    return {
        "reps": len(times),
        "median_ms": med * 1e3,
        "min_ms": min(times) * 1e3,
        "gflops": flops / med / 1e9 if flops else None,
    }


def bench_attention(n, heads, dim, batch, args):
    g = torch.Generator().manual_seed(0)
    shape = (batch, heads, n, dim)
    q = torch.randn(shape, generator=g, dtype=torch.float32)
    k = torch.randn(shape, generator=g, dtype=torch.float32)
    v = torch.randn(shape, generator=g, dtype=torch.float32)
    scale = 1.0 / math.sqrt(dim)
    flops = 4.0 * batch * heads * n * n * dim

    kept = {}

    def materialised():
        p = torch.softmax(q @ k.transpose(-1, -2) * scale, dim=-1)
        out = p @ v
        kept["p"] = p  # keep the probabilities alive, as attnscope does
        return out

    def sdpa():
        return F.scaled_dot_product_attention(q, k, v)

    with torch.inference_mode():
        # sanity: both paths agree
        a = materialised()
        b = sdpa()
        max_diff = (a - b).abs().max().item()
        res = {}
        for name, fn in (("materialised", materialised), ("sdpa", sdpa)):
            times = measure(fn, args.warmup, args.min_reps, args.min_time)
            res[name] = summarise(times, flops)
    res["max_abs_diff"] = max_diff
    res["p_bytes"] = batch * heads * n * n * 4
    return res


def bench_gemm(n, args):
    g = torch.Generator().manual_seed(1)
    a = torch.randn((n, n), generator=g, dtype=torch.float32)
    b = torch.randn((n, n), generator=g, dtype=torch.float32)
    flops = 2.0 * n ** 3
    out = {}
    with torch.inference_mode():
        times = measure(lambda: torch.mm(a, b), args.warmup, args.min_reps, args.min_time)
    out["torch_mm"] = summarise(times, flops)
    an = a.numpy().copy()
    bn = b.numpy().copy()
    times = measure(lambda: np.matmul(an, bn), args.warmup, args.min_reps, args.min_time)
    out["numpy_matmul"] = summarise(times, flops)
    return out


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seq", type=int, nargs="+", default=[128, 512, 2048],
                    help="sequence lengths N (default: 128 512 2048)")
    ap.add_argument("--heads", type=int, default=12, help="number of heads h (default 12)")
    ap.add_argument("--dim", type=int, default=64, help="head dimension d (default 64)")
    ap.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch.set_num_threads value (default 2)")
    ap.add_argument("--gemm-n", type=int, default=2048,
                    help="square GEMM size for the sgemm measurement (default 2048; 0 = skip)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up calls (default 3)")
    ap.add_argument("--min-reps", type=int, default=20, help="minimum timed reps (default 20)")
    ap.add_argument("--min-time", type=float, default=1.0,
                    help="minimum seconds of timed reps per measurement (default 1.0)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    # numpy's BLAS thread count is fixed at import time by the environment;
    # report what it is rather than pretend to change it.
    info = {
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python": sys.version.split()[0],
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "heads": args.heads,
        "dim": args.dim,
        "batch": args.batch,
        "warmup": args.warmup,
        "min_reps": args.min_reps,
        "min_time_s": args.min_time,
        "flop_count": "attention: 4*batch*h*N^2*d; gemm: 2*n^3",
    }

    attention = []
    for n in args.seq:
        r = bench_attention(n, args.heads, args.dim, args.batch, args)
        r["N"] = n
        attention.append(r)
        print(f"# N={n}: materialised {r['materialised']['median_ms']:.3f} ms, "
              f"sdpa {r['sdpa']['median_ms']:.3f} ms", file=sys.stderr)

    gemm = None
    if args.gemm_n > 0:
        gemm = bench_gemm(args.gemm_n, args)
        gemm["n"] = args.gemm_n

    # ---- markdown report ----
    print(f"## PyTorch CPU attention baseline\n")
    print(f"torch {info['torch_version']}, numpy {info['numpy_version']}, "
          f"CPU: {info['cpu']} ({info['cpu_count']} logical), "
          f"torch threads = {info['torch_threads']}; "
          f"batch {args.batch}, h={args.heads}, d={args.dim}; "
          f"median of >= {args.min_reps} reps / >= {args.min_time:g} s "
          f"after {args.warmup} warm-up calls. FLOPs = 4*h*N^2*d.\n")
    print("| N | materialised ms | materialised GFLOP/s | sdpa ms | sdpa GFLOP/s | P size (MiB) | max |diff| |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in attention:
        m, s = r["materialised"], r["sdpa"]
        print(f"| {r['N']} | {m['median_ms']:.3f} | {m['gflops']:.1f} | "
              f"{s['median_ms']:.3f} | {s['gflops']:.1f} | "
              f"{r['p_bytes'] / 2**20:.1f} | {r['max_abs_diff']:.1e} |")
    if gemm:
        print(f"\n| sgemm {gemm['n']}x{gemm['n']} | ms | GFLOP/s |")
        print("|---|---:|---:|")
        for name in ("torch_mm", "numpy_matmul"):
            g = gemm[name]
            print(f"| {name} | {g['median_ms']:.2f} | {g['gflops']:.1f} |")
        print(f"\n(numpy uses its own BLAS threading, set by OMP_NUM_THREADS / "
              f"OPENBLAS_NUM_THREADS in the environment, currently "
              f"{info['omp_num_threads_env'] or 'unset = all cores'}.)")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "attention": attention, "gemm": gemm}, f, indent=2)
            f.write("\n")
        print(f"\nwrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
