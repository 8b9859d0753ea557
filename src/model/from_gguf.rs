//! A GGUF file (llama.cpp's format, usually quantised) as a model: its metadata becomes the
//! family's HuggingFace config, its tensors the checkpoint's weights under their HuggingFace
//! names, and its vocabulary a `tokenizers` tokenizer — so the one network description and
//! forward pass of `network.rs` run it unchanged.
//!
//! What llama.cpp's converter changed is undone here, as transformers' GGUF loader does:
//! the Q and K rows of `llama` files are permuted back from llama.cpp's interleaved RoPE
//! pairs, and Gemma's norm weights (stored as 1 + γ) get 1 subtracted. The token embedding
//! stays quantised in the memory-mapped file; rows are dequantised when a token needs them.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::FxHasher;
use serde_json::{Value, json};
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper,
    Tokenizer,
};

use crate::gguf::{GgufFile, TensorInfo};

use super::ModelError;
use super::config::ModelConfig;
use super::packed::PackedRows;
use super::tokenizer::ModelTokenizer;
use super::weights::{NonFinite, RowTable, Tensor, Weights};

/// Longest vocabulary entry accepted, in bytes.
const MAX_TOKEN_BYTES: usize = 4096;

/// The GGUF architectures attnscope runs (`general.architecture`).
pub const GGUF_ARCHITECTURES: &[&str] = &["llama", "qwen2", "qwen3", "gemma3"];

/// What the model card says about a GGUF file.
#[derive(Clone, Debug, PartialEq)]
pub struct GgufCard {
    /// GGUF version (2 or 3).
    pub version: u32,
    /// `general.name`.
    pub name: Option<String>,
    /// `general.architecture`.
    pub architecture: String,
    /// The quantisation the file says it is (`general.file_type`: "Q4_K_M"), when it says.
    pub file_type: Option<&'static str>,
    /// Tensor types and how many tensors of each, most common first ("Q4_K × 96").
    pub quant_mix: Vec<(String, usize)>,
    /// `{arch}.context_length`.
    pub context_length: Option<u64>,
    /// `general.license`.
    pub license: Option<String>,
    /// Bytes of the token embedding left quantised in the mapped file.
    pub mapped_bytes: u64,
}

/// How many tensors have each type ("Q4_K" → 96).
pub fn type_counts<'a>(
    tensors: impl IntoIterator<Item = &'a TensorInfo>,
) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for t in tensors {
        *counts.entry(t.ggml_type.name()).or_default() += 1;
    }
    counts
}

/// The quantisation a file says it is, from `general.file_type` (llama.cpp's `llama_ftype`;
/// its tensors mix types: a Q4_K_M file holds Q4_K, Q6_K, Q5_0 and F32 tensors).
pub fn file_type(file: &GgufFile) -> Option<&'static str> {
    Some(match file.get_u64("general.file_type")? {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        _ => return None,
    })
}

/// The type most tensors have, floats (norms, small tensors) counted only when nothing is
/// quantised: "Q4_K" for a Q4_K_M file, not "F32".
pub fn main_type<'a>(counts: &BTreeMap<&'a str, usize>) -> &'a str {
    counts
        .iter()
        .filter(|(k, _)| !matches!(**k, "F32" | "F16" | "BF16"))
        .max_by_key(|(_, c)| **c)
        .or_else(|| counts.iter().max_by_key(|(_, c)| **c))
        .map_or("?", |(k, _)| k)
}

/// Whether a path names a GGUF file: a `.gguf` name, or a file that starts with the magic.
pub fn is_gguf(path: &Path) -> bool {
    if !path.is_file() {
        return false;
    }
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
    {
        return true;
    }
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"GGUF"
}

fn gguf_err(message: impl Into<String>) -> ModelError {
    ModelError::Gguf(message.into())
}

/// A metadata number that must be present, positive and at most `max`.
fn need(file: &GgufFile, key: &str, max: u64) -> Result<u64, ModelError> {
    let v = match file.get(key) {
        None => return Err(gguf_err(format!("metadata {key} is missing"))),
        Some(_) => file
            .get_u64(key)
            .ok_or_else(|| gguf_err(format!("metadata {key} is not a non-negative integer")))?,
    };
    if v == 0 || v > max {
        return Err(gguf_err(format!(
            "metadata {key} = {v} is out of range (1 … {max})"
        )));
    }
    Ok(v)
}

/// An optional positive number.
fn opt(file: &GgufFile, key: &str, max: u64) -> Result<Option<u64>, ModelError> {
    if file.get(key).is_some() {
        need(file, key, max).map(Some)
    } else {
        Ok(None)
    }
}

/// An optional finite positive float.
fn opt_f32(file: &GgufFile, key: &str) -> Result<Option<f32>, ModelError> {
    match file.get(key) {
        None => Ok(None),
        Some(_) => match file.get_f32(key) {
            Some(x) if x.is_finite() && x > 0.0 => Ok(Some(x)),
            _ => Err(gguf_err(format!(
                "metadata {key} must be a finite positive number"
            ))),
        },
    }
}

