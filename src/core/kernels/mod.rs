//! The attention kernels: one scalar reference (the oracle, kept forever), one portable path
//! that the compiler vectorises for whatever the target's baseline is (SSE2 on x86_64, NEON
//! on aarch64), and hand-written AVX2+FMA and AVX-512 paths for x86_64, chosen once at run
//! time.
//!
//! Legend for every kernel in this folder: `m` = rows of A and C, `n` = columns of B and C,
//! `k` = the shared dimension; `lda`/`ldb`/`ldc` = row strides (row-major everywhere).
//! In attention terms: `n_q` = queries, `n_k` = keys, `d` = head dim, `h` = heads.
//!
//! Three primitives cover the whole of attention:
//! - [`gemm`]: C = α·A·B. Scores are Q·Kᵀ (with Kᵀ packed once per head), the weighted sum is
//!   P·V, projections are X·W.
//! - [`softmax_row`]: a numerically stable softmax in place, with −∞ as "masked".
//! - [`attention_forward`]: the fused, multi-threaded materialised attention
//!   softmax(Q·Kᵀ·scale)·V that keeps the probabilities (what the benchmarks measure and the
//!   model forward pass runs on).

mod aligned;
mod fused;
mod panels;
mod portable;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::fmt;
use std::sync::OnceLock;

pub use aligned::{AlignedVec, uninit_array2};
pub(crate) use aligned::{LINE, line_start};
pub use fused::{AttnShape, attention_forward};
pub use panels::{
    PackedB, gemm_on_panels, gemm_panels, gemm_panels_uninit, panel_width, values_in_panels,
};

/// Columns of the AVX2 register tile (two vectors of 8): the width of the strips of B it
/// walks, and so of the panels laid out for it ([`panel_width`]).
const AVX2_STRIP: usize = 16;

/// Which implementation of the kernels to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Plain loops in the textbook order: the oracle every fast path is compared against.
    Scalar,
    /// Cache-friendly loop order the compiler auto-vectorises for the target's baseline ISA.
    Portable,
    /// x86_64 AVX2 + FMA (8 lanes), 6×16 register tiles.
    Avx2,
    /// x86_64 AVX-512F (16 lanes), 6×64 register tiles, masked tails.
    Avx512,
}

impl Backend {
    /// Every backend, fastest last.
    pub const ALL: [Backend; 4] = [
        Backend::Scalar,
        Backend::Portable,
        Backend::Avx2,
        Backend::Avx512,
    ];

