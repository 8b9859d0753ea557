//! `config.json` as HuggingFace writes it, for the architectures attnscope runs (BERT and
//! GPT-2 here, the RoPE families in `families.rs`), each converted once into a
//! [`Network`]. Every size field is checked against a cap (`MAX_*` below) and the weights it
//! implies against [`MAX_WEIGHT_BYTES`] before anything is allocated for them.

use serde::Deserialize;

pub use super::families::{Gemma3TextConfig, LlamaConfig};

use super::ModelError;
use super::network::Network;
use crate::core::limits::human_bytes;

/// The architectures attnscope can run, named as in `config.json`'s `model_type`.
pub const SUPPORTED: &[&str] = &[
    "bert",
    "gpt2",
    "llama",
    "qwen2",
    "qwen3",
    "mistral",
    "gemma3_text",
    "bart",
    "marian",
];

/// Most vocabulary rows a config may declare (2²¹; large LLM vocabularies are ~256 k).
pub const MAX_VOCAB: usize = 1 << 21;
/// Widest hidden size (16384).
pub const MAX_HIDDEN: usize = 16384;
/// Most layers.
pub const MAX_LAYERS: usize = 256;
/// Most heads per layer.
pub const MAX_HEADS: usize = 256;
/// Widest feed-forward layer.
pub const MAX_INTERMEDIATE: usize = 1 << 17;
/// Most positions.
pub const MAX_POSITIONS: usize = 1 << 16;
/// Most token types (segment ids).
pub const MAX_TYPE_VOCAB: usize = 1024;
/// Largest f32 weights a config may describe (16 GiB): checked before the file is read.
pub const MAX_WEIGHT_BYTES: u64 = 16 << 30;
/// Largest captures one forward pass may keep (8 GiB): checked before the pass runs.
pub const MAX_RUN_BYTES: u64 = 8 << 30;

/// Refuses the first (config.json field, value, cap) whose value is over its cap.
pub(super) fn check_limits(sizes: &[(&'static str, usize, usize)]) -> Result<(), ModelError> {
    match sizes.iter().find(|(_, value, limit)| value > limit) {
        Some(&(field, value, limit)) => Err(ModelError::OverLimit {
            field,
            value,
            limit,
        }),
        None => Ok(()),
    }
}

/// Runs whose n × n scores and probabilities of all heads fit in this keep them all; longer
/// runs keep hidden states and pooled digests (see `Model::keeps_full`).
pub const FULL_CAPTURE_BYTES: u64 = 1 << 30;

/// BERT-family settings (BertModel; covers all-MiniLM-L6-v2).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Layers.
    pub num_hidden_layers: usize,
    /// Heads per layer.
    pub num_attention_heads: usize,
    /// Feed-forward width.
    pub intermediate_size: usize,
    /// Longest input.
    pub max_position_embeddings: usize,
    /// Token type vocabulary (segment ids).
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[serde(default = "bert_eps")]
    pub layer_norm_eps: f32,
    /// Activation: "gelu" (erf) or "gelu_new" / "gelu_pytorch_tanh" (tanh approximation).
    #[serde(default = "gelu")]
    pub hidden_act: String,
}

/// GPT-2-family settings (GPT2Model / GPT2LMHeadModel).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Gpt2Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub n_embd: usize,
    /// Layers.
    pub n_layer: usize,
    /// Heads per layer.
    pub n_head: usize,
    /// Longest input.
    pub n_positions: usize,
    /// Feed-forward width (default 4·n_embd).
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// LayerNorm epsilon.
    #[serde(default = "gpt2_eps")]
    pub layer_norm_epsilon: f32,
    /// Activation (GPT-2 uses "gelu_new").
    #[serde(default = "gelu_new")]
    pub activation_function: String,
    /// Divide scores by √d (true for GPT-2).
    #[serde(default = "yes")]
    pub scale_attn_weights: bool,
}

