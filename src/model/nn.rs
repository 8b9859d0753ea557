//! The layers every family shares, on the core's kernels: linear maps, LayerNorm, RMSNorm,
//! GELU / SiLU, rotary positions and multi-head (grouped-query) attention that keeps Q, K, V
//! (before and after RoPE), the pre-softmax scores and the probabilities.
//!
//! Legend: `n` = tokens, `d` = model width, `h` = query heads, `g` = KV heads,
//! `dh` = head width (d / h unless the config gives `head_dim`).

use ndarray::{Array1, Array2, Axis, s};
use rayon::prelude::*;

use crate::core::attend::{matmul, matmul_bt};
use crate::core::kernels::{self, Backend};

/// y = x·W + b, with W stored as `in × out` (already transposed from PyTorch's `out × in`).
#[derive(Clone, Debug)]
pub struct Linear {
    /// in × out.
    pub w: Array2<f32>,
    /// out.
    pub b: Array1<f32>,
}

/// Rows per parallel task of a linear map on attnscope's own kernels.
const LINEAR_ROWS: usize = 32;

impl Linear {
    /// x (n × in) → n × out. With a SIMD backend the product runs on the `gemm` crate
    /// (packed panels, its own runtime ISA dispatch, rayon over the pool): at the sample
    /// models' shapes it is 1.2–2.5× faster than attnscope's unpacked register-tiled kernel
    /// (`examples/linear_shapes.rs`, BENCHMARKS.md). The scalar and portable backends keep
    /// attnscope's own kernels, rows split over the rayon pool, so the oracle path stays
    /// independent of the crate.
    pub fn forward(&self, backend: Backend, x: &Array2<f32>) -> Array2<f32> {
        let (n, k) = x.dim();
        let m = self.w.ncols();
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let w = self.w.as_slice().expect("weights are contiguous");
        let mut out = Array2::zeros((n, m));
        let dst = out.as_slice_mut().expect("fresh array");
        if matches!(backend, Backend::Scalar | Backend::Portable) || n == 0 || m == 0 {
            dst.par_chunks_mut(LINEAR_ROWS * m.max(1))
                .enumerate()
                .for_each(|(blk, chunk)| {
                    let rows = chunk.len() / m;
                    let i0 = blk * LINEAR_ROWS;
                    kernels::gemm(backend, rows, m, k, 1.0, &xs[i0 * k..], k, w, m, chunk, m);
                });
        } else {
            assert!(xs.len() == n * k && w.len() == k * m && self.w.nrows() == k);
            // SAFETY: x is n×k, w is k×m and dst n×m, all row-major and contiguous with exactly
            // those lengths (asserted above); dst does not alias x or w.
            unsafe {
                gemm::gemm(
                    n,
                    m,
                    k,
                    dst.as_mut_ptr(),
                    1,
                    m as isize,
                    false,
                    xs.as_ptr(),
                    1,
                    k as isize,
                    w.as_ptr(),
                    1,
                    m as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::Rayon(rayon::current_num_threads()),
                );
            }
        }
        out += &self.b;
        out
    }
}

/// LayerNorm over the last axis: (x − mean) / √(var + ε) · γ + β (biased variance).
#[derive(Clone, Debug)]
pub struct LayerNorm {
    /// γ.
    pub weight: Array1<f32>,
    /// β.
    pub bias: Array1<f32>,
    /// ε.
    pub eps: f32,
}

impl LayerNorm {
    /// Normalises each row.
    pub fn forward(&self, x: &Array2<f32>) -> Array2<f32> {
        let mut out = x.to_owned();
        for mut row in out.rows_mut() {
            let n = row.len() as f32;
            let mean = row.sum() / n;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
            let inv = 1.0 / (var + self.eps).sqrt();
            for ((v, g), b) in row.iter_mut().zip(&self.weight).zip(&self.bias) {
                *v = (*v - mean) * inv * g + b;
            }
        }
        out
    }
}

/// RMSNorm over the last axis: x / √(mean(x²) + ε) · γ (Llama). Gemma's (1 + γ) is folded
/// into γ when the weights are loaded (the sum is what Gemma computes in f32 too).
#[derive(Clone, Debug)]
pub struct RmsNorm {
    /// γ (Gemma: 1 + the stored weight).
    pub weight: Array1<f32>,
    /// ε.
    pub eps: f32,
}