    /// Short lowercase name, as accepted by `ATTNSCOPE_KERNEL` and printed by `bench`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::Portable => "portable",
            Backend::Avx2 => "avx2",
            Backend::Avx512 => "avx512",
        }
    }

    /// Parses a name printed by [`Backend::name`].
    pub fn from_name(name: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Whether this CPU can run the backend (checked at run time, not compile time).
    pub fn is_supported(self) -> bool {
        match self {
            Backend::Scalar | Backend::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            Backend::Avx2 | Backend::Avx512 => false,
        }
    }

    /// The backends this CPU supports.
    pub fn supported() -> Vec<Backend> {
        Backend::ALL
            .into_iter()
            .filter(|b| b.is_supported())
            .collect()
    }

    /// The fastest supported backend, detected once and cached. `ATTNSCOPE_KERNEL=name`
    /// overrides the choice (ignored if the CPU cannot run it).
    pub fn best() -> Backend {
        static BEST: OnceLock<Backend> = OnceLock::new();
        *BEST.get_or_init(|| {
            if let Some(forced) = std::env::var("ATTNSCOPE_KERNEL")
                .ok()
                .and_then(|s| Backend::from_name(s.trim()))
                .filter(|b| b.is_supported())
            {
                return forced;
            }
            *Backend::supported()
                .last()
                .expect("scalar is always supported")
        })
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Checks that a row-major `rows × cols` matrix with row stride `ld` fits in `len` floats.
fn fits(len: usize, rows: usize, cols: usize, ld: usize) -> bool {
    rows == 0 || cols == 0 || (ld >= cols && (rows - 1) * ld + cols <= len)
}

/// What a product adds to α·A·B as it writes C, in this order: a bias row, then a matrix of
/// C's shape (a residual sum). The sums are those of separate passes over C afterwards.
#[derive(Clone, Copy, Debug, Default)]
pub struct Addend<'a> {
    /// n values added to every row of C, or empty for none.
    pub bias: &'a [f32],
    /// An m × n matrix at its row stride, or none.
    pub matrix: Option<(&'a [f32], usize)>,
}

impl<'a> Addend<'a> {
    /// Panics (naming `who`) unless the bias is empty or n long and the matrix holds m × n.
    fn check(&self, who: &str, m: usize, n: usize) {
        assert!(
            self.bias.is_empty() || self.bias.len() == n,
            "{who}: a bias of {} for {n} columns",
            self.bias.len()
        );
        if let Some((r, ld)) = self.matrix {
            assert!(
                fits(r.len(), m, n, ld),
                "{who}: the added matrix is not {m}×{n}"
            );
        }
    }

    /// The part for C's rows from `i0` on and columns from `j0` on (w of them).
    fn from(&self, i0: usize, j0: usize, w: usize) -> Addend<'a> {
        Addend {
            bias: self.bias.get(j0..j0 + w).unwrap_or_default(),
            matrix: self
                .matrix
                .map(|(r, ld)| (&r[(i0 * ld + j0).min(r.len())..], ld)),
        }
    }

    /// Adds the bias, then the matrix, to `out` (m rows of n, contiguous).
    fn add_to(&self, out: &mut [f32], n: usize) {
        if n == 0 {
            return;
        }
        if !self.bias.is_empty() {
            for row in out.chunks_exact_mut(n) {
                for (x, &b) in row.iter_mut().zip(self.bias) {
                    *x += b;
                }
            }
        }
        if let Some((r, ld)) = self.matrix {
            for (row, add) in out.chunks_exact_mut(n).zip(r.chunks(ld)) {
                for (x, &y) in row.iter_mut().zip(add) {
                    *x += y;
                }
            }
        }
    }
}

/// A product's A (m × k), as [`gemm_ahead`] takes it.
#[derive(Clone, Copy, Debug)]
pub enum Lhs<'a> {
    /// Row-major at a row stride.
    Rows(&'a [f32], usize),
    /// m × k values laid out by [`pack_a`], for a backend where [`packs_a`] holds.
    Packed(&'a [f32]),
}

/// [`gemm`] into C that may be uninitialised (as [`gemm_uninit`]), plus `add` (a bias row
/// and a matrix, see [`Addend`]), asking the cache for `ahead`, memory the caller reads
/// next, while it multiplies (on AVX-512 and AVX2; elsewhere it is [`gemm`] into a
/// scratch, copied with the addend added). Every element of C's m × n is written, nothing
/// else; the same bits as [`gemm`] followed by adding the bias, then the matrix, whether A
/// comes packed or not.
///
/// # Panics
/// As [`gemm`], if `add` does not fit (see [`Addend`]), or if A is packed where [`packs_a`]
/// is false or does not hold m × k values.
#[allow(clippy::too_many_arguments)]
pub fn gemm_ahead(
    backend: Backend,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: Lhs<'_>,
    b: &[f32],
    ldb: usize,
    c: &mut [std::mem::MaybeUninit<f32>],
    ldc: usize,
    ahead: &[f32],
    add: Addend<'_>,
) {
    let (a, lda, packed) = match a {
        Lhs::Rows(a, lda) => (a, lda, false),
        Lhs::Packed(a) => {
            assert!(packs_a(backend), "gemm_ahead: A packed for {backend}");
            assert_eq!(a.len(), m * k, "gemm_ahead: packed A is not {m}×{k}");
            (a, k, true)
        }
    };
    assert_fits("gemm_ahead", [m, n, k], (a, lda), (b, ldb), (c.len(), ldc));
    add.check("gemm_ahead", m, n);
    if m == 0 || n == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if backend == Backend::Avx2 && backend.is_supported() {
        // SAFETY: AVX2 and FMA detected; a packed A holds m × k values (asserted); the rest
        // as for AVX-512 below.
        unsafe {
            x86::gemm_avx2(
                m,
                n,
                k,
                alpha,
                (a, lda, packed),
                (b, ldb, AVX2_STRIP),
                c.as_mut_ptr().cast(),
                ldc,
                ahead,
                add,
            )
        };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if backend == Backend::Avx512 && backend.is_supported() {
        // SAFETY: AVX-512F detected; A and B fit their shapes, C holds m × n at ldc, the
        // bias is empty or n long and the matrix m × n (asserted); the kernel writes only C.
        unsafe {
            x86::gemm_avx512(
                m,
                n,
                k,
                alpha,
                a,
                lda,
                b,
                ldb,
                c.as_mut_ptr().cast(),
                ldc,
                ahead,
                add,
            )
        };
        return;
    }
    let _ = ahead;
    let mut out = vec![0.0f32; m * n];
    gemm(backend, m, n, k, alpha, a, lda, b, ldb, &mut out, n);
    add.add_to(&mut out, n);
    write_rows(c, ldc, &out, n);
}

/// Whether [`gemm_ahead`] takes A packed by [`pack_a`] on `backend` (AVX2, whose tiles
/// read it so); elsewhere callers give it A as it is.
pub fn packs_a(backend: Backend) -> bool {
    cfg!(target_arch = "x86_64") && backend == Backend::Avx2 && backend.is_supported()
}

/// A (m × k at row stride `lda`) into `out` (m × k values) in the layout the AVX2 tiles read
/// (see [`packs_a`]): each k block's rows in groups of 6, each group step by step. A caller
/// that multiplies the same rows of A by many panels packs them once.
///
/// # Panics
/// If `a` is too short for m × k at `lda` or `out` does not hold m × k values.
pub fn pack_a(a: &[f32], lda: usize, m: usize, k: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    x86::pack_a_avx2(a, lda, m, k, out);
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (a, lda, m, k, out);
        unreachable!("pack_a: no packed tiles on this architecture");
    }
}

/// Writes zeros over `dst`; on AVX-512 and AVX2 the whole cache lines go straight to
/// memory (non-temporal stores) instead of being read in first only to be overwritten. Call
/// [`store_fence`] before the zeros are read on another thread.
pub fn zero_stream(backend: Backend, dst: &mut [std::mem::MaybeUninit<f32>]) {
    stream_into(backend, dst, dst.len(), None);
}

/// Copies `src` into the start of `dst` as [`zero_stream`] writes zeros: whole lines
/// straight to memory on AVX-512 and AVX2. Call [`store_fence`] before another thread reads
/// them.
///
/// # Panics
/// If `dst` is shorter than `src`.
pub fn stream_span(backend: Backend, dst: &mut [std::mem::MaybeUninit<f32>], src: &[f32]) {
    assert!(dst.len() >= src.len(), "stream_span: destination too short");
    stream_into(backend, dst, src.len(), Some(src));
}

/// The first `len` elements of `dst` (at most its length) set to `src` (`len` values), or to
/// zeros without one, with the streaming stores of the backend.
fn stream_into(
    backend: Backend,
    dst: &mut [std::mem::MaybeUninit<f32>],
    len: usize,
    src: Option<&[f32]>,
) {
    let len = len.min(dst.len());
    #[cfg(target_arch = "x86_64")]
    if backend == Backend::Avx512 && backend.is_supported() {
        // SAFETY: AVX-512F detected; dst holds `len` floats and src, if any, `len` values.
        unsafe { x86::stream_avx512(dst.as_mut_ptr().cast(), len, src) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if backend == Backend::Avx2 && backend.is_supported() {
        // SAFETY: AVX2 (so AVX) detected; as above.
        unsafe { x86::stream_avx2(dst.as_mut_ptr().cast(), len, src) };
        return;
    }
    let _ = backend;
    match src {
        Some(src) => write_span(dst, &src[..len]),
        None => {
            for x in &mut dst[..len] {
                x.write(0.0);
            }
        }
    }
}

/// Makes this thread's [`zero_stream`] and [`stream_span`] stores visible before any later
/// store of it (a no-op where they are ordinary stores).
pub fn store_fence(backend: Backend) {
    #[cfg(target_arch = "x86_64")]
    if matches!(backend, Backend::Avx512 | Backend::Avx2) && backend.is_supported() {
        x86::store_fence();
    }
    let _ = backend;
}

/// Writes the rows of `src` (rows of `n`) into C's first n columns (row stride `ldc`).
fn write_rows(c: &mut [std::mem::MaybeUninit<f32>], ldc: usize, src: &[f32], n: usize) {
    for (dst, src) in c.chunks_mut(ldc).zip(src.chunks_exact(n)) {
        write_span(dst, src);
    }
}

/// Writes `src` into the start of `dst` (as many values as the shorter holds), element by
/// element: an inline loop the compiler vectorises. `write_copy_of_slice` would call `memcpy`
/// once per call, which costs on the short rows this copies (a head's row: 32 or 64 floats).
#[inline(always)]
pub(crate) fn write_span(dst: &mut [std::mem::MaybeUninit<f32>], src: &[f32]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        d.write(x);
    }
}

/// C = α·A·B, overwriting C.
///
/// Shapes: A is `m × k` (stride `lda`), B is `k × n` (stride `ldb`), C is `m × n` (stride
/// `ldc`), all row-major.
///
/// # Panics
/// If a slice is too short for its shape: a programming error, never a user input error
/// (callers build the shapes).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    backend: Backend,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
) {
    assert_fits("gemm", [m, n, k], (a, lda), (b, ldb), (c.len(), ldc));
    if m == 0 || n == 0 {
        return;
    }
    match backend {
        Backend::Scalar => scalar::gemm(m, n, k, alpha, a, lda, b, ldb, c, ldc),
        Backend::Portable => portable::gemm(m, n, k, alpha, a, lda, b, ldb, c, ldc),
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2 if backend.is_supported() => {
            // SAFETY: AVX2+FMA were detected just above; the shape checks above guarantee
            // every index the kernel touches is inside the slices.
            unsafe {
                x86::gemm_avx2(
                    m,
                    n,
                    k,
                    alpha,
                    (a, lda, false),
                    (b, ldb, AVX2_STRIP),
                    c.as_mut_ptr(),
                    ldc,
                    &[],
                    Addend::default(),
                )
            }
        }
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512 if backend.is_supported() => {
            // SAFETY: AVX-512F was detected just above; shapes checked as for AVX2.
            unsafe {
                x86::gemm_avx512(
                    m,
                    n,
                    k,
                    alpha,
                    a,
                    lda,
                    b,
                    ldb,
                    c.as_mut_ptr(),
                    ldc,
                    &[],
                    Addend::default(),
                )
            }
        }
        _ => portable::gemm(m, n, k, alpha, a, lda, b, ldb, c, ldc),
    }
}

/// [`gemm_fast`] on the calling thread (`threads` = 1) into C that may be uninitialised:
/// every element of C's m × n (at row stride `ldc`) is written, nothing else, so the caller
/// may treat those as initialised afterwards. The kept attention probabilities are computed
/// in place in memory that needs no zeroing first (72 MiB a 512-token MiniLM forward: 5% of
/// its time on an Intel Xeon). AVX-512 and AVX2 write C directly; the scalar and portable
/// backends run their [`gemm`] into a scratch and copy, with its bits.
///
/// # Panics
/// As [`gemm`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_uninit(
    backend: Backend,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [std::mem::MaybeUninit<f32>],
    ldc: usize,
) {
    if matches!(backend, Backend::Avx512 | Backend::Avx2) && backend.is_supported() {
        // The AVX-512 and AVX2 tiles write C directly: `gemm_ahead` with nothing ahead and
        // no bias.
        let none = Addend::default();
        let a = Lhs::Rows(a, lda);
        return gemm_ahead(backend, m, n, k, alpha, a, b, ldb, c, ldc, &[], none);
    }
    assert_fits("gemm_uninit", [m, n, k], (a, lda), (b, ldb), (c.len(), ldc));
    if m == 0 || n == 0 {
        return;
    }
    let mut out = vec![0.0f32; m * n];
    gemm_fast(backend, 1, m, n, k, alpha, a, lda, b, ldb, &mut out, n);
    write_rows(c, ldc, &out, n);
}

/// [`gemm`] on the fastest kernel this machine has, measured at the models' shapes
/// (`examples/linear_shapes.rs`, BENCHMARKS.md), on `threads` rayon threads (1: the calling
/// thread, for callers that run many products in parallel, such as heads and row blocks):
/// - AVX-512 and AVX2: attnscope's own register-tiled kernel, rows split over the threads
///   ([`gemm_rows`]). The `gemm` crate runs AVX2 code only on stable Rust, and on a Zen 4
///   it reached 137–182 GFLOP/s at SmolLM2's 128-token shapes where this one reaches
///   197–217. On a Zen 3 (AVX2 only) the own tile on a model's 16-wide weight panels is
///   level with the crate's bare products (`examples/linear_shapes`: 84–92 against 78–95
///   GFLOP/s on one core), and a forward on it, which writes C with no scratch and adds
///   bias and residual as it writes, was faster than on the crate.
/// - scalar and portable: attnscope's own [`gemm`] on the calling thread.
///
/// # Panics
/// As [`gemm`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_fast(
    backend: Backend,
    threads: usize,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
) {
    match backend {
        Backend::Avx512 | Backend::Avx2 => {
            gemm_rows(backend, threads, m, n, k, alpha, a, lda, b, ldb, c, ldc)
        }
        _ => gemm(backend, m, n, k, alpha, a, lda, b, ldb, c, ldc),
    }
}