fn two() -> usize {
    2
}
fn bert_eps() -> f32 {
    1e-12
}
fn gpt2_eps() -> f32 {
    1e-5
}
fn gelu() -> String {
    "gelu".into()
}
fn gelu_new() -> String {
    "gelu_new".into()
}
fn yes() -> bool {
    true
}

/// A family's own config, as parsed from config.json.
#[derive(Clone, Debug, PartialEq)]
pub enum Family {
    /// BERT.
    Bert(BertConfig),
    /// GPT-2.
    Gpt2(Gpt2Config),
    /// llama, qwen2, qwen3, mistral.
    Llama(LlamaConfig),
    /// gemma3_text.
    Gemma3(Gemma3TextConfig),
}

/// A parsed config: the family's own fields and the one network description they convert
/// into (every accessor below reads the description).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// The fields as config.json gives them.
    pub family: Family,
    /// What the forward pass runs.
    pub network: Network,
    /// Tokens that end generation (`eos_token_id`: one id or a list; empty when absent).
    pub eos: Vec<u32>,
}

impl ModelConfig {
    /// Parses `config.json`, dispatching on `model_type`, and converts it into a [`Network`],
    /// refusing fields that disagree (one line naming the field).
    pub fn from_json(text: &str) -> Result<ModelConfig, ModelError> {
        #[derive(Deserialize)]
        struct Head {
            model_type: Option<String>,
            #[serde(default)]
            eos_token_id: Option<serde_json::Value>,
        }
        let bad = |e: serde_json::Error| ModelError::Config(e.to_string());
        let head: Head = serde_json::from_str(text).map_err(bad)?;
        let kind = head
            .model_type
            .ok_or_else(|| ModelError::Config("no \"model_type\" field".into()))?;
        let family = match kind.as_str() {
            "bert" => Family::Bert(serde_json::from_str(text).map_err(bad)?),
            "gpt2" => Family::Gpt2(serde_json::from_str(text).map_err(bad)?),
            "llama" | "qwen2" | "qwen3" | "mistral" => {
                Family::Llama(serde_json::from_str(text).map_err(bad)?)
            }
            "gemma3_text" => Family::Gemma3(serde_json::from_str(text).map_err(bad)?),
            "bart" | "marian" => {
                return Err(ModelError::EncoderDecoder {
                    model_type: kind.clone(),
                });
            }
            other => {
                return Err(ModelError::Unsupported {
                    model_type: other.to_owned(),
                });
            }
        };
        ModelConfig::check_sizes(&family)?;
        let network = match &family {
            Family::Bert(c) => c.network()?,
            Family::Gpt2(c) => c.network()?,
            Family::Llama(c) => c.network()?,
            Family::Gemma3(c) => c.network()?,
        };
        // The norms divide by √(variance + ε): a negative or NaN ε makes every hidden state
        // NaN, which would show as a model whose every head is broken.
        if !(network.norm_eps.is_finite() && network.norm_eps > 0.0) {
            let name = match &family {
                Family::Bert(_) => "layer_norm_eps",
                Family::Gpt2(_) => "layer_norm_epsilon",
                Family::Llama(_) | Family::Gemma3(_) => "rms_norm_eps",
            };
            return Err(super::families::field(
                name,
                format!("must be a number above 0, got {}", network.norm_eps),
            ));
        }
        // eos_token_id: an id, a list of ids, or null; anything else is ignored (it only ends
        // generation early).
        let eos = match &head.eos_token_id {
            Some(serde_json::Value::Number(n)) => n.as_u64().into_iter().collect(),
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_u64()).collect(),
            _ => Vec::new(),
        }
        .into_iter()
        .filter(|&id| id < network.vocab_size as u64)
        .map(|id| id as u32)
        .collect();
        let cfg = ModelConfig {
            family,
            network,
            eos,
        };
        cfg.check_bytes()?;
        Ok(cfg)
    }

    /// Every size field under its config.json name, its value and its cap. RoPE families'
    /// `max_position_embeddings` is not among them: it sizes no table, and inputs are capped
    /// at [`MAX_POSITIONS`] instead.
    fn check_sizes(family: &Family) -> Result<(), ModelError> {
        let sizes: Vec<(&'static str, usize, usize)> = match family {
            Family::Bert(c) => vec![
                ("vocab_size", c.vocab_size, MAX_VOCAB),
                ("hidden_size", c.hidden_size, MAX_HIDDEN),
                ("num_hidden_layers", c.num_hidden_layers, MAX_LAYERS),
                ("num_attention_heads", c.num_attention_heads, MAX_HEADS),
                ("intermediate_size", c.intermediate_size, MAX_INTERMEDIATE),
                (
                    "max_position_embeddings",
                    c.max_position_embeddings,
                    MAX_POSITIONS,
                ),
                ("type_vocab_size", c.type_vocab_size, MAX_TYPE_VOCAB),
            ],
            Family::Gpt2(c) => vec![
                ("vocab_size", c.vocab_size, MAX_VOCAB),
                ("n_embd", c.n_embd, MAX_HIDDEN),
                ("n_layer", c.n_layer, MAX_LAYERS),
                ("n_head", c.n_head, MAX_HEADS),
                (
                    "n_inner",
                    c.n_inner.unwrap_or(c.n_embd.saturating_mul(4)),
                    MAX_INTERMEDIATE,
                ),
                ("n_positions", c.n_positions, MAX_POSITIONS),
            ],
            Family::Llama(c) => vec![
                ("vocab_size", c.vocab_size, MAX_VOCAB),
                ("hidden_size", c.hidden_size, MAX_HIDDEN),
                ("num_hidden_layers", c.num_hidden_layers, MAX_LAYERS),
                ("num_attention_heads", c.num_attention_heads, MAX_HEADS),
                (
                    "num_key_value_heads",
                    c.num_key_value_heads.unwrap_or(0),
                    MAX_HEADS,
                ),
                ("head_dim", c.head_dim.unwrap_or(0), MAX_HIDDEN),
                ("intermediate_size", c.intermediate_size, MAX_INTERMEDIATE),
            ],
            Family::Gemma3(c) => vec![
                ("vocab_size", c.vocab_size, MAX_VOCAB),
                ("hidden_size", c.hidden_size, MAX_HIDDEN),
                ("num_hidden_layers", c.num_hidden_layers, MAX_LAYERS),
                ("num_attention_heads", c.num_attention_heads, MAX_HEADS),
                ("num_key_value_heads", c.num_key_value_heads, MAX_HEADS),
                ("head_dim", c.head_dim.unwrap_or(0), MAX_HIDDEN),
                ("intermediate_size", c.intermediate_size, MAX_INTERMEDIATE),
            ],
        };
        check_limits(&sizes)
    }

    fn check_bytes(&self) -> Result<(), ModelError> {
        let bytes = self.weight_bytes();
        if bytes > u128::from(MAX_WEIGHT_BYTES) {
            return Err(ModelError::TooLarge {
                what: super::Footprint::Weights {
                    layers: self.layers(),
                    width: self.hidden(),
                    vocab: self.vocab_size(),
                },
                need: human_bytes(bytes),
                limit: human_bytes(u128::from(MAX_WEIGHT_BYTES)),
            });
        }
        Ok(())
    }

    /// Feed-forward width.
    pub fn intermediate(&self) -> usize {
        self.network.mlp.intermediate
    }

    /// Bytes of the f32 weights this config implies (embeddings and learned positions, and
    /// per layer the Q, K, V, O projections and the two or three MLP matrices; biases and
    /// norms ignored).
    pub fn weight_bytes(&self) -> u128 {
        let net = &self.network;
        let [v, d, l, ff, qw, kvw] = [
            net.vocab_size,
            net.hidden,
            net.layers.len(),
            net.mlp.intermediate,
            net.q_width(),
            net.kv_width(),
        ]
        .map(|x| x as u128);
        let p = if net.embedding.learned_positions {
            net.max_positions as u128
        } else {
            0
        };
        let mlp = if net.mlp.gated { 3 } else { 2 };
        4 * ((v + p) * d + l * (2 * d * qw + 2 * d * kvw + mlp * d * ff))
    }

    /// Bytes one forward pass over `n` tokens keeps: per layer the input and attention
    /// output (n×d each), every head's Q, K, V, context and pre-RoPE Q and K (n×dh each)
    /// and its probabilities (heads·n²).
    pub fn run_bytes(&self, n: usize) -> u128 {
        let a = &self.network.attention;
        let [n, d, l, h, dh] =
            [n, self.hidden(), self.layers(), a.heads, a.head_dim].map(|x| x as u128);
        4 * l * (2 * n * d + 6 * n * h * dh + h * n * n)
    }

    /// Bytes of every head's n × n probabilities (what a full run keeps).
    pub fn matrix_bytes(&self, n: usize) -> u128 {
        let [n, l, h] = [n, self.layers(), self.network.attention.heads].map(|x| x as u128);
        4 * l * h * n * n
    }

    /// Bytes a run of n tokens needs without full matrices: each layer's input (n × d), one
    /// layer's working set (Q, K, V, context, MLP), per head a 64-row block of scores and the
    /// overviews.
    pub fn lean_run_bytes(&self, n: usize) -> u128 {
        let a = &self.network.attention;
        let [n, d, l, h, dh, ff] = [
            n,
            self.hidden(),
            self.layers(),
            a.heads,
            a.head_dim,
            self.network.mlp.intermediate,
        ]
        .map(|x| x as u128);
        let side = n.min(256);
        4 * (l * n * d + n * (5 * h * dh + 3 * ff + 6 * d) + h * 64 * n + l * h * side * side)
    }

    /// Floating-point operations of a forward pass over n tokens: the projections and MLP
    /// (2 per weight per token) and the two attention products (halved when causal).
    pub fn forward_flops(&self, n: usize) -> f64 {
        let net = &self.network;
        let a = &net.attention;
        let (d, qw, kvw, ff) = (
            net.hidden as f64,
            net.q_width() as f64,
            net.kv_width() as f64,
            net.mlp.intermediate as f64,
        );
        let mlp = if net.mlp.gated { 3.0 } else { 2.0 } * d * ff;
        let per_token = 2.0 * (d * (qw + 2.0 * kvw) + qw * d + mlp);
        let n = n as f64;
        let attn = 4.0 * n * n * (a.heads * a.head_dim) as f64 / if a.causal { 2.0 } else { 1.0 };
        net.layers.len() as f64 * (per_token * n + attn)
    }

    /// config.json's `model_type` ("bert", "gpt2", "llama", "qwen2", …).
    pub fn model_type(&self) -> &str {
        &self.network.model_type
    }
    /// Rows of the token embedding table.
    pub fn vocab_size(&self) -> usize {
        self.network.vocab_size
    }
    /// Model width.
    pub fn hidden(&self) -> usize {
        self.network.hidden
    }
    /// Query heads per layer.
    pub fn heads(&self) -> usize {
        self.network.attention.heads
    }
    /// KV heads per layer (= heads without grouped-query attention).
    pub fn kv_heads(&self) -> usize {
        self.network.attention.kv_heads
    }
    /// Head width (not always hidden / heads: Qwen 3 and Gemma give it explicitly).
    pub fn head_dim(&self) -> usize {
        self.network.attention.head_dim
    }
    /// Layers.
    pub fn layers(&self) -> usize {
        self.network.layers.len()
    }
    /// Longest input in tokens.
    pub fn max_positions(&self) -> usize {
        self.network.max_positions
    }
    /// Whether attention is causal.
    pub fn causal(&self) -> bool {
        self.network.attention.causal
    }
    /// Activation name.
    pub fn activation(&self) -> &str {
        &self.network.mlp.activation
    }
}
