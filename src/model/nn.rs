//! The layers both architectures share, on the core's kernels: linear maps, LayerNorm, GELU
//! and multi-head attention that keeps Q, K, V, the pre-softmax scores and the probabilities.
//!
//! Legend: `n` = tokens, `d` = model width, `h` = heads, `dh` = head width d / h.

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

/// Rows per parallel task of a linear map.
const LINEAR_ROWS: usize = 32;

impl Linear {
    /// x (n × in) → n × out, rows split over the rayon pool.
    pub fn forward(&self, backend: Backend, x: &Array2<f32>) -> Array2<f32> {
        let (n, k) = x.dim();
        let m = self.w.ncols();
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let w = self.w.as_slice().expect("weights are contiguous");
        let mut out = Array2::zeros((n, m));
        out.as_slice_mut()
            .expect("fresh array")
            .par_chunks_mut(LINEAR_ROWS * m)
            .enumerate()
            .for_each(|(blk, chunk)| {
                let rows = chunk.len() / m;
                let i0 = blk * LINEAR_ROWS;
                kernels::gemm(backend, rows, m, k, 1.0, &xs[i0 * k..], k, w, m, chunk, m);
            });
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

/// The activation functions HuggingFace configs name, applied in parallel chunks.
pub fn activation(backend: Backend, name: &str, x: &mut Array2<f32>) {
    let scalar = |v: f32| match name {
        "gelu" => gelu_erf(v),
        "relu" => v.max(0.0),
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
        _ => map_slice(c, gelu_tanh),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

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

/// What one attention layer keeps, per head.
#[derive(Clone, Debug)]
pub struct HeadCapture {
    /// n × dh.
    pub q: Array2<f32>,
    /// n × dh.
    pub k: Array2<f32>,
    /// n × dh.
    pub v: Array2<f32>,
    /// Pre-softmax scores q·k/√dh, −∞ where masked (n × n).
    pub scores: Array2<f32>,
    /// Probabilities (n × n).
    pub probs: Array2<f32>,
    /// Σⱼ pᵢⱼ vⱼ (n × dh).
    pub context: Array2<f32>,
}

/// Multi-head scaled-dot-product attention over already projected Q, K, V (n × d each),
/// heads in parallel; returns the concatenated context (n × d) and each head's capture.
pub fn attention(
    backend: Backend,
    q: &Array2<f32>,
    k: &Array2<f32>,
    v: &Array2<f32>,
    heads: usize,
    scale: f32,
    causal: bool,
) -> (Array2<f32>, Vec<HeadCapture>) {
    let d = q.ncols();
    let dh = d / heads;
    let captures: Vec<HeadCapture> = (0..heads)
        .into_par_iter()
        .map(|h| {
            let cols = s![.., h * dh..(h + 1) * dh];
            let (qh, kh, vh) = (
                q.slice(cols).to_owned(),
                k.slice(cols).to_owned(),
                v.slice(cols).to_owned(),
            );
            let mut scores = matmul_bt(backend, qh.view(), kh.view(), scale);
            if causal {
                for ((i, j), s) in scores.indexed_iter_mut() {
                    if j > i {
                        *s = f32::NEG_INFINITY;
                    }
                }
            }
            let mut probs = scores.clone();
            for mut row in probs.rows_mut() {
                kernels::softmax_row(backend, row.as_slice_mut().expect("owned"));
            }
            let context = matmul(backend, probs.view(), vh.view());
            HeadCapture {
                q: qh,
                k: kh,
                v: vh,
                scores,
                probs,
                context,
            }
        })
        .collect();
    let views: Vec<_> = captures.iter().map(|c| c.context.view()).collect();
    let concat = ndarray::concatenate(Axis(1), &views).expect("heads share n");
    (concat, captures)
}