/// The HuggingFace `config.json` this file's metadata describes (as transformers' GGUF loader
/// builds it: the mapped keys, the family's defaults for the rest).
pub fn hf_config(file: &GgufFile) -> Result<Value, ModelError> {
    use super::config::{MAX_HEADS, MAX_HIDDEN, MAX_INTERMEDIATE, MAX_LAYERS, MAX_VOCAB};
    let arch = file
        .get_str("general.architecture")
        .ok_or_else(|| gguf_err("metadata general.architecture is missing"))?;
    if !GGUF_ARCHITECTURES.contains(&arch) {
        return Err(gguf_err(format!(
            "architecture {arch:?} is not supported; attnscope runs GGUF {}",
            GGUF_ARCHITECTURES.join(", ")
        )));
    }
    let k = |s: &str| format!("{arch}.{s}");
    let mut c = serde_json::Map::new();
    let model_type = if arch == "gemma3" {
        "gemma3_text"
    } else {
        arch
    };
    c.insert("model_type".into(), json!(model_type));
    let layers = need(file, &k("block_count"), MAX_LAYERS as u64)?;
    let hidden = need(file, &k("embedding_length"), MAX_HIDDEN as u64)?;
    let heads = need(file, &k("attention.head_count"), MAX_HEADS as u64)?;
    let kv = opt(file, &k("attention.head_count_kv"), MAX_HEADS as u64)?.unwrap_or(heads);
    let ff = need(file, &k("feed_forward_length"), MAX_INTERMEDIATE as u64)?;
    c.insert("num_hidden_layers".into(), json!(layers));
    c.insert("hidden_size".into(), json!(hidden));
    c.insert("num_attention_heads".into(), json!(heads));
    c.insert("num_key_value_heads".into(), json!(kv));
    c.insert("intermediate_size".into(), json!(ff));
    if let Some(n) = opt(file, &k("context_length"), u64::from(u32::MAX))? {
        c.insert("max_position_embeddings".into(), json!(n));
    }
    let tokens = file
        .get_str_array("tokenizer.ggml.tokens")
        .map_or(0, |t| t.len() as u64);
    let vocab = match opt(file, &k("vocab_size"), MAX_VOCAB as u64)? {
        Some(v) => v,
        None => file
            .tensor("token_embd.weight")
            .and_then(|t| t.dims.get(1).copied())
            .filter(|&v| v > 0)
            .unwrap_or(tokens),
    };
    if vocab == 0 || vocab > MAX_VOCAB as u64 {
        return Err(gguf_err(format!(
            "the vocabulary size {vocab} is out of range (1 … {MAX_VOCAB})"
        )));
    }
    c.insert("vocab_size".into(), json!(vocab));
    if let Some(eps) = opt_f32(file, &k("attention.layer_norm_rms_epsilon"))? {
        c.insert("rms_norm_eps".into(), json!(eps));
    }
    if let Some(theta) = opt_f32(file, &k("rope.freq_base"))? {
        c.insert("rope_theta".into(), json!(theta));
    }
    let key_len = opt(file, &k("attention.key_length"), MAX_HIDDEN as u64)?;
    let rope_dims = opt(file, &k("rope.dimension_count"), MAX_HIDDEN as u64)?;
    match arch {
        // transformers maps rope.dimension_count to head_dim for llama.
        "llama" => {
            if let Some(d) = rope_dims.or(key_len) {
                c.insert("head_dim".into(), json!(d));
            }
        }
        "qwen3" | "gemma3" => {
            if let Some(d) = key_len {
                c.insert("head_dim".into(), json!(d));
            }
        }
        _ => {}
    }
    if let (Some(r), Some(kl)) = (rope_dims, key_len.or(Some(hidden / heads)))
        && r != kl
    {
        return Err(gguf_err(format!(
            "metadata {} = {r} differs from the head width {kl}: partial rotary heads are not supported",
            k("rope.dimension_count")
        )));
    }
    if let Some(t) = file.get_str(&k("rope.scaling.type"))
        && t != "none"
    {
        let factor = opt_f32(file, &k("rope.scaling.factor"))?
            .ok_or_else(|| gguf_err(format!("metadata {} is missing", k("rope.scaling.factor"))))?;
        if t != "linear" {
            return Err(gguf_err(format!(
                "metadata {} = {t:?} is not supported (attnscope reads linear RoPE scaling)",
                k("rope.scaling.type")
            )));
        }
        c.insert(
            "rope_scaling".into(),
            json!({"rope_type": "linear", "factor": factor}),
        );
    }
    if file.tensor("rope_freqs.weight").is_some() {
        return Err(gguf_err(
            "tensor rope_freqs.weight (Llama 3.1 RoPE frequency factors) is not supported yet",
        ));
    }
    if arch == "gemma3" {
        if let Some(w) = opt(file, &k("attention.sliding_window"), 1 << 20)? {
            c.insert("sliding_window".into(), json!(w));
        }
        // llama.cpp scales Gemma 3 by 1/√key_length except for the 27B (62 layers), which
        // uses 1/√(hidden/heads); transformers' default query_pre_attn_scalar is 256.
        let scalar = if layers == 62 {
            hidden / heads
        } else {
            key_len.unwrap_or(256)
        };
        c.insert("query_pre_attn_scalar".into(), json!(scalar));
    }
    if matches!(arch, "qwen2") {
        // Qwen2 files from llama.cpp never slide (use_sliding_window is false upstream).
        c.insert("use_sliding_window".into(), json!(false));
    }
    c.insert(
        "tie_word_embeddings".into(),
        json!(file.tensor("output.weight").is_none()),
    );
    if let Some(eos) = file.get_u64("tokenizer.ggml.eos_token_id") {
        c.insert("eos_token_id".into(), json!(eos));
    }
    Ok(Value::Object(c))
}

