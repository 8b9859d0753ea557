//! A layer's weights laid out once, at load, for the register tiles: B (k × n) cut into
//! panels as wide as the tile (64 columns for AVX-512, 16 for AVX2), each k × width and
//! contiguous. The tiles walk B's column blocks one after another and read each block's k
//! rows in order; in a row-major weight matrix those rows are 1.5–6 KiB apart, a new page
//! every row or three, which the hardware prefetchers do not follow. In a panel they are
//! one sequential stream. A 128-token SmolLM2-shaped forward on the Zen 4 (2 threads,
//! AVX-512) went from 180 to 160 ms, 512 tokens from 730 to 700 ms.

use std::mem::MaybeUninit;

use super::{AlignedVec, Backend, fits};

/// Columns per panel for `backend`'s tile: 64 (4 vectors of 16) for AVX-512, 16 (2 vectors
/// of 8) for AVX2, 64 for the others (which read panels only in tests). An AVX2 tile on
/// 64-wide panels read its 16-column strip's rows 256 bytes apart: a k block of 128 rows
/// fell into a quarter of L1's sets and evicted itself and A. On 16-wide panels the strip is
/// one contiguous run; one core of a Zen 3, best of three alternating runs at the 20 model
/// shapes: 76–90 → 85–94 GFLOP/s (the `gemm` crate 81–97 in the same runs).
pub fn panel_width(backend: Backend) -> usize {
    match backend {
        Backend::Avx2 => super::AVX2_STRIP,
        _ => 64,
    }
}

/// A k × n matrix as ⌈n / w⌉ panels of k × w (row stride w, the panel width), the last one
/// padded with zeros. Every product on it ([`gemm_panels`]) gives the same bits as [`super::gemm`] on the
/// row-major matrix: each element is the same sum in the same order.
#[derive(Clone, Debug)]
pub struct PackedB {
    k: usize,
    n: usize,
    /// Columns per panel ([`panel_width`]).
    width: usize,
    /// On a 64-byte boundary, so that the panels' rows (whole multiples of 16 floats) are
    /// whole cache lines.
    data: AlignedVec,
}

impl PackedB {
    /// The first panel's values (k × width), or nothing for an empty matrix.
    pub fn first_panel(&self) -> &[f32] {
        self.panels().next().map_or(&[], |p| p.2)
    }

    /// Lays out B (k × n at row stride `ldb`) for `backend`'s tiles.
    ///
    /// # Panics
    /// If `b` is too short for k × n at `ldb` (a programming error: callers build shapes).
    pub fn new(backend: Backend, k: usize, n: usize, b: &[f32], ldb: usize) -> PackedB {
        assert!(fits(b.len(), k, n, ldb), "PackedB: B too short for {k}×{n}");
        let width = panel_width(backend);
        let mut data = AlignedVec::zeros(n.div_ceil(width) * k * width);
        if k > 0 {
            for (i, panel) in data.chunks_exact_mut(k * width).enumerate() {
                let j0 = i * width;
                let w = width.min(n - j0);
                for (p, row) in panel.chunks_exact_mut(width).enumerate() {
                    row[..w].copy_from_slice(&b[p * ldb + j0..p * ldb + j0 + w]);
                }
            }
        }
        PackedB { k, n, width, data }
    }

    /// Aᵀ laid out for `backend`'s tiles, for A a row-major `rows × cols` matrix: B = Aᵀ is
    /// `cols × rows`, cut into panels of `width` of A's rows. How the score products take K
    /// (n_k × d): each panel of Kᵀ is d × width and contiguous, where the row-major Kᵀ had a
    /// page per row of a panel at 1,024 keys and more (the 4 KiB pages of a 64 × 64 block no
    /// longer fit the TLB).
    ///
    /// # Panics
    /// If `a` is too short for `rows × cols`.
    pub fn transposed(backend: Backend, a: &[f32], rows: usize, cols: usize) -> PackedB {
        assert!(
            a.len() >= rows * cols,
            "PackedB::transposed: A too short for {rows}×{cols}"
        );
        let width = panel_width(backend);
        let mut data = AlignedVec::zeros(rows.div_ceil(width) * cols * width);
        if cols > 0 {
            for (i, panel) in data.chunks_exact_mut(cols * width).enumerate() {
                let r0 = i * width;
                let w = width.min(rows - r0);
                super::transpose(&a[r0 * cols..(r0 + w) * cols], w, cols, panel, width);
            }
        }
        PackedB {
            k: cols,
            n: rows,
            width,
            data,
        }
    }

