//! The layers every family shares, on the core's kernels: linear maps, LayerNorm, RMSNorm,
//! GELU / SiLU, rotary positions and multi-head (grouped-query) attention that keeps Q, K, V
//! (before and after RoPE) and the probabilities.
//!
//! Legend: `n` = tokens, `d` = model width, `h` = query heads, `g` = KV heads,
//! `dh` = head width (d / h unless the config gives `head_dim`).

use std::sync::Arc;

use ndarray::{Array1, Array2, s};
use rayon::prelude::*;

use crate::core::kernels::{self, Backend};
use crate::core::pool::{OVERVIEW_SIDE, PoolBuilder, PoolMethod, Pooled};
use crate::core::trace::{HeadSummary, row_max_dist, row_max_dist2, row_sums};

/// y = x·W + b, with W (`in × out`, already transposed from PyTorch's `out × in`) laid out
/// for the kernel that multiplies it.
#[derive(Clone, Debug)]
pub struct Linear {
    /// W, in × out.
    pub w: LinearWeights,
    /// out.
    pub b: Array1<f32>,
    /// The same weights quantised and packed (out × in), when the file had them so: one-row
    /// products (a decoding step) read these instead of the f32 copy.
    pub packed: Option<std::sync::Arc<crate::model::packed::PackedRows>>,
}

/// How a linear map's W (in × out) is stored: one layout per machine, chosen at load.
#[derive(Clone, Debug)]
pub enum LinearWeights {
    /// Row-major, for the scalar and portable kernels.
    Dense(Array2<f32>),
    /// Panels as wide as the tile of attnscope's AVX-512 or AVX2 kernel ([`kernels::PackedB`]).
    Panels(kernels::PackedB),
}

impl LinearWeights {
    /// The backend whose tile reads weights in panels, if the machine's fastest kernel is
    /// attnscope's AVX-512 or AVX2 tile.
    fn panel_backend() -> Option<Backend> {
        let best = Backend::best();
        matches!(best, Backend::Avx512 | Backend::Avx2).then_some(best)
    }

    /// W (in × out) in the layout the machine's fastest kernel reads best: panels where that
    /// kernel is attnscope's AVX-512 or AVX2 tile, row-major elsewhere.
    pub fn for_machine(w: Array2<f32>) -> LinearWeights {
        let Some(backend) = Self::panel_backend() else {
            return LinearWeights::Dense(w);
        };
        let w = w.as_standard_layout();
        let (k, n) = w.dim();
        let values = w.as_slice().expect("standard layout");
        LinearWeights::Panels(kernels::PackedB::new(backend, k, n, values, n))
    }

    /// W = Aᵀ for A (out × in) as a checkpoint stores a linear layer, in the same layout as
    /// [`LinearWeights::for_machine`] gives W, with the same values. Panels come straight from
    /// A's rows through the register transpose (`PackedB::transposed`): ndarray's element-wise
    /// copy of the transposed view was 8% of opening Gemma 3 270M (Zen 3, `perf`).
    pub fn from_out_in(a: Array2<f32>) -> LinearWeights {
        let Some(backend) = Self::panel_backend() else {
            return LinearWeights::Dense(a.t().as_standard_layout().into_owned());
        };
        let a = a.as_standard_layout();
        let (n_out, n_in) = a.dim();
        let values = a.as_slice().expect("standard layout");
        LinearWeights::Panels(kernels::PackedB::transposed(backend, values, n_out, n_in))
    }

    /// (in, out).
    pub fn dim(&self) -> (usize, usize) {
        match self {
            LinearWeights::Dense(w) => w.dim(),
            LinearWeights::Panels(p) => (p.k(), p.n()),
        }
    }
}

/// Weights below which a one-row product runs on one thread (a task costs more than it saves).
const GEMV_PARALLEL: usize = 1 << 18;

impl Linear {
    /// x (n × in) → n × out. With a SIMD backend the product runs on attnscope's own tiles on
    /// panels (`examples/linear_shapes.rs`, BENCHMARKS.md: on AVX-512 faster than the `gemm`
    /// crate at the models' shapes; on AVX2, on 16-wide panels, level with the crate's bare
    /// products, and faster in a forward, where they write their rows with bias and residual
    /// added and need no scratch); one row streams W instead.
    /// The scalar and portable backends run attnscope's own kernels on row-major weights,
    /// rows split over the rayon pool. Either layout gives the same bits.
    pub fn forward(&self, backend: Backend, x: &Array2<f32>) -> Array2<f32> {
        self.forward_on(backend, rayon::current_num_threads(), x)
    }

    /// [`Linear::forward`] with its many-row product on `threads` rayon threads (1: the
    /// calling thread, for a caller that runs row blocks in parallel itself).
    pub fn forward_on(&self, backend: Backend, threads: usize, x: &Array2<f32>) -> Array2<f32> {
        self.forward_then(backend, threads, x, None)
    }

    /// [`Linear::forward_on`] for a caller whose next product is `then`: a product on
    /// panels asks the cache for `then`'s first panel while it ends (the rest of `then`
    /// follows panel by panel, see `kernels::gemm_panels`). Same results.
    pub fn forward_then(
        &self,
        backend: Backend,
        threads: usize,
        x: &Array2<f32>,
        then: Option<&Linear>,
    ) -> Array2<f32> {
        if let (Some(p), 1) = (&self.packed, x.nrows()) {
            let row = x.row(0).to_vec();
            let mut out = Array2::zeros((1, p.rows()));
            p.gemv(backend, &row, out.as_slice_mut().expect("fresh array"));
            self.add_bias(&mut out);
            return out;
        }
        let (n, k) = x.dim();
        let (w_in, m) = self.w.dim();
        assert_eq!(w_in, k, "linear map: input width");
        if self.writes_directly(backend, n) {
            let mut out = kernels::uninit_array2((n, m));
            self.forward_into(
                backend,
                threads,
                x,
                then,
                out.as_slice_mut().expect("fresh"),
                None,
            );
            // SAFETY: `forward_into` wrote all n × m elements.
            return unsafe { out.assume_init() };
        }
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        // One row (a decoding step) on a SIMD backend streams W (below).
        let one_row = n == 1 && matches!(backend, Backend::Avx2 | Backend::Avx512) && m > 0;
        let mut out = Array2::zeros((n, m));
        let dst = out.as_slice_mut().expect("fresh array");
        if one_row {
            // One row (a decoding step): y = Σᵢ xᵢ·W[i, :], streaming each row of W once in
            // column blocks over the pool (a packed GEMM would first copy all of W). Each
            // column is summed by one task in the order i = 0, 1, …, whatever the threads.
            let parallel = threads > 1 && k * m >= GEMV_PARALLEL;
            match &self.w {
                LinearWeights::Dense(w) => {
                    let w = w.as_slice().expect("weights are contiguous");
                    let block = |c0: usize, chunk: &mut [f32]| {
                        crate::model::packed::axpy_rows_f32(backend, &xs[..k], &w[c0..], m, chunk);
                    };
                    if parallel {
                        let cols = m.div_ceil(threads * 4).next_multiple_of(16).max(64);
                        dst.par_chunks_mut(cols)
                            .enumerate()
                            .for_each(|(c, chunk)| block(c * cols, chunk));
                    } else {
                        block(0, dst);
                    }
                }
                LinearWeights::Panels(p) => {
                    // A panel's rows are `width` apart: row i of panel j is
                    // W[i, width·j..width·j + w].
                    let width = p.width();
                    let panel = |(_, _, vals): (usize, usize, &[f32]), chunk: &mut [f32]| {
                        crate::model::packed::axpy_rows_f32(backend, &xs[..k], vals, width, chunk);
                    };
                    if parallel {
                        let panels: Vec<_> = p.panels().collect();
                        dst.par_chunks_mut(width)
                            .zip(panels)
                            .for_each(|(chunk, pan)| panel(pan, chunk));
                    } else {
                        for (chunk, pan) in dst.chunks_mut(width).zip(p.panels()) {
                            panel(pan, chunk);
                        }
                    }
                }
            }
        } else {
            match &self.w {
                LinearWeights::Panels(_) => unreachable!("products on panels write directly"),
                LinearWeights::Dense(w) => {
                    // Rows split over the pool, on every backend (what `gemm_fast` runs on the
                    // SIMD ones).
                    let w = w.as_slice().expect("weights are contiguous");
                    kernels::gemm_rows(backend, threads, n, m, k, 1.0, xs, k, w, m, dst, m);
                }
            }
        }
        self.add_bias(&mut out);
        out
    }

