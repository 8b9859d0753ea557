//! x86_64 SIMD kernels: AVX2+FMA (8 lanes) and AVX-512F (16 lanes).
//!
//! Legend: `m` = rows of A/C, `n` = columns of B/C, `k` = shared dimension, `R` = rows in a
//! register tile (≤ 6), `NV` = vectors per tile row.
//!
//! GEMM is an outer-product register tile: for each p in 0..k, load NV vectors of B's row p,
//! broadcast A[r, p] for each of the R rows and FMA into R×NV accumulators that never leave
//! registers. No packing is needed because attention feeds it B = Kᵀ (transposed once per
//! head, d × n_k at the row stride `spread_ld` gives, so a 64-column block is 16 KiB and stays
//! in L1) or B = V (n_k × d, contiguous rows). Column tails use masked loads/stores, so every
//! shape is handled in the fast path.
//!
//! Every function here is `unsafe` because it requires a CPU feature; callers check it with
//! `is_x86_feature_detected!` (see `Backend::is_supported`) and the slice bounds.

use super::SoftmaxSums;

use std::arch::x86_64::*;

/// Rows per register tile.
const MR: usize = 6;

/// k cut into blocks of at most `most` rows, as even as they come: (blocks, rows per block,
/// the last block the rows left). At least one block, so an empty k still writes C.
fn k_blocks(k: usize, most: usize) -> (usize, usize) {
    let blocks = k.div_ceil(most).max(1);
    (blocks, k.div_ceil(blocks))
}

/// Tile `tile` of `tiles`' share of `lines` cache lines from `ahead`: its first line and
/// how many, so that the tiles of a product ask for all of them, a few each.
fn ahead_share(ahead: *const i8, lines: usize, tile: usize, tiles: usize) -> (*const i8, usize) {
    if lines == 0 {
        // Nothing to ask for (attention's products): no divisions per tile.
        return (ahead, 0);
    }
    let first = tile * lines / tiles;
    (
        ahead.wrapping_add(first * 64),
        (tile + 1) * lines / tiles - first,
    )
}

// ---------------------------------------------------------------------------------------
// AVX-512
// ---------------------------------------------------------------------------------------

/// One R × (NV·16) tile of C = α·A·B (+ the bias row, when `bias` is not null, then + the
/// tile of the matrix at `res` with row stride `ldr`, when that is not null); the last
/// vector of each row is masked by `last`. A product over a long k runs in k blocks, one call
/// each: a call with `resume` starts from the raw sums C holds, one without `finish` leaves
/// its raw sums there; only the last block scales and adds the bias. Each element is the same
/// chain of FMAs in the same order as one call over all of k, so the bits are the same.
/// `rows_left` is how many rows of B from `b` on exist (where prefetches may point).
///
/// # Safety
/// AVX-512F must be available. For r < R and p < k: `a.add(r*lda + p)` must be readable; for
/// p < k and every unmasked column c: `b.add(p*ldb + c)` readable; `c.add(r*ldc + col)`
/// writable (and readable, with `resume`) and, unless null, `bias.add(col)` and
/// `res.add(r*ldr + col)` readable for every unmasked column.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile512<const R: usize, const NV: usize, const MASKED: bool>(
    k: usize,
    alpha: f32,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    last: __mmask16,
    (prefetch, rows_left): (bool, usize),
    (ahead, ahead_lines): (*const i8, usize),
    (bias, (res, ldr)): (*const f32, (*const f32, usize)),
    (resume, finish): (bool, bool),
) {
    let mut acc = [[_mm512_setzero_ps(); NV]; R];
    if resume {
        // The sums so far over the earlier k blocks, stored unscaled by the previous call.
        for (r, row) in acc.iter_mut().enumerate() {
            for (v, slot) in row.iter_mut().enumerate() {
                // SAFETY: as below; the previous block wrote these elements.
                *slot = unsafe {
                    _mm512_maskz_loadu_ps(
                        if v + 1 == NV { last } else { 0xFFFF },
                        c.add(r * ldc + v * 16),
                    )
                };
            }
        }
    }
    // `ahead_lines` cache lines from `ahead` (the next weight panel) asked into L2 one at a
    // time, spread over the k steps (see `gemm_avx512`).
    let every = k.checked_div(ahead_lines).map_or(usize::MAX, |e| e.max(1));
    let (mut sent, mut due) = (0, 0);
    for p in 0..k {
        if sent < ahead_lines && p == due {
            // A prefetch never faults; wrapping_add keeps the address arithmetic defined.
            _mm_prefetch::<_MM_HINT_T1>(ahead.wrapping_add(sent * 64));
            sent += 1;
            due += every;
        }
        // SAFETY: bounds are the caller's contract; masked lanes are never touched.
        unsafe {
            let brow = b.add(p * ldb);
            // Ask for B's row p + 16 now: a weight panel's rows are 1.5–6 KiB apart, a new
            // page every row or three, and the hardware prefetchers do not cross pages, so
            // the first tile over a panel would wait on memory at most p (a 128-token
            // SmolLM2-shaped forward on the Zen 4: 191–195 → 185–191 ms). Later tiles find
            // the panel in cache and the prefetches cost little. Row p + 16 exists and every
            // vector starts inside it, so the addresses stay in B; a prefetch never faults.
            if prefetch && p + 16 < rows_left {
                let pf = brow.add(16 * ldb);
                for v in 0..NV {
                    _mm_prefetch::<_MM_HINT_T0>(pf.add(v * 16) as *const i8);
                }
            }
            let mut bv = [_mm512_setzero_ps(); NV];
            for (v, slot) in bv.iter_mut().enumerate() {
                // Only a tile whose last vector is partial masks its load: on an Intel
                // Xeon (one core, B in L1) a masked load per k step held the 6 × 64 tile
                // at 131–147 GFLOP/s where plain loads ran at 148–158 (examples/
                // tile_shapes, TILE_FOCUS=1). Every full-width tile is now plain.
                *slot = if MASKED && v + 1 == NV {
                    _mm512_maskz_loadu_ps(last, brow.add(v * 16))
                } else {
                    _mm512_loadu_ps(brow.add(v * 16))
                };
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*a.add(r * lda + p));
                for (slot, bvec) in row.iter_mut().zip(bv) {
                    *slot = _mm512_fmadd_ps(av, bvec, *slot);
                }
            }
        }
    }
    while sent < ahead_lines {
        _mm_prefetch::<_MM_HINT_T1>(ahead.wrapping_add(sent * 64));
        sent += 1;
    }
    if !finish {
        // More k blocks follow: keep the raw sums in C for the next call to resume.
        for (r, row) in acc.iter().enumerate() {
            for (v, &x) in row.iter().enumerate() {
                // SAFETY: as below.
                unsafe {
                    let dst = c.add(r * ldc + v * 16);
                    if v + 1 == NV {
                        _mm512_mask_storeu_ps(dst, last, x);
                    } else {
                        _mm512_storeu_ps(dst, x);
                    }
                }
            }
        }
        return;
    }
    let al = _mm512_set1_ps(alpha);
    // The bias row, added after the scaling: the sums a separate pass over C would make.
    let mut bv = [_mm512_setzero_ps(); NV];
    if !bias.is_null() {
        for (v, slot) in bv.iter_mut().enumerate() {
            // SAFETY: as above; masked lanes are never touched.
            *slot = unsafe {
                _mm512_maskz_loadu_ps(if v + 1 == NV { last } else { 0xFFFF }, bias.add(v * 16))
            };
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, &x) in row.iter().enumerate() {
            // SAFETY: as above.
            unsafe {
                let dst = c.add(r * ldc + v * 16);
                let mut y = _mm512_mul_ps(x, al);
                if !bias.is_null() {
                    y = _mm512_add_ps(y, bv[v]);
                }
                if !res.is_null() {
                    let mask = if v + 1 == NV { last } else { 0xFFFF };
                    y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(mask, res.add(r * ldr + v * 16)));
                }
                if v + 1 == NV {
                    _mm512_mask_storeu_ps(dst, last, y);
                } else {
                    _mm512_storeu_ps(dst, y);
                }
            }
        }
    }
}

