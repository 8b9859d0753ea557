//! Each family's config.json, converted once into a [`Network`]: BERT, GPT-2, the Llama
//! family (llama, qwen2, qwen3, mistral: one serde config, as their config.json files share
//! field names) and Gemma 3 (text). Field names and defaults are HuggingFace's
//! (`transformers` 5 `configuration_*.py`); both the older `rope_theta` + `rope_scaling` and
//! the newer `rope_parameters` spellings are read. A config whose fields disagree is refused
//! with one line naming the field.

use serde::{Deserialize, Deserializer};

use super::ModelError;
use super::config::{BertConfig, Gpt2Config, MAX_HEADS, MAX_HIDDEN, MAX_POSITIONS};
use super::network::{
    AttentionSpec, EmbeddingSpec, Keys, LayerSpec, LinearLayout, MlpSpec, Network, NormKind,
    Placement, QkvKeys, RopeScaling, RopeSpec,
};

/// The activations attnscope computes, as config.json names them.
pub const ACTIVATIONS: &[&str] = &[
    "gelu",
    "gelu_new",
    "gelu_pytorch_tanh",
    "gelu_fast",
    "relu",
    "silu",
    "swish",
];

pub(super) fn field(field: impl Into<String>, message: impl Into<String>) -> ModelError {
    ModelError::Field {
        field: field.into(),
        message: message.into(),
    }
}

/// Distinguishes `"sliding_window": null` (Some(None)) from an absent field (None).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<usize>>, D::Error> {
    Option::<usize>::deserialize(d).map(Some)
}

/// One RoPE parameter set: `rope_scaling`, or (transformers ≥ 5) `rope_parameters`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct RopeParams {
    /// "default", "linear", "llama3" (others are refused).
    #[serde(default)]
    pub rope_type: Option<String>,
    /// The older spelling of `rope_type`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// θ (rope_parameters only; rope_scaling takes the config's `rope_theta`).
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// Scaling factor.
    #[serde(default)]
    pub factor: Option<f64>,
    /// Llama 3: low-frequency factor.
    #[serde(default)]
    pub low_freq_factor: Option<f64>,
    /// Llama 3: high-frequency factor.
    #[serde(default)]
    pub high_freq_factor: Option<f64>,
    /// Llama 3: pretraining context length (default max_position_embeddings).
    #[serde(default)]
    pub original_max_position_embeddings: Option<f64>,
    /// Fraction of the head that is rotated (only 1 is supported).
    #[serde(default)]
    pub partial_rotary_factor: Option<f64>,
}

/// Builds a layer's RoPE from its parameters; `at` names the config field in errors.
fn rope_spec(
    at: &str,
    params: Option<&RopeParams>,
    theta: f64,
    max_positions: usize,
) -> Result<RopeSpec, ModelError> {
    let default = RopeParams::default();
    let p = params.unwrap_or(&default);
    let theta = p.rope_theta.unwrap_or(theta);
    if let Some(f) = p.partial_rotary_factor.filter(|&f| f != 1.0) {
        return Err(field(
            format!("{at}.partial_rotary_factor"),
            format!("{f} is not supported (attnscope rotates whole heads)"),
        ));
    }
    if !(theta.is_finite() && theta > 1.0) {
        return Err(field(
            format!("{at}.rope_theta"),
            format!("must be a number > 1, got {theta}"),
        ));
    }
    let kind = p
        .rope_type
        .as_deref()
        .or(p.kind.as_deref())
        .unwrap_or("default");
    let need = |name: &str, v: Option<f64>| -> Result<f32, ModelError> {
        match v {
            Some(x) if x.is_finite() && x > 0.0 => Ok(x as f32),
            Some(x) => Err(field(
                format!("{at}.{name}"),
                format!("must be > 0, got {x}"),
            )),
            None => Err(field(
                format!("{at}.{name}"),
                format!("is required for rope_type {kind:?}"),
            )),
        }
    };
    let scaling = match kind {
        "default" => RopeScaling::None,
        "linear" => RopeScaling::Linear {
            factor: need("factor", p.factor)?,
        },
        "llama3" => {
            let low = need("low_freq_factor", p.low_freq_factor)?;
            let high = need("high_freq_factor", p.high_freq_factor)?;
            if high <= low {
                return Err(field(
                    format!("{at}.high_freq_factor"),
                    format!("must be more than low_freq_factor {low}"),
                ));
            }
            RopeScaling::Llama3 {
                factor: need("factor", p.factor)?,
                low_freq_factor: low,
                high_freq_factor: high,
                original_max_position_embeddings: need(
                    "original_max_position_embeddings",
                    p.original_max_position_embeddings
                        .or(Some(max_positions as f64)),
                )?,
            }
        }
        other => {
            return Err(field(
                format!("{at}.rope_type"),
                format!("{other:?} is not supported (attnscope runs default, linear, llama3)"),
            ));
        }
    };
    Ok(RopeSpec {
        theta: theta as f32,
        scaling,
    })
}

