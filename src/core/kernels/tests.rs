//! Fast paths against the scalar oracle at awkward sizes, plus property tests.

use super::*;
use std::mem::MaybeUninit;

use proptest::prelude::*;

/// Deterministic pseudo-random fill in [-1, 1).
fn fill(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Whether two slices hold the same floats, bit for bit.
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Memory a test filled with a sentinel (a stand-in for garbage) before a product wrote into
/// it as uninitialised, read back.
fn read_back(cells: Vec<MaybeUninit<f32>>) -> Vec<f32> {
    // SAFETY: the test initialised every cell with its sentinel when it made the vector.
    cells
        .into_iter()
        .map(|x| unsafe { x.assume_init() })
        .collect()
}

/// [`gemm_panels_uninit`] (nothing ahead) into m rows at stride `ldc` of memory holding a
/// sentinel that no product gives (a stand-in for garbage), read back.
#[allow(clippy::too_many_arguments)]
fn panels_into_garbage(
    backend: Backend,
    threads: usize,
    m: usize,
    alpha: f32,
    (a, lda): (&[f32], usize),
    packed: &PackedB,
    ldc: usize,
    add: Addend<'_>,
) -> Vec<f32> {
    let mut got = vec![MaybeUninit::new(9.0f32); m * ldc];
    gemm_panels_uninit(
        backend,
        threads,
        m,
        alpha,
        a,
        lda,
        packed,
        &mut got,
        ldc,
        &[],
        add,
    );
    read_back(got)
}

/// Largest |a − b| over two slices, with the first index where it occurs.
fn max_abs_diff(a: &[f32], b: &[f32]) -> (f32, usize) {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .enumerate()
        .map(|(i, (x, y))| ((x - y).abs(), i))
        .fold((0.0, 0), |acc, x| if x.0 > acc.0 { x } else { acc })
}

fn assert_close(label: &str, got: &[f32], want: &[f32], tol: f32) {
    let (diff, at) = max_abs_diff(got, want);
    assert!(
        diff <= tol,
        "{label}: max |Δ| = {diff:e} at {at} (got {}, want {}), tolerance {tol:e}",
        got[at],
        want[at]
    );
}

/// The awkward sizes: empty, one, around both lane widths, a prime, and past 1000.
const SIZES: [usize; 12] = [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1031];

#[test]
fn gemm_matches_scalar_at_awkward_sizes() {
    for backend in Backend::supported() {
        for &m in &[0usize, 1, 5, 6, 7, 13] {
            for &n in &SIZES {
                for &k in &[0usize, 1, 3, 16, 64, 129] {
                    let a = fill(m * k, 1 + m as u64);
                    let b = fill(k * n, 2 + n as u64);
                    let mut want = vec![7.0; m * n];
                    let mut got = vec![-7.0; m * n];
                    scalar::gemm(m, n, k, 0.5, &a, k, &b, n, &mut want, n);
                    gemm(backend, m, n, k, 0.5, &a, k, &b, n, &mut got, n);
                    let tol = 1e-5 * (k as f32).max(1.0);
                    assert_close(
                        &format!("{backend} gemm m={m} n={n} k={k}"),
                        &got,
                        &want,
                        tol,
                    );
                }
            }
        }
    }
}

#[test]
fn gemm_respects_strides_and_leaves_padding_alone() {
    // A 5×3 product written into the middle of a wider C: padding columns must not change.
    let (m, n, k, ldc) = (5, 19, 4, 23);
    let a = fill(m * 6, 3);
    let b = fill(k * 21, 4);
    for backend in Backend::supported() {
        let mut want = vec![9.0; m * ldc];
        let mut got = vec![9.0; m * ldc];
        scalar::gemm(m, n, k, 1.0, &a, 6, &b, 21, &mut want, ldc);
        gemm(backend, m, n, k, 1.0, &a, 6, &b, 21, &mut got, ldc);
        assert_close(&format!("{backend} strided"), &got, &want, 1e-5);
        for r in 0..m {
            assert!(got[r * ldc + n..(r + 1) * ldc].iter().all(|&x| x == 9.0));
        }
    }
}

#[test]
fn softmax_matches_scalar_at_awkward_sizes() {
    for backend in Backend::supported() {
        for &len in &SIZES {
            let mut want = fill(len, 5 + len as u64);
            for x in want.iter_mut() {
                *x *= 30.0; // wide logits exercise the exp range
            }
            if len > 3 {
                want[2] = f32::NEG_INFINITY;
            }
            let mut got = want.clone();
            let a = scalar::softmax_row(&mut want);
            let b = softmax_row_sums(backend, &mut got);
            assert_eq!(a.is_some(), b.is_some());
            if let (Some(a), Some(b)) = (a, b) {
                // Z and Σ e·(x − max), the entropy's sums, agree with the scalar oracle's.
                assert!((a.z - b.z).abs() <= 1e-5 * a.z, "{backend} len={len}: Z");
                let tol = 1e-5 * a.shifted.abs().max(1.0);
                assert!((a.shifted - b.shifted).abs() <= tol, "{backend} len={len}");
            }
            assert_close(&format!("{backend} softmax len={len}"), &got, &want, 2e-6);
            if len > 3 {
                assert_eq!(got[2], 0.0, "{backend}: a masked key must get exactly 0");
            }
        }
    }
}

#[test]
fn fully_masked_row_is_zeros_not_nan() {
    for backend in Backend::supported() {
        for len in [0usize, 1, 17] {
            let mut row = vec![f32::NEG_INFINITY; len];
            assert!(!softmax_row(backend, &mut row), "{backend}");
            assert!(row.iter().all(|&x| x == 0.0), "{backend}");
        }
    }
}

#[test]
fn softmax_survives_huge_logits() {
    for backend in Backend::supported() {
        let mut row = vec![1e30, -1e30, 0.0, 88.0, 1e30];
        assert!(softmax_row(backend, &mut row));
        assert_close(
            &format!("{backend}"),
            &row,
            &[0.5, 0.0, 0.0, 0.0, 0.5],
            1e-6,
        );
    }
}

/// Reference attention built only from scalar pieces.
fn attention_reference(
    shape: AttnShape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    scale: f32,
    causal: bool,
) -> (Vec<f32>, Vec<f32>) {
    let AttnShape { heads, n_q, n_k, d } = shape;
    let mut p = vec![0.0; heads * n_q * n_k];
    let mut o = vec![0.0; heads * n_q * d];
    for h in 0..heads {
        for i in 0..n_q {
            let row = &mut p[(h * n_q + i) * n_k..(h * n_q + i + 1) * n_k];
            for j in 0..n_k {
                let mut s = 0.0;
                for m in 0..d {
                    s += q[(h * n_q + i) * d + m] * k[(h * n_k + j) * d + m];
                }
                row[j] = if causal && j > i {
                    f32::NEG_INFINITY
                } else {
                    s * scale
                };
            }
            scalar::softmax_row(row);
            for m in 0..d {
                let mut acc = 0.0;
                for j in 0..n_k {
                    acc += row[j] * v[(h * n_k + j) * d + m];
                }
                o[(h * n_q + i) * d + m] = acc;
            }
        }
    }
    (p, o)
}

#[test]
fn fused_attention_matches_reference() {
    for backend in Backend::supported() {
        for &(heads, n_q, n_k, d) in &[
            (1, 1, 1, 1),
            (2, 7, 7, 5),
            (3, 33, 65, 64),
            (2, 70, 31, 17),
            (1, 40, 200, 8),
            (1, 5, 0, 4),
        ] {
            for causal in [false, true] {
                let shape = AttnShape { heads, n_q, n_k, d };
                let q = fill(heads * n_q * d, 11);
                let k = fill(heads * n_k * d, 12);
                let v = fill(heads * n_k * d, 13);
                let scale = 1.0 / (d as f32).sqrt();
                let (wp, wo) = attention_reference(shape, &q, &k, &v, scale, causal);
                let mut p = vec![f32::NAN; wp.len()];
                let mut o = vec![f32::NAN; wo.len()];
                attention_forward(backend, shape, &q, &k, &v, scale, causal, &mut p, &mut o);
                let label = format!("{backend} attention {shape:?} causal={causal}");
                assert_close(&format!("{label} P"), &p, &wp, 1e-5);
                assert_close(&format!("{label} O"), &o, &wo, 1e-5);
            }
        }
    }
}

#[test]
fn best_backend_uses_simd_where_the_cpu_has_it() {
    let best = Backend::best();
    assert!(best.is_supported());
    #[cfg(target_arch = "x86_64")]
    if std::env::var("ATTNSCOPE_KERNEL").is_err() && std::arch::is_x86_feature_detected!("avx512f")
    {
        assert_eq!(
            best,
            Backend::Avx512,
            "a plain build must pick AVX-512 at run time"
        );
    }
    #[cfg(target_arch = "x86_64")]
    if std::env::var("ATTNSCOPE_KERNEL").is_err()
        && !std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        assert_eq!(
            best,
            Backend::Avx2,
            "a plain build must pick AVX2 where there is no AVX-512"
        );
    }
}