/// attnscope's own [`gemm`] with C's rows split over the rayon pool when `threads` > 1, in
/// blocks of [`row_block`] rows (each element is the same sum either way).
///
/// # Panics
/// As [`gemm`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_rows(
    backend: Backend,
    threads: usize,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
) {
    if n == 0 {
        gemm(backend, m, n, k, alpha, a, lda, b, ldb, c, ldc);
        return;
    }
    assert_fits("gemm_rows", [m, n, k], (a, lda), (b, ldb), (c.len(), ldc));
    split_rows(threads, m, c, ldc, |i0, rows, chunk| {
        gemm(
            backend,
            rows,
            n,
            k,
            alpha,
            &a[i0 * lda..],
            lda,
            b,
            ldb,
            chunk,
            ldc,
        );
    });
}

/// Rows per parallel task when m rows are split over `threads`: ⌈m / threads⌉, at least 8
/// and at most [`ROW_BLOCK`].
pub fn row_block(m: usize, threads: usize) -> usize {
    m.div_ceil(threads.max(1)).clamp(8, ROW_BLOCK)
}

/// Runs `f(first row, rows, C from that row on)` on blocks of [`row_block`] rows of C (m rows
/// at row stride `ldc`), in parallel over the rayon pool; on the calling thread, one block
/// after another, when `threads` ≤ 1.
fn split_rows<T: Send>(
    threads: usize,
    m: usize,
    c: &mut [T],
    ldc: usize,
    f: impl Fn(usize, usize, &mut [T]) + Sync,
) {
    let rb = row_block(m, threads);
    if m <= rb {
        f(0, m, c);
        return;
    }
    let blocks = m.div_ceil(rb);
    let block = |(blk, chunk): (usize, &mut [T])| {
        let i0 = blk * rb;
        f(i0, rb.min(m - i0), chunk);
    };
    if threads <= 1 {
        // One thread still takes the rows a block at a time, so that a block's rows of A stay
        // in L2 while they meet every panel of B. One core of an Intel Xeon, 512 × 576 →
        // 1,536 on panels: 99 GFLOP/s as one block of 512 rows, 159 in blocks of 64.
        c.chunks_mut(rb * ldc)
            .take(blocks)
            .enumerate()
            .for_each(block);
        return;
    }
    use rayon::prelude::*;
    c.par_chunks_mut(rb * ldc)
        .take(blocks)
        .enumerate()
        .for_each(block);
}