/// `rope_parameters` as transformers 5 writes it: one set, or one per layer type.
fn rope_parameters(
    value: &serde_json::Value,
) -> Result<(Option<RopeParams>, Option<RopeParams>), ModelError> {
    let parse = |v: &serde_json::Value, at: &str| {
        RopeParams::deserialize(v).map_err(|e| field(at.to_owned(), e.to_string()))
    };
    let nested = value.get("full_attention").is_some() || value.get("sliding_attention").is_some();
    if nested {
        let full = match value.get("full_attention") {
            Some(v) if !v.is_null() => Some(parse(v, "rope_parameters.full_attention")?),
            _ => None,
        };
        let sliding = match value.get("sliding_attention") {
            Some(v) if !v.is_null() => Some(parse(v, "rope_parameters.sliding_attention")?),
            _ => None,
        };
        Ok((full, sliding))
    } else if value.is_null() {
        Ok((None, None))
    } else {
        let p = parse(value, "rope_parameters")?;
        Ok((Some(p.clone()), Some(p)))
    }
}

/// The shared head checks: counts positive, KV heads dividing query heads, and the head
/// width (given, or hidden / heads, which must then divide).
#[allow(clippy::too_many_arguments)]
fn heads_and_width(
    (hidden_f, hidden): (&str, usize),
    (heads_f, heads): (&str, usize),
    (kv_f, kv): (&str, usize),
    (dim_f, head_dim): (&str, Option<usize>),
    layers: (&str, usize),
    rope: bool,
) -> Result<usize, ModelError> {
    for (f, v) in [(hidden_f, hidden), (heads_f, heads), (kv_f, kv), layers] {
        if v == 0 {
            return Err(field(f, "must be at least 1"));
        }
    }
    if heads > MAX_HEADS {
        return Err(ModelError::OverLimit {
            field: "num_attention_heads",
            value: heads,
            limit: MAX_HEADS,
        });
    }
    if heads % kv != 0 {
        return Err(field(
            kv_f,
            format!("{kv} does not divide {heads_f} = {heads}"),
        ));
    }
    let dh = match head_dim {
        Some(0) => return Err(field(dim_f, "must be at least 1")),
        Some(d) => d,
        None => {
            if hidden % heads != 0 {
                return Err(field(
                    heads_f,
                    format!("{heads} does not divide {hidden_f} = {hidden}"),
                ));
            }
            hidden / heads
        }
    };
    if dh > MAX_HIDDEN {
        return Err(ModelError::OverLimit {
            field: "head_dim",
            value: dh,
            limit: MAX_HIDDEN,
        });
    }
    if rope && dh % 2 != 0 {
        return Err(field(
            dim_f,
            format!("{dh} must be even for rotary positions"),
        ));
    }
    Ok(dh)
}