/// The dispatching product the model and the fused kernel run on (attnscope's own kernel
/// split in row blocks on AVX2 and AVX-512), and that row split itself on every
/// backend (the scalar and portable linear maps run on it), equal the scalar oracle on one
/// thread and on several, with strides wider than the matrices and a C longer than its m
/// rows (the attention blocks write into a slice of the whole context), and leaves the rows
/// after m alone.
#[test]
fn gemm_fast_matches_scalar_threaded_and_strided() {
    for backend in Backend::supported() {
        for &(m, n, k) in &[
            (1usize, 5usize, 3usize),
            (31, 17, 9),
            (33, 64, 64),
            (97, 130, 65),
            (200, 7, 129),
            // k ≥ 128 and B wider than one panel: the AVX-512 tile's prefetch path.
            (13, 130, 160),
        ] {
            let (lda, ldb, ldc) = (k + 3, n + 2, n + 5);
            let a = fill(m * lda, 3 + m as u64);
            let b = fill(k * ldb, 4 + n as u64);
            let extra = 2 * ldc;
            let mut want = vec![9.0; m * ldc + extra];
            scalar::gemm(m, n, k, 0.25, &a, lda, &b, ldb, &mut want, ldc);
            type Product = fn(
                Backend,
                usize,
                usize,
                usize,
                usize,
                f32,
                &[f32],
                usize,
                &[f32],
                usize,
                &mut [f32],
                usize,
            );
            let products: [(&str, Product); 2] =
                [("gemm_fast", gemm_fast), ("gemm_rows", gemm_rows)];
            for (threads, (name, product)) in
                [1, 2, 3].into_iter().flat_map(|t| products.map(|p| (t, p)))
            {
                let mut got = vec![9.0; m * ldc + extra];
                product(
                    backend, threads, m, n, k, 0.25, &a, lda, &b, ldb, &mut got, ldc,
                );
                for i in 0..m {
                    assert_close(
                        &format!("{backend} {name} m={m} n={n} k={k} threads={threads} row {i}"),
                        &got[i * ldc..i * ldc + n],
                        &want[i * ldc..i * ldc + n],
                        1e-5 * k as f32,
                    );
                }
                assert!(
                    got[m * ldc..].iter().all(|&x| x == 9.0),
                    "{backend}: wrote past row m"
                );
            }
        }
    }
}

