//! The trace: every step's tensor, per head, plus statistics. The step-through view, the
//! heatmaps, the plots and every export read this; nothing downstream recomputes the maths.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::spec::LocalPSource;

/// The steps of the pipeline, in order, as the step-through view lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Tokens → X (embeddings, plus positions for toy text).
    Embed,
    /// Q = X·W_Q, K = X·W_K, V = X·W_V.
    Project,
    /// Rotary positions (RoPE): each pair of q's and k's dimensions turned by an angle that
    /// grows with the position. Only rotary heads have it; it is not numbered (`--step`
    /// keeps 1 … 9).
    Rotate,
    /// Raw scores s(qᵢ, kⱼ).
    Scores,
    /// Scores × scale (1/√d_k for scaled dot).
    Scale,
    /// Masked logits (÷ τ; −∞ where masked).
    Mask,
    /// Softmax → attention weights.
    Softmax,
    /// Σⱼ pᵢⱼ vⱼ.
    WeightedSum,
    /// [head₀ | head₁ | …].
    Concat,
    /// concat · W_O.
    Output,
}

impl Step {
    /// All steps in pipeline order.
    pub const ALL: [Step; 9] = [
        Step::Embed,
        Step::Project,
        Step::Scores,
        Step::Scale,
        Step::Mask,
        Step::Softmax,
        Step::WeightedSum,
        Step::Concat,
        Step::Output,
    ];

    /// Position in [`Step::ALL`] (the rotation counts as part of the projection).
    pub fn index(self) -> usize {
        Step::ALL.iter().position(|&s| s == self).unwrap_or(1)
    }

    /// The steps a trace goes through, in order: [`Step::ALL`], plus [`Step::Rotate`] after
    /// the projection when its heads are rotary.
    pub fn sequence(rotary: bool) -> Vec<Step> {
        let mut v = Step::ALL.to_vec();
        if rotary {
            v.insert(2, Step::Rotate);
        }
        v
    }

    /// The step before or after this one (`delta` = −1 or +1) in a trace's sequence.
    pub fn neighbour(self, rotary: bool, delta: isize) -> Option<Step> {
        let seq = Step::sequence(rotary);
        let i = seq.iter().position(|&s| s == self)? as isize + delta;
        usize::try_from(i).ok().and_then(|i| seq.get(i).copied())
    }
}

/// Per-row statistics of a weight matrix.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RowStats {
    /// −Σⱼ pᵢⱼ ln pᵢⱼ in nats (0 for a one-hot row, ln n for uniform).
    pub entropy: Vec<f32>,
    /// maxⱼ pᵢⱼ.
    pub max_weight: Vec<f32>,
    /// Σⱼ pᵢⱼ |i − j|: how far, in positions, a query looks on average.
    pub mean_distance: Vec<f32>,
    /// pᵢ₀: the share on the first key (an "attention sink" shows up here).
    pub first_key_share: Vec<f32>,
}

/// −Σ p ln p, max p and Σ p·|i − j| of row `i`, in eight independent lanes so the loop
/// vectorises (a 512-token model run has 19 M weights to summarise).
pub(crate) fn row_sums(i: usize, row: &[f32]) -> (f32, f32, f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 support was checked just above.
        return unsafe { row_sums_avx2(i, row) };
    }
    row_sums_plain(i, row)
}

/// [`row_sums_plain`] compiled for AVX2: the same operations in the same order (no FMA
/// contraction), so the same bits, on 8-wide registers.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn row_sums_avx2(i: usize, row: &[f32]) -> (f32, f32, f32) {
    row_sums_plain(i, row)
}

/// Max p and Σ p·|i − j| of row `i`: [`row_sums`] without the entropy, for a row whose
/// entropy came from its softmax ([`crate::core::kernels::SoftmaxSums`]; the per-weight
/// `ln` was 15% of a 4,096-token forward). The same sums in the same lanes as
/// [`row_sums`], so the same bits.
pub(crate) fn row_max_dist(i: usize, probs: &[f32]) -> (f32, f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 support was checked just above; one row has one length.
        let [stats] = unsafe { row_max_dist_avx2(i, [probs]) };
        return stats;
    }
    row_max_dist_plain(i, probs)
}