/// Panics (naming `who`) unless A (m × k at row stride lda), B (k × n at ldb) and C (m × n
/// at ldc, in a slice of `c_len` elements, which may be uninitialised) each fit their slice.
fn assert_fits(
    who: &str,
    [m, n, k]: [usize; 3],
    (a, lda): (&[f32], usize),
    (b, ldb): (&[f32], usize),
    (c_len, ldc): (usize, usize),
) {
    assert!(fits(a.len(), m, k, lda), "{who}: A too short for {m}×{k}");
    assert!(fits(b.len(), k, n, ldb), "{who}: B too short for {k}×{n}");
    assert!(fits(c_len, m, n, ldc), "{who}: C too short for {m}×{n}");
}

/// Runs `work` on a thread of rayon's pool and returns its result; inline when the caller
/// already is one. A forward makes hundreds of small parallel regions (every product,
/// every layer's heads). Started from a thread outside the pool, each region is injected
/// into the pool while the caller sleeps on a lock, so every region costs two or three
/// wake-ups; started on a worker, the region runs on that worker and the other workers
/// join in. A 128-token SmolLM2-shaped forward on 2 threads of the Zen 4 made about 450
/// context switches instead of 1,600 and went from 185 to 178–182 ms, 512 tokens from
/// 761–848 to 725–736 ms.
pub fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| work())
}

