#!/usr/bin/env python3
"""Reference fixtures for attnscope's encoder-decoder (BART / Marian) loaders, from transformers.

Models:
  * sample_models/tiny-translator      (trained BartForConditionalGeneration, see its README;
                                         made by tools/train_tiny_translator.py)
  * tests/fixtures/models/bart-tiny    (random weights, created here)
  * tests/fixtures/models/marian-tiny  (random weights, created here)

For each model and case this writes tests/fixtures/models/<name>__<case>.json:

  {"model": "sample_models/tiny-translator" | "tests/fixtures/models/<name>",
   "case": ..., "source": ..., "target": ... | null,
   "source_ids": [...], "source_tokens": [...],
   "decoder_ids": [...], "decoder_tokens": [...],    # decoder input, starts with decoder_start
   "encoder_layers": L_enc, "decoder_layers": L_dec, "heads": H, "d_model": D,
   "encoder": [L_enc][H][n_src][n_src],              # encoder self-attention probabilities
   "decoder": [L_dec][H][n_tgt][n_tgt],              # decoder (causal) self-attention
   "cross":   [L_dec][H][n_tgt][n_src],              # decoder -> encoder cross-attention
   "encoder_last_hidden_state": [n_src][D], "decoder_last_hidden_state": [n_tgt][D],
   "logits_last": [vocab],                            # logits at the last decoder position
   "greedy_ids": [...], "greedy_text": ...,           # generate() from the source alone
   "greedy_min_margin": m,                            # min top-1 - top-2 logit gap over its steps
   "reference": {...}}

Cases: `dates` ("March 5, 2021" -> "2021年3月5日") and `numbers` ("three hundred and twelve" ->
"三百一十二") for every model (teacher forcing); for the sample also `translate` (source
"one thousand and five" only: the decoder input is the greedy output without its final `</s>`,
i.e. exactly the rows that produced the greedy tokens). Plus tiny-translator__heldout.json:
40 sources from the translator's held-out test set (every 30th of each 600-item test list of
tools/train_tiny_translator.py with its default seed and sizes: 20 dates, 20 numbers of which
5 have 3 digits and 15 have 4) with the reference
target and transformers' greedy ids and text, for a test that attnscope's greedy translation
is identical.

How the reference is computed (what a Rust loader must match):
  * tokenization with the `tokenizers` library on the model folder's tokenizer.json (all three
    models use the translator's character-level tokenizer; its post-processor adds
    `<s>`=0 ... `</s>`=2 around the source, also for Marian); batch of 1, no padding,
    attention_mask all 1 (not passed);
  * decoder_ids (teacher-forced cases) = shift_tokens_right(labels) with labels = target
    characters + `</s>`, i.e. [decoder_start_token_id] + target characters (no trailing `</s>`);
    decoder_start is 2 (`</s>`) for the BART models and 1 (`<pad>`) for Marian;
  * a fresh `XxxForConditionalGeneration.from_pretrained(folder, attn_implementation="eager",
    dtype=float32)`, model.eval() (no dropout), one forward call
    model(input_ids=source_ids, decoder_input_ids=decoder_ids, output_attentions=True,
    use_cache=False); "encoder"/"decoder"/"cross" are out.encoder_attentions /
    out.decoder_attentions / out.cross_attentions (softmax probabilities);
    encoder_last_hidden_state = out.encoder_last_hidden_state (after the last encoder layer's
    final_layer_norm: BART and Marian are post-norm and have no extra final norm);
    decoder_last_hidden_state = the decoder's last hidden state (same, before lm_head);
    logits_last = out.logits[0, -1] = lm_head(h) + final_logits_bias;
  * greedy_ids = model.generate(source_ids, do_sample=False, num_beams=1, max_new_tokens=24)[0]
    (with the KV cache, as generate does), starting with decoder_start; greedy_text =
    tokenizer.decode(greedy_ids, skip_special_tokens=True);
  * numbers rounded to 7 significant digits.
Every fixture is then recomputed by numpy_check(): an independent float64 NumPy forward pass
from model.safetensors + config.json that follows only the facts below; the script fails if it
differs by more than 1e-3 anywhere (typically 1e-6 for the sample and 1e-5 for the random
models, whose peaked attention amplifies float32 rounding).

Architecture facts the loader must reproduce (transformers 5.x code):
  BART (`model_type: bart`): token embedding `model.shared.weight` (stored once; encoder/decoder
    embed_tokens and lm_head are tied to it) times embed_scale = sqrt(d_model) if
    scale_embedding else 1; learned positions with an offset of 2 (row position + 2 of
    `model.{encoder,decoder}.embed_positions.weight`, shape [max_pos + 2, d]); then
    `layernorm_embedding` (LayerNorm, eps 1e-5); post-norm layers: x = LN(x + SelfAttn(x)),
    (decoder: x = LN(x + CrossAttn(x, enc))), x = LN(x + fc2(act(fc1(x)))); q/k/v/out
    projections with biases, q scaled by head_dim^-0.5; logits = h @ shared^T + final_logits_bias.
  Marian (`model_type: marian`): token embedding times sqrt(d_model) (scale_embedding true),
    plus sinusoidal positions (no offset): row p = [sin(p / 10000^(2i/d)) for i < d/2 |
    cos(p / 10000^(2i/d)) for i < d/2] (the sin half first, then the cos half, NOT
    interleaved), computed in float64 and rounded to float32; NOT stored in the checkpoint
    (`_keys_to_ignore_on_save`); no layernorm_embedding; post-norm layers as BART; activation
    swish = SiLU; decoder_start = pad; logits = h @ shared^T + final_logits_bias.
  Both: LayerNorm eps 1e-5; GELU is the exact erf form; attention probabilities are a plain
    softmax (causal mask in the decoder self-attention only; no padding here); encoder and
    decoder have the same number of heads in all three models ("heads").
  The tiny random models have non-zero final_logits_bias and a non-zero <pad> embedding row
  (nn.Embedding's padding_idx only affects training), so both must be read from the file.

Tiny random-weight models (made unless --no-tiny): transformers instantiates the model from
a config under torch.manual_seed(1234); the weights are redrawn (in sorted parameter-name
order) from a torch.Generator at a scale that gives peaked attention: token embeddings
N(0, s_emb) (bart 0.5, marian 0.08; both are then multiplied by sqrt(d_model)), BART's
learned positions N(0, 1), q_proj/k_proj weights N(0, s_qk / sqrt(fan_in)) (bart 3, marian 4),
other matrices N(0, s / sqrt(fan_in)) (bart 3, marian 2), biases N(0, 0.3), LayerNorm weights 1 + N(0, 0.2),
LayerNorm biases N(0, 0.1), final_logits_bias N(0, 0.5); Marian's sinusoidal table is left
alone. The generator seed is the first one from 5678 on for which the greedy output of every
fixture source changes token at least once (>= 2 distinct generated tokens: random post-norm
models tend to repeat one token) and every greedy step has a top-1 minus top-2 logit gap
>= 0.05 (so that float rounding cannot flip a greedy token); the seed and the gap are printed,
and every fixture records its "greedy_min_margin". The model is saved with
save_pretrained(safe_serialization=True) next to a copy of the translator's tokenizer.json;
the references are then computed from a fresh from_pretrained of that folder.
  bart-tiny:   d_model 48, 3 heads (head_dim 16), ffn 96, 3 encoder + 2 decoder layers, gelu,
               scale_embedding TRUE (the sample has false), max_position_embeddings 32,
               vocab 85, pad 1, bos 0, eos 2, decoder_start 2, tied embeddings.
  marian-tiny: d_model 32, 4 heads (head_dim 8), ffn 64, 2 + 2 layers, swish,
               scale_embedding true, sinusoidal positions (max 64), vocab 85, pad 1, eos 2,
               decoder_start 1 (= pad), share_encoder_decoder_embeddings, tied embeddings.

Usage:
  python3 tools/make_encdec_fixtures.py [--out tests/fixtures/models] [--no-tiny]
"""
import argparse
import json
import os
import shutil
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import (BartConfig, BartForConditionalGeneration, MarianConfig,  # noqa: E402
                          MarianMTModel)

