#!/usr/bin/env python3
"""Small GGUF files for attnscope's GGUF reader tests, written with the `gguf` package
the way llama.cpp's convert_hf_to_gguf.py writes a checkpoint (classes LlamaModel,
Qwen2Model, Qwen3Model, Gemma3Model).

Output, in tests/fixtures/gguf/:

  tiny-llama-induction-Q8_0.gguf
      sample_models/tiny-llama-induction converted as `convert_hf_to_gguf.py --outtype q8_0`
      would: every 2-D weight Q8_0, except ffn_down (rows of 344 values, not a multiple of
      the 32-value block), which falls back to F16 as the converter does on a QuantError;
      norm weights F32. No output.weight: the LM head is tied to token_embd.
  tiny-llama-k256-Q4_K_M.gguf
      K-quants need rows that are a multiple of 256 values, and no matrix of
      tiny-llama-induction has one (hidden 128, intermediate 344), so a K-quant copy of it
      would hold no K-quant tensor at all (llama-quantize would fall back to IQ4_NL/F16).
      This file is instead a random-weight Llama of the same family with hidden 256,
      intermediate 256, 1 layer, 4 query heads over 2 KV heads (head_dim 64), the same
      byte tokenizer, weights drawn as tools/make_model_fixtures.py draws its tiny models
      (peaked attention). Q4_K_M-like mix: Q4_K for attn_q/attn_k/attn_output/ffn_gate/ffn_up,
      Q6_K for attn_v, ffn_down and token_embd (the tied output), F32 norms.
      The K-quantisers below are written here (gguf-py has only the dequantisers): simple
      min/max fits, not llama.cpp's search, but the exact block layout. Each tensor is checked
      by dequantising with gguf.quants.dequantize.
  tiny-qwen2-Q8_0.gguf, tiny-qwen3-Q8_0.gguf, tiny-gemma3-Q8_0.gguf
      tests/fixtures/models/{qwen2,qwen3,gemma3}-tiny (random weights, same byte tokenizer)
      converted as `--outtype q8_0` would: every 2-D weight Q8_0 (rows of 32 or 64 values),
      biases (qwen2 attn_q/k/v.bias), norms (incl. attn_q_norm/attn_k_norm) F32; tied LM head,
      no output.weight. general.architecture qwen2 / qwen3 / gemma3. What differs from Llama:
        * no q/k row permutation (llama.cpp uses NEOX-style RoPE for these architectures);
        * keys from TextModel.set_gguf_parameters: no vocab_size, no rope.dimension_count;
          key_length/value_length only where config.json has head_dim (qwen3, gemma3: 16);
          rope.freq_base = rope_parameters["full_attention"].rope_theta for Gemma 3 (1e6);
        * gemma3: every *norm.weight stored as 1 + w (Gemma3RMSNorm computes x * (1 + w)),
          post_attention_layernorm -> post_attention_norm, pre_feedforward_layernorm ->
          ffn_norm, post_feedforward_layernorm -> post_ffw_norm; extra key
          gemma3.attention.sliding_window (8). Gemma3Model writes no query_pre_attn_scalar,
          rope_local_base_freq or layer pattern: readers use their own defaults.
      gemma3-tiny's config.json is NOT those defaults: query_pre_attn_scalar 24 (defaults:
      transformers 256, llama.cpp and attnscope 1/sqrt(key_length) i.e. 16) and layer_types
      [sliding, full, sliding] (a pattern of 6 makes all three layers sliding, in
      transformers and in llama.cpp). So transformers loading this GGUF computes a different
      model from the folder (max |dp| ~0.5 on the --check texts); rope_local_base_freq (10000)
      and sliding_window (8) agree. The GGUF file is still what the converter would write.
      transformers 5.23 also cannot load tiny-qwen3 by itself: its qwen3 GGUF table does not
      map attention.key_length to head_dim, and Qwen3Config's default head_dim (128) is not
      16; the check passes the file's key_length as head_dim (transformers_overrides).
  quant-blocks.gguf
      One [2, 256] tensor per block type the reader must decode (F16, BF16, Q4_0, Q4_1,
      Q5_0, Q5_1, Q8_0, Q4_K, Q6_K), named by type (`q4_k`), each followed by
      `<name>.f32`: gguf-py's dequantisation of it, in F32. A unit test of the dequantisers.

What matches convert_hf_to_gguf.py (LlamaModel):
  * tensor names token_embd, blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output,
    ffn_norm, ffn_gate, ffn_up, ffn_down}, output_norm; shapes are written reversed (ne0 =
    the row length, so a [out, in] weight is ne = [in, out]);
  * q and k rows permuted for llama.cpp's RoPE (LlamaModel.permute): within each head the
    rows [0, d/2) and [d/2, d) (HF rotate_half pairing) are interleaved to (0, d/2, 1,
    d/2+1, ...) so that adjacent rows form a rotation pair; k uses the KV head count;
  * llama.* keys (block_count, context_length, embedding_length, feed_forward_length,
    attention.head_count(_kv), attention.layer_norm_rms_epsilon, rope.freq_base,
    rope.dimension_count, attention.key_length/value_length (head_dim is explicit in
    config.json), vocab_size), general.file_type, general.quantization_version;
  * tokenizer: tokenizer.ggml.model = "gpt2" with tokens (the 256 byte symbols in GPT-2's
    bytes-to-unicode spelling, then <|endoftext|>), token_type (1 normal, 3 control for the
    special added token), merges, bos/eos = 256.
Where this differs, and why:
  * tokenizer.ggml.pre = "gpt-2": the converter identifies a pre-tokenizer by hashing the
    ids of a test string and stops with "BPE pre-tokenizer was not recognized" for an
    unknown vocabulary. With no merges every split gives the same ids (the bytes); "gpt-2"
    is the name of the ByteLevel regex the tokenizer.json uses;
  * tokenizer.ggml.merges is an *empty* array: the tokenizer has none. gguf-py refuses to
    write empty arrays (the converter then writes no key and warns), but llama.cpp refuses
    a "gpt2" vocabulary with no merges key and transformers then looks for scores; GGUF
    allows a zero-length array, so a writer subclass writes it;
  * tokenizer.ggml.add_bos_token = false written explicitly (the converter takes it from a
    tokenizer_config.json, which this model has not; no BOS was used in training).

Rerun: python3 tools/make_gguf_samples.py   (seconds; deterministic, byte-identical output)
       python3 tools/make_gguf_samples.py --check   (also loads each file with transformers,
       compares the GGUF tokenizer with tokenizer.json and, for the three tiny families, the
       attention with transformers on the safetensors folder)
"""
import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import gguf  # noqa: E402
from gguf import GGMLQuantizationType as QT, GGUFValueType  # noqa: E402
from gguf.constants import QK_K  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "sample_models", "tiny-llama-induction")
OUT = os.path.join(ROOT, "tests", "fixtures", "gguf")


