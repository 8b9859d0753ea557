#!/usr/bin/env python3
"""transformers baseline: all-MiniLM-L6-v2 forward pass with attentions, on CPU.

Loads sample_models/all-MiniLM-L6-v2 (float16 safetensors, upcast to float32),
BertModel in eval mode with eager attention and output_attentions=True, under
torch.no_grad(), and times one forward pass on a batch of 1 at each sequence
length (default 128 and 512 tokens). Reports the median over repeated runs
after warm-up, and the process's peak RSS (resource.getrusage ru_maxrss).

Usage:
  python3 tools/bench_transformers.py [--threads 2] [--seq 128 512] [--json FILE]
"""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import BertConfig, BertModel  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_rss_mib():
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return r / 2**20 if sys.platform == "darwin" else r / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=os.path.join(ROOT, "sample_models", "all-MiniLM-L6-v2"))
    ap.add_argument("--seq", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--min-reps", type=int, default=10)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    rss_start = peak_rss_mib()

    t0 = time.perf_counter()
    config = BertConfig.from_pretrained(args.model)
    config._attn_implementation = "eager"
    model = BertModel(config)
    sd = {k: v.to(torch.float32) for k, v in load_file(os.path.join(args.model, "model.safetensors")).items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and all(k.endswith("position_ids") for k in missing), (missing, unexpected)
    del sd
    model.eval()
    load_s = time.perf_counter() - t0
    rss_loaded = peak_rss_mib()

    g = torch.Generator().manual_seed(0)
    results = []
    for n in args.seq:
        if n > config.max_position_embeddings:
            sys.exit(f"--seq {n} exceeds max_position_embeddings {config.max_position_embeddings}")
        ids = torch.randint(1000, config.vocab_size, (1, n), generator=g)
        ids[0, 0], ids[0, -1] = 101, 102
        mask = torch.ones_like(ids)
        tt = torch.zeros_like(ids)

        def fwd():
            out = model(input_ids=ids, attention_mask=mask, token_type_ids=tt, output_attentions=True)
            return out

        with torch.no_grad():
            for _ in range(args.warmup):
                out = fwd()
            assert len(out.attentions) == config.num_hidden_layers
            assert tuple(out.attentions[0].shape) == (1, config.num_attention_heads, n, n)
            del out
            times = []
            start = time.perf_counter()
            while len(times) < args.min_reps or time.perf_counter() - start < args.min_time:
                t = time.perf_counter()
                out = fwd()
                times.append(time.perf_counter() - t)
                del out
        results.append({
            "seq_len": n,
            "reps": len(times),
            "median_ms": statistics.median(times) * 1e3,
            "min_ms": min(times) * 1e3,
            "tokens_per_s": n / statistics.median(times),
            "peak_rss_mib_after": peak_rss_mib(),
        })

    info = {
        "model": os.path.relpath(args.model, ROOT) if args.model.startswith(ROOT) else args.model,
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "compute": "float32 (fp16 weights upcast), eval, eager attention, output_attentions=True, no_grad, batch 1",
        "load_s": load_s,
        "peak_rss_mib_before_load": rss_start,
        "peak_rss_mib_after_load": rss_loaded,
        "peak_rss_mib": peak_rss_mib(),
    }

    print("## transformers MiniLM-L6 forward (with attentions)\n")
    print(f"torch {info['torch_version']}, transformers {info['transformers_version']}, "
          f"threads = {info['torch_threads']}; {info['compute']}; median of >= {args.min_reps} reps / "
          f">= {args.min_time:g} s after {args.warmup} warm-up runs. Model load {load_s:.2f} s.\n")
    print("| tokens | median ms | min ms | tokens/s | peak RSS so far (MiB) |")
    print("|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['seq_len']} | {r['median_ms']:.2f} | {r['min_ms']:.2f} | "
              f"{r['tokens_per_s']:.0f} | {r['peak_rss_mib_after']:.0f} |")
    print(f"\nPeak RSS: {info['peak_rss_mib']:.0f} MiB (after imports {rss_start:.0f} MiB, "
          f"after model load {rss_loaded:.0f} MiB).")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "results": results}, f, indent=2)
            f.write("\n")
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