/// Picks the monomorphised tile for a runtime (rows, vectors, last vector masked) triple.
macro_rules! dispatch_tile {
    ($tile:ident, $rows:expr, $nv:expr, $masked:expr, ($($arg:expr),*)) => {{
        macro_rules! go {
            ($r:literal, $m:literal) => {
                match $nv {
                    1 => $tile::<$r, 1, $m>($($arg),*),
                    2 => $tile::<$r, 2, $m>($($arg),*),
                    3 => $tile::<$r, 3, $m>($($arg),*),
                    4 => $tile::<$r, 4, $m>($($arg),*),
                    _ => unreachable!("tile width"),
                }
            };
        }
        macro_rules! rows {
            ($m:literal) => {
                match $rows {
                    1 => go!(1, $m),
                    2 => go!(2, $m),
                    3 => go!(3, $m),
                    4 => go!(4, $m),
                    5 => go!(5, $m),
                    6 => go!(6, $m),
                    _ => unreachable!("tile height"),
                }
            };
        }
        if $masked { rows!(true) } else { rows!(false) }
    }};
}

/// C = α·A·B with AVX-512 tiles of 6 × 64.
///
/// `ahead` is memory the next product will read (the next 64-column weight panel), or empty.
/// Its cache lines are asked into L2 a few at a time by every tile of this product. The
/// first tile over a panel streams it from memory at 3 flops per byte, more than memory
/// delivers, while the later tiles find it in cache and leave memory idle; asking for the
/// next panel during those tiles has it in L2 when its first tile starts.
///
/// Every element of C's m × n is written before it is read (a product deeper than one k
/// block keeps its raw sums there between blocks), so C may be uninitialised memory.
/// `add`'s bias (n values, or none) is added to every row of C after the scaling, then its
/// matrix (m × n), if any.
///
/// # Safety
/// AVX-512F must be available; the slices must hold the shapes (checked by `kernels::gemm`),
/// `add`'s bias must be empty or hold n values and its matrix m × n at its stride, and `c`
/// must be valid for writes of m × n elements at row stride `ldc`.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_avx512(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    ahead: &[f32],
    add: super::Addend<'_>,
) {
    const NB: usize = 64;
    let bias = add.bias;
    // k in blocks of at most KC rows, as even as they come: a 64-column block of B is then at
    // most 32 KiB and stays in the 48 KiB L1 while every row tile reads it, where a whole
    // panel of a 384- or 1,536-deep weight (96 or 384 KiB) streams from L2 once per row tile.
    // On an Intel Xeon (one core, 64 × 64 products from L2): 162–165 GFLOP/s at k = 384 or
    // 1,536, 167–178 at k = 128.
    const KC: usize = 128;
    let (blocks, kc) = k_blocks(k, KC);
    let (ap, bp, cp) = (a.as_ptr(), b.as_ptr(), c);
    // Software prefetch for a long B wider than one panel (a weight matrix, cold in cache).
    // Attention's Kᵀ (k = head dim) and V (ldb = head dim) at head dims up to 64 stay out:
    // short or one contiguous panel, and already in cache.
    let prefetch = k >= 128 && ldb > NB;
    let lines = (std::mem::size_of_val(ahead)).div_ceil(64);
    let tiles = n.div_ceil(NB) * m.div_ceil(MR) * blocks;
    let ahead_ptr = ahead.as_ptr().cast::<i8>();
    let mut tile = 0;
    // B's column block outside, A's row blocks inside: a 64-wide block of B is reused by
    // every row block while it sits in L1.
    for j0 in (0..n).step_by(NB) {
        let w = NB.min(n - j0);
        let nv = w.div_ceil(16);
        let rem = w - (nv - 1) * 16;
        let last: __mmask16 = if rem == 16 { 0xFFFF } else { (1u16 << rem) - 1 };
        for block in 0..blocks {
            let p0 = block * kc;
            let depth = kc.min(k - p0);
            let steps = (block > 0, block + 1 == blocks);
            for i0 in (0..m).step_by(MR) {
                let rows = MR.min(m - i0);
                // This tile's share of `ahead`'s lines.
                let ahead = ahead_share(ahead_ptr, lines, tile, tiles);
                tile += 1;
                // SAFETY: i0 + rows ≤ m, j0 + w ≤ n; the masks cover exactly w columns.
                unsafe {
                    dispatch_tile!(
                        tile512,
                        rows,
                        nv,
                        rem != 16,
                        (
                            depth,
                            alpha,
                            ap.add(i0 * lda + p0),
                            lda,
                            bp.add(p0 * ldb + j0),
                            ldb,
                            cp.add(i0 * ldc + j0),
                            ldc,
                            last,
                            (prefetch, k - p0),
                            ahead,
                            (
                                if bias.is_empty() {
                                    std::ptr::null()
                                } else {
                                    bias.as_ptr().add(j0)
                                },
                                add.matrix.map_or((std::ptr::null(), 0), |(r, ld)| {
                                    (r.as_ptr().add(i0 * ld + j0), ld)
                                })
                            ),
                            steps
                        )
                    )
                }
            }
        }
    }
}

/// e^x for 16 lanes: range reduction x = n·ln2 + r, a degree-6 polynomial for e^r on
/// |r| ≤ ln2/2 (relative error ≈ 2e-7), and `vscalefps` for the 2ⁿ. Inputs below −87.3
/// (including −∞, a masked key) give exactly 0.
#[target_feature(enable = "avx512f")]
fn exp512(x: __m512) -> __m512 {
    let tiny = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, _mm512_set1_ps(-87.3));
    // Clamp with x as the second operand: max/min return it when it is NaN, so a NaN
    // score stays NaN (as the scalar oracle's `exp` does) instead of becoming e^−87.3.
    let x = _mm512_min_ps(
        _mm512_set1_ps(88.7),
        _mm512_max_ps(_mm512_set1_ps(-87.3), x),
    );
    _mm512_maskz_mov_ps(!tiny, exp512_unclamped(x))
}

