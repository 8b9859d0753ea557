#!/usr/bin/env python3
"""Reference attention fixtures for attnscope's model loaders, from transformers.

For each sample model and each input text this writes
tests/fixtures/models/<model>__<case>.json:

  {"model": "sample_models/<dir>", "case": ..., "text": ...,
   "ids": [...], "tokens": [...], "num_layers": L, "num_heads": H, "seq_len": N,
   "rows": null | [row indices],            # null = every row is stored
   "attentions": [layer][head][row][col],   # softmax probabilities
   "last_hidden_state": [N][hidden],        # short cases only
   ...}

Numbers are rounded to 7 significant digits.

How the reference is computed (what a Rust loader must match):
  * tokenization with the `tokenizers` library on the model's shipped
    tokenizer.json (MiniLM: its post-processor adds [CLS] ... [SEP];
    tiny GPT-2: raw UTF-8 bytes, nothing added); no padding, batch of 1;
  * weights read from model.safetensors and upcast to float32 (MiniLM is
    stored as float16: each value is converted fp16 -> f32 exactly);
  * float32 compute, eval mode (no dropout), "eager" attention so that the
    probabilities are returned (output_attentions=True);
  * MiniLM: BertModel, token_type_ids all 0, attention_mask all 1;
    last_hidden_state is the encoder output (before the pooler);
  * tiny GPT-2: GPT2LMHeadModel, causal; last_hidden_state is after ln_f.
  * tiny Llama: LlamaForCausalLM (RMSNorm, RoPE, SwiGLU, grouped-query
    attention: the attentions are per query head), causal, same byte
    tokenizer as the tiny GPT-2; last_hidden_state is after the final
    RMSNorm (model.norm).

Tiny random-weight decoders (--tiny): for llama, qwen2, qwen3, mistral and gemma3_text
this script also *creates* the model, because no hub download is possible offline and
because a tiny model exercises every code path of the family in a few hundred kB:
transformers instantiates `XxxForCausalLM(config)` under a fixed seed, the weights are
redrawn at a scale that gives peaked (not uniform) attention, norm weights are perturbed
(so Gemma's 1 + w and every RMSNorm weight matter), and the model is saved with
`save_pretrained(safe_serialization=True)` to tests/fixtures/models/<family>-tiny/ next to
the byte-level tokenizer.json of sample_models/tiny-gpt2-induction (ids < 257). The
reference is then computed by a fresh `from_pretrained` of that folder (float32, eager,
output_attentions=True); last_hidden_state is after the final norm (`model.norm`).

Usage:
  python3 tools/make_model_fixtures.py [--out tests/fixtures/models]
                                      [--only-tiny | --only tiny-llama-induction]
"""
import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ENGLISH = "The quick brown fox jumps over the lazy dog, and the dog does not seem to mind."
CHINESE = "我爱北京天安门。今天天气很好！"
PUNCT = "Wait... what?! (Yes) -- \"quoted\"; a/b @#$% 3.14!!!"
# A 40-character random string written twice: the induction pattern for the GPT-2
# (its heads 1.0 and 1.3 attend from each byte of the 2nd copy to the byte after its 1st occurrence).
REPEAT = "N1B7O259OWOO3SB09GLSHV616MTS@56Z@C4PZ0LX" * 2

LONG_SOURCE = (
    "Attention lets every position of a sequence look at every other position. "
    "For each query the model computes a score against each key, scales it by the "
    "square root of the head dimension, and turns the scores into probabilities "
    "with a softmax. The output is the probability-weighted sum of the values. "
    "Some heads attend to the previous token, some to the first token, and some, "
    "called induction heads, look for an earlier occurrence of the current token "
    "and copy what came after it. Because the probability matrix grows with the "
    "square of the sequence length, long inputs are expensive: a sequence of 512 "
    "tokens already needs a quarter of a million scores per head. "
)


def r7(x):
    """Round floats (nested lists) to 7 significant digits."""
    if isinstance(x, list):
        return [r7(v) for v in x]
    v = float(f"{x:.7g}")
    return 0.0 if v == 0 else v


def text_with_n_tokens(tok, source, n_content, add_special):
    """Cut a (repeated) source text so it encodes to exactly n_content content tokens."""
    text = source
    while len(tok.encode(text, add_special_tokens=False).ids) < n_content + 10:
        text += source
    enc = tok.encode(text, add_special_tokens=False)
    end = enc.offsets[n_content - 1][1]
    cut = text[:end]
    got = len(tok.encode(cut, add_special_tokens=add_special).ids)
    return cut, got


# ---------------------------------------------------------------- models