/// The transpose (16 × 16 blocks through registers where the CPU has AVX-512 or AVX2, the
/// edges element by element) puts every element where the definition does and leaves the padding
/// between rows alone.
#[test]
fn transpose_moves_every_element_to_its_place() {
    for (rows, cols, ld) in [
        (16usize, 16usize, 16usize),
        (33, 64, 40),
        (128, 64, 129),
        (5, 70, 9),
        (64, 17, 65),
        (0, 3, 1),
    ] {
        let src = fill(rows * cols, 5);
        let mut out = vec![-7.0f32; cols * ld];
        transpose(&src, rows, cols, &mut out, ld);
        for j in 0..cols {
            for i in 0..ld {
                let want = if i < rows { src[i * cols + j] } else { -7.0 };
                assert_eq!(
                    out[j * ld + i].to_bits(),
                    want.to_bits(),
                    "{rows}×{cols} ld {ld}: ({j}, {i})"
                );
            }
        }
    }
}

/// Kᵀ laid out from K is the layout of the explicit transpose, element for element, with
/// a partial last panel and zero padding after it, at both panel widths.
#[test]
fn transposed_panels_hold_the_transpose() {
    // Both panel widths, whichever backends this machine runs.
    for (backend, (rows, cols)) in [Backend::Avx512, Backend::Avx2].into_iter().flat_map(|b| {
        [
            (1usize, 1usize),
            (64, 5),
            (65, 64),
            (17, 16),
            (200, 3),
            (0, 4),
            (7, 0),
        ]
        .map(|s| (b, s))
    }) {
        let a = fill(rows * cols, 7);
        let t = PackedB::transposed(backend, &a, rows, cols);
        assert_eq!((t.k(), t.n()), (cols, rows));
        for p in 0..cols {
            for j in 0..rows {
                assert_eq!(
                    t.get(p, j).to_bits(),
                    a[j * cols + p].to_bits(),
                    "{rows}×{cols} ({p}, {j})"
                );
            }
        }
        let mut explicit = vec![0.0; rows * cols];
        for (j, row) in a.chunks_exact(cols.max(1)).enumerate().take(rows) {
            for (p, &x) in row.iter().enumerate() {
                explicit[p * rows + j] = x;
            }
        }
        let want = PackedB::new(backend, cols, rows, &explicit, rows);
        let got: Vec<_> = t.panels().flat_map(|p| p.2.to_vec()).collect();
        let want: Vec<_> = want.panels().flat_map(|p| p.2.to_vec()).collect();
        assert_eq!(got, want, "{rows}×{cols}");
    }
}

