#!/usr/bin/env python3
"""Pooled-overview fixtures: transformers' attention of all-MiniLM-L6-v2 on the 512-token
text of tests/fixtures/models/all-MiniLM-L6-v2__long512.json, max-pooled in NumPy to at most
256 x 256 per head, for three heads.

Bins (what src/core/pool.rs must match): row i of n_q goes to bin floor(i * r / n_q) with
r = min(n_q, 256); column j of n_k to floor(j * c / n_k) with c = min(n_k, 256); a bin's
value is the maximum of its cells.

Writes tests/fixtures/models/all-MiniLM-L6-v2__long512_pooled.npy, float32
[3, 256, 256] for (layer, head) in HEADS, in that order.

    python3 tools/make_pool_fixtures.py
"""
import json
import os

import numpy as np
import torch
from transformers import BertModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADS = [(0, 0), (3, 5), (5, 11)]
SIDE = 256


def max_pool(m, side=SIDE):
    n_q, n_k = m.shape
    r, c = min(n_q, side), min(n_k, side)
    rows = np.arange(n_q) * r // n_q
    cols = np.arange(n_k) * c // n_k
    out = np.full((r, c), -np.inf, dtype=np.float32)
    np.maximum.at(out, (rows[:, None], cols[None, :]), m.astype(np.float32))
    return out


def main():
    fx = json.load(open(os.path.join(ROOT, "tests/fixtures/models/all-MiniLM-L6-v2__long512.json")))
    model = BertModel.from_pretrained(
        os.path.join(ROOT, "sample_models/all-MiniLM-L6-v2"),
        torch_dtype=torch.float32,
        attn_implementation="eager",
    ).eval()
    ids = torch.tensor([fx["ids"]])
    with torch.no_grad():
        out = model(input_ids=ids, token_type_ids=torch.zeros_like(ids), output_attentions=True)
    pooled = np.stack([max_pool(out.attentions[l][0, h].numpy()) for (l, h) in HEADS])
    path = os.path.join(ROOT, "tests/fixtures/models/all-MiniLM-L6-v2__long512_pooled.npy")
    np.save(path, pooled)
    print(f"wrote {path}: {pooled.shape}, heads {HEADS}")


if __name__ == "__main__":
    main()
