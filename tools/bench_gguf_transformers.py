#!/usr/bin/env python3
"""transformers on the real GGUF sample models: load time, forward time with attention
probabilities returned, and peak memory, as a markdown table (the baseline for
attnscope's GGUF loader in BENCHMARKS.md; not a fixture).

Each model is measured in a fresh subprocess (so ru_maxrss is that model's own peak):
  * load: AutoModelForCausalLM.from_pretrained(folder, gguf_file=..., dtype=float32,
    attn_implementation="eager"), which dequantises every tensor to float32. "first" is the
    first load in the process (file likely in the page cache already: cold-ish), "again" a
    second load in the same process;
  * forward: model(input_ids, output_attentions=True) on N = 128 and 512 tokens (a fixed
    paragraph repeated; ids from the GGUF tokenizer, cut to N), torch.no_grad, eval, float32,
    torch.set_num_threads(2); one warm-up, then the median of 5;
  * peak RSS: resource.getrusage(RUSAGE_SELF).ru_maxrss of that subprocess at its end.

Rerun: python3 tools/bench_gguf_transformers.py   (about 5 minutes on 2 cores; models from
       tools/fetch_models.sh; a missing model is reported and skipped)
"""
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {
    "SmolLM2-135M-Instruct Q4_1": "sample_models/SmolLM2-135M-Instruct-Q4_1.gguf",
    "Gemma 3 270M Q4_K_M": "sample_models/gemma-3-270m-Q4_K_M.gguf",
}
LENGTHS = [128, 512]
REPEATS = 5
PARAGRAPH = ("Attention lets every token look at the tokens before it. For each query the model "
             "computes a score against each key and turns the scores into weights with a softmax. ")


def measure(path):
    """Runs in the subprocess; prints one JSON line."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(2)
    folder, name = os.path.split(os.path.join(ROOT, path))

    def load():
        t0 = time.perf_counter()
        m = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                 attn_implementation="eager")
        m.eval()
        return m, time.perf_counter() - t0

    model, first = load()
    del model
    model, again = load()
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    ids = tok(PARAGRAPH * 60)["input_ids"]
    fwd = {}
    with torch.no_grad():
        for n in LENGTHS:
            x = torch.tensor([ids[:n]], dtype=torch.long)
            model(input_ids=x, output_attentions=True)
            times = []
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                model(input_ids=x, output_attentions=True)
                times.append(time.perf_counter() - t0)
            fwd[n] = statistics.median(times)
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"first": first, "again": again, "fwd": fwd, "rss_mib": rss_kib / 1024,
                      "size": os.path.getsize(os.path.join(folder, name)),
                      "params": sum(p.numel() for p in model.parameters())}))


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        measure(sys.argv[2])
        return
    import torch
    import transformers
    rows = []
    for label, path in MODELS.items():
        if not os.path.exists(os.path.join(ROOT, path)):
            print(f"skip {label}: {path} is missing (run tools/fetch_models.sh)", file=sys.stderr)
            continue
        res = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", path],
                             capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(f"{label}: benchmark failed: {res.stderr.strip().splitlines()[-1:]}")
        r = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append((label, r))
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, float32, eager "
          f"attention with output_attentions=True, 2 threads; CPU: {cpu_name()} "
          f"({os.cpu_count()} cores visible)\n")
    print("| model (GGUF) | file MB | params (M) | load, first (s) | load, again (s) | "
          + " | ".join(f"forward {n} tok (ms)" for n in LENGTHS) + " | peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(LENGTHS) + "---:|")
    for label, r in rows:
        fw = " | ".join(f"{r['fwd'][str(n)] * 1000:.0f}" for n in LENGTHS)
        print(f"| {label} | {r['size'] / 1e6:.0f} | {r['params'] / 1e6:.0f} | {r['first']:.1f} | "
              f"{r['again']:.1f} | {fw} | {r['rss_mib']:.0f} |")
    print(f"\nforward: median of {REPEATS} after one warm-up; load includes dequantising every "
          "tensor to float32; peak RSS is the whole subprocess (two loads, the forwards).")


if __name__ == "__main__":
    main()
