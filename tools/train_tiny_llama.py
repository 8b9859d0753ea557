#!/usr/bin/env python3
"""Train a tiny Llama-architecture model (RMSNorm, RoPE, SwiGLU, grouped-query
attention: 4 query heads over 2 key/value heads) that grows a previous-token
head and an induction head, for attnscope's sample models.

Data and tokenizer are those of tools/train_tiny_gpt2.py (imported from it,
not copied): the byte-level tokenizer with the 256 byte tokens (id = byte
value) and no merges plus `<|endoftext|>` = 256, and the synthetic
pseudo-word text with copied spans and repeated random segments.

The head statistics use attnscope's definitions (src/model/stats.rs):
  previous-token score of a head = mean over i = 1..n-1 of A[i, i-1];
  induction score on [R R] (len R = half) = mean over t = 0..half-2 of
      A[half + t, t + 1]   (the token after the earlier occurrence).
They are reported (a) on held-out [R R] sequences of uniformly random bytes
and (b) on exactly the sequence the app builds for its induction test when a
model is opened (src/app/work.rs: induction_scores(model, 24, seed 1); the
random "ordinary" tokens are drawn with attnscope's splitmix64 stream, which
is re-implemented here), so the README shows the numbers the app will show.

Llama has no position embeddings: a head can only attend by relative
position (RoPE) if its queries and keys have a part that does not depend on
the token, and with RMSNorm and no biases that part must come from the
embeddings. Like the GPT-2 script's sinusoidal position-embedding start, the
token embeddings therefore start with one shared random vector added to every
row (--embed-shared, per-dimension std 0.1 vs 0.02 for the rows); it is
trained like every other weight. (With tied embeddings a shared component
adds the same amount to every logit.) Without it, seed 0 formed no induction
head: --rr-frac 0 stopped at step 4000 of 5500 with max induction score
0.004, --rr-frac 0.25 ran 5000 steps and ended at 0.025.

Training stops at --steps, or earlier once the held-out scores reach
--stop-ind and --stop-prev (checked every --log-every steps), or when
--max-minutes of wall time are used (a safety cap; the README says which).

Output (default sample_models/tiny-llama-induction/): config.json,
tokenizer.json, model.safetensors (fp32, LlamaForCausalLM.save_pretrained key
names, the tied lm_head.weight not stored), README.md.

Usage:
  python3 tools/train_tiny_llama.py            # a few minutes on 1 CPU thread
  python3 tools/train_tiny_llama.py --steps 50 --out /tmp/tiny   # smoke test
"""
import argparse
import hashlib
import math
import os
import random
import shlex
import sys
import time
import unicodedata

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

import train_tiny_gpt2 as g2  # noqa: E402  (data generator and tokenizer)

EOT = g2.EOT
EOT_ID = g2.EOT_ID
VOCAB = g2.VOCAB

# ---------------------------------------------------------------- data


def make_rr_sequence(rng, seq_len):
    """A repeated random segment: 0-64 bytes of pseudo-word text, then one random
    segment R (10-60 letters/punctuation or arbitrary bytes, as the GPT-2 generator's
    random segments) written again and again up to seq_len. Everything after the
    first copy of R is predictable only by induction."""
    out = g2.make_sequence(rng, rng.randint(0, 64)) if rng.random() < 0.5 else []
    seg = g2.random_segment(rng, rng.randint(10, 60))
    while len(out) < seq_len:
        out += seg
    return out[:seq_len]


def batch(rng, bsz, seq_len, rr_frac):
    """Like train_tiny_gpt2.batch, but each row is, with probability rr_frac, a
    repeated random segment (make_rr_sequence) instead of the GPT-2 text."""
    rows = [make_rr_sequence(rng, seq_len) if rr_frac > 0 and rng.random() < rr_frac
            else g2.make_sequence(rng, seq_len) for _ in range(bsz)]
    return torch.tensor(rows, dtype=torch.long)


# ---------------------------------------------------------------- attnscope's induction test


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


