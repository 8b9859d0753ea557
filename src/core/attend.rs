//! One head of attention, every step kept: scores → scale → mask → softmax → weighted sum.
//!
//! Legend: `n_q` = queries, `n_k` = keys, `d` = head dim (d_k), `d_a` = additive hidden size.
//!
//! This is also the "attention lab" entry point: hand it any head's real Q, K, V (from a
//! model) and any score function, span, mask and temperature.
//!
//! A hand-checked example (dot score, identity projections, τ = 1):
//! q₁ = [1, 0], keys k₁ = [1, 0], k₂ = [0, 1], values v₁ = [1, 2], v₂ = [3, 4].
//! Scores: q₁·k₁ = 1, q₁·k₂ = 0. Softmax: e¹ / (e¹ + e⁰) = 2.71828 / 3.71828 = 0.73106,
//! and 1 / 3.71828 = 0.26894. Output: 0.73106·[1, 2] + 0.26894·[3, 4] = [1.53788, 2.53788].
//!
//! ```
//! use attnscope::core::{Backend, HeadConfig, Score, Span, attend_head};
//! use ndarray::array;
//!
//! let q = array![[1.0f32, 0.0]];
//! let k = array![[1.0f32, 0.0], [0.0, 1.0]];
//! let v = array![[1.0f32, 2.0], [3.0, 4.0]];
//! let cfg = HeadConfig {
//!     score: Score::Dot,
//!     scale: 1.0,
//!     span: Span::Global,
//!     causal: false,
//!     window: None,
//!     padding: None,
//!     temperature: 1.0,
//! };
//! let t = attend_head(Backend::best(), q.view(), k.view(), v.view(), &cfg);
//! assert_eq!(t.raw_scores, array![[1.0, 0.0]]);
//! assert!((t.weights[[0, 0]] - 0.73106).abs() < 1e-5);
//! assert!((t.weights[[0, 1]] - 0.26894).abs() < 1e-5);
//! assert!((t.context[[0, 0]] - 1.53788).abs() < 1e-5);
//! assert!((t.context[[0, 1]] - 2.53788).abs() < 1e-5);
//! ```

use ndarray::{Array1, Array2, ArrayView2, s};

use super::kernels::{self, Backend};
use super::spec::LocalPSource;
use super::trace::{HeadTrace, LocalPInfo, RowStats};

/// A score function with its parameters resolved for one head.
#[derive(Clone, Debug, PartialEq)]
pub enum Score {
    /// q·k.
    Dot,
    /// q·k (the scale 1/√d_k is applied in the scale step).
    ScaledDot,
    /// qᵀ W_a k, W_a: d × d.
    General {
        /// The bilinear form.
        w_a: Array2<f32>,
    },
    /// v_aᵀ tanh(W₁q + W₂k), W₁, W₂: d_a × d, v_a: d_a.
    Additive {
        /// Applied to queries.
        w1: Array2<f32>,
        /// Applied to keys.
        w2: Array2<f32>,
        /// Output vector.
        v: Array1<f32>,
    },
    /// q·k / (‖q‖‖k‖); 0 when either norm is 0.
    Cosine,
}

/// A span with its parameters resolved for one head.
#[derive(Clone, Debug, PartialEq)]
pub enum Span {
    /// Every key.
    Global,
    /// |j − i| ≤ d.
    LocalM {
        /// Half width D.
        d: usize,
    },
    /// |j − pᵢ| ≤ d, pᵢ = n_k·sigmoid(v_pᵀ tanh(W_p uᵢ)), weights × exp(−(j − pᵢ)²/(2σ²)).
    /// uᵢ is the query qᵢ or the input row xᵢ (`source`).
    LocalP {
        /// Half width D (0 only with an explicit σ).
        d: usize,
        /// σ > 0 of the Gaussian (D/2 by default).
        sigma: f32,
        /// What the predictor reads.
        source: LocalPSource,
        /// d_p × d_in (d_in = d_k for the query source, d_model for the input).
        w_p: Array2<f32>,
        /// d_p.
        v_p: Array1<f32>,
    },
}

/// Everything one head needs besides Q, K, V.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadConfig {
    /// Score function.
    pub score: Score,
    /// Multiplier of raw scores.
    pub scale: f32,
    /// Span.
    pub span: Span,
    /// Causal mask.
    pub causal: bool,
    /// Sliding window half width.
    pub window: Option<usize>,
    /// Padding flags per key (true = masked); shorter than n_k means "not padding".
    pub padding: Option<Vec<bool>>,
    /// Softmax temperature τ > 0.
    pub temperature: f32,
}

/// α·a·bᵀ for a (n × d) and b (m × d): every row of a against every row of b (scores are
/// α·Q·Kᵀ). Kᵀ is laid out once so the GEMM streams contiguous rows.
pub fn matmul_bt(
    backend: Backend,
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    alpha: f32,
) -> Array2<f32> {
    matmul_scaled(backend, a, b.t(), alpha)
}

