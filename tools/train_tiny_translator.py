#!/usr/bin/env python3
"""Train a tiny English -> Chinese translator (Hugging Face BART architecture,
`BartForConditionalGeneration`) from scratch on synthetic pairs whose alignment
is known, for attnscope's sample models (sample_models/tiny-translator/).

Two tasks, mixed half and half in every batch:
  * dates:   "March 5, 2021" or "5 March 2021"  ->  "2021年3月5日"
             (all 12 months, days valid for the month and year (leap years),
             years 1900-2099; the year moves to the front);
  * numbers: English number words -> Chinese numerals, 0-9999, British "and":
             "three hundred and twelve" -> "三百一十二", "forty-two" -> "四十二",
             "one thousand and five" -> "一千零五", "ten" -> "十",
             "fifteen" -> "十五" (but "one hundred and fifteen" -> "一百一十五"),
             one 零 for skipped places, trailing zero places dropped, 二 (not 两).

The generator knows which source span every target character comes from:
  dates:   year digits and 年 <- the year ("2021"), month digits and 月 <- the
           month word ("March"), day digits and 日 <- the day digits ("5");
  numbers: a digit character <- its English word ("three" for 三 in 三百,
           "forty" for 四 and 十 in 四十二, "two" for its 二, "twelve" for
           一, 十 and 二 in 一百一十二), 千 <- "thousand", 百 <- "hundred",
           零 <- "and" (a 零 is written exactly when a place is skipped, which
           in English is exactly when "and" follows "thousand"/"hundred" with a
           smaller remainder) or "zero".
From these spans the script computes, for every decoder layer and head, the mean
share of cross-attention mass that a target character puts on its aligned
source span (held-out test set, teacher forcing with the reference target,
eager attention, output_attentions=True). Two conventions are reported:
  "generating" = the decoder row that *predicts* the character (its input is the
                 previous character, or decoder_start for the first one): the
                 classic NMT alignment;
  "reading"    = the decoder row whose *input* is the character.

Tokenizer (tokenizers library, written to tokenizer.json): character level, model
WordLevel over single characters, specials <s>=0 <pad>=1 </s>=2 <unk>=3 (BART's
ids), normalizer Replace(" " -> "▁"), pre-tokenizer Split(Regex("."),
isolated) so that every character is one token, post-processor
TemplateProcessing "<s> $A </s>", decoder Replace("▁" -> " ") + Fuse.

Decoding convention (BART's): the source is `<s> chars </s>`; labels are the
target characters + `</s>` (no `<s>`); decoder input = shift_tokens_right(labels)
= [</s>=2, chars...] (decoder_start_token_id = 2); greedy generate() returns
[2, chars..., 2].

Held-out data: the numbers 0-99 are all in training (they are the task's
vocabulary); an eval set (early stopping) and a disjoint test set (final report)
are drawn from 100-999 and 1000-9999 and from random dates, and none of their
pairs is ever a training pair.

Training stops once greedy exact match on the eval set reaches --stop-acc on both
tasks (checked every --log-every steps), at --steps, or at --max-minutes.

Usage:
  python3 tools/train_tiny_translator.py                 # reproduces the sample
  python3 tools/train_tiny_translator.py --steps 50 --out /tmp/tt   # smoke test
"""
import argparse
import calendar
import hashlib
import json
import math
import os
import random
import shlex
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors  # noqa: E402
from transformers import BartConfig, BartForConditionalGeneration  # noqa: E402

BOS, PAD, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
SPACE = "▁"

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
         "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ZH_DIGITS = "零一二三四五六七八九"
ZH_CHARS = ZH_DIGITS + "十百千年月日"


# ---------------------------------------------------------------- data

def date_pair(month, day, year, fmt):
    """Returns (source, target, spans); spans[k] = (start, end) source char span of target char k."""
    mword = MONTHS[month - 1]
    d, y = str(day), str(year)
    if fmt == "mdy":  # March 5, 2021
        src = f"{mword} {d}, {y}"
        m0, d0 = 0, len(mword) + 1
        y0 = d0 + len(d) + 2
    else:  # 5 March 2021
        src = f"{d} {mword} {y}"
        d0, m0 = 0, len(d) + 1
        y0 = m0 + len(mword) + 1
    ys, ms, ds = (y0, y0 + 4), (m0, m0 + len(mword)), (d0, d0 + len(d))
    assert src[ys[0]:ys[1]] == y and src[ms[0]:ms[1]] == mword and src[ds[0]:ds[1]] == d
    tgt = f"{y}年{month}月{d}日"
    spans = [ys] * 5 + [ms] * (len(str(month)) + 1) + [ds] * (len(d) + 1)
    assert len(spans) == len(tgt)
    return src, tgt, spans


