#!/usr/bin/env python3
"""Ablation fixtures from transformers, for attnscope's knock-outs and head-importance table.

For tiny-gpt2-induction and tiny-llama-induction, on a repeated random segment (a prompt
where copying is the only way to predict: "<24 distinct random letters><the same, cut>"),
this records the next-token log-probabilities after the last token (float32, eager):

  * clean;
  * per head (layer l, head h) alone knocked out, two ways:
      - "zero": the head's slice of the attention output before the output projection
        (GPT-2 `attn.c_proj`, Llama `self_attn.o_proj`) set to 0, by a forward pre-hook;
      - "mean": that slice replaced by its mean over the prompt's positions in the clean
        run (captured by the same hook on a clean pass);
    for the target = the token the clean model predicts (greedy), its log p and the drop;
  * one blocked edge per model: head (1, 0)'s score from the last query to the key the
    induction head attends to most set to -inf before the softmax, through a registered
    attention function (transformers' `AttentionInterface`) that is eager attention plus that
    mask; the full next-token log-probabilities of the top tokens.

The knock-outs act on what the head passes on, not on its probabilities: exactly what
attnscope's `Ablate::knock` does to the concatenated context before W_O.

Writes tests/fixtures/ablation/<model>.json:
  {"model": dir, "prompt": text, "ids": [...], "target": id, "clean_logprob": x,
   "heads": [{"layer": l, "head": h, "zero": lp, "mean": lp}],   # target's log p
   "clean_top": [[id, lp]] (top 10), "zero_1_0_top": [[id, lp]] (knock-out of head 1:0, top 10
   of the clean run's ids, their log p after), "blocked": {"layer":1,"head":0,"from":i,"to":j,
   "top": [[id, lp]]}}

    python3 tools/make_ablation_fixtures.py
"""
import json
import os
import random

import torch
from tokenizers import Tokenizer
from transformers import AttentionInterface, AutoModelForCausalLM
from transformers.integrations.sdpa_attention import repeat_kv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = {}  # {"layer": l, "head": h, "from": i, "to": j} while the blocked pass runs


def blocked_eager(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kw):
    """Eager attention (as transformers' own eager_attention_forward) with one edge at -inf."""
    key = repeat_kv(key, query.shape[1] // key.shape[1])
    value = repeat_kv(value, query.shape[1] // value.shape[1])
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask[:, :, :, : key.shape[-2]]
    else:
        n = scores.shape[-1]
        causal = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)
        scores = scores.masked_fill(causal, float("-inf"))
    if BLOCK and module.layer_idx == BLOCK["layer"]:
        scores[0, BLOCK["head"], BLOCK["from"], BLOCK["to"]] = float("-inf")
    probs = torch.softmax(scores, dim=-1)
    out = torch.matmul(probs, value).transpose(1, 2).contiguous()
    return out, probs


AttentionInterface.register("blocked_eager", blocked_eager)


def out_proj(model, layer):
    blk = model.transformer.h[layer] if hasattr(model, "transformer") else model.model.layers[layer]
    return blk.attn.c_proj if hasattr(blk, "attn") else blk.self_attn.o_proj


def logprobs(model, ids):
    with torch.no_grad():
        out = model(torch.tensor([ids]))
    return torch.log_softmax(out.logits[0, -1].double(), -1)


def main():
    out_dir = os.path.join(ROOT, "tests/fixtures/ablation")
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(11)
    seg = "".join(rng.sample("abcdefghijklmnopqrstuvwxyz", 24))  # no letter twice: one copy
    prompt = seg + seg[:15]
    for name in ["tiny-gpt2-induction", "tiny-llama-induction"]:
        d = os.path.join(ROOT, "sample_models", name)
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        ids = tok.encode(prompt).ids
        model = AutoModelForCausalLM.from_pretrained(d, attn_implementation="eager").eval()
        cfg = model.config
        layers, heads = cfg.num_hidden_layers, cfg.num_attention_heads
        dh = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
        clean = logprobs(model, ids)
        target = int(clean.argmax())
        # The clean pass's per-head means over the prompt (every position is prompt here).
        means = {}

        def grab(layer):
            def hook(_m, args):
                means[layer] = args[0][0].mean(0).clone()
            return hook

        hs = [out_proj(model, l).register_forward_pre_hook(grab(l)) for l in range(layers)]
        logprobs(model, ids)
        for h in hs:
            h.remove()

        def knocked(layer, head, mode):
            def hook(_m, args):
                x = args[0].clone()
                sl = slice(head * dh, (head + 1) * dh)
                x[..., sl] = 0.0 if mode == "zero" else means[layer][sl]
                return (x,)
            h = out_proj(model, layer).register_forward_pre_hook(hook)
            lp = logprobs(model, ids)
            h.remove()
            return lp

        rows = []
        for l in range(layers):
            for h in range(heads):
                rows.append({"layer": l, "head": h,
                             "zero": knocked(l, h, "zero")[target].item(),
                             "mean": knocked(l, h, "mean")[target].item()})
        top = torch.topk(clean, 10).indices.tolist()
        z10 = knocked(1, 0, "zero")
        # Block the induction head's strongest edge from the last query.
        with torch.no_grad():
            att = model(torch.tensor([ids]), output_attentions=True).attentions
        to = int(att[1][0, 0, -1].argmax())
        model.set_attn_implementation("blocked_eager")
        BLOCK.update({"layer": 1, "head": 0, "from": len(ids) - 1, "to": to})
        blocked = logprobs(model, ids)
        BLOCK.clear()
        model.set_attn_implementation("eager")
        assert torch.allclose(logprobs(model, ids), clean)
        fixture = {
            "model": f"sample_models/{name}", "prompt": prompt, "ids": ids, "target": target,
            "clean_logprob": clean[target].item(),
            "heads": rows,
            "clean_top": [[i, clean[i].item()] for i in top],
            "zero_1_0_top": [[i, z10[i].item()] for i in top],
            "blocked": {"layer": 1, "head": 0, "from": len(ids) - 1, "to": to,
                        "top": [[i, blocked[i].item()] for i in top]},
        }
        path = os.path.join(out_dir, f"{name}.json")
        with open(path, "w") as f:
            json.dump(fixture, f, indent=1)
        worst = max(rows, key=lambda r: clean[target].item() - r["zero"])
        print(f"{path}: target {target} ({tok.id_to_token(target)!r}) clean lp "
              f"{clean[target].item():.4f}; biggest zero drop {worst['layer']}:{worst['head']} "
              f"-> {worst['zero']:.4f}")


if __name__ == "__main__":
    main()