pub(super) fn check_activation(f: &str, act: &str) -> Result<(), ModelError> {
    if ACTIVATIONS.contains(&act) {
        Ok(())
    } else {
        Err(field(
            f,
            format!(
                "{act:?} is not supported (attnscope computes {})",
                ACTIVATIONS.join(", ")
            ),
        ))
    }
}

fn check_window(w: Option<usize>) -> Result<Option<usize>, ModelError> {
    match w {
        Some(0) => Err(field("sliding_window", "must be at least 1, got 0")),
        other => Ok(other),
    }
}

const BERT_KEYS: Keys = Keys {
    prefixes: &["bert.", ""],
    embed: "embeddings.word_embeddings",
    positions: Some("embeddings.position_embeddings"),
    token_type: Some("embeddings.token_type_embeddings"),
    embed_norm: Some("embeddings.LayerNorm"),
    final_norm: None,
    layers: "encoder.layer",
    layout: LinearLayout::Torch,
    qkv: QkvKeys::Separate {
        q: "attention.self.query",
        k: "attention.self.key",
        v: "attention.self.value",
    },
    o: "attention.output.dense",
    q_norm: None,
    k_norm: None,
    attn_in: None,
    attn_out: None,
    attn_residual: Some("attention.output.LayerNorm"),
    mlp_in: None,
    mlp_out: None,
    mlp_residual: Some("output.LayerNorm"),
    gate: None,
    up: "intermediate.dense",
    down: "output.dense",
    cross: None,
};

const GPT2_KEYS: Keys = Keys {
    prefixes: &["transformer.", ""],
    embed: "wte",
    positions: Some("wpe"),
    token_type: None,
    embed_norm: None,
    final_norm: Some("ln_f"),
    layers: "h",
    layout: LinearLayout::Conv1d,
    qkv: QkvKeys::Fused("attn.c_attn"),
    o: "attn.c_proj",
    q_norm: None,
    k_norm: None,
    attn_in: Some("ln_1"),
    attn_out: None,
    attn_residual: None,
    mlp_in: Some("ln_2"),
    mlp_out: None,
    mlp_residual: None,
    gate: None,
    up: "mlp.c_fc",
    down: "mlp.c_proj",
    cross: None,
};

const LLAMA_KEYS: Keys = Keys {
    prefixes: &["model.", ""],
    embed: "embed_tokens",
    positions: None,
    token_type: None,
    embed_norm: None,
    final_norm: Some("norm"),
    layers: "layers",
    layout: LinearLayout::Torch,
    qkv: QkvKeys::Separate {
        q: "self_attn.q_proj",
        k: "self_attn.k_proj",
        v: "self_attn.v_proj",
    },
    o: "self_attn.o_proj",
    q_norm: Some("self_attn.q_norm"),
    k_norm: Some("self_attn.k_norm"),
    attn_in: Some("input_layernorm"),
    attn_out: None,
    attn_residual: None,
    mlp_in: Some("post_attention_layernorm"),
    mlp_out: None,
    mlp_residual: None,
    gate: Some("mlp.gate_proj"),
    up: "mlp.up_proj",
    down: "mlp.down_proj",
    cross: None,
};

const GEMMA3_KEYS: Keys = Keys {
    attn_out: Some("post_attention_layernorm"),
    mlp_in: Some("pre_feedforward_layernorm"),
    mlp_out: Some("post_feedforward_layernorm"),
    ..LLAMA_KEYS
};

