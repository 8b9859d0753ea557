//! Materialised multi-head attention, P = softmax(Q·Kᵀ·scale), O = P·V, keeping P.
//!
//! Legend: `h` = heads, `n_q` = queries, `n_k` = keys, `d` = head dim.
//! Layouts (row-major, heads outermost): Q `[h][n_q][d]`, K and V `[h][n_k][d]`,
//! P `[h][n_q][n_k]`, O `[h][n_q][d]`.
//!
//! Work is split into (head, block of 32 to 64 query rows, see `row_block`) tasks on the
//! rayon pool. Each task runs pass 1 (scores for its rows: a slice of P, written once), pass 2
//! (softmax of those rows while they are still in L2) and pass 3 (its rows of O = P·V). With
//! `causal`, a block never touches keys past its last row.

use rayon::prelude::*;

use super::{
    Backend, PackedB, gemm_fast, gemm_on_panels, softmax_row, softmax_rows2, spread_ld,
    transposed_spread, values_in_panels,
};

/// The sizes of one multi-head attention call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttnShape {
    /// Number of heads.
    pub heads: usize,
    /// Query positions.
    pub n_q: usize,
    /// Key/value positions.
    pub n_k: usize,
    /// Head dimension d_k (= d_v).
    pub d: usize,
}

impl AttnShape {
    /// Floating-point operations of the two matrix products (2·h·n_q·n_k·d each).
    pub fn flops(&self) -> f64 {
        4.0 * self.heads as f64 * self.n_q as f64 * self.n_k as f64 * self.d as f64
    }
}

/// Query rows per task for `n_k` keys: 64 up to 512 keys, past that as many whole register
/// tiles (6 rows) as keep the task's rows of P within 128 KiB, at least 30. 64 rows reuse
/// each Kᵀ panel and each block of V over twice the register tiles: on one core of an Intel
/// Xeon, 512 keys went 6.60–6.72 → 6.42–6.51 ms against 32 rows, while 64 rows measured
/// slower at 1,024 keys (27.7 → 28.2 ms, 256 KiB) and at 2,048 (111–114 → 117–118 ms, 512
/// KiB). Whole tiles: 32 rows ran five tiles of 6 and one of 2, which has too few
/// accumulators to keep the FMA units busy; on the Zen 3 (2 threads, AVX2) 2,048 keys went
/// 100.2 → 95.9 ms with 30 rows, best of four alternating runs.
fn row_block(n_k: usize) -> usize {
    const P_BYTES: usize = 128 << 10;
    const TILE: usize = 6;
    match P_BYTES / (4 * n_k.max(1)) {
        64.. => 64,
        rows => (rows / TILE * TILE).max(30),
    }
}

/// A head's Kᵀ as the score product reads it.
enum Keys {
    /// In panels of keys ([`PackedB::transposed`]).
    Panels(PackedB),
    /// Row-major (d × n_k) at the given row stride.
    Spread(super::AlignedVec, usize),
}

/// Runs materialised attention for all heads, writing P and O.
///
/// `causal` masks keys j > i (query i sees keys 0..=i). With no keys at all (`n_k = 0`), P and
/// O are zeros.
///
/// # Panics
/// If a slice does not match `shape` (a programming error: callers size the buffers).
#[allow(clippy::too_many_arguments)]
pub fn attention_forward(
    backend: Backend,
    shape: AttnShape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    scale: f32,
    causal: bool,
    probs: &mut [f32],
    out: &mut [f32],
) {
    let AttnShape { heads, n_q, n_k, d } = shape;
    assert_eq!(q.len(), heads * n_q * d, "Q shape");
    assert_eq!(k.len(), heads * n_k * d, "K shape");
    assert_eq!(v.len(), heads * n_k * d, "V shape");
    assert_eq!(probs.len(), heads * n_q * n_k, "P shape");
    assert_eq!(out.len(), heads * n_q * d, "O shape");
    if heads == 0 || n_q == 0 {
        return;
    }
    if n_k == 0 || d == 0 {
        probs.fill(0.0);
        out.fill(0.0);
        return;
    }
    probs
        .par_chunks_mut(n_q * n_k)
        .zip(out.par_chunks_mut(n_q * d))
        .enumerate()
        .for_each(|(head, (p_head, o_head))| {
            let qh = &q[head * n_q * d..(head + 1) * n_q * d];
            let kh = &k[head * n_k * d..(head + 1) * n_k * d];
            let vh = &v[head * n_k * d..(head + 1) * n_k * d];
            let rb = row_block(n_k);
            // Kᵀ once per head: in panels of keys (d × width each, contiguous) for the
            // AVX-512 and AVX2 tiles; row-major at a spread stride for the other backends.
            let keys = if matches!(backend, Backend::Avx512 | Backend::Avx2) {
                Keys::Panels(PackedB::transposed(backend, kh, n_k, d))
            } else {
                Keys::Spread(transposed_spread(kh, n_k, d), spread_ld(n_k))
            };
            // V in panels where the tile is narrower than d (`values_in_panels`).
            let values = values_in_panels(backend, vh, n_k, d);
            p_head
                .par_chunks_mut(rb * n_k)
                .zip(o_head.par_chunks_mut(rb * d))
                .enumerate()
                .for_each(|(block, (p_blk, o_blk))| {
                    let i0 = block * rb;
                    let rows = p_blk.len() / n_k;
                    // Keys this block can see at all.
                    let visible = if causal { (i0 + rows).min(n_k) } else { n_k };
                    // pass 1: scores = scale · Q_blk · Kᵀ[:, ..visible]
                    let q_blk = &qh[i0 * d..];
                    match &keys {
                        Keys::Panels(kt) => gemm_on_panels(
                            backend,
                            rows,
                            scale,
                            q_blk,
                            d,
                            kt,
                            0..d,
                            visible,
                            p_blk,
                            n_k,
                        ),
                        Keys::Spread(kt, ld) => gemm_fast(
                            backend, 1, rows, visible, d, scale, q_blk, d, kt, *ld, p_blk, n_k,
                        ),
                    }
                    // pass 2: mask each row, then softmax two rows at a time (their
                    // dependent steps overlap; the bits of one row at a time)
                    for (r, row) in p_blk.chunks_exact_mut(n_k).enumerate() {
                        let last_visible = if causal { (i0 + r + 1).min(n_k) } else { n_k };
                        row[last_visible..].fill(f32::NEG_INFINITY);
                    }
                    let mut pairs = p_blk.chunks_exact_mut(2 * n_k);
                    for pair in pairs.by_ref() {
                        let (a, b) = pair.split_at_mut(n_k);
                        softmax_rows2(backend, a, b);
                    }
                    let last = pairs.into_remainder();
                    if !last.is_empty() {
                        softmax_row(backend, last);
                    }
                    // pass 3: O_blk = P_blk[:, ..visible] · V[..visible]
                    match &values {
                        Some(vp) => gemm_on_panels(
                            backend,
                            rows,
                            1.0,
                            p_blk,
                            n_k,
                            vp,
                            0..visible,
                            d,
                            o_blk,
                            d,
                        ),
                        None => gemm_fast(
                            backend, 1, rows, d, visible, 1.0, p_blk, n_k, vh, d, o_blk, d,
                        ),
                    }
                });
        });
}