/// a·b for row-major matrices on the chosen backend.
pub fn matmul(backend: Backend, a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
    matmul_scaled(backend, a, b, 1.0)
}

/// α·a·b (any memory layout in; a fresh row-major matrix out).
pub fn matmul_scaled(
    backend: Backend,
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    alpha: f32,
) -> Array2<f32> {
    let (n, k) = a.dim();
    let m = b.ncols();
    let a = a.as_standard_layout();
    let b = b.as_standard_layout();
    let mut out = Array2::zeros((n, m));
    kernels::gemm(
        backend,
        n,
        m,
        k,
        alpha,
        slice(&a),
        k,
        slice(&b),
        m,
        out.as_slice_mut().expect("fresh array is contiguous"),
        m,
    );
    out
}

/// The contiguous data of a standard-layout array.
fn slice<S: ndarray::Data<Elem = f32>>(a: &ndarray::ArrayBase<S, ndarray::Ix2>) -> &[f32] {
    a.as_slice().expect("standard layout is contiguous")
}

/// Rows scaled to unit length (zero rows stay zero).
fn normalise_rows(a: ArrayView2<f32>) -> Array2<f32> {
    let mut out = a.to_owned();
    for mut row in out.rows_mut() {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.mapv_inplace(|x| x / norm);
        }
    }
    out
}

/// Raw scores s(qᵢ, kⱼ), n_q × n_k.
pub fn raw_scores(
    backend: Backend,
    score: &Score,
    q: ArrayView2<f32>,
    k: ArrayView2<f32>,
) -> Array2<f32> {
    match score {
        Score::Dot | Score::ScaledDot => matmul_bt(backend, q, k, 1.0),
        Score::General { w_a } => {
            // qᵀ W k = (q W)·k
            let qw = matmul(backend, q, w_a.view());
            matmul_bt(backend, qw.view(), k, 1.0)
        }
        Score::Additive { w1, w2, v } => {
            // (W₁q)_r for every query and (W₂k)_r for every key, then Σ_r v_r tanh(a + b).
            let a = matmul_bt(backend, q, w1.view(), 1.0); // n_q × d_a
            let b = matmul_bt(backend, k, w2.view(), 1.0); // n_k × d_a
            let mut out = Array2::zeros((q.nrows(), k.nrows()));
            for (i, arow) in a.rows().into_iter().enumerate() {
                for (j, brow) in b.rows().into_iter().enumerate() {
                    out[[i, j]] = arow
                        .iter()
                        .zip(brow.iter())
                        .zip(v.iter())
                        .map(|((x, y), vr)| vr * (x + y).tanh())
                        .sum();
                }
            }
            out
        }
        Score::Cosine => matmul_bt(
            backend,
            normalise_rows(q).view(),
            normalise_rows(k).view(),
            1.0,
        ),
    }
}

/// Local-p centres pᵢ = n_k · sigmoid(v_pᵀ tanh(W_p uᵢ)) for the rows uᵢ of `q` (the queries
/// or the input rows X). Shapes: `q` n_q × d_in, `w_p` d_p × d_in, `v_p` d_p (not checked
/// here; see [`attend_head_with_input`]).
pub fn local_p_centers(
    q: ArrayView2<f32>,
    w_p: &Array2<f32>,
    v_p: &Array1<f32>,
    n_k: usize,
) -> Vec<f32> {
    q.rows()
        .into_iter()
        .map(|qi| {
            let hidden = w_p.dot(&qi).mapv(f32::tanh);
            let z = v_p.dot(&hidden);
            n_k as f32 / (1.0 + (-z).exp())
        })
        .collect()
}

/// The visibility mask: span ∧ causal ∧ window ∧ ¬padding.
pub fn allowed_mask(
    cfg: &HeadConfig,
    n_q: usize,
    n_k: usize,
    centers: Option<&[f32]>,
) -> Array2<bool> {
    Array2::from_shape_fn((n_q, n_k), |(i, j)| {
        let dist = i.abs_diff(j);
        let span_ok = match &cfg.span {
            Span::Global => true,
            Span::LocalM { d } => dist <= *d,
            Span::LocalP { d, .. } => centers.is_some_and(|c| (j as f32 - c[i]).abs() <= *d as f32),
        };
        span_ok
            && (!cfg.causal || j <= i)
            && cfg.window.is_none_or(|w| dist <= w)
            && !cfg
                .padding
                .as_ref()
                .is_some_and(|p| p.get(j).copied().unwrap_or(false))
    })
}