/// [`row_max_dist`] of rows `i` and `i + 1` (of the same length), the same bits as two
/// calls: on AVX2 their loops run interleaved, so each iteration's two dependent sums (a
/// maximum and a running distance, 4 cycles each) overlap with the other row's.
pub(crate) fn row_max_dist2(i: usize, a: &[f32], b: &[f32]) -> [(f32, f32); 2] {
    #[cfg(target_arch = "x86_64")]
    if a.len() == b.len() && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 support was checked just above; the rows have one length.
        return unsafe { row_max_dist_avx2(i, [a, b]) };
    }
    [row_max_dist(i, a), row_max_dist(i + 1, b)]
}

/// [`row_max_dist_plain`] of rows i, i + 1, …, i + N − 1 on AVX2 registers: the same
/// operations on the same lanes (lane k takes every column j ≡ k mod 8; products and sums
/// unfused), so the same bits, each row's loop interleaved with the others'. Written with
/// intrinsics because the compiler kept `max` scalar.
///
/// # Safety
/// The CPU must support AVX2, and the rows must have one length.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn row_max_dist_avx2<const N: usize>(i: usize, rows: [&[f32]; N]) -> [(f32, f32); N] {
    use std::arch::x86_64::*;
    const L: usize = 8;
    let len = rows.first().map_or(0, |r| r.len());
    assert!(rows.iter().all(|r| r.len() == len), "rows of one length");
    let full = len / L * L;
    let zero = _mm256_setzero_ps();
    let (mut max, mut dist) = ([zero; N], [zero; N]);
    let sign = _mm256_set1_ps(-0.0);
    let vi: [__m256; N] = std::array::from_fn(|r| _mm256_set1_ps((i + r) as f32));
    let mut vj = _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
    let step = _mm256_set1_ps(L as f32);
    for c in (0..full).step_by(L) {
        for r in 0..N {
            // SAFETY: c + 8 ≤ full ≤ the length of every row.
            let p = unsafe { _mm256_loadu_ps(rows[r].as_ptr().add(c)) };
            max[r] = _mm256_max_ps(p, max[r]);
            let away = _mm256_andnot_ps(sign, _mm256_sub_ps(vi[r], vj));
            dist[r] = _mm256_add_ps(dist[r], _mm256_mul_ps(p, away));
        }
        vj = _mm256_add_ps(vj, step);
    }
    let lanes = |v: __m256| {
        let mut out = [0.0f32; L];
        // SAFETY: `out` holds 8 floats.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
        out
    };
    std::array::from_fn(|r| {
        let mut acc = MaxDistLanes {
            max: lanes(max[r]),
            dist: lanes(dist[r]),
        };
        acc.add(i + r, full, &rows[r][full..]);
        acc.totals()
    })
}

fn row_max_dist_plain(i: usize, probs: &[f32]) -> (f32, f32) {
    let mut acc = MaxDistLanes::default();
    acc.add(i, 0, probs);
    acc.totals()
}

/// [`row_max_dist`]'s eight lanes: max p and Σ p·|i − j| of the columns j ≡ k (mod 8) in
/// lane k.
#[derive(Default)]
struct MaxDistLanes {
    max: [f32; 8],
    dist: [f32; 8],
}

impl MaxDistLanes {
    /// Adds columns `from`, `from` + 1, … of row `i`.
    #[inline(always)]
    fn add(&mut self, i: usize, from: usize, probs: &[f32]) {
        for (t, &p) in probs.iter().enumerate() {
            let j = from + t;
            let k = j % 8;
            self.max[k] = if p > self.max[k] { p } else { self.max[k] };
            self.dist[k] += p * (i as f32 - j as f32).abs();
        }
    }

    /// (max p, distance).
    fn totals(&self) -> (f32, f32) {
        (
            self.max.iter().copied().fold(0.0, f32::max),
            self.dist.iter().sum(),
        )
    }
}