import train_tiny_translator as tt  # noqa: E402  (held-out splits of the sample)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(ROOT, "sample_models", "tiny-translator")

CASES = [
    ("dates", "March 5, 2021", "2021年3月5日"),
    ("numbers", "three hundred and twelve", "三百一十二"),
]
TRANSLATE_SOURCE = "one thousand and five"
MAX_NEW = 24
BASE_SEED = 5678  # first generator seed tried for the tiny models' weights
MIN_MARGIN = 0.05  # minimum top-1 - top-2 logit gap along every greedy output
MIN_DISTINCT = 2  # distinct generated tokens in every greedy output of a tiny model
NUMPY_TOL = 1e-3  # max abs difference allowed between the fixture and the NumPy float64 check


def r7(x):
    """Round floats (nested lists) to 7 significant digits."""
    if isinstance(x, list):
        return [r7(v) for v in x]
    v = float(f"{x:.7g}")
    return 0.0 if v == 0 else v


# ---------------------------------------------------------------- tiny random models

TINY = {
    "bart-tiny": (BartConfig, BartForConditionalGeneration, dict(
        d_model=48, encoder_layers=3, decoder_layers=2, encoder_attention_heads=3,
        decoder_attention_heads=3, encoder_ffn_dim=96, decoder_ffn_dim=96,
        activation_function="gelu", max_position_embeddings=32, scale_embedding=True,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
        forced_eos_token_id=None, tie_word_embeddings=True),
        dict(embed=0.5, positions=1.0, qk=3.0, other=3.0)),
    "marian-tiny": (MarianConfig, MarianMTModel, dict(
        d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
        activation_function="swish", max_position_embeddings=64, scale_embedding=True,
        pad_token_id=1, bos_token_id=None, eos_token_id=2, decoder_start_token_id=1,
        forced_eos_token_id=None, share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True),
        dict(embed=0.08, positions=None, qk=4.0, other=2.0)),
}