/// Weights laid out in panels give the same bits as the row-major matrix, on every backend
/// and thread count, with a last panel narrower than 64, and C's padding left alone.
#[test]
fn gemm_on_panels_gives_the_row_major_bits() {
    for backend in Backend::supported() {
        for &(m, n, k) in &[
            (1usize, 5usize, 3usize),
            (31, 64, 9),
            (97, 130, 65),
            (70, 192, 576),
            (13, 1, 160),
            (8, 0, 4),
        ] {
            let (lda, ldb, ldc) = (k + 3, n + 2, n + 5);
            let a = fill(m * lda, 5 + m as u64);
            let b = fill(k * ldb, 6 + n as u64);
            let packed = PackedB::new(backend, k, n, &b, ldb);
            assert_eq!((packed.k(), packed.n()), (k, n));
            for p in 0..k {
                for j in 0..n {
                    assert_eq!(packed.get(p, j).to_bits(), b[p * ldb + j].to_bits());
                }
            }
            for threads in [1, 2, 3] {
                let mut want = vec![9.0; m * ldc + ldc];
                gemm_rows(
                    backend, threads, m, n, k, 0.5, &a, lda, &b, ldb, &mut want, ldc,
                );
                let mut got = vec![9.0; m * ldc + ldc];
                gemm_panels(
                    backend,
                    threads,
                    m,
                    0.5,
                    &a,
                    lda,
                    &packed,
                    &mut got,
                    ldc,
                    &[],
                );
                assert!(
                    same_bits(&got, &want),
                    "{backend} m={m} n={n} k={k} threads={threads}: panels differ from row-major"
                );
            }
        }
    }
}

/// A product over a span of a laid-out B's rows and its first columns (a block's scores
/// against Kᵀ in panels, or its context over V in panels) gives the bits of `gemm` on the
/// row-major rows and columns, at both panel widths on every backend, with C's other
/// columns and padding left alone.
#[test]
fn products_over_a_span_of_panels_give_the_row_major_bits() {
    let layouts = [Backend::Avx512, Backend::Avx2];
    for (backend, layout) in Backend::supported()
        .into_iter()
        .flat_map(|b| layouts.map(|l| (b, l)))
    {
        for (m, n, k, keys, cols) in [
            (30usize, 64usize, 2048usize, 0usize..2048usize, 64usize),
            (6, 130, 64, 0..64, 97),
            (13, 40, 300, 37..300, 40),
            (7, 17, 129, 5..6, 17),
            (5, 33, 20, 3..20, 0),
            (0, 16, 4, 0..4, 16),
        ] {
            let depth = keys.len();
            let (lda, ldc) = (depth + 3, n + 5);
            let a = fill(m * lda, 40 + m as u64);
            let b = fill(k * n, 41 + n as u64);
            let packed = PackedB::new(layout, k, n, &b, n);
            let mut want = vec![9.0; m * ldc + ldc];
            gemm(
                backend,
                m,
                cols,
                depth,
                0.5,
                &a,
                lda,
                &b[keys.start * n..],
                n,
                &mut want,
                ldc,
            );
            let mut got = vec![9.0; m * ldc + ldc];
            gemm_on_panels(
                backend,
                m,
                0.5,
                &a,
                lda,
                &packed,
                keys.clone(),
                cols,
                &mut got,
                ldc,
            );
            assert!(
                same_bits(&got, &want),
                "{backend} on {layout} panels m={m} n={n} k={k} keys={keys:?} cols={cols}"
            );
        }
    }
}