    /// Whether a product of `n` rows runs on panels straight into its destination (one row on
    /// a SIMD backend streams W instead; a quantised one-row product reads its packed rows).
    fn writes_directly(&self, backend: Backend, n: usize) -> bool {
        let simd = matches!(backend, Backend::Avx2 | Backend::Avx512) && self.w.dim().1 > 0;
        let streams = n == 1 && (self.packed.is_some() || simd);
        matches!(self.w, LinearWeights::Panels(_)) && !streams
    }

    /// [`Linear::forward_then`] into `out` (n × out, contiguous, maybe uninitialised), every
    /// element of which it writes: a caller assembling a bigger matrix from row blocks has
    /// each block's product land in its rows, with no copy. With `residual` (n × out,
    /// contiguous) that is added to the result too, after the bias: a block's residual sum.
    /// Products on panels write there directly, bias and residual added in the tile; the
    /// others are computed, summed and copied. The same bits either way.
    ///
    /// # Panics
    /// If `out` or `residual` is not n × out long or x is not n × in.
    pub fn forward_into(
        &self,
        backend: Backend,
        threads: usize,
        x: &Array2<f32>,
        then: Option<&Linear>,
        out: &mut [std::mem::MaybeUninit<f32>],
        residual: Option<&[f32]>,
    ) {
        let (n, k) = x.dim();
        let (w_in, m) = self.w.dim();
        assert_eq!(w_in, k, "linear map: input width");
        assert_eq!(out.len(), n * m, "linear map: output size");
        if let Some(r) = residual {
            assert_eq!(r.len(), n * m, "linear map: residual size");
        }
        match &self.w {
            LinearWeights::Panels(p) if self.writes_directly(backend, n) => {
                let then = match then.map(|t| &t.w) {
                    Some(LinearWeights::Panels(t)) => t.first_panel(),
                    _ => &[],
                };
                let b = self.b.as_standard_layout();
                let b = b.as_slice().expect("standard layout");
                let bias = if b.iter().any(|&x| x != 0.0) { b } else { &[] };
                let x = x.as_standard_layout();
                let xs = x.as_slice().expect("standard layout");
                let add = kernels::Addend {
                    bias,
                    matrix: residual.map(|r| (r, m)),
                };
                kernels::gemm_panels_uninit(backend, threads, n, 1.0, xs, k, p, out, m, then, add);
            }
            _ => {
                let mut y = self.forward_then(backend, threads, x, then);
                if let Some(r) = residual {
                    let r = ndarray::ArrayView2::from_shape((n, m), r).expect("n × out");
                    y += &r;
                }
                write_into(out, &y);
            }
        }
    }

    /// out += b on every row; Llama-style maps have no bias (zeros here), so that pass is
    /// skipped.
    fn add_bias(&self, out: &mut Array2<f32>) {
        if self.b.iter().any(|&b| b != 0.0) {
            *out += &self.b;
        }
    }
}

/// Writes `a` (in standard order) into `out`, which must hold exactly its elements.
///
/// # Panics
/// If the lengths differ.
pub fn write_into(out: &mut [std::mem::MaybeUninit<f32>], a: &Array2<f32>) {
    assert_eq!(out.len(), a.len(), "a destination of the array's size");
    let a = a.as_standard_layout();
    kernels::write_span(out, a.as_slice().expect("standard layout"));
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

/// Applies `f` to every row of `x` as a slice, rows in parallel blocks when `x` is big
/// enough for the threads to pay (each row's arithmetic is the same either way). A view
/// that is not in standard layout (never the case for a product's output) is made so first.
fn for_rows(x: &mut Array2<f32>, f: impl Fn(&mut [f32]) + Sync) {
    if !x.is_standard_layout() {
        *x = x.as_standard_layout().into_owned();
    }
    let cols = x.ncols();
    for_row_slices(x.as_slice_mut().expect("standard layout"), cols, f);
}

/// [`for_rows`] on rows of `cols` values in a slice.
fn for_row_slices(data: &mut [f32], cols: usize, f: impl Fn(&mut [f32]) + Sync) {
    const PARALLEL_CELLS: usize = 1 << 15;
    if cols == 0 {
        return;
    }
    if data.len() >= PARALLEL_CELLS {
        let rows = (PARALLEL_CELLS / cols).max(1);
        data.par_chunks_mut(rows * cols)
            .for_each(|block| block.chunks_mut(cols).for_each(&f));
    } else {
        data.chunks_mut(cols).for_each(f);
    }
}

/// Folds a row in 16 interleaved lanes (lane k takes the elements k, k + 16, …), then the
/// lanes and the tail: `step(acc, x)` takes in an element, `merge` joins two lane results.
/// The compiler turns the lane loop into vector code, where one running fold is a chain of
/// dependent operations; the order is the same on every backend and thread count.
fn lane_fold(
    xs: &[f32],
    init: f32,
    step: impl Fn(f32, f32) -> f32,
    merge: impl Fn(f32, f32) -> f32,
) -> f32 {
    const LANES: usize = 16;
    let mut acc = [init; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(init, |a, &x| step(a, x));
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = step(*a, x);
        }
    }
    merge(acc.iter().fold(init, |a, &b| merge(a, b)), tail)
}

/// Σ f(xᵢ) by [`lane_fold`]: vector adds instead of one chain of dependent additions (the
/// norms' sums were 2% of a 128-token SmolLM2-shaped forward), and closer to the exact sum.
fn lane_sum(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    lane_fold(xs, 0.0, |a, x| a + f(x), |a, b| a + b)
}

impl LayerNorm {
    /// Normalises each row of `x` in place.
    pub fn apply(&self, x: &mut Array2<f32>) {
        for_rows(x, self.row());
    }

