#!/usr/bin/env python3
"""transformers on SmolLM2-135M (the GGUF sample, dequantised to float32) at long inputs:
what returning every attention costs there, as the baseline for attnscope's long runs
(BENCHMARKS.md, "Long inputs"; not a fixture).

Each (N, mode) runs in a fresh subprocess with its address space capped at 20 GiB
(RLIMIT_AS), so a run that would need more fails with MemoryError instead of taking the
machine down:
  * "eager + attentions": attn_implementation="eager", model(ids, output_attentions=True),
    which returns 30 layers x 9 heads x N x N float32 probabilities;
  * "sdpa, no attentions": the default fused path, model(ids), attentions not returned
    (a lower bound on forward time: attnscope computes and digests every head).
One forward after one warm-up at N = 128 (torch.set_num_threads(2), no_grad, eval);
peak RSS is ru_maxrss of the subprocess.

Rerun: python3 tools/bench_long_transformers.py [N ...]   (default 2048 4096 8192;
       model from tools/fetch_models.sh)
"""
import json
import os
import platform
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GGUF = "sample_models/SmolLM2-135M-Instruct-Q4_1.gguf"
TEXT = "/usr/share/common-licenses/GPL-3"
CAP = 20 << 30


def measure(n, mode):
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(2)
    folder, name = os.path.split(os.path.join(ROOT, GGUF))
    impl = "eager" if mode == "eager" else "sdpa"
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                 attn_implementation=impl).eval()
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    text = open(TEXT).read() if os.path.exists(TEXT) else "attention " * n
    ids = tok(text * (1 + n // 4000), return_tensors="pt").input_ids[:, :n]
    out = {"n": ids.shape[1], "mode": mode}
    try:
        with torch.no_grad():
            model(ids[:, :128], output_attentions=(mode == "eager"))
            t0 = time.perf_counter()
            r = model(ids, output_attentions=(mode == "eager"))
            out["ms"] = (time.perf_counter() - t0) * 1e3
            if mode == "eager":
                out["attention_gib"] = sum(a.numel() for a in r.attentions) * 4 / 2**30
    except (MemoryError, RuntimeError) as e:
        out["error"] = str(e).splitlines()[0][:120]
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        measure(int(sys.argv[2]), sys.argv[3])
        return
    ns = [int(a) for a in sys.argv[1:]] or [2048, 4096, 8192]
    if not os.path.exists(os.path.join(ROOT, GGUF)):
        sys.exit(f"{GGUF} is missing: run tools/fetch_models.sh")
    import torch
    import transformers
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, 2 threads")
    print("| N | transformers mode | forward ms | attentions returned GiB | peak RSS MiB | note |")
    print("|---:|---|---:|---:|---:|---|")
    for n in ns:
        for mode in ["eager", "sdpa"]:
            p = subprocess.run([sys.executable, __file__, "--one", str(n), mode],
                               capture_output=True, text=True)
            lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
            if not lines:
                err = (p.stderr.strip().splitlines() or ["killed"])[-1][:100]
                print(f"| {n} | {mode} | – | – | – | failed: {err} |")
                continue
            r = json.loads(lines[-1])
            label = "eager + attentions" if mode == "eager" else "sdpa, no attentions"
            ms = f"{r['ms']:.0f}" if "ms" in r else "–"
            gib = f"{r['attention_gib']:.1f}" if "attention_gib" in r else "–"
            note = f"failed: {r['error']}" if "error" in r else ""
            print(f"| {r['n']} | {label} | {ms} | {gib} | {r['peak_rss_mib']:.0f} | {note} |",
                  flush=True)


if __name__ == "__main__":
    main()
