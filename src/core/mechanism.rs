//! What a trace computed, recorded by the code that computed it. Every formula, explanation
//! and summary that describes a head reads this, never the settings of a panel: a GPT-2 head
//! is causal because its trace says so, whatever the toy controls are set to.

use serde::{Deserialize, Serialize};

use super::spec::{ProjectionKind, Projections, ScoreKind, SpanKind, Spec};

/// Where the rows of X come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Source {
    /// Toy embeddings of typed text (E[token], plus sinusoidal positions when `positions`).
    Toy {
        /// Sinusoidal positions added.
        positions: bool,
    },
    /// Vectors given explicitly (a typed matrix, or a spec's `vectors`).
    Vectors,
    /// The hidden state entering a layer of a real model.
    Model {
        /// The model's family (`model_type` of its config).
        family: String,
        /// The layer (0-based).
        layer: usize,
    },
}

impl Default for Source {
    fn default() -> Self {
        Source::Toy { positions: true }
    }
}

/// A normalisation applied to X before the projections (pre-norm transformers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Norm {
    /// (x − mean) / √(var + ε) · γ + β.
    LayerNorm,
    /// x / √(mean(x²) + ε) · γ.
    RmsNorm,
}

/// Rotary position embedding applied to Q and K after the projections (RoFormer; the
/// "rotate half" layout of HuggingFace Llama): pair (i, i + dims/2) of a head's vector at
/// position p is rotated by the angle p·θ^(−2i/dims) (before any rope scaling).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rope {
    /// The base θ of this layer (Gemma 3 uses one θ for local and another for global layers).
    pub theta: f32,
    /// How many of the head's dimensions are rotated (the head width for every family
    /// attnscope runs).
    pub dims: usize,
    /// Frequencies were rescaled (`rope_scaling`: "linear" or "llama3"), named as in
    /// config.json; `None` for plain RoPE.
    #[serde(default)]
    pub scaling: Option<String>,
}

/// How Q, K and V were made from X, and everything after them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Mechanism {
    /// Where X comes from.
    pub source: Source,
    /// Normalisation of X before the projections (`None`: Q = X·W_Q directly).
    pub pre_norm: Option<Norm>,
    /// W_Q, W_K, W_V are identities (Q = K = V = X).
    pub identity_projections: bool,
    /// Q, K, V projections carry a bias (Q = X·W_Q + b_Q).
    pub qkv_bias: bool,
    /// The output projection carries a bias.
    pub out_bias: bool,
    /// Score function s(q, k).
    pub score: ScoreKind,
    /// Span: global, local-m or local-p.
    pub span: SpanKind,
    /// Half width D of local spans.
    pub local_d: usize,
    /// Causal mask (key j > query i is masked).
    pub causal: bool,
    /// Sliding-window half width (|i − j| > w is masked).
    pub window: Option<usize>,
    /// How many key positions are padding.
    pub padded_keys: usize,
    /// Q, K, V are a real head's, re-run here through this mechanism (the attention lab).
    pub lab: bool,
    /// Rotary positions applied to Q and K (`None`: no RoPE; positions, if any, were added
    /// to X).
    pub rope: Option<Rope>,
    /// Grouped-query attention: this many KV heads serve all query heads (query head h reads
    /// KV head h / (heads / kv_heads)); `None` when every query head has its own K and V.
    pub kv_heads: Option<usize>,
    /// A normalisation applied to each head's q and k before RoPE (Qwen 3, Gemma 3).
    pub qk_norm: Option<Norm>,
    /// The RMSNorms multiply by (1 + γ) instead of γ (Gemma).
    pub norm_plus_one: bool,
    /// Logit soft-capping: scores become c·tanh(s / c) before the mask.
    pub softcap: Option<f32>,
}

impl Mechanism {
    /// The mechanism a spec describes (before anything is computed).
    pub fn of_spec(spec: &Spec) -> Mechanism {
        Mechanism {
            source: if spec.target.vectors.is_some() {
                Source::Vectors
            } else {
                Source::Toy {
                    positions: spec.positions,
                }
            },
            pre_norm: None,
            identity_projections: spec.projections == Projections::Named(ProjectionKind::Identity),
            qkv_bias: false,
            out_bias: false,
            score: spec.score,
            span: spec.span,
            local_d: usize::try_from(spec.local_d).unwrap_or(0),
            causal: spec.causal,
            window: spec.window.and_then(|w| usize::try_from(w).ok()),
            padded_keys: spec
                .padding
                .as_ref()
                .map_or(0, |p| p.iter().filter(|&&m| m).count()),
            lab: false,
            rope: None,
            kv_heads: None,
            qk_norm: None,
            norm_plus_one: false,
            softcap: None,
        }
    }

    /// Whether anything masks keys (causal, window, a local span, padding).
    pub fn masks_anything(&self) -> bool {
        self.causal
            || self.window.is_some()
            || self.span != SpanKind::Global
            || self.padded_keys > 0
    }
}