/// [`exp512`] without its clamps and its zeroing: the same value for x in [−87.3, 88.7] and
/// NaN for NaN; lanes below −87.3 are left to the caller to zero. The softmax's exponents
/// x − max are never above 0, and its one mask zeroes both the masked keys and those lanes
/// (three of a row's twenty-odd vector operations per 16 keys saved; the same bits).
#[target_feature(enable = "avx512f")]
fn exp512_unclamped(x: __m512) -> __m512 {
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
    );
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_145_75), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428_606_8e-6), r);
    let mut p = _mm512_set1_ps(1.0 / 720.0);
    for coef in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(coef));
    }
    _mm512_scalef_ps(p, n)
}

/// x·σ(x) = x / (1 + e^−x) over a slice with AVX-512, times `by` elementwise when it is
/// not empty (see `kernels::silu`).
///
/// # Safety
/// AVX-512F must be available; `by` must be empty or as long as `x`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn silu_avx512(x: &mut [f32], by: &[f32]) {
    let len = x.len();
    let ptr = x.as_mut_ptr();
    let one = _mm512_set1_ps(1.0);
    let zero = _mm512_setzero_ps();
    for i in (0..len).step_by(16) {
        let rem = len - i;
        let m: __mmask16 = if rem >= 16 { 0xFFFF } else { (1u16 << rem) - 1 };
        // SAFETY: the mask limits the loads and the store to x[i..len] (and by[i..len]).
        unsafe {
            let v = _mm512_maskz_loadu_ps(m, ptr.add(i));
            let e = exp512(_mm512_sub_ps(zero, v));
            let mut y = _mm512_div_ps(v, _mm512_add_ps(one, e));
            if !by.is_empty() {
                y = _mm512_mul_ps(y, _mm512_maskz_loadu_ps(m, by.as_ptr().add(i)));
            }
            _mm512_mask_storeu_ps(ptr.add(i), m, y);
        }
    }
}

/// Stable softmax of one row with AVX-512 (see `kernels::softmax_row`).
///
/// # Safety
/// AVX-512F must be available.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn softmax_row_avx512(row: &mut [f32]) -> Option<SoftmaxSums> {
    // SAFETY: the caller's contract.
    let [sums] = unsafe { softmax_rows_avx512([row]) };
    sums
}

/// [`softmax_row_avx512`] on N rows of one length at once: the same operations on each row
/// in the same order (so the same bits as one call per row), interleaved, so that a short
/// row's dependent steps (its running sums, the reductions, 1/Σ) overlap with the other's.
///
/// # Safety
/// AVX-512F must be available; the rows must have one length.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn softmax_rows_avx512<const N: usize>(
    rows: [&mut [f32]; N],
) -> [Option<SoftmaxSums>; N] {
    let len = rows.first().map_or(0, |r| r.len());
    assert!(
        rows.iter().all(|r| r.len() == len),
        "softmax rows of one length"
    );
    let ptrs: [*mut f32; N] = rows.map(|r| r.as_mut_ptr());
    let mask_at = |i: usize| -> __mmask16 {
        let rem = len - i;
        if rem >= 16 { 0xFFFF } else { (1u16 << rem) - 1 }
    };
    let neg_inf = _mm512_set1_ps(f32::NEG_INFINITY);
    // pass 1: running max (masked lanes read as −∞), in four registers so that each `max`
    // does not wait on the one before (a maximum is the same in any order)
    let mut vmax = [[neg_inf; 4]; N];
    let full = len / 64 * 64;
    for i in (0..full).step_by(64) {
        for (ptr, vm) in ptrs.iter().zip(vmax.iter_mut()) {
            for (r, m) in vm.iter_mut().enumerate() {
                // SAFETY: i + 64 ≤ len.
                *m = _mm512_max_ps(*m, unsafe { _mm512_loadu_ps(ptr.add(i + 16 * r)) });
            }
        }
    }
    for i in (full..len).step_by(16) {
        for (ptr, vm) in ptrs.iter().zip(vmax.iter_mut()) {
            // SAFETY: the mask limits the load to row[i..len].
            let x = unsafe { _mm512_mask_loadu_ps(neg_inf, mask_at(i), ptr.add(i)) };
            vm[0] = _mm512_max_ps(vm[0], x);
        }
    }
    let max: [f32; N] = std::array::from_fn(|r| {
        let v = &vmax[r];
        _mm512_reduce_max_ps(_mm512_max_ps(
            _mm512_max_ps(v[0], v[1]),
            _mm512_max_ps(v[2], v[3]),
        ))
    });
    // A row whose every key is masked is zeros and has no sums.
    let live: [bool; N] = std::array::from_fn(|r| max[r] != f32::NEG_INFINITY);
    // pass 2: exponentials, stored in place, their sum and Σ e·(x − max) over e > 0 (a
    // masked key's e is 0 and its x − max is −∞)
    let vm: [__m512; N] = max.map(|m| _mm512_set1_ps(m));
    let zero = _mm512_setzero_ps();
    let mut vsum = [zero; N];
    let mut vshift = [zero; N];
    // One vector of row r at i (the lanes of `m`): the same operations for a whole vector
    // and a masked tail, so every element's bits are the same either way.
    let exp_step = |r: usize, i: usize, m: __mmask16, vsum: &mut __m512, vshift: &mut __m512| {
        // SAFETY: the caller keeps `m`'s lanes of i.. inside the row.
        unsafe {
            let ptr = ptrs[r];
            let x = _mm512_mask_loadu_ps(neg_inf, m, ptr.add(i));
            let d = _mm512_sub_ps(x, vm[r]);
            // d ≤ 0 (or NaN): no clamps needed; keys past the row and e^d below e^−87.3
            // are 0.
            let tiny = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(d, _mm512_set1_ps(-87.3));
            let e = _mm512_maskz_mov_ps(m & !tiny, exp512_unclamped(d));
            _mm512_mask_storeu_ps(ptr.add(i), m, e);
            *vsum = _mm512_add_ps(*vsum, e);
            let seen = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(e, zero);
            *vshift = _mm512_mask3_fmadd_ps(e, d, *vshift, seen);
        }
    };
    // Whole vectors without a test per row or a mask per vector, then the tail. A row that
    // is not live runs too (its x − max is NaN) and is overwritten with zeros just after:
    // cheaper than testing liveness in the loop, which held 9% of the kernel's samples.
    let whole = len / 16 * 16;
    for i in (0..whole).step_by(16) {
        for r in 0..N {
            exp_step(r, i, 0xFFFF, &mut vsum[r], &mut vshift[r]);
        }
    }
    if whole < len {
        for r in 0..N {
            exp_step(r, whole, mask_at(whole), &mut vsum[r], &mut vshift[r]);
        }
    }
    for (r, &ptr) in ptrs.iter().enumerate() {
        if !live[r] {
            // SAFETY: `ptr` holds `len` floats.
            unsafe { std::slice::from_raw_parts_mut(ptr, len) }.fill(0.0);
        }
    }
    let sums: [Option<SoftmaxSums>; N] = std::array::from_fn(|r| {
        live[r].then(|| SoftmaxSums {
            z: _mm512_reduce_add_ps(vsum[r]),
            shifted: _mm512_reduce_add_ps(vshift[r]),
        })
    });
    // pass 3: normalise (a row that is not live is zeros already)
    let inv: [__m512; N] =
        std::array::from_fn(|r| _mm512_set1_ps(1.0 / sums[r].as_ref().map_or(1.0, |s| s.z)));
    for r in (0..N).filter(|&r| live[r]) {
        let ptr = ptrs[r];
        for i in (0..whole).step_by(16) {
            // SAFETY: i + 16 ≤ len.
            unsafe {
                let x = _mm512_loadu_ps(ptr.add(i));
                _mm512_storeu_ps(ptr.add(i), _mm512_mul_ps(x, inv[r]));
            }
        }
        if whole < len {
            let m = mask_at(whole);
            // SAFETY: masked to the row.
            unsafe {
                let x = _mm512_maskz_loadu_ps(m, ptr.add(whole));
                _mm512_mask_storeu_ps(ptr.add(whole), m, _mm512_mul_ps(x, inv[r]));
            }
        }
    }
    sums
}

