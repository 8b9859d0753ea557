#!/usr/bin/env python3
"""Writes the model_files seeds: config.json text, a NUL byte, then a tiny safetensors file
(hand-encoded: 8-byte little-endian header length, JSON header, f32 data). No numpy needed.
Run from fuzz/: python3 seeds/gen_model_seeds.py"""
import json, struct

def safetensors(tensors):
    header, data = {}, b""
    for name, shape in tensors:
        n = 1
        for s in shape:
            n *= s
        raw = b"".join(struct.pack("<f", ((i * 37 % 11) - 5) / 10.0) for i in range(n))
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data

def gpt2(d=4, heads=2, layers=1, pos=4, vocab=5):
    cfg = {"model_type": "gpt2", "n_embd": d, "n_head": heads, "n_layer": layers,
           "n_positions": pos, "vocab_size": vocab}
    t = [("wte.weight", [vocab, d]), ("wpe.weight", [pos, d]), ("ln_f.weight", [d]), ("ln_f.bias", [d])]
    for l in range(layers):
        p = f"h.{l}."
        t += [(p + "ln_1.weight", [d]), (p + "ln_1.bias", [d]),
              (p + "attn.c_attn.weight", [d, 3 * d]), (p + "attn.c_attn.bias", [3 * d]),
              (p + "attn.c_proj.weight", [d, d]), (p + "attn.c_proj.bias", [d]),
              (p + "ln_2.weight", [d]), (p + "ln_2.bias", [d]),
              (p + "mlp.c_fc.weight", [d, 4 * d]), (p + "mlp.c_fc.bias", [4 * d]),
              (p + "mlp.c_proj.weight", [4 * d, d]), (p + "mlp.c_proj.bias", [d])]
    return cfg, t

def bert(d=4, heads=2, layers=1, pos=4, vocab=5, ff=8):
    cfg = {"model_type": "bert", "hidden_size": d, "num_attention_heads": heads,
           "num_hidden_layers": layers, "max_position_embeddings": pos, "vocab_size": vocab,
           "intermediate_size": ff}
    e = "embeddings."
    t = [(e + "word_embeddings.weight", [vocab, d]), (e + "position_embeddings.weight", [pos, d]),
         (e + "token_type_embeddings.weight", [2, d]), (e + "LayerNorm.weight", [d]),
         (e + "LayerNorm.bias", [d])]
    for l in range(layers):
        p = f"encoder.layer.{l}."
        for lin, (i, o) in {"attention.self.query": (d, d), "attention.self.key": (d, d),
                            "attention.self.value": (d, d), "attention.output.dense": (d, d),
                            "intermediate.dense": (d, ff), "output.dense": (ff, d)}.items():
            t += [(p + lin + ".weight", [o, i]), (p + lin + ".bias", [o])]
        for ln in ["attention.output.LayerNorm", "output.LayerNorm"]:
            t += [(p + ln + ".weight", [d]), (p + ln + ".bias", [d])]
    return cfg, t

for name, (cfg, t) in {"gpt2_tiny": gpt2(), "bert_tiny": bert()}.items():
    with open(f"seeds/model_files/{name}", "wb") as f:
        f.write(json.dumps(cfg).encode() + b"\0" + safetensors(t))