    /// Rows of B (the shared dimension of a product).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns of B.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Columns per panel, and so the row stride of every panel's values.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The panels in column order: first column, columns used (≤ the panel width) and the
    /// k × width values.
    pub fn panels(&self) -> impl Iterator<Item = (usize, usize, &[f32])> {
        let (k, n, width) = (self.k, self.n, self.width);
        (0..n.div_ceil(width)).map(move |i| {
            let j0 = i * width;
            (
                j0,
                width.min(n - j0),
                &self.data[i * k * width..(i + 1) * k * width],
            )
        })
    }

    /// Element (p, j) of B.
    pub fn get(&self, p: usize, j: usize) -> f32 {
        assert!(
            p < self.k && j < self.n,
            "PackedB::get: ({p}, {j}) outside {}×{}",
            self.k,
            self.n
        );
        let width = self.width;
        self.data[(j / width) * self.k * width + p * width + j % width]
    }
}

/// A head's V (n_k × d, row-major) laid out in panels for the context product P·V, where
/// that pays on `backend`; None where the row-major V serves. It pays where the tile is
/// narrower than d: a strip of the row-major V has its rows d apart (256 bytes on AVX2 at
/// d = 64), and a k block of them falls into a fraction of L1's sets. One core of a Zen 3,
/// best of six noisy runs: P·V over 512 keys 60 → 66 GFLOP/s, over 2,048 keys 58 → 65.
///
/// # Panics
/// If `v` is too short for n_k × d.
pub fn values_in_panels(backend: Backend, v: &[f32], n_k: usize, d: usize) -> Option<PackedB> {
    let pays = matches!(backend, Backend::Avx2 | Backend::Avx512) && d > panel_width(backend);
    pays.then(|| PackedB::new(backend, n_k, d, v, d))
}

/// C (m × `cols` at `ldc`) = α · A · B[keys, ..cols] on one thread, for A m × |keys| at
/// `lda`: the product over a span of B's rows and its first columns. The scores of a block
/// of queries against Kᵀ in panels (all of d, the keys it sees), or its context rows over V
/// in panels (the keys it sees, all of d). The same bits as [`super::gemm`] on the
/// row-major B. On AVX2, one call runs every 16-wide panel (one call per panel was a
/// twelfth of a 30 × 16 × 64 product's time); elsewhere [`super::gemm`] runs panel after
/// panel.
///
/// # Panics
/// If `keys` is outside B's rows or `cols` past its columns, or A or C is too short for
/// its shape.
#[allow(clippy::too_many_arguments)]
pub fn gemm_on_panels(
    backend: Backend,
    m: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &PackedB,
    keys: std::ops::Range<usize>,
    cols: usize,
    c: &mut [f32],
    ldc: usize,
) {
    assert!(
        keys.start <= keys.end && keys.end <= b.k && cols <= b.n,
        "gemm_on_panels: rows {keys:?} and {cols} columns of {}×{}",
        b.k,
        b.n
    );
    let (width, depth) = (b.width, keys.len());
    assert!(
        fits(a.len(), m, depth, lda),
        "gemm_on_panels: A too short for {m}×{depth}"
    );
    assert!(
        fits(c.len(), m, cols, ldc),
        "gemm_on_panels: C too short for {m}×{cols}"
    );
    if m == 0 || cols == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if backend == Backend::Avx2 && backend.is_supported() && width == super::AVX2_STRIP {
        // SAFETY: AVX2 and FMA detected. Strip j of the call is panel j, which starts
        // k·width values after panel j − 1; its rows keys.start.. are `width` apart from
        // keys.start·width on, inside the panel (keys.end ≤ k), and the last strip
        // (cols ≤ n) is a panel of the matrix. A and C fit m × depth and m × cols
        // (asserted).
        unsafe {
            super::x86::gemm_avx2(
                m,
                cols,
                depth,
                alpha,
                (a, lda, false),
                (&b.data[keys.start * width..], width, b.k * width),
                c.as_mut_ptr(),
                ldc,
                &[],
                super::Addend::default(),
            )
        };
        return;
    }
    for (j0, w, panel) in b.panels().take_while(|p| p.0 < cols) {
        let w = w.min(cols - j0);
        let rows = &panel[keys.start * width..];
        super::gemm(
            backend,
            m,
            w,
            depth,
            alpha,
            a,
            lda,
            rows,
            width,
            &mut c[j0..],
            ldc,
        );
    }
}

