//! Pooled overviews of big attention matrices: an n_q × n_k matrix shrunk to at most
//! `side × side` cells, each the maximum (or mean) of the block of cells it covers, so a
//! thin diagonal or a stripe one key wide stays visible at any length (nearest-neighbour
//! sampling would drop it). Built row by row while a head is computed, so the full matrix
//! never has to exist.
//!
//! Bins: row i falls in bin ⌊i·r / n_q⌋ of r = min(n_q, side) bins, column j in
//! ⌊j·c / n_k⌋ of c = min(n_k, side); `tools/make_pool_fixtures.py` pools the same way in
//! NumPy.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

/// The largest overview side the app keeps per head.
pub const OVERVIEW_SIDE: usize = 256;

/// How a block of cells becomes one overview cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoolMethod {
    /// The largest value of the block (keeps thin structure visible).
    Max,
    /// The mean of the block (keeps mass: a row of the overview still sums to ~1/bin).
    Mean,
}

impl PoolMethod {
    /// "max" / "mean", as legends say it.
    pub fn name(self) -> &'static str {
        match self {
            PoolMethod::Max => "max",
            PoolMethod::Mean => "mean",
        }
    }
}

/// A pooled matrix and what it was pooled from.
#[derive(Clone, Debug, PartialEq)]
pub struct Pooled {
    /// Rows of the full matrix.
    pub n_q: usize,
    /// Columns of the full matrix.
    pub n_k: usize,
    /// How cells were combined.
    pub method: PoolMethod,
    /// The overview (min(n_q, side) × min(n_k, side)).
    pub values: Array2<f32>,
}

impl Pooled {
    /// Whether every overview cell is exactly one cell of the full matrix.
    pub fn is_exact(&self) -> bool {
        self.values.dim() == (self.n_q, self.n_k)
    }

    /// How it was pooled: "max-pooled 8192×8192 → 256×256" (or "exact 12×12").
    pub fn describe(&self) -> Pooling {
        Pooling {
            from: (self.n_q, self.n_k),
            to: self.values.dim(),
            method: self.method,
        }
    }
}

/// How an overview was pooled from its matrix; displayed as "max-pooled 8192×8192 →
/// 256×256", or "exact 12×12" when every cell is one of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pooling {
    /// The matrix (rows, columns).
    pub from: (usize, usize),
    /// The overview (rows, columns).
    pub to: (usize, usize),
    /// How cells were combined.
    pub method: PoolMethod,
}

impl Pooling {
    /// Whether every overview cell is one cell of the matrix.
    pub fn is_exact(&self) -> bool {
        self.from == self.to
    }
}

impl std::fmt::Display for Pooling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ((n_q, n_k), (r, c)) = (self.from, self.to);
        if self.is_exact() {
            write!(f, "exact {n_q}×{n_k}")
        } else {
            write!(f, "{}-pooled {n_q}×{n_k} → {r}×{c}", self.method.name())
        }
    }
}

/// What pooling an `n_q × n_k` matrix to at most `side × side` cells gives, without pooling.
pub fn describe_pooling(n_q: usize, n_k: usize, side: usize, method: PoolMethod) -> Pooling {
    Pooling {
        from: (n_q, n_k),
        to: (n_q.min(side), n_k.min(side)),
        method,
    }
}

/// Column bins of a row of `n_k` cells into `c` bins: `(first column, end)` per bin.
fn col_bins(n_k: usize, c: usize) -> Vec<(usize, usize)> {
    // Column j is in bin ⌊j·c/n_k⌋, so bin b starts at the first j with j·c ≥ b·n_k.
    let start = |b: usize| (b * n_k).div_ceil(c.max(1));
    (0..c).map(|b| (start(b), start(b + 1))).collect()
}

/// Eight running maxima, so the loop vectorises (`v > m` keeps m on NaN, as a max should).
#[inline(always)]
fn max_of_plain(x: &[f32]) -> f32 {
    const L: usize = 8;
    let mut m = [f32::NEG_INFINITY; L];
    let chunks = x.chunks_exact(L);
    let tail = chunks.remainder();
    for c in chunks {
        for k in 0..L {
            m[k] = if c[k] > m[k] { c[k] } else { m[k] };
        }
    }
    for (k, &v) in tail.iter().enumerate() {
        m[k] = if v > m[k] { v } else { m[k] };
    }
    m.into_iter()
        .fold(f32::NEG_INFINITY, |a, b| if b > a { b } else { a })
}