/// The body of [`stream_avx512`] and [`stream_avx2`]: ordinary stores up to the first line
/// and after the last whole one, vectors of `$lanes` streamed over the whole lines between.
/// Expanded in each so that the vector operations compile for its instruction set.
macro_rules! stream_lines {
    ($dst:expr, $len:expr, $src:expr, $lanes:literal, $zero:path, $load:path, $stream:path) => {{
        let (dst, len, src): (*mut f32, usize, Option<&[f32]>) = ($dst, $len, $src);
        let head = dst.align_offset(64).min(len);
        let whole = head + (len - head) / 16 * 16;
        let at = |i: usize| src.map_or(0.0, |s| s[i]);
        // Every index below is < len (the caller's contract).
        for i in (0..head).chain(whole..len) {
            *dst.add(i) = at(i);
        }
        for i in (head..whole).step_by($lanes) {
            let v = src.map_or($zero(), |s| $load(s.as_ptr().add(i)));
            $stream(dst.add(i), v);
        }
    }};
}

/// `len` floats from `dst` set to `src` (zeros when there is none), with non-temporal
/// stores for the 64-byte-aligned lines: they go to memory without being read first. The
/// unaligned ends take ordinary stores. The caller fences before publishing them.
///
/// # Safety
/// AVX-512F must be available; `dst` must be valid for `len` writes, and `src`, if any,
/// must hold `len` floats.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn stream_avx512(dst: *mut f32, len: usize, src: Option<&[f32]>) {
    // SAFETY: the caller's contract.
    unsafe {
        stream_lines!(
            dst,
            len,
            src,
            16,
            _mm512_setzero_ps,
            _mm512_loadu_ps,
            _mm512_stream_ps
        )
    }
}

/// [`stream_avx512`] with AVX vectors of 8, two per 64-byte line.
///
/// # Safety
/// AVX must be available; as [`stream_avx512`] otherwise.
#[target_feature(enable = "avx")]
pub(super) unsafe fn stream_avx2(dst: *mut f32, len: usize, src: Option<&[f32]>) {
    // SAFETY: the caller's contract.
    unsafe {
        stream_lines!(
            dst,
            len,
            src,
            8,
            _mm256_setzero_ps,
            _mm256_loadu_ps,
            _mm256_stream_ps
        )
    }
}

/// Orders this thread's earlier non-temporal stores before its later stores (SSE, which
/// every x86-64 has).
pub(super) fn store_fence() {
    // SAFETY: SSE is part of x86-64's baseline, so every x86-64 CPU has `sfence`.
    unsafe { _mm_sfence() };
}

/// A 16 × 16 block transposed through registers: `dst[j·ldd + i] = src[i·lds + j]`.
/// Interleaves of 32-bit, then 64-bit elements within 128-bit lanes, then two rounds of
/// 128-bit lane shuffles.
///
/// # Safety
/// AVX-512F must be available; `src` must hold 16 rows of 16 floats at stride `lds`, and
/// `dst` 16 rows of 16 at stride `ldd`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transpose16_avx512(src: *const f32, lds: usize, dst: *mut f32, ldd: usize) {
    // SAFETY: the caller's contract bounds every row read and written.
    let r: [__m512; 16] = std::array::from_fn(|i| unsafe { _mm512_loadu_ps(src.add(i * lds)) });
    // 32-bit interleave of row pairs.
    let t: [__m512; 16] = std::array::from_fn(|i| {
        let (a, b) = (r[i & !1], r[i | 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_ps(a, b)
        } else {
            _mm512_unpackhi_ps(a, b)
        }
    });
    // 64-bit interleave: within each group of four, (t0, t2) and (t1, t3).
    let u: [__m512; 16] = std::array::from_fn(|i| {
        let g = i & !3;
        let (a, b) = match i % 4 {
            0 | 1 => (t[g], t[g + 2]),
            _ => (t[g + 1], t[g + 3]),
        };
        let (a, b) = (_mm512_castps_pd(a), _mm512_castps_pd(b));
        _mm512_castpd_ps(if i % 2 == 0 {
            _mm512_unpacklo_pd(a, b)
        } else {
            _mm512_unpackhi_pd(a, b)
        })
    });
    // 128-bit lanes: the even lanes of two rows, then the odd ones, in groups of eight.
    let v: [__m512; 16] = std::array::from_fn(|i| {
        let g = i & !7;
        let (a, b) = (u[g + i % 4], u[g + 4 + i % 4]);
        if i % 8 < 4 {
            _mm512_shuffle_f32x4::<0x88>(a, b)
        } else {
            _mm512_shuffle_f32x4::<0xdd>(a, b)
        }
    });
    let w: [__m512; 16] = std::array::from_fn(|i| {
        let (a, b) = (v[i % 8], v[8 + i % 8]);
        if i < 8 {
            _mm512_shuffle_f32x4::<0x88>(a, b)
        } else {
            _mm512_shuffle_f32x4::<0xdd>(a, b)
        }
    });
    for (j, row) in w.iter().enumerate() {
        // SAFETY: the caller's contract.
        unsafe { _mm512_storeu_ps(dst.add(j * ldd), *row) };
    }
}

// ---------------------------------------------------------------------------------------
// AVX2 + FMA
// ---------------------------------------------------------------------------------------