def number_pair(n):
    """English words (British "and") and Chinese numerals for 0 <= n <= 9999, with spans."""
    assert 0 <= n <= 9999
    words = []  # (text, separator before it)
    tgt = []  # (chinese char, index into words)

    def w(text, sep=" "):
        words.append((text, sep if words else ""))
        return len(words) - 1

    if n == 0:
        tgt.append(("零", w("zero")))
    th, h, rest = n // 1000, (n // 100) % 10, n % 100
    if th:
        tgt.append((ZH_DIGITS[th], w(ONES[th])))
        tgt.append(("千", w("thousand")))
    if h:
        tgt.append((ZH_DIGITS[h], w(ONES[h])))
        tgt.append(("百", w("hundred")))
    if rest:
        leading = not (th or h)
        if not leading:
            i_and = w("and")
            if (th and not h) or (h and rest < 10):
                tgt.append(("零", i_and))
        if rest < 10:
            tgt.append((ZH_DIGITS[rest], w(ONES[rest])))
        elif rest < 20:
            i = w(TEENS[rest - 10])
            if not leading:
                tgt.append(("一", i))
            tgt.append(("十", i))
            if rest > 10:
                tgt.append((ZH_DIGITS[rest - 10], i))
        else:
            t, u = divmod(rest, 10)
            i = w(TENS[t])
            tgt.append((ZH_DIGITS[t], i))
            tgt.append(("十", i))
            if u:
                tgt.append((ZH_DIGITS[u], w(ONES[u], sep="-")))
    src = ""
    starts = []
    for text, sep in words:
        src += sep
        starts.append(len(src))
        src += text
    spans = [(starts[i], starts[i] + len(words[i][0])) for _, i in tgt]
    return src, "".join(c for c, _ in tgt), spans


def random_date(rng):
    year = rng.randint(1900, 2099)
    month = rng.randint(1, 12)
    day = rng.randint(1, calendar.monthrange(year, month)[1])
    fmt = rng.choice(["mdy", "dmy"])
    return (month, day, year, fmt)


def number_band(rng):
    r = rng.random()
    if r < 0.1:
        return rng.randint(0, 99)
    if r < 0.4:
        return rng.randint(100, 999)
    return rng.randint(1000, 9999)


