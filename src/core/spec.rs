//! The spec: what to compute, as independent axes (where Q and K/V come from, span, score
//! function, masks, temperature, heads). The app's mechanism presets, saved sessions and the
//! `compute` subcommand all speak this one type. The JSON format is documented in
//! `docs/spec-format.md`.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::error::CoreError;
use super::tokenize::Tokenizer;

/// A matrix as JSON writes it: a list of rows.
pub type Rows = Vec<Vec<f32>>;

/// Longest sequence the core computes. Above [`LEAN_ABOVE_BYTES`](super::pipeline::LEAN_ABOVE_BYTES)
/// of n × n matrices the app keeps them for the focused head only
/// ([`compute_lean`](super::pipeline::compute_lean)); 12 heads at 4,096 tokens would hold
/// 3.3 GB in full.
pub const MAX_TOKENS: usize = 4096;

/// One input sequence: typed text (toy embeddings) or explicit vectors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sequence {
    /// Text to tokenize and embed with toy embeddings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Explicit rows of X (n × d_model), e.g. typed in class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vectors: Option<Rows>,
    /// Labels for explicit vectors (default x1, x2, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Vec<String>>,
}

impl Sequence {
    /// A text sequence.
    pub fn text(text: impl Into<String>) -> Self {
        Sequence {
            text: Some(text.into()),
            ..Default::default()
        }
    }

    /// An explicit-vector sequence.
    pub fn vectors(vectors: Rows, tokens: Option<Vec<String>>) -> Self {
        Sequence {
            vectors: Some(vectors),
            tokens,
            ..Default::default()
        }
    }
}

/// How the projection matrices W_Q, W_K, W_V, W_O are chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Projections {
    /// `"seeded"` or `"identity"`.
    Named(ProjectionKind),
    /// Explicit matrices; a missing one is the identity.
    Explicit(ExplicitProjections),
}

impl Default for Projections {
    fn default() -> Self {
        Projections::Named(ProjectionKind::Seeded)
    }
}

/// Named projection choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectionKind {
    /// Deterministic pseudo-random matrices from the seed.
    Seeded,
    /// Q = K = V = X (and output = concat).
    Identity,
}

/// Explicit projection matrices, each d_model × d_model (x·W convention: Q = X·W_q).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExplicitProjections {
    /// W_Q.
    pub w_q: Option<Rows>,
    /// W_K.
    pub w_k: Option<Rows>,
    /// W_V.
    pub w_v: Option<Rows>,
    /// W_O.
    pub w_o: Option<Rows>,
}

/// The score function s(q, k).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    /// q·k (Luong "dot").
    Dot,
    /// q·k / √d_k (Vaswani et al.).
    #[default]
    ScaledDot,
    /// qᵀ W_a k (Luong "general", bilinear).
    General,
    /// v_aᵀ tanh(W₁q + W₂k) (Bahdanau "additive", Luong "concat").
    Additive,
    /// q·k / (‖q‖‖k‖).
    Cosine,
}

impl ScoreKind {
    /// Every score function, in menu order.
    pub const ALL: [ScoreKind; 5] = [
        ScoreKind::Dot,
        ScoreKind::ScaledDot,
        ScoreKind::General,
        ScoreKind::Additive,
        ScoreKind::Cosine,
    ];
}

/// Which key positions a query may look at before masks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// Every key (Luong global attention).
    #[default]
    Global,
    /// Luong local-m: keys with |j − i| ≤ D (monotonic alignment p = i).
    LocalM,
    /// Luong local-p: keys with |j − pᵢ| ≤ D around a predicted centre, Gaussian-weighted.
    LocalP,
}

/// Explicit per-head score parameters (outer list: one entry per head).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoreParams {
    /// General: W_a per head, d_k × d_k.
    pub w_a: Option<Vec<Rows>>,
    /// Additive: W₁ per head, d_a × d_k.
    pub w1: Option<Vec<Rows>>,
    /// Additive: W₂ per head, d_a × d_k.
    pub w2: Option<Vec<Rows>>,
    /// Additive: v_a per head, d_a.
    pub v: Option<Vec<Vec<f32>>>,
}

/// What local-p's position predictor reads: pᵢ = n_k · sigmoid(v_pᵀ tanh(W_p uᵢ)) with uᵢ the
/// head's projected query qᵢ (d_in = d_k) or the row xᵢ of the query-side input X
/// (d_in = d_model; Luong et al. 2015, eq. 9, predicts p_t from the decoder state h_t).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalPSource {
    /// uᵢ = qᵢ, the head's projected query (W_p: d_p × d_k).
    #[default]
    Query,
    /// uᵢ = xᵢ, the query-side input row, shared by every head (W_p: d_p × d_model, still
    /// one W_p and v_p per head).
    Input,
}

impl LocalPSource {
    /// Every source, in menu order.
    pub const ALL: [LocalPSource; 2] = [LocalPSource::Query, LocalPSource::Input];
}

/// Explicit per-head local-p parameters (outer list: one entry per head).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalPParams {
    /// W_p per head, d_p × d_in (d_in = d_k for the query source, d_model for the input).
    pub w_p: Option<Vec<Rows>>,
    /// v_p per head, d_p.
    pub v_p: Option<Vec<Vec<f32>>>,
}