/// An 8 × 8 block transposed through registers: `dst[j·ldd + i] = src[i·lds + j]`.
/// Interleaves of 32-bit elements of row pairs, then 64-bit pairs of those, within 128-bit
/// lanes; then each output row joins a low (or high) lane of rows 0–3 with that of rows 4–7.
///
/// # Safety
/// AVX must be available; `src` must hold 8 rows of 8 floats at stride `lds`, and `dst` 8
/// rows of 8 at stride `ldd`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn transpose8_avx2(src: *const f32, lds: usize, dst: *mut f32, ldd: usize) {
    // SAFETY: the caller's contract bounds every row read and written.
    let r: [__m256; 8] = std::array::from_fn(|i| unsafe { _mm256_loadu_ps(src.add(i * lds)) });
    // t[2m] = (a0 b0 a1 b1 | a4 b4 a5 b5), t[2m + 1] = (a2 b2 a3 b3 | a6 b6 a7 b7) of rows
    // 2m and 2m + 1.
    let t: [__m256; 8] = std::array::from_fn(|i| {
        let (a, b) = (r[i & !1], r[i | 1]);
        if i % 2 == 0 {
            _mm256_unpacklo_ps(a, b)
        } else {
            _mm256_unpackhi_ps(a, b)
        }
    });
    // u[4g + c] holds columns c and c + 4 of rows 4g..4g + 4.
    let u: [__m256; 8] = std::array::from_fn(|i| {
        let g = i & !3;
        let (a, b) = (t[g + (i % 4) / 2], t[g + 2 + (i % 4) / 2]);
        if i % 2 == 0 {
            _mm256_shuffle_ps::<0x44>(a, b)
        } else {
            _mm256_shuffle_ps::<0xee>(a, b)
        }
    });
    for j in 0..8 {
        let (a, b) = (u[j % 4], u[4 + j % 4]);
        let row = if j < 4 {
            _mm256_permute2f128_ps::<0x20>(a, b)
        } else {
            _mm256_permute2f128_ps::<0x31>(a, b)
        };
        // SAFETY: the caller's contract.
        unsafe { _mm256_storeu_ps(dst.add(j * ldd), row) };
    }
}

/// Lane mask for the first `rem` (1..=8) lanes, as `vmaskmovps` wants it.
#[target_feature(enable = "avx2")]
fn mask256(rem: usize) -> __m256i {
    let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_cmpgt_epi32(_mm256_set1_epi32(rem as i32), idx)
}

/// One R × (NV·8) tile of C = α·A·B, with `tile512`'s k blocks (`resume`, `finish`), bias
/// row and added matrix; the last vector of each row is masked by `last`. The same chain of
/// FMAs per element as one call over all of k, so the same bits.
///
/// # Safety
/// AVX2 and FMA must be available; bounds as for `tile512`.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn tile256<const R: usize, const NV: usize, const MASKED: bool, const PACKED: bool>(
    k: usize,
    alpha: f32,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    last: __m256i,
    (prefetch, rows_left): (bool, usize),
    (ahead, ahead_lines): (*const i8, usize),
    (bias, (res, ldr)): (*const f32, (*const f32, usize)),
    (resume, finish): (bool, bool),
) {
    // A tile of whole vectors takes no mask: 12 accumulators, 2 vectors of B and a
    // broadcast fill 15 of the 16 registers, and a mask held in the last one spilled them.
    let all = _mm256_set1_epi32(-1);
    let mask = |v: usize| if MASKED && v + 1 == NV { last } else { all };
    let mut acc = [[_mm256_setzero_ps(); NV]; R];
    if resume {
        for (r, row) in acc.iter_mut().enumerate() {
            for (v, slot) in row.iter_mut().enumerate() {
                // SAFETY: the previous k block wrote these elements (the caller's contract).
                *slot = unsafe { _mm256_maskload_ps(c.add(r * ldc + v * 8), mask(v)) };
            }
        }
    }
    // One k step: R × NV FMAs.
    macro_rules! step {
        ($p:expr) => {{
            let p = $p;
            // SAFETY: the caller's contract; masked lanes are never touched.
            unsafe {
                let brow = b.add(p * ldb);
                let mut bv = [_mm256_setzero_ps(); NV];
                for (v, slot) in bv.iter_mut().enumerate() {
                    *slot = if MASKED && v + 1 == NV {
                        _mm256_maskload_ps(brow.add(v * 8), last)
                    } else {
                        _mm256_loadu_ps(brow.add(v * 8))
                    };
                }
                for (r, row) in acc.iter_mut().enumerate() {
                    // Packed (see `pack_a_avx2`): the R rows' values of step p side by side.
                    let av = _mm256_set1_ps(if PACKED {
                        *a.add(p * R + r)
                    } else {
                        *a.add(r * lda + p)
                    });
                    for (slot, bvec) in row.iter_mut().zip(bv) {
                        *slot = _mm256_fmadd_ps(av, bvec, *slot);
                    }
                }
            }
        }};
    }
    // The k steps four at a time, the prefetches once per four: a step is only 12 FMAs
    // (`tile512`'s are 24), and one step per iteration with its prefetch tests was about 40
    // instructions, more than the front end issues in the 6 cycles the FMAs take.
    const U: usize = 4;
    let every = k.checked_div(ahead_lines).map_or(usize::MAX, |e| e.max(1));
    let (mut sent, mut due) = (0, 0);
    let mut p = 0;
    while p + U <= k {
        if sent < ahead_lines && p >= due {
            // A prefetch never faults; wrapping_add keeps the address arithmetic defined.
            _mm_prefetch::<_MM_HINT_T1>(ahead.wrapping_add(sent * 64));
            sent += 1;
            due += every;
        }
        // B's rows p + 16 … p + 19, as `tile512` asks for them (a weight panel streaming in):
        // each row of a 16-column strip is one line.
        if prefetch && p + 16 + U <= rows_left {
            for u in 0..U {
                // SAFETY: those rows exist (checked); a prefetch never faults.
                _mm_prefetch::<_MM_HINT_T0>(unsafe { b.add((p + 16 + u) * ldb) } as *const i8);
            }
        }
        for u in 0..U {
            step!(p + u);
        }
        p += U;
    }
    while p < k {
        step!(p);
        p += 1;
    }
    while sent < ahead_lines {
        _mm_prefetch::<_MM_HINT_T1>(ahead.wrapping_add(sent * 64));
        sent += 1;
    }
    let al = _mm256_set1_ps(alpha);
    let mut bv = [_mm256_setzero_ps(); NV];
    if finish && !bias.is_null() {
        for (v, slot) in bv.iter_mut().enumerate() {
            // SAFETY: as above; masked lanes are never touched.
            *slot = unsafe { _mm256_maskload_ps(bias.add(v * 8), mask(v)) };
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, &x) in row.iter().enumerate() {
            // SAFETY: as above.
            unsafe {
                let dst = c.add(r * ldc + v * 8);
                // More k blocks follow: the raw sums stay in C for the next call to resume.
                let mut y = x;
                if finish {
                    y = _mm256_mul_ps(y, al);
                    if !bias.is_null() {
                        y = _mm256_add_ps(y, bv[v]);
                    }
                    if !res.is_null() {
                        y = _mm256_add_ps(y, _mm256_maskload_ps(res.add(r * ldr + v * 8), mask(v)));
                    }
                }
                if MASKED && v + 1 == NV {
                    _mm256_maskstore_ps(dst, last, y);
                } else {
                    _mm256_storeu_ps(dst, y);
                }
            }
        }
    }
}