impl RmsNorm {
    /// Normalises each row of `x` in place.
    pub fn apply(&self, x: &mut Array2<f32>) {
        for mut row in x.rows_mut() {
            let n = row.len() as f32;
            let ms = row.iter().map(|v| v * v).sum::<f32>() / n;
            let inv = 1.0 / (ms + self.eps).sqrt();
            for (v, g) in row.iter_mut().zip(&self.weight) {
                *v = *v * inv * g;
            }
        }
    }

    /// Normalises each row.
    pub fn forward(&self, x: &Array2<f32>) -> Array2<f32> {
        let mut out = x.to_owned();
        self.apply(&mut out);
        out
    }
}

/// A block's normalisation, as its family defines it.
#[derive(Clone, Debug)]
pub enum NormLayer {
    /// LayerNorm (BERT, GPT-2).
    Layer(LayerNorm),
    /// RMSNorm (Llama and its descendants, Gemma with 1 + γ).
    Rms(RmsNorm),
}

impl NormLayer {
    /// Normalises each row.
    pub fn forward(&self, x: &Array2<f32>) -> Array2<f32> {
        match self {
            NormLayer::Layer(n) => n.forward(x),
            NormLayer::Rms(n) => n.forward(x),
        }
    }
}

/// erf(x) in f32 as a ratio of odd/even polynomials on x ∈ [−4, 4] (the approximation Eigen
/// and XLA use; within a few ulp of the true erf, and exactly ±1 beyond ±4 in f32). Unlike a
/// libm call it vectorises, which matters: GELU is a third of a BERT forward pass otherwise.
// The coefficients are written as Eigen publishes them, digits beyond f32 included, so they
// can be checked against the source.
#[allow(clippy::excessive_precision)]
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_2e-10_f32;
    for a in [
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906e-4,
        -2.954_600e-3,
        -1.609_603_3e-2,
    ] {
        p = p.mul_add(x2, a);
    }
    let mut q = -1.456_607_2e-5_f32;
    for b in [-2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2] {
        q = q.mul_add(x2, b);
    }
    x * p / q
}

/// 0.5·x·(1 + erf(x/√2)), BERT's "gelu".
#[inline(always)]
fn gelu_erf(v: f32) -> f32 {
    0.5 * v * (1.0 + erf_f32(v * std::f32::consts::FRAC_1_SQRT_2))
}

/// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), GPT-2's "gelu_new".
#[inline(always)]
fn gelu_tanh(v: f32) -> f32 {
    let c = (2.0f32 / std::f32::consts::PI).sqrt();
    0.5 * v * (1.0 + (c * (v + 0.044715 * v * v * v)).tanh())
}

/// Applies `f` to every element; the loop has no calls, so the compiler vectorises it.
#[inline(always)]
fn map_slice(x: &mut [f32], f: impl Fn(f32) -> f32) {
    for v in x {
        *v = f(*v);
    }
}

/// The same loop compiled for AVX-512.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gelu_erf_avx512(x: &mut [f32]) {
    map_slice(x, gelu_erf);
}

/// GELU (erf) over a slice on the best instruction set this CPU has.
fn gelu_erf_slice(backend: Backend, x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if backend == Backend::Avx512 && backend.is_supported() {
        // SAFETY: AVX-512F support was checked just above.
        unsafe { gelu_erf_avx512(x) };
        return;
    }
    let _ = backend;
    map_slice(x, gelu_erf);
}

/// x·σ(x), Llama's "silu".
#[inline(always)]
fn silu(v: f32) -> f32 {
    v / (1.0 + (-v).exp())
}

