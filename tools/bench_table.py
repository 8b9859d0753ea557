#!/usr/bin/env python3
"""Combines the JSON files of tools/bench_compare.sh into the tables of BENCHMARKS.md.

Usage: python3 tools/bench_table.py DIR   (DIR holds ours_attention.json, torch_attention.json,
ours_minilm.json, transformers_minilm.json)
"""
import json
import os
import sys


def load(d, name):
    with open(os.path.join(d, name)) as f:
        return json.load(f)


def main():
    d = sys.argv[1]
    ours = load(d, "ours_attention.json")
    torch = load(d, "torch_attention.json")
    best = {}
    for r in ours:
        if r["path"].startswith("attnscope ") and r["path"] != "attnscope scalar":
            if r["n"] not in best or r["ms"] < best[r["n"]]["ms"]:
                best[r["n"]] = r
    sgemm = max(torch["gemm"]["torch_mm"]["gflops"], torch["gemm"]["numpy_matmul"]["gflops"])
    info = torch["info"]
    print(f"Materialised attention softmax(QKᵀ/√d)·V keeping P, h={info['heads']}, d={info['dim']}, "
          f"{info['torch_threads']} threads, torch {info['torch_version']}.\n")
    print("| N | attnscope ms | GFLOP/s | PyTorch materialised ms | speed-up | PyTorch SDPA ms (no P) | % of sgemm |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for t in torch["attention"]:
        n = t["N"]
        o = best.get(n)
        if not o:
            continue
        m, s = t["materialised"], t["sdpa"]
        print(f"| {n} | {o['ms']:.3f} ({o['path'].split()[1]}) | {o['gflops']:.1f} | {m['median_ms']:.3f} | "
              f"{m['median_ms'] / o['ms']:.2f}× | {s['median_ms']:.3f} | {100 * o['gflops'] / sgemm:.0f}% |")
    g = torch["gemm"]
    print(f"\nMachine sgemm ({g['n']}×{g['n']}): torch.mm {g['torch_mm']['gflops']:.1f} GFLOP/s, "
          f"numpy {g['numpy_matmul']['gflops']:.1f} GFLOP/s (the larger is the reference above).\n")
    print("| path | N | ms | GFLOP/s |\n|---|---:|---:|---:|")
    for r in ours:
        print(f"| {r['path']} | {r['n']} | {r['ms']:.3f} | {r['gflops']:.1f} |")
    om = load(d, "ours_minilm.json")
    tm = load(d, "transformers_minilm.json")
    tr = {r["seq_len"]: r for r in tm["results"]}
    print("\nall-MiniLM-L6-v2 forward, every attention captured (transformers: output_attentions=True).\n")
    print("| tokens | attnscope ms | transformers ms | speed-up | attnscope RSS MiB (model + result held) | transformers peak RSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in om:
        t = tr.get(r["n"])
        if not t:
            continue
        print(f"| {r['n']} | {r['ms']:.1f} | {t['median_ms']:.1f} | {t['median_ms'] / r['ms']:.2f}× | "
              f"{r['rss_mib']:.0f} | {t.get('peak_rss_mib_after', float('nan')):.0f} |")


if __name__ == "__main__":
    main()