/// Max-pools a row into bins of exactly `W` columns each, `out[b]` covering columns
/// `[W·b, W·(b + 1))`; the cells after the row count as 0 (as in [`PoolBuilder::add_row`]).
#[inline(always)]
fn max_into_bins<const W: usize>(out: &mut [f32], row: &[f32]) {
    let chunks = row.chunks_exact(W);
    let tail = chunks.remainder();
    let full = chunks.len();
    for (cell, c) in out.iter_mut().zip(chunks) {
        let mut m = *cell;
        for &v in c {
            m = if v > m { v } else { m };
        }
        *cell = m;
    }
    if full < out.len() {
        // A partly seen bin, then the bins the row does not reach.
        let mut m = out[full].max(0.0);
        for &v in tail {
            m = if v > m { v } else { m };
        }
        out[full] = m;
        for cell in &mut out[full + 1..] {
            *cell = cell.max(0.0);
        }
    }
}

/// Bins up to this many columns wide are pooled cell by cell.
const NARROW: usize = 4;

/// Builds a [`Pooled`] overview from rows given in order, one at a time.
#[derive(Clone, Debug)]
pub struct PoolBuilder {
    n_q: usize,
    n_k: usize,
    method: PoolMethod,
    bins: Vec<(usize, usize)>,
    /// Column j's bin, when bins are at most [`NARROW`] columns wide (then a row is pooled
    /// cell by cell instead of bin by bin).
    col_bin: Option<Vec<u32>>,
    acc: Array2<f32>,
    /// Rows seen per row bin (for the mean).
    rows_in_bin: Vec<u32>,
    /// Max pooling into one cell per cell (n_q, n_k ≤ side): each row is copied, its
    /// non-finite cells as 0, into an overview that starts at 0 (what pooling from −∞ and
    /// then zeroing the non-finite cells gives, in one pass instead of three).
    exact: bool,
}

impl PoolBuilder {
    /// An overview of an `n_q × n_k` matrix of at most `side × side` cells.
    pub fn new(n_q: usize, n_k: usize, side: usize, method: PoolMethod) -> PoolBuilder {
        let (r, c) = (n_q.min(side), n_k.min(side));
        let init = match method {
            PoolMethod::Max => f32::NEG_INFINITY,
            PoolMethod::Mean => 0.0,
        };
        let exact = method == PoolMethod::Max && (r, c) == (n_q, n_k);
        let bins = col_bins(n_k, c);
        let col_bin = (n_k <= NARROW * c).then(|| {
            let mut m = vec![0u32; n_k];
            for (b, &(c0, c1)) in bins.iter().enumerate() {
                m[c0..c1].fill(b as u32);
            }
            m
        });
        PoolBuilder {
            n_q,
            n_k,
            method,
            bins,
            col_bin,
            acc: if exact {
                Array2::zeros((r, c))
            } else {
                Array2::from_elem((r, c), init)
            },
            rows_in_bin: vec![0; r],
            exact,
        }
    }