#[inline(always)]
fn row_sums_plain(i: usize, row: &[f32]) -> (f32, f32, f32) {
    const L: usize = 8;
    let (mut ent, mut max, mut dist) = ([0.0f32; L], [0.0f32; L], [0.0f32; L]);
    let chunks = row.chunks_exact(L);
    let tail = chunks.remainder();
    for (c, chunk) in chunks.enumerate() {
        for k in 0..L {
            let p = chunk[k];
            let j = (c * L + k) as f32;
            ent[k] -= if p > 0.0 { p * ln_f32(p) } else { 0.0 };
            max[k] = max[k].max(p);
            dist[k] += p * (i as f32 - j).abs();
        }
    }
    let base = row.len() - tail.len();
    for (k, &p) in tail.iter().enumerate() {
        ent[k] -= if p > 0.0 { p * ln_f32(p) } else { 0.0 };
        max[k] = max[k].max(p);
        dist[k] += p * (i as f32 - (base + k) as f32).abs();
    }
    (
        ent.iter().sum(),
        max.iter().copied().fold(0.0, f32::max),
        dist.iter().sum(),
    )
}

/// ln(x) for finite x > 0, without a libm call so that loops over big matrices vectorise:
/// x = 2ᵉ·m with m ∈ [√½, √2), ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172, by its
/// odd series to s⁹ (truncation < 1e-9; the result is within 2 ulp of `f32::ln`).
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    let bits = x.to_bits();
    // Exponent and mantissa, with the mantissa moved to [√½, √2).
    let e = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    // Branch-free, so that loops over it vectorise.
    let big = m > std::f32::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = e + big as i32;
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series =
        2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0)))));
    e as f32 * std::f32::consts::LN_2 + series
}

/// One head's statistics averaged over its non-empty rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeadSummary {
    /// Mean row entropy (nats).
    pub entropy: f32,
    /// Mean row max weight.
    pub max_weight: f32,
    /// Mean attention distance (positions).
    pub mean_distance: f32,
    /// Mean share on the first key.
    pub first_key_share: f32,
}

impl RowStats {
    /// Statistics of each row of `weights`; `empty` rows are left out of [`RowStats::summary`].
    pub fn of(weights: &Array2<f32>) -> RowStats {
        let mut s = RowStats::default();
        let weights = weights.as_standard_layout();
        for (i, row) in weights.rows().into_iter().enumerate() {
            let row = row.to_slice().expect("standard layout");
            let (entropy, max, dist) = row_sums(i, row);
            s.entropy.push(entropy);
            s.max_weight.push(max);
            s.mean_distance.push(dist);
            s.first_key_share.push(row.first().copied().unwrap_or(0.0));
        }
        s
    }

    /// Means over the rows not flagged in `empty`.
    pub fn summary(&self, empty: &[bool]) -> HeadSummary {
        let keep: Vec<usize> = (0..self.entropy.len())
            .filter(|&i| !empty.get(i).copied().unwrap_or(false))
            .collect();
        let mean = |v: &[f32]| {
            if keep.is_empty() {
                0.0
            } else {
                keep.iter().map(|&i| v[i]).sum::<f32>() / keep.len() as f32
            }
        };
        HeadSummary {
            entropy: mean(&self.entropy),
            max_weight: mean(&self.max_weight),
            mean_distance: mean(&self.mean_distance),
            first_key_share: mean(&self.first_key_share),
        }
    }
}