def build_tiny(name, vocab_size, seed):
    """Instantiates one tiny model and redraws its weights from torch.Generator(seed)."""
    cfg_cls, model_cls, kw, sc = TINY[name]
    config = cfg_cls(vocab_size=vocab_size, dropout=0.0, attention_dropout=0.0,
                     activation_dropout=0.0, encoder_layerdrop=0.0, decoder_layerdrop=0.0,
                     is_encoder_decoder=True, use_cache=True, **kw)
    torch.manual_seed(1234)
    model = model_cls(config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for pname, p in sorted(model.named_parameters()):
            if name.startswith("marian") and "embed_positions" in pname:
                continue  # sinusoidal, fixed
            if "layer_norm" in pname or "layernorm" in pname:
                if pname.endswith("weight"):
                    p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "embed_positions" in pname:
                p.copy_(sc["positions"] * torch.randn(p.shape, generator=g))
            elif "shared" in pname or "embed_tokens" in pname:
                p.copy_(sc["embed"] * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            else:
                scale = sc["qk"] if ("q_proj" in pname or "k_proj" in pname) else sc["other"]
                p.copy_(torch.randn(p.shape, generator=g) * (scale / p.shape[1] ** 0.5))
        model.final_logits_bias.copy_(0.5 * torch.randn(model.final_logits_bias.shape, generator=g))
    model.tie_weights()
    if model.config.tie_word_embeddings:
        assert model.lm_head.weight is model.model.shared.weight
    gc = model.generation_config
    gc.forced_bos_token_id = None
    gc.forced_eos_token_id = None
    gc.num_beams, gc.do_sample, gc.no_repeat_ngram_size = 1, False, 0
    gc.bad_words_ids = None
    model.config._attn_implementation = "eager"
    model.eval()
    return model


@torch.no_grad()
def greedy_margin(model, source_ids, g_ids):
    """Smallest top-1 minus top-2 logit over the greedy steps (teacher-forced on the greedy
    output, no cache); also checks that this forward reproduces the greedy ids."""
    dec = g_ids[:-1]
    logits = model(input_ids=torch.tensor([source_ids]), decoder_input_ids=torch.tensor([dec]),
                   use_cache=False).logits[0]
    assert logits.argmax(-1).tolist() == g_ids[1:], "cached greedy != uncached argmax"
    top = logits.topk(2, dim=-1).values
    return (top[:, 0] - top[:, 1]).min().item()


def make_tiny(name, out_dir, vocab_size, tok):
    """Builds the tiny model with the first generator seed >= BASE_SEED for which, on every
    fixture source, the greedy output changes token at least once (random post-norm models
    tend to repeat one token; at least MIN_DISTINCT distinct generated tokens) and every step's
    top-1 minus top-2 logit gap is >= MIN_MARGIN (so float rounding cannot flip a greedy
    token); saves it and returns (folder, keys, seed, margin)."""
    for seed in range(BASE_SEED, BASE_SEED + 200):
        model = build_tiny(name, vocab_size, seed)
        margin, distinct = float("inf"), 10 ** 9
        for _, src, _ in CASES:
            ids = tok.encode(src).ids
            g_ids = greedy(model, tok, ids)[0]
            margin = min(margin, greedy_margin(model, ids, g_ids))
            distinct = min(distinct, len(set(g_ids[1:])))
        if margin >= MIN_MARGIN and distinct >= MIN_DISTINCT:
            break
    else:
        sys.exit(f"{name}: no seed with greedy margin >= {MIN_MARGIN} and {MIN_DISTINCT} distinct tokens")
    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    shutil.copy(os.path.join(SAMPLE, "tokenizer.json"), os.path.join(folder, "tokenizer.json"))
    os.chmod(os.path.join(folder, "model.safetensors"), 0o644)
    with safe_open(os.path.join(folder, "model.safetensors"), framework="pt") as f:
        keys = sorted(f.keys())
    return folder, keys, seed, margin


# ---------------------------------------------------------------- reference

def load(folder):
    with open(os.path.join(folder, "config.json")) as f:
        mt = json.load(f)["model_type"]
    cls = {"bart": BartForConditionalGeneration, "marian": MarianMTModel}[mt]
    model = cls.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    return model, mt


@torch.no_grad()
def greedy(model, tok, source_ids):
    gen = model.generate(input_ids=torch.tensor([source_ids]), do_sample=False, num_beams=1,
                         max_new_tokens=MAX_NEW)[0].tolist()
    return gen, tok.decode(gen, skip_special_tokens=True)


@torch.no_grad()
def fixture(model, mt, tok, rel_dir, case, source, target):
    cfg = model.config
    enc = tok.encode(source)
    src_ids = enc.ids
    g_ids, g_text = greedy(model, tok, src_ids)
    margin = greedy_margin(model, src_ids, g_ids)
    start = cfg.decoder_start_token_id
    if target is not None:
        tgt_ids = tok.encode(target, add_special_tokens=False).ids
        labels = torch.tensor([tgt_ids + [cfg.eos_token_id]])
        dec = tt_shift(labels, cfg.pad_token_id, start)[0].tolist()
        assert dec == [start] + tgt_ids
    else:
        dec = g_ids[:-1] if g_ids[-1] == cfg.eos_token_id else g_ids
    out = model(input_ids=torch.tensor([src_ids]), decoder_input_ids=torch.tensor([dec]),
                output_attentions=True, use_cache=False)
    ea = torch.stack([a[0] for a in out.encoder_attentions])
    da = torch.stack([a[0] for a in out.decoder_attentions])
    ca = torch.stack([a[0] for a in out.cross_attentions])
    dec_hidden = model.model.decoder(input_ids=torch.tensor([dec]),
                                     encoder_hidden_states=out.encoder_last_hidden_state,
                                     use_cache=False).last_hidden_state[0]
    logits = out.logits[0]
    assert torch.allclose(logits, model.lm_head(dec_hidden) + model.final_logits_bias[0], atol=1e-5)
    vocab_tokens = {i: t for t, i in tok.get_vocab().items()}
    fx = {
        "model": rel_dir, "case": case, "source": source, "target": target,
        "source_ids": src_ids, "source_tokens": enc.tokens,
        "decoder_ids": dec, "decoder_tokens": [vocab_tokens[i] for i in dec],
        "encoder_layers": cfg.encoder_layers, "decoder_layers": cfg.decoder_layers,
        "heads": cfg.encoder_attention_heads, "d_model": cfg.d_model,
        "encoder": r7(ea.tolist()), "decoder": r7(da.tolist()), "cross": r7(ca.tolist()),
        "encoder_last_hidden_state": r7(out.encoder_last_hidden_state[0].tolist()),
        "decoder_last_hidden_state": r7(dec_hidden.tolist()),
        "logits_last": r7(logits[-1].tolist()),
        "greedy_ids": g_ids, "greedy_text": g_text, "greedy_min_margin": r7(margin),
        "reference": {
            "generator": "tools/make_encdec_fixtures.py",
            "transformers": transformers.__version__, "torch": torch.__version__,
            "model_type": mt,
            "compute": "float32, eval, eager attention, output_attentions=True, use_cache=False "
                       "(from_pretrained of the saved folder)",
            "inputs": "source = tokenizer.encode(source).ids (<s> chars </s>); decoder_ids = "
                      + ("shift_tokens_right(target chars + </s>)" if target is not None else
                         "greedy_ids without the final </s>"),
            "greedy": f"generate(do_sample=False, num_beams=1, max_new_tokens={MAX_NEW}), with KV cache",
            "last_hidden_state": "after the last layer's final_layer_norm (post-norm; no extra final norm)",
            "logits_last": "lm_head(h) + final_logits_bias at the last decoder position",
            "rounding": "7 significant digits",
        },
    }
    stats = ((ea.sum(-1) - 1).abs().max().item(), ca.max(-1).values.mean().item(),
             ea.max(-1).values.mean().item())
    return fx, stats


def tt_shift(labels, pad, start):
    from transformers.models.bart.modeling_bart import shift_tokens_right
    return shift_tokens_right(labels, pad, start)


# ---------------------------------------------------------------- independent check

def numpy_check(folder, fx):
    """Recomputes a fixture in float64 NumPy from model.safetensors and config.json, following
    only the "architecture facts" of the module docstring; returns the max abs differences."""
    import math
    import numpy as np
    from safetensors.numpy import load_file

    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    W = {k: v.astype(np.float64) for k, v in load_file(os.path.join(folder, "model.safetensors")).items()}
    mt, d, H = cfg["model_type"], cfg["d_model"], cfg["encoder_attention_heads"]
    erf = np.vectorize(math.erf)
    act = {"gelu": lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2))),
           "swish": lambda x: x / (1 + np.exp(-x))}[cfg["activation_function"]]
    scale = math.sqrt(d) if cfg["scale_embedding"] else 1.0
    E = W["model.shared.weight"]

    def ln(x, p):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + 1e-5) * W[p + ".weight"] + W[p + ".bias"]

    def softmax(x):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def attention(p, xq, xkv, causal):
        hd = d // H
        lin = lambda n, x: x @ W[p + n + ".weight"].T + W[p + n + ".bias"]  # noqa: E731
        split = lambda t: t.reshape(t.shape[0], H, hd).transpose(1, 0, 2)  # noqa: E731
        q = split(lin("q_proj", xq) * hd ** -0.5)
        k, v = split(lin("k_proj", xkv)), split(lin("v_proj", xkv))
        sc = q @ k.transpose(0, 2, 1)
        if causal:
            sc = sc + np.triu(np.full(sc.shape[-2:], -np.inf), 1)
        a = softmax(sc)
        return lin("out_proj", (a @ v).transpose(1, 0, 2).reshape(xq.shape[0], d)), a

    def sinusoid(n):
        pos = np.array([[p / np.power(10000, 2 * (j // 2) / d) for j in range(d)] for p in range(n)])
        out = np.zeros((n, d))
        out[:, :d // 2] = np.sin(pos[:, 0::2])
        out[:, d // 2:] = np.cos(pos[:, 1::2])
        return out.astype(np.float32).astype(np.float64)

    def embed(ids, part):
        x = E[ids] * scale
        if mt == "bart":
            x = x + W[f"model.{part}.embed_positions.weight"][np.arange(len(ids)) + 2]
            return ln(x, f"model.{part}.layernorm_embedding")
        return x + sinusoid(len(ids))

    def ffn(p, x):
        return act(x @ W[p + "fc1.weight"].T + W[p + "fc1.bias"]) @ W[p + "fc2.weight"].T + W[p + "fc2.bias"]

    x = embed(fx["source_ids"], "encoder")
    enc_att = []
    for layer in range(cfg["encoder_layers"]):
        p = f"model.encoder.layers.{layer}."
        o, a = attention(p + "self_attn.", x, x, False)
        enc_att.append(a)
        x = ln(x + o, p + "self_attn_layer_norm")
        x = ln(x + ffn(p, x), p + "final_layer_norm")
    y = embed(fx["decoder_ids"], "decoder")
    dec_att, cross_att = [], []
    for layer in range(cfg["decoder_layers"]):
        p = f"model.decoder.layers.{layer}."
        o, a = attention(p + "self_attn.", y, y, True)
        dec_att.append(a)
        y = ln(y + o, p + "self_attn_layer_norm")
        o, a = attention(p + "encoder_attn.", y, x, False)
        cross_att.append(a)
        y = ln(y + o, p + "encoder_attn_layer_norm")
        y = ln(y + ffn(p, y), p + "final_layer_norm")
    lm = W.get("lm_head.weight", E)  # tied: not stored
    logits = y[-1] @ lm.T + W["final_logits_bias"][0]
    diff = lambda a, b: float(np.abs(np.asarray(a) - np.asarray(b)).max())  # noqa: E731
    return {"encoder": diff(enc_att, fx["encoder"]), "decoder": diff(dec_att, fx["decoder"]),
            "cross": diff(cross_att, fx["cross"]),
            "encoder_last_hidden_state": diff(x, fx["encoder_last_hidden_state"]),
            "decoder_last_hidden_state": diff(y, fx["decoder_last_hidden_state"]),
            "logits_last": diff(logits, fx["logits_last"])}


def write(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    return os.path.getsize(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "models"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-tiny", action="store_true", help="only the sample's fixtures")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)

    tok_sample = Tokenizer.from_file(os.path.join(SAMPLE, "tokenizer.json"))
    vocab_size = tok_sample.get_vocab_size()
    models = [("tiny-translator", SAMPLE)]
    if not args.no_tiny:
        for name in TINY:
            folder, keys, seed, margin = make_tiny(name, args.out, vocab_size, tok_sample)
            print(f"{name}: generator seed {seed} (greedy margin {margin:.3f}), {len(keys)} tensors stored, "
                  f"{os.path.getsize(os.path.join(folder, 'model.safetensors')):,} bytes; "
                  f"embedding/position keys: {[k for k in keys if 'embed' in k or 'shared' in k or 'lm_head' in k or 'bias' == k[-4:] and 'final_logits' in k]}")
            models.append((name, folder))

    rows = []
    for name, folder in models:
        rel_dir = os.path.relpath(folder, ROOT)
        model, mt = load(folder)
        tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        cases = list(CASES)
        if name == "tiny-translator":
            cases.append(("translate", TRANSLATE_SOURCE, None))
        for case, source, target in cases:
            fx, (rs, cross_peak, enc_peak) = fixture(model, mt, tok, rel_dir, case, source, target)
            size = write(os.path.join(args.out, f"{name}__{case}.json"), fx)
            check = numpy_check(folder, fx)
            worst = max(check.values())
            if worst > NUMPY_TOL:
                sys.exit(f"{name}/{case}: float64 NumPy re-implementation differs: {check}")
            rows.append((name, case, len(fx["source_ids"]), len(fx["decoder_ids"]), size, rs,
                         enc_peak, cross_peak, fx["greedy_text"], worst))
        if name == "tiny-translator":
            splits = tt.make_splits(0, 300, 600)
            items = []
            n_ok = 0
            min_margin = float("inf")
            for task in ("dates", "numbers"):
                for key in splits[task][1][::30][:20]:  # spread: 3- and 4-digit numbers
                    src, ref, _ = tt.pair_of(task, key)
                    ids = tok.encode(src).ids
                    g_ids, g_text = greedy(model, tok, ids)
                    margin = greedy_margin(model, ids, g_ids)
                    min_margin = min(min_margin, margin)
                    n_ok += g_text == ref
                    items.append({"task": task, "source": src, "reference": ref, "source_ids": ids,
                                  "greedy_ids": g_ids, "greedy_text": g_text,
                                  "correct": g_text == ref, "greedy_min_margin": r7(margin)})
            size = write(os.path.join(args.out, "tiny-translator__heldout.json"), {
                "model": rel_dir, "case": "heldout",
                "note": "every 30th item (20 dates, 20 numbers) of the test set of "
                        "tools/train_tiny_translator.py (seed 0, --n-eval 300, --n-test 600); "
                        "none of them was a training pair",
                "greedy": f"generate(input_ids, do_sample=False, num_beams=1, max_new_tokens={MAX_NEW}), "
                          "batch of 1, from_pretrained, float32, eager attention",
                "transformers": transformers.__version__, "torch": torch.__version__,
                "items": items})
            rows.append((name, "heldout", len(items), 0, size, 0.0, 0.0, 0.0,
                         f"{n_ok}/{len(items)} equal to the reference, min greedy margin {min_margin:.3f}",
                         float("nan")))
        del model

    print("| model | case | n_src | n_dec | bytes | max |row sum - 1| | mean enc row max | "
          "mean cross row max | max |NumPy f64 - fixture| | greedy |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:,} | {r[5]:.1e} | {r[6]:.3f} | {r[7]:.3f} | "
              f"{r[9]:.1e} | {r[8]} |")
    big = [r for r in rows if r[4] > 300_000]
    if big:
        sys.exit(f"error: fixtures over 300 kB: {big}")


if __name__ == "__main__":
    main()
