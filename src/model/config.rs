//! `config.json` as HuggingFace writes it, for the architectures attnscope runs. Every size
//! field is checked against a cap (`MAX_*` below) and the weights it implies against
//! [`MAX_WEIGHT_BYTES`] before anything is allocated for them.

use serde::Deserialize;

use super::ModelError;
use crate::core::limits::human_bytes;

/// The architectures attnscope can run, named as in `config.json`'s `model_type`.
pub const SUPPORTED: &[&str] = &["bert", "gpt2"];

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

/// A parsed config.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelConfig {
    /// BERT family.
    Bert(BertConfig),
    /// GPT-2 family.
    Gpt2(Gpt2Config),
}

impl ModelConfig {
    /// Parses `config.json`, dispatching on `model_type`.
    pub fn from_json(text: &str) -> Result<ModelConfig, ModelError> {
        #[derive(Deserialize)]
        struct Head {
            model_type: Option<String>,
        }
        let bad = |e: serde_json::Error| ModelError::Config(e.to_string());
        let head: Head = serde_json::from_str(text).map_err(bad)?;
        let kind = head
            .model_type
            .ok_or_else(|| ModelError::Config("no \"model_type\" field".into()))?;
        let cfg = match kind.as_str() {
            "bert" => ModelConfig::Bert(serde_json::from_str(text).map_err(bad)?),
            "gpt2" => ModelConfig::Gpt2(serde_json::from_str(text).map_err(bad)?),
            other => {
                return Err(ModelError::Unsupported {
                    model_type: other.to_owned(),
                });
            }
        };
        cfg.check()?;
        Ok(cfg)
    }

    /// Every size field under its config.json name, its value and its cap.
    fn sizes(&self) -> [(&'static str, usize, usize); 7] {
        match self {
            ModelConfig::Bert(c) => [
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
            ModelConfig::Gpt2(c) => [
                ("vocab_size", c.vocab_size, MAX_VOCAB),
                ("n_embd", c.n_embd, MAX_HIDDEN),
                ("n_layer", c.n_layer, MAX_LAYERS),
                ("n_head", c.n_head, MAX_HEADS),
                ("n_inner", self.intermediate(), MAX_INTERMEDIATE),
                ("n_positions", c.n_positions, MAX_POSITIONS),
                ("type_vocab_size", 0, MAX_TYPE_VOCAB),
            ],
        }
    }

    /// Feed-forward width (GPT-2: `n_inner`, default 4·n_embd).
    pub fn intermediate(&self) -> usize {
        match self {
            ModelConfig::Bert(c) => c.intermediate_size,
            ModelConfig::Gpt2(c) => c.n_inner.unwrap_or(c.n_embd.saturating_mul(4)),
        }
    }

    /// Bytes of the f32 weights this config implies (embeddings, and per layer the four
    /// d×d attention matrices and the two d×ff feed-forward ones; biases and norms ignored).
    pub fn weight_bytes(&self) -> u128 {
        let [v, d, l, ff, p] = [
            self.vocab_size(),
            self.hidden(),
            self.layers(),
            self.intermediate(),
            self.max_positions(),
        ]
        .map(|x| x as u128);
        4 * ((v + p) * d + l * (4 * d * d + 2 * d * ff))
    }

    /// Bytes one forward pass over `n` tokens keeps: per layer the input and attention
    /// output (n×d each), every head's Q, K, V and context (n×d together, four times) and
    /// its scores and probabilities (2·heads·n²).
    pub fn run_bytes(&self, n: usize) -> u128 {
        let [n, d, l, h] = [n, self.hidden(), self.layers(), self.heads()].map(|x| x as u128);
        4 * l * (6 * n * d + 2 * h * n * n)
    }

    fn check(&self) -> Result<(), ModelError> {
        for (field, value, limit) in self.sizes() {
            if value > limit {
                return Err(ModelError::OverLimit {
                    field,
                    value,
                    limit,
                });
            }
        }
        let bytes = self.weight_bytes();
        if bytes > u128::from(MAX_WEIGHT_BYTES) {
            return Err(ModelError::TooLarge {
                what: format!(
                    "the weights config.json describes ({} layers of width {}, vocabulary {})",
                    self.layers(),
                    self.hidden(),
                    self.vocab_size()
                ),
                need: human_bytes(bytes),
                limit: human_bytes(u128::from(MAX_WEIGHT_BYTES)),
            });
        }
        let (d, h, l, act) = (
            self.hidden(),
            self.heads(),
            self.layers(),
            self.activation(),
        );
        if d == 0 || h == 0 || l == 0 || d % h != 0 {
            return Err(ModelError::Config(format!(
                "hidden size {d} must be a positive multiple of the {h} heads, with ≥ 1 layer"
            )));
        }
        if !matches!(
            act,
            "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" | "relu"
        ) {
            return Err(ModelError::Config(format!(
                "activation {act:?} is not supported"
            )));
        }
        Ok(())
    }

    /// "bert" or "gpt2".
    pub fn model_type(&self) -> &'static str {
        match self {
            ModelConfig::Bert(_) => "bert",
            ModelConfig::Gpt2(_) => "gpt2",
        }
    }
    /// Rows of the token embedding table.
    pub fn vocab_size(&self) -> usize {
        match self {
            ModelConfig::Bert(c) => c.vocab_size,
            ModelConfig::Gpt2(c) => c.vocab_size,
        }
    }
    /// Model width.
    pub fn hidden(&self) -> usize {
        match self {
            ModelConfig::Bert(c) => c.hidden_size,
            ModelConfig::Gpt2(c) => c.n_embd,
        }
    }
    /// Heads per layer.
    pub fn heads(&self) -> usize {
        match self {
            ModelConfig::Bert(c) => c.num_attention_heads,
            ModelConfig::Gpt2(c) => c.n_head,
        }
    }
    /// Layers.
    pub fn layers(&self) -> usize {
        match self {
            ModelConfig::Bert(c) => c.num_hidden_layers,
            ModelConfig::Gpt2(c) => c.n_layer,
        }
    }
    /// Longest input in tokens.
    pub fn max_positions(&self) -> usize {
        match self {
            ModelConfig::Bert(c) => c.max_position_embeddings,
            ModelConfig::Gpt2(c) => c.n_positions,
        }
    }
    /// Whether attention is causal.
    pub fn causal(&self) -> bool {
        matches!(self, ModelConfig::Gpt2(_))
    }
    /// Activation name.
    pub fn activation(&self) -> &str {
        match self {
            ModelConfig::Bert(c) => &c.hidden_act,
            ModelConfig::Gpt2(c) => &c.activation_function,
        }
    }
}
