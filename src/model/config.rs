//! `config.json` as HuggingFace writes it, for the architectures attnscope runs.

use serde::Deserialize;

use super::ModelError;

/// The architectures attnscope can run, named as in `config.json`'s `model_type`.
pub const SUPPORTED: &[&str] = &["bert", "gpt2"];

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

    fn check(&self) -> Result<(), ModelError> {
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