/// Every intermediate tensor of one head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadTrace {
    /// Queries of this head (n_q × d_k).
    #[serde(with = "rows")]
    pub q: Array2<f32>,
    /// Keys (n_k × d_k).
    #[serde(with = "rows")]
    pub k: Array2<f32>,
    /// Values (n_k × d_k).
    #[serde(with = "rows")]
    pub v: Array2<f32>,
    /// Raw scores s(qᵢ, kⱼ) before scaling (n_q × n_k).
    #[serde(with = "rows")]
    pub raw_scores: Array2<f32>,
    /// raw × scale.
    #[serde(with = "rows")]
    pub scaled: Array2<f32>,
    /// scaled ÷ τ where allowed, −∞ (JSON null) where masked.
    #[serde(with = "rows")]
    pub logits: Array2<f32>,
    /// Which keys each query may attend to (span ∧ causal ∧ window ∧ padding).
    #[serde(with = "rows")]
    pub allowed: Array2<bool>,
    /// Attention weights (softmax; × Gaussian for local-p).
    #[serde(with = "rows")]
    pub weights: Array2<f32>,
    /// Σⱼ wᵢⱼ vⱼ (n_q × d_k).
    #[serde(with = "rows")]
    pub context: Array2<f32>,
    /// Rows with no visible key (their weights and context are zeros).
    pub empty_rows: Vec<bool>,
    /// Local-p window centres pᵢ, one per query.
    pub centers: Option<Vec<f32>>,
    /// The local-p settings this head used (`None` for other spans), so a view can label
    /// pᵢ = n_k · sigmoid(v_pᵀ tanh(W_p uᵢ)) and the Gaussian with the head's own numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_p: Option<LocalPInfo>,
    /// For a rotary (RoPE) head: Q before the rotation (`q` is after it), n_q × d_k.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_rows")]
    pub q_unrotated: Option<Array2<f32>>,
    /// For a rotary head: K before the rotation (`k` is after it), n_k × d_k.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_rows")]
    pub k_unrotated: Option<Array2<f32>>,
    /// Per-row statistics of `weights`.
    pub row_stats: RowStats,
    /// Head-level means.
    pub summary: HeadSummary,
    /// A lean trace's head without its n × n matrices (see
    /// [`compute_lean`](super::pipeline::compute_lean)): its weights max-pooled to at most
    /// [`OVERVIEW_SIDE`](super::pool::OVERVIEW_SIDE)², for thumbnails. Not serialised.
    #[serde(skip)]
    pub overview: Option<super::pool::Pooled>,
}

/// What a local-p head used: the predictor's input uᵢ and sizes, the half width D and σ.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalPInfo {
    /// uᵢ = qᵢ (`query`) or xᵢ (`input`).
    pub source: LocalPSource,
    /// Half width D of the window |j − pᵢ| ≤ D.
    pub d: usize,
    /// σ of the Gaussian exp(−(j − pᵢ)² / (2σ²)) (D/2 unless the spec set `local_sigma`).
    pub sigma: f32,
    /// Hidden size d_p of the predictor (rows of W_p, length of v_p).
    pub d_p: usize,
    /// Width d_in of uᵢ (columns of W_p): d_k for `query`, d_model for `input`.
    pub d_in: usize,
}

/// The whole computation, step by step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// Format version.
    pub version: u32,
    /// Query tokens.
    pub tokens_q: Vec<String>,
    /// Key/value tokens (the same as `tokens_q` for self-attention).
    pub tokens_k: Vec<String>,
    /// Token count of the query text before truncation, if it was truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_q: Option<usize>,
    /// Token count of the source text before truncation, if it was truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_k: Option<usize>,
    /// Whether keys/values come from the query sequence.
    pub self_attention: bool,
    /// Width of X.
    pub d_model: usize,
    /// Number of heads.
    pub heads: usize,
    /// Head width d_model / heads.
    pub d_k: usize,
    /// The multiplier applied to raw scores.
    pub scale: f32,
    /// Softmax temperature.
    pub temperature: f32,
    /// What was computed: source of X, pre-norm, biases, score, span and masks. Formulas and
    /// explanations of this trace read it.
    #[serde(default)]
    pub mechanism: super::mechanism::Mechanism,
    /// Which kernel backend computed it.
    pub kernel: String,
    /// Embedded queries' inputs (n_q × d_model).
    #[serde(with = "rows")]
    pub x_q: Array2<f32>,
    /// Embedded keys'/values' inputs (n_k × d_model).
    #[serde(with = "rows")]
    pub x_k: Array2<f32>,
    /// W_Q (d_model × d_model).
    #[serde(with = "rows")]
    pub w_q: Array2<f32>,
    /// W_K.
    #[serde(with = "rows")]
    pub w_k: Array2<f32>,
    /// W_V.
    #[serde(with = "rows")]
    pub w_v: Array2<f32>,
    /// W_O.
    #[serde(with = "rows")]
    pub w_o: Array2<f32>,
    /// One trace per head.
    pub head_traces: Vec<HeadTrace>,
    /// Heads' contexts side by side (n_q × d_model).
    #[serde(with = "rows")]
    pub concat: Array2<f32>,
    /// concat · W_O (n_q × d_model).
    #[serde(with = "rows")]
    pub output: Array2<f32>,
}

