#!/usr/bin/env python3
"""transformers baseline for a SmolLM2-135M-shaped Llama: forward with every attention.

Makes (once) a random-weight model with SmolLM2-135M's published shape — 30 layers,
d = 576, 9 query heads over 3 KV heads, head_dim 64, SwiGLU 1536, RoPE θ = 100000, tied
embeddings — by letting transformers instantiate LlamaForCausalLM from that config and
save it (float32 safetensors) into --dir, with the tiny GPT-2's byte-level tokenizer.json so
attnscope can open it. Random weights time the same as trained ones.

Then times LlamaModel (eager attention, output_attentions=True, no_grad, batch 1) at each
sequence length, and prints a table and the process's peak RSS. attnscope's side is
`attnscope bench --model DIR --n 128,512,2048` (tools/bench_compare.sh runs both).

Usage:
  python3 tools/bench_llama.py [--dir target/bench-models/smollm2-135m-shaped]
                               [--threads 2] [--seq 128 512 2048] [--json FILE]
"""
import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM, LlamaModel  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SMOLLM2_135M = dict(
    vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
    num_attention_heads=9, num_key_value_heads=3, head_dim=64, hidden_act="silu",
    max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=100000.0,
    tie_word_embeddings=True, attention_bias=False, mlp_bias=False,
    bos_token_id=0, eos_token_id=0,
)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_model(path):
    if os.path.isfile(os.path.join(path, "model.safetensors")):
        return
    os.makedirs(path, exist_ok=True)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**SMOLLM2_135M))
    model.save_pretrained(path, safe_serialization=True)
    shutil.copy(os.path.join(ROOT, "sample_models", "tiny-gpt2-induction", "tokenizer.json"),
                os.path.join(path, "tokenizer.json"))
    print(f"wrote {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default=os.path.join(ROOT, "target", "bench-models", "smollm2-135m-shaped"))
    ap.add_argument("--seq", type=int, nargs="+", default=[128, 512, 2048])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--min-reps", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    make_model(args.dir)
    torch.set_num_threads(args.threads)
    rss_start = peak_rss_mib()
    t0 = time.perf_counter()
    config = LlamaConfig.from_pretrained(args.dir)
    config._attn_implementation = "eager"
    model = LlamaModel.from_pretrained(args.dir, config=config, torch_dtype=torch.float32)
    model.eval()
    load_s = time.perf_counter() - t0
    g = torch.Generator().manual_seed(0)
    results = []
    for n in args.seq:
        ids = torch.randint(0, config.vocab_size, (1, n), generator=g)
        with torch.no_grad():
            for _ in range(args.warmup):
                out = model(input_ids=ids, output_attentions=True)
            assert len(out.attentions) == config.num_hidden_layers
            del out
            times = []
            start = time.perf_counter()
            while len(times) < args.min_reps or time.perf_counter() - start < args.min_time:
                t = time.perf_counter()
                out = model(input_ids=ids, output_attentions=True)
                times.append(time.perf_counter() - t)
                del out
        results.append({"seq_len": n, "reps": len(times), "median_ms": statistics.median(times) * 1e3,
                        "min_ms": min(times) * 1e3, "peak_rss_mib_after": peak_rss_mib()})
    info = {"torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version(), "threads": torch.get_num_threads(),
            "load_s": load_s, "peak_rss_mib_before_load": rss_start, "peak_rss_mib": peak_rss_mib()}
    print(f"## transformers LlamaModel, SmolLM2-135M shape, eager + output_attentions\n")
    print(f"torch {info['torch']}, transformers {info['transformers']}, threads {info['threads']}; "
          f"load {load_s:.2f} s\n")
    print("| tokens | median ms | min ms | peak RSS so far (MiB) |")
    print("|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['seq_len']} | {r['median_ms']:.1f} | {r['min_ms']:.1f} | {r['peak_rss_mib_after']:.0f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