/// GPT-2's byte → printable character table (byte-level BPE spells every byte as one char).
fn bytes_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u32 {
        let printable =
            (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        table[b as usize] = if printable {
            char::from_u32(b).unwrap_or('?')
        } else {
            n += 1;
            char::from_u32(255 + n).unwrap_or('?')
        };
    }
    table
}

/// Splits `pre` names (tokenizer.ggml.pre) to the regex llama.cpp applies before byte-level
/// BPE; `None` is GPT-2's own regex.
fn pre_split(pre: &str) -> Option<Value> {
    const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    let split = |re: &str| json!({"type": "Split", "pattern": {"Regex": re}, "behavior": "Isolated", "invert": false});
    let byte_level = |regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": regex});
    let seq = |first: Value, regex: bool| json!({"type": "Sequence", "pretokenizers": [first, byte_level(regex)]});
    match pre {
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "smaug-bpe" | "dbrx" | "pixtral" => {
            Some(seq(split(LLAMA3), false))
        }
        "qwen2" | "deepseek-r1-qwen" | "stablelm2" => Some(seq(split(QWEN2), false)),
        // Digits one by one, then GPT-2's regex (llama.cpp's SMOLLM / STARCODER rule, and the
        // `Digits` step of SmolLM2's own tokenizer.json).
        "smollm" | "starcoder" | "refact" | "codeshell" => Some(seq(split(r"\p{N}"), true)),
        _ => None,
    }
}

/// A token's index by its spelling, hashed with `FxHash`: recovering a 262,144-token
/// vocabulary's merges looks up every split of every token, and SipHash made that the
/// larger part of opening Gemma 3.
type SpellingIndex<'a> = HashMap<&'a str, usize, BuildHasherDefault<FxHasher>>;

/// The vocabulary's indices by spelling; a later duplicate wins, as in a Python dict.
fn spelling_index(tokens: &[String]) -> SpellingIndex<'_> {
    let mut index = SpellingIndex::with_capacity_and_hasher(tokens.len(), Default::default());
    for (i, t) in tokens.iter().enumerate() {
        index.insert(t.as_str(), i);
    }
    index
}

/// BPE merges recovered from a SentencePiece vocabulary: every split of a token into two
/// vocabulary pieces, best score first, then longer left and right pieces first
/// (transformers' `generate_merges`; a stable sort, so ties keep the vocabulary's order).
fn merges_from_scores(
    tokens: &[String],
    vocab: &SpellingIndex<'_>,
    score: &dyn Fn(usize) -> f64,
) -> Vec<(String, String)> {
    // (score, left chars, right chars, left, right), in the vocabulary's order
    let mut out: Vec<(f64, u32, u32, &str, &str)> = Vec::new();
    let mut local: Vec<(usize, usize, u32, &str, &str)> = Vec::new();
    for (idx, tok) in tokens.iter().enumerate() {
        // A later duplicate replaces an earlier one in the vocabulary: only the index the
        // vocabulary kept counts, so each spelling is split once.
        if vocab.get(tok.as_str()) != Some(&idx) {
            continue;
        }
        let s = score(idx);
        local.clear();
        for (n_left, (i, _)) in tok.char_indices().enumerate().skip(1) {
            let (l, r) = tok.split_at(i);
            if let (Some(&li), Some(&ri)) = (vocab.get(l), vocab.get(r)) {
                local.push((li, ri, n_left as u32, l, r));
            }
        }
        local.sort_unstable_by_key(|x| (x.0, x.1));
        // A token's bytes are bounded (`MAX_TOKEN_BYTES`), so its length fits.
        let total = tok.chars().count() as u32;
        out.extend(local.iter().map(|&(_, _, n, l, r)| (s, n, total - n, l, r)));
    }
    // Unstable sort with the position as the last key: the order of a stable sort, without
    // its buffer and merging.
    let mut order: Vec<u32> = (0..out.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        let (x, y) = (&out[a as usize], &out[b as usize]);
        y.0.partial_cmp(&x.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(y.1.cmp(&x.1))
            .then(y.2.cmp(&x.2))
            .then(a.cmp(&b))
    });
    order
        .into_iter()
        .map(|i| {
            let (_, _, _, l, r) = out[i as usize];
            (l.to_owned(), r.to_owned())
        })
        .collect()
}

