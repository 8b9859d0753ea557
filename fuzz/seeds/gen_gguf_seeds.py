#!/usr/bin/env python3
"""Writes the gguf seeds with gguf-py (llama.cpp's writer): tiny valid GGUF files, one with
metadata of many types and plain tensors, one with a row of each quantised type attnscope
reads and one it does not. (tests/fixtures/gguf is also used as a seed folder.)
Run from fuzz/: python3 seeds/gen_gguf_seeds.py"""
import os

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T

os.makedirs("seeds/gguf", exist_ok=True)
rng = np.random.default_rng(7)

w = gguf.GGUFWriter("seeds/gguf/plain.gguf", arch="llama")
w.add_uint32("llama.block_count", 1)
w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
w.add_bool("general.flag", True)
w.add_int64("general.i64", -3)
w.add_float64("general.f64", 0.5)
w.add_array("tokenizer.ggml.tokens", ["<s>", "a", "b"])
w.add_array("tokenizer.ggml.scores", [0.0, -1.0, -2.0])
w.add_array("tokenizer.ggml.token_type", [3, 1, 1])
w.add_tensor("token_embd.weight", rng.standard_normal((3, 4)).astype(np.float32))
w.add_tensor("output_norm.weight", np.ones(4, dtype=np.float16))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

w = gguf.GGUFWriter("seeds/gguf/quants.gguf", arch="llama")
w.add_custom_alignment(64)
for qt in [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K, T.Q8_K, T.IQ4_NL]:
    block, size = gguf.GGML_QUANT_SIZES[qt]
    b = rng.integers(0, 256, size=(1, size), dtype=np.uint8)
    w.add_tensor(qt.name.lower(), b, raw_dtype=qt)
w.add_tensor("bf16", rng.integers(0, 2**15, size=(2, 2), dtype=np.uint16).view(np.uint8), raw_dtype=T.BF16)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