    /// Adds row `i` (its first `row.len()` cells; the cells after them count as 0, as the
    /// keys a causal row cannot see).
    pub fn add_row(&mut self, i: usize, row: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 support was checked just above.
            unsafe { self.add_row_avx2(i, row) };
            return;
        }
        self.add_row_plain(i, row);
    }

    /// [`PoolBuilder::add_row_plain`] compiled for AVX2 (same operations, same results).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn add_row_avx2(&mut self, i: usize, row: &[f32]) {
        self.add_row_plain(i, row);
    }

    #[inline(always)]
    fn add_row_plain(&mut self, i: usize, row: &[f32]) {
        let r = self.acc.nrows();
        if i >= self.n_q || r == 0 {
            return;
        }
        let bin = i * r / self.n_q;
        self.rows_in_bin[bin] += 1;
        let mut out = self.acc.row_mut(bin);
        if self.exact {
            let out = out.as_slice_mut().expect("owned rows are contiguous");
            let seen = row.len().min(out.len());
            for (cell, &v) in out.iter_mut().zip(&row[..seen]) {
                *cell = if v.is_finite() { v } else { 0.0 };
            }
            out[seen..].fill(0.0);
            return;
        }
        if let (Some(col_bin), PoolMethod::Max) = (&self.col_bin, self.method) {
            let out = out.as_slice_mut().expect("owned rows are contiguous");
            let row = &row[..row.len().min(col_bin.len())];
            // Bins of one width (n_k = w·c, as at 128 or 512 keys): chunk by chunk, which
            // vectorises; a scatter into the bins waits on its own stores.
            if self.n_k.is_multiple_of(out.len().max(1)) {
                match self.n_k / out.len().max(1) {
                    1 => return max_into_bins::<1>(out, row),
                    2 => return max_into_bins::<2>(out, row),
                    3 => return max_into_bins::<3>(out, row),
                    4 => return max_into_bins::<4>(out, row),
                    _ => {}
                }
            }
            for (&v, &b) in row.iter().zip(col_bin) {
                let cell = &mut out[b as usize];
                *cell = if v > *cell { v } else { *cell };
            }
            // The cells after the row count as 0.
            if row.len() < col_bin.len() {
                let first = col_bin[row.len()] as usize;
                for cell in &mut out[first..] {
                    *cell = cell.max(0.0);
                }
            }
            return;
        }
        for (cell, &(c0, c1)) in out.iter_mut().zip(&self.bins) {
            let seen = &row[c0.min(row.len())..c1.min(row.len())];
            let short = seen.len() < c1 - c0;
            match self.method {
                PoolMethod::Max => {
                    let mut m = max_of_plain(seen);
                    if short {
                        m = m.max(0.0);
                    }
                    *cell = cell.max(m);
                }
                PoolMethod::Mean => *cell += seen.iter().sum::<f32>(),
            }
        }
    }

    /// The overview (bins no row reached stay 0).
    pub fn finish(mut self) -> Pooled {
        match self.method {
            PoolMethod::Max if self.exact => {}
            PoolMethod::Max => self
                .acc
                .mapv_inplace(|v| if v.is_finite() { v } else { 0.0 }),
            PoolMethod::Mean => {
                for (b, mut row) in self.acc.rows_mut().into_iter().enumerate() {
                    let rows = self.rows_in_bin[b].max(1) as f32;
                    for (cell, &(c0, c1)) in row.iter_mut().zip(&self.bins) {
                        *cell /= rows * (c1 - c0).max(1) as f32;
                    }
                }
            }
        }
        Pooled {
            n_q: self.n_q,
            n_k: self.n_k,
            method: self.method,
            values: self.acc,
        }
    }
}

/// The overview of a whole matrix (−∞ cells, masked scores, count as −∞ for max and are
/// not expected in mean pooling: pool probabilities).
pub fn pool(m: ArrayView2<f32>, side: usize, method: PoolMethod) -> Pooled {
    let (n_q, n_k) = m.dim();
    let mut b = PoolBuilder::new(n_q, n_k, side, method);
    let m = m.as_standard_layout();
    for (i, row) in m.rows().into_iter().enumerate() {
        b.add_row(i, row.as_slice().expect("standard layout"));
    }
    b.finish()
}

/// The keys each query of a matrix may see, as the model's mask gives them: with `causal`,
/// key j ≤ query i; with a sliding `window` W, j > i − W (a query sees itself and the W − 1
/// keys before it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Band {
    /// Keys after the query are masked.
    pub causal: bool,
    /// Keys W or more before the query are masked.
    pub window: Option<usize>,
}

impl Band {
    /// A causal mask without a window: each query sees itself and the keys before it.
    pub const CAUSAL: Band = Band {
        causal: true,
        window: None,
    };

    /// Whether query i sees key j.
    pub fn allows(self, i: usize, j: usize) -> bool {
        self.sees_any((i, i + 1), (j, j + 1))
    }

    /// Which cells of an `n_q × n_k` matrix are visible; `None` when all are.
    pub fn cells(self, n_q: usize, n_k: usize) -> Option<Array2<bool>> {
        let cells = Array2::from_shape_fn((n_q, n_k), |(i, j)| self.allows(i, j));
        cells.iter().any(|&a| !a).then_some(cells)
    }