/// The SIMD register tiles compute each element of C as one chain of fused multiply-adds
/// over k in order, then scale it and add the bias, however deep k is: the AVX-512 and AVX2
/// products run k in blocks of up to 128 rows and keep their raw sums in C between them, which
/// must not change a bit (the fixtures and every kept attention depend on it), including into
/// uninitialised memory and across block edges (127, 128, 129, 257 ... rows).
#[test]
fn simd_products_are_one_fma_chain_per_element_at_any_depth() {
    let simd: Vec<Backend> = Backend::supported()
        .into_iter()
        .filter(|b| matches!(b, Backend::Avx2 | Backend::Avx512))
        .collect();
    for backend in simd {
        for &(m, n, k) in &[
            (7usize, 70usize, 1usize),
            (13, 64, 127),
            (6, 17, 128),
            (13, 130, 129),
            (5, 64, 257),
            (9, 33, 384),
            (4, 65, 1536),
            (2, 16, 2049),
            // More rows than a block: one thread takes them a block at a time.
            (150, 80, 200),
        ] {
            let (lda, ldc) = (k + 3, n + 5);
            let a = fill(m * lda, 41 + k as u64);
            let b = fill(k * n, 42 + n as u64);
            let bias = fill(n, 43 + m as u64);
            let alpha = 0.375;
            let mut want = vec![9.0f32; m * ldc];
            for i in 0..m {
                for j in 0..n {
                    let chain =
                        (0..k).fold(0.0f32, |acc, p| a[i * lda + p].mul_add(b[p * n + j], acc));
                    want[i * ldc + j] = chain * alpha + bias[j];
                }
            }
            let packed = PackedB::new(backend, k, n, &b, n);
            for threads in [1, 2] {
                let add = Addend {
                    bias: &bias,
                    matrix: None,
                };
                let got =
                    panels_into_garbage(backend, threads, m, alpha, (&a, lda), &packed, ldc, add);
                assert!(
                    same_bits(&got, &want),
                    "{backend} m={m} n={n} k={k} threads={threads}: not one FMA chain per element"
                );
            }
        }
    }
}

/// `zero_stream` writes zeros and `stream_span` its source over exactly their span, whatever
/// the span's alignment and length (unaligned heads and tails, spans shorter than a cache
/// line, empty), on every backend.
#[test]
fn streaming_stores_write_their_span_and_nothing_else() {
    for backend in Backend::supported() {
        for start in 0..20usize {
            for len in [0usize, 1, 5, 15, 16, 17, 31, 47, 64, 100, 513] {
                let src: Vec<f32> = (0..len).map(|i| i as f32 + 0.5).collect();
                let mut zeroed = vec![MaybeUninit::new(7.0f32); start + len + 19];
                let mut copied = zeroed.clone();
                zero_stream(backend, &mut zeroed[start..start + len]);
                stream_span(backend, &mut copied[start..], &src);
                store_fence(backend);
                let (zeroed, copied) = (read_back(zeroed), read_back(copied));
                for i in 0..zeroed.len() {
                    let inside = (start..start + len).contains(&i);
                    let what = format!("{backend} start={start} len={len} at {i}");
                    assert_eq!(zeroed[i], if inside { 0.0 } else { 7.0 }, "zeros: {what}");
                    let want = if inside { src[i - start] } else { 7.0 };
                    assert_eq!(copied[i], want, "copy: {what}");
                }
            }
        }
    }
}

/// A forward kept awake on the pool gives its result from inside or outside the pool, nested
/// in another, on a one-thread pool, with parallel work inside; and a panic inside it
/// reaches the caller instead of leaving the pool's other workers polling forever.
#[test]
fn work_kept_awake_on_the_pool_returns_nests_and_passes_panics_on() {
    use rayon::prelude::*;
    let sum = || (0..10_000u64).into_par_iter().map(|x| x * x).sum::<u64>();
    let want: u64 = (0..10_000u64).map(|x| x * x).sum();
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool");
        assert_eq!(pool.install(|| on_pool_awake(sum)), want);
        let nested = pool.install(|| on_pool_awake(|| on_pool_awake(sum) + on_pool_awake(sum)));
        assert_eq!(nested, 2 * want);
        // From two threads outside the pool at once.
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| pool.install(|| on_pool_awake(sum)));
            let b = s.spawn(|| pool.install(|| on_pool_awake(sum)));
            (a.join().expect("no panic"), b.join().expect("no panic"))
        });
        assert_eq!((a, b), (want, want));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.install(|| on_pool_awake(|| -> u64 { panic!("inside the forward") }))
        }));
        assert!(
            caught.is_err(),
            "{threads} threads: the panic must reach the caller"
        );
        // The pool still works after it.
        assert_eq!(pool.install(|| on_pool_awake(sum)), want);
    }
}