impl BertConfig {
    /// The network: post-norm encoder, learned positions and token types, biased Q/K/V/O,
    /// GELU MLP.
    pub fn network(&self) -> Result<Network, ModelError> {
        let (d, h) = (self.hidden_size, self.num_attention_heads);
        let dh = heads_and_width(
            ("hidden_size", d),
            ("num_attention_heads", h),
            ("num_attention_heads", h),
            ("hidden_size", None),
            ("num_hidden_layers", self.num_hidden_layers),
            false,
        )?;
        check_activation("hidden_act", &self.hidden_act)?;
        Ok(Network {
            model_type: "bert".into(),
            vocab_size: self.vocab_size,
            hidden: d,
            max_positions: self.max_position_embeddings,
            norm: NormKind::LayerNorm,
            norm_eps: self.layer_norm_eps,
            placement: Placement::Post,
            embedding: EmbeddingSpec {
                learned_positions: true,
                token_type: Some(self.type_vocab_size),
                norm: true,
                scale: None,
                ..EmbeddingSpec::default()
            },
            attention: AttentionSpec {
                heads: h,
                kv_heads: h,
                head_dim: dh,
                qkv_bias: true,
                o_bias: true,
                qk_norm: false,
                scale: 1.0 / (dh as f32).sqrt(),
                softcap: None,
                causal: false,
            },
            layers: vec![
                LayerSpec {
                    window: None,
                    rope: None
                };
                self.num_hidden_layers
            ],
            mlp: MlpSpec {
                intermediate: self.intermediate_size,
                activation: self.hidden_act.clone(),
                gated: false,
                bias: true,
            },
            tied_lm_head: true,
            keys: BERT_KEYS,
        })
    }
}

impl Gpt2Config {
    /// The network: pre-norm decoder, learned positions, fused biased Q/K/V (Conv1D), GELU.
    pub fn network(&self) -> Result<Network, ModelError> {
        let (d, h) = (self.n_embd, self.n_head);
        let dh = heads_and_width(
            ("n_embd", d),
            ("n_head", h),
            ("n_head", h),
            ("n_embd", None),
            ("n_layer", self.n_layer),
            false,
        )?;
        check_activation("activation_function", &self.activation_function)?;
        Ok(Network {
            model_type: "gpt2".into(),
            vocab_size: self.vocab_size,
            hidden: d,
            max_positions: self.n_positions,
            norm: NormKind::LayerNorm,
            norm_eps: self.layer_norm_epsilon,
            placement: Placement::Pre,
            embedding: EmbeddingSpec {
                learned_positions: true,
                token_type: None,
                norm: false,
                scale: None,
                ..EmbeddingSpec::default()
            },
            attention: AttentionSpec {
                heads: h,
                kv_heads: h,
                head_dim: dh,
                qkv_bias: true,
                o_bias: true,
                qk_norm: false,
                scale: if self.scale_attn_weights {
                    1.0 / (dh as f32).sqrt()
                } else {
                    1.0
                },
                softcap: None,
                causal: true,
            },
            layers: vec![
                LayerSpec {
                    window: None,
                    rope: None
                };
                self.n_layer
            ],
            mlp: MlpSpec {
                intermediate: self.n_inner.unwrap_or(d.saturating_mul(4)),
                activation: self.activation_function.clone(),
                gated: false,
                bias: true,
            },
            tied_lm_head: true,
            keys: GPT2_KEYS,
        })
    }
}

fn silu() -> String {
    "silu".into()
}
fn gelu_tanh() -> String {
    "gelu_pytorch_tanh".into()
}
fn eps_1e6() -> f32 {
    1e-6
}
fn positions_2048() -> usize {
    2048
}
fn positions_131072() -> usize {
    131_072
}
fn four() -> usize {
    4
}
fn six() -> usize {
    6
}
fn dim_256() -> Option<usize> {
    Some(256)
}
fn scalar_256() -> f64 {
    256.0
}
fn yes() -> bool {
    true
}
fn theta_1e6() -> f64 {
    1e6
}
fn theta_1e4() -> f64 {
    1e4
}
fn window_4096() -> Option<usize> {
    Some(4096)
}