    /// Whether some cell (i, j) with i in `rows` and j in `cols` (both non-empty) is visible.
    /// i − j takes every value from rows.start − (cols.end − 1) to (rows.end − 1) − cols.start
    /// over the block, and a cell is visible when i − j ≥ 0 (causal) and i − j < W.
    fn sees_any(self, rows: (usize, usize), cols: (usize, usize)) -> bool {
        let lowest = rows.0 as i128 - (cols.1 as i128 - 1);
        let highest = (rows.1 as i128 - 1) - cols.0 as i128;
        let from = if self.causal { lowest.max(0) } else { lowest };
        let to = self.window.map_or(highest, |w| highest.min(w as i128 - 1));
        from <= to
    }
}

impl Pooled {
    /// Sets to −∞ every overview cell whose cells of the full matrix are all masked by
    /// `band`, so that it is drawn as masked (grey), not as weight 0. A cell pooled from any
    /// visible cell keeps its value.
    pub fn mask_outside(&mut self, band: Band) {
        if band == Band::default() {
            return;
        }
        let (r, c) = self.values.dim();
        let (rows, cols) = (col_bins(self.n_q, r), col_bins(self.n_k, c));
        for ((a, b), v) in self.values.indexed_iter_mut() {
            if !band.sees_any(rows[a], cols[b]) {
                *v = f32::NEG_INFINITY;
            }
        }
    }
}