/// Runs one head, keeping every step. Q is n_q × d, K and V are n_k × d.
///
/// A local-p span whose predictor reads the input rows (`LocalPSource::Input`) needs X:
/// use [`attend_head_with_input`]. Here it has none, so no centre is predicted and every
/// row is masked (`empty_rows` all true), never a panic.
pub fn attend_head(
    backend: Backend,
    q: ArrayView2<f32>,
    k: ArrayView2<f32>,
    v: ArrayView2<f32>,
    cfg: &HeadConfig,
) -> HeadTrace {
    attend_head_with_input(backend, q, k, v, None, cfg)
}

/// [`attend_head`] with the query-side input rows `x_q` (n_q × d_model), which local-p
/// reads when its source is `LocalPSource::Input` (everything else ignores them).
/// Centres are predicted only when the predictor's shapes fit (uᵢ has W_p's d_in columns,
/// v_p has W_p's d_p rows, one uᵢ per query); otherwise every row is masked.
pub fn attend_head_with_input(
    backend: Backend,
    q: ArrayView2<f32>,
    k: ArrayView2<f32>,
    v: ArrayView2<f32>,
    x_q: Option<ArrayView2<f32>>,
    cfg: &HeadConfig,
) -> HeadTrace {
    let (n_q, n_k) = (q.nrows(), k.nrows());
    // step: scores
    let raw = raw_scores(backend, &cfg.score, q, k);
    // step: scale
    let scaled = raw.mapv(|x| x * cfg.scale);
    // step: mask (and temperature)
    let centers = match &cfg.span {
        Span::LocalP {
            w_p, v_p, source, ..
        } => {
            let u = match source {
                LocalPSource::Query => Some(q),
                LocalPSource::Input => x_q,
            };
            u.filter(|u| u.nrows() == n_q && u.ncols() == w_p.ncols() && v_p.len() == w_p.nrows())
                .map(|u| local_p_centers(u, w_p, v_p, n_k))
        }
        _ => None,
    };
    let allowed = allowed_mask(cfg, n_q, n_k, centers.as_deref());
    let inv_tau = 1.0 / cfg.temperature;
    let mut logits = scaled.clone();
    ndarray::Zip::from(&mut logits)
        .and(&allowed)
        .for_each(|x, &ok| *x = if ok { *x * inv_tau } else { f32::NEG_INFINITY });
    // step: softmax
    let mut weights = logits.clone();
    let mut empty_rows = Vec::with_capacity(n_q);
    for mut row in weights.rows_mut() {
        let row = row.as_slice_mut().expect("standard layout");
        empty_rows.push(!kernels::softmax_row(backend, row));
    }
    if let (Span::LocalP { sigma, .. }, Some(c)) = (&cfg.span, &centers) {
        // Luong eq. 10: favour keys near pᵢ; σ = D/2 unless given; not renormalised.
        let sigma = *sigma;
        for (i, mut row) in weights.rows_mut().into_iter().enumerate() {
            for (j, w) in row.iter_mut().enumerate() {
                let off = j as f32 - c[i];
                *w *= (-(off * off) / (2.0 * sigma * sigma)).exp();
            }
        }
    }
    // step: weighted sum
    let context = matmul(backend, weights.view(), v);
    let row_stats = RowStats::of(&weights);
    let summary = row_stats.summary(&empty_rows);
    let local_p = match &cfg.span {
        Span::LocalP {
            d,
            sigma,
            source,
            w_p,
            ..
        } => Some(LocalPInfo {
            source: *source,
            d: *d,
            sigma: *sigma,
            d_p: w_p.nrows(),
            d_in: w_p.ncols(),
        }),
        _ => None,
    };
    HeadTrace {
        q: q.to_owned(),
        k: k.to_owned(),
        v: v.to_owned(),
        raw_scores: raw,
        scaled,
        logits,
        allowed,
        weights,
        context,
        empty_rows,
        centers,
        local_p,
        q_unrotated: None,
        k_unrotated: None,
        row_stats,
        summary,
        overview: None,
    }
}

/// The pieces of one row's softmax as it is computed: the row max m, eⱼ = exp(zⱼ − m) (0 for
/// masked keys) and Σ eⱼ. The weights are eⱼ / Σ. Used to show the arithmetic of a row.
pub fn softmax_parts(logits: &[f32]) -> (f32, Vec<f32>, f32) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return (max, vec![0.0; logits.len()], 0.0);
    }
    let exps: Vec<f32> = logits.iter().map(|&z| (z - max).exp()).collect();
    let sum = exps.iter().sum();
    (max, exps, sum)
}