class Stream:
    """attnscope's splitmix64 stream (src/core/rng.rs)."""
    GOLDEN = 0x9E3779B97F4A7C15
    M = 0xFFFFFFFFFFFFFFFF

    def __init__(self, label, seed):
        self.state = fnv1a64(label.encode()) ^ ((seed * self.GOLDEN) & self.M)

    def next_u64(self):
        self.state = (self.state + self.GOLDEN) & self.M
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.M
        return z ^ (z >> 31)


def _rust_is_alphanumeric(c):
    # Rust char::is_alphanumeric = Alphabetic or Numeric (Nd, Nl, No). For the
    # Latin-1 / Latin Extended-A characters of the byte alphabet, Unicode letters
    # (L*) are exactly the Alphabetic ones.
    cat = unicodedata.category(c)
    return cat[0] == "L" or cat in ("Nd", "Nl", "No")


def app_induction_ids(tok, vocab_size, half=24, seed=1):
    """The token ids attnscope's induction test feeds a model without [CLS]/[SEP]."""
    vocab = min(tok.get_vocab_size(), vocab_size)
    cands = []
    for i in range(vocab):
        t = tok.id_to_token(i) or f"<{i}>"
        t = t.lstrip("Ġ▁")
        while t.startswith("##"):  # Rust trim_start_matches("##") strips every leading "##"
            t = t[2:]
        if t and all(_rust_is_alphanumeric(c) for c in t):
            cands.append(i)
    s = Stream("induction", seed)
    first = [cands[s.next_u64() % len(cands)] for _ in range(half)]
    return first + first, len(cands)


# ---------------------------------------------------------------- head scores (stats.rs)


def prev_scores(att):
    """att: [L, H, n, n] -> [L, H], mean_i A[i, i-1] over i = 1..n-1."""
    n = att.shape[-1]
    i = torch.arange(1, n)
    return att[:, :, i, i - 1].mean(-1)


def ind_scores(att, half):
    """att of [R R] -> [L, H], mean over t = 0..half-2 of A[half + t, t + 1]."""
    t = torch.arange(0, half - 1)
    return att[:, :, half + t, t + 1].mean(-1)


@torch.no_grad()
def attentions(model, ids):
    out = model(torch.tensor([ids]), output_attentions=True)
    return torch.stack([a[0] for a in out.attentions]), out.logits[0]


@torch.no_grad()
def heldout_scores(model, n_seqs=16, half=60, seed=1234):
    """Mean previous-token and induction scores over n_seqs [R R], R = `half`
    uniformly random bytes; also the loss on the 2nd copy (targets half+1..2half-1)."""
    g = torch.Generator().manual_seed(seed)
    prev = ind = 0
    copy_loss = 0.0
    for _ in range(n_seqs):
        r = torch.randint(0, 256, (half,), generator=g).tolist()
        att, logits = attentions(model, r + r)
        prev = prev + prev_scores(att)
        ind = ind + ind_scores(att, half)
        ids = torch.tensor(r + r)
        lp = torch.log_softmax(logits[half:-1], -1)
        copy_loss += -lp.gather(1, ids[half + 1:, None]).mean().item()
    return prev / n_seqs, ind / n_seqs, copy_loss / n_seqs


TEXT_CHECKS = g2.TEXT_CHECKS


@torch.no_grad()
def text_checks(model):
    L = model.config.num_hidden_layers
    rows = ["| text (written twice) | bytes | layer-0 prev-token scores | "
            f"layer-{L - 1} induction scores | copy accuracy |",
            "|---|---:|---|---|---:|"]
    for text in TEXT_CHECKS:
        b = list(text.encode("utf-8"))
        n = len(b)
        att, logits = attentions(model, b + b)
        prev = prev_scores(att)[0]
        ind = ind_scores(att, n)[L - 1]
        pred = logits.argmax(-1)[n:2 * n - 1]
        acc = (pred == torch.tensor(b[1:])).float().mean().item()
        shown = text.replace("|", "\\|")
        rows.append(f"| `{shown}` | {n} | {' '.join(f'{x:.2f}' for x in prev.tolist())} | "
                    f"{' '.join(f'{x:.2f}' for x in ind.tolist())} | {acc:.2f} |")
    return "\n".join(rows)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