def make_splits(seed, n_eval, n_test):
    """Disjoint eval and test sets (keys) per task; training never uses them."""
    rng = random.Random(seed + 1000)
    # numbers: a quarter of each held-out set from 100-999, the rest from 1000-9999
    three = rng.sample(range(100, 1000), (n_eval + n_test) // 4)
    four = rng.sample(range(1000, 10000), (n_eval + n_test) - len(three))
    e3, e4 = n_eval // 4, n_eval - n_eval // 4
    num_eval = three[:e3] + four[:e4]
    num_test = three[e3:] + four[e4:]
    dates = []
    seen = set()
    while len(dates) < n_eval + n_test:
        k = random_date(rng)
        if k not in seen:
            seen.add(k)
            dates.append(k)
    return {"dates": (dates[:n_eval], dates[n_eval:]), "numbers": (num_eval, num_test)}


def pair_of(task, key):
    return date_pair(*key) if task == "dates" else number_pair(key)


# ---------------------------------------------------------------- tokenizer

def build_vocab():
    chars = [SPACE, ",", "-"] + [str(i) for i in range(10)]
    chars += [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    chars += [chr(c) for c in range(ord("a"), ord("z") + 1)]
    chars += list(ZH_CHARS)
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for c in chars:
        assert c not in vocab
        vocab[c] = len(vocab)
    return vocab


def build_tokenizer():
    vocab = build_vocab()
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Replace(" ", SPACE)
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Sequence([decoders.Replace(SPACE, " "), decoders.Fuse()])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", BOS), ("</s>", EOS)])
    tok.add_special_tokens(SPECIALS)
    return tok, vocab


def check_tokenizer(tok, vocab):
    enc = tok.encode("March 5, 2021")
    assert enc.tokens == ["<s>", "M", "a", "r", "c", "h", SPACE, "5", ",", SPACE,
                          "2", "0", "2", "1", "</s>"], enc.tokens
    enc = tok.encode("2021年3月5日", add_special_tokens=False)
    assert enc.tokens == list("2021年3月5日"), enc.tokens
    for text in ["March 5, 2021", "5 March 2021", "three hundred and twelve", "forty-two",
                 "一千零五", "2099年12月31日", "The quick brown fox"]:
        ids = tok.encode(text).ids
        assert len(ids) == len(text) + 2 and ids[0] == BOS and ids[-1] == EOS, (text, ids)
        assert UNK not in ids, text
        assert ids[1:-1] == [vocab[SPACE if c == " " else c] for c in text], text
        assert tok.decode(ids) == text, (text, tok.decode(ids))
        assert tok.decode(ids, skip_special_tokens=False).endswith("</s>")
    assert tok.encode("é").ids == [BOS, UNK, EOS]


def encode_chars(vocab, text):
    return [vocab[SPACE if c == " " else c] for c in text]


# ---------------------------------------------------------------- batches

def collate(vocab, pairs):
    """pairs: [(src, tgt)] -> input_ids, attention_mask, labels (-100 padded)."""
    srcs = [[BOS] + encode_chars(vocab, s) + [EOS] for s, _ in pairs]
    tgts = [encode_chars(vocab, t) + [EOS] for _, t in pairs]
    ns, nt = max(map(len, srcs)), max(map(len, tgts))
    ids = torch.full((len(pairs), ns), PAD, dtype=torch.long)
    mask = torch.zeros((len(pairs), ns), dtype=torch.long)
    labels = torch.full((len(pairs), nt), -100, dtype=torch.long)
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
        labels[i, :len(t)] = torch.tensor(t)
    return ids, mask, labels


def train_batch(rng, vocab, bsz, held):
    pairs = []
    for i in range(bsz):
        task = "dates" if i < bsz // 2 else "numbers"
        while True:
            key = random_date(rng) if task == "dates" else number_band(rng)
            if key not in held[task]:
                break
        src, tgt, _ = pair_of(task, key)
        pairs.append((src, tgt))
    return collate(vocab, pairs)


# ---------------------------------------------------------------- evaluation

@torch.no_grad()
def greedy(model, vocab, sources, bsz=200, max_new_tokens=24):
    """Batched greedy generation (eval during training); returns the id lists."""
    out = []
    for i in range(0, len(sources), bsz):
        ids, mask, _ = collate(vocab, [(s, "") for s in sources[i:i + bsz]])
        gen = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, num_beams=1,
                             max_new_tokens=max_new_tokens)
        out += gen.tolist()
    return out


def ids_to_text(tok, ids):
    return tok.decode(ids, skip_special_tokens=True)


def exact_match(model, tok, vocab, task, keys, single=False):
    pairs = [pair_of(task, k) for k in keys]
    if single:  # one example at a time, exactly like attnscope / the fixtures
        gens = []
        for src, _, _ in pairs:
            x = torch.tensor([tok.encode(src).ids])
            with torch.no_grad():
                gens.append(model.generate(input_ids=x, do_sample=False, num_beams=1,
                                           max_new_tokens=24)[0].tolist())
    else:
        gens = greedy(model, vocab, [p[0] for p in pairs])
    texts = [ids_to_text(tok, g) for g in gens]
    ok = [t == p[1] for t, p in zip(texts, pairs)]
    wrong = [(p[0], p[1], t) for t, p, o in zip(texts, pairs, ok) if not o]
    return sum(ok) / len(ok), wrong, gens


def span_category(task, tgt, k):
    """Kind of alignment of target char k (for the per-kind table)."""
    if task == "dates":
        i_nian, i_yue = tgt.index("年"), tgt.index("月")
        return "year" if k <= i_nian else ("month" if k <= i_yue else "day")
    c = tgt[k]
    return {"十": "十", "百": "百", "千": "千", "零": "零"}.get(c, "digit")


CATEGORIES = [("dates", "year"), ("dates", "month"), ("dates", "day"), ("numbers", "digit"),
              ("numbers", "十"), ("numbers", "百"), ("numbers", "千"), ("numbers", "零")]


@torch.no_grad()
def alignment_stats(model, vocab, task, keys, bsz=100):
    """Cross-attention alignment per decoder [layer, head], over the given held-out pairs.

    Returns a dict: gen / read = mean share of the row on the aligned source span ([L, H]),
    argmax = fraction of "generating" rows whose largest weight is inside the span, n = number
    of target chars, baseline = the share a uniform head would put on the span (mean of span
    length / source length incl. specials), cat = {category: (mean gen share [L, H], count)}."""
    L = model.config.decoder_layers
    H = model.config.decoder_attention_heads
    gen_sum = torch.zeros(L, H, dtype=torch.float64)
    read_sum = torch.zeros(L, H, dtype=torch.float64)
    arg_sum = torch.zeros(L, H, dtype=torch.float64)
    cat_sum, cat_n = {}, {}
    base_sum = 0.0
    n = 0
    for i in range(0, len(keys), bsz):
        triples = [pair_of(task, k) for k in keys[i:i + bsz]]
        ids, mask, labels = collate(vocab, [(s, t) for s, t, _ in triples])
        out = model(input_ids=ids, attention_mask=mask, labels=labels, output_attentions=True)
        cross = torch.stack(out.cross_attentions, 1).double()  # [B, L, H, T, S]
        for b, (src, tgt, spans) in enumerate(triples):
            n_src = len(src) + 2
            for k, (s0, s1) in enumerate(spans):
                # source char c is token c + 1 (<s> first)
                g = cross[b, :, :, k, s0 + 1:s1 + 1].sum(-1)
                gen_sum += g
                read_sum += cross[b, :, :, k + 1, s0 + 1:s1 + 1].sum(-1)
                am = cross[b, :, :, k, :n_src].argmax(-1)
                arg_sum += ((am >= s0 + 1) & (am < s1 + 1)).double()
                c = span_category(task, tgt, k)
                cat_sum[c] = cat_sum.get(c, 0) + g
                cat_n[c] = cat_n.get(c, 0) + 1
                base_sum += (s1 - s0) / n_src
                n += 1
    return {"gen": gen_sum / n, "read": read_sum / n, "argmax": arg_sum / n, "n": n,
            "baseline": base_sum / n, "cat": {c: (cat_sum[c] / cat_n[c], cat_n[c]) for c in cat_sum}}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


# ---------------------------------------------------------------- main

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(os.path.dirname(here), "sample_models", "tiny-translator")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=default_out)
    ap.add_argument("--steps", type=int, default=4000, help="length of the LR schedule (max steps)")
    ap.add_argument("--batch", type=int, default=96, help="half dates, half numbers")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=250)
    ap.add_argument("--d-model", type=int, default=96)
    ap.add_argument("--ffn", type=int, default=192)
    ap.add_argument("--layers", type=int, default=2, help="encoder layers = decoder layers")
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--max-positions", type=int, default=64)
    ap.add_argument("--dropout", type=float, default=0.0, help="dropout while training (saved config: 0)")
    ap.add_argument("--n-eval", type=int, default=300, help="eval-set size per task (early stopping)")
    ap.add_argument("--n-test", type=int, default=600, help="test-set size per task (final report)")
    ap.add_argument("--stop-acc", type=float, default=1.0,
                    help="stop once eval exact match reaches this on both tasks (0 disables)")
    ap.add_argument("--max-minutes", type=float, default=25.0, help="wall-time safety cap")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    tok, vocab = build_tokenizer()
    check_tokenizer(tok, vocab)
    splits = make_splits(args.seed, args.n_eval, args.n_test)
    held = {t: set(splits[t][0]) | set(splits[t][1]) for t in splits}
    assert not held["numbers"] & set(range(100)), "0-99 stay in training"
    for t in splits:
        assert not set(splits[t][0]) & set(splits[t][1])

    # longest source: "seven thousand seven hundred and seventy-seven" (+ <s> </s>)
    longest = max(len(number_pair(n)[0]) for n in range(10000)) + 2
    assert longest <= args.max_positions, longest

    config = BartConfig(
        vocab_size=len(vocab), max_position_embeddings=args.max_positions,
        d_model=args.d_model, encoder_layers=args.layers, decoder_layers=args.layers,
        encoder_attention_heads=args.heads, decoder_attention_heads=args.heads,
        encoder_ffn_dim=args.ffn, decoder_ffn_dim=args.ffn, activation_function="gelu",
        dropout=args.dropout, attention_dropout=0.0, activation_dropout=0.0,
        encoder_layerdrop=0.0, decoder_layerdrop=0.0, init_std=0.02, scale_embedding=False,
        pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS, decoder_start_token_id=EOS,
        forced_bos_token_id=None, forced_eos_token_id=None, is_encoder_decoder=True,
        tie_word_embeddings=True, use_cache=True,
    )
    model = BartForConditionalGeneration(config)
    gc = model.generation_config
    gc.forced_bos_token_id = None
    gc.forced_eos_token_id = None
    gc.no_repeat_ngram_size = 0
    gc.num_beams = 1
    gc.do_sample = False
    gc.decoder_start_token_id = EOS
    gc.bos_token_id, gc.eos_token_id, gc.pad_token_id = BOS, EOS, PAD
    model.config._attn_implementation = "sdpa"
    assert model.lm_head.weight is model.model.shared.weight
    nparams = sum(p.numel() for p in model.parameters())
    print(f"params: {nparams:,}  vocab {len(vocab)}  longest source {longest} tokens", flush=True)

    decay = [p for _, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for _, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98))
    warmup = max(1, args.steps // 30)

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        t = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))

    def evaluate_eval():
        model.eval()
        accs = {t: exact_match(model, tok, vocab, t, splits[t][0])[0] for t in ("dates", "numbers")}
        model.train()
        return accs

    model.train()
    t0 = time.time()
    ema = None
    history = []
    stop_reason = f"reached --steps {args.steps}"
    steps_done = 0
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        ids, mask, labels = train_batch(rng, vocab, args.batch, held)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps_done = step + 1
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if steps_done % args.log_every == 0 or steps_done == args.steps:
            accs = evaluate_eval()
            line = (f"step {steps_done:5d}  loss {loss.item():.4f}  ema {ema:.4f}  "
                    f"eval exact match: dates {accs['dates']:.3f}  numbers {accs['numbers']:.3f}  "
                    f"{time.time() - t0:.0f}s")
            history.append(line)
            print(line, flush=True)
            if args.stop_acc > 0 and min(accs.values()) >= args.stop_acc:
                stop_reason = (f"early stop: eval exact match dates {accs['dates']:.3f} and numbers "
                               f"{accs['numbers']:.3f} >= {args.stop_acc:g}")
                break
        if time.time() - t0 > args.max_minutes * 60:
            stop_reason = f"wall-time cap --max-minutes {args.max_minutes:g} hit at step {steps_done}"
            break
    train_time = time.time() - t0
    last_loss = loss.item()
    print(stop_reason, flush=True)

    # ---------------- save (dropout 0 in the saved config)
    for k in ("dropout", "attention_dropout", "activation_dropout"):
        setattr(model.config, k, 0.0)
    model.config._attn_implementation = "eager"
    model.eval()
    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    tok.save(os.path.join(args.out, "tokenizer.json"))
    st_path = os.path.join(args.out, "model.safetensors")
    os.chmod(st_path, 0o644)
    tok = Tokenizer.from_file(os.path.join(args.out, "tokenizer.json"))
    check_tokenizer(tok, vocab)

    from safetensors import safe_open
    with safe_open(st_path, framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    size = os.path.getsize(st_path)
    assert {str(t.dtype) for t in tensors.values()} == {"torch.float32"}
    assert size <= 3_000_000, size

    # ---------------- final evaluation: a fresh from_pretrained, one example at a time
    re = BartForConditionalGeneration.from_pretrained(args.out, attn_implementation="eager",
                                                      dtype=torch.float32).eval()
    assert re.config.dropout == 0.0 and re.generation_config.forced_eos_token_id is None
    results = {}
    for task in ("dates", "numbers"):
        acc, wrong, _ = exact_match(re, tok, vocab, task, splits[task][1], single=True)
        results[task] = (acc, wrong)
        print(f"test {task}: exact match {acc:.4f} ({len(splits[task][1])} examples)", flush=True)
        for w in wrong[:10]:
            print("   wrong:", w)
    small_acc, small_wrong, _ = exact_match(re, tok, vocab, "numbers", list(range(100)), single=True)
    print(f"0-99 (all in training): {small_acc:.3f}", small_wrong[:5])
    with torch.no_grad():
        tl = {}
        for task in ("dates", "numbers"):
            pairs = [pair_of(task, k) for k in splits[task][1]]
            ids, mask, labels = collate(vocab, [(s, t) for s, t, _ in pairs])
            tl[task] = re(input_ids=ids, attention_mask=mask, labels=labels).loss.item()
    align = {t: alignment_stats(re, vocab, t, splits[t][1]) for t in ("dates", "numbers")}

    L, H = config.decoder_layers, config.decoder_attention_heads
    heads = [(l, h) for l in range(L) for h in range(H)]
    table = ["| decoder layer.head | dates: generating | numbers: generating | both: generating | "
             "both: argmax in span | dates: reading | numbers: reading |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    both = {}
    for lh in heads:
        ad, an = align["dates"], align["numbers"]
        gd, gn = ad["gen"][lh].item(), an["gen"][lh].item()
        both[lh] = (gd + gn) / 2
        arg = (ad["argmax"][lh].item() + an["argmax"][lh].item()) / 2
        table.append(f"| {lh[0]}.{lh[1]} | {gd:.3f} | {gn:.3f} | **{both[lh]:.3f}** | {arg:.3f} | "
                     f"{ad['read'][lh].item():.3f} | {an['read'][lh].item():.3f} |")
    table = "\n".join(table)
    print(table)
    cat_table = ["| target chars <- source span | n | " + " | ".join(f"{l}.{h}" for l, h in heads) + " |",
                 "|---|---:|" + "---:|" * len(heads)]
    cat_names = {("dates", "year"): "dates: year digits, 年 <- year",
                 ("dates", "month"): "dates: month digits, 月 <- month word",
                 ("dates", "day"): "dates: day digits, 日 <- day",
                 ("numbers", "digit"): "numbers: digit <- its word",
                 ("numbers", "十"): "numbers: 十 <- ten/teen/tens word",
                 ("numbers", "百"): "numbers: 百 <- hundred",
                 ("numbers", "千"): "numbers: 千 <- thousand",
                 ("numbers", "零"): "numbers: 零 <- and / zero"}
    for task, c in CATEGORIES:
        if c not in align[task]["cat"]:
            continue
        m, cnt = align[task]["cat"][c]
        best = max(heads, key=lambda lh: m[lh].item())
        cells = [(f"**{m[lh].item():.2f}**" if lh == best else f"{m[lh].item():.2f}") for lh in heads]
        cat_table.append(f"| {cat_names[(task, c)]} | {cnt} | " + " | ".join(cells) + " |")
    cat_table = "\n".join(cat_table)
    print(cat_table)
    ranked = sorted(both.items(), key=lambda kv: -kv[1])
    (bl, bh), bscore = ranked[0]
    bd = max(heads, key=lambda lh: align["dates"]["gen"][lh].item())
    bn = max(heads, key=lambda lh: align["numbers"]["gen"][lh].item())

    examples_src = ["March 5, 2021", "5 March 2021", "December 31, 1999", "29 February 2000",
                    "three hundred and twelve", "forty-two", "seven", "one thousand and five",
                    "ten", "fifteen", "one hundred and fifteen", "nine thousand nine hundred and ninety-nine",
                    "two thousand and twenty-four", "zero"]
    examples = []
    for src in examples_src:
        x = torch.tensor([tok.encode(src).ids])
        with torch.no_grad():
            g = re.generate(input_ids=x, do_sample=False, num_beams=1, max_new_tokens=24)[0].tolist()
        examples.append((src, ids_to_text(tok, g), g))
    for task in ("dates", "numbers"):
        for k in splits[task][1][:3]:
            src, tgt, _ = pair_of(task, k)
            x = torch.tensor([tok.encode(src).ids])
            with torch.no_grad():
                g = re.generate(input_ids=x, do_sample=False, num_beams=1, max_new_tokens=24)[0].tolist()
            examples.append((src + " (test)", ids_to_text(tok, g), g))
    for e in examples:
        print("  ", e[0], "->", e[1])

    # ---------------- README
    shown = []
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
    cmd = "python3 tools/train_tiny_translator.py" + "".join(f" {shlex.quote(a)}" for a in shown)
    d, f_ = config.d_model, config.encoder_ffn_dim
    shapes = {}
    for k, t in tensors.items():
        shapes[k] = list(t.shape)
    shared_keys = sorted(k for k in tensors if "embed_tokens" in k or "shared" in k or "lm_head" in k)
    other_top = sorted(k for k in tensors if not k.startswith("model.encoder.layers")
                       and not k.startswith("model.decoder.layers"))
    top_lines = "\n".join(f"| `{k}` | {shapes[k]} |" for k in other_top)
    enc0 = sorted(k[len("model.encoder.layers.0."):] for k in tensors if k.startswith("model.encoder.layers.0."))
    dec0 = sorted(k[len("model.decoder.layers.0."):] for k in tensors if k.startswith("model.decoder.layers.0."))
    enc_lines = "\n".join(f"| `model.encoder.layers.N.{k}` | {shapes['model.encoder.layers.0.' + k]} |" for k in enc0)
    dec_lines = "\n".join(f"| `model.decoder.layers.N.{k}` | {shapes['model.decoder.layers.0.' + k]} |" for k in dec0)
    gen_cfg_exists = os.path.exists(os.path.join(args.out, "generation_config.json"))
    vocab_line = ", ".join(f"`{c}`={i}" for c, i in vocab.items()
                          if c in (SPACE, ",", "-", "0", "9", "A", "Z", "a", "z") or c in ZH_CHARS[:1] or c in "日")
    ex_lines = "\n".join(f"| `{s}` | {t} | `{g}` |" for s, t, g in examples)
    wrong_lines = []
    for task in ("dates", "numbers"):
        for w in results[task][1][:5]:
            wrong_lines.append(f"- {task}: `{w[0]}` -> `{w[2]}` (reference `{w[1]}`)")
    wrong_text = ("Test-set errors (up to 5 per task):\n\n" + "\n".join(wrong_lines)) if wrong_lines \
        else "No test-set errors."
    ranked_text = ", ".join(f"{l}.{h} ({s:.3f})" for (l, h), s in ranked[:4])
    nd, nn_ = align["dates"]["n"], align["numbers"]["n"]
    bd_txt = f"{bd[0]}.{bd[1]} ({align['dates']['gen'][bd].item():.3f})"
    bn_txt = f"{bn[0]}.{bn[1]} ({align['numbers']['gen'][bn].item():.3f})"
    b_arg = (align["dates"]["argmax"][bl, bh].item() + align["numbers"]["argmax"][bl, bh].item()) / 2
    files = ["config.json"] + (["generation_config.json"] if gen_cfg_exists else []) + \
        ["model.safetensors", "tokenizer.json"]
    readme = f"""# tiny-translator

A tiny English -> Chinese translator with the **BART architecture** (`BartForConditionalGeneration`,
`model_type: bart`: {config.encoder_layers} encoder + {config.decoder_layers} decoder layers, {H} heads (head_dim {d // H}), d_model {d},
FFN {f_} (GELU), learned positions (max_position_embeddings {config.max_position_embeddings}), post-norm, `layernorm_embedding`,
`scale_embedding: false`, shared (tied) token embeddings, vocab {len(vocab)} characters, {nparams:,} parameters, fp32)
trained from scratch on synthetic pairs whose alignment is known:

- dates: `March 5, 2021` or `5 March 2021` -> `2021年3月5日` (the year moves to the front);
- numbers 0-9999: `three hundred and twelve` -> `三百一十二`, `forty-two` -> `四十二`,
  `one thousand and five` -> `一千零五`, `fifteen` -> `十五`.

Made by attnscope's `tools/train_tiny_translator.py`; trained from scratch, no pretrained weights.
License: same as attnscope, MIT OR Apache-2.0.

## Files

| file | content |
| --- | --- |
| `config.json` | `BartConfig` via `save_pretrained` (`d_model: {d}`, `encoder_layers`/`decoder_layers: {config.encoder_layers}`, `encoder_attention_heads`/`decoder_attention_heads: {H}`, `encoder_ffn_dim`/`decoder_ffn_dim: {f_}`, `activation_function: gelu`, `max_position_embeddings: {config.max_position_embeddings}`, `scale_embedding: false`, `pad_token_id: 1`, `bos_token_id: 0`, `eos_token_id: 2`, `decoder_start_token_id: 2`, `forced_eos_token_id: null` (no `forced_bos_token_id`), `tie_word_embeddings: true`, all dropouts 0.0) |
| `generation_config.json` | {"written by `save_pretrained`: plain greedy (`num_beams: 1`, `do_sample: false`, `decoder_start_token_id: 2`, `eos_token_id: 2`, `pad_token_id: 1`, no forced BOS/EOS, no `no_repeat_ngram_size`)" if gen_cfg_exists else "not written"} |
| `tokenizer.json` | character level (see below), {len(vocab)} tokens |
| `model.safetensors` | fp32, {size:,} bytes, {len(tensors)} tensors (standard `save_pretrained` names, `nn.Linear` layout [out, in]) |

Tensors (N = layer 0..{config.encoder_layers - 1}):

| tensor | shape |
| --- | --- |
{top_lines}
{enc_lines}
{dec_lines}

Stored embedding keys: {", ".join(f"`{k}`" for k in shared_keys)}. `lm_head.weight` and the
encoder/decoder `embed_tokens.weight` are tied to `model.shared.weight` (whatever of them is missing from
the file is that same matrix). `final_logits_bias` [1, {len(vocab)}] is a buffer (all zeros here) added to the logits.
Position embeddings have {config.max_position_embeddings} + 2 rows: BART looks up row `position + 2`
(rows 0 and 1 are never used).

## Tokenizer

`tokenizers` library, character level: model `WordLevel` whose vocabulary is single characters:
specials `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3 (BART's ids), then `▁` (space), `,`, `-`, the digits,
`A`-`Z`, `a`-`z` and `{ZH_CHARS}` (ids: {vocab_line}). Normalizer `Replace(" " -> "▁")`,
pre-tokenizer `Split(Regex("."), behavior=isolated)` (every character is one token),
post-processor `TemplateProcessing` `<s> $A </s>`, decoder `Replace("▁" -> " ")` + `Fuse` (characters
joined without spaces). `encode("March 5, 2021").tokens` = `<s> M a r c h ▁ 5 , ▁ 2 0 2 1 </s>`;
Chinese text is one token per character. Any other character is `<unk>`.

## Decoding convention

- Encoder input: `<s> source characters </s>` (the tokenizer's post-processor adds both).
- Training labels: target characters + `</s>` (no `<s>`); decoder input = `shift_tokens_right(labels)` =
  `</s>` (id 2, `decoder_start_token_id`) followed by the target characters.
- At step 0 the decoder sees `[2]` and predicts the first target character (e.g. `2` of the year);
  generation stops when `</s>` (2) is produced. `generate(input_ids, do_sample=False, num_beams=1)`
  returns `[2, chars..., 2]`, e.g. `March 5, 2021` -> `{examples[0][2]}` = `{examples[0][1]}`.
  `<s>` never occurs in the labels (and was never generated on the test set).
- Reference fixtures for other implementations (attentions, hidden states, logits, greedy ids
  from transformers): `tests/fixtures/models/tiny-translator__*.json`, written by
  `tools/make_encdec_fixtures.py`.

## Training

```sh
{cmd}
```

Seed {args.seed}, 1 CPU thread, AdamW (lr {args.lr:g}, betas 0.9/0.98, weight decay 0.01 on matrices,
warm-up {warmup} steps then cosine towards 5% over a {args.steps}-step schedule, gradient clipping 1.0),
batch {args.batch} ({args.batch // 2} dates + {args.batch - args.batch // 2} numbers, fresh random pairs every step),
dropout {args.dropout:g} while training (0 in the saved config), sdpa attention in training steps.
Ran **{steps_done} steps** ({stop_reason}), **{train_time:.0f} s** wall time (2-core machine shared with other jobs).
Final loss: **{last_loss:.3g}** (last training batch; EMA {ema:.3g}; test set, teacher-forced: dates {tl['dates']:.3g},
numbers {tl['numbers']:.3g}; nats per target token incl. the final `</s>`).

Determinism: the data come from `random.Random(seed)` and the initial weights from
`torch.manual_seed(seed)`; with the same torch/transformers versions and 1 thread the run is
repeatable (when this sample was made, two runs of the command above wrote byte-identical
`model.safetensors`).

Data (generated from the seed): dates with a random year 1900-2099, month and valid day (leap years
respected), format `March 5, 2021` or `5 March 2021` with equal probability; numbers drawn 10% from 0-99,
30% from 100-999, 60% from 1000-9999, written with British "and" (`one thousand and five`,
`two thousand three hundred and forty-five`) and hyphenated tens (`forty-two`). Chinese: `十五` at the
start, `一十` inside (`一百一十五`), one `零` per skipped place (`一千零五`, `一千零五十`), trailing zero
places dropped (`一千二百`), `二` (not `两`) everywhere.

Held-out sets, never used in training: an eval set ({args.n_eval} per task; used only for early stopping)
and a disjoint test set ({args.n_test} per task; the numbers below). Held-out numbers: a quarter
from 100-999, the rest from 1000-9999; 0-99 are all in training (they are the task's vocabulary).

## Accuracy (held-out test set, greedy exact match)

Reloaded with `from_pretrained` (eager attention), one example at a time, `generate(do_sample=False,
num_beams=1, max_new_tokens=24)`, decoded with `skip_special_tokens=True`:

| task | examples | exact match |
| --- | ---: | ---: |
| dates | {len(splits['dates'][1])} | **{results['dates'][0]:.4f}** |
| numbers | {len(splits['numbers'][1])} | **{results['numbers'][0]:.4f}** |

Numbers 0-99 (all seen in training): {small_acc:.2f}.

{wrong_text}

Progress (eval-set exact match, batched greedy):

```
""" + "\n".join(history) + f"""
```

Examples (greedy; "(test)" = from the held-out test set):

| source | output | generated ids |
| --- | --- | --- |
{ex_lines}

## Which cross-attention heads align source to target

For every target character the generator knows its source span: dates: year digits and `年` <- the
year (`2021`), month digits and `月` <- the month word (`March`), day digits and `日` <- the day
(`5`); numbers: a digit <- its English word (`三` <- `three`, `四`/`十` in `四十二` <- `forty`,
`二` <- `two`, `一`/`十`/`二` in `一百一十二` <- `twelve`), `千` <- `thousand`, `百` <- `hundred`,
`零` <- `and` (or `zero`).

Statistic: the share of a head's cross-attention row (softmax over the source tokens `<s> ... </s>`)
that falls on the aligned span, averaged over all target characters of the test set ({nd} date
characters, {nn_} number characters), teacher forcing with the reference target, eager attention,
`output_attentions=True`. "generating" = the decoder row that *predicts* the character (input = the
previous character, or `</s>` for the first); "reading" = the row whose *input* is the character.
"argmax in span" = the fraction of "generating" rows whose largest weight lies inside the span
(mean of the two tasks). A head spreading its attention uniformly over the source would score
{align['dates']['baseline']:.3f} (dates) and {align['numbers']['baseline']:.3f} (numbers) on the share.
Heads are numbered layer.head from 0 (decoder layer 0 is the first).

{table}

The share when generating, by kind of alignment (best head of each row in bold):

{cat_table}

- **Best aligning head overall: {bl}.{bh}** (decoder layer {bl}, head {bh}): mean share on the aligned span
  **{bscore:.3f}** when generating (dates {align['dates']['gen'][bl, bh].item():.3f}, numbers {align['numbers']['gen'][bl, bh].item():.3f});
  its largest weight falls inside the aligned span for {b_arg:.1%} of the target characters.
- Best for dates: {bd_txt}; best for numbers: {bn_txt}.
- Ranking (mean of the two tasks, generating): {ranked_text}.

## sha256

```
"""
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(readme)
        for name in files:
            f.write(f"{sha256(os.path.join(args.out, name))}  {name}\n")
        f.write("```\n")
    summary = {
        "steps": steps_done, "train_time_s": round(train_time, 1), "last_loss": last_loss,
        "test": {t: results[t][0] for t in results}, "params": nparams, "size": size,
        "best_head": [bl, bh, bscore],
    }
    print(json.dumps(summary))
    for name in files + ["README.md"]:
        p = os.path.join(args.out, name)
        print(f"  {os.path.getsize(p):>9,}  {sha256(p)}  {name}")


if __name__ == "__main__":
    main()
