#!/usr/bin/env python3
"""A 6-layer × 12-head GPT-2 with random weights (d = 384, MiniLM's shape as a decoder), for
benchmarks that name a "6×12 model" (the head-importance table of issue 11): written to
target/bench-models/gpt2-6x12/ with the byte-level tokenizer.json of
sample_models/tiny-gpt2-induction. Random weights are enough: the time does not depend on
them. Not committed (make it again with this script).

    python3 tools/make_bench_decoder.py
    target/release/attnscope bench --model target/bench-models/gpt2-6x12 --importance --n 128
"""
import os
import shutil

import torch
from transformers import GPT2Config, GPT2LMHeadModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    out = os.path.join(ROOT, "target/bench-models/gpt2-6x12")
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=257, n_positions=1024, n_embd=384, n_layer=6, n_head=12,
                     bos_token_id=256, eos_token_id=256)
    GPT2LMHeadModel(cfg).eval().save_pretrained(out, safe_serialization=True)
    shutil.copy(os.path.join(ROOT, "sample_models/tiny-gpt2-induction/tokenizer.json"), out)
    print(out)


if __name__ == "__main__":
    main()