/// The kept attention probabilities are computed in memory that was never zeroed: the
/// product must write every element of its m × n, give the bits of `gemm_fast` on one
/// thread (which it replaces there), and leave the rest of C (the gaps between rows) alone.
#[test]
fn gemm_into_uninitialised_memory_writes_exactly_its_rows_with_the_same_bits() {
    for backend in Backend::supported() {
        for &(m, n, k) in &[
            (1usize, 1usize, 1usize),
            (7, 65, 64),
            (13, 17, 3),
            (6, 64, 0),
            (0, 4, 4),
            (5, 0, 2),
        ] {
            let (lda, ldb, ldc) = (k + 1, n + 3, n + 5);
            let a = fill(m * lda, 11 + m as u64);
            let b = fill(k * ldb, 12 + n as u64);
            let mut want = vec![9.0; m * ldc];
            gemm_fast(backend, 1, m, n, k, 0.25, &a, lda, &b, ldb, &mut want, ldc);
            // Stand-in for garbage: a value the product never gives, in every cell.
            let mut got = vec![MaybeUninit::new(9.0f32); m * ldc];
            gemm_uninit(backend, m, n, k, 0.25, &a, lda, &b, ldb, &mut got, ldc);
            let got = read_back(got);
            assert!(
                same_bits(&got, &want),
                "{backend} m={m} n={n} k={k}: gemm_uninit differs from gemm_fast"
            );
        }
    }
}

/// A layer's product on panels into uninitialised memory with its bias and a residual
/// matrix added in the tile: the bits of the row-major product followed by a separate bias
/// pass, then a separate residual pass, C's padding left alone, on every backend and thread
/// count (a last panel narrower than 64 included), with either addend or both.
#[test]
fn gemm_on_panels_with_a_bias_and_a_residual_writes_product_bias_residual_and_nothing_else() {
    for backend in Backend::supported() {
        for &(m, n, k) in &[
            (1usize, 5usize, 3usize),
            (31, 64, 9),
            (97, 130, 65),
            (7, 1, 160),
            (13, 70, 300),
        ] {
            let (lda, ldc, ldr) = (k + 3, n + 5, n + 2);
            let a = fill(m * lda, 31 + m as u64);
            let b = fill(k * n, 32 + n as u64);
            let bias = fill(n, 33 + k as u64);
            let residual = fill(m * ldr, 34 + k as u64);
            let packed = PackedB::new(backend, k, n, &b, n);
            for (with_bias, with_residual) in [(true, false), (false, true), (true, true)] {
                let add = Addend {
                    bias: if with_bias { &bias } else { &[] },
                    matrix: with_residual.then_some((&residual[..], ldr)),
                };
                for threads in [1, 2, 3] {
                    let mut want = vec![9.0; m * ldc];
                    gemm_rows(
                        backend, threads, m, n, k, 1.0, &a, lda, &b, n, &mut want, ldc,
                    );
                    for (i, row) in want.chunks_mut(ldc).enumerate() {
                        if with_bias {
                            for (x, &y) in row.iter_mut().zip(&bias) {
                                *x += y;
                            }
                        }
                        if with_residual {
                            for (x, &y) in row.iter_mut().zip(&residual[i * ldr..i * ldr + n]) {
                                *x += y;
                            }
                        }
                    }
                    let got =
                        panels_into_garbage(backend, threads, m, 1.0, (&a, lda), &packed, ldc, add);
                    assert!(
                        same_bits(&got, &want),
                        "{backend} m={m} n={n} k={k} threads={threads} bias={with_bias} \
                         residual={with_residual}: the sum differs"
                    );
                }
            }
        }
    }
}