/// [`on_pool`], with the pool's other workers kept awake until `work` returns: each polls
/// for the parallel tasks `work` makes instead of going to sleep between them. A rayon
/// worker that finds nothing to do sleeps after a few microseconds, and between two parallel
/// regions of a forward (three per layer) there is usually that much serial work, so the
/// next region waited on waking it; in a KVM guest a wake-up is an interrupt to another
/// virtual CPU and took tens of microseconds, about 150 of them per 128-token
/// SmolLM2-shaped forward. A poller that finds nothing yields its CPU to the system
/// (`sched_yield`), so a UI thread still gets one.
pub fn on_pool_awake<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    use std::sync::atomic::{AtomicBool, Ordering};
    let others = rayon::current_num_threads().saturating_sub(1);
    if others == 0 {
        return on_pool(work);
    }
    /// Sets the flag when dropped, so the pollers stop even when `work` panics (the scope
    /// then waits for them before it passes the panic on).
    struct Finish<'a>(&'a AtomicBool);
    impl Drop for Finish<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let done = &AtomicBool::new(false);
    rayon::scope(|s| {
        let owner = rayon::current_thread_index();
        for _ in 0..others {
            s.spawn(move |_| {
                // The thread running `work` may pick a poller up while it waits inside
                // `work`; polling there would wait on itself, so it returns at once.
                if rayon::current_thread_index() == owner {
                    return;
                }
                while !done.load(Ordering::Acquire) {
                    if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        std::thread::yield_now();
                    }
                }
            });
        }
        let _finish = Finish(done);
        work()
    })
}