/// Per-row normalisation of an overview for display: each row divided by its maximum
/// (rows of zeros stay zero), so a diffuse row's shape is as visible as a sharp one's.
pub fn row_normalised(values: &Array2<f32>) -> Array2<f32> {
    let mut out = values.clone();
    for mut row in out.rows_mut() {
        let m = row.iter().copied().fold(0.0f32, f32::max);
        if m > 0.0 {
            row.mapv_inplace(|v| v / m);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: &Array2<f32>, side: usize, method: PoolMethod) -> Array2<f32> {
        let (n, k) = m.dim();
        let (r, c) = (n.min(side), k.min(side));
        let mut out = Array2::zeros((r, c));
        let mut cnt = Array2::<f32>::zeros((r, c));
        let mut mx = Array2::from_elem((r, c), f32::NEG_INFINITY);
        for ((i, j), &v) in m.indexed_iter() {
            let (a, b) = (i * r / n, j * c / k);
            out[[a, b]] += v;
            cnt[[a, b]] += 1.0;
            mx[[a, b]] = f32::max(mx[[a, b]], v);
        }
        match method {
            PoolMethod::Max => mx,
            PoolMethod::Mean => out / cnt,
        }
    }

    #[test]
    fn pooling_matches_the_definition_at_awkward_sizes() {
        for (n, k) in [
            (1, 1),
            (3, 7),
            (256, 256),
            (257, 255),
            (600, 513),
            (1000, 3),
        ] {
            let m = Array2::from_shape_fn((n, k), |(i, j)| ((i * 31 + j * 17) % 101) as f32);
            for method in [PoolMethod::Max, PoolMethod::Mean] {
                let got = pool(m.view(), 256, method);
                let want = naive(&m, 256, method);
                assert_eq!(got.values.dim(), want.dim(), "{n}×{k}");
                for (a, b) in got.values.iter().zip(&want) {
                    assert!(
                        (a - b).abs() <= 1e-3 * b.abs().max(1.0),
                        "{n}×{k} {method:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn short_rows_pool_as_rows_padded_with_zeros_at_every_bin_width() {
        // Key counts whose bins are 1, 2, 3 or 4 columns wide (the chunked path), one whose
        // bins differ in width, and rows that stop anywhere, mid-bin included (causal rows).
        for n_k in [200, 512, 768, 1024, 700] {
            let n_q = 300;
            let len = |i: usize| (i * 7 + 1) % (n_k + 1);
            let full = Array2::from_shape_fn((n_q, n_k), |(i, j)| {
                if j < len(i) {
                    ((i * 13 + j * 29) % 97) as f32 / 97.0 - 0.25
                } else {
                    0.0
                }
            });
            let mut b = PoolBuilder::new(n_q, n_k, 256, PoolMethod::Max);
            for i in 0..n_q {
                b.add_row(i, &full.row(i).as_slice().unwrap()[..len(i)]);
            }
            let got = b.finish();
            assert_eq!(got.values, naive(&full, 256, PoolMethod::Max), "{n_k} keys");
        }
    }

    #[test]
    fn an_exact_overview_is_the_matrix_with_its_non_finite_cells_as_zero() {
        // One cell per cell: negative, NaN and ±∞ cells, short rows and a row never given.
        let (n_q, n_k) = (9, 13);
        let cell = |i: usize, j: usize| match (i * 5 + j * 3) % 11 {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => f32::NEG_INFINITY,
            v => v as f32 / 4.0 - 1.0,
        };
        let len = |i: usize| (i * 4) % (n_k + 1);
        let mut b = PoolBuilder::new(n_q, n_k, 256, PoolMethod::Max);
        for i in (0..n_q).filter(|&i| i != 4) {
            let row: Vec<f32> = (0..len(i)).map(|j| cell(i, j)).collect();
            b.add_row(i, &row);
        }
        let got = b.finish();
        assert!(got.is_exact());
        for ((i, j), &v) in got.values.indexed_iter() {
            let want = if i == 4 || j >= len(i) || !cell(i, j).is_finite() {
                0.0
            } else {
                cell(i, j)
            };
            assert_eq!(v.to_bits(), want.to_bits(), "({i}, {j})");
        }
    }

    #[test]
    fn a_one_cell_diagonal_survives_max_pooling() {
        let n = 4096;
        let m = Array2::from_shape_fn((n, n), |(i, j)| if j + 1 == i { 1.0 } else { 0.0 });
        let p = pool(m.view(), 256, PoolMethod::Max);
        assert!(!p.is_exact());
        assert_eq!(p.describe().to_string(), "max-pooled 4096×4096 → 256×256");
        for b in 1..256 {
            assert_eq!(p.values[[b, b]], 1.0, "bin {b}");
        }
        assert_eq!(p.values[[0, 200]], 0.0);
    }

    #[test]
    fn short_rows_count_their_missing_cells_as_zero() {
        let mut b = PoolBuilder::new(2, 8, 4, PoolMethod::Mean);
        b.add_row(0, &[1.0, 1.0]);
        b.add_row(1, &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        let p = b.finish();
        assert_eq!(p.values.row(0).to_vec(), vec![1.0, 0.0, 0.0, 0.0]);
        assert_eq!(p.values.row(1).to_vec(), vec![1.0, 1.0, 1.0, 1.0]);
        let mut b = PoolBuilder::new(1, 8, 4, PoolMethod::Max);
        b.add_row(0, &[-1.0]);
        assert_eq!(b.finish().values.row(0).to_vec(), vec![0.0, 0.0, 0.0, 0.0]);
    }

    /// An overview cell is masked exactly when every cell it pools is masked: the mask of
    /// the full matrix (causal, a sliding window, both) pooled cell by cell, at sizes that
    /// pool unevenly and exactly, and a window wider than a bin and narrower.
    #[test]
    fn masked_bins_are_those_whose_every_cell_is_masked() {
        for (n_q, n_k, side) in [(9, 9, 16), (300, 300, 64), (1000, 1000, 256), (37, 90, 8)] {
            for band in [
                Band {
                    causal: true,
                    window: None,
                },
                Band {
                    causal: true,
                    window: Some(1),
                },
                Band {
                    causal: true,
                    window: Some(3),
                },
                Band {
                    causal: true,
                    window: Some(50),
                },
                Band {
                    causal: false,
                    window: Some(20),
                },
            ] {
                let visible = |i: usize, j: usize| {
                    (!band.causal || j <= i) && band.window.is_none_or(|w| j + w > i)
                };
                let probs =
                    Array2::from_shape_fn(
                        (n_q, n_k),
                        |(i, j)| {
                            if visible(i, j) { 0.5 } else { 0.0 }
                        },
                    );
                let mut p = pool(probs.view(), side, PoolMethod::Max);
                p.mask_outside(band);
                let (r, c) = p.values.dim();
                let mut any = Array2::from_elem((r, c), false);
                for ((i, j), _) in probs.indexed_iter() {
                    any[[i * r / n_q, j * c / n_k]] |= visible(i, j);
                }
                for ((a, b), &v) in p.values.indexed_iter() {
                    let want = if any[[a, b]] { 0.5 } else { f32::NEG_INFINITY };
                    assert_eq!(v, want, "{n_q}×{n_k} → {side}, {band:?}, bin ({a}, {b})");
                }
            }
        }
    }
}