/// One 16-column strip (or narrower: NV vectors, the last masked when `MASKED`) of C over
/// all m rows for one k block: [`tile256`]s of 6 rows down the strip, then one of the rows
/// left. One call per strip and k block, not per tile: a tile is 1,536 FMAs, and a call
/// with its arguments on the stack cost about a twentieth of that. The row tiles take
/// `ahead`'s lines as `gemm_avx512` shares them, tile `first` of `tiles` on.
///
/// # Safety
/// As [`tile256`] for each of the m rows.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn strip256<const NV: usize, const MASKED: bool, const PACKED: bool>(
    m: usize,
    k: usize,
    alpha: f32,
    (a, lda): (*const f32, usize),
    (b, ldb): (*const f32, usize),
    (c, ldc): (*mut f32, usize),
    last: __m256i,
    pf: (bool, usize),
    (ahead, lines, (first, tiles)): (*const i8, usize, (usize, usize)),
    (bias, (res, ldr)): (*const f32, (*const f32, usize)),
    steps: (bool, bool),
) {
    let mut i0 = 0;
    let mut tile = first;
    while i0 < m {
        let rows = MR.min(m - i0);
        let share = ahead_share(ahead, lines, tile, tiles);
        tile += 1;
        // SAFETY: the caller's contract; i0 + rows ≤ m.
        unsafe {
            // A packed k block holds its row groups one after another, i0 · k values before
            // group i0 / 6.
            let a = if PACKED {
                a.add(i0 * k)
            } else {
                a.add(i0 * lda)
            };
            let c = c.add(i0 * ldc);
            let add = (
                bias,
                (
                    if res.is_null() {
                        res
                    } else {
                        res.add(i0 * ldr)
                    },
                    ldr,
                ),
            );
            macro_rules! go {
                ($r:literal) => {
                    tile256::<$r, NV, MASKED, PACKED>(
                        k, alpha, a, lda, b, ldb, c, ldc, last, pf, share, add, steps,
                    )
                };
            }
            match rows {
                MR => go!(6),
                1 => go!(1),
                2 => go!(2),
                3 => go!(3),
                4 => go!(4),
                5 => go!(5),
                _ => unreachable!("tile height"),
            }
        }
        i0 += MR;
    }
}

/// C = α·A·B with AVX2 tiles of 6 × 16, k in blocks of at most [`KC256`] and with
/// `gemm_avx512`'s `ahead` and `add`: B's 16-column strips outside, A's row tiles inside,
/// so a strip's k block (8 KiB at 128 rows) stays in L1 while every row tile reads it.
/// Every element of C's m × n is written before it is read, so C may be uninitialised.
/// With `packed`, `a` is A as [`pack_a_avx2`] lays it out (m × k values; `lda` unused).
/// B's strip j (columns 16j…) starts `strip`·j values after `b`'s start: 16 for a
/// row-major B, a panel's size for B in 16-wide panels (`ldb` 16), which one call then
/// covers panel after panel.
///
/// # Safety
/// AVX2 and FMA must be available; as `gemm_avx512` for the slices, `add` and `c`, B's rows
/// at `ldb` within each strip; a packed `a` must hold m × k values.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_avx2(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    (a, lda, packed): (&[f32], usize, bool),
    (b, ldb, strip): (&[f32], usize, usize),
    c: *mut f32,
    ldc: usize,
    ahead: &[f32],
    add: super::Addend<'_>,
) {
    const NB: usize = super::AVX2_STRIP;
    let bias = add.bias;
    let (blocks, kc) = k_blocks(k, KC256);
    let (ap, bp, cp) = (a.as_ptr(), b.as_ptr(), c);
    // A long B wider than a strip, cold in cache (as in `gemm_avx512`); a 16-wide panel is
    // one contiguous run, which the hardware prefetcher follows by itself.
    let prefetch = k >= 128 && ldb > NB;
    let lines = (std::mem::size_of_val(ahead)).div_ceil(64);
    let tiles = n.div_ceil(NB) * m.div_ceil(MR) * blocks;
    let ahead_ptr = ahead.as_ptr().cast::<i8>();
    let mut tile = 0;
    for j0 in (0..n).step_by(NB) {
        let w = NB.min(n - j0);
        let nv = w.div_ceil(8);
        let rem = w - (nv - 1) * 8;
        let last = mask256(rem);
        for block in 0..blocks {
            let p0 = block * kc;
            let depth = kc.min(k - p0);
            let steps = (block > 0, block + 1 == blocks);
            let first = tile;
            tile += m.div_ceil(MR);
            let bias = if bias.is_empty() {
                std::ptr::null()
            } else {
                // SAFETY: j0 < n ≤ the bias's length.
                unsafe { bias.as_ptr().add(j0) }
            };
            // SAFETY: j0 + w ≤ n and p0 + depth ≤ k; the mask covers exactly w columns.
            unsafe {
                let res = add
                    .matrix
                    .map_or((std::ptr::null(), 0), |(r, ld)| (r.as_ptr().add(j0), ld));
                let args = (
                    // A packed k block starts after the m rows of the blocks before it.
                    (if packed { ap.add(p0 * m) } else { ap.add(p0) }, lda),
                    (bp.add(p0 * ldb + j0 / NB * strip), ldb),
                    (cp.add(j0), ldc),
                );
                let ahead = (ahead_ptr, lines, (first, tiles));
                macro_rules! go {
                    ($nv:literal, $masked:literal, $packed:literal) => {
                        strip256::<$nv, $masked, $packed>(
                            m,
                            depth,
                            alpha,
                            args.0,
                            args.1,
                            args.2,
                            last,
                            (prefetch, k - p0),
                            ahead,
                            (bias, res),
                            steps,
                        )
                    };
                }
                match (nv, rem == 8, packed) {
                    (2, true, false) => go!(2, false, false),
                    (1, true, false) => go!(1, false, false),
                    (2, false, false) => go!(2, true, false),
                    (1, false, false) => go!(1, true, false),
                    (2, true, true) => go!(2, false, true),
                    (1, true, true) => go!(1, false, true),
                    (2, false, true) => go!(2, true, true),
                    (1, false, true) => go!(1, true, true),
                    _ => unreachable!("strip width"),
                }
            }
        }
    }
}

/// Most rows of B per k block of [`gemm_avx2`].
const KC256: usize = 128;