    /// Normalises one row in place.
    fn row(&self) -> impl Fn(&mut [f32]) + Sync + '_ {
        let (gs, bs) = (
            self.weight.as_slice().expect("an owned vector"),
            self.bias.as_slice().expect("an owned vector"),
        );
        move |row: &mut [f32]| {
            let n = row.len() as f32;
            let mean = lane_sum(row, |v| v) / n;
            let var = lane_sum(row, |v| (v - mean) * (v - mean)) / n;
            let inv = 1.0 / (var + self.eps).sqrt();
            // On slices this vectorises (2.5% of a MiniLM forward as three zipped ndarray
            // iterators).
            for ((v, &g), &b) in row.iter_mut().zip(gs).zip(bs) {
                *v = (*v - mean) * inv * g + b;
            }
        }
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
        for_rows(x, self.row());
    }

    /// Normalises one row in place.
    fn row(&self) -> impl Fn(&mut [f32]) + Sync + '_ {
        let gs = self.weight.as_slice().expect("an owned vector");
        move |row: &mut [f32]| {
            let n = row.len() as f32;
            let ms = lane_sum(row, |v| v * v) / n;
            let inv = 1.0 / (ms + self.eps).sqrt();
            for (v, &g) in row.iter_mut().zip(gs) {
                *v = *v * inv * g;
            }
        }
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
    /// Normalises each row of `x` in place.
    pub fn apply(&self, x: &mut Array2<f32>) {
        match self {
            NormLayer::Layer(n) => n.apply(x),
            NormLayer::Rms(n) => n.apply(x),
        }
    }

    /// Normalises each row of `cols` values of `data` in place (the same numbers as
    /// [`NormLayer::apply`] on a matrix of those rows).
    pub fn apply_rows(&self, data: &mut [f32], cols: usize) {
        match self {
            NormLayer::Layer(n) => for_row_slices(data, cols, n.row()),
            NormLayer::Rms(n) => for_row_slices(data, cols, n.row()),
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

/// The same loop compiled for AVX2 with FMA: without FMA in the target, `mul_add` is a call
/// to libm's `fmaf` per step, which made GELU a third of a MiniLM forward on AVX2 machines.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_erf_avx2(x: &mut [f32]) {
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
    #[cfg(target_arch = "x86_64")]
    if backend == Backend::Avx2 && backend.is_supported() {
        // SAFETY: Backend::Avx2 is supported only where AVX2 and FMA are.
        unsafe { gelu_erf_avx2(x) };
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
        "silu" | "swish" => kernels::silu(backend, c),
        _ => map_slice(c, gelu_tanh),
    });
}