/// The tokenizer this file's `tokenizer.ggml.*` metadata describes (as transformers builds it
/// from a GGUF file, with llama.cpp's pre-tokenizer for `tokenizer.ggml.pre`).
pub fn tokenizer(file: &GgufFile) -> Result<Tokenizer, ModelError> {
    let model = file.get_str("tokenizer.ggml.model").ok_or_else(|| {
        gguf_err("the file has no tokenizer (metadata tokenizer.ggml.model is missing)")
    })?;
    let tokens: Vec<String> = file
        .get_str_array("tokenizer.ggml.tokens")
        .ok_or_else(|| {
            gguf_err("the file has no tokenizer (metadata tokenizer.ggml.tokens is missing)")
        })?
        .into_iter()
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() {
        return Err(gguf_err("metadata tokenizer.ggml.tokens is empty"));
    }
    if tokens.len() > super::config::MAX_VOCAB {
        return Err(gguf_err(format!(
            "metadata tokenizer.ggml.tokens has {} tokens, more than the limit of {}",
            tokens.len(),
            super::config::MAX_VOCAB
        )));
    }
    // Recovering merges looks up every split of every token: a hostile multi-megabyte token
    // would make that quadratic. Real vocabularies stay far below this.
    if let Some((i, t)) = tokens
        .iter()
        .enumerate()
        .find(|(_, t)| t.len() > MAX_TOKEN_BYTES)
    {
        return Err(gguf_err(format!(
            "token {i} of tokenizer.ggml.tokens is {} bytes long, more than the limit of {MAX_TOKEN_BYTES}",
            t.len()
        )));
    }
    let n = tokens.len();
    let types: Vec<i64> = file
        .get_i64_array("tokenizer.ggml.token_type")
        .unwrap_or_default();
    if !types.is_empty() && types.len() != n {
        return Err(gguf_err(format!(
            "metadata tokenizer.ggml.token_type has {} entries for {n} tokens",
            types.len()
        )));
    }
    let id_of = |key: &str| -> Result<Option<usize>, ModelError> {
        match file.get(key) {
            None => Ok(None),
            Some(_) => match file.get_u64(key) {
                Some(id) if (id as usize) < n && id < u64::from(u32::MAX) => Ok(Some(id as usize)),
                Some(id) => Err(gguf_err(format!(
                    "metadata {key} = {id} is outside the vocabulary of {n} tokens"
                ))),
                None => Err(gguf_err(format!("metadata {key} is not a token id"))),
            },
        }
    };
    let bos = id_of("tokenizer.ggml.bos_token_id")?;
    let eos = id_of("tokenizer.ggml.eos_token_id")?;
    let unk_id = id_of("tokenizer.ggml.unknown_token_id")?;
    id_of("tokenizer.ggml.padding_token_id")?;
    let arch = file.get_str("general.architecture").unwrap_or("");
    let gemma = model == "llama" && arch.starts_with("gemma");
    let add_bos = file
        .get_bool("tokenizer.ggml.add_bos_token")
        .unwrap_or(model == "llama");
    let add_eos = file
        .get_bool("tokenizer.ggml.add_eos_token")
        .unwrap_or(false);
    let kind = |i: usize| types.get(i).copied().unwrap_or(1);

    // The vocabulary as the BPE model sees it, and its merges.
    let (vocab_tokens, merges, byte_level): (Vec<String>, Vec<(String, String)>, bool) = match model
    {
        "gpt2" => {
            let table = bytes_to_unicode();
            let alphabet: std::collections::HashSet<char> = table.iter().copied().collect();
            let spelled: Vec<String> = tokens
                .iter()
                .map(|t| {
                    if t.chars().all(|c| alphabet.contains(&c)) {
                        t.clone()
                    } else {
                        t.bytes().map(|b| table[b as usize]).collect()
                    }
                })
                .collect();
            let merges = file
                .get_str_array("tokenizer.ggml.merges")
                .ok_or_else(|| {
                    gguf_err(
                        "metadata tokenizer.ggml.merges is missing (a gpt2 tokenizer needs it)",
                    )
                })?
                .into_iter()
                .map(|m| {
                    m.split_once(' ')
                        .map(|(a, b)| (a.to_owned(), b.to_owned()))
                        .ok_or_else(|| gguf_err(format!("merge {m:?} is not two tokens")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            (spelled, merges, true)
        }
        "llama" => {
            let spelled: Vec<String> = if gemma {
                tokens
                    .iter()
                    .map(|t| {
                        if t.contains(' ') && t.trim().is_empty() {
                            "\u{2581}".repeat(t.chars().count())
                        } else {
                            t.clone()
                        }
                    })
                    .collect()
            } else {
                tokens.clone()
            };
            let merges = if let Some(m) = file.get_str_array("tokenizer.ggml.merges") {
                m.into_iter()
                    .filter_map(|m| m.split_once(' ').map(|(a, b)| (a.to_owned(), b.to_owned())))
                    .collect()
            } else {
                let vocab = spelling_index(&spelled);
                if gemma {
                    // Gemma's scores do not follow its merge order; the file order does.
                    merges_from_scores(&spelled, &vocab, &|i| -(i as f64))
                } else {
                    let scores = file.get_f32_array("tokenizer.ggml.scores").ok_or_else(|| {
                        gguf_err("metadata tokenizer.ggml.scores is missing (a llama tokenizer needs it)")
                    })?;
                    if scores.len() != n {
                        return Err(gguf_err(format!(
                            "metadata tokenizer.ggml.scores has {} entries for {n} tokens",
                            scores.len()
                        )));
                    }
                    merges_from_scores(&spelled, &vocab, &|i| f64::from(scores[i]))
                }
            };
            (spelled, merges, false)
        }
        other => {
            return Err(gguf_err(format!(
                "tokenizer.ggml.model = {other:?} is not supported; attnscope reads gpt2 (byte-level BPE) and llama (SentencePiece) tokenizers"
            )));
        }
    };
    // The vocabulary (a later duplicate wins, as in a Python dict) and the added tokens:
    // control tokens (type 3) are special, user-defined ones (type 4) are matched whole.
    let vocab: Vocab = vocab_tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let alphabet: std::collections::HashSet<char> = bytes_to_unicode().iter().copied().collect();
    let mut specials = Vec::new();
    let mut users = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if kind(i) == 3 && (!byte_level || t.chars().all(|c| alphabet.contains(&c))) {
            specials.push(AddedToken::from(t.clone(), true).normalized(false));
        } else if kind(i) == 4 && vocab.contains_key(t) {
            users.push(AddedToken::from(t.clone(), false).normalized(false));
        }
    }
    let token_of = |id: Option<usize>| id.map(|i| (vocab_tokens[i].clone(), i));
    let mut single = Vec::new();
    let mut template_tokens = serde_json::Map::new();
    let mut special = |tok: &(String, usize), out: &mut Vec<Value>| {
        out.push(json!({"SpecialToken": {"id": tok.0, "type_id": 0}}));
        template_tokens.insert(
            tok.0.clone(),
            json!({"id": tok.0, "ids": [tok.1], "tokens": [tok.0]}),
        );
    };
    if add_bos && let Some(b) = token_of(bos) {
        special(&b, &mut single);
    }
    single.push(json!({"Sequence": {"id": "A", "type_id": 0}}));
    if add_eos && let Some(e) = token_of(eos) {
        special(&e, &mut single);
    }
    let post = json!({"type": "TemplateProcessing", "single": single, "pair": single,
        "special_tokens": template_tokens});
    let unk = token_of(unk_id)
        .map(|t| t.0)
        .or_else(|| (!byte_level && vocab.contains_key("<unk>")).then(|| "<unk>".to_owned()));
    let mut builder = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .fuse_unk(!byte_level)
        .byte_fallback(!byte_level);
    if !byte_level && let Some(u) = unk {
        builder = builder.unk_token(u);
    }
    let bpe = builder
        .build()
        .map_err(|e| gguf_err(format!("the vocabulary does not make a BPE model: {e}")))?;
    let (normalizer, pre_tokenizer, decoder) = if byte_level {
        let pre = file.get_str("tokenizer.ggml.pre").unwrap_or("default");
        (
            Value::Null,
            pre_split(pre).unwrap_or_else(|| {
                json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true})
            }),
            json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}),
        )
    } else {
        let sp_decoder = json!({"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"}]});
        if gemma {
            (
                json!({"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"}),
                json!({"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false}),
                sp_decoder,
            )
        } else {
            (
                Value::Null,
                json!({"type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "first", "split": false}),
                sp_decoder,
            )
        }
    };
    // The small parts are described as in tokenizer.json and deserialized by `tokenizers`.
    fn part<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<Option<T>, ModelError> {
        if v.is_null() {
            return Ok(None);
        }
        serde_json::from_value(v)
            .map(Some)
            .map_err(|e| gguf_err(format!("cannot build the tokenizer's {what}: {e}")))
    }
    let mut tok = Tokenizer::new(bpe);
    tok.with_normalizer(part::<NormalizerWrapper>(normalizer, "normalizer")?);
    tok.with_pre_tokenizer(part::<PreTokenizerWrapper>(pre_tokenizer, "pre-tokenizer")?);
    tok.with_post_processor(part::<PostProcessorWrapper>(post, "post-processor")?);
    tok.with_decoder(part::<DecoderWrapper>(decoder, "decoder")?);
    tok.add_special_tokens(&specials);
    tok.add_tokens(&users);
    Ok(tok)
}

/// llama.cpp's top-level tensor names and their HuggingFace names.
const TOP_NAMES: [(&str, &str); 3] = [
    ("token_embd.weight", "model.embed_tokens.weight"),
    ("output_norm.weight", "model.norm.weight"),
    ("output.weight", "lm_head.weight"),
];

/// llama.cpp's names of a block's tensors (`blk.N.NAME.weight`), the architecture a row is
/// for (`None`: any; a row for the architecture comes before the general one), and the
/// HuggingFace name (`model.layers.N.NAME.weight`).
const BLOCK_NAMES: [(&str, Option<&str>, &str); 14] = [
    ("attn_norm", None, "input_layernorm"),
    ("attn_q", None, "self_attn.q_proj"),
    ("attn_k", None, "self_attn.k_proj"),
    ("attn_v", None, "self_attn.v_proj"),
    ("attn_output", None, "self_attn.o_proj"),
    ("attn_q_norm", None, "self_attn.q_norm"),
    ("attn_k_norm", None, "self_attn.k_norm"),
    ("ffn_norm", Some("gemma3"), "pre_feedforward_layernorm"),
    ("ffn_norm", None, "post_attention_layernorm"),
    (
        "post_attention_norm",
        Some("gemma3"),
        "post_attention_layernorm",
    ),
    (
        "post_ffw_norm",
        Some("gemma3"),
        "post_feedforward_layernorm",
    ),
    ("ffn_gate", None, "mlp.gate_proj"),
    ("ffn_up", None, "mlp.up_proj"),
    ("ffn_down", None, "mlp.down_proj"),
];

/// The HuggingFace name of a llama.cpp tensor name for this architecture (`None`: a tensor
/// attnscope does not use, e.g. `rope_freqs.weight`).
fn hf_name(arch: &str, gguf: &str) -> Option<String> {
    if let Some((_, hf)) = TOP_NAMES.iter().find(|(g, _)| *g == gguf) {
        return Some((*hf).to_owned());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, part) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (base, suffix) = part.rsplit_once('.')?;
    let (_, _, hf) = BLOCK_NAMES
        .iter()
        .find(|(b, for_arch, _)| *b == base && for_arch.is_none_or(|a| a == arch))?;
    Some(format!("model.layers.{layer}.{hf}.{suffix}"))
}

/// The llama.cpp name of a HuggingFace tensor name for this architecture ([`hf_name`]
/// backwards), also for a tensor the file lacks: an error names what the file would hold.
fn gguf_name(arch: &str, hf: &str) -> Option<String> {
    if let Some((g, _)) = TOP_NAMES.iter().find(|(_, h)| *h == hf) {
        return Some((*g).to_owned());
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, part) = rest.split_once('.')?;
    let suffix = part.rsplit_once('.')?.1;
    BLOCK_NAMES
        .iter()
        .map(|(b, _, _)| format!("blk.{layer}.{b}.{suffix}"))
        .find(|g| hf_name(arch, g).as_deref() == Some(hf))
}

/// Undoes llama.cpp's `permute` of Q/K rows (pairs interleaved for its RoPE): row
/// h·2·half + 2i + j of the file is row h·2·half + j·half + i of the checkpoint.
/// The packed form of a 2-D tensor for one-row products (rows reordered by `order`, where
/// row i is the file's row `order[i]`), when its type has one.
fn packed_of(file: &GgufFile, t: &TensorInfo, order: Option<&[usize]>) -> Option<PackedRows> {
    let p = PackedRows::from_gguf(t.ggml_type, file.tensor_bytes(t), t.n_rows(), t.row_len())?;
    match order {
        Some(o) => p.permute_rows(o),
        None => Some(p),
    }
}

/// The row order [`unpermute_rows`] gives: row i of the result is row `order[i]` of the file.
fn unpermuted_order(rows: usize, heads: usize) -> Option<Vec<usize>> {
    if heads == 0 || !rows.is_multiple_of(2 * heads) {
        return None;
    }
    let half = rows / heads / 2;
    let mut order = vec![0; rows];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                order[h * 2 * half + j * half + i] = h * 2 * half + 2 * i + j;
            }
        }
    }
    Some(order)
}