/// Columns of B from which [`gemm_panels_uninit`] packs A for the AVX2 tiles.
const PACK_A_COLUMNS: usize = 256;

thread_local! {
    /// A worker's packed rows of A (`kernels::pack_a`), reused from product to product.
    static PACKED_A: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// C = α·A·B for a laid-out B (A is m × k at `lda`, C is m × n at `ldc`), C's rows split
/// over `threads` rayon threads in blocks as [`super::gemm_rows`] splits them, each block
/// running [`super::gemm`] on `backend` panel after panel. Each panel's product asks the
/// cache for the next panel meanwhile ([`super::gemm_ahead`]), and the last panel's for
/// `then`: the first panel of the product the caller runs next, or empty.
///
/// # Panics
/// If A or C is too short for its shape.
#[allow(clippy::too_many_arguments)]
pub fn gemm_panels(
    backend: Backend,
    threads: usize,
    m: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &PackedB,
    c: &mut [f32],
    ldc: usize,
    then: &[f32],
) {
    // SAFETY: `MaybeUninit<f32>` has f32's layout, and the product writes only f32 values
    // into C, so C stays initialised.
    let c = unsafe { &mut *(std::ptr::from_mut(c) as *mut [MaybeUninit<f32>]) };
    let none = super::Addend::default();
    gemm_panels_uninit(backend, threads, m, alpha, a, lda, b, c, ldc, then, none);
}

/// [`gemm_panels`] into C that may be uninitialised, plus `add`: a bias row (n values, or
/// empty for none) on every row, then a matrix of C's shape (a residual sum), if any. Every
/// element of C's m × n (at row stride `ldc`) is written, nothing else, so a layer's output
/// needs no zeroing first and no second pass for its bias (on an Intel Xeon, 2% and 1.6% of
/// a 128-token MiniLM forward) or its residual. The same bits as [`gemm_panels`] followed
/// by adding the bias, then the matrix.
///
/// # Panics
/// If A or C is too short for its shape, or `add` does not fit (see [`super::Addend`]).
#[allow(clippy::too_many_arguments)]
pub fn gemm_panels_uninit(
    backend: Backend,
    threads: usize,
    m: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &PackedB,
    c: &mut [MaybeUninit<f32>],
    ldc: usize,
    then: &[f32],
    add: super::Addend<'_>,
) {
    let (n, k) = (b.n, b.k);
    add.check("gemm_panels", m, n);
    assert!(
        fits(a.len(), m, k, lda),
        "gemm_panels: A too short for {m}×{k}"
    );
    assert!(
        fits(c.len(), m, n, ldc),
        "gemm_panels: C too short for {m}×{n}"
    );
    if m == 0 || n == 0 {
        return;
    }
    // Packing A pays back over many panels. One core of a Zen 3, 128 or 512 rows, best of
    // three alternating runs, on 16-wide panels: 384 to 2,048 columns 84–91 → 85–94 GFLOP/s
    // packed, 192 columns level (90–91 either way).
    let packs = super::packs_a(backend) && n >= PACK_A_COLUMNS;
    super::split_rows(threads, m, c, ldc, |i0, rows, c| {
        let panels: Vec<_> = b.panels().collect();
        let mut each_panel = |a: super::Lhs<'_>| {
            for (i, &(j0, w, panel)) in panels.iter().enumerate() {
                let next = panels.get(i + 1).map_or(then, |p| p.2);
                super::gemm_ahead(
                    backend,
                    rows,
                    w,
                    k,
                    alpha,
                    a,
                    panel,
                    b.width,
                    &mut c[j0..],
                    ldc,
                    next,
                    add.from(i0, j0, w),
                );
            }
        };
        if packs {
            // The AVX2 tiles read this block's rows of A packed, once for every panel.
            PACKED_A.with_borrow_mut(|packed| {
                packed.resize(rows * k, 0.0);
                super::pack_a(&a[i0 * lda..], lda, rows, k, packed);
                each_panel(super::Lhs::Packed(packed));
            });
        } else {
            each_panel(super::Lhs::Rows(&a[i0 * lda..], lda));
        }
    });
}