impl Trace {
    /// A copy of this trace whose heads are `head(h, &self.head_traces[h])`: the heads'
    /// n × n matrices (hundreds of MB at 4,096 tokens) are copied only if `head` copies them.
    /// Every field is named, so a new one must be decided on here.
    pub fn with_heads(&self, mut head: impl FnMut(usize, &HeadTrace) -> HeadTrace) -> Trace {
        Trace {
            version: self.version,
            tokens_q: self.tokens_q.clone(),
            tokens_k: self.tokens_k.clone(),
            truncated_q: self.truncated_q,
            truncated_k: self.truncated_k,
            self_attention: self.self_attention,
            d_model: self.d_model,
            heads: self.heads,
            d_k: self.d_k,
            scale: self.scale,
            temperature: self.temperature,
            mechanism: self.mechanism.clone(),
            kernel: self.kernel.clone(),
            x_q: self.x_q.clone(),
            x_k: self.x_k.clone(),
            w_q: self.w_q.clone(),
            w_k: self.w_k.clone(),
            w_v: self.w_v.clone(),
            w_o: self.w_o.clone(),
            head_traces: self
                .head_traces
                .iter()
                .enumerate()
                .map(|(h, t)| head(h, t))
                .collect(),
            concat: self.concat.clone(),
            output: self.output.clone(),
        }
    }

    /// Whether head `head` holds its matrices (a long model run's layer trace holds only
    /// the opened head's; the others have their summary and 0 × 0 matrices).
    pub fn has_matrices(&self, head: usize) -> bool {
        self.head_traces
            .get(head)
            .is_some_and(|h| h.weights.dim() == (self.n_q(), self.n_k()))
    }

    /// Number of query positions.
    pub fn n_q(&self) -> usize {
        self.tokens_q.len()
    }

