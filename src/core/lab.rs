//! The attention lab: one real head's own Q, K and V (from a model's forward pass) re-run
//! through any mechanism a spec describes: another score function, span, mask or temperature.
//! Only this head is computed, so a change in the lab costs one head, not a layer.

use ndarray::ArrayView2;

use super::attend::attend_head_with_input;
use super::error::CoreError;
use super::kernels::Backend;
use super::mechanism::Mechanism;
use super::pipeline::head_config;
use super::spec::Spec;
use super::trace::Trace;

/// A real head to re-run: its tokens, the layer input X, and its Q, K, V.
/// Legend: n = tokens (queries), n_k = keys (= n for self-attention), d_model = width of X,
/// d_k = head width.
#[derive(Clone, Copy, Debug)]
pub struct LabHead<'a> {
    /// Token labels (n).
    pub tokens: &'a [String],
    /// The hidden state entering the layer (n × d_model), shown as the embed step.
    pub x: ArrayView2<'a, f32>,
    /// Queries (n × d_k).
    pub q: ArrayView2<'a, f32>,
    /// Keys (n_k × d_k).
    pub k: ArrayView2<'a, f32>,
    /// Values (n_k × d_k).
    pub v: ArrayView2<'a, f32>,
    /// A cross-attention head's key side: its tokens and the sequence K and V were projected
    /// from (an encoder's output, n_k × d_model); `None` for self-attention.
    pub keys: Option<(&'a [String], ArrayView2<'a, f32>)>,
    /// Which head of how many (seeded score parameters are per head).
    pub head: usize,
    /// Heads in the layer.
    pub heads: usize,
    /// The real head's mechanism: where X comes from, its pre-norm and biases.
    pub real: &'a Mechanism,
}

/// The head re-run through `spec`'s score, scale, span, masks and temperature, as a one-head
/// trace whose mechanism says so (`lab = true`). There is no output projection in the lab:
/// concat and output are the head's context.
pub fn lab_trace(h: LabHead<'_>, spec: &Spec, backend: Backend) -> Result<Trace, CoreError> {
    let (n, d_k) = h.q.dim();
    let (tokens_k, x_k) = h.keys.unwrap_or((h.tokens, h.x));
    let n_k = tokens_k.len();
    if h.k.dim() != (n_k, d_k)
        || h.v.dim() != (n_k, d_k)
        || h.tokens.len() != n
        || h.x.nrows() != n
        || x_k.nrows() != n_k
    {
        return Err(CoreError::Shape {
            what: "lab head".into(),
            expected: format!("Q of {n}×{d_k}, K, V of {n_k}×{d_k}, {n} and {n_k} tokens"),
            got: format!(
                "K {:?}, V {:?}, {} tokens, X {:?}",
                h.k.dim(),
                h.v.dim(),
                h.tokens.len(),
                h.x.dim()
            ),
        });
    }
    let cfg = head_config(spec, h.head, h.heads.max(1), d_k, n_k)?;
    // Luong's local-p may predict its centre from the layer input X (`local_p_source`).
    let t = attend_head_with_input(backend, h.q, h.k, h.v, Some(h.x), &cfg);
    let mechanism = Mechanism {
        source: h.real.source.clone(),
        pre_norm: h.real.pre_norm,
        qkv_bias: h.real.qkv_bias,
        out_bias: false,
        lab: true,
        ..Mechanism::of_spec(spec)
    };
    Ok(Trace {
        version: 1,
        tokens_q: h.tokens.to_vec(),
        tokens_k: tokens_k.to_vec(),
        truncated_q: None,
        truncated_k: None,
        self_attention: h.keys.is_none(),
        d_model: h.x.ncols(),
        heads: 1,
        d_k,
        scale: cfg.scale,
        temperature: cfg.temperature,
        mechanism,
        kernel: backend.name().to_owned(),
        x_q: h.x.to_owned(),
        x_k: x_k.to_owned(),
        w_q: ndarray::Array2::zeros((0, 0)),
        w_k: ndarray::Array2::zeros((0, 0)),
        w_v: ndarray::Array2::zeros((0, 0)),
        w_o: ndarray::Array2::zeros((0, 0)),
        concat: t.context.clone(),
        output: t.context.clone(),
        head_traces: vec![t],
    })
}
