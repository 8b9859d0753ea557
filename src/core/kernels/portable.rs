//! The portable path: the same maths as the scalar reference, in an order the compiler can
//! vectorise for the target's baseline (SSE2 on x86_64, NEON on aarch64): C rows are
//! accumulated as axpy updates `C[i,:] += a_ip · B[p,:]` over contiguous memory.
//!
//! Legend: `m` = rows of A/C, `n` = columns of B/C, `k` = shared dimension.

use super::SoftmaxSums;

/// C = α·A·B via row-axpy updates (i-p-j loop order).
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm(
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
    for i in 0..m {
        let crow = &mut c[i * ldc..i * ldc + n];
        crow.fill(0.0);
        for p in 0..k {
            let aip = a[i * lda + p];
            let brow = &b[p * ldb..p * ldb + n];
            for (cv, bv) in crow.iter_mut().zip(brow) {
                *cv += aip * bv;
            }
        }
        if alpha != 1.0 {
            for cv in crow.iter_mut() {
                *cv *= alpha;
            }
        }
    }
}

/// Stable softmax in place (same contract as the scalar one), with vectorisable max/scale.
pub(super) fn softmax_row(row: &mut [f32]) -> Option<SoftmaxSums> {
    // pass 1: max over lanes
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        row.fill(0.0);
        return None;
    }
    // pass 2: exp and sum (−∞ − max = −∞ and exp(−∞) = 0 exactly)
    let (mut sum, mut shifted) = (0.0f32, 0.0f32);
    for x in row.iter_mut() {
        let d = *x - max;
        *x = d.exp();
        sum += *x;
        if *x > 0.0 {
            shifted += *x * d;
        }
    }
    // pass 3: normalise
    let inv = 1.0 / sum;
    for x in row.iter_mut() {
        *x *= inv;
    }
    Some(SoftmaxSums { z: sum, shifted })
}