/// Most rows of C per task when [`gemm_rows`] splits attnscope's own kernel over threads.
/// A task runs its rows against every panel of B in turn, so its rows of A
/// (64 × k, 384 KiB at k = 1,536) and the panel stay in a 1 MiB L2 together; fewer, taller
/// tasks stream each weight panel from memory fewer times (a 128-token SmolLM2-shaped
/// forward on the Zen 4: 32 rows 196–200 ms, 64 rows 187–188 ms).
pub const ROW_BLOCK: usize = 64;

/// SiLU in place, xᵢ ← xᵢ·σ(xᵢ) = xᵢ / (1 + e^−xᵢ) (Llama's MLP activation), with the
/// softmax's vector exp on the SIMD backends (within a few ulp of libm's; NaN stays NaN).
pub fn silu(backend: Backend, x: &mut [f32]) {
    silu_times(backend, x, &[]);
}

/// SwiGLU's product in one pass: xᵢ ← silu(xᵢ)·byᵢ (`by` empty: [`silu`]). The bits of
/// [`silu`] followed by a separate product: the same operations per element.
///
/// # Panics
/// If `by` is neither empty nor as long as x.
pub fn silu_times(backend: Backend, x: &mut [f32], by: &[f32]) {
    assert!(
        by.is_empty() || by.len() == x.len(),
        "silu_times: {} factors for {} values",
        by.len(),
        x.len()
    );
    match backend {
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512 if backend.is_supported() => {
            // SAFETY: AVX-512F was detected just above; `by` is empty or x's length.
            unsafe { x86::silu_avx512(x, by) }
        }
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2 if backend.is_supported() => {
            // SAFETY: AVX2 and FMA were detected just above; `by` is empty or x's length.
            unsafe { x86::silu_avx2(x, by) }
        }
        _ => silu_plain(x, by),
    }
}