# ---------------------------------------------------------------- writer

class Writer(gguf.GGUFWriter):
    """GGUFWriter that can also write a zero-length array (allowed by the GGUF format)."""

    def _pack_val(self, val, vtype, add_vtype, sub_type=None):
        if vtype == GGUFValueType.ARRAY and len(val) == 0:
            data = self._pack("I", vtype) if add_vtype else b""
            return bytes(data + self._pack("I", sub_type) + self._pack("Q", 0))
        return super()._pack_val(val, vtype, add_vtype, sub_type)


# ---------------------------------------------------------------- K-quantisers
# Block layouts (ggml-common.h), QK_K = 256 values per super-block:
#   Q4_K: d f16, dmin f16, scales[12] (eight 6-bit scales and eight 6-bit mins), qs[128]
#         value = d*sc[j]*q - dmin*m[j], q in 0..15, sub-block j = 32 values;
#         sub-blocks 2c and 2c+1 are the low and high nibbles of qs[32c .. 32c+32).
#   Q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] int8, d f16
#         value = d*scales[j]*(q - 32), q in 0..63, sub-block j = 16 values.

def _f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16)


def quantize_q4_k(rows):
    """rows: float32 [n, k] with k % 256 == 0 -> uint8 [n, k / 256 * 144]."""
    n, k = rows.shape
    x = rows.reshape(-1, 8, 32).astype(np.float32)  # [blocks, sub-block, value]
    lo = np.minimum(x.min(-1), 0.0)
    hi = x.max(-1)
    scale = (hi - lo) / 15.0          # per sub-block: x ~ scale*q - mn
    mn = -lo
    d = _f16(scale.max(-1) / 63.0)
    dmin = _f16(mn.max(-1) / 63.0)
    d32, dmin32 = d.astype(np.float32)[:, None], dmin.astype(np.float32)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(d32 > 0, np.rint(scale / d32), 0).clip(0, 63).astype(np.uint8)
        m = np.where(dmin32 > 0, np.rint(mn / dmin32), 0).clip(0, 63).astype(np.uint8)
        step = (d32 * sc)[..., None]
        q = np.where(step > 0, np.rint((x + (dmin32 * m)[..., None]) / step), 0)
    q = q.clip(0, 15).astype(np.uint8)                      # [blocks, 8, 32]
    qs = (q[:, 0::2, :] | (q[:, 1::2, :] << 4)).reshape(-1, 128)
    packed = np.empty((x.shape[0], 12), dtype=np.uint8)
    packed[:, 0:4] = sc[:, 0:4] | ((sc[:, 4:8] >> 4) << 6)
    packed[:, 4:8] = m[:, 0:4] | ((m[:, 4:8] >> 4) << 6)
    packed[:, 8:12] = (sc[:, 4:8] & 0x0F) | ((m[:, 4:8] & 0x0F) << 4)
    blocks = np.concatenate([d.view(np.uint8).reshape(-1, 2), dmin.view(np.uint8).reshape(-1, 2),
                             packed, qs], axis=1)
    return blocks.reshape(n, -1)