/// Two rows' softmax at once gives each row the bits (weights and sums) of its own call, at
/// lengths around the vector widths, with masked keys, a row whose every key is masked
/// beside a live one, NaN and +∞ scores, and rows of different lengths.
#[test]
fn softmax_of_two_rows_at_once_is_two_rows_one_at_a_time() {
    let row = |len: usize, seed: u64| -> Vec<f32> {
        fill(len, seed)
            .into_iter()
            .enumerate()
            .map(|(j, x)| {
                if j % 7 == 3 {
                    f32::NEG_INFINITY
                } else {
                    x * 30.0
                }
            })
            .collect()
    };
    let mut cases: Vec<(Vec<f32>, Vec<f32>)> = [0usize, 1, 15, 16, 17, 63, 64, 65, 128, 130, 512]
        .iter()
        .map(|&len| (row(len, 51 + len as u64), row(len, 52 + len as u64)))
        .collect();
    cases.push((vec![f32::NEG_INFINITY; 40], row(40, 53)));
    cases.push((row(40, 54), vec![f32::NEG_INFINITY; 40]));
    let mut odd = row(33, 55);
    odd[5] = f32::NAN;
    odd[9] = f32::INFINITY;
    cases.push((odd, row(33, 56)));
    cases.push((row(20, 57), row(21, 58)));
    let same = |a: &Option<SoftmaxSums>, b: &Option<SoftmaxSums>| match (a, b) {
        (Some(a), Some(b)) => {
            same_bits(&[a.z, a.shifted], &[b.z, b.shifted]) || (a.z.is_nan() && b.z.is_nan())
        }
        (None, None) => true,
        _ => false,
    };
    for backend in Backend::supported() {
        for (a, b) in &cases {
            let (mut a2, mut b2) = (a.clone(), b.clone());
            let pair = softmax_row_sums2(backend, &mut a2, &mut b2);
            let (mut a1, mut b1) = (a.clone(), b.clone());
            let one = [
                softmax_row_sums(backend, &mut a1),
                softmax_row_sums(backend, &mut b1),
            ];
            let label = format!("{backend} lengths {} and {}", a.len(), b.len());
            let bits = |x: &[f32], y: &[f32]| {
                x.iter()
                    .zip(y)
                    .all(|(p, q)| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()))
            };
            assert!(bits(&a2, &a1) && bits(&b2, &b1), "{label}: the weights");
            // Without the sums: the same weights, and the same rows with nothing to attend to.
            let (mut a3, mut b3) = (a.clone(), b.clone());
            let live = softmax_rows2(backend, &mut a3, &mut b3);
            assert!(
                bits(&a3, &a1) && bits(&b3, &b1),
                "{label}: the weights without sums"
            );
            assert_eq!(live, one.map(|s| s.is_some()), "{label}: rows without sums");
            let mut a4 = a.clone();
            assert_eq!(
                softmax_row(backend, &mut a4),
                one[0].is_some(),
                "{label}: one row"
            );
            assert!(bits(&a4, &a1), "{label}: one row's weights without sums");
            assert!(
                same(&pair[0], &one[0]) && same(&pair[1], &one[1]),
                "{label}: the sums"
            );
        }
    }
}

/// Kᵀ at a spread stride: every element where the stride puts it, and 64 consecutive rows
/// starting in 64 different 64-byte cache sets at any key count (a power of two included).
#[test]
fn keys_transposed_at_a_spread_stride_land_in_different_cache_sets() {
    for n in [1usize, 15, 16, 17, 64, 128, 500, 512, 2048, 4096] {
        let ld = spread_ld(n);
        assert!(
            ld >= n && ld.is_multiple_of(16) && (ld / 16) % 2 == 1,
            "n={n}: ld={ld}"
        );
        let sets: std::collections::HashSet<usize> = (0..64).map(|r| (r * ld / 16) % 64).collect();
        assert_eq!(
            sets.len(),
            64,
            "n={n}: ld={ld} folds 64 rows into {} sets",
            sets.len()
        );
    }
    let (rows, cols) = (37, 5);
    let src = fill(rows * cols, 21);
    let ld = spread_ld(rows);
    let mut out = vec![f32::NAN; (cols - 1) * ld + rows];
    transpose(&src, rows, cols, &mut out, ld);
    for i in 0..rows {
        for j in 0..cols {
            assert_eq!(out[j * ld + i].to_bits(), src[i * cols + j].to_bits());
        }
    }
}