fn unpermute_rows(data: &[f32], rows: usize, cols: usize, heads: usize) -> Option<Vec<f32>> {
    let order = unpermuted_order(rows, heads)?;
    if data.len() != rows * cols {
        return None;
    }
    Some(
        order
            .iter()
            .flat_map(|&r| data[r * cols..(r + 1) * cols].iter().copied())
            .collect(),
    )
}

/// The first non-finite value of a slice.
fn non_finite(name: &str, data: &[f32], offset: usize) -> Option<NonFinite> {
    let mut bad = data.iter().enumerate().filter(|(_, x)| !x.is_finite());
    let (first, _) = bad.next()?;
    Some(NonFinite {
        name: name.to_owned(),
        count: 1 + bad.count(),
        first_index: offset + first,
    })
}

/// One tensor's name, its f32 data (`None`: left quantised as a row table), its NaN/Inf,
/// and its packed form for one-row products when its type has one.
type Converted = (String, Option<Tensor>, Vec<NonFinite>, Option<PackedRows>);

/// The weights of a GGUF file under their HuggingFace names, dequantised to f32 (the token
/// embedding as a row table over the mapped file).
pub fn weights(
    file: &Arc<GgufFile>,
    config: &ModelConfig,
    progress: &(dyn Fn(f32) + Sync),
) -> Result<Weights, ModelError> {
    let arch = file
        .get_str("general.architecture")
        .unwrap_or("")
        .to_owned();
    let (heads, kv) = (config.heads(), config.kv_heads());
    let mut w = Weights::empty(file.file_bytes(), String::new());
    let wanted: Vec<(&TensorInfo, String)> = file
        .tensors()
        .iter()
        .filter_map(|t| hf_name(&arch, &t.name).map(|n| (t, n)))
        .collect();
    for (t, _) in &wanted {
        if !t.ggml_type.can_dequantize() {
            return Err(gguf_err(format!(
                "tensor {:?} has type {}, which attnscope cannot dequantise",
                t.name,
                t.ggml_type.name()
            )));
        }
    }
    w.dtype = file_type(file)
        .unwrap_or_else(|| main_type(&type_counts(wanted.iter().map(|(t, _)| *t))))
        .to_owned();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let total = wanted.len().max(1);
    let converted: Vec<Result<Converted, ModelError>> = wanted
        .par_iter()
        .map(|(t, name)| {
            let shape = t.shape();
            let result = if t.name == "token_embd.weight" {
                // Kept quantised: scan it for NaN/Inf in bounded chunks, never hold it in f32.
                let row = t.row_len();
                let chunk_rows = (1 << 16) / row.max(1) + 1;
                let mut buf = vec![0.0f32; chunk_rows * row];
                let mut bad = Vec::new();
                let mut r = 0;
                while r < t.n_rows() {
                    let take = chunk_rows.min(t.n_rows() - r);
                    let out = &mut buf[..take * row];
                    file.dequantize_rows(t, r, out)
                        .map_err(|e| gguf_err(e.to_string()))?;
                    if let Some(nf) = non_finite(&t.name, out, r * row) {
                        bad.push(nf);
                        break;
                    }
                    r += take;
                }
                let packed = packed_of(file, t, None);
                (name.clone(), None, bad, packed)
            } else {
                let mut data = file.dequantize(t).map_err(|e| gguf_err(e.to_string()))?;
                let is_q = t.name.contains(".attn_q.");
                let is_k = t.name.contains(".attn_k.");
                let mut order = None;
                if arch == "llama" && (is_q || is_k) {
                    let rows = shape.first().copied().unwrap_or(0);
                    let cols = if shape.len() > 1 { shape[1] } else { 1 };
                    order = unpermuted_order(rows, if is_q { heads } else { kv });
                    data = unpermute_rows(&data, rows, cols, if is_q { heads } else { kv })
                        .ok_or_else(|| {
                            gguf_err(format!(
                                "tensor {:?} has {rows} rows, not a multiple of 2 × {} heads",
                                t.name,
                                if is_q { heads } else { kv }
                            ))
                        })?;
                }
                if arch == "gemma3" && t.name.ends_with("norm.weight") {
                    data.iter_mut().for_each(|x| *x -= 1.0);
                }
                let bad = non_finite(&t.name, &data, 0).into_iter().collect();
                let packed = if shape.len() == 2 {
                    packed_of(file, t, order.as_deref())
                } else {
                    None
                };
                (name.clone(), Some(Tensor { shape, data }), bad, packed)
            };
            let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(d as f32 / total as f32);
            Ok(result)
        })
        .collect();
    for r in converted {
        let (name, tensor, bad, packed) = r?;
        w.non_finite.extend(bad);
        if let Some(p) = packed {
            w.insert_packed(name.clone(), p);
        }
        match tensor {
            Some(t) => w.insert(name, t),
            None => {
                let t = file
                    .tensor("token_embd.weight")
                    .ok_or_else(|| gguf_err("tensor token_embd.weight vanished"))?
                    .clone();
                let src = Arc::clone(file);
                let bytes = t.n_bytes;
                let (rows, cols) = (t.n_rows(), t.row_len());
                w.insert_rows(
                    name,
                    RowTable::new(rows, cols, bytes, move |row, out| {
                        src.dequantize_rows(&t, row, out).map_err(|e| e.to_string())
                    }),
                );
            }
        }
    }
    w.non_finite.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(w)
}

