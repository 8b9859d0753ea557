//! The scalar reference: textbook loops, no blocking, no tricks. Every fast path is tested
//! against these functions; keep them obviously correct rather than fast.
//!
//! Legend: `m` = rows of A/C, `n` = columns of B/C, `k` = shared dimension.

use super::SoftmaxSums;

/// C = α·A·B, one dot product per output element, summed in index order.
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
        for j in 0..n {
            let mut acc = 0.0f32;
            for p in 0..k {
                acc += a[i * lda + p] * b[p * ldb + j];
            }
            c[i * ldc + j] = alpha * acc;
        }
    }
}

/// Stable softmax in place; −∞ entries are masked and become 0; an all-masked row is zeros.
pub(super) fn softmax_row(row: &mut [f32]) -> Option<SoftmaxSums> {
    // pass 1: the row max, so exp never overflows
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        row.fill(0.0);
        return None;
    }
    // pass 2: exponentials and their sum
    let (mut sum, mut shifted) = (0.0f32, 0.0f32);
    for x in row.iter_mut() {
        let d = *x - max;
        *x = if *x == f32::NEG_INFINITY {
            0.0
        } else {
            d.exp()
        };
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