/// A (m × k at row stride `lda`) laid out for [`gemm_avx2`]'s tiles: k in its blocks (as
/// the product cuts it), each block's rows in groups of 6 (the last group the rows left),
/// each group's values step by step: the R values of k step p side by side. A tile then
/// broadcasts its rows' values from one sequential stream, not from six rows lda apart.
/// Block b (from p0, `depth` deep) starts at p0 · m and its group at row i0 at
/// p0 · m + i0 · depth; value (i0 + r, p0 + p) sits at p · R + r from there.
///
/// # Panics
/// If `a` is too short for m × k at `lda`, or `out` does not hold m × k values.
pub(super) fn pack_a_avx2(a: &[f32], lda: usize, m: usize, k: usize, out: &mut [f32]) {
    assert!(super::fits(a.len(), m, k, lda), "pack_a_avx2: A too short");
    assert_eq!(out.len(), m * k, "pack_a_avx2: m × k values");
    // The product's k blocks (`gemm_avx2`), which the layout follows.
    let (_, kc) = k_blocks(k, KC256);
    for p0 in (0..k).step_by(kc.max(1)) {
        let depth = kc.min(k - p0);
        for i0 in (0..m).step_by(MR) {
            let rows = MR.min(m - i0);
            let group = &mut out[p0 * m + i0 * depth..][..rows * depth];
            // The group's rows of this block, then their values step by step: sequential
            // writes, and no index to check.
            let mut src = [&[][..]; MR];
            for (r, row) in a[i0 * lda..].chunks(lda).take(rows).enumerate() {
                src[r] = &row[p0..p0 + depth];
            }
            if rows == MR {
                // A whole group: six zipped rows, no index to check, one step's six values
                // written as one.
                let [r0, r1, r2, r3, r4, r5] = src;
                let rows = r0.iter().zip(r1).zip(r2).zip(r3).zip(r4).zip(r5);
                for (step, (((((&v0, &v1), &v2), &v3), &v4), &v5)) in
                    group.chunks_exact_mut(MR).zip(rows)
                {
                    step.copy_from_slice(&[v0, v1, v2, v3, v4, v5]);
                }
            } else {
                for (p, step) in group.chunks_exact_mut(rows).enumerate() {
                    for (dst, row) in step.iter_mut().zip(&src) {
                        *dst = row[p];
                    }
                }
            }
        }
    }
}

/// e^x for 8 lanes (same polynomial as `exp512`; 2ⁿ built in the exponent bits). Inputs below
/// −87.3 (including −∞) give exactly 0.
#[target_feature(enable = "avx2,fma")]
fn exp256(x: __m256) -> __m256 {
    exp256_from::<true>(x)
}

/// [`exp256`] for x ≤ 0 (and NaN), as softmax takes it (x − max): the same bits there with
/// six operations fewer, the clamp at 88.7 and the split of 2ⁿ dropped. For n in [−126, 0],
/// 2ⁿ is one normal factor, and p·2^⌊n/2⌋·2^(n−⌊n/2⌋) is p·2ⁿ: the first product is exact,
/// the second rounds as p·2ⁿ does (only if subnormal, then the same way).
#[target_feature(enable = "avx2,fma")]
fn exp256_nonpositive(x: __m256) -> __m256 {
    exp256_from::<false>(x)
}

/// [`exp256`] (`ANY`), or [`exp256_nonpositive`] for inputs that are ≤ 0 or NaN.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn exp256_from<const ANY: bool>(x: __m256) -> __m256 {
    let tiny = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(-87.3));
    // x second, so NaN propagates (see `exp512`).
    let x = _mm256_max_ps(_mm256_set1_ps(-87.3), x);
    let x = if ANY {
        _mm256_min_ps(_mm256_set1_ps(88.7), x)
    } else {
        x
    };
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        x,
        _mm256_set1_ps(std::f32::consts::LOG2_E),
    ));
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_145_75), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428_606_8e-6), r);
    let mut p = _mm256_set1_ps(1.0 / 720.0);
    for coef in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(coef));
    }
    let ni = _mm256_cvtps_epi32(n);
    let pow = |e: __m256i| {
        _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
            e,
            _mm256_set1_epi32(127),
        )))
    };
    let y = if ANY {
        // 2ⁿ for n in [-126, 128]: split in two factors so n = 128 (x near 88.7) stays finite.
        let half = _mm256_srai_epi32::<1>(ni);
        _mm256_mul_ps(_mm256_mul_ps(p, pow(half)), pow(_mm256_sub_epi32(ni, half)))
    } else {
        _mm256_mul_ps(p, pow(ni))
    };
    _mm256_andnot_ps(tiny, y)
}

/// Horizontal sum / max of 8 lanes.
#[target_feature(enable = "avx2")]
fn hreduce(v: __m256, op: fn(__m128, __m128) -> __m128) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps::<1>(v);
    let x = op(lo, hi);
    let x = op(x, _mm_movehl_ps(x, x));
    let x = op(x, _mm_shuffle_ps::<0b01>(x, x));
    _mm_cvtss_f32(x)
}

/// x·σ(x) over a slice with AVX2, times `by` elementwise when it is not empty (see
/// `kernels::silu`).
///
/// # Safety
/// AVX2 and FMA must be available; `by` must be empty or as long as `x`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn silu_avx2(x: &mut [f32], by: &[f32]) {
    let full = x.len() / 8 * 8;
    let ptr = x.as_mut_ptr();
    let one = _mm256_set1_ps(1.0);
    let zero = _mm256_setzero_ps();
    for i in (0..full).step_by(8) {
        // SAFETY: i + 8 ≤ full ≤ len (= by's length when by is not empty).
        unsafe {
            let v = _mm256_loadu_ps(ptr.add(i));
            let e = exp256(_mm256_sub_ps(zero, v));
            let mut y = _mm256_div_ps(v, _mm256_add_ps(one, e));
            if !by.is_empty() {
                y = _mm256_mul_ps(y, _mm256_loadu_ps(by.as_ptr().add(i)));
            }
            _mm256_storeu_ps(ptr.add(i), y);
        }
    }
    super::silu_plain(&mut x[full..], by.get(full..).unwrap_or_default());
}

/// Stable softmax of one row with AVX2 (see `kernels::softmax_row`).
///
/// # Safety
/// AVX2 and FMA must be available.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn softmax_row_avx2(row: &mut [f32]) -> Option<SoftmaxSums> {
    // SAFETY: the caller's contract.
    let [sums] = unsafe { softmax_rows_avx2::<1, true>([row]) };
    sums
}