/// The Llama family's config.json (LlamaConfig, Qwen2Config, Qwen3Config, MistralConfig
/// share these names; `model_type` picks the differences: Qwen 2's q/k/v biases, Qwen 3's
/// q/k norm and head_dim default of 128, Mistral's sliding window on every layer).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct LlamaConfig {
    /// "llama", "qwen2", "qwen3" or "mistral".
    pub model_type: String,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// KV heads (default: num_attention_heads).
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Head width (default hidden_size / num_attention_heads; Qwen 3: 128).
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// Context length (RoPE has no table; inputs are capped at this).
    #[serde(default = "positions_2048")]
    pub max_position_embeddings: usize,
    /// RMSNorm ε.
    #[serde(default = "eps_1e6")]
    pub rms_norm_eps: f32,
    /// MLP activation (gated: down(act(gate) ⊙ up)).
    #[serde(default = "silu")]
    pub hidden_act: String,
    /// θ (older configs; default 10 000).
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// Older spelling of the RoPE scaling.
    #[serde(default)]
    pub rope_scaling: Option<RopeParams>,
    /// transformers 5 spelling: θ and scaling together.
    #[serde(default)]
    pub rope_parameters: Option<serde_json::Value>,
    /// Bias on q/k/v/o (Llama, Qwen 3; Qwen 2 always has q/k/v biases).
    #[serde(default)]
    pub attention_bias: bool,
    /// Bias on the MLP.
    #[serde(default)]
    pub mlp_bias: bool,
    /// LM head = embedding.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Sliding window (Mistral: default 4096, `null` for none; Qwen: with use_sliding_window).
    #[serde(default, deserialize_with = "present")]
    pub sliding_window: Option<Option<usize>>,
    /// Qwen: the window is on.
    #[serde(default)]
    pub use_sliding_window: bool,
    /// Qwen: layers from this index on slide (default 28).
    #[serde(default)]
    pub max_window_layers: Option<usize>,
    /// "full_attention" / "sliding_attention" per layer.
    #[serde(default)]
    pub layer_types: Option<Vec<String>>,
    /// Fraction of the head that is rotated (only 1 is supported).
    #[serde(default)]
    pub partial_rotary_factor: Option<f64>,
}

/// Per layer: sliding or not, from `layer_types` (checked) or a rule.
fn layer_kinds(
    types: Option<&[String]>,
    layers: usize,
    rule: impl Fn(usize) -> bool,
) -> Result<Vec<bool>, ModelError> {
    match types {
        Some(t) => {
            if t.len() != layers {
                return Err(field(
                    "layer_types",
                    format!("has {} entries for {layers} layers", t.len()),
                ));
            }
            t.iter()
                .map(|k| match k.as_str() {
                    "full_attention" => Ok(false),
                    "sliding_attention" => Ok(true),
                    other => Err(field(
                        "layer_types",
                        format!("{other:?} is not full_attention or sliding_attention"),
                    )),
                })
                .collect()
        }
        None => Ok((0..layers).map(rule).collect()),
    }
}

