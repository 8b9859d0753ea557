#!/usr/bin/env python3
"""Writes the seq2seq_files seeds: a tiny bart and a tiny marian config.json, a NUL byte, then
a safetensors file with every key the two stacks read (hand-encoded, see gen_model_seeds.py).
No numpy needed. Run from fuzz/: python3 seeds/gen_seq2seq_seeds.py"""
import json, os, sys

sys.path.insert(0, os.path.dirname(__file__))
from gen_model_seeds import safetensors  # noqa: E402


def seq2seq(kind, d=4, heads=2, layers=1, pos=4, vocab=5, ff=8):
    bart = kind == "bart"
    cfg = {"model_type": kind, "d_model": d, "encoder_layers": layers, "decoder_layers": layers,
           "encoder_attention_heads": heads, "decoder_attention_heads": heads,
           "encoder_ffn_dim": ff, "decoder_ffn_dim": ff, "max_position_embeddings": pos,
           "vocab_size": vocab, "activation_function": "gelu" if bart else "swish",
           "scale_embedding": not bart, "pad_token_id": 1, "eos_token_id": 2,
           "decoder_start_token_id": 2 if bart else 1}
    t = [("model.shared.weight", [vocab, d]), ("final_logits_bias", [1, vocab])]
    for stack in ("encoder", "decoder"):
        m = f"model.{stack}."
        if bart:
            t += [(m + "embed_positions.weight", [pos + 2, d]),
                  (m + "layernorm_embedding.weight", [d]), (m + "layernorm_embedding.bias", [d])]
        for l in range(layers):
            p = f"{m}layers.{l}."
            atts = ["self_attn"] + (["encoder_attn"] if stack == "decoder" else [])
            for a in atts:
                for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                    t += [(f"{p}{a}.{proj}.weight", [d, d]), (f"{p}{a}.{proj}.bias", [d])]
                t += [(f"{p}{a}_layer_norm.weight", [d]), (f"{p}{a}_layer_norm.bias", [d])]
            t += [(p + "fc1.weight", [ff, d]), (p + "fc1.bias", [ff]),
                  (p + "fc2.weight", [d, ff]), (p + "fc2.bias", [d]),
                  (p + "final_layer_norm.weight", [d]), (p + "final_layer_norm.bias", [d])]
    return cfg, t


os.makedirs("seeds/seq2seq_files", exist_ok=True)
for kind in ("bart", "marian"):
    cfg, t = seq2seq(kind)
    with open(f"seeds/seq2seq_files/{kind}", "wb") as f:
        f.write(json.dumps(cfg).encode() + b"\0" + safetensors(t))
print("wrote seeds/seq2seq_files/{bart,marian}")