/// A gated MLP's hidden layer in place: g ← act(g)·u. SiLU (SwiGLU) does it in one pass over
/// both; the others apply the activation and then multiply. The same bits either way.
///
/// # Panics
/// If g and u differ in shape.
pub fn gated(backend: Backend, name: &str, g: &mut Array2<f32>, u: &Array2<f32>) {
    assert_eq!(g.dim(), u.dim(), "gate and up projections");
    if matches!(name, "silu" | "swish")
        && let (Some(gs), Some(us)) = (g.as_slice_mut(), u.as_slice())
    {
        gs.par_chunks_mut(4096)
            .zip(us.par_chunks(4096))
            .for_each(|(g, u)| kernels::silu_times(backend, g, u));
        return;
    }
    activation(backend, name, g);
    *g *= u;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkpoint's (out × in) matrix laid out straight into W's panels holds exactly what
    /// laying out its transposed copy does, padding included: the layers read the same
    /// numbers whichever way they were loaded.
    #[test]
    fn weights_from_out_in_equal_the_transposed_copy() {
        for (n_out, n_in) in [(16usize, 16usize), (37, 20), (64, 48), (5, 70), (130, 33)] {
            let a = Array2::from_shape_fn((n_out, n_in), |(i, j)| (i * 131 + j * 7) as f32 * 0.01);
            let direct = LinearWeights::from_out_in(a.clone());
            let copied = LinearWeights::for_machine(a.t().as_standard_layout().into_owned());
            assert_eq!(direct.dim(), (n_in, n_out));
            match (&direct, &copied) {
                (LinearWeights::Panels(x), LinearWeights::Panels(y)) => {
                    assert!(x.panels().eq(y.panels()), "{n_out}×{n_in}: panels differ");
                }
                (LinearWeights::Dense(x), LinearWeights::Dense(y)) => assert_eq!(x, y),
                _ => panic!("{n_out}×{n_in}: two layouts on one machine"),
            }
        }
    }

    /// A linear map gives the same bits whichever layout holds W (row-major or panels), for
    /// one row (a decoding step, small and large enough to run in parallel) and many rows,
    /// on every backend, with a bias and with a partial last panel.
    #[test]
    fn linear_layouts_give_the_same_bits() {
        for (k, m) in [(24usize, 70usize), (600, 600)] {
            let w = Array2::from_shape_fn((k, m), |(i, j)| {
                ((i * 31 + j * 17) % 23) as f32 * 0.01 - 0.1
            });
            let b = Array1::from_shape_fn(m, |j| j as f32 * 0.001);
            let dense = Linear {
                w: LinearWeights::Dense(w.clone()),
                b: b.clone(),
                packed: None,
            };
            // Both panel widths (AVX-512's and AVX2's), each read by every backend.
            for layout in [Backend::Avx512, Backend::Avx2] {
                let w = w.as_slice().unwrap();
                let panels = Linear {
                    w: LinearWeights::Panels(kernels::PackedB::new(layout, k, m, w, m)),
                    b: b.clone(),
                    packed: None,
                };
                assert_eq!(panels.w.dim(), (k, m));
                for backend in Backend::supported() {
                    for n in [1usize, 3, 70] {
                        let x = Array2::from_shape_fn((n, k), |(i, j)| {
                            ((i * 7 + j * 3) % 11) as f32 - 5.0
                        });
                        let (a, c) = (dense.forward(backend, &x), panels.forward(backend, &x));
                        assert_eq!(a.dim(), (n, m));
                        assert!(
                            a.iter().zip(&c).all(|(p, q)| p.to_bits() == q.to_bits()),
                            "{backend} k={k} m={m} n={n}: the layouts differ"
                        );
                    }
                }
            }
        }
    }

    /// A head computed block by block equals the textbook computation (full scores, mask,
    /// softmax, probs·v on the scalar kernels) at sizes around the block edge, causal or not,
    /// windowed, soft-capped, on every backend, whatever its worker's reused scratch held;
    /// without its full matrices it gives the same context bit for bit, and its digest
    /// equals the statistics of the full matrix.
    #[test]
    fn block_attention_equals_the_full_computation() {
        use crate::core::attend::{matmul, matmul_bt};
        use crate::core::pool::pool;
        use crate::core::trace::RowStats;
        for backend in Backend::supported() {
            // 300: a kept matrix past STREAM_KEYS, written by streaming stores.
            for n in [1usize, 7, 63, 64, 65, 130, 300] {
                for (causal, window, softcap) in [
                    (true, None, None),
                    (false, None, None),
                    (true, Some(5), Some(3.0)),
                ] {
                    // dh = 40 at even n: V in panels on AVX2 (16, 16 and a partial 8), read
                    // from a window's first key on.
                    let dh = if n % 2 == 0 { 40 } else { 5 };
                    let q = Array2::from_shape_fn((n, dh), |(i, j)| {
                        ((i * 7 + j * 3) % 11) as f32 * 0.3 - 1.5
                    });
                    let k =
                        Array2::from_shape_fn((n, dh), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.1);
                    let v = Array2::from_shape_fn((n, dh), |(i, j)| ((i + 2 * j) % 7) as f32 - 3.0);
                    let special = [n / 2];
                    let p = AttnParams {
                        heads: 1,
                        kv_heads: 1,
                        head_dim: dh,
                        scale: 0.5,
                        softcap,
                        causal,
                        window,
                        q_norm: None,
                        k_norm: None,
                        rope: None,
                        special_keys: &special,
                        digests: true,
                        // One blocked edge: the last query may not read key n / 3.
                        blocked: &[(0, n - 1, n / 3)],
                    };
                    // The textbook: every score, then the mask, then softmax.
                    let mut want = matmul_bt(Backend::Scalar, q.view(), k.view(), 0.5);
                    for ((i, j), s) in want.indexed_iter_mut() {
                        if let Some(c) = softcap {
                            *s = c * (*s / c).tanh();
                        }
                        let hidden = (causal && j > i)
                            || window.is_some_and(|w| j + w <= i)
                            || (i == n - 1 && j == n / 3);
                        if hidden {
                            *s = f32::NEG_INFINITY;
                        }
                    }
                    let mut want_p = want.clone();
                    for mut row in want_p.rows_mut() {
                        if row.iter().all(|&x| x == f32::NEG_INFINITY) {
                            row.fill(0.0); // n = 1: the one key is blocked
                        } else {
                            kernels::softmax_row(Backend::Scalar, row.as_slice_mut().unwrap());
                        }
                    }
                    let want_ctx = matmul(Backend::Scalar, want_p.view(), v.view());
                    let kt = keys_transposed(&k);
                    // The worker's scratch holds NaNs from "an earlier head": no pass may read
                    // them.
                    let poison = || {
                        let nan = std::mem::MaybeUninit::new(f32::NAN);
                        BLOCK_SCRATCH.set(vec![nan; BLOCK_ROWS * n + kernels::LINE - 1]);
                    };
                    poison();
                    let vp = values_in_panels(backend, &v);
                    let full = attend_blocks(backend, &q, &kt, (&v, vp.as_ref()), &p, 0, true);
                    poison();
                    let lean = attend_blocks(backend, &q, &kt, (&v, vp.as_ref()), &p, 0, false);
                    let label = format!("{backend:?} n={n} causal={causal} window={window:?}");
                    let pr = full.probs.as_ref().unwrap();
                    assert!(lean.probs.is_none());
                    for (c, d) in pr.iter().zip(&want_p) {
                        assert!((c - d).abs() < 1e-6, "{label}: prob {c} vs {d}");
                    }
                    for (a, b) in full.context.iter().zip(&want_ctx) {
                        assert!((a - b).abs() < 1e-4, "{label}: context {a} vs {b}");
                    }
                    assert_eq!(full.context, lean.context, "{label}: lean context");
                    let stats = RowStats::of(pr).summary(&vec![false; n]);
                    for d in [&full.digest, &lean.digest] {
                        let d = d.as_ref().expect("digests asked for");
                        // Entropy from the scores (one ln per row) agrees with −Σ p ln p
                        // to rounding; the other statistics are the same sums.
                        let (got, want) = (d.summary, stats);
                        assert!(
                            (got.entropy - want.entropy).abs() <= 1e-5 * (1.0 + want.entropy),
                            "{label}: digest entropy {} vs {}",
                            got.entropy,
                            want.entropy
                        );
                        assert_eq!(
                            (got.max_weight, got.mean_distance, got.first_key_share),
                            (want.max_weight, want.mean_distance, want.first_key_share),
                            "{label}: digest summary"
                        );
                        assert!(d.nonfinite_rows.is_empty());
                    }
                    // The lean head pools as it goes; the kept one leaves it to its matrix.
                    let lean_overview = lean.digest.as_ref().and_then(|d| d.overview.clone());
                    let want = pool(pr.view(), OVERVIEW_SIDE, PoolMethod::Max);
                    assert_eq!(lean_overview, Some(want), "{label}: lean overview");
                    assert_eq!(
                        full.digest.as_ref().map(|d| d.overview.is_none()),
                        Some(true)
                    );
                }
            }
        }
    }

    /// A head's slice rotated in one pass over the projection equals the slice copied out
    /// and then rotated, bit for bit, and keeps the unrotated slice: full and partial rotary
    /// widths, the last head of a projection.
    #[test]
    fn head_slice_in_one_pass_equals_slice_then_rotation() {
        for (dh, half) in [(8usize, 4usize), (10, 3), (64, 32)] {
            let (n, heads) = (37usize, 3usize);
            let x = Array2::from_shape_fn((n, heads * dh), |(i, j)| {
                ((i * 13 + j * 7) % 17) as f32 * 0.21 - 1.7
            });
            let inv_freq: Vec<f32> = (0..half).map(|i| 0.9f32.powi(i as i32 + 1)).collect();
            let rope = RopeTable::new(&inv_freq, n);
            for h in 0..heads {
                let plain = columns(&x, h * dh, dh);
                let (rotated, pre) = head_slice(&x, h, dh, None, Some(&rope));
                assert_eq!(pre.as_ref(), Some(&plain), "dh={dh} head {h}");
                let want = rope.apply(&plain);
                assert!(
                    rotated
                        .iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "dh={dh} head {h}"
                );
                // What apply computes, bit for bit on whichever vectors this machine's copy
                // of the loop uses: the rotate-half formula, the rest as it is.
                for i in 0..n {
                    for k in 0..half {
                        let (c, s) = (rope.cos[[i, k]], rope.sin[[i, k]]);
                        let (x0, x1) = (plain[[i, k]], plain[[i, k + half]]);
                        let got = (rotated[[i, k]], rotated[[i, k + half]]);
                        let want = (x0 * c - x1 * s, x1 * c + x0 * s);
                        assert_eq!(got.0.to_bits(), want.0.to_bits(), "dh={dh} ({i}, {k})");
                        assert_eq!(got.1.to_bits(), want.1.to_bits(), "dh={dh} ({i}, {k})");
                    }
                    for k in 2 * half..dh {
                        assert_eq!(rotated[[i, k]], plain[[i, k]], "dh={dh}: past the pairs");
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
    /// Which query head this is.
    pub head: usize,
    /// The query, after RoPE if the model rotates (n × dh).
    pub q: Array2<f32>,
    /// The key this head reads: its KV head's, after RoPE if any (n × dh). Shared, not
    /// copied, by the query heads of one KV head.
    pub k: Arc<Array2<f32>>,
    /// The value this head reads: its KV head's (n × dh), shared as K is.
    pub v: Arc<Array2<f32>>,
    /// Probabilities (n × n).
    pub probs: Array2<f32>,
    /// Σⱼ pᵢⱼ vⱼ (n × dh).
    pub context: Array2<f32>,
    /// The query before RoPE (after the projection, its bias and any q-norm); `None` when the
    /// model has no rotary positions.
    pub q_pre_rope: Option<Array2<f32>>,
    /// The key before RoPE (after the projection, its bias and any k-norm), shared as K is;
    /// `None` without RoPE.
    pub k_pre_rope: Option<Arc<Array2<f32>>>,
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
        RopeTable::positions(inv_freq, 0, n)
    }

    /// The table of the single position `pos` (one row; [`RopeTable::apply`] on a one-row
    /// head then rotates it to that position), with the same angles as [`RopeTable::new`].
    pub fn at(inv_freq: &[f32], pos: usize) -> RopeTable {
        RopeTable::positions(inv_freq, pos, 1)
    }

    /// Rows for positions first..first + n.
    fn positions(inv_freq: &[f32], first: usize, n: usize) -> RopeTable {
        let half = inv_freq.len();
        let angle = |r: usize, i: usize| f64::from((first + r) as f32 * inv_freq[i]);
        RopeTable {
            cos: Array2::from_shape_fn((n, half), |(r, i)| angle(r, i).cos() as f32),
            sin: Array2::from_shape_fn((n, half), |(r, i)| angle(r, i).sin() as f32),
        }
    }

    /// Rotates each row of a head (n × dh) in the "rotate half" layout:
    /// x'ᵢ = xᵢ·cos − x_{i+dh/2}·sin, x'_{i+dh/2} = x_{i+dh/2}·cos + xᵢ·sin.
    /// Row p takes the table's row p (the table has at least as many rows as x).
    pub fn apply(&self, x: &Array2<f32>) -> Array2<f32> {
        self.rotated_columns(x, 0, x.ncols(), false)
            .map(|(rotated, _)| rotated)
            .unwrap_or_else(|| x.as_standard_layout().into_owned())
    }

    /// Columns c0..c0 + w of x (one head of a projection) in one pass over x: rotated
    /// ([`RopeTable::apply`]'s numbers) and, with `plain`, as they are. `None` when there is
    /// nothing to rotate (no rows, no width, a table without angles).
    ///
    /// # Panics
    /// If the columns are not in x, or the table is too narrow or short for them.
    fn rotated_columns(
        &self,
        x: &Array2<f32>,
        c0: usize,
        w: usize,
        plain: bool,
    ) -> Option<(Array2<f32>, Option<Array2<f32>>)> {
        let half = self.cos.ncols();
        let (n, cols) = x.dim();
        assert!(
            c0 + w <= cols && 2 * half <= w && n <= self.cos.nrows(),
            "RoPE table {}×{half} for columns {c0}..{} of {n}×{cols}",
            self.cos.nrows(),
            c0 + w
        );
        if w == 0 || n == 0 || half == 0 {
            return None;
        }
        let (cos, sin) = (
            self.cos.as_slice().expect("a fresh table"),
            self.sin.as_slice().expect("a fresh table"),
        );
        let src = x.as_standard_layout();
        let src = src.as_slice().expect("standard layout");
        let mut rotated = Array2::<f32>::uninit((n, w));
        let mut copy = plain.then(|| Array2::<f32>::uninit((n, w)));
        rotate_rows(
            (src, cols, c0),
            (cos, sin, half),
            rotated.as_slice_mut().expect("fresh"),
            copy.as_mut().map(|c| c.as_slice_mut().expect("fresh")),
        );
        // SAFETY: every row of both was written in full just above (n rows of w).
        Some(unsafe { (rotated.assume_init(), copy.map(|c| c.assume_init())) })
    }
}

/// Columns c0..c0 + w of the rows of `src` (rows of `cols`), w = the width of `rot`'s rows:
/// each rotated by its row of the table (`cos`, `sin`: rows of `half`) into `rot` and, with
/// `copy`, copied as they are (`cols` > 0). Compiled for AVX-512 and AVX2 too, picked at run
/// time: the crate's baseline is SSE2, whose 4-lane loop was 1.45% of a 128-token
/// SmolLM2-shaped forward on an Intel Xeon (0.9% on AVX-512). The same numbers on each: every
/// element is the same two products and one difference, which Rust never fuses.
#[multiversion::multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
fn rotate_rows(
    (src, cols, c0): (&[f32], usize, usize),
    (cos, sin, half): (&[f32], &[f32], usize),
    rot: &mut [std::mem::MaybeUninit<f32>],
    mut copy: Option<&mut [std::mem::MaybeUninit<f32>]>,
) {
    let w = rot.len() / (src.len() / cols).max(1);
    let rows = src
        .chunks_exact(cols)
        .zip(rot.chunks_exact_mut(w))
        .zip(cos.chunks_exact(half).zip(sin.chunks_exact(half)))
        .enumerate();
    for (r, ((row, rot), (c, s))) in rows {
        let row = &row[c0..c0 + w];
        if let Some(copy) = copy.as_mut() {
            kernels::write_span(&mut copy[r * w..], row);
        }
        rotate_half(row, c, s, rot);
    }
}

/// One row's rotation: dst = (lo·cos − hi·sin, hi·cos + lo·sin, the rest as it is) for
/// lo, hi the first two `cos.len()`-wide spans of `src`. Written index by index over
/// spans of one length, which the compiler vectorises (the iterator chain it replaced did
/// not: 10% of the attention's samples at 128 tokens).
#[inline(always)]
fn rotate_half(src: &[f32], cos: &[f32], sin: &[f32], dst: &mut [std::mem::MaybeUninit<f32>]) {
    let half = cos.len();
    let (lo, rest) = src.split_at(half);
    let (hi, tail) = rest.split_at(half);
    let (d_lo, d_rest) = dst.split_at_mut(half);
    let (d_hi, d_tail) = d_rest.split_at_mut(half);
    let sin = &sin[..half];
    for i in 0..half {
        d_lo[i].write(lo[i] * cos[i] - hi[i] * sin[i]);
        d_hi[i].write(hi[i] * cos[i] + lo[i] * sin[i]);
    }
    kernels::write_span(d_tail, tail);
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
    /// Keys whose share the digest reports (BERT's [SEP]: special tokens after the first).
    pub special_keys: &'a [usize],
    /// Compute each head's digest (statistics, overview); an ablation's re-run needs none.
    pub digests: bool,
    /// Blocked edges (head, query i, key j): the score is −∞ before the softmax, so the row
    /// renormalises over its other keys (a row with nothing left attends nowhere: zeros).
    pub blocked: &'a [(usize, usize, usize)],
}

/// One head's slice of a projection (n × dh), normalised and rotated as the layer says:
/// returns (before RoPE, after RoPE) — the same matrix twice when there is no RoPE.
pub(super) fn head_slice(
    x: &Array2<f32>,
    head: usize,
    dh: usize,
    norm: Option<&RmsNorm>,
    rope: Option<&RopeTable>,
) -> (Array2<f32>, Option<Array2<f32>>) {
    if let (None, Some(r)) = (norm, rope)
        && let Some((rotated, plain)) = r.rotated_columns(x, head * dh, dh, true)
    {
        // Without a norm between them, the slice and its rotation come in one pass.
        return (rotated, plain);
    }
    let mut m = columns(x, head * dh, dh);
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

/// Columns c0..c0 + w of x as a new standard-layout array, row by row (ndarray's `to_owned`
/// of a column slice goes element by element: 2% of a 128-token SmolLM2-shaped forward).
pub(super) fn columns(x: &Array2<f32>, c0: usize, w: usize) -> Array2<f32> {
    let (n, cols) = x.dim();
    assert!(c0 + w <= cols, "columns {c0}..{} of {cols}", c0 + w);
    let Some(src) = x.as_slice() else {
        return x.slice(s![.., c0..c0 + w]).to_owned();
    };
    if w == 0 || n == 0 {
        return Array2::zeros((n, w));
    }
    // Row by row into memory written once: a loop the compiler vectorises per row (pushing
    // each row onto a Vec checked its capacity per row: 12% of an all-MiniLM-L6-v2 layer's
    // attention at 128 tokens). On a 64-byte line: a head's V is B of the context's product,
    // read a row at a time.
    let mut out = kernels::uninit_array2((n, w));
    let dst = out.as_slice_mut().expect("a fresh array");
    for (d, row) in dst.chunks_exact_mut(w).zip(src.chunks_exact(cols)) {
        kernels::write_span(d, &row[c0..c0 + w]);
    }
    // SAFETY: the n rows of w were each written in full just above.
    unsafe { out.assume_init() }
}

/// Keys from which a kept matrix is written with streaming stores. A forward's kept matrices
/// take 1,080·n² bytes for a SmolLM2-shaped model (30 layers of 9 heads): at 128 tokens 18 MB,
/// which the next forward finds in the L3, so ordinary stores cost less there
/// (`examples/attention_layer`, 2 threads, 128 tokens: 0.49–0.54 ms a layer with them, 0.56
/// streamed); at 512 tokens 283 MB, and streaming is ahead (2.89–3.03 → 2.72–2.94 ms).
const STREAM_KEYS: usize = 256;

thread_local! {
    /// Each worker's block scratch for [`attend_blocks`] (a call nested on the same thread
    /// would find it taken, empty, and grow its own).
    static BLOCK_SCRATCH: std::cell::Cell<Vec<std::mem::MaybeUninit<f32>>> =
        const { std::cell::Cell::new(Vec::new()) };
}

/// Query rows per block: a block's scores (64 × n keys) are all of a head's n² that exists at
/// once when its full matrices are not kept; 64 × 8,192 × 4 B = 2 MiB.
const BLOCK_ROWS: usize = 64;

/// The keys query i sees, [start, end): those up to i when causal, and with a sliding window
/// W those after i − W (HuggingFace's convention). The block forward, the decode step and a
/// trace's mask all follow this one rule.
pub fn key_span(
    i: usize,
    n_k: usize,
    causal: bool,
    window: Option<usize>,
) -> std::ops::Range<usize> {
    let end = if causal { (i + 1).min(n_k) } else { n_k };
    let start = window.map_or(0, |w| (i + 1).saturating_sub(w)).min(end);
    start..end
}

/// The row blocks of a head over n queries and n_k keys: (first row, rows, keys the block can
/// see: [0, i1) when causal, all otherwise).
fn row_blocks(n: usize, n_k: usize, causal: bool) -> impl Iterator<Item = (usize, usize, usize)> {
    (0..n).step_by(BLOCK_ROWS).map(move |i0| {
        let i1 = (i0 + BLOCK_ROWS).min(n);
        (i0, i1 - i0, if causal { i1.min(n_k) } else { n_k })
    })
}

/// What a forward pass keeps of every head at any length: its statistics, the rows where it
/// is undefined, and a pooled overview; computed block by block as the head is computed.
#[derive(Clone, Debug)]
pub struct HeadDigest {
    /// Means over all rows of entropy, max weight, distance and first-key share (the same
    /// numbers [`crate::core::RowStats::of`] gives on the full matrix).
    pub summary: HeadSummary,
    /// Mean weight from token i to token i − 1 (rows 1…n−1).
    pub previous_token: f32,
    /// Mean over rows of the weight on the special tokens after the first ([SEP]).
    pub later_special: f32,
    /// Rows whose scores hold NaN or +∞ or whose probabilities are not finite (ascending).
    pub nonfinite_rows: Vec<usize>,
    /// The probabilities, max-pooled to at most [`OVERVIEW_SIDE`]²; `None` for a head whose
    /// full matrix the run keeps (pool that instead: [`super::arch::LayerRun::overview`]),
    /// so the forward does not build, fill and hold a second copy of what it keeps.
    pub overview: Option<Pooled>,
}

/// Running sums of a [`HeadDigest`], fed one row at a time in row order.
struct DigestBuilder<'a> {
    n: usize,
    sums: [f32; 4],
    prev: f32,
    special: f32,
    special_keys: &'a [usize],
    nonfinite: Vec<usize>,
    pool: Option<PoolBuilder>,
}

impl<'a> DigestBuilder<'a> {
    /// With `overview`, the probabilities are also pooled as they come (a head whose full
    /// matrix is kept needs no overview: it is pooled from the matrix when drawn).
    fn new(n: usize, n_k: usize, special_keys: &'a [usize], overview: bool) -> Self {
        DigestBuilder {
            n,
            sums: [0.0; 4],
            prev: 0.0,
            special: 0.0,
            special_keys,
            nonfinite: Vec::new(),
            pool: overview.then(|| PoolBuilder::new(n, n_k, OVERVIEW_SIDE, PoolMethod::Max)),
        }
    }

    /// Row i's probabilities (the keys it can see, and maybe zeros after them), and their
    /// entropy when the softmax gave it (then no `ln` per weight: [`SoftmaxSums`]).
    fn add_row(&mut self, i: usize, probs: &[f32], from_softmax: Option<f32>, undefined: bool) {
        let stats = from_softmax.map(|e| {
            let (max, dist) = row_max_dist(i, probs);
            (e, max, dist)
        });
        self.add_row_with(i, probs, stats, undefined);
    }

    /// The rows of a block, from row `i0` on (row r is `block[r·n_k..][..cols]`, its entropy
    /// from the softmax and whether it is undefined in `rows[r]`), in row order; rows that
    /// both have softmax sums go in pairs ([`row_max_dist2`]). The same sums as one
    /// [`DigestBuilder::add_row`] per row.
    fn add_block(
        &mut self,
        i0: usize,
        block: &[f32],
        (n_k, cols): (usize, usize),
        rows: &[(Option<f32>, bool)],
    ) {
        let row = |r: usize| &block[r * n_k..r * n_k + cols];
        let mut r = 0;
        while r < rows.len() {
            match (rows[r], rows.get(r + 1)) {
                ((Some(ea), ua), Some(&(Some(eb), ub))) => {
                    let [(ma, da), (mb, db)] = row_max_dist2(i0 + r, row(r), row(r + 1));
                    self.add_row_with(i0 + r, row(r), Some((ea, ma, da)), ua);
                    self.add_row_with(i0 + r + 1, row(r + 1), Some((eb, mb, db)), ub);
                    r += 2;
                }
                ((e, u), _) => {
                    self.add_row(i0 + r, row(r), e, u);
                    r += 1;
                }
            }
        }
    }

    /// [`DigestBuilder::add_row`] with the row's (entropy, max, distance) when its softmax
    /// gave them, or none (then they come from its weights).
    fn add_row_with(
        &mut self,
        i: usize,
        probs: &[f32],
        stats: Option<(f32, f32, f32)>,
        undefined: bool,
    ) {
        let from_softmax = stats.is_some();
        let (entropy, max, dist) = stats.unwrap_or_else(|| row_sums(i, probs));
        let first = probs.first().copied().unwrap_or(0.0);
        for (s, v) in self.sums.iter_mut().zip([entropy, max, dist, first]) {
            *s += v;
        }
        if i >= 1 {
            self.prev += probs.get(i - 1).copied().unwrap_or(0.0);
        }
        self.special += self
            .special_keys
            .iter()
            .map(|&j| probs.get(j).copied().unwrap_or(0.0))
            .sum::<f32>();
        // A defined row's weights are finite (exp of scores at most the maximum, over a sum
        // of at least 1), so only rows without softmax sums are looked through.
        if undefined || (!from_softmax && probs.iter().any(|p| !p.is_finite())) {
            self.nonfinite.push(i);
        }
        if let Some(pool) = self.pool.as_mut() {
            pool.add_row(i, probs);
        }
    }

    fn finish(self) -> HeadDigest {
        let n = self.n;
        let mean = |s: f32| if n == 0 { 0.0 } else { s / n as f32 };
        HeadDigest {
            summary: HeadSummary {
                entropy: mean(self.sums[0]),
                max_weight: mean(self.sums[1]),
                mean_distance: mean(self.sums[2]),
                first_key_share: mean(self.sums[3]),
            },
            previous_token: if n > 1 {
                self.prev / (n - 1) as f32
            } else {
                0.0
            },
            later_special: if self.special_keys.is_empty() {
                0.0
            } else {
                mean(self.special)
            },
            nonfinite_rows: self.nonfinite,
            overview: self.pool.map(PoolBuilder::finish),
        }
    }
}

/// Whether a row of scores holds NaN or +∞ (no softmax then): a pass without an early exit,
/// which the compiler vectorises (rows are short and almost always all finite).
fn any_undefined(row: &[f32]) -> bool {
    row.iter()
        .fold(false, |bad, &x| bad | (x.is_nan() | (x == f32::INFINITY)))
}

/// One head computed block by block: its context, its full probabilities when asked for,
/// and its digest always.
struct HeadResult {
    context: Array2<f32>,
    probs: Option<Array2<f32>>,
    digest: Option<HeadDigest>,
}

/// A head's K (n_k × dh) as Kᵀ (dh × n_k) at row stride `kernels::spread_ld(n_k)`, whose rows
/// fall into different cache sets, for [`attend_blocks`].
fn keys_transposed(kh: &Array2<f32>) -> kernels::AlignedVec {
    let ks = kh.as_standard_layout();
    let ks = ks.as_slice().expect("standard layout");
    kernels::transposed_spread(ks, kh.nrows(), kh.ncols())
}

/// A head's V (n_k × dh) in panels where that pays ([`kernels::values_in_panels`]), for
/// [`attend_blocks`]'s context product; none elsewhere.
fn values_in_panels(backend: Backend, vh: &Array2<f32>) -> Option<kernels::PackedB> {
    let (n_k, dh) = vh.dim();
    let v = vh.as_standard_layout();
    kernels::values_in_panels(backend, v.as_slice().expect("standard layout"), n_k, dh)
}

/// One head over its K (transposed, dh × n_k at row stride `kernels::spread_ld(n_k)`) and V
/// (n_k × dh, with its panels from [`values_in_panels`] if any):
/// pass 1 per block of 64 query rows: scale·q·kᵀ over the keys the block can see;
/// pass 2 per row: soft-cap, mask (causal, window), softmax over the visible span, the digest;
/// pass 3 per block: the rows of probs·v.
/// One 64 × n_k scratch is reused for every block, so memory stays O(64·n); with
/// `keep_probs`, each finished block is then copied into its rows of the returned n × n_k
/// matrix, which ends up holding the probabilities (the scores are not kept: a trace
/// recomputes them from Q and K). The context is the same bit for bit either way.
fn attend_blocks(
    backend: Backend,
    qh: &Array2<f32>,
    kt: &[f32],
    (vh, v_panels): (&Array2<f32>, Option<&kernels::PackedB>),
    p: &AttnParams<'_>,
    head: usize,
    keep_probs: bool,
) -> HeadResult {
    let (n, dh) = qh.dim();
    let n_k = vh.nrows();
    let q = qh.as_standard_layout();
    let qs = q.as_slice().expect("standard layout");
    let v = vh.as_standard_layout();
    let vs = v.as_slice().expect("standard layout");
    // A block's rows go through a scratch buffer, which stays in L2 through the three
    // passes. A kept matrix receives each finished block once, from STREAM_KEYS keys on as
    // whole cache lines written straight to memory: computed in place there, every line was
    // first read from memory to be overwritten. The scratch is this worker's, reused from
    // head to head (a new one, zeroed, was 3.6% of a 512-token layer's attention): its old
    // values are never read, as each pass reads only what an earlier pass of the same block
    // wrote.
    // Both start on a 64-byte line (see `kernels::AlignedVec`): the scratch's rows are C of
    // the scores' product and the softmax's vectors, and the kept rows take whole lines.
    let mut kept = keep_probs.then(|| kernels::uninit_array2((n, n_k)));
    let mut whole_scratch = BLOCK_SCRATCH.take();
    let need = BLOCK_ROWS.min(n) * n_k + kernels::LINE - 1;
    if whole_scratch.len() < need {
        whole_scratch.resize(need, std::mem::MaybeUninit::new(0.0));
    }
    let line = kernels::line_start(&whole_scratch);
    let scratch = &mut whole_scratch[line..];
    let mut context = kernels::AlignedVec::zeros(n * dh).into_array2((n, dh));
    let ctx = context.as_slice_mut().expect("fresh array");
    let mut digest = p
        .digests
        .then(|| DigestBuilder::new(n, n_k, p.special_keys, !keep_probs));
    let blocked: Vec<(usize, usize)> = p
        .blocked
        .iter()
        .filter(|b| b.0 == head)
        .map(|b| (b.1, b.2))
        .collect();
    for (i0, rows, cols) in row_blocks(n, n_k, p.causal) {
        let block = &mut scratch[..rows * n_k];
        // pass 1: the block's scores over the keys it can see: [k0, cols) (a sliding window
        // hides the keys before k0 from every row of the block), zeros elsewhere.
        let k0 = p.window.map_or(0, |w| (i0 + 1).saturating_sub(w)).min(cols);
        let zero = |span: &mut [std::mem::MaybeUninit<f32>]| {
            for x in span {
                x.write(0.0);
            }
        };
        if cols > k0 && dh > 0 {
            let a = &qs[i0 * dh..];
            // One head's blocks run on one thread: the heads are what runs in parallel.
            kernels::gemm_uninit(
                backend,
                rows,
                cols - k0,
                dh,
                p.scale,
                a,
                dh,
                &kt[k0..],
                kernels::spread_ld(n_k),
                &mut block[k0..],
                n_k,
            );
        } else {
            // No head width: every score is the empty sum.
            for r in 0..rows {
                zero(&mut block[r * n_k + k0..r * n_k + cols]);
            }
        }
        // SAFETY: every element of the scratch is initialised: with zeros when it grew, and
        // with numbers by every write since (the product writes numbers into [k0, cols)).
        // `MaybeUninit<f32>` has f32's layout.
        let block: &mut [f32] = unsafe { &mut *(std::ptr::from_mut(block) as *mut [f32]) };
        // pass 2: per row, cap, mask, softmax over the visible span [start, end), two rows
        // at a time where they see the same keys (every row of an encoder); then the
        // block's rows into the digest (in pairs: see `DigestBuilder::add_block`).
        let mut facts = Vec::with_capacity(if digest.is_some() { rows } else { 0 });
        let mut r = 0;
        while r < rows {
            let span = key_span(i0 + r, n_k, p.causal, p.window);
            let two = r + 1 < rows && key_span(i0 + r + 1, n_k, p.causal, p.window) == span;
            let count = if two { 2 } else { 1 };
            let mut undefined = [false; 2];
            for (t, u) in undefined.iter_mut().enumerate().take(count) {
                let i = i0 + r + t;
                let row = &mut block[(r + t) * n_k..(r + t + 1) * n_k];
                if let Some(c) = p.softcap {
                    for s in &mut row[span.clone()] {
                        *s = c * (*s / c).tanh();
                    }
                }
                *u = any_undefined(&row[span.clone()]);
                row[..span.start].fill(0.0);
                row[span.end..cols].fill(0.0);
                block_edges(&blocked, i, span.clone(), row);
            }
            let sums = if two {
                let (a, b) = block[r * n_k..(r + 2) * n_k].split_at_mut(n_k);
                kernels::softmax_row_sums2(backend, &mut a[span.clone()], &mut b[span.clone()])
            } else {
                let row = &mut block[r * n_k..(r + 1) * n_k];
                [
                    kernels::softmax_row_sums(backend, &mut row[span.clone()]),
                    None,
                ]
            };
            // A defined row's entropy comes from its softmax's sums (one `ln` per row, not
            // per weight); an undefined row's (NaN, +∞) from its weights.
            if digest.is_some() {
                for t in 0..count {
                    let entropy = sums[t].filter(|_| !undefined[t]).map(|s| s.entropy());
                    facts.push((entropy, undefined[t]));
                }
            }
            r += count;
        }
        if let Some(d) = digest.as_mut() {
            d.add_block(i0, block, (n_k, cols), &facts);
        }
        // pass 3: the block's context rows, over the keys [k0, cols).
        if let Some(vp) = v_panels.filter(|_| cols > k0) {
            let a = &block[k0..];
            let ctx = &mut ctx[i0 * dh..];
            kernels::gemm_on_panels(backend, rows, 1.0, a, n_k, vp, k0..cols, dh, ctx, dh);
        } else if cols > k0 && dh > 0 {
            kernels::gemm_fast(
                backend,
                1,
                rows,
                dh,
                cols - k0,
                1.0,
                &block[k0..],
                n_k,
                &vs[k0 * dh..],
                dh,
                &mut ctx[i0 * dh..],
                dh,
            );
        }
        if let Some(m) = kept.as_mut() {
            // The block's rows: [0, cols) from the scratch (zeros outside each row's span,
            // written by pass 2), then zeros for the keys past the block (a causal head's
            // upper triangle); from STREAM_KEYS keys on as whole lines straight to memory.
            let dst = &mut m.as_slice_mut().expect("fresh array")[i0 * n_k..(i0 + rows) * n_k];
            for (d, s) in dst.chunks_exact_mut(n_k).zip(block.chunks_exact(n_k)) {
                let (seen, past) = d.split_at_mut(cols);
                if n_k >= STREAM_KEYS {
                    kernels::stream_span(backend, seen, &s[..cols]);
                    kernels::zero_stream(backend, past);
                } else {
                    kernels::write_span(seen, &s[..cols]);
                    zero(past);
                }
            }
            kernels::store_fence(backend);
        }
    }
    BLOCK_SCRATCH.set(whole_scratch);
    HeadResult {
        context,
        // SAFETY: the row blocks cover rows 0..n, and each block wrote every element of its
        // rows of the kept matrix just above.
        probs: kept.map(|m| unsafe { m.assume_init() }),
        digest: digest.map(DigestBuilder::finish),
    }
}

/// Sets the scores of row i's blocked keys (pairs (i, j) of `blocked`) within `span` to −∞.
pub(super) fn block_edges(
    blocked: &[(usize, usize)],
    i: usize,
    span: std::ops::Range<usize>,
    row: &mut [f32],
) {
    for &(bi, j) in blocked {
        if bi == i && span.contains(&j) {
            row[j] = f32::NEG_INFINITY;
        }
    }
}

/// What [`attention_heads`] gives: each head's context, before the caller puts them side by
/// side (n × h·dh) for the output projection, whole or row block by row block.
pub struct HeadsOut {
    /// Every query head's context (n × dh), in head order.
    pub contexts: Vec<Array2<f32>>,
    /// The captures of the heads with `capture[h]`, their `context` still empty.
    pub captures: Vec<HeadCapture>,
    /// Every head's digest (when the parameters ask for them).
    pub digests: Vec<HeadDigest>,
}

impl HeadsOut {
    /// The captures, each with its head's context moved in (the contexts of heads without
    /// a capture are dropped).
    pub fn captures_with_contexts(&mut self) -> Vec<HeadCapture> {
        let mut contexts: Vec<Option<Array2<f32>>> = std::mem::take(&mut self.contexts)
            .into_iter()
            .map(Some)
            .collect();
        std::mem::take(&mut self.captures)
            .into_iter()
            .map(|c| HeadCapture {
                context: contexts[c.head].take().expect("one capture per head"),
                ..c
            })
            .collect()
    }
}

/// Multi-head attention over already projected Q (n × h·dh), K and V (n × g·dh), heads in
/// parallel; query head h reads KV head h / (h_total / g) (HuggingFace's `repeat_kv`).
/// Returns every head's context, the captures of the heads with `capture[h]` (in head
/// order), and every head's digest.
pub fn attention_heads(
    backend: Backend,
    q: &Array2<f32>,
    k: &Array2<f32>,
    v: &Array2<f32>,
    p: &AttnParams<'_>,
    capture: &[bool],
) -> HeadsOut {
    let dh = p.head_dim;
    let group = (p.heads / p.kv_heads.max(1)).max(1);
    type HeadOut = (Option<HeadCapture>, Array2<f32>, Option<HeadDigest>);
    let slots: Vec<std::sync::Mutex<Option<HeadOut>>> =
        (0..p.heads).map(|_| Default::default()).collect();
    // One parallel region: a task per KV head (pass 0: its K normed, rotated and transposed
    // for the scores, and its V, once), which then spawns a task per query head reading it
    // (passes 1-3). Two regions with a collect between them let the idle worker fall asleep
    // and be woken again.
    rayon::scope(|scope| {
        for g in 0..p.kv_heads {
            let slots = &slots;
            scope.spawn(move |scope| {
                let (kh, k_pre) = head_slice(k, g, dh, p.k_norm, p.rope);
                let vh = Arc::new(columns(v, g * dh, dh));
                let vp = Arc::new(values_in_panels(backend, &vh));
                let kt = keys_transposed(&kh);
                let (kh, k_pre, kt) = (Arc::new(kh), k_pre.map(Arc::new), Arc::new(kt));
                for h in (g * group..(g + 1) * group).filter(|&h| h < p.heads) {
                    let (kh, k_pre, vh, vp, kt) = (
                        Arc::clone(&kh),
                        k_pre.clone(),
                        Arc::clone(&vh),
                        Arc::clone(&vp),
                        Arc::clone(&kt),
                    );
                    scope.spawn(move |_| {
                        let (qh, q_pre) = head_slice(q, h, dh, p.q_norm, p.rope);
                        let keep = capture.get(h).copied().unwrap_or(false);
                        let values = (&*vh, vp.as_ref().as_ref());
                        let r = attend_blocks(backend, &qh, &kt, values, p, h, keep);
                        let cap = r.probs.map(|probs| HeadCapture {
                            head: h,
                            q: qh,
                            k: kh,
                            v: vh,
                            probs,
                            context: Array2::zeros((0, 0)),
                            q_pre_rope: q_pre,
                            k_pre_rope: k_pre,
                            kv_head: g,
                        });
                        *slots[h].lock().expect("a head's slot") = Some((cap, r.context, r.digest));
                    });
                }
            });
        }
    });
    let results: Vec<HeadOut> = slots
        .into_iter()
        .map(|s| {
            s.into_inner()
                .expect("a head's slot")
                .expect("every query head has a KV head")
        })
        .collect();
    let mut out = HeadsOut {
        contexts: Vec::with_capacity(results.len()),
        captures: Vec::new(),
        digests: Vec::with_capacity(results.len()),
    };
    for (cap, context, d) in results {
        out.contexts.push(context);
        out.captures.extend(cap);
        out.digests.extend(d);
    }
    out
}

#[cfg(test)]
mod digest_tests {
    use super::*;

    /// A block's rows go into a head's digest two at a time where both have softmax sums;
    /// the digest (sums, nonfinite rows, overview) must be what one row at a time gives,
    /// bit for bit, with rows without sums and undefined rows among them and an odd count.
    #[test]
    fn a_block_digested_in_row_pairs_gives_the_sums_of_one_row_at_a_time() {
        let (rows, n_k, cols, i0) = (13usize, 37usize, 29usize, 4usize);
        let backend = Backend::best();
        let mut block = vec![0.0f32; rows * n_k];
        let mut facts = Vec::new();
        for r in 0..rows {
            let row = &mut block[r * n_k..(r + 1) * n_k];
            for (j, s) in row[..cols].iter_mut().enumerate() {
                *s = ((r * 31 + j * 17) % 23) as f32 * 0.37 - 3.0;
            }
            let sums = kernels::softmax_row_sums(backend, &mut row[..cols]);
            facts.push(match r {
                5 => (None, true),
                8 => (None, false),
                _ => (sums.map(|s| s.entropy()), false),
            });
        }
        let special = [3usize];
        let mut pairs = DigestBuilder::new(i0 + rows, n_k, &special, true);
        pairs.add_block(i0, &block, (n_k, cols), &facts);
        let mut one = DigestBuilder::new(i0 + rows, n_k, &special, true);
        for (r, &(e, u)) in facts.iter().enumerate() {
            one.add_row(i0 + r, &block[r * n_k..r * n_k + cols], e, u);
        }
        let (pairs, one) = (pairs.finish(), one.finish());
        assert_eq!(format!("{pairs:?}"), format!("{one:?}"));
        assert_eq!(pairs.nonfinite_rows, vec![i0 + 5]);
    }
}