impl LlamaConfig {
    /// The network: pre-RMSNorm decoder, RoPE, grouped-query attention, SwiGLU.
    pub fn network(&self) -> Result<Network, ModelError> {
        let kind = self.model_type.as_str();
        let (d, h) = (self.hidden_size, self.num_attention_heads);
        let kv = self.num_key_value_heads.unwrap_or(h);
        let head_dim = match (kind, self.head_dim) {
            ("qwen3", None) => Some(128),
            (_, given) => given,
        };
        let dh = heads_and_width(
            ("hidden_size", d),
            ("num_attention_heads", h),
            ("num_key_value_heads", kv),
            ("head_dim", head_dim),
            ("num_hidden_layers", self.num_hidden_layers),
            true,
        )?;
        check_activation("hidden_act", &self.hidden_act)?;
        if let Some(f) = self.partial_rotary_factor.filter(|&f| f != 1.0) {
            return Err(field(
                "partial_rotary_factor",
                format!("{f} is not supported (attnscope rotates whole heads)"),
            ));
        }
        let theta = self.rope_theta.unwrap_or(1e4);
        let (full, sliding, at) = match &self.rope_parameters {
            Some(v) => {
                let (f, s) = rope_parameters(v)?;
                (f, s, "rope_parameters")
            }
            None => (
                self.rope_scaling.clone(),
                self.rope_scaling.clone(),
                "rope_scaling",
            ),
        };
        let max_pos = self.max_position_embeddings;
        let full = rope_spec(at, full.as_ref(), theta, max_pos)?;
        let sliding_rope = rope_spec(at, sliding.as_ref(), theta, max_pos)?;
        let (window, kinds) = match kind {
            "mistral" => {
                let w = check_window(self.sliding_window.unwrap_or(Some(4096)))?;
                (w, vec![w.is_some(); self.num_hidden_layers])
            }
            "qwen2" | "qwen3" if self.use_sliding_window => {
                let w = check_window(self.sliding_window.unwrap_or(Some(4096)))?;
                let from = self.max_window_layers.unwrap_or(28);
                let kinds =
                    layer_kinds(self.layer_types.as_deref(), self.num_hidden_layers, |i| {
                        w.is_some() && i >= from
                    })?;
                (w, kinds)
            }
            _ => (None, vec![false; self.num_hidden_layers]),
        };
        let layers = kinds
            .iter()
            .map(|&slides| LayerSpec {
                window: if slides { window } else { None },
                rope: Some(if slides {
                    sliding_rope.clone()
                } else {
                    full.clone()
                }),
            })
            .collect();
        let (qkv_bias, o_bias) = match kind {
            "qwen2" => (true, false),
            "mistral" => (false, false),
            _ => (self.attention_bias, self.attention_bias),
        };
        Ok(Network {
            model_type: kind.to_owned(),
            vocab_size: self.vocab_size,
            hidden: d,
            max_positions: max_pos.min(MAX_POSITIONS),
            norm: NormKind::RmsNorm { plus_one: false },
            norm_eps: self.rms_norm_eps,
            placement: Placement::Pre,
            embedding: EmbeddingSpec {
                learned_positions: false,
                token_type: None,
                norm: false,
                scale: None,
                ..EmbeddingSpec::default()
            },
            attention: AttentionSpec {
                heads: h,
                kv_heads: kv,
                head_dim: dh,
                qkv_bias,
                o_bias,
                qk_norm: kind == "qwen3",
                scale: (1.0 / (dh as f64).sqrt()) as f32,
                softcap: None,
                causal: true,
            },
            layers,
            mlp: MlpSpec {
                intermediate: self.intermediate_size,
                activation: self.hidden_act.clone(),
                gated: true,
                bias: self.mlp_bias,
            },
            tied_lm_head: self.tie_word_embeddings,
            keys: LLAMA_KEYS,
        })
    }
}

/// Gemma 3's text config.json (Gemma3TextConfig, `model_type` "gemma3_text").
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Gemma3TextConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// KV heads (default 4).
    #[serde(default = "four")]
    pub num_key_value_heads: usize,
    /// Head width (default 256).
    #[serde(default = "dim_256")]
    pub head_dim: Option<usize>,
    /// GeGLU activation (default gelu_pytorch_tanh).
    #[serde(default = "gelu_tanh")]
    pub hidden_activation: String,
    /// Context length.
    #[serde(default = "positions_131072")]
    pub max_position_embeddings: usize,
    /// RMSNorm ε.
    #[serde(default = "eps_1e6")]
    pub rms_norm_eps: f32,
    /// Global layers' θ (older configs; default 1 000 000).
    #[serde(default = "theta_1e6")]
    pub rope_theta: f64,
    /// Local layers' θ (older configs; default 10 000).
    #[serde(default = "theta_1e4")]
    pub rope_local_base_freq: f64,
    /// Older spelling of the global layers' scaling.
    #[serde(default)]
    pub rope_scaling: Option<RopeParams>,
    /// transformers 5: {"full_attention": {...}, "sliding_attention": {...}}.
    #[serde(default)]
    pub rope_parameters: Option<serde_json::Value>,
    /// Bias on q/k/v/o.
    #[serde(default)]
    pub attention_bias: bool,
    /// Scores are multiplied by query_pre_attn_scalar^−½ (not head_dim^−½).
    #[serde(default = "scalar_256")]
    pub query_pre_attn_scalar: f64,
    /// Local layers' window (default 4096).
    #[serde(default = "window_4096")]
    pub sliding_window: Option<usize>,
    /// "full_attention" / "sliding_attention" per layer.
    #[serde(default)]
    pub layer_types: Option<Vec<String>>,
    /// Older spelling: every n-th layer is global (default 6).
    #[serde(default = "six")]
    pub sliding_window_pattern: usize,
    /// Read but not applied: transformers' Gemma 3 attention does not pass it on either.
    #[serde(default)]
    pub attn_logit_softcapping: Option<f64>,
    /// Bidirectional attention (refused).
    #[serde(default)]
    pub use_bidirectional_attention: Option<bool>,
    /// LM head = embedding (default true).
    #[serde(default = "yes")]
    pub tie_word_embeddings: bool,
}