# ---------------------------------------------------------------- main

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(os.path.dirname(here), "sample_models", "tiny-llama-induction")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=default_out)
    ap.add_argument("--steps", type=int, default=5000, help="length of the LR schedule (max steps)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=250)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--intermediate", type=int, default=344)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--max-positions", type=int, default=256)
    ap.add_argument("--stop-ind", type=float, default=0.8,
                    help="stop early once the best held-out induction score reaches this ...")
    ap.add_argument("--stop-prev", type=float, default=0.5,
                    help="... and the best held-out previous-token score reaches this (0 disables both)")
    ap.add_argument("--min-steps", type=int, default=0, help="no early stop before this step")
    ap.add_argument("--max-minutes", type=float, default=25.0, help="wall-time safety cap")
    ap.add_argument("--train-attn", choices=["sdpa", "eager"], default="sdpa",
                    help="attention kernel for training steps (evaluation always uses eager)")
    ap.add_argument("--embed-shared", type=float, default=0.1,
                    help="add one shared random vector (per-dim std) to every token embedding at init")
    ap.add_argument("--rr-frac", type=float, default=0.25,
                    help="fraction of training rows that are a repeated random segment (0 = the GPT-2 data only)")
    ap.add_argument("--copy-frac", type=float, default=0.25)
    ap.add_argument("--letters-frac", type=float, default=0.5)
    args = ap.parse_args()

    g2.COPY_FRAC = args.copy_frac
    g2.LETTERS_FRAC = args.letters_frac
    g2.LEXICON = g2.build_lexicon(args.seed)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    tok = g2.build_tokenizer()
    g2.check_tokenizer(tok)

    head_dim = args.hidden // args.heads
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=args.hidden, intermediate_size=args.intermediate,
        num_hidden_layers=args.layers, num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads, head_dim=head_dim, hidden_act="silu",
        max_position_embeddings=args.max_positions, initializer_range=0.02,
        rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        attention_bias=False, attention_dropout=0.0, mlp_bias=False,
        tie_word_embeddings=True, bos_token_id=EOT_ID, eos_token_id=EOT_ID, pad_token_id=None,
        use_cache=False,
    )
    assert args.seq_len <= config.max_position_embeddings
    model = LlamaForCausalLM(config)
    model.config._attn_implementation = args.train_attn
    assert model.lm_head.weight is model.model.embed_tokens.weight
    if args.embed_shared > 0:
        with torch.no_grad():
            c = torch.randn(config.hidden_size) * args.embed_shared
            model.model.embed_tokens.weight.add_(c)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"params: {nparams:,}", flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98))
    warmup = max(1, args.steps // 20)

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        t = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))

    model.train()
    t0 = time.time()
    ema = None
    history = []
    stop_reason = f"reached --steps {args.steps}"
    steps_done = 0
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        ids = batch(rng, args.batch, args.seq_len, args.rr_frac)
        loss = model(ids, labels=ids).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps_done = step + 1
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if steps_done % args.log_every == 0 or steps_done == args.steps:
            model.eval()
            model.config._attn_implementation = "eager"  # so output_attentions works
            prev, ind, cl = heldout_scores(model, n_seqs=4, seed=4321)
            model.config._attn_implementation = args.train_attn
            model.train()
            line = (f"step {steps_done:5d}  loss {loss.item():.4f}  ema {ema:.4f}  "
                    f"max prev {prev.max():.3f}  max ind {ind.max():.3f}  "
                    f"[R R] 2nd-copy loss {cl:.3f}  {time.time() - t0:.0f}s")
            history.append(line)
            print(line, flush=True)
            if (args.stop_ind > 0 and steps_done >= args.min_steps
                    and ind.max() >= args.stop_ind and prev.max() >= args.stop_prev):
                stop_reason = (f"early stop: max induction {ind.max():.3f} >= {args.stop_ind:g} and "
                               f"max previous-token {prev.max():.3f} >= {args.stop_prev:g} "
                               f"(4 check sequences)")
                break
        if time.time() - t0 > args.max_minutes * 60:
            stop_reason = f"wall-time cap --max-minutes {args.max_minutes:g} hit at step {steps_done}"
            break
    train_time = time.time() - t0
    last_loss = loss.item()
    print(stop_reason, flush=True)

    # ---------------- final evaluation on fresh data
    model.eval()
    model.config._attn_implementation = "eager"
    eval_rng = random.Random(args.seed + 1)
    with torch.no_grad():
        final_eval_loss = sum(model(b, labels=b).loss.item()
                              for b in (g2.batch(eval_rng, 16, args.seq_len) for _ in range(4))) / 4
        final_eval_loss_mix = sum(model(b, labels=b).loss.item()
                                  for b in (batch(eval_rng, 16, args.seq_len, args.rr_frac)
                                            for _ in range(4))) / 4
    prev, ind, copy_loss = heldout_scores(model)
    app_ids, n_cands = app_induction_ids(tok, VOCAB)
    app_att, _ = attentions(model, app_ids)
    app_prev, app_ind = prev_scores(app_att), ind_scores(app_att, 24)
    checks = text_checks(model)
    L, H = prev.shape
    group = H // args.kv_heads
    table = ["| layer.head | KV head | previous-token score | induction score | app test: previous-token | app test: induction |",
             "|---|---:|---:|---:|---:|---:|"]
    for layer in range(L):
        for h in range(H):
            table.append(f"| {layer}.{h} | {h // group} | {prev[layer, h]:.3f} | {ind[layer, h]:.3f} | "
                         f"{app_prev[layer, h]:.3f} | {app_ind[layer, h]:.3f} |")
    table = "\n".join(table)
    print(table)
    print(f"final train loss (last step) {last_loss:.4f}, ema {ema:.4f}, eval loss {final_eval_loss:.4f}, "
          f"2nd-copy loss on [R R] {copy_loss:.4f} (chance {math.log(256):.3f})")

    # ---------------- save
    os.makedirs(args.out, exist_ok=True)
    model.config._attn_implementation = "eager"
    model.save_pretrained(args.out, safe_serialization=True)
    for extra in ("generation_config.json",):
        p = os.path.join(args.out, extra)
        if os.path.exists(p):
            os.remove(p)
    tok.save(os.path.join(args.out, "tokenizer.json"))
    st_path = os.path.join(args.out, "model.safetensors")
    os.chmod(st_path, 0o644)
    tok2 = Tokenizer.from_file(os.path.join(args.out, "tokenizer.json"))
    g2.check_tokenizer(tok2)
    from safetensors import safe_open
    with safe_open(st_path, framework="pt") as f:
        keys = sorted(f.keys())
        dtypes = sorted({str(f.get_tensor(k).dtype) for k in keys})
    size = os.path.getsize(st_path)
    assert dtypes == ["torch.float32"], dtypes
    assert "model.layers.0.self_attn.q_proj.weight" in keys and "lm_head.weight" not in keys, keys
    assert size <= 2_000_000, size
    # the saved model must reproduce the scores
    re = LlamaForCausalLM.from_pretrained(args.out, attn_implementation="eager").eval()
    att2, _ = attentions(re, app_ids)
    assert torch.allclose(att2, app_att, atol=1e-6), (att2 - app_att).abs().max()

    shown = []  # the command as run, minus --out (it only chooses where to write)
    argv = sys.argv[1:]
    i = 0
    while i < len(argv):
        if argv[i] == "--out":
            i += 2
            continue
        if argv[i].startswith("--out="):
            i += 1
            continue
        shown.append(argv[i])
        i += 1
    cmd = "python3 tools/train_tiny_llama.py" + "".join(f" {shlex.quote(a)}" for a in shown)
    prev_sorted = sorted(((prev[l, h].item(), l, h) for l in range(L) for h in range(H)), reverse=True)
    ind_sorted = sorted(((ind[l, h].item(), l, h) for l in range(L) for h in range(H)), reverse=True)
    best_prev = prev_sorted[0]
    best_ind = ind_sorted[0]
    kv_w = config.num_key_value_heads * head_dim
    readme = f"""# tiny-llama-induction

A tiny causal **Llama-architecture** model (`LlamaForCausalLM`: {L} layers, {H} query heads over
{config.num_key_value_heads} key/value heads (grouped-query attention, {group} query heads per KV head), head_dim {head_dim},
hidden {config.hidden_size}, SwiGLU MLP with intermediate size {config.intermediate_size}, RMSNorm (eps 1e-5),
RoPE (theta 10000, no position embeddings), no biases, max_position_embeddings {config.max_position_embeddings},
vocab {VOCAB}, {nparams:,} parameters, fp32) trained from scratch on synthetic data so that it grows a
**previous-token head** and an **induction head**. Made by attnscope's `tools/train_tiny_llama.py`;
no pretrained weights were used. License: same as attnscope, MIT OR Apache-2.0.

It is the Llama counterpart of `sample_models/tiny-gpt2-induction`: same tokenizer, same kind of
training data, same head statistics.

## Files

| file | content |
| --- | --- |
| `config.json` | `LlamaConfig` (`model_type: llama`, `num_attention_heads: {H}`, `num_key_value_heads: {config.num_key_value_heads}`, `head_dim: {head_dim}`, `hidden_act: silu`, `rms_norm_eps: 1e-05`, `rope_parameters: {{rope_type: default, rope_theta: 10000.0}}`, `attention_bias: false`, `mlp_bias: false`, `tie_word_embeddings: true`) |
| `tokenizer.json` | identical to the tiny GPT-2 sample's: byte-level BPE (`tokenizers` library), model `BPE` with the 256 byte tokens (**id = byte value**, spelled in GPT-2's bytes-to-unicode alphabet) and **no merges**; `pre_tokenizer`, `decoder` and `post_processor` `ByteLevel`; one added special token `{EOT}` = {EOT_ID}. Any UTF-8 text (e.g. Chinese) encodes to its raw bytes and decodes back exactly. No BOS is added (none was used in training either). |
| `model.safetensors` | fp32, {size:,} bytes, {len(keys)} tensors with the standard `save_pretrained` names: `model.embed_tokens.weight` [{VOCAB}, {config.hidden_size}], per layer N `model.layers.N.input_layernorm.weight`, `model.layers.N.self_attn.{{q,k,v,o}}_proj.weight` (q [{H * head_dim}, {config.hidden_size}], k and v [{kv_w}, {config.hidden_size}], o [{config.hidden_size}, {H * head_dim}]; `nn.Linear` layout [out, in]), `model.layers.N.post_attention_layernorm.weight`, `model.layers.N.mlp.{{gate,up,down}}_proj.weight`, and `model.norm.weight`. `lm_head.weight` is tied to `model.embed_tokens.weight` and not stored. q/k are stored in the Hugging Face layout (RoPE rotates dimension d with d + {head_dim // 2} within each head, `rotate_half`). |

Query head h uses key/value head h // {group} (heads 0-{group - 1} share KV head 0, heads {group}-{2 * group - 1} KV head 1).

## Training

```sh
{cmd}
```

Token embeddings start as the usual N(0, 0.02) rows plus one shared random vector with
per-dimension std {args.embed_shared:g} (`--embed-shared`), then train normally: Llama has no position embeddings, and a
head attends by relative position (RoPE) only through a token-independent part of its queries and keys,
which with RMSNorm and no biases has to come from the embeddings.

Seed {args.seed}, 1 CPU thread, AdamW (lr {args.lr:g}, betas 0.9/0.98, weight decay 0.01 on matrices,
warm-up {warmup} steps then cosine towards 10% over a {args.steps}-step schedule, gradient clipping 1.0),
batch {args.batch} x {args.seq_len} tokens ({args.train_attn} attention kernel in training steps). Ran **{steps_done} steps** ({stop_reason}),
**{train_time:.0f} s** wall time (on a 2-core machine shared with other jobs).

Training data is synthetic, generated from the seed by the generator of `tools/train_tiny_gpt2.py`:
text in a made-up language of 400 random lowercase pseudo-words (Zipf frequencies), in which earlier
spans of 8-40 bytes are copied again later (p = {args.copy_frac:g} per event) and random segments of 10-30
letters/punctuation or arbitrary bytes are inserted and repeated after 0-4 words. In addition,
a fraction {args.rr_frac:g} of the training rows (`--rr-frac`) are a repeated random segment instead: with
probability 1/2 some 0-64 bytes of that text, then one random segment R of 10-60 letters/punctuation or
arbitrary bytes written again and again to the end of the row.

Final loss: **{last_loss:.4f}** (last training batch; EMA {ema:.4f}; {final_eval_loss_mix:.4f} on fresh held-out batches
of the training mix; {final_eval_loss:.4f} on fresh held-out batches of the GPT-2 sample's text alone, without the
repeated-segment rows).
Much of each sequence is unpredictable, so the loss cannot go near 0; on the second half of a repeated
random sequence `[R R]` (len(R) = 60 random bytes) the loss is **{copy_loss:.3f}** nats/token against
{math.log(256):.3f} for chance.

Progress log (scores on 4 check sequences `[R R]`):

```
""" + "\n".join(history) + f"""
```

## What the heads do

Statistics as attnscope defines them (`src/model/stats.rs`):

- previous-token score = mean over positions i >= 1 of attention(i -> i-1);
- induction score on `[R R]` with len(R) = m = mean over the second copy, t = 0..m-2, of
  attention(m+t -> t+1), the token right after the earlier occurrence of the current token.

"held-out" columns: mean over 16 sequences `[R R]`, R = 60 uniformly random bytes (120 tokens).
"app test" columns: the one sequence attnscope itself builds when the model is opened
(`induction_scores(model, 24, seed 1)`: 24 random "ordinary" tokens, here drawn from the
{n_cands} byte tokens whose spelling is alphanumeric, written twice, 48 tokens) - these are the
numbers the app's statistics table should show (up to float rounding).

{table}

- **Previous-token head: {best_prev[1]}.{best_prev[2]}** (layer {best_prev[1]}, head {best_prev[2]}), previous-token score **{best_prev[0]:.3f}** (app test {app_prev[best_prev[1], best_prev[2]]:.3f}).
- **Induction head: {best_ind[1]}.{best_ind[2]}** (layer {best_ind[1]}, head {best_ind[2]}), induction score **{best_ind[0]:.3f}** (app test {app_ind[best_ind[1], best_ind[2]]:.3f}).
- Top previous-token heads: {", ".join(f"{l}.{h} ({s:.3f})" for s, l, h in prev_sorted[:3])}.
- Top induction heads: {", ".join(f"{l}.{h} ({s:.3f})" for s, l, h in ind_sorted[:3])}.

(Heads are numbered from 0. A head attending uniformly to all earlier positions would score about 0.04
(previous-token) and 0.01 (induction) on the held-out sequences.)

On ordinary text written twice (same statistics; heads listed 0-{H - 1}; copy accuracy = greedy
next-byte prediction correct on the second copy):

{checks}

## sha256

```
"""
    readme_tail = "```\n"
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(readme)
        for name in ("config.json", "model.safetensors", "tokenizer.json"):
            f.write(f"{sha256(os.path.join(args.out, name))}  {name}\n")
        f.write(readme_tail)
    print(f"wrote {args.out} ({size} bytes model.safetensors, {len(keys)} tensors)")
    for name in ("config.json", "model.safetensors", "tokenizer.json", "README.md"):
        p = os.path.join(args.out, name)
        print(f"  {os.path.getsize(p):>9,}  {sha256(p)}  {name}")


if __name__ == "__main__":
    main()