/// [`softmax_row_avx2`] on N rows of one length at once, as `softmax_rows_avx512` runs
/// them: each row's operations in the same order as alone (so the same bits), the rows
/// interleaved so that one row's chain of sums overlaps with the other's. Each row: whole
/// vectors of 8, then the tail of up to 7 keys one by one (libm's `exp` there). Without
/// `SUMS` the Σ e·(x − max) is not formed (a fifth of the exponential pass) and the sums'
/// `shifted` is 0: for a caller that needs only the weights; the same weights either way.
///
/// # Safety
/// AVX2 and FMA must be available; the rows must have one length.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn softmax_rows_avx2<const N: usize, const SUMS: bool>(
    mut rows: [&mut [f32]; N],
) -> [Option<SoftmaxSums>; N] {
    let len = rows.first().map_or(0, |r| r.len());
    assert!(
        rows.iter().all(|r| r.len() == len),
        "softmax rows of one length"
    );
    let full = len / 8 * 8;
    let ptrs: [*mut f32; N] = std::array::from_fn(|r| rows[r].as_mut_ptr());
    // pass 1: running max, in four registers per row (a maximum is the same in any order)
    let neg_inf = _mm256_set1_ps(f32::NEG_INFINITY);
    let mut vmax = [[neg_inf; 4]; N];
    let quad = len / 32 * 32;
    for i in (0..quad).step_by(32) {
        for (ptr, vm) in ptrs.iter().zip(vmax.iter_mut()) {
            for (q, m) in vm.iter_mut().enumerate() {
                // SAFETY: i + 32 ≤ len.
                *m = _mm256_max_ps(*m, unsafe { _mm256_loadu_ps(ptr.add(i + 8 * q)) });
            }
        }
    }
    for i in (quad..full).step_by(8) {
        for (ptr, vm) in ptrs.iter().zip(vmax.iter_mut()) {
            // SAFETY: i + 8 ≤ full ≤ len.
            vm[0] = _mm256_max_ps(vm[0], unsafe { _mm256_loadu_ps(ptr.add(i)) });
        }
    }
    let max: [f32; N] = std::array::from_fn(|r| {
        let v = &vmax[r];
        let v = _mm256_max_ps(_mm256_max_ps(v[0], v[1]), _mm256_max_ps(v[2], v[3]));
        rows[r][full..]
            .iter()
            .fold(hreduce(v, |a, b| _mm_max_ps(a, b)), |m, &x| m.max(x))
    });
    let live: [bool; N] = std::array::from_fn(|r| max[r] != f32::NEG_INFINITY);
    // pass 2: exponentials, their sum and Σ e·(x − max) over e > 0
    let vm: [__m256; N] = max.map(|m| _mm256_set1_ps(m));
    let zero = _mm256_setzero_ps();
    let mut vsum = [zero; N];
    let mut vshift = [zero; N];
    // A row that is not live runs too (its x − max is NaN) and becomes zeros below.
    for i in (0..full).step_by(8) {
        for r in 0..N {
            // SAFETY: i + 8 ≤ len.
            unsafe {
                let ptr = ptrs[r];
                let d = _mm256_sub_ps(_mm256_loadu_ps(ptr.add(i)), vm[r]);
                let e = exp256_nonpositive(d);
                _mm256_storeu_ps(ptr.add(i), e);
                vsum[r] = _mm256_add_ps(vsum[r], e);
                if SUMS {
                    let seen = _mm256_cmp_ps::<_CMP_GT_OQ>(e, zero);
                    let shift = _mm256_and_ps(seen, _mm256_mul_ps(e, d));
                    vshift[r] = _mm256_add_ps(vshift[r], shift);
                }
            }
        }
    }
    let mut sums: [Option<SoftmaxSums>; N] = [None; N];
    for (r, row) in rows.iter_mut().enumerate() {
        if !live[r] {
            row.fill(0.0);
            continue;
        }
        let mut sum = hreduce(vsum[r], |a, b| _mm_add_ps(a, b));
        let mut shifted = hreduce(vshift[r], |a, b| _mm_add_ps(a, b));
        for x in &mut row[full..] {
            let d = *x - max[r];
            *x = d.exp();
            sum += *x;
            if SUMS && *x > 0.0 {
                shifted += *x * d;
            }
        }
        sums[r] = Some(SoftmaxSums { z: sum, shifted });
    }
    // pass 3: normalise
    for (r, row) in rows.iter_mut().enumerate() {
        let Some(s) = sums[r] else { continue };
        let inv = 1.0 / s.z;
        let vinv = _mm256_set1_ps(inv);
        let ptr = ptrs[r];
        for i in (0..full).step_by(8) {
            // SAFETY: i + 8 ≤ len.
            unsafe {
                _mm256_storeu_ps(ptr.add(i), _mm256_mul_ps(_mm256_loadu_ps(ptr.add(i)), vinv))
            };
        }
        for x in &mut row[full..] {
            *x *= inv;
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Softmax's e^x for x ≤ 0 gives `exp256`'s bits: every 4,099th negative float from −0
    /// to −∞, the edges of the clamp and of subnormal results, and NaN.
    #[test]
    fn exp_of_nonpositive_inputs_equals_the_general_exp() {
        if !super::super::Backend::Avx2.is_supported() {
            return;
        }
        let mut xs: Vec<f32> = (0x8000_0000u32..=0xff80_0000)
            .step_by(4099)
            .map(f32::from_bits)
            .collect();
        xs.extend([
            -0.0,
            0.0,
            -87.3,
            -87.29,
            -87.31,
            -86.9,
            -87.0,
            f32::NEG_INFINITY,
            f32::NAN,
        ]);
        for chunk in xs.chunks(8) {
            let mut lanes = [0.0f32; 8];
            lanes[..chunk.len()].copy_from_slice(chunk);
            let (mut general, mut nonpositive) = ([0.0f32; 8], [0.0f32; 8]);
            // SAFETY: AVX2 and FMA were detected above; 8 floats in and out.
            unsafe {
                let x = _mm256_loadu_ps(lanes.as_ptr());
                _mm256_storeu_ps(general.as_mut_ptr(), exp256(x));
                _mm256_storeu_ps(nonpositive.as_mut_ptr(), exp256_nonpositive(x));
            }
            for ((x, g), n) in lanes.iter().zip(general).zip(nonpositive) {
                assert_eq!(g.to_bits(), n.to_bits(), "e^{x}: {g} vs {n}");
            }
        }
    }

    /// The AVX2 8 × 8 transpose puts every element in its place at any strides, and leaves
    /// what lies between the destination's rows alone: `kernels::transpose` takes it on
    /// AVX2 machines only, so it is tested directly wherever AVX2 runs.
    #[test]
    fn transpose8_moves_every_element_and_nothing_else() {
        if !super::super::Backend::Avx2.is_supported() {
            return;
        }
        for (lds, ldd) in [(8usize, 8usize), (11, 8), (8, 13), (64, 16)] {
            let src: Vec<f32> = (0..8 * lds).map(|i| i as f32 * 0.5 - 7.0).collect();
            let mut dst = vec![f32::NAN; 8 * ldd];
            // SAFETY: AVX2 was detected; src holds 8 rows at lds, dst 8 rows at ldd.
            unsafe { transpose8_avx2(src.as_ptr(), lds, dst.as_mut_ptr(), ldd) };
            for j in 0..8 {
                for i in 0..ldd {
                    let got = dst[j * ldd + i];
                    if i < 8 {
                        assert_eq!(got.to_bits(), src[i * lds + j].to_bits(), "({j}, {i})");
                    } else {
                        assert!(got.is_nan(), "padding ({j}, {i}) written");
                    }
                }
            }
        }
    }
}