/// Everything a GGUF file holds for attnscope: config, tokenizer, what [`load`]'s `build`
/// made of its weights, and its card.
pub struct Loaded<T> {
    /// The config its metadata describes.
    pub config: ModelConfig,
    /// Its tokenizer.
    pub tokenizer: ModelTokenizer,
    /// What `build` made of its weights.
    pub built: T,
    /// Its model card.
    pub card: GgufCard,
}

/// An error from building the network, in the file's terms: the GGUF tensor names of
/// `names` (checkpoint name, GGUF name) instead of the checkpoint names they were mapped to,
/// "the metadata" instead of config.json.
pub fn in_file_terms(arch: &str, names: &[(String, String)], e: ModelError) -> ModelError {
    if let ModelError::MissingKey(hf) = &e
        && let Some(g) = gguf_name(arch, hf)
    {
        return ModelError::Gguf(format!("the file has no tensor {g:?}"));
    }
    let mut m = e
        .to_string()
        .replace("config.json implies", "the metadata implies")
        .replace("config.json: ", "metadata: ")
        .replace("model.safetensors has no tensor", "the file has no tensor");
    for (hf, gguf) in names {
        let stem = hf.trim_end_matches(".weight").trim_end_matches(".bias");
        let gstem = gguf.trim_end_matches(".weight").trim_end_matches(".bias");
        if m.contains(stem) {
            m = m.replace(stem, gstem);
        }
    }
    ModelError::Gguf(m)
}