impl Gemma3TextConfig {
    /// The network: sandwich RMSNorms with (1 + γ), √d embedding scale, q/k norm, local
    /// sliding-window layers (θ_local) interleaved with global ones (θ), GeGLU.
    pub fn network(&self) -> Result<Network, ModelError> {
        let (d, h, kv) = (
            self.hidden_size,
            self.num_attention_heads,
            self.num_key_value_heads,
        );
        let dh = heads_and_width(
            ("hidden_size", d),
            ("num_attention_heads", h),
            ("num_key_value_heads", kv),
            ("head_dim", self.head_dim),
            ("num_hidden_layers", self.num_hidden_layers),
            true,
        )?;
        check_activation("hidden_activation", &self.hidden_activation)?;
        if self.use_bidirectional_attention == Some(true) {
            return Err(field(
                "use_bidirectional_attention",
                "true is not supported (attnscope runs Gemma 3 as a causal decoder)",
            ));
        }
        let q = self.query_pre_attn_scalar;
        if !(q.is_finite() && q > 0.0) {
            return Err(field(
                "query_pre_attn_scalar",
                format!("must be > 0, got {q}"),
            ));
        }
        if self.layer_types.is_none() && self.sliding_window_pattern == 0 {
            return Err(field("sliding_window_pattern", "must be at least 1, got 0"));
        }
        let window = check_window(self.sliding_window)?;
        let max_pos = self.max_position_embeddings;
        let (global, local) = match &self.rope_parameters {
            Some(v) => {
                let (f, s) = rope_parameters(v)?;
                (
                    rope_spec(
                        "rope_parameters.full_attention",
                        f.as_ref(),
                        self.rope_theta,
                        max_pos,
                    )?,
                    rope_spec(
                        "rope_parameters.sliding_attention",
                        s.as_ref(),
                        self.rope_local_base_freq,
                        max_pos,
                    )?,
                )
            }
            None => (
                rope_spec(
                    "rope_scaling",
                    self.rope_scaling.as_ref(),
                    self.rope_theta,
                    max_pos,
                )?,
                rope_spec(
                    "rope_local_base_freq",
                    None,
                    self.rope_local_base_freq,
                    max_pos,
                )?,
            ),
        };
        let pattern = self.sliding_window_pattern.max(1);
        let kinds = layer_kinds(self.layer_types.as_deref(), self.num_hidden_layers, |i| {
            (i + 1) % pattern != 0
        })?;
        let layers = kinds
            .iter()
            .map(|&slides| LayerSpec {
                window: if slides { window } else { None },
                rope: Some(if slides {
                    local.clone()
                } else {
                    global.clone()
                }),
            })
            .collect();
        Ok(Network {
            model_type: "gemma3_text".into(),
            vocab_size: self.vocab_size,
            hidden: d,
            max_positions: max_pos.min(MAX_POSITIONS),
            norm: NormKind::RmsNorm { plus_one: true },
            norm_eps: self.rms_norm_eps,
            placement: Placement::Sandwich,
            embedding: EmbeddingSpec {
                learned_positions: false,
                token_type: None,
                norm: false,
                scale: Some((d as f64).sqrt() as f32),
                ..EmbeddingSpec::default()
            },
            attention: AttentionSpec {
                heads: h,
                kv_heads: kv,
                head_dim: dh,
                qkv_bias: self.attention_bias,
                o_bias: self.attention_bias,
                qk_norm: true,
                scale: q.powf(-0.5) as f32,
                softcap: None,
                causal: true,
            },
            layers,
            mlp: MlpSpec {
                intermediate: self.intermediate_size,
                activation: self.hidden_activation.clone(),
                gated: true,
                bias: false,
            },
            tied_lm_head: self.tie_word_embeddings,
            keys: GEMMA3_KEYS,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llama(extra: &str) -> Result<Network, ModelError> {
        let text = format!(
            r#"{{"model_type": "llama", "vocab_size": 10, "hidden_size": 32, "intermediate_size": 8,
                "num_hidden_layers": 2, "num_attention_heads": 4 {extra}}}"#
        );
        let c: LlamaConfig = serde_json::from_str(&text).expect("parses");
        c.network()
    }

    #[test]
    fn old_and_new_rope_spellings_agree() {
        let old = llama(
            r#", "rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
                "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}"#,
        )
        .unwrap();
        let new = llama(
            r#", "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}"#,
        )
        .unwrap();
        assert_eq!(old.layers, new.layers);
        assert_eq!(old.layers[0].rope.as_ref().unwrap().theta, 500000.0);
    }

    #[test]
    fn llama3_scaling_keeps_high_and_divides_low_frequencies() {
        let r = RopeSpec {
            theta: 500000.0,
            scaling: RopeScaling::Llama3 {
                factor: 8.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: 8192.0,
            },
        };
        let plain = RopeSpec {
            theta: 500000.0,
            scaling: RopeScaling::None,
        };
        let (a, b) = (r.inv_freq(128), plain.inv_freq(128));
        assert_eq!(a[0], b[0], "the highest frequency is kept");
        assert!(
            (a[63] - b[63] / 8.0).abs() <= 1e-12,
            "the lowest is divided"
        );
    }

    #[test]
    fn qwen2_slides_from_max_window_layers_only_when_use_sliding_window() {
        let qwen = |extra: &str| {
            let text = format!(
                r#"{{"model_type": "qwen2", "vocab_size": 10, "hidden_size": 32, "intermediate_size": 8,
                    "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
                    "sliding_window": 64, "max_window_layers": 2 {extra}}}"#
            );
            let c: LlamaConfig = serde_json::from_str(&text).expect("parses");
            let n = c.network().expect("valid");
            n.layers.iter().map(|l| l.window).collect::<Vec<_>>()
        };
        assert_eq!(qwen(""), [None; 4]);
        assert_eq!(
            qwen(r#", "use_sliding_window": true"#),
            [None, None, Some(64), Some(64)]
        );
        let e = llama(r#", "partial_rotary_factor": 0.5"#).unwrap_err();
        assert!(e.to_string().contains("partial_rotary_factor"), "{e}");
    }

    #[test]
    fn gemma3_old_config_gives_local_and_global_layers() {
        let c: Gemma3TextConfig = serde_json::from_str(
            r#"{"vocab_size": 10, "hidden_size": 32, "intermediate_size": 8, "num_hidden_layers": 6,
                "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 8,
                "sliding_window": 512, "rope_local_base_freq": 10000.0, "rope_theta": 1000000.0}"#,
        )
        .unwrap();
        let n = c.network().unwrap();
        let w: Vec<_> = n.layers.iter().map(|l| l.window).collect();
        assert_eq!(
            w,
            [Some(512), Some(512), Some(512), Some(512), Some(512), None]
        );
        let t: Vec<_> = n
            .layers
            .iter()
            .map(|l| l.rope.as_ref().unwrap().theta)
            .collect();
        assert_eq!(t[0], 10000.0);
        assert_eq!(t[5], 1_000_000.0);
        assert_eq!(n.attention.scale, 1.0 / 16.0);
    }
}