    /// Number of key positions.
    pub fn n_k(&self) -> usize {
        self.tokens_k.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entropy from a softmax's sums equals −Σ p ln p of the weights it makes, and max p
    /// and Σ p·|i − j| without the entropy are [`row_sums`]' bit for bit: peaked, flat, large
    /// scores, masked keys inside the row, zeros after the visible span, every backend's
    /// softmax (whose weights are [`softmax_row`]'s, bit for bit).
    #[test]
    fn row_entropy_from_softmax_sums_matches_the_per_weight_sum() {
        use crate::core::kernels::{Backend, softmax_row, softmax_row_sums};
        let rows: Vec<Vec<f32>> = vec![
            vec![0.0; 37],
            (0..50).map(|j| (j as f32 * 0.37).sin() * 3.0).collect(),
            (0..29)
                .map(|j| 80.0 + (j as f32 * 1.3).cos() * 9.0)
                .collect(),
            (0..20).map(|j| if j == 7 { 40.0 } else { -5.0 }).collect(),
            (0..33)
                .map(|j| {
                    if j % 5 == 2 {
                        f32::NEG_INFINITY
                    } else {
                        j as f32 * 0.1
                    }
                })
                .collect(),
        ];
        for backend in Backend::supported() {
            for (r, scores) in rows.iter().enumerate() {
                for visible in [scores.len(), scores.len() * 2 / 3] {
                    let mut row = scores.clone();
                    row[visible..].fill(0.0);
                    let mut plain = row.clone();
                    let sums = softmax_row_sums(backend, &mut row[..visible]);
                    assert_eq!(sums.is_some(), softmax_row(backend, &mut plain[..visible]));
                    assert_eq!(row, plain, "{backend} row {r}: the weights");
                    let i = visible / 2;
                    let (e0, m0, d0) = row_sums(i, &row);
                    let e1 = sums.map_or(0.0, |s| s.entropy());
                    let (m1, d1) = row_max_dist(i, &row);
                    let label = format!("{backend} row {r} visible {visible}");
                    assert_eq!((m1, d1), (m0, d0), "{label}");
                    // The portable loop and the AVX2 one are the same sums, lane for lane.
                    assert_eq!(row_max_dist_plain(i, &row), (m1, d1), "{label}: plain");
                    // Two rows at once: each the bits of its own call.
                    let mut next = row.clone();
                    next.rotate_left(1);
                    assert_eq!(
                        row_max_dist2(i, &row, &next),
                        [(m1, d1), row_max_dist(i + 1, &next)],
                        "{label}: two rows at once"
                    );
                    assert!(
                        (e1 - e0).abs() <= 2e-6 * (1.0 + e0),
                        "{label}: {e1} vs {e0}"
                    );
                }
            }
        }
    }

    #[test]
    fn fast_ln_matches_std() {
        // Normal numbers only: probabilities below 2⁻¹²⁶ contribute nothing to an entropy.
        let mut x = f32::MIN_POSITIVE;
        while x < 1e6 {
            let (got, want) = (ln_f32(x), x.ln());
            assert!(
                (got - want).abs() <= 2e-6 * want.abs().max(1.0),
                "ln({x}) = {got} vs {want}"
            );
            x *= 1.013;
        }
        assert_eq!(ln_f32(1.0), 0.0);
    }
}

/// Serde for an optional 2-D array as a list of rows, or nothing.
pub mod opt_rows {
    use ndarray::Array2;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `Some(a)` as rows (`None` is skipped by the field's `skip_serializing_if`).
    pub fn serialize<S: Serializer>(a: &Option<Array2<f32>>, s: S) -> Result<S::Ok, S::Error> {
        match a {
            Some(a) => super::rows::serialize(a, s),
            None => s.serialize_none(),
        }
    }

    /// Reads rows or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Array2<f32>>, D::Error> {
        #[derive(Deserialize)]
        struct Rows(#[serde(with = "super::rows")] Array2<f32>);
        Ok(Option::<Rows>::deserialize(d)?.map(|r| r.0))
    }
}

/// Serde for 2-D arrays as a list of rows (readable JSON; −∞ and NaN become `null`).
pub mod rows {
    use ndarray::Array2;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes an array as `[[row 0], [row 1], …]`.
    pub fn serialize<T: Serialize, S: Serializer>(a: &Array2<T>, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(a.nrows()))?;
        for r in a.rows() {
            seq.serialize_element(&r.iter().collect::<Vec<&T>>())?;
        }
        seq.end()
    }

    /// Reads `[[…], …]`; `null` entries (masked logits) come back as the type's `Nullable`.
    pub fn deserialize<'de, T, D>(d: D) -> Result<Array2<T>, D::Error>
    where
        T: Nullable + Deserialize<'de>,
        D: Deserializer<'de>,
    {
        let rows: Vec<Vec<Option<T>>> = Vec::deserialize(d)?;
        let n = rows.len();
        let m = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|r| r.len() != m) {
            return Err(serde::de::Error::custom("ragged matrix"));
        }
        let flat = rows
            .into_iter()
            .flatten()
            .map(|v| v.unwrap_or_else(T::null))
            .collect();
        Array2::from_shape_vec((n, m), flat).map_err(serde::de::Error::custom)
    }

    /// What a JSON `null` in a matrix means for an element type.
    pub trait Nullable {
        /// The value of `null`.
        fn null() -> Self;
    }
    impl Nullable for f32 {
        fn null() -> Self {
            f32::NEG_INFINITY
        }
    }
    impl Nullable for bool {
        fn null() -> Self {
            false
        }
    }
}