def quantize_q6_k(rows):
    """rows: float32 [n, k] with k % 256 == 0 -> uint8 [n, k / 256 * 210]."""
    n, k = rows.shape
    x = rows.reshape(-1, 16, 16).astype(np.float32)  # [blocks, sub-block, value]
    amax_i = np.abs(x).argmax(-1)
    vmax = np.take_along_axis(x, amax_i[..., None], -1)[..., 0]   # signed value of largest |x|
    scale = vmax / -32.0              # maps it to q - 32 = -32 (the wider side)
    smax_i = np.abs(scale).argmax(-1)
    smax = np.take_along_axis(scale, smax_i[..., None], -1)[..., 0]
    d = _f16(smax / -128.0)
    d32 = d.astype(np.float32)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(d32 != 0, np.rint(scale / d32), 0).clip(-128, 127).astype(np.int8)
        step = (d32 * sc)[..., None]
        q = np.where(step != 0, np.rint(x / step), 0)
    q = (q.clip(-32, 31) + 32).astype(np.uint8).reshape(-1, 2, 4, 32)   # [blocks, half, quarter, l]
    ql = np.empty((q.shape[0], 2, 64), dtype=np.uint8)
    ql[:, :, 0:32] = (q[:, :, 0] & 0x0F) | ((q[:, :, 2] & 0x0F) << 4)
    ql[:, :, 32:64] = (q[:, :, 1] & 0x0F) | ((q[:, :, 3] & 0x0F) << 4)
    qh = ((q[:, :, 0] >> 4) | ((q[:, :, 1] >> 4) << 2) | ((q[:, :, 2] >> 4) << 4)
          | ((q[:, :, 3] >> 4) << 6))                                       # [blocks, half, 32]
    blocks = np.concatenate([ql.reshape(-1, 128), qh.reshape(-1, 64), sc.view(np.uint8),
                             d.view(np.uint8).reshape(-1, 2)], axis=1)
    return blocks.reshape(n, -1)


K_QUANTISERS = {QT.Q4_K: quantize_q4_k, QT.Q6_K: quantize_q6_k}


def quantize(data, qtype):
    """float32 array -> (stored array, type actually used), with the converter's fallback."""
    data = np.ascontiguousarray(data, dtype=np.float32)
    if qtype in K_QUANTISERS:
        if data.shape[-1] % QK_K != 0:
            raise ValueError(f"row length {data.shape[-1]} is not a multiple of {QK_K}")
        q = K_QUANTISERS[qtype](data.reshape(-1, data.shape[-1]))
        q = q.reshape(*data.shape[:-1], -1)
        back = gguf.quants.dequantize(q, qtype)
        err = np.abs(back - data).max() / max(np.abs(data).max(), 1e-30)
        limit = {QT.Q4_K: 0.08, QT.Q6_K: 0.03}[qtype]  # of the largest |x|: loose, catches layout errors
        if not err < limit:
            raise SystemExit(f"{qtype.name} round trip error {err:.4f} of max |x| > {limit}")
        return q, qtype
    try:
        return gguf.quants.quantize(data, qtype), qtype
    except gguf.QuantError:
        return gguf.quants.quantize(data, QT.F16), QT.F16


