#!/usr/bin/env python3
"""Reference attention for attnscope's GGUF loader, from transformers loading the GGUF files.

For each model and case this writes two files in tests/fixtures/gguf/:

  <stem>__<case>.json   metadata: model file, text, input_ids (the GGUF tokenizer's, as
                        transformers builds it), tokens, num_layers, num_heads, seq_len,
                        "layers" and "rows" (which slices of the attention are stored; null =
                        all), the npy file name and shape, the top-5 next-token logits at the
                        last position, the config transformers derived from the file, versions
  <stem>__<case>.npy    float32 attention probabilities [len(layers), heads, len(rows), seq_len]
                        (little-endian, C order; row r of the slice is query position rows[r])

Models and cases:
  * tiny-llama-induction-Q8_0, tiny-llama-k256-Q4_K_M, tiny-qwen2-Q8_0, tiny-qwen3-Q8_0,
    tiny-gemma3-Q8_0 (tools/make_gguf_samples.py): cases english (a short sentence: one
    token per byte), chinese, induction; every layer, head and row (except the chinese
    case of the qwen2/qwen3/gemma3 files: last 8 rows, LAST_ROWS_ONLY). See MODEL_NOTES for
    tiny-qwen3 (head_dim passed from the file's key_length: transformers does not read it;
    recorded as "config_overrides") and tiny-gemma3 (transformers' defaults for what the
    file does not carry: query_pre_attn_scalar 256, all layers sliding).
  * SmolLM2-135M-Instruct-Q4_1 and gemma-3-270m-Q4_K_M (tools/fetch_models.sh; skipped
    with a note when absent): english and chinese, every layer and head, the last 4 query
    rows; long (a committed paragraph repeated, cut to exactly LONG_TOKENS = 520 tokens
    including any BOS: more than Gemma 3's sliding window of 512, so its local layers mask
    the first keys of the last rows), layers {0, L/2, L-1}, every head, the last 2 rows.
    No original HF tokenizer is available offline, so the GGUF tokenizer's ids are the
    reference; where transformers' GGUF tokenizer is known to differ from llama.cpp's (see
    "tokenizer_notes" in the JSON) the texts avoid the difference.

How the reference is computed: AutoModelForCausalLM.from_pretrained(folder, gguf_file=...,
dtype=float32, attn_implementation="eager", plus config_overrides where needed)
(transformers dequantises every tensor with gguf-py's numpy code to float32 and undoes
llama.cpp's q/k row permutation where the architecture has one), eval mode,
one sequence, output_attentions=True, 2 CPU threads. Token ids from
AutoTokenizer.from_pretrained(folder, gguf_file=...)(text) (BOS added when the file says
tokenizer.ggml.add_bos_token = true: Gemma yes, SmolLM2 and the tiny models no).

Rerun: python3 tools/make_gguf_fixtures.py              # all (a few minutes on 2 cores)
       python3 tools/make_gguf_fixtures.py --only gemma-3-270m-Q4_K_M   (repeatable)
Idempotent: output files are rewritten with the same content (same library versions).
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gguf_samples import transformers_overrides  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "gguf")

ENGLISH = "The animal didn't cross the street because it was too tired."
TINY_ENGLISH = "The cat sat on the mat."   # byte tokens: one per character, so keep it short
CHINESE = "我爱北京天安门。注意力机制"
INDUCTION = "Xq7#Lp2 Zu9! then again Xq7#Lp2 Zu9!"
# The paragraph of the long case (repeated). No multi-digit numbers: transformers splits
# them as GPT-2 does for SmolLM2's "smollm" pre-tokenizer, llama.cpp splits every digit.
LONG_PARAGRAPH = (
    "Attention lets every token look at the tokens before it. For each query the model "
    "computes a score against each key, scales it by the square root of the head size, and "
    "turns the scores into weights with a softmax, so that each row sums to one. The output "
    "of a head is the weighted average of the values. Some heads attend to the previous "
    "token, some copy a token that followed an earlier occurrence of the current one, and "
    "some spread their weight over a whole sentence. Because the cost grows with the square "
    "of the sequence length, long inputs are expensive, and a model that uses a sliding "
    "window lets most layers look at a fixed number of recent tokens only. "
)
LONG_TOKENS = 520

TINY = {
    "tiny-llama-induction-Q8_0": "tests/fixtures/gguf/tiny-llama-induction-Q8_0.gguf",
    "tiny-llama-k256-Q4_K_M": "tests/fixtures/gguf/tiny-llama-k256-Q4_K_M.gguf",
    "tiny-qwen2-Q8_0": "tests/fixtures/gguf/tiny-qwen2-Q8_0.gguf",
    "tiny-qwen3-Q8_0": "tests/fixtures/gguf/tiny-qwen3-Q8_0.gguf",
    "tiny-gemma3-Q8_0": "tests/fixtures/gguf/tiny-gemma3-Q8_0.gguf",
}
REAL = {
    "SmolLM2-135M-Instruct-Q4_1": "sample_models/SmolLM2-135M-Instruct-Q4_1.gguf",
    "gemma-3-270m-Q4_K_M": "sample_models/gemma-3-270m-Q4_K_M.gguf",
}

# Keeps the three family files + fixtures under 400 kB: their chinese case stores every
# layer and head but only the last 8 query rows (the full [.., 39, 39] would add 136 kB).
LAST_ROWS_ONLY = {"tiny-qwen2-Q8_0": 8, "tiny-qwen3-Q8_0": 8, "tiny-gemma3-Q8_0": 8}

MODEL_NOTES = {
    "tiny-qwen3-Q8_0": (
        "transformers 5.23 does not map qwen3.attention.key_length to head_dim, and Qwen3Config's "
        "default head_dim (128) is not this model's 16: the model does not load without "
        "head_dim=16, which is passed from the file's key_length (config_overrides)."),
    "tiny-gemma3-Q8_0": (
        "The file carries what llama.cpp's Gemma3Model writes: no query_pre_attn_scalar and no "
        "layer types, so transformers uses Gemma3TextConfig's defaults: query_pre_attn_scalar 256 "
        "(scores * 256^-1/2) and sliding_window_pattern 6 (all 3 layers sliding, window 8). The "
        "source folder tests/fixtures/models/gemma3-tiny has query_pre_attn_scalar 24 and layers "
        "[sliding, full, sliding]; llama.cpp (and attnscope) scale by key_length^-1/2 = 16^-1/2. "
        "This reference is transformers with llama.cpp's scale (query_pre_attn_scalar = "
        "key_length = 16, config_overrides) and its default layer pattern (all sliding, as "
        "llama.cpp's pattern of 6 gives too)."),
}

TOKENIZER_NOTES = {
    "SmolLM2-135M-Instruct-Q4_1": (
        "tokenizer.ggml.model gpt2, pre 'smollm', add_bos_token false. transformers 5.23 does "
        "not know 'smollm' and keeps GPT-2's split regex; llama.cpp (and SmolLM2's own "
        "tokenizer.json) first split every digit, so texts with runs of digits tokenize "
        "differently. The texts here have none."),
    "gemma-3-270m-Q4_K_M": (
        "tokenizer.ggml.model llama (sentencepiece BPE), pre 'default', add_bos_token true, "
        "262144 tokens with scores but no merges: transformers rebuilds the merges from the "
        "vocabulary, ordered by token id (gemma_tokenizer), and adds <bos> (id 2)."),
}


def load(path):
    folder, name = os.path.split(os.path.join(ROOT, path))
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                 attn_implementation="eager",
                                                 **transformers_overrides(os.path.join(folder, name)))
    model.eval()
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    return model, tok


def long_ids(tok, n):
    """Ids of the repeated paragraph cut at a token boundary to exactly n tokens."""
    text = LONG_PARAGRAPH
    while len(tok(text)["input_ids"]) < n + 20:
        text += LONG_PARAGRAPH
    enc = tok(text, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    cut = text[:offsets[n - 1][1]]
    got = tok(cut)["input_ids"]
    if got != ids[:n]:
        sys.exit(f"long text does not re-tokenize to its first {n} ids ({len(got)} ids)")
    return cut, got


def config_summary(cfg):
    keys = ["model_type", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
            "head_dim", "hidden_size", "intermediate_size", "rms_norm_eps", "rope_parameters",
            "sliding_window", "layer_types", "query_pre_attn_scalar", "final_logit_softcapping",
            "attn_logit_softcapping", "tie_word_embeddings", "hidden_activation", "hidden_act",
            "max_position_embeddings", "vocab_size", "bos_token_id", "eos_token_id"]
    out = {}
    for k in keys:
        v = getattr(cfg, k, None)
        if v is not None:
            out[k] = v
    return json.loads(json.dumps(out, default=str))


@torch.no_grad()
def write_case(stem, path, model, tok, case, text, ids, layers, rows):
    x = torch.tensor([ids], dtype=torch.long)
    out = model(input_ids=x, output_attentions=True)
    att = torch.stack([a[0] for a in out.attentions])      # [L, H, N, N]
    L, H, N, _ = att.shape
    sel = att
    if layers is not None:
        sel = sel[layers]
    if rows is not None:
        sel = sel[:, :, rows]
    arr = np.ascontiguousarray(sel.numpy().astype("<f4"))
    logits = out.logits[0, -1]
    top = torch.topk(logits, 5)
    npy = f"{stem}__{case}.npy"
    np.save(os.path.join(OUT, npy), arr)
    fixture = {
        "model": path, "case": case, "text": text, "input_ids": ids,
        "tokens": tok.convert_ids_to_tokens(ids),
        "num_layers": L, "num_heads": H, "seq_len": N,
        "layers": layers, "rows": rows,
        "attentions_npy": npy, "attentions_shape": list(arr.shape),
        "attentions_layout": "[layers][heads][rows][keys], float32 softmax probabilities "
                             "(causal: keys after the query are 0)",
        "last_position_top5": {"ids": top.indices.tolist(),
                               "tokens": tok.convert_ids_to_tokens(top.indices.tolist()),
                               "logits": [float(f"{v:.7g}") for v in top.values.tolist()]},
        "config_from_gguf": config_summary(model.config),
        "reference": {
            "generator": "tools/make_gguf_fixtures.py",
            "transformers": transformers.__version__, "torch": torch.__version__,
            "gguf": _version("gguf"),
            "compute": "float32 (GGUF tensors dequantised by transformers/gguf-py), eval, "
                       "eager attention, output_attentions=True",
            "tokenizer": "AutoTokenizer.from_pretrained(gguf_file=...), special tokens as the "
                         "file says (add_bos_token)",
        },
    }
    overrides = transformers_overrides(os.path.join(ROOT, path))
    if overrides:
        fixture["config_overrides"] = overrides
    if stem in MODEL_NOTES:
        fixture["model_notes"] = MODEL_NOTES[stem]
    if stem in TOKENIZER_NOTES:
        fixture["tokenizer_notes"] = TOKENIZER_NOTES[stem]
    with open(os.path.join(OUT, f"{stem}__{case}.json"), "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
    rowsum = (att.sum(-1) - 1).abs().max().item()
    size = os.path.getsize(os.path.join(OUT, npy))
    print(f"  {stem}__{case}: n={N} stored {list(arr.shape)} ({size} B npy), "
          f"max |row sum - 1| {rowsum:.1e}, top1 {fixture['last_position_top5']['tokens'][0]!r}")


def _version(dist):
    from importlib.metadata import version
    return version(dist)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", metavar="NAME",
                    help=f"only this model (repeatable): {', '.join(list(TINY) + list(REAL))}")
    args = ap.parse_args()
    torch.set_num_threads(2)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    os.makedirs(OUT, exist_ok=True)
    wanted = set(args.only or list(TINY) + list(REAL))
    unknown = wanted - set(TINY) - set(REAL)
    if unknown:
        sys.exit(f"unknown model(s): {', '.join(sorted(unknown))}")
    for stem, path in list(TINY.items()) + list(REAL.items()):
        if stem not in wanted:
            continue
        if not os.path.exists(os.path.join(ROOT, path)):
            hint = "tools/fetch_models.sh" if stem in REAL else "tools/make_gguf_samples.py"
            print(f"skip {stem}: {path} is missing (run {hint})")
            continue
        t0 = time.time()
        model, tok = load(path)
        print(f"{stem}: loaded in {time.time() - t0:.1f} s")
        L = model.config.num_hidden_layers
        if stem in TINY:
            for case, text in [("english", TINY_ENGLISH), ("chinese", CHINESE),
                               ("induction", INDUCTION)]:
                ids = tok(text)["input_ids"]
                rows = None
                if case == "chinese" and stem in LAST_ROWS_ONLY:   # 39 byte tokens: the largest
                    rows = list(range(len(ids) - LAST_ROWS_ONLY[stem], len(ids)))
                write_case(stem, path, model, tok, case, text, ids, None, rows)
        else:
            for case, text in [("english", ENGLISH), ("chinese", CHINESE)]:
                ids = tok(text)["input_ids"]
                n = len(ids)
                write_case(stem, path, model, tok, case, text, ids, None, list(range(n - 4, n)))
            text, ids = long_ids(tok, LONG_TOKENS)
            write_case(stem, path, model, tok, "long", text, ids, [0, L // 2, L - 1],
                       [LONG_TOKENS - 2, LONG_TOKENS - 1])
        del model


if __name__ == "__main__":
    main()