/// [`silu_times`] element by element with libm's exp.
fn silu_plain(x: &mut [f32], by: &[f32]) {
    for v in x.iter_mut() {
        *v /= 1.0 + (-*v).exp();
    }
    for (v, &b) in x.iter_mut().zip(by) {
        *v *= b;
    }
}

/// Numerically stable softmax of one row, in place: xᵢ ← exp(xᵢ − max) / Σ exp(x − max).
///
/// −∞ entries are masked keys and come out exactly 0. A row that is entirely −∞ (or empty)
/// becomes all zeros and the function returns `false` ("nothing to attend to"), never NaN.
pub fn softmax_row(backend: Backend, row: &mut [f32]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if backend == Backend::Avx2 && backend.is_supported() {
        // SAFETY: AVX2+FMA detected; the kernel only touches `row`.
        let [sums] = unsafe { x86::softmax_rows_avx2::<1, false>([row]) };
        return sums.is_some();
    }
    softmax_row_sums(backend, row).is_some()
}

/// [`softmax_row`] of two rows at once (whether each had anything to attend to): the same
/// weights as two calls, the rows interleaved where they have one length (see
/// [`softmax_row_sums2`]), without forming the sums an entropy needs.
pub fn softmax_rows2(backend: Backend, a: &mut [f32], b: &mut [f32]) -> [bool; 2] {
    #[cfg(target_arch = "x86_64")]
    if backend == Backend::Avx2 && backend.is_supported() && a.len() == b.len() {
        // SAFETY: AVX2 and FMA detected; the rows have one length; the kernel only touches
        // them.
        return unsafe { x86::softmax_rows_avx2::<2, false>([a, b]) }.map(|s| s.is_some());
    }
    softmax_row_sums2(backend, a, b).map(|s| s.is_some())
}

/// The sums a softmax row forms on the way, which give its entropy without a logarithm per
/// weight: Z = Σ eⱼ and Σ eⱼ·(xⱼ − max), where eⱼ = exp(xⱼ − max).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftmaxSums {
    /// Z = Σ eⱼ (at least 1: the maximum's e is 1).
    pub z: f32,
    /// Σ eⱼ·(xⱼ − max) over the keys with eⱼ > 0 (at most 0).
    pub shifted: f32,
}

impl SoftmaxSums {
    /// The entropy −Σ pⱼ ln pⱼ of the row in nats: with ln pⱼ = (xⱼ − max) − ln Z it is
    /// ln Z − Σ eⱼ·(xⱼ − max) / Z, a sum of two terms ≥ 0 (no cancellation).
    pub fn entropy(&self) -> f32 {
        (crate::core::trace::ln_f32(self.z) - self.shifted / self.z).max(0.0)
    }
}

/// [`softmax_row`] that also returns its [`SoftmaxSums`] (None for a row with nothing to
/// attend to). The same weights, bit for bit.
pub fn softmax_row_sums(backend: Backend, row: &mut [f32]) -> Option<SoftmaxSums> {
    match backend {
        Backend::Scalar => scalar::softmax_row(row),
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2 if backend.is_supported() => {
            // SAFETY: AVX2+FMA detected; the kernel only touches `row`.
            unsafe { x86::softmax_row_avx2(row) }
        }
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512 if backend.is_supported() => {
            // SAFETY: AVX-512F detected; the kernel only touches `row` (masked tails).
            unsafe { x86::softmax_row_avx512(row) }
        }
        _ => portable::softmax_row(row),
    }
}

