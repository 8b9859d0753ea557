#!/usr/bin/env python3
"""A BART with random weights shaped like facebook/bart-base (d = 768, 6 + 6 layers, 12 heads,
FFN 3072, vocabulary 50,265), for the encoder–decoder benchmark of issue 12: written to
target/bench-models/bart-base-shaped/ with the character tokenizer.json of
sample_models/tiny-translator (the benchmark feeds random ids; the folder only has to load).
Random weights are enough: the time does not depend on them. Not committed; idempotent.

    python3 tools/make_bench_seq2seq.py
    target/release/attnscope bench --model target/bench-models/bart-base-shaped --n 64 --generate 20
    python3 tools/bench_seq2seq_transformers.py --model target/bench-models/bart-base-shaped --n 64 --k 20
"""
import os
import shutil

import torch
from transformers import BartConfig, BartForConditionalGeneration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    out = os.path.join(ROOT, "target/bench-models/bart-base-shaped")
    if os.path.isfile(os.path.join(out, "model.safetensors")):
        print(out)
        return
    torch.manual_seed(0)
    cfg = BartConfig(vocab_size=50265, d_model=768, encoder_layers=6, decoder_layers=6,
                     encoder_attention_heads=12, decoder_attention_heads=12,
                     encoder_ffn_dim=3072, decoder_ffn_dim=3072, max_position_embeddings=1024,
                     activation_function="gelu", scale_embedding=False, dropout=0.0,
                     attention_dropout=0.0, activation_dropout=0.0, bos_token_id=0,
                     pad_token_id=1, eos_token_id=2, decoder_start_token_id=2,
                     forced_eos_token_id=None)
    BartForConditionalGeneration(cfg).eval().save_pretrained(out, safe_serialization=True)
    shutil.copy(os.path.join(ROOT, "sample_models/tiny-translator/tokenizer.json"), out)
    print(out)


if __name__ == "__main__":
    main()
