#!/usr/bin/env python3
"""Independent NumPy reference for attnscope (see docs/spec-format.md).

It has no code in common with the Rust core. The Rust tests compare the core against the
fixtures this script writes to tests/fixtures/reference/ (tolerance 1e-5 abs).

Usage
  python3 tools/numpy_reference.py            regenerate every reference fixture
  python3 tools/numpy_reference.py --check    check invariants on every case, print a summary
  python3 tools/numpy_reference.py --spec F   print the reference trace of one spec (F or -)

Seeded numbers, embeddings and matrices are made exactly as the f32 recipe says and are
float32. The maths then runs in float64 on those float32 values. `--check` also runs
everything a second time in float32 and requires it to stay well within the test tolerance,
so that an f32 implementation (the Rust core) can match the fixtures.

Conventions where docs/spec-format.md leaves room (the Rust core must agree)
  * Q = X W (row vectors), but W_a, W1, W2, W_p act on column vectors: (W q)_r =
    sum_c W[r][c] q_c; general is sum_ab q_a W_a[a][b] k_b. Explicit additive d_a = len(v).
  * Positions restart at 0 in the source; PE columns 2m and 2m+1 share 10000^(2m/d); an odd
    d_model ends with a sin column. PE is cast to f32 and added to the f32 embedding.
  * Whitespace is Unicode White_Space (Rust char::is_whitespace); control characters (Cc),
    U+200B and U+FEFF separate tokens as whitespace does. The words tokenizer takes
    the ranges literally: U+FF00-FF65 includes fullwidth letters, which become one token each.
  * local_p: p_i = n_k sigmoid(v_p . tanh(W_p u_i)), mask |j - p_i| <= D (inclusive, real),
    softmax over allowed keys with tau, then times exp(-(j - p_i)^2 / (2 sigma^2)).
    u_i = q_i (local_p_source "query", d_in = d_k) or the target row x_i of X
    ("input", d_in = d_model); W_p is d_p x d_in, v_p has d_p entries, d_p = local_p_dim
    or d_in; sigma = local_sigma (as f32) or D/2. Seeded W_p: d_p*d_in values row-major from
    "w_p/hH" with a = sqrt(3/d_in); v_p: d_p values from "v_p/hH" with a = sqrt(3/d_p).
    A fixture has a per-head "local_p" object ({source, d, sigma, d_p, d_in}) only when its
    spec sets local_p_source, local_p_dim or local_sigma, so older fixtures stay unchanged.
  * Vectors without "tokens" are named q1.. (target) and k1.. (source); no fixture uses this.
Fixtures also carry, beyond the brief: self_attention, d_model, heads_count, d_k, scale,
temperature, w_q/w_k/w_v/w_o, and per head logits (null where masked) and row_stats.

Worked example, checked by hand (`--check` also asserts it)
-----------------------------------------------------------
Two tokens, d = 2, identity projections, score "dot", one head, tau = 1:
    x1 = [1, 0], x2 = [1, 1]      so Q = K = V = X.
Raw scores s_ij = q_i . k_j:
    s = [[1*1+0*0, 1*1+0*1],      = [[1, 1],
         [1*1+1*0, 1*1+1*1]]         [1, 2]]
Row 1: exp(1) = 2.7182818, exp(1) = 2.7182818, sum 5.4365637  -> weights [0.5, 0.5]
Row 2: (max 2 subtracted) exp(-1) = 0.36787944, exp(0) = 1, sum 1.36787944
       -> weights [0.26894142, 0.73105858]
Context (= output, W_o = I):
    c1 = 0.5 [1, 0] + 0.5 [1, 1]                   = [1, 0.5]
    c2 = 0.26894142 [1, 0] + 0.73105858 [1, 1]     = [1, 0.73105858]
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC_DIR = os.path.join(ROOT, "tests", "fixtures", "specs")
LESSON_DIR = os.path.join(ROOT, "sample_models", "lessons")
REF_DIR = os.path.join(ROOT, "tests", "fixtures", "reference")

MASK64 = 0xFFFFFFFFFFFFFFFF
GOLDEN = 0x9E3779B97F4A7C15

SCORES = ("dot", "scaled_dot", "general", "additive", "cosine")
SPANS = ("global", "local_m", "local_p")
LOCAL_P_SOURCES = ("query", "input")
LOCAL_P_KEYS = ("local_p_source", "local_p_dim", "local_sigma")
TOKENIZERS = ("words", "whitespace", "chars")

# ---------------------------------------------------------------------------------------
# Deterministic numbers
# ---------------------------------------------------------------------------------------


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & MASK64
    return h


class SplitMix64:
    """One stream per label: state = fnv1a64(label) ^ (seed * GOLDEN)."""

    def __init__(self, label: str, seed: int):
        self.state = fnv1a64(label.encode("utf-8")) ^ ((seed * GOLDEN) & MASK64)

    def next_u64(self) -> int:
        self.state = (self.state + GOLDEN) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def next_value(self, a: np.float32) -> np.float32:
        # u = (z >> 40) as f32 / 2^24 (exact); x = (2u - 1) * a, in f32.
        u = np.float32(self.next_u64() >> 40) / np.float32(16777216.0)
        return np.float32(np.float32(np.float32(2.0) * u) - np.float32(1.0)) * np.float32(a)


def f32_amp(numerator: float, d: int) -> np.float32:
    """a = sqrt(numerator / d) computed in f32 (as `(3.0f32 / d as f32).sqrt()`)."""
    return np.float32(np.sqrt(np.float32(numerator) / np.float32(d)))


def seeded_values(label: str, seed: int, count: int, a: np.float32) -> np.ndarray:
    rng = SplitMix64(label, seed)
    return np.array([rng.next_value(a) for _ in range(count)], dtype=np.float32)


def seeded_matrix(label: str, seed: int, rows: int, cols: int, a: np.float32) -> np.ndarray:
    return seeded_values(label, seed, rows * cols, a).reshape(rows, cols)


def positional_encoding(n: int, d: int) -> np.ndarray:
    """PE[pos][2m] = sin(pos / 10000^(2m/d)), PE[pos][2m+1] = cos(same), computed in f64."""
    pe = np.zeros((n, d), dtype=np.float64)
    for pos in range(n):
        for c in range(d):
            even = c - (c % 2)
            angle = pos / (10000.0 ** (even / d))
            pe[pos, c] = math.sin(angle) if c % 2 == 0 else math.cos(angle)
    return pe


# ---------------------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------------------

# Unicode White_Space (what Rust's char::is_whitespace tests), not Python's str.isspace.
_WHITESPACE = set(
    [chr(c) for c in range(0x09, 0x0E)]
    + ["\u0020", "\u0085", "\u00a0", "\u1680"]
    + [chr(c) for c in range(0x2000, 0x200B)]
    + ["\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
)


# Tokens are also split at what has no glyph of its own: control characters (Rust's
# char::is_control, category Cc), the zero-width space and the byte-order mark.
_SEPARATORS = (
    _WHITESPACE
    | {chr(c) for c in range(0x00, 0x20)}
    | {chr(c) for c in range(0x7F, 0xA0)}
    | {"\u200b", "\ufeff"}
)


def is_separator(ch: str) -> bool:
    return ch in _SEPARATORS


def is_cjk(ch: str) -> bool:
    c = ord(ch)
    return (
        0x3400 <= c <= 0x4DBF
        or 0x4E00 <= c <= 0x9FFF
        or 0xF900 <= c <= 0xFAFF
        or 0x20000 <= c <= 0x2FFFF
    )


_ASCII_PUNCT = set("!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~")  # no apostrophe


def is_punct(ch: str) -> bool:
    c = ord(ch)
    return ch in _ASCII_PUNCT or 0x3000 <= c <= 0x303F or 0xFF00 <= c <= 0xFF65


def split_pieces(text: str) -> list[str]:
    pieces, cur = [], []
    for ch in text:
        if is_separator(ch):
            if cur:
                pieces.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
    if cur:
        pieces.append("".join(cur))
    return pieces


def tokenize(text: str, tokenizer: str) -> list[str]:
    if tokenizer == "whitespace":
        return split_pieces(text)
    if tokenizer == "chars":
        return [ch for ch in text if not is_separator(ch)]
    if tokenizer == "words":
        out = []
        for piece in split_pieces(text):
            run = []
            for ch in piece:
                if is_cjk(ch) or is_punct(ch):
                    if run:
                        out.append("".join(run))
                        run = []
                    out.append(ch)
                else:
                    run.append(ch)
            if run:
                out.append("".join(run))
        return out
    raise ValueError(f"unknown tokenizer {tokenizer!r}")


# ---------------------------------------------------------------------------------------
# Spec -> resolved inputs
# ---------------------------------------------------------------------------------------


def _f32_matrix(m, rows, cols, what) -> np.ndarray:
    a = np.asarray(m, dtype=np.float64)
    if a.shape != (rows, cols):
        raise ValueError(f"{what}: expected {rows}x{cols}, got shape {a.shape}")
    return a.astype(np.float32)


def _f32_vector(v, n, what) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if a.shape != (n,):
        raise ValueError(f"{what}: expected {n} values, got shape {a.shape}")
    return a.astype(np.float32)


def _embed(seq: dict, tokenizer: str, d: int, seed: int, positions: bool, default_prefix: str):
    """Returns (tokens, X as float32)."""
    if "vectors" in seq:
        X = np.asarray(seq["vectors"], dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError("vectors must be a non-empty list of rows")
        if X.shape[1] != d:
            raise ValueError(f"vector width {X.shape[1]} != d_model {d}")
        toks = seq.get("tokens")
        if toks is None:
            toks = [f"{default_prefix}{i + 1}" for i in range(X.shape[0])]
        if len(toks) != X.shape[0]:
            raise ValueError("tokens and vectors differ in length")
        return list(toks), X.astype(np.float32)  # never positions on explicit vectors
    if "text" in seq:
        toks = tokenize(seq["text"], tokenizer)
        if not toks:
            raise ValueError("text has no tokens")
        a = f32_amp(3.0, 1)  # sqrt(3)
        X = np.stack([seeded_values("tok:" + t, seed, d, a) for t in toks]).astype(np.float32)
        if positions:
            X = (X + positional_encoding(len(toks), d).astype(np.float32)).astype(np.float32)
        return toks, X
    raise ValueError("a sequence needs 'text' or 'vectors'")


def resolve(spec: dict) -> dict:
    """Validate the spec, fill in defaults, and build every float32 input of the maths."""
    if "target" not in spec:
        raise ValueError("spec needs a target")
    target = spec["target"]
    source = spec.get("source")
    self_attention = source is None
    tokenizer = spec.get("tokenizer") or "words"
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {tokenizer!r}")
    seed = spec.get("seed", 42)
    seed = 42 if seed is None else int(seed)
    if not 0 <= seed <= MASK64:
        raise ValueError("seed must be a u64")
    positions = spec.get("positions", True)
    positions = True if positions is None else bool(positions)

    widths = {len(s["vectors"][0]) for s in (target, source) if s is not None and "vectors" in s}
    if len(widths) > 1:
        raise ValueError("target and source vectors differ in width")
    d = spec.get("d_model")
    if d is None:
        d = widths.pop() if widths else 8
    d = int(d)
    if widths and widths.pop() != d:
        raise ValueError("d_model differs from the vector width")
    h = spec.get("heads")
    h = 1 if h is None else int(h)
    if h < 1 or d % h != 0:
        raise ValueError("d_model must be divisible by heads >= 1")
    dk = d // h

    tokens_q, Xq = _embed(target, tokenizer, d, seed, positions, "q")
    if self_attention:
        tokens_k, Xk = tokens_q, Xq
    else:
        tokens_k, Xk = _embed(source, tokenizer, d, seed, positions, "k")
    nq, nk = len(tokens_q), len(tokens_k)

    proj = spec.get("projections", "seeded")
    proj = "seeded" if proj is None else proj
    W = {}
    for name in ("w_q", "w_k", "w_v", "w_o"):
        if proj == "seeded":
            W[name] = seeded_matrix(name, seed, d, d, f32_amp(3.0, d))
        elif proj == "identity":
            W[name] = np.eye(d, dtype=np.float32)
        elif isinstance(proj, dict):
            m = proj.get(name)
            W[name] = np.eye(d, dtype=np.float32) if m is None else _f32_matrix(m, d, d, name)
        else:
            raise ValueError(f"bad projections {proj!r}")

    score = spec.get("score") or "scaled_dot"
    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}")
    score_scale = spec.get("score_scale")
    if score_scale is None:
        scale = 1.0 / math.sqrt(dk) if score == "scaled_dot" else 1.0
    else:
        scale = float(score_scale)

    sp = spec.get("score_params")
    params = [dict() for _ in range(h)]
    ak = f32_amp(3.0, dk)
    if score == "general":
        for i in range(h):
            if sp is None:
                params[i]["w_a"] = seeded_matrix(f"w_a/h{i}", seed, dk, dk, ak)
            else:
                if len(sp["w_a"]) != h:
                    raise ValueError("score_params.w_a needs one matrix per head")
                params[i]["w_a"] = _f32_matrix(sp["w_a"][i], dk, dk, "w_a")
    elif score == "additive":
        for i in range(h):
            if sp is None:
                params[i]["w1"] = seeded_matrix(f"w1/h{i}", seed, dk, dk, ak)
                params[i]["w2"] = seeded_matrix(f"w2/h{i}", seed, dk, dk, ak)
                params[i]["v"] = seeded_values(f"v_a/h{i}", seed, dk, ak)
            else:
                for key in ("w1", "w2", "v"):
                    if len(sp[key]) != h:
                        raise ValueError(f"score_params.{key} needs one entry per head")
                da = len(sp["v"][i])
                params[i]["w1"] = _f32_matrix(sp["w1"][i], da, dk, "w1")
                params[i]["w2"] = _f32_matrix(sp["w2"][i], da, dk, "w2")
                params[i]["v"] = _f32_vector(sp["v"][i], da, "v")

    span = spec.get("span") or "global"
    if span not in SPANS:
        raise ValueError(f"unknown span {span!r}")
    D = spec.get("local_d", 2)
    D = 2 if D is None else int(D)
    if D < 0:
        raise ValueError("local_d must be >= 0")
    lp_source = spec.get("local_p_source") or "query"
    if lp_source not in LOCAL_P_SOURCES:
        raise ValueError(f"unknown local_p_source {lp_source!r}")
    sigma = spec.get("local_sigma")
    if sigma is not None:
        sigma = np.float32(sigma)  # the core reads it as f32
        if not (np.isfinite(sigma) and sigma > 0):
            raise ValueError("local_sigma must be a finite number > 0")
    elif span == "local_p" and D == 0:
        raise ValueError("local_p with D = 0 needs an explicit local_sigma")
    else:
        sigma = np.float32(D) / np.float32(2)
    d_in = dk if lp_source == "query" else d
    d_p = spec.get("local_p_dim")
    if d_p is not None:
        d_p = int(d_p)
        if not 1 <= d_p <= 4096:
            raise ValueError("local_p_dim must be between 1 and 4096")
    else:
        d_p = d_in
    lp = []
    if span == "local_p":
        lpp = spec.get("local_p_params")
        lpp = {} if lpp is None else lpp
        for i in range(h):
            for key in ("w_p", "v_p"):
                if lpp.get(key) is not None and len(lpp[key]) != h:
                    raise ValueError(f"local_p_params.{key} needs one entry per head")
            wp = lpp.get("w_p")
            vp = lpp.get("v_p")
            lp.append((
                seeded_matrix(f"w_p/h{i}", seed, d_p, d_in, f32_amp(3.0, d_in)) if wp is None
                else _f32_matrix(wp[i], d_p, d_in, "w_p"),
                seeded_values(f"v_p/h{i}", seed, d_p, f32_amp(3.0, d_p)) if vp is None
                else _f32_vector(vp[i], d_p, "v_p"),
            ))

    causal = bool(spec.get("causal") or False)
    window = spec.get("window")
    if window is not None:
        window = int(window)
        if window < 0:
            raise ValueError("window must be >= 0")
    padding = spec.get("padding")
    if padding is not None:
        if len(padding) != nk:
            raise ValueError(f"padding needs one bool per key ({nk})")
        padding = [bool(p) for p in padding]
    tau = spec.get("temperature", 1.0)
    tau = 1.0 if tau is None else float(tau)
    if not tau > 0:
        raise ValueError("temperature must be > 0")

    return dict(
        self_attention=self_attention, tokens_q=tokens_q, tokens_k=tokens_k,
        Xq=Xq, Xk=Xk, d=d, h=h, dk=dk, W=W, score=score, scale=scale, params=params,
        span=span, D=D, lp=lp, lp_source=lp_source, sigma=sigma, d_p=d_p, d_in=d_in,
        lp_meta=any(key in spec for key in LOCAL_P_KEYS), causal=causal, window=window, padding=padding, tau=tau,
    )


# ---------------------------------------------------------------------------------------
# The maths
# ---------------------------------------------------------------------------------------


def compute(spec: dict, dtype=np.float64) -> dict:
    """Full reference trace as numpy arrays. dtype = float64 (reference) or float32 (check)."""
    r = resolve(spec)
    dt = dtype
    Xq, Xk = r["Xq"].astype(dt), r["Xk"].astype(dt)
    W = {k: v.astype(dt) for k, v in r["W"].items()}
    Q, K, V = Xq @ W["w_q"], Xk @ W["w_k"], Xk @ W["w_v"]
    nq, nk, dk, D = Xq.shape[0], Xk.shape[0], r["dk"], r["D"]
    ii = np.arange(nq)[:, None]
    jj = np.arange(nk)[None, :]

    heads = []
    for hd in range(r["h"]):
        cols = slice(hd * dk, (hd + 1) * dk)
        q, k, v = Q[:, cols], K[:, cols], V[:, cols]
        p = {name: val.astype(dt) for name, val in r["params"][hd].items()}
        score = r["score"]
        if score in ("dot", "scaled_dot"):
            raw = q @ k.T
        elif score == "general":
            raw = q @ p["w_a"] @ k.T
        elif score == "additive":
            A = q @ p["w1"].T  # (W1 q_i)_r
            B = k @ p["w2"].T  # (W2 k_j)_r
            raw = np.tanh(A[:, None, :] + B[None, :, :]) @ p["v"]
        else:  # cosine
            nq_ = np.sqrt(np.sum(q * q, axis=1))
            nk_ = np.sqrt(np.sum(k * k, axis=1))
            den = nq_[:, None] * nk_[None, :]
            dots = q @ k.T
            raw = np.where(den > 0, dots / np.where(den > 0, den, 1), 0).astype(dt)
        scaled = raw * dt(r["scale"])

        centers = None
        if r["span"] == "global":
            allowed = np.ones((nq, nk), dtype=bool)
        elif r["span"] == "local_m":
            allowed = np.abs(jj - ii) <= D
        else:
            wp, vp = (x.astype(dt) for x in r["lp"][hd])
            u = q if r["lp_source"] == "query" else Xq
            z = np.tanh(u @ wp.T) @ vp
            centers = dt(nk) / (dt(1) + np.exp(-z))
            allowed = np.abs(jj - centers[:, None]) <= D
        if r["causal"]:
            allowed &= jj <= ii
        if r["window"] is not None:
            allowed &= np.abs(ii - jj) <= r["window"]
        if r["padding"] is not None:
            allowed &= ~np.array(r["padding"], dtype=bool)[None, :]

        logits = scaled / dt(r["tau"])
        weights = np.zeros((nq, nk), dtype=dt)
        empty = ~allowed.any(axis=1)
        for i in range(nq):
            if empty[i]:
                continue
            row = logits[i][allowed[i]]
            e = np.exp(row - row.max())
            weights[i, allowed[i]] = e / e.sum()
        if centers is not None:
            sigma = dt(r["sigma"])
            gauss = np.exp(-((jj - centers[:, None]) ** 2) / (dt(2) * sigma * sigma))
            weights = weights * gauss
            weights[~allowed] = 0
        context = weights @ v
        heads.append(dict(
            q=q, k=k, v=v, raw_scores=raw, scaled=scaled, logits=logits, allowed=allowed,
            weights=weights, context=context, empty_rows=empty, centers=centers,
        ))
    concat = np.concatenate([hh["context"] for hh in heads], axis=1)
    output = concat @ W["w_o"]
    return dict(resolved=r, heads=heads, concat=concat, output=output, Q=Q, K=K, V=V)


def row_stats(weights: np.ndarray, empty: np.ndarray) -> dict:
    nq, nk = weights.shape
    ent, mx, dist, first = [], [], [], []
    for i in range(nq):
        p = weights[i]
        pos = p[p > 0]
        ent.append(float(-np.sum(pos * np.log(pos))) if pos.size else 0.0)
        mx.append(float(p.max()) if nk else 0.0)
        dist.append(float(np.sum(p * np.abs(np.arange(nk) - i))))
        first.append(float(p[0]))
    return dict(entropy=ent, max_weight=mx, mean_distance=dist, first_key_share=first)


# ---------------------------------------------------------------------------------------
# Fixture output
# ---------------------------------------------------------------------------------------


def r8(x: float) -> float:
    """Round to 8 significant digits (and drop the sign of zero)."""
    y = float(f"{float(x):.8g}")
    return 0.0 if y == 0 else y


def _num(a):
    a = np.asarray(a)
    if a.dtype == bool:
        return a.tolist()
    if a.ndim == 0:
        return r8(a)
    return [_num(x) for x in a]


def to_fixture(spec: dict, spec_path: str) -> dict:
    t = compute(spec)
    r = t["resolved"]
    heads = []
    for hh in t["heads"]:
        extra = {}
        if r["span"] == "local_p" and r["lp_meta"]:
            extra["local_p"] = {"source": r["lp_source"], "d": r["D"], "sigma": r8(r["sigma"]),
                                "d_p": r["d_p"], "d_in": r["d_in"]}
        logits = [[r8(x) if ok else None for x, ok in zip(lr, ar)]
                  for lr, ar in zip(hh["logits"], hh["allowed"])]
        heads.append({
            "q": _num(hh["q"]), "k": _num(hh["k"]), "v": _num(hh["v"]),
            "raw_scores": _num(hh["raw_scores"]), "scaled": _num(hh["scaled"]),
            "logits": logits,
            "allowed": hh["allowed"].tolist(), "weights": _num(hh["weights"]),
            "context": _num(hh["context"]), "empty_rows": hh["empty_rows"].tolist(),
            "centers": None if hh["centers"] is None else _num(hh["centers"]),
            **extra,
            "row_stats": {k: [r8(x) for x in v]
                          for k, v in row_stats(hh["weights"], hh["empty_rows"]).items()},
        })
    return {
        "spec_path": spec_path,
        "self_attention": r["self_attention"],
        "d_model": r["d"], "heads_count": r["h"], "d_k": r["dk"],
        "scale": r8(r["scale"]), "temperature": r["tau"],
        "tokens_q": r["tokens_q"], "tokens_k": r["tokens_k"],
        "x_q": _num(r["Xq"]), "x_k": _num(r["Xk"]),
        "w_q": _num(r["W"]["w_q"]), "w_k": _num(r["W"]["w_k"]),
        "w_v": _num(r["W"]["w_v"]), "w_o": _num(r["W"]["w_o"]),
        "heads": heads,
        "concat": _num(t["concat"]), "output": _num(t["output"]),
    }


def dumps(obj, indent=0, step=1) -> str:
    """JSON with one matrix row per line."""
    pad, pad1 = " " * indent, " " * (indent + step)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{pad1}{json.dumps(k, ensure_ascii=False)}: {dumps(v, indent + step, step)}"
                 for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and any(isinstance(x, (list, dict)) for x in obj):
        items = [pad1 + dumps(x, indent + step, step) for x in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))


def all_spec_files() -> list[tuple[str, str]]:
    """(spec file, reference fixture file) for every spec and lesson."""
    out = []
    for f in sorted(glob.glob(os.path.join(SPEC_DIR, "*.json"))):
        stem = os.path.splitext(os.path.basename(f))[0]
        out.append((f, os.path.join(REF_DIR, stem + ".json")))
    for f in sorted(glob.glob(os.path.join(LESSON_DIR, "*.json"))):
        stem = os.path.splitext(os.path.basename(f))[0]
        out.append((f, os.path.join(REF_DIR, "lesson__" + stem + ".json")))
    return out


def load(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def regenerate() -> None:
    os.makedirs(REF_DIR, exist_ok=True)
    pairs = all_spec_files()
    wanted = {os.path.abspath(ref) for _, ref in pairs}
    for old in glob.glob(os.path.join(REF_DIR, "*.json")):
        if os.path.abspath(old) not in wanted:
            os.remove(old)
    total = 0
    for spec_file, ref_file in pairs:
        rel = os.path.relpath(spec_file, ROOT).replace(os.sep, "/")
        text = dumps(to_fixture(load(spec_file), rel)) + "\n"
        with open(ref_file, "w", encoding="utf-8") as fh:
            fh.write(text)
        total += len(text.encode("utf-8"))
    print(f"wrote {len(pairs)} reference fixtures to {os.path.relpath(REF_DIR, ROOT)} "
          f"({total / 1024:.0f} KiB)")


# ---------------------------------------------------------------------------------------
# Self-check
# ---------------------------------------------------------------------------------------

F32_MARGIN = 2e-6  # float32 run must agree with float64 to this (test tolerance is 1e-5)
CENTER_MARGIN = 1e-3  # |j - p_i| must stay this far from D so masks cannot flip in f32
VALUE_CAP = 12.0  # |every compared value| <= this, so f32 rounding stays far below 1e-5


def check_case(spec: dict) -> list[str]:
    problems = []
    t = compute(spec)
    t32 = compute(spec, np.float32)
    r = t["resolved"]
    local_p = r["span"] == "local_p"
    for hd, (hh, h32) in enumerate(zip(t["heads"], t32["heads"])):
        w, al, empty = hh["weights"], hh["allowed"], hh["empty_rows"]
        for name in ("q", "k", "v", "raw_scores", "scaled", "weights", "context"):
            if not np.all(np.isfinite(hh[name])):
                problems.append(f"h{hd}: non-finite {name}")
        if np.any(w[~al] != 0):
            problems.append(f"h{hd}: masked weight not 0")
        if np.any(w < 0):
            problems.append(f"h{hd}: negative weight")
        sums = w.sum(axis=1)
        for i in range(w.shape[0]):
            if empty[i]:
                if np.any(w[i] != 0) or np.any(hh["context"][i] != 0):
                    problems.append(f"h{hd}: empty row {i} not all zero")
            elif local_p:
                if not 0 < sums[i] <= 1 + 1e-12:
                    problems.append(f"h{hd}: local_p row {i} sums to {sums[i]}")
            elif abs(sums[i] - 1) > 1e-12:
                problems.append(f"h{hd}: row {i} sums to {sums[i]}")
        if not np.array_equal(empty, ~al.any(axis=1)):
            problems.append(f"h{hd}: empty_rows disagrees with allowed")
        if local_p:
            c = hh["centers"]
            # a centre that is an exact integer in f64 and f32 alike (v_p = 0 gives
            # n_k / 2) cannot flip a mask, however close it is to a window edge
            exact = (c == h32["centers"]) & (c == np.round(c))
            gap = np.abs(np.abs(np.arange(w.shape[1])[None, :] - c[~exact][:, None])
                         - r["D"]).min(initial=np.inf)
            if gap < CENTER_MARGIN:
                problems.append(f"h{hd}: a local_p center is {gap:.2e} from a window edge")
            if not np.allclose(c, h32["centers"], atol=F32_MARGIN):
                problems.append(f"h{hd}: centers unstable in f32")
        if not np.array_equal(al, h32["allowed"]):
            problems.append(f"h{hd}: mask differs in f32")
        for name in ("q", "k", "v", "raw_scores", "scaled", "weights", "context"):
            big = np.max(np.abs(hh[name]), initial=0.0)
            if big > VALUE_CAP:
                problems.append(f"h{hd}: |{name}| reaches {big:.2f} > {VALUE_CAP:g}")
            diff = np.max(np.abs(hh[name] - h32[name]), initial=0.0)
            if diff > F32_MARGIN:
                problems.append(f"h{hd}: {name} f32 vs f64 differ by {diff:.2e}")
    for name in ("concat", "output"):
        if not np.all(np.isfinite(t[name])):
            problems.append(f"non-finite {name}")
        big = np.max(np.abs(t[name]), initial=0.0)
        if big > VALUE_CAP:
            problems.append(f"|{name}| reaches {big:.2f} > {VALUE_CAP:g}")
        diff = np.max(np.abs(t[name] - t32[name]), initial=0.0)
        if diff > F32_MARGIN:
            problems.append(f"{name} f32 vs f64 differ by {diff:.2e}")
    return problems


def self_test() -> None:
    """Known answers: the hand example above, the seeded stream and the tokenizers."""
    t = compute({"target": {"vectors": [[1, 0], [1, 1]]}, "projections": "identity",
                 "score": "dot"})
    w = t["heads"][0]["weights"]
    e = math.exp(1)
    assert np.allclose(w, [[0.5, 0.5], [1 / (1 + e), e / (1 + e)]], atol=1e-15)
    assert np.allclose(t["output"], [[1, 0.5], [1, e / (1 + e)]], atol=1e-15)
    assert abs(w[1, 0] - 0.26894142) < 1e-8 and abs(w[1, 1] - 0.73105858) < 1e-8
    # fnv1a64 reference values (FNV test suite) and splitmix64 (Vigna's reference, seed 0
    # state via our XOR: label "" has fnv offset basis, so check the raw generator instead).
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64(b"foobar") == 0x85944171F73967E8
    g = SplitMix64("", 0)
    g.state = 0
    assert g.next_u64() == 0xE220A8397B1DCDAF
    assert g.next_u64() == 0x6E789E6AA1B965F4
    assert g.next_u64() == 0x06C45D188009454F
    # tokenizers
    assert tokenize("我爱北京天安门", "chars") == list("我爱北京天安门")
    assert tokenize("The animal didn't cross, tired.", "words") == \
        ["The", "animal", "didn't", "cross", ",", "tired", "."]
    assert tokenize("I love 北京! 你好，世界。", "words") == \
        ["I", "love", "北", "京", "!", "你", "好", "，", "世", "界", "。"]
    assert tokenize("a-b  c\u3000d", "whitespace") == ["a-b", "c", "d"]


def check() -> int:
    self_test()
    pairs = all_spec_files()
    bad, rows, empty_rows, local_p_rows = 0, 0, 0, 0
    stale = 0
    for spec_file, ref_file in pairs:
        spec = load(spec_file)
        problems = check_case(spec)
        t = compute(spec)
        for hh in t["heads"]:
            rows += len(hh["empty_rows"])
            empty_rows += int(hh["empty_rows"].sum())
            if hh["centers"] is not None:
                local_p_rows += len(hh["empty_rows"])
        rel = os.path.relpath(spec_file, ROOT).replace(os.sep, "/")
        if not os.path.exists(ref_file) or \
                load(ref_file) != json.loads(dumps(to_fixture(spec, rel))):
            stale += 1
            problems.append("reference fixture missing or stale (run without --check)")
        if problems:
            bad += 1
            for p in problems:
                print(f"FAIL {os.path.relpath(spec_file, ROOT)}: {p}", file=sys.stderr)
    status = "OK" if bad == 0 else "FAILED"
    print(f"{status}: {len(pairs)} cases, {rows} head-rows ({empty_rows} fully masked, "
          f"{local_p_rows} local_p), {bad} failing, {stale} stale fixtures; "
          f"f32 vs f64 within {F32_MARGIN:g}, |values| <= {VALUE_CAP:g}")
    return 0 if bad == 0 else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="check invariants on every case")
    ap.add_argument("--spec", help="print the reference trace of one spec file ('-' = stdin)")
    args = ap.parse_args(argv)
    if args.spec:
        spec = json.load(sys.stdin) if args.spec == "-" else load(args.spec)
        print(dumps(to_fixture(spec, args.spec)))
        return 0
    if args.check:
        return check()
    regenerate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