/// [`softmax_row_sums`] of two rows at once: the same results as two calls. Rows of one
/// length run interleaved on AVX-512 and AVX2, so that the dependent steps of one short row
/// (its running sums, the reductions, 1/Σ) overlap with the other's.
pub fn softmax_row_sums2(
    backend: Backend,
    a: &mut [f32],
    b: &mut [f32],
) -> [Option<SoftmaxSums>; 2] {
    #[cfg(target_arch = "x86_64")]
    if backend == Backend::Avx512 && backend.is_supported() && a.len() == b.len() {
        // SAFETY: AVX-512F detected; the rows have one length; the kernel only touches them.
        return unsafe { x86::softmax_rows_avx512([a, b]) };
    }
    #[cfg(target_arch = "x86_64")]
    if backend == Backend::Avx2 && backend.is_supported() && a.len() == b.len() {
        // SAFETY: AVX2 and FMA detected; as above.
        return unsafe { x86::softmax_rows_avx2::<2, true>([a, b]) };
    }
    [softmax_row_sums(backend, a), softmax_row_sums(backend, b)]
}

/// A row stride (in floats) of at least `n` for a matrix the register tiles read row after
/// row, as the score product reads Kᵀ: a whole and odd number of 64-byte lines, so that 64
/// consecutive rows start in 64 different L1 sets. At a stride of a power of two (Kᵀ of 512
/// or 2,048 keys: 2 or 8 KiB) every row of a tile's 64-column block falls into the same few
/// sets, the block (16 KiB) evicts itself, and each k step waits on L2: on an Intel Xeon
/// (48 KiB, 12-way L1) the 2,048-key attention ran at 62% of sgemm.
pub fn spread_ld(n: usize) -> usize {
    (n.div_ceil(16) | 1) * 16
}

/// A row-major `rows × cols` matrix transposed into a new `cols × rows` one at row stride
/// [`spread_ld`]`(rows)`: how the score products lay out Kᵀ (padding zeros).
pub fn transposed_spread(src: &[f32], rows: usize, cols: usize) -> AlignedVec {
    let ld = spread_ld(rows);
    let mut out = AlignedVec::zeros(cols * ld);
    transpose(src, rows, cols, &mut out, ld);
    out
}

/// Transposes a row-major `rows × cols` matrix into `out` (`cols × rows` at row stride `ld`,
/// at least `rows`; the padding between rows is left as it is).
pub fn transpose(src: &[f32], rows: usize, cols: usize, out: &mut [f32], ld: usize) {
    assert!(src.len() >= rows * cols && ld >= rows);
    assert!(cols == 0 || out.len() >= (cols - 1) * ld + rows);
    // Tiles of 16×16 keep both sides in cache for large matrices; whole ones go through
    // registers on AVX-512 and, as four 8×8 blocks, on AVX2 (a key head's transpose was
    // 13–14% of a 128-key materialised attention one element at a time).
    const T: usize = 16;
    #[cfg(target_arch = "x86_64")]
    let (avx512, avx2) = (Backend::Avx512.is_supported(), Backend::Avx2.is_supported());
    #[cfg(not(target_arch = "x86_64"))]
    let (avx512, avx2) = (false, false);
    for i0 in (0..rows).step_by(T) {
        for j0 in (0..cols).step_by(T) {
            if (avx512 || avx2) && i0 + T <= rows && j0 + T <= cols {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: AVX-512F (or AVX2) was detected; rows i0..i0 + 16 and columns
                // j0..j0 + 16 are in `src` (rows × cols), and their transposes in `out` (the
                // asserts).
                unsafe {
                    let (s, o) = (
                        src.as_ptr().add(i0 * cols + j0),
                        out.as_mut_ptr().add(j0 * ld + i0),
                    );
                    if avx512 {
                        x86::transpose16_avx512(s, cols, o, ld);
                    } else {
                        for (di, dj) in [(0, 0), (0, 8), (8, 0), (8, 8)] {
                            x86::transpose8_avx2(
                                s.add(di * cols + dj),
                                cols,
                                o.add(dj * ld + di),
                                ld,
                            );
                        }
                    }
                }
                continue;
            }
            for i in i0..(i0 + T).min(rows) {
                for j in j0..(j0 + T).min(cols) {
                    out[j * ld + i] = src[i * cols + j];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