def load_minilm(model_dir):
    config = BertConfig.from_pretrained(model_dir)
    config._attn_implementation = "eager"
    model = BertModel(config, add_pooling_layer=True)
    sd = load_file(os.path.join(model_dir, "model.safetensors"))
    dtypes = sorted({str(t.dtype) for t in sd.values()})
    sd = {k: v.to(torch.float32) for k, v in sd.items()}  # fp16 -> f32, exact
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        sys.exit(f"MiniLM state dict mismatch: missing {missing}, unexpected {unexpected}")
    model.eval()
    return model, dtypes


def load_gpt2(model_dir):
    config = GPT2Config.from_pretrained(model_dir)
    config._attn_implementation = "eager"
    model = GPT2LMHeadModel(config)
    sd = load_file(os.path.join(model_dir, "model.safetensors"))
    dtypes = sorted({str(t.dtype) for t in sd.values()})
    sd = {k: v.to(torch.float32) for k, v in sd.items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to transformer.wte.weight
    if missing or unexpected:
        sys.exit(f"GPT-2 state dict mismatch: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    assert torch.equal(model.lm_head.weight, model.transformer.wte.weight)
    model.eval()
    return model, dtypes


def load_llama(model_dir):
    config = LlamaConfig.from_pretrained(model_dir)
    config._attn_implementation = "eager"
    model = LlamaForCausalLM(config)
    sd = load_file(os.path.join(model_dir, "model.safetensors"))
    dtypes = sorted({str(t.dtype) for t in sd.values()})
    sd = {k: v.to(torch.float32) for k, v in sd.items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to model.embed_tokens.weight
    if missing or unexpected:
        sys.exit(f"Llama state dict mismatch: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    assert torch.equal(model.lm_head.weight, model.model.embed_tokens.weight)
    model.eval()
    return model, dtypes


@torch.no_grad()
def run(kind, model, ids):
    x = torch.tensor([ids], dtype=torch.long)
    if kind == "bert":
        out = model(input_ids=x, attention_mask=torch.ones_like(x),
                    token_type_ids=torch.zeros_like(x), output_attentions=True)
        hidden = out.last_hidden_state[0]
    elif kind == "llama":
        out = model.model(input_ids=x, output_attentions=True)  # LlamaModel: ends with model.norm
        hidden = out.last_hidden_state[0]
    else:
        out = model.transformer(input_ids=x, output_attentions=True)
        hidden = out.last_hidden_state[0]
    att = torch.stack([a[0] for a in out.attentions])  # [L, H, N, N]
    return att, hidden


# ---------------------------------------------------------------- tiny decoders

# A text longer than every tiny model's sliding window (16 for mistral, 8 for gemma3).
LONG_TINY = LONG_SOURCE[:200]
TINY_LONG_ROWS = [0, 1, 7, 8, 9, 15, 16, 17, 100, 199]

TINY_COMMON = dict(vocab_size=257, hidden_size=32, intermediate_size=64,
                   num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                   max_position_embeddings=512, rms_norm_eps=1e-6,
                   bos_token_id=256, eos_token_id=256, pad_token_id=None)

TINY = [
    # llama: explicit head_dim (16 != 32/4), Llama 3 rope scaling with a short original
    # context so that scaled, smoothed and untouched frequencies all occur, separate LM head.
    ("llama", dict(head_dim=16, tie_word_embeddings=False,
                   rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                    "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                    "original_max_position_embeddings": 64})),
    # qwen2: q/k/v biases, tied LM head, a large θ.
    ("qwen2", dict(tie_word_embeddings=True,
                   rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})),
    # qwen3: per-head q/k RMSNorm, one KV head for four query heads, explicit head_dim.
    ("qwen3", dict(num_key_value_heads=1, head_dim=16, tie_word_embeddings=True)),
    # mistral: a sliding window of 16, shorter than every input.
    ("mistral", dict(sliding_window=16, tie_word_embeddings=False)),
    # gemma3_text: local (window 8, θ 10 000) and global (θ 1 000 000) layers, q/k norm,
    # query_pre_attn_scalar ≠ head_dim, √d embedding scale, GeGLU, four norms per block.
    ("gemma3_text", dict(num_hidden_layers=3, head_dim=16, query_pre_attn_scalar=24,
                         sliding_window=8,
                         layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                         rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
                                          "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}})),
]


def make_tiny(model_type, extra, out_dir):
    """Instantiates, re-draws and saves one tiny model; returns the folder."""
    from transformers import AutoConfig
    import shutil
    kw = dict(TINY_COMMON)
    kw.update(extra)
    config = AutoConfig.for_model(model_type, **kw)
    torch.manual_seed(1234)
    model = AutoModelForCausalLM.from_config(config)
    g = torch.Generator().manual_seed(5678)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if "norm" in name:
                base = 0.0 if model_type.startswith("gemma") else 1.0
                p.copy_(base + 0.2 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:  # biases
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            elif "embed" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * (1.6 / p.shape[1] ** 0.5))
    model.tie_weights()
    folder = os.path.join(out_dir, f"{model_type.split('_')[0]}-tiny")
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    for junk in ("generation_config.json",):
        if os.path.exists(os.path.join(folder, junk)):
            os.remove(os.path.join(folder, junk))
    shutil.copy(os.path.join(ROOT, "sample_models", "tiny-gpt2-induction", "tokenizer.json"),
                os.path.join(folder, "tokenizer.json"))
    return folder


def tiny_fixtures(out_dir):
    """Creates the tiny models and writes their fixtures; returns summary rows."""
    rows = []
    for model_type, extra in TINY:
        folder = make_tiny(model_type, extra, out_dir)
        rel_dir = os.path.relpath(folder, ROOT)
        model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager",
                                                     dtype=torch.float32)
        model.eval()
        tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        name = os.path.basename(folder)
        L, H = model.config.num_hidden_layers, model.config.num_attention_heads
        for case, text in [("english", ENGLISH), ("chinese", CHINESE), ("punct", PUNCT),
                           ("long", LONG_TINY)]:
            ids = tok.encode(text, add_special_tokens=False).ids
            x = torch.tensor([ids], dtype=torch.long)
            with torch.no_grad():
                out = model.model(input_ids=x, output_attentions=True)
            att = torch.stack([a[0] for a in out.attentions])
            hidden = out.last_hidden_state[0]
            rows_sel = TINY_LONG_ROWS if case == "long" else None
            sel = att[:, :, rows_sel, :] if rows_sel is not None else att
            fixture = {
                "model": rel_dir, "case": case, "text": text, "ids": ids,
                "tokens": tok.encode(text, add_special_tokens=False).tokens,
                "num_layers": L, "num_heads": H, "seq_len": len(ids), "rows": rows_sel,
                "attentions": r7(sel.tolist()),
                "last_hidden_state": r7(hidden.tolist()),
                "reference": {
                    "generator": "tools/make_model_fixtures.py --only-tiny",
                    "transformers": transformers.__version__, "torch": torch.__version__,
                    "weights_dtype": ["torch.float32"],
                    "compute": "float32, eval, eager attention (from_pretrained of the saved folder)",
                    "inputs": "raw byte tokens, causal, nothing added",
                    "last_hidden_state": "after the final norm (model.norm)",
                    "rounding": "7 significant digits",
                },
            }
            path = os.path.join(out_dir, f"{name}__{case}.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(fixture, f, ensure_ascii=False, separators=(",", ":"))
                f.write("\n")
            rows.append((name, case, len(ids), os.path.getsize(path),
                         (att.sum(-1) - 1).abs().max().item(), hidden.abs().max().item(),
                         att.max(-1).values.mean().item()))
        del model
    return rows


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "models"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only-tiny", action="store_true",
                    help="only (re)create the tiny random-weight decoders and their fixtures")
    ap.add_argument("--only", action="append", metavar="MODEL",
                    help="write only this sample model's fixtures (repeatable; default: all)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)

    if not args.only:
        tiny = tiny_fixtures(args.out)
        print("| tiny model | case | tokens | bytes | max |row sum - 1| | max |hidden| | mean row max p |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for name, case, n, size, rs, hm, pk in tiny:
            print(f"| {name} | {case} | {n} | {size:,} | {rs:.1e} | {hm:.2f} | {pk:.3f} |")
    if args.only_tiny:
        return

    specs = [
        {
            "name": "all-MiniLM-L6-v2", "kind": "bert", "add_special": True,
            "long_tokens": 512, "long_rows": [0, 1, 2, 255, 510, 511],
            "cases": [("english", ENGLISH), ("chinese", CHINESE), ("punct", PUNCT)],
        },
        {
            "name": "tiny-gpt2-induction", "kind": "gpt2", "add_special": False,
            "long_tokens": 256, "long_rows": [0, 1, 2, 127, 254, 255],
            "cases": [("english", ENGLISH), ("chinese", CHINESE), ("punct", PUNCT),
                      ("repeat", REPEAT)],
        },
        # tiny-llama-induction: same byte tokenizer and the same cases as the tiny GPT-2.
        {
            "name": "tiny-llama-induction", "kind": "llama", "add_special": False,
            "long_tokens": 256, "long_rows": [0, 1, 2, 127, 254, 255],
            "cases": [("english", ENGLISH), ("chinese", CHINESE), ("punct", PUNCT),
                      ("repeat", REPEAT)],
        },
    ]
    only = set(args.only or [])
    unknown = only - {s["name"] for s in specs}
    if unknown:
        sys.exit(f"unknown --only model(s): {sorted(unknown)}")
    if only:
        specs = [s for s in specs if s["name"] in only]

    summary = []
    total = 0
    for spec in specs:
        rel_dir = f"sample_models/{spec['name']}"
        model_dir = os.path.join(ROOT, rel_dir)
        tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        if spec["kind"] == "bert":
            model, dtypes = load_minilm(model_dir)
            L, H = model.config.num_hidden_layers, model.config.num_attention_heads
        elif spec["kind"] == "llama":
            model, dtypes = load_llama(model_dir)
            L, H = model.config.num_hidden_layers, model.config.num_attention_heads
        else:
            model, dtypes = load_gpt2(model_dir)
            L, H = model.config.n_layer, model.config.n_head

        n_special = len(tok.encode("x", add_special_tokens=spec["add_special"]).ids) - \
            len(tok.encode("x", add_special_tokens=False).ids)
        long_text, got = text_with_n_tokens(
            tok, LONG_SOURCE, spec["long_tokens"] - n_special, spec["add_special"])
        assert got == spec["long_tokens"], (spec["name"], got)
        cases = spec["cases"] + [(f"long{spec['long_tokens']}", long_text)]

        for case, text in cases:
            enc = tok.encode(text, add_special_tokens=spec["add_special"])
            ids, tokens = enc.ids, enc.tokens
            n = len(ids)
            att, hidden = run(spec["kind"], model, ids)
            is_long = case.startswith("long")
            rows = spec["long_rows"] if is_long else None
            sel = att[:, :, rows, :] if rows is not None else att
            row_sums = att.sum(-1)
            fixture = {
                "model": rel_dir,
                "case": case,
                "text": text,
                "ids": ids,
                "tokens": tokens,
                "num_layers": L,
                "num_heads": H,
                "seq_len": n,
                "rows": rows,
                "attentions": r7(sel.tolist()),
            }
            if not is_long:
                fixture["last_hidden_state"] = r7(hidden.tolist())
            fixture["reference"] = {
                "generator": "tools/make_model_fixtures.py",
                "transformers": transformers.__version__,
                "torch": torch.__version__,
                "weights_dtype": dtypes,
                "compute": "float32 (weights upcast to f32), eval, eager attention",
                "inputs": ("token_type_ids all 0, attention_mask all 1, tokenizer post-processor adds [CLS]/[SEP]"
                           if spec["kind"] == "bert" else "raw byte tokens, causal, nothing added"),
                "last_hidden_state": ({"bert": "encoder output before the pooler",
                                       "llama": "after the final RMSNorm (model.norm)"}
                                      .get(spec["kind"], "after ln_f")) if not is_long else None,
                "rounding": "7 significant digits",
            }
            path = os.path.join(args.out, f"{spec['name']}__{case}.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(fixture, f, ensure_ascii=False, separators=(",", ":"))
                f.write("\n")
            size = os.path.getsize(path)
            total += size
            # the strongest off-diagonal attention target per head, averaged, for the summary
            prev = att[:, :, torch.arange(1, n), torch.arange(0, n - 1)].mean(-1) if n > 1 else None
            summary.append((spec["name"], case, n, size,
                            (row_sums - 1).abs().max().item(),
                            hidden.abs().max().item(),
                            prev.max().item() if prev is not None else float("nan"),
                            tokens[:8]))
        del model

    print(f"| model | case | tokens | bytes | max |row sum - 1| | max |hidden| | best prev-token score | first tokens |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for name, case, n, size, rs, hm, pv, toks in summary:
        print(f"| {name} | {case} | {n} | {size:,} | {rs:.1e} | {hm:.2f} | {pv:.3f} | {' '.join(toks)} |")
    print(f"\nwritten: {total:,} bytes ({total / 2**20:.2f} MiB) in {args.out}")
    # the limit is on the whole folder (with --only, the other models' files count too)
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out)
                if f.endswith(".json"))
    print(f"total fixture size: {total:,} bytes ({total / 2**20:.2f} MiB) in {args.out}")
    if total > 8 * 2**20:
        sys.exit("error: fixtures exceed 8 MiB")


if __name__ == "__main__":
    main()
