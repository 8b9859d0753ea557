#!/usr/bin/env python3
"""transformers' generate as the baseline for `attnscope bench --model M --generate 64
--n 128` (BENCHMARKS.md, "Generation"; not a fixture): greedy, 64 new tokens after a
128-token prompt of random ids, `output_attentions=True` (every step's attention kept, as
attnscope keeps it), eager attention, float32, 2 threads, EOS ignored (min_new_tokens).
Reports the time to the first new token (generate with max_new_tokens=1) and the tokens per
second after it ((t64 - t1) / 63); the median of 3 runs after a warm-up.

    python3 tools/bench_generate_transformers.py
"""
import os
import statistics
import time

import torch
from transformers import AutoModelForCausalLM
from transformers.utils import logging as hf_logging

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {
    "tiny-llama-induction": ("sample_models/tiny-llama-induction", None),
    "SmolLM2-135M-Instruct Q4_1": ("sample_models", "SmolLM2-135M-Instruct-Q4_1.gguf"),
}
N, NEW = 128, 64


def main():
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, 2 threads; greedy, output_attentions=True, prompt {N}, new {NEW}")
    print("| model | prompt + first token ms | tokens/s after the first |\n|---|---:|---:|")
    for label, (folder, gguf) in MODELS.items():
        path = os.path.join(ROOT, folder)
        if gguf and not os.path.exists(os.path.join(path, gguf)):
            print(f"| {label} | – | – (run tools/fetch_models.sh) |")
            continue
        kw = {"gguf_file": gguf} if gguf else {}
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32,
                                                     attn_implementation="eager", **kw).eval()
        g = torch.Generator().manual_seed(0)
        vocab = model.config.vocab_size
        ids = torch.randint(vocab // 4, vocab // 2, (1, N), generator=g)

        def gen(k):
            t0 = time.perf_counter()
            with torch.no_grad():
                model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                               max_new_tokens=k, min_new_tokens=k, output_attentions=True,
                               return_dict_in_generate=True,
                               pad_token_id=model.config.eos_token_id)
            return time.perf_counter() - t0

        gen(2)
        first = statistics.median(gen(1) for _ in range(3))
        full = statistics.median(gen(NEW) for _ in range(3))
        print(f"| {label} | {first * 1e3:.1f} | {(NEW - 1) / (full - first):.1f} |", flush=True)


if __name__ == "__main__":
    main()