/// Softmax of a row of scaled scores at temperature τ over the allowed keys (zeros when none):
/// lets a view compare the current τ with τ = 1 without recomputing the trace.
pub fn softmax_at(scaled: &[f32], allowed: &[bool], temperature: f32) -> Vec<f32> {
    let mut row: Vec<f32> = scaled
        .iter()
        .zip(allowed)
        .map(|(&x, &ok)| {
            if ok {
                x / temperature
            } else {
                f32::NEG_INFINITY
            }
        })
        .collect();
    kernels::softmax_row(Backend::Scalar, &mut row);
    row
}

/// Columns `[h·d, (h+1)·d)` of a matrix, as a standard-layout copy.
pub fn head_columns(x: &Array2<f32>, head: usize, d: usize) -> Array2<f32> {
    x.slice(s![.., head * d..(head + 1) * d]).to_owned()
}

/// Concatenates per-head contexts along columns.
pub fn concat_heads(contexts: &[&Array2<f32>]) -> Array2<f32> {
    let views: Vec<_> = contexts.iter().map(|c| c.view()).collect();
    side_by_side(&views).unwrap_or_else(|| Array2::zeros((0, 0)))
}

/// Matrices of one height side by side, as a row-major matrix (None if the heights differ).
/// ndarray's `concatenate` along columns gives a column-major result, which every later
/// copy of a row range then reads element by element.
pub fn side_by_side(parts: &[ArrayView2<'_, f32>]) -> Option<Array2<f32>> {
    let n = parts.first().map_or(0, |p| p.nrows());
    if parts.iter().any(|p| p.nrows() != n) {
        return None;
    }
    let parts: Vec<_> = parts.iter().map(|p| p.as_standard_layout()).collect();
    let slices: Vec<&[f32]> = parts
        .iter()
        .map(|p| p.as_slice().expect("standard layout"))
        .collect();
    let width: usize = parts.iter().map(|p| p.ncols()).sum();
    let mut out = Vec::with_capacity(n * width);
    for i in 0..n {
        for (p, s) in parts.iter().zip(&slices) {
            let w = p.ncols();
            extend_span(&mut out, &s[i * w..(i + 1) * w]);
        }
    }
    Array2::from_shape_vec((n, width), out).ok()
}

/// Appends a short span (a row of one head: 32 or 64 floats) to `out` in fixed-size copies
/// of 16 floats, which the compiler inlines; `extend_from_slice` of a span whose length is
/// only known at run time calls `memcpy` once per row (4% of a 128-token MiniLM forward).
#[inline]
pub fn extend_span(out: &mut Vec<f32>, span: &[f32]) {
    let chunks = span.chunks_exact(16);
    let tail = chunks.remainder();
    for c in chunks {
        let c: &[f32; 16] = c.try_into().expect("16 floats");
        out.extend_from_slice(c);
    }
    for &x in tail {
        out.push(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn cfg(score: Score) -> HeadConfig {
        HeadConfig {
            score,
            scale: 1.0,
            span: Span::Global,
            causal: false,
            window: None,
            padding: None,
            temperature: 1.0,
        }
    }

    #[test]
    fn hand_checked_example() {
        let q = array![[1.0f32, 0.0]];
        let k = array![[1.0f32, 0.0], [0.0, 1.0]];
        let v = array![[1.0f32, 2.0], [3.0, 4.0]];
        for backend in Backend::supported() {
            let t = attend_head(backend, q.view(), k.view(), v.view(), &cfg(Score::Dot));
            assert_eq!(t.raw_scores, array![[1.0, 0.0]]);
            assert!((t.weights[[0, 0]] - 0.731_058_6).abs() < 1e-6, "{backend}");
            assert!((t.weights[[0, 1]] - 0.268_941_4).abs() < 1e-6, "{backend}");
            assert!((t.context[[0, 0]] - 1.537_882_8).abs() < 1e-5, "{backend}");
            assert!((t.context[[0, 1]] - 2.537_882_8).abs() < 1e-5, "{backend}");
        }
    }

    #[test]
    fn fully_masked_row_is_flagged_and_zero() {
        let q = array![[1.0f32, 0.0], [0.0, 1.0]];
        let mut c = cfg(Score::Dot);
        c.padding = Some(vec![true, true]);
        let t = attend_head(Backend::best(), q.view(), q.view(), q.view(), &c);
        assert_eq!(t.empty_rows, [true, true]);
        assert!(t.weights.iter().all(|&w| w == 0.0));
        assert!(t.context.iter().all(|&x| x == 0.0));
        assert_eq!(t.summary.entropy, 0.0);
    }

    #[test]
    fn cosine_of_zero_vector_is_zero() {
        let q = array![[0.0f32, 0.0], [3.0, 4.0]];
        let t = attend_head(
            Backend::best(),
            q.view(),
            q.view(),
            q.view(),
            &cfg(Score::Cosine),
        );
        assert_eq!(t.raw_scores[[0, 1]], 0.0);
        assert!((t.raw_scores[[1, 1]] - 1.0).abs() < 1e-6);
    }
}