/// Opens a GGUF file: metadata, tokenizer and weights (progress in [0, 1]), and runs `build`
/// on the weights (its errors in the file's terms, [`in_file_terms`]). The tokenizer is
/// built on one core while the weights are dequantised and `build` runs: Gemma 3's 262,144
/// spellings take as long as its weights (on a Zen 3, 0.69 s against 0.30 s dequantising and
/// 0.40 s laying out). A tokenizer error is reported before one from the weights, as when
/// they ran one after the other.
pub fn load<T: Send>(
    path: &Path,
    progress: &(dyn Fn(f32) + Sync),
    build: impl FnOnce(&ModelConfig, &mut Weights) -> Result<T, ModelError> + Send,
) -> Result<Loaded<T>, ModelError> {
    let timings = std::env::var_os("ATTNSCOPE_TIMINGS").is_some();
    let start = std::time::Instant::now();
    let lap = |what: &str| {
        if timings {
            eprintln!(
                "gguf load: {what} at {:.0} ms",
                start.elapsed().as_secs_f64() * 1e3
            );
        }
    };
    let file = GgufFile::open(path).map_err(|e| gguf_err(e.to_string()))?;
    let file = Arc::new(file);
    lap("header and metadata parsed");
    let config_json = hf_config(&file)?;
    let config = ModelConfig::from_json(&config_json.to_string()).map_err(|e| {
        gguf_err(format!(
            "the metadata describes an invalid model ({})",
            e.to_string().replace("config.json: ", "")
        ))
    })?;
    progress(0.05);
    let (tokenizer, rest) = rayon::join(
        || {
            let t = tokenizer(&file).map(ModelTokenizer::from_tokenizer);
            lap("tokenizer built");
            t
        },
        || -> Result<(T, GgufCard), ModelError> {
            let mut weights = weights(&file, &config, &|f| progress(0.05 + 0.85 * f))?;
            lap("weights dequantised");
            let arch = file
                .get_str("general.architecture")
                .unwrap_or("")
                .to_owned();
            let names: Vec<(String, String)> = file
                .tensors()
                .iter()
                .filter_map(|t| hf_name(&arch, &t.name).map(|hf| (hf, t.name.clone())))
                .collect();
            let mut quant_mix: Vec<(String, usize)> = type_counts(file.tensors())
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            quant_mix.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let card = GgufCard {
                version: file.version(),
                name: file.get_str("general.name").map(str::to_owned),
                context_length: file.get_u64(&format!("{arch}.context_length")),
                license: file.get_str("general.license").map(str::to_owned),
                mapped_bytes: weights.row_table_bytes(),
                file_type: file_type(&file),
                architecture: arch.clone(),
                quant_mix,
            };
            let built =
                build(&config, &mut weights).map_err(|e| in_file_terms(&arch, &names, e))?;
            lap("network built");
            Ok((built, card))
        },
    );
    let tokenizer = tokenizer?;
    let (built, card) = rest?;
    Ok(Loaded {
        config,
        tokenizer,
        built,
        card,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// llama.cpp's `permute` (convert_hf_to_gguf.py), written out independently.
    fn permute(data: &[f32], rows: usize, cols: usize, heads: usize) -> Vec<f32> {
        let half = rows / heads / 2;
        let mut out = vec![0.0; data.len()];
        for h in 0..heads {
            for j in 0..2 {
                for i in 0..half {
                    // reshape(h, 2, half).swapaxes(1, 2): (h, j, i) moves to (h, i, j).
                    let src = h * 2 * half + j * half + i;
                    let dst = h * 2 * half + i * 2 + j;
                    out[dst * cols..(dst + 1) * cols]
                        .copy_from_slice(&data[src * cols..(src + 1) * cols]);
                }
            }
        }
        out
    }

    #[test]
    fn unpermute_undoes_llama_cpp_permute() {
        let (rows, cols, heads) = (24, 3, 3);
        let data: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
        let back = unpermute_rows(&permute(&data, rows, cols, heads), rows, cols, heads);
        assert_eq!(back.as_deref(), Some(data.as_slice()));
        assert!(
            unpermute_rows(&data, 10, 3, 3).is_none(),
            "rows not 2·heads·k"
        );
    }

    #[test]
    fn byte_level_alphabet_is_gpt2s() {
        let t = bytes_to_unicode();
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'\n' as usize], 'Ċ');
        assert_eq!(t[b'a' as usize], 'a');
        let distinct: std::collections::HashSet<char> = t.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
    }

    #[test]
    fn tensor_names_map_to_checkpoint_keys() {
        assert_eq!(
            hf_name("llama", "blk.3.attn_q.weight").as_deref(),
            Some("model.layers.3.self_attn.q_proj.weight")
        );
        assert_eq!(
            hf_name("qwen2", "blk.0.attn_k.bias").as_deref(),
            Some("model.layers.0.self_attn.k_proj.bias")
        );
        assert_eq!(
            hf_name("llama", "blk.1.ffn_norm.weight").as_deref(),
            Some("model.layers.1.post_attention_layernorm.weight")
        );
        assert_eq!(
            hf_name("gemma3", "blk.1.ffn_norm.weight").as_deref(),
            Some("model.layers.1.pre_feedforward_layernorm.weight")
        );
        assert_eq!(
            hf_name("gemma3", "blk.1.post_attention_norm.weight").as_deref(),
            Some("model.layers.1.post_attention_layernorm.weight")
        );
        assert_eq!(
            hf_name("llama", "output.weight").as_deref(),
            Some("lm_head.weight")
        );
        assert_eq!(hf_name("llama", "blk.x.attn_q.weight"), None);
        // Backwards, for names the file lacks too.
        for (arch, g) in [
            ("llama", "blk.30.attn_q.weight"),
            ("qwen2", "blk.0.attn_k.bias"),
            ("gemma3", "blk.1.ffn_norm.weight"),
            ("gemma3", "blk.1.post_attention_norm.weight"),
            ("llama", "blk.1.ffn_norm.weight"),
            ("llama", "token_embd.weight"),
            ("llama", "output.weight"),
        ] {
            let hf = hf_name(arch, g).unwrap();
            assert_eq!(gguf_name(arch, &hf).as_deref(), Some(g), "{arch} {hf}");
        }
        assert_eq!(gguf_name("llama", "model.layers.3.rotary.inv_freq"), None);
    }

    #[test]
    fn merges_follow_scores_then_lengths() {
        // transformers' generate_merges on this vocabulary gives exactly this order.
        let tokens: Vec<String> = ["a", "b", "c", "ab", "bc", "abc"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let vocab = spelling_index(&tokens);
        let scores = [0.0, 0.0, 0.0, -1.0, -2.0, -3.0];
        let m = merges_from_scores(&tokens, &vocab, &|i| scores[i]);
        let m: Vec<(&str, &str)> = m.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(m, [("a", "b"), ("b", "c"), ("ab", "c"), ("a", "bc")]);
    }
}