/// The activation functions HuggingFace configs name ("gelu" erf, "relu", "silu" / "swish",
/// everything else the tanh GELU), applied in parallel chunks.
pub fn activation(backend: Backend, name: &str, x: &mut Array2<f32>) {
    let scalar = |v: f32| match name {
        "gelu" => gelu_erf(v),
        "relu" => v.max(0.0),
        "silu" | "swish" => silu(v),
        _ => gelu_tanh(v),
    };
    let Some(data) = x.as_slice_mut() else {
        // Not contiguous (never the case for a linear map's output): the plain path.
        x.mapv_inplace(scalar);
        return;
    };
    data.par_chunks_mut(4096).for_each(|c| match name {
        "gelu" => gelu_erf_slice(backend, c),
        "relu" => map_slice(c, |v| v.max(0.0)),
        "silu" | "swish" => map_slice(c, silu),
        _ => map_slice(c, gelu_tanh),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block-wise causal products equal the full products where a row sees its keys, at
    /// sizes around the block edge, on every backend.
    #[test]
    fn causal_blocks_equal_the_full_products_on_the_visible_keys() {
        for backend in Backend::supported() {
            for n in [0usize, 1, 7, 63, 64, 65, 130] {
                let dh = 5;
                let q =
                    Array2::from_shape_fn((n, dh), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
                let k = Array2::from_shape_fn((n, dh), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.25);
                let full = matmul_bt(Backend::Scalar, q.view(), k.view(), 0.5);
                let got = causal_scores(backend, &q, &k, 0.5);
                let p =
                    Array2::from_shape_fn(
                        (n, n),
                        |(i, j)| if j <= i { 1.0 / (i + 1) as f32 } else { 0.0 },
                    );
                let ctx_full = matmul(Backend::Scalar, p.view(), k.view());
                let ctx = causal_context(backend, &p, &k);
                for i in 0..n {
                    for j in 0..=i {
                        assert!(
                            (got[[i, j]] - full[[i, j]]).abs() < 1e-4,
                            "{backend:?} n={n} ({i},{j})"
                        );
                    }
                    for c in 0..dh {
                        assert!(
                            (ctx[[i, c]] - ctx_full[[i, c]]).abs() < 1e-4,
                            "{backend:?} n={n} ctx ({i},{c})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn fast_erf_matches_libm() {
        let mut worst = 0.0f32;
        for i in -60_000..=60_000 {
            let x = i as f32 * 1e-4;
            worst = worst.max((erf_f32(x) - libm::erff(x)).abs());
        }
        assert!(worst < 5e-7, "max |Δ| = {worst:e}");
        assert!((erf_f32(10.0) - 1.0).abs() <= 2e-7);
        assert!((erf_f32(-10.0) + 1.0).abs() <= 2e-7);
    }

    #[test]
    fn simd_gelu_equals_the_plain_loop() {
        let xs: Vec<f32> = (0..1031).map(|i| (i as f32 - 515.0) * 0.013).collect();
        let mut want = xs.clone();
        map_slice(&mut want, gelu_erf);
        for backend in Backend::supported() {
            let mut got = xs.clone();
            gelu_erf_slice(backend, &mut got);
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-6, "{backend}: {a} vs {b}");
            }
        }
    }
}

/// What one attention layer keeps, per query head.
#[derive(Clone, Debug)]
pub struct HeadCapture {
    /// The query, after RoPE if the model rotates (n × dh).
    pub q: Array2<f32>,
    /// The key this head reads: its KV head's, after RoPE if any (n × dh).
    pub k: Array2<f32>,
    /// The value this head reads: its KV head's (n × dh).
    pub v: Array2<f32>,
    /// Pre-softmax scores q·k·scale (soft-capped where the model caps), −∞ where masked
    /// (n × n).
    pub scores: Array2<f32>,
    /// Probabilities (n × n).
    pub probs: Array2<f32>,
    /// Σⱼ pᵢⱼ vⱼ (n × dh).
    pub context: Array2<f32>,
    /// The query before RoPE (after the projection, its bias and any q-norm); `None` when the
    /// model has no rotary positions.
    pub q_pre_rope: Option<Array2<f32>>,
    /// The key before RoPE (after the projection, its bias and any k-norm); `None` without
    /// RoPE.
    pub k_pre_rope: Option<Array2<f32>>,
    /// The KV head whose K and V this query head reads (h / (heads / kv_heads); = the head
    /// itself without grouped-query attention).
    pub kv_head: usize,
}

/// cos and sin of the rotary angles p·ωᵢ for positions 0..n (n × dh/2 each).
#[derive(Clone, Debug)]
pub struct RopeTable {
    /// cos(p·ωᵢ).
    pub cos: Array2<f32>,
    /// sin(p·ωᵢ).
    pub sin: Array2<f32>,
}

impl RopeTable {
    /// The table for `n` positions and inverse frequencies ω (dh/2 of them). The angle is
    /// formed in f32 as HuggingFace does (position · ω), its cos and sin in f64.
    pub fn new(inv_freq: &[f32], n: usize) -> RopeTable {
        let half = inv_freq.len();
        let angle = |p: usize, i: usize| f64::from(p as f32 * inv_freq[i]);
        RopeTable {
            cos: Array2::from_shape_fn((n, half), |(p, i)| angle(p, i).cos() as f32),
            sin: Array2::from_shape_fn((n, half), |(p, i)| angle(p, i).sin() as f32),
        }
    }

    /// Rotates each row of a head (n × dh) in the "rotate half" layout:
    /// x'ᵢ = xᵢ·cos − x_{i+dh/2}·sin, x'_{i+dh/2} = x_{i+dh/2}·cos + xᵢ·sin.
    pub fn apply(&self, x: &Array2<f32>) -> Array2<f32> {
        let half = self.cos.ncols();
        let mut out = x.clone();
        for (p, (src, mut dst)) in x.rows().into_iter().zip(out.rows_mut()).enumerate() {
            for i in 0..half {
                let (c, s) = (self.cos[[p, i]], self.sin[[p, i]]);
                let (a, b) = (src[i], src[i + half]);
                dst[i] = a * c - b * s;
                dst[i + half] = b * c + a * s;
            }
        }
        out
    }
}

/// How one layer's heads attend (see `network::AttentionSpec` for where each comes from).
#[derive(Clone, Debug)]
pub struct AttnParams<'a> {
    /// Query heads h.
    pub heads: usize,
    /// KV heads g (h is a multiple of g).
    pub kv_heads: usize,
    /// Head width dh.
    pub head_dim: usize,
    /// Multiplier of q·k.
    pub scale: f32,
    /// Logit soft-cap c: s → c·tanh(s / c).
    pub softcap: Option<f32>,
    /// Key j > query i is masked.
    pub causal: bool,
    /// Sliding window W: query i sees keys i − W < j (HuggingFace's convention).
    pub window: Option<usize>,
    /// Per-head RMSNorm of q (Qwen 3, Gemma 3), before RoPE.
    pub q_norm: Option<&'a RmsNorm>,
    /// Per-head RMSNorm of k, before RoPE.
    pub k_norm: Option<&'a RmsNorm>,
    /// Rotary positions.
    pub rope: Option<&'a RopeTable>,
}

/// One KV head: K after norm and RoPE, K before RoPE (if any), V.
type KvHead = (Array2<f32>, Option<Array2<f32>>, Array2<f32>);

/// One head's slice of a projection (n × dh), normalised and rotated as the layer says:
/// returns (before RoPE, after RoPE) — the same matrix twice when there is no RoPE.
fn head_slice(
    x: &Array2<f32>,
    head: usize,
    dh: usize,
    norm: Option<&RmsNorm>,
    rope: Option<&RopeTable>,
) -> (Array2<f32>, Option<Array2<f32>>) {
    let mut m = x.slice(s![.., head * dh..(head + 1) * dh]).to_owned();
    if let Some(n) = norm {
        n.apply(&mut m);
    }
    match rope {
        Some(r) => {
            let rotated = r.apply(&m);
            (rotated, Some(m))
        }
        None => (m, None),
    }
}

/// Query rows per block of the causal products: block [i0, i1) can only see keys [0, i1).
const CAUSAL_ROWS: usize = 64;

/// The row blocks of a causal product over n queries and n_k keys: (first row, rows, keys the
/// block can see).
fn causal_blocks(n: usize, n_k: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    (0..n).step_by(CAUSAL_ROWS).map(move |i0| {
        let i1 = (i0 + CAUSAL_ROWS).min(n);
        (i0, i1 - i0, i1.min(n_k))
    })
}

/// scale·q·kᵀ for a causal head, computed block by block only where a row can see keys (the
/// columns after a block's last row stay 0, to be masked): about half the work at long inputs.
fn causal_scores(backend: Backend, q: &Array2<f32>, k: &Array2<f32>, scale: f32) -> Array2<f32> {
    let (n, dh) = q.dim();
    let n_k = k.nrows();
    let kt = k.t().as_standard_layout().into_owned();
    let kt = kt.as_slice().expect("standard layout");
    let q = q.as_standard_layout();
    let qs = q.as_slice().expect("standard layout");
    let mut out = Array2::zeros((n, n_k));
    let o = out.as_slice_mut().expect("fresh array");
    for (i0, rows, cols) in causal_blocks(n, n_k) {
        if cols > 0 && dh > 0 {
            let (a, c) = (&qs[i0 * dh..], &mut o[i0 * n_k..]);
            kernels::gemm(backend, rows, cols, dh, scale, a, dh, kt, n_k, c, n_k);
        }
    }
    out
}

/// probs·v for a causal head: block [i0, i1) of probabilities is zero after key i1 − 1, so
/// only keys [0, i1) are multiplied.
fn causal_context(backend: Backend, probs: &Array2<f32>, v: &Array2<f32>) -> Array2<f32> {
    let (n, n_k) = probs.dim();
    let dh = v.ncols();
    let ps = probs
        .as_slice()
        .expect("owned probabilities are contiguous");
    let v = v.as_standard_layout();
    let vs = v.as_slice().expect("standard layout");
    let mut out = Array2::zeros((n, dh));
    let o = out.as_slice_mut().expect("fresh array");
    for (i0, rows, cols) in causal_blocks(n, n_k) {
        if cols > 0 && dh > 0 {
            let (a, c) = (&ps[i0 * n_k..], &mut o[i0 * dh..]);
            kernels::gemm(backend, rows, dh, cols, 1.0, a, n_k, vs, dh, c, dh);
        }
    }
    out
}

/// Multi-head attention over already projected Q (n × h·dh), K and V (n × g·dh), heads in
/// parallel; query head h reads KV head h / (h_total / g) (HuggingFace's `repeat_kv`).
/// Returns the concatenated context (n × h·dh) and each query head's capture.
pub fn attention(
    backend: Backend,
    q: &Array2<f32>,
    k: &Array2<f32>,
    v: &Array2<f32>,
    p: &AttnParams<'_>,
) -> (Array2<f32>, Vec<HeadCapture>) {
    let dh = p.head_dim;
    let group = (p.heads / p.kv_heads.max(1)).max(1);
    // pass 1: each KV head's K (normed, rotated) and V, once.
    let kvs: Vec<KvHead> = (0..p.kv_heads)
        .into_par_iter()
        .map(|g| {
            let (kh, k_pre) = head_slice(k, g, dh, p.k_norm, p.rope);
            let vh = v.slice(s![.., g * dh..(g + 1) * dh]).to_owned();
            (kh, k_pre, vh)
        })
        .collect();
    // pass 2: per query head, scores, mask, softmax and context against its KV head.
    let captures: Vec<HeadCapture> = (0..p.heads)
        .into_par_iter()
        .map(|h| {
            let g = h / group;
            let (kh, k_pre, vh) = &kvs[g];
            let (qh, q_pre) = head_slice(q, h, dh, p.q_norm, p.rope);
            let mut scores = if p.causal {
                causal_scores(backend, &qh, kh, p.scale)
            } else {
                matmul_bt(backend, qh.view(), kh.view(), p.scale)
            };
            if let Some(c) = p.softcap {
                scores.mapv_inplace(|s| c * (s / c).tanh());
            }
            if p.causal || p.window.is_some() {
                // Row i sees keys j with (not causal or j ≤ i) and (no window or i − w < j).
                for (i, mut row) in scores.rows_mut().into_iter().enumerate() {
                    let row = row.as_slice_mut().expect("owned rows are contiguous");
                    let n_k = row.len();
                    let end = if p.causal { (i + 1).min(n_k) } else { n_k };
                    let start = p.window.map_or(0, |w| (i + 1).saturating_sub(w)).min(end);
                    row[..start].fill(f32::NEG_INFINITY);
                    row[end..].fill(f32::NEG_INFINITY);
                }
            }
            let mut probs = scores.clone();
            for mut row in probs.rows_mut() {
                kernels::softmax_row(backend, row.as_slice_mut().expect("owned"));
            }
            let context = if p.causal {
                causal_context(backend, &probs, vh)
            } else {
                matmul(backend, probs.view(), vh.view())
            };
            HeadCapture {
                q: qh,
                k: kh.clone(),
                v: vh.clone(),
                scores,
                probs,
                context,
                q_pre_rope: q_pre,
                k_pre_rope: k_pre.clone(),
                kv_head: g,
            }
        })
        .collect();
    let views: Vec<_> = captures.iter().map(|c| c.context.view()).collect();
    let concat = ndarray::concatenate(Axis(1), &views).expect("heads share n");
    (concat, captures)
}