/// Everything `compute` needs. Every field but `target` has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Spec {
    /// A title for lessons (ignored by the maths).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A description for lessons (ignored by the maths).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The query sequence (and the only one for self-attention).
    pub target: Sequence,
    /// Keys/values for cross-attention; `None` = self-attention.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Sequence>,
    /// Tokenizer for text sequences.
    pub tokenizer: Tokenizer,
    /// Width of X; required to match explicit vectors; 8 for text when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d_model: Option<usize>,
    /// Seed of toy embeddings and seeded matrices.
    pub seed: u64,
    /// Add sinusoidal positions to toy embeddings.
    pub positions: bool,
    /// W_Q, W_K, W_V, W_O.
    pub projections: Projections,
    /// Number of heads h (d_k = d_model / h).
    pub heads: i64,
    /// Score function.
    pub score: ScoreKind,
    /// Multiplier of raw scores; `None` = 1/√d_k for scaled dot, else 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score_scale: Option<f32>,
    /// Explicit score parameters; `None` = seeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score_params: Option<ScoreParams>,
    /// Span (global / local-m / local-p).
    pub span: SpanKind,
    /// Half width D of local spans.
    pub local_d: i64,
    /// Explicit local-p parameters; `None` = seeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_p_params: Option<LocalPParams>,
    /// What local-p's position predictor reads (projected query or input row).
    pub local_p_source: LocalPSource,
    /// Hidden size d_p of local-p's position predictor; `None` = d_in (d_k for the query
    /// source, d_model for the input source), so W_p is square.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_p_dim: Option<i64>,
    /// σ of local-p's Gaussian; `None` = D/2 (Luong et al. 2015).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_sigma: Option<f32>,
    /// Causal mask (j ≤ i).
    pub causal: bool,
    /// Sliding window |i − j| ≤ w.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<i64>,
    /// Padding flags per key position (true = masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub padding: Option<Vec<bool>>,
    /// Softmax temperature τ > 0.
    pub temperature: f32,
    /// Keep only the first N tokens of each text sequence (the trace says how many there
    /// were); `None` = no truncation below [`MAX_TOKENS`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<usize>,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            title: None,
            description: None,
            target: Sequence::default(),
            source: None,
            tokenizer: Tokenizer::Words,
            d_model: None,
            seed: 42,
            positions: true,
            projections: Projections::default(),
            heads: 1,
            score: ScoreKind::ScaledDot,
            score_scale: None,
            score_params: None,
            span: SpanKind::Global,
            local_d: 2,
            local_p_params: None,
            local_p_source: LocalPSource::Query,
            local_p_dim: None,
            local_sigma: None,
            causal: false,
            window: None,
            padding: None,
            temperature: 1.0,
            max_tokens: None,
        }
    }
}

impl Spec {
    /// Parses a spec from JSON text; the error names the field and position.
    pub fn from_json(text: &str) -> Result<Spec, CoreError> {
        serde_json::from_str(text).map_err(|e| CoreError::invalid("spec", e.to_string()))
    }

    /// Self-attention over typed text with every other setting at its default.
    pub fn for_text(text: impl Into<String>) -> Spec {
        Spec {
            target: Sequence::text(text),
            ..Spec::default()
        }
    }

    /// The checked number of heads.
    pub fn heads_checked(&self) -> Result<usize, CoreError> {
        usize::try_from(self.heads)
            .ok()
            .filter(|&h| h >= 1)
            .ok_or_else(|| CoreError::invalid("heads", format!("must be ≥ 1, got {}", self.heads)))
    }
}

/// Converts JSON rows into a matrix, checking raggedness, the expected shape and finiteness.
pub fn rows_to_array(
    what: &str,
    rows: &Rows,
    expect: Option<(usize, usize)>,
) -> Result<Array2<f32>, CoreError> {
    let n = rows.len();
    let m = rows.first().map_or(0, Vec::len);
    for (i, row) in rows.iter().enumerate() {
        if row.len() != m {
            return Err(CoreError::Shape {
                what: format!("{what} row {i}"),
                expected: format!("{m} numbers (like row 0)"),
                got: format!("{}", row.len()),
            });
        }
    }
    if let Some((er, ec)) = expect
        && (n, m) != (er, ec)
    {
        return Err(CoreError::Shape {
            what: what.to_owned(),
            expected: format!("{er}×{ec}"),
            got: format!("{n}×{m}"),
        });
    }
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    let arr = Array2::from_shape_vec((n, m), flat).map_err(|e| CoreError::Shape {
        what: what.to_owned(),
        expected: format!("{n}×{m}"),
        got: e.to_string(),
    })?;
    check_finite(what, &arr)?;
    Ok(arr)
}

/// Fails with the first non-finite entry of a matrix.
pub fn check_finite(what: &str, arr: &Array2<f32>) -> Result<(), CoreError> {
    match arr.indexed_iter().find(|(_, v)| !v.is_finite()) {
        Some(((row, col), &value)) => Err(CoreError::NotFinite {
            what: what.to_owned(),
            row,
            col,
            value,
        }),
        None => Ok(()),
    }
}