/// A row whose scores overflowed (+∞, as 1/τ = ∞ makes them) or hold NaN has no softmax:
/// every fast path must say so with NaN like the scalar oracle, at every length and lane
/// position, or the "every number must be finite" check passes a made-up distribution.
#[test]
fn softmax_of_overflowed_or_nan_scores_is_nan_on_every_backend() {
    for &len in &[3usize, 8, 9, 16, 17, 40, 1031] {
        for at in [0, len / 2, len - 1] {
            for bad in [f32::INFINITY, f32::NAN] {
                let mut row = fill(len, len as u64);
                row[1] = f32::NEG_INFINITY;
                row[at] = bad;
                row[len - 1 - at] = bad;
                let mut want = row.clone();
                scalar::softmax_row(&mut want);
                if bad == f32::INFINITY {
                    assert!(want.iter().all(|x| x.is_nan()), "oracle, len {len}");
                }
                for backend in Backend::supported() {
                    let mut got = row.clone();
                    softmax_row(backend, &mut got);
                    for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                        assert_eq!(
                            g.is_nan(),
                            w.is_nan(),
                            "{backend} len {len} bad {bad} at {at}: p[{j}] = {g}, oracle {w}"
                        );
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn softmax_rows_sum_to_one_and_masked_are_zero(
        logits in prop::collection::vec(-50.0f32..50.0, 1..200),
        masked in prop::collection::vec(any::<bool>(), 200),
    ) {
        for backend in Backend::supported() {
            let mut row: Vec<f32> = logits.iter().zip(&masked)
                .map(|(&x, &m)| if m { f32::NEG_INFINITY } else { x }).collect();
            let any_visible = row.iter().any(|x| x.is_finite());
            prop_assert_eq!(softmax_row(backend, &mut row), any_visible);
            let sum: f32 = row.iter().sum();
            if any_visible {
                prop_assert!((sum - 1.0).abs() < 1e-5, "{} sum {}", backend, sum);
            }
            for (x, &m) in row.iter().zip(&masked) {
                prop_assert!(x.is_finite() && *x >= 0.0);
                if m { prop_assert_eq!(*x, 0.0); }
            }
        }
    }

    #[test]
    fn gemm_matches_scalar_on_random_shapes(m in 0usize..20, n in 0usize..150, k in 0usize..80, seed in 0u64..1000) {
        let a = fill(m * k, seed);
        let b = fill(k * n, seed + 1);
        let mut want = vec![0.0; m * n];
        scalar::gemm(m, n, k, 1.0, &a, k, &b, n, &mut want, n);
        for backend in Backend::supported() {
            let mut got = vec![0.0; m * n];
            gemm(backend, m, n, k, 1.0, &a, k, &b, n, &mut got, n);
            let (diff, _) = max_abs_diff(&got, &want);
            prop_assert!(diff <= 1e-5 * (k as f32).max(1.0), "{} m={} n={} k={} diff={}", backend, m, n, k, diff);
        }
    }
}

/// The SIMD SiLU equals x / (1 + e^−x) in f64 within a few ulp at every lane position, over
/// the whole range where it matters, and keeps NaN.
#[test]
fn silu_matches_the_definition_on_every_backend() {
    let xs: Vec<f32> = (0..1031)
        .map(|i| (i as f32 - 515.0) * 0.05)
        .chain([0.0, -0.0, 88.0, -88.0, -100.0, 100.0, f32::NAN])
        .collect();
    for backend in Backend::supported() {
        let mut got = xs.clone();
        silu(backend, &mut got);
        for (&x, &g) in xs.iter().zip(&got) {
            if x.is_nan() {
                assert!(g.is_nan(), "{backend}: silu(NaN) = {g}");
                continue;
            }
            let want = (f64::from(x) / (1.0 + (-f64::from(x)).exp())) as f32;
            let tol = 4.0 * f32::EPSILON * want.abs() + 1e-30;
            assert!(
                (g - want).abs() <= tol,
                "{backend}: silu({x}) = {g}, want {want}"
            );
        }
    }
}

/// SwiGLU's one-pass product gives the bits of SiLU followed by a separate product, on every
/// backend, at lengths with and without a vector tail (NaN and ±∞ included).
#[test]
fn silu_times_is_silu_then_the_product_bit_for_bit() {
    for backend in Backend::supported() {
        for len in [0usize, 1, 7, 8, 15, 16, 17, 100, 1536] {
            let mut x: Vec<f32> = fill(len, 41 + len as u64)
                .iter()
                .map(|v| v * 12.0)
                .collect();
            if len > 3 {
                x[1] = f32::NAN;
                x[2] = f32::INFINITY;
                x[3] = f32::NEG_INFINITY;
            }
            let by = fill(len, 42 + len as u64);
            let mut want = x.clone();
            silu(backend, &mut want);
            for (w, &b) in want.iter_mut().zip(&by) {
                *w *= b;
            }
            let mut got = x.clone();
            silu_times(backend, &mut got, &by);
            assert!(same_bits(&got, &want), "{backend} len={len}");
            let mut alone = x.clone();
            silu_times(backend, &mut alone, &[]);
            let mut plain = x;
            silu(backend, &mut plain);
            assert!(same_bits(&alone, &plain));
        }
    }
}