# ---------------------------------------------------------------- HF folder -> GGUF

def permute(w, n_head):
    """convert_hf_to_gguf.py LlamaModel.permute: HF rotate_half rows -> interleaved pairs."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def gguf_name(name_map, hf):
    """The converter's map_tensor_name: gguf-py's TensorNameMap for the architecture."""
    new = name_map.get_name(hf, try_suffixes=(".weight", ".bias"))
    if new is None:
        raise SystemExit(f"no GGUF name for tensor {hf}")
    return new


def byte_vocab(tokenizer_json):
    """(tokens, token_types) in id order, as TextModel._set_vocab_gpt2 lists them."""
    model = tokenizer_json["model"]
    if model["type"] != "BPE" or model["merges"]:
        raise SystemExit("expected a BPE tokenizer.json with no merges")
    by_id = {i: t for t, i in model["vocab"].items()}
    types = {i: gguf.TokenType.NORMAL for i in by_id}
    for added in tokenizer_json["added_tokens"]:
        by_id[added["id"]] = added["content"]
        types[added["id"]] = gguf.TokenType.CONTROL if added["special"] else gguf.TokenType.USER_DEFINED
    if sorted(by_id) != list(range(len(by_id))):
        raise SystemExit("token ids are not 0..n-1")
    return [by_id[i] for i in range(len(by_id))], [int(types[i]) for i in range(len(by_id))]


def add_text_model_keys(w, config, head_dim):
    """TextModel.set_gguf_parameters, which LlamaModel (its vocab_size and
    rope.dimension_count are added in write_gguf), Qwen2Model and Qwen3Model call and
    Gemma3Model calls first: no vocab_size, no rope.dimension_count (those are LlamaModel's);
    rope.freq_base from rope_parameters["full_attention"] when the rope is per layer type;
    key/value_length only when config.json has head_dim."""
    w.add_block_count(config["num_hidden_layers"])
    w.add_context_length(config["max_position_embeddings"])
    w.add_embedding_length(config["hidden_size"])
    w.add_feed_forward_length(config["intermediate_size"])
    w.add_head_count(config["num_attention_heads"])
    w.add_head_count_kv(config["num_key_value_heads"])
    rope = config["rope_parameters"]
    rope = rope.get("full_attention", rope)
    if rope.get("rope_type", "default") != "default":
        raise SystemExit(f"rope_type {rope['rope_type']} not written by this script")
    w.add_rope_freq_base(float(rope["rope_theta"]))
    w.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    if "head_dim" in config:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)


def add_gemma3_keys(w, config, head_dim):
    """Gemma3Model.set_gguf_parameters: TextModel's keys (the values it rewrites are the same
    here), then sliding_window (written unless sliding_window_pattern == 1) and
    final_logit_softcapping when set. Nothing else: not query_pre_attn_scalar, not
    rope_local_base_freq, not the layer types; llama.cpp and transformers fill those in."""
    add_text_model_keys(w, config, head_dim)
    if config.get("attn_logit_softcapping") is not None:
        raise SystemExit("Gemma3Model asserts attn_logit_softcapping is None")
    if config.get("final_logit_softcapping"):
        w.add_final_logit_softcapping(float(config["final_logit_softcapping"]))
    if config.get("sliding_window_pattern") != 1:
        w.add_sliding_window(config["sliding_window"])


def add_byte_tokenizer(w, tokenizer_json, config):
    """_set_vocab_gpt2 for the 256-byte vocabulary (see the module notes for where it differs)."""
    tokens, types = byte_vocab(tokenizer_json)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_key_value(gguf.Keys.Tokenizer.MERGES, [], GGUFValueType.ARRAY, sub_type=GGUFValueType.STRING)
    w.add_bos_token_id(config["bos_token_id"])
    w.add_eos_token_id(config["eos_token_id"])
    w.add_add_bos_token(False)


# Per architecture: gguf-py arch, the hyper-parameter keys, how a tensor is changed before
# it is stored (modify_tensors), as in the converter's LlamaModel / Qwen2Model / Qwen3Model /
# Gemma3Model.

def _llama_modify(hf, data, config):
    if hf.endswith("q_proj.weight"):
        return permute(data, config["num_attention_heads"])
    if hf.endswith("k_proj.weight"):
        return permute(data, config["num_key_value_heads"])
    return data


def _no_modify(hf, data, config):
    return data


def _gemma3_modify(hf, data, config):
    if hf.endswith("norm.weight"):          # Gemma3RMSNorm computes x * (1 + w); GGUF stores 1 + w
        return data + np.float32(1.0)
    return data


ARCHS = {
    "llama": (gguf.MODEL_ARCH.LLAMA, add_text_model_keys, _llama_modify),
    "qwen2": (gguf.MODEL_ARCH.QWEN2, add_text_model_keys, _no_modify),
    "qwen3": (gguf.MODEL_ARCH.QWEN3, add_text_model_keys, _no_modify),
    "gemma3": (gguf.MODEL_ARCH.GEMMA3, add_gemma3_keys, _gemma3_modify),
}


def write_gguf(path, arch, config, tensors, tokenizer_json, qtype_of, file_type, name):
    """tensors: HF name -> float32 array. qtype_of(gguf_name, array) -> wanted type."""
    model_arch, add_keys, modify = ARCHS[arch]
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    w = Writer(path, gguf.MODEL_ARCH_NAMES[model_arch])
    w.add_type("model")
    w.add_name(name)
    add_keys(w, config, head_dim)
    w.add_file_type(int(file_type))
    if arch == "llama":
        w.add_vocab_size(config["vocab_size"])
        w.add_rope_dimension_count(head_dim)
    add_byte_tokenizer(w, tokenizer_json, config)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    name_map = gguf.get_tensor_name_map(model_arch, config["num_hidden_layers"])
    summary = []
    for hf in tensors:  # safetensors order is sorted by name; the converter keeps file order
        if hf == "lm_head.weight" and config.get("tie_word_embeddings"):
            continue
        new = gguf_name(name_map, hf)
        data = modify(hf, tensors[hf], config)
        if data.ndim <= 1 or new.endswith("_norm.weight"):
            stored, used = data.astype(np.float32), QT.F32
        else:
            stored, used = quantize(data, qtype_of(new, data))
        w.add_tensor(new, stored, raw_dtype=used)
        summary.append((new, used.name, list(data.shape)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return summary


# ---------------------------------------------------------------- the files

def tiny_induction_q8_0():
    with open(os.path.join(SRC, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(SRC, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    tensors = load_file(os.path.join(SRC, "model.safetensors"))
    path = os.path.join(OUT, "tiny-llama-induction-Q8_0.gguf")
    summary = write_gguf(path, "llama", config, tensors, tok, lambda name, a: QT.Q8_0,
                          gguf.LlamaFileType.MOSTLY_Q8_0, "tiny-llama-induction")
    return path, summary


K256_CONFIG = dict(vocab_size=257, hidden_size=256, intermediate_size=256, num_hidden_layers=1,
                   num_attention_heads=4, num_key_value_heads=2, head_dim=64,
                   max_position_embeddings=256, rms_norm_eps=1e-5, bos_token_id=256,
                   eos_token_id=256, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                   tie_word_embeddings=True)


def k256_weights(config, seed=5678):
    """HF-named float32 weights, drawn like make_model_fixtures.py's tiny models."""
    g = np.random.default_rng(seed)
    h, f, d = config["hidden_size"], config["intermediate_size"], config["head_dim"]
    qd, kvd = config["num_attention_heads"] * d, config["num_key_value_heads"] * d
    shapes = {"model.embed_tokens.weight": (config["vocab_size"], h), "model.norm.weight": (h,)}
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
                       p + "self_attn.q_proj.weight": (qd, h), p + "self_attn.k_proj.weight": (kvd, h),
                       p + "self_attn.v_proj.weight": (kvd, h), p + "self_attn.o_proj.weight": (h, qd),
                       p + "mlp.gate_proj.weight": (f, h), p + "mlp.up_proj.weight": (f, h),
                       p + "mlp.down_proj.weight": (h, f)})
    out = {}
    for name in sorted(shapes):
        shape = shapes[name]
        r = g.standard_normal(shape).astype(np.float32)
        if "norm" in name:
            out[name] = 1.0 + 0.2 * r
        elif "embed" in name:
            out[name] = r
        else:
            out[name] = r * np.float32(1.6 / shape[1] ** 0.5)
    return out


