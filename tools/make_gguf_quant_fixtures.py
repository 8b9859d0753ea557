#!/usr/bin/env python3
"""Writes the GGUF dequantiser fixtures: tests/fixtures/gguf/quant_types.gguf holds one
small tensor per type attnscope reads (2 rows of 256 values), and quant_types.json holds
the float32 values gguf-py (llama.cpp's Python package, `gguf.quants.dequantize`)
computes for each, as hex of the little-endian bytes. `tests/gguf_quant.rs` checks that
attnscope's dequantisers give the same bits.

Block bytes are random (so every bit of every field is exercised) except the f16/f32 scale
fields, which are set to finite values so the results are finite. gguf-py has no
dequantiser for Q8_K or the integer/F64 types; their references are computed here with
numpy, following ggml's definitions (marked "numpy" in the JSON).

    pip install -r tools/requirements.txt
    python tools/make_gguf_quant_fixtures.py
"""

import json
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

ROWS, COLS = 2, 256
OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "gguf"
rng = np.random.default_rng(20261122)


def f16_bytes(n):
    """n random finite f16 scales in ±[2⁻⁸, 2), as bytes."""
    v = rng.uniform(2**-8, 2, size=n) * rng.choice([-1, 1], size=n)
    return v.astype(np.float16).view(np.uint8).reshape(n, 2)


# Byte offsets of the f16 scale fields in each block (ggml-common.h block_* structs).
F16_FIELDS = {
    T.Q4_0: [0],
    T.Q4_1: [0, 2],
    T.Q5_0: [0],
    T.Q5_1: [0, 2],
    T.Q8_0: [0],
    T.Q2_K: [80, 82],
    T.Q3_K: [108],
    T.Q4_K: [0, 2],
    T.Q5_K: [0, 2],
    T.Q6_K: [208],
}


def quant_blocks(qtype):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    n_blocks = ROWS * COLS // block
    b = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    for off in F16_FIELDS.get(qtype, []):
        b[:, off : off + 2] = f16_bytes(n_blocks)
    if qtype == T.Q8_K:
        b[:, 0:4] = rng.uniform(-0.05, 0.05, size=n_blocks).astype(np.float32).view(np.uint8).reshape(n_blocks, 4)
    return b.reshape(ROWS, -1)


def main():
    writer = gguf.GGUFWriter(str(OUT / "quant_types.gguf"), arch="attnscope-test")
    writer.add_string("attnscope.fixture", "one tensor per ggml type attnscope dequantises")
    refs = {}

    def add(name, qtype, data, ref, source):
        writer.add_tensor(name, data, raw_dtype=qtype if data.dtype == np.uint8 else None)
        ref = np.ascontiguousarray(ref, dtype=np.float32).reshape(ROWS, COLS)
        refs[name] = {"type": qtype.name, "source": source, "f32_le_hex": ref.tobytes().hex()}

    # Plain types: the data is the values.
    x = rng.standard_normal((ROWS, COLS)).astype(np.float32)
    add("f32", T.F32, x, x, "numpy")
    h = x.astype(np.float16)
    add("f16", T.F16, h, dequantize(h.view(np.uint8), T.F16), "gguf-py")
    bf = gguf.quants.quantize(x, T.BF16)
    add("bf16", T.BF16, bf, dequantize(bf, T.BF16), "gguf-py")
    for dtype, qtype in [(np.float64, T.F64), (np.int8, T.I8), (np.int16, T.I16), (np.int32, T.I32)]:
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            v = rng.integers(max(info.min, -(2**20)), min(info.max, 2**20), size=(ROWS, COLS), dtype=dtype)
        else:
            v = (rng.standard_normal((ROWS, COLS)) * 1e3).astype(dtype)
        add(qtype.name.lower(), qtype, v, v.astype(np.float32), "numpy")

    for qtype in [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]:
        b = quant_blocks(qtype)
        add(qtype.name.lower(), qtype, b, dequantize(b, qtype), "gguf-py")

    # Q8_K: x = d·q (d is the block's leading f32; gguf-py has no dequantiser for it).
    b = quant_blocks(T.Q8_K)
    blocks = b.reshape(-1, 292)
    d = blocks[:, 0:4].copy().view(np.float32)
    q = blocks[:, 4:260].view(np.int8).astype(np.float32)
    add("q8_k", T.Q8_K, b, d * q, "numpy")

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    (OUT / "quant_types.json").write_text(
        json.dumps({"gguf_py_version": gguf_version(), "rows": ROWS, "cols": COLS, "tensors": refs}, indent=1) + "\n"
    )


def gguf_version():
    from importlib.metadata import version

    return version("gguf")


if __name__ == "__main__":
    main()