def k256_q4_k_m():
    config = dict(K256_CONFIG)
    with open(os.path.join(SRC, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    tensors = k256_weights(config)
    six = ("attn_v.weight", "ffn_down.weight", "token_embd.weight")
    path = os.path.join(OUT, "tiny-llama-k256-Q4_K_M.gguf")
    summary = write_gguf(path, "llama", config, tensors, tok,
                          lambda name, a: QT.Q6_K if name.endswith(six) else QT.Q4_K,
                          gguf.LlamaFileType.MOSTLY_Q4_K_M, "tiny-llama-k256 (random weights)")
    return path, summary


FAMILIES = {  # file stem -> (architecture, HF folder): random-weight models of the other families
    "tiny-qwen2-Q8_0": ("qwen2", "tests/fixtures/models/qwen2-tiny"),
    "tiny-qwen3-Q8_0": ("qwen3", "tests/fixtures/models/qwen3-tiny"),
    "tiny-gemma3-Q8_0": ("gemma3", "tests/fixtures/models/gemma3-tiny"),
}


def read_folder(folder):
    folder = os.path.join(ROOT, folder)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    return config, tok, load_file(os.path.join(folder, "model.safetensors"))


def family_q8_0(stem):
    """`convert_hf_to_gguf.py --outtype q8_0` of one FAMILIES folder: every 2-D weight Q8_0
    (all row lengths here are 32 or 64), biases and norms F32."""
    arch, folder = FAMILIES[stem]
    config, tok, tensors = read_folder(folder)
    path = os.path.join(OUT, stem + ".gguf")
    summary = write_gguf(path, arch, config, tensors, tok, lambda name, a: QT.Q8_0,
                         gguf.LlamaFileType.MOSTLY_Q8_0, os.path.basename(folder))
    return path, summary


BLOCK_TYPES = [QT.F16, QT.BF16, QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1, QT.Q8_0, QT.Q4_K, QT.Q6_K]


def quant_blocks():
    """Each type on the same [2, 256] values, with gguf-py's dequantisation beside it."""
    g = np.random.default_rng(42)
    x = g.standard_normal((2, 256)).astype(np.float32)
    x[0, :32] *= 8.0          # one block with a large range
    x[1, 32:64] = 0.0         # one all-zero block (a zero scale must decode to zeros)
    x[1, 64:96] = np.abs(x[1, 64:96]) + 0.5   # one block with no negative value
    path = os.path.join(OUT, "quant-blocks.gguf")
    w = Writer(path, "none")
    w.add_string("attnscope.description", "Each tensor <type> holds the same [2, 256] values in "
                 "that block type; <type>.f32 is gguf-py's dequantisation of it.")
    w.add_key_value("attnscope.gguf_py_version", _gguf_version(), GGUFValueType.STRING)
    for qt in BLOCK_TYPES:
        if qt == QT.BF16:
            stored = gguf.quants.quantize(x, qt)
        else:
            stored, used = quantize(x, qt)
            assert used == qt, qt
        back = gguf.quants.dequantize(stored, qt).astype(np.float32)
        assert back.shape == x.shape
        w.add_tensor(qt.name.lower(), stored, raw_dtype=qt)
        w.add_tensor(qt.name.lower() + ".f32", back, raw_dtype=QT.F32)
    w.add_tensor("source.f32", x, raw_dtype=QT.F32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _gguf_version():
    from importlib.metadata import version
    return version("gguf")


# ---------------------------------------------------------------- checks

TEXTS = ["The cat sat on the mat because it was tired.", "我爱北京天安门。注意力机制",
         "Xq7#Lp2 Zu9! then again Xq7#Lp2 Zu9!", "  spaces\tand\nnewlines <|endoftext|> 123"]


def transformers_overrides(path):
    """Config keys transformers 5.23 does not read from these files, taken from the file.

    Its GGUF config table for qwen3 has no attention.key_length -> head_dim entry, so a
    Qwen3 whose head_dim is not Qwen3Config's default 128 does not load (size mismatch of
    attn_q); the file's own key_length is passed as head_dim.

    A Gemma 3 file has no query_pre_attn_scalar; llama.cpp scales its scores by
    key_length^-1/2 (except the 27B), transformers by Gemma3TextConfig's default 256^-1/2.
    They agree for every released Gemma 3 but the 27B (key_length 256); for a file whose
    key_length is not 256 the reference follows llama.cpp, the program that runs these files,
    and passes query_pre_attn_scalar = key_length."""
    r = gguf.GGUFReader(path)
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
    if arch == "qwen3":
        return {"head_dim": int(r.fields["qwen3.attention.key_length"].parts[-1][0])}
    if arch == "gemma3":
        return {"query_pre_attn_scalar": int(r.fields["gemma3.attention.key_length"].parts[-1][0])}
    return {}


def check(path, tokenizer_path=os.path.join(SRC, "tokenizer.json")):
    """transformers loads the file; the GGUF tokenizer gives tokenizer.json's ids."""
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer
    folder, name = os.path.dirname(path), os.path.basename(path)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                 attn_implementation="eager",
                                                 **transformers_overrides(path))
    gtok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    ref = Tokenizer.from_file(tokenizer_path)
    bad = 0
    for text in TEXTS:
        a = gtok(text)["input_ids"]
        b = ref.encode(text).ids
        if a != b:
            bad += 1
            print(f"  TOKENIZER MISMATCH on {text!r}:\n    gguf {a}\n    json {b}")
        if gtok.decode(a) != text:
            print(f"  decode differs: {gtok.decode(a)!r}")
    n = sum(p.numel() for p in model.parameters())
    print(f"  transformers: {type(model).__name__}, {n} parameters, tokenizer "
          f"{type(gtok).__name__}, {len(TEXTS) - bad}/{len(TEXTS)} texts give tokenizer.json's ids")
    return model, bad


def check_against_safetensors(model):
    """The Q8_0 model's dequantised weights are close to the original fp32 ones (after the
    loader undoes the q/k permutation)."""
    sd = load_file(os.path.join(SRC, "model.safetensors"))
    worst = 0.0
    for k, v in sd.items():
        got = model.state_dict()[k].numpy()
        worst = max(worst, float(np.abs(got - v).max() / np.abs(v).max()))
    print(f"  max |dequantised - fp32| / max|fp32| over tensors: {worst:.4f}")
    return worst


def compare_attention(model, folder):
    """max |p_gguf - p_folder| of the attention probabilities, transformers loading the GGUF
    file vs the safetensors folder, over TEXTS (byte ids), and per config difference."""
    import torch
    from transformers import AutoModelForCausalLM
    ref = AutoModelForCausalLM.from_pretrained(os.path.join(ROOT, folder), dtype=torch.float32,
                                               attn_implementation="eager").eval()
    model.eval()
    for key in ("head_dim", "query_pre_attn_scalar", "layer_types", "sliding_window", "rope_parameters"):
        a, b = getattr(model.config, key, None), getattr(ref.config, key, None)
        if a != b:
            print(f"  config {key}: from GGUF {a}, folder {b}")
    worst = 0.0
    with torch.no_grad():
        for text in TEXTS[:3]:
            ids = torch.tensor([list(text.encode())])
            a = torch.stack(model(input_ids=ids, output_attentions=True).attentions)
            b = torch.stack(ref(input_ids=ids, output_attentions=True).attentions)
            worst = max(worst, float((a - b).abs().max()))
    print(f"  max |p(GGUF) - p(folder)| over {len(TEXTS[:3])} texts: {worst:.3e}")
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="load each file with transformers")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    makers = [tiny_induction_q8_0, k256_q4_k_m] + [
        (lambda stem=stem: family_q8_0(stem)) for stem in FAMILIES]
    for make in makers:
        path, summary = make()
        print(f"{os.path.relpath(path, ROOT)}: {os.path.getsize(path)} bytes")
        for new, t, shape in summary:
            if not new.startswith("blk.") or new.startswith("blk.0."):
                print(f"    {new:28s} {t:5s} {shape}")
    path = quant_blocks()
    print(f"{os.path.relpath(path, ROOT)}: {os.path.getsize(path)} bytes")
    if args.check:
        bad = 0
        for name in ("tiny-llama-induction-Q8_0.gguf", "tiny-llama-k256-Q4_K_M.gguf"):
            print(f"check {name}")
            model, b = check(os.path.join(OUT, name))
            bad += b
            if "induction" in name and check_against_safetensors(model) > 0.02:
                bad += 1
        for stem, (arch, folder) in FAMILIES.items():
            print(f"check {stem}.gguf")
            model, b = check(os.path.join(OUT, stem + ".gguf"), os.path.join(ROOT, folder, "tokenizer.json"))
            bad += b
            compare_attention(model, folder)
        if bad:
            sys.exit(f"{bad} check(s) failed")


if __name__ == "__main__":
    main()
