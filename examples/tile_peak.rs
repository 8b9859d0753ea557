//! The AVX-512 (or best available) register tile on one core, where its operands stay in
//! cache: the ceiling the products of a forward pass can reach on this machine, and the
//! attention shapes (Q·Kᵀ with d = 64, P·V) at the strides the kernels give them, under the
//! first row: the core's FMA ceiling itself (register chains, no memory).
//! Run: cargo run --release --example tile_peak   (BENCHMARKS.md records it with the CPU)

use std::time::Instant;

use attnscope::core::kernels::{self, Backend};

/// GFLOP/s of `kernels::gemm` (one thread) on m × k · k × n at the given strides, over about
/// two GFLOP of repeats.
fn gflops(backend: Backend, [m, n, k]: [usize; 3], lda: usize, ldb: usize, ldc: usize) -> f64 {
    // On 64-byte lines, as the app's operands are (`kernels::AlignedVec`).
    let values = |len: usize, f: fn(usize) -> f32| {
        let v: Vec<f32> = (0..len).map(f).collect();
        kernels::AlignedVec::from_slice(&v)
    };
    let a = values(m * lda, |i| (i % 13) as f32 * 0.1);
    let b = values(k * ldb, |i| (i % 7) as f32 * 0.1);
    let mut c = kernels::AlignedVec::zeros(m * ldc);
    let flops = 2.0 * (m * n * k) as f64;
    let reps = (2e9 / flops) as usize + 1;
    let start = Instant::now();
    for _ in 0..reps {
        kernels::gemm(backend, m, n, k, 1.0, &a, lda, &b, ldb, &mut c, ldc);
    }
    flops * reps as f64 / start.elapsed().as_secs_f64() / 1e9
}

/// [`gflops`] with B laid out in panels for `backend` (`kernels::PackedB`, what the weights
/// and the materialised attention's Kᵀ and V are on AVX-512 and AVX2), A at stride k and C
/// at n, through `kernels::gemm_panels` on one thread.
fn gflops_panels(backend: Backend, [m, n, k]: [usize; 3]) -> f64 {
    let a: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.1).collect();
    let a = kernels::AlignedVec::from_slice(&a);
    let b = kernels::PackedB::new(backend, k, n, &b, n);
    let mut c = kernels::AlignedVec::zeros(m * n);
    let flops = 2.0 * (m * n * k) as f64;
    let reps = (2e9 / flops) as usize + 1;
    let start = Instant::now();
    for _ in 0..reps {
        kernels::gemm_panels(backend, 1, m, 1.0, &a, k, &b, &mut c, n, &[]);
    }
    flops * reps as f64 / start.elapsed().as_secs_f64() / 1e9
}

/// GFLOP/s of AVX-512 FMAs on 16 independent register chains, no memory operand: the
/// core's arithmetic ceiling at the clock it runs under load (no tile can pass it). None
/// without AVX-512.
#[cfg(target_arch = "x86_64")]
fn fma_ceiling() -> Option<f64> {
    if !Backend::Avx512.is_supported() {
        return fma_ceiling_avx2();
    }
    #[target_feature(enable = "avx512f")]
    fn chains(iters: u64) -> f32 {
        use std::arch::x86_64::*;
        let (b, c) = std::hint::black_box((_mm512_set1_ps(1.000_000_1), _mm512_set1_ps(1e-7)));
        // Distinct starting values, so that no two chains are the same computation.
        let mut acc: [__m512; 16] = std::array::from_fn(|i| _mm512_set1_ps(i as f32));
        for _ in 0..iters {
            for a in &mut acc {
                *a = _mm512_fmadd_ps(*a, b, c);
            }
        }
        acc.iter().map(|&a| _mm512_reduce_add_ps(a)).sum()
    }
    let iters = 100_000_000u64;
    let start = Instant::now();
    // SAFETY: AVX-512F was detected above.
    std::hint::black_box(unsafe { chains(iters) });
    Some(iters as f64 * 16.0 * 32.0 / start.elapsed().as_secs_f64() / 1e9)
}

/// [`fma_ceiling`] with AVX2 FMAs on 12 chains of 8 lanes (what `kernels::gemm`'s 6 × 16
/// tile keeps in flight), for machines without AVX-512. None without AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
fn fma_ceiling_avx2() -> Option<f64> {
    if !Backend::Avx2.is_supported() {
        return None;
    }
    #[target_feature(enable = "avx2,fma")]
    fn chains(iters: u64) -> f32 {
        use std::arch::x86_64::*;
        let (b, c) = std::hint::black_box((_mm256_set1_ps(1.000_000_1), _mm256_set1_ps(1e-7)));
        let mut acc: [__m256; 12] = std::array::from_fn(|i| _mm256_set1_ps(i as f32));
        for _ in 0..iters {
            for a in &mut acc {
                *a = _mm256_fmadd_ps(*a, b, c);
            }
        }
        let mut lanes = [0.0f32; 8];
        acc.iter()
            .map(|&a| {
                // SAFETY: 8 floats into an 8-float array.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), a) };
                lanes.iter().sum::<f32>()
            })
            .sum()
    }
    let iters = 100_000_000u64;
    let start = Instant::now();
    // SAFETY: AVX2 and FMA were detected above.
    std::hint::black_box(unsafe { chains(iters) });
    Some(iters as f64 * 12.0 * 16.0 / start.elapsed().as_secs_f64() / 1e9)
}

#[cfg(not(target_arch = "x86_64"))]
fn fma_ceiling() -> Option<f64> {
    None
}

fn main() {
    let backend = Backend::best();
    println!("backend {backend}, one thread");
    println!("| what | m × n × k | lda / ldb / ldc | GFLOP/s |");
    println!("|---|---|---|---:|");
    if let Some(g) = fma_ceiling() {
        println!("| FMA ceiling: 12–16 register chains, no loads | — | — | {g:.1} |");
    }
    let kt = kernels::spread_ld(2048);
    let k512 = kernels::spread_ld(512);
    let rows: [(&str, [usize; 3], [usize; 3]); 11] = [
        ("B in L1 (64 × 64)", [600, 64, 64], [64, 64, 64]),
        ("B in L2 (576 × 64 panel)", [600, 64, 576], [576, 64, 64]),
        // A row block of a forward (64 rows) on one weight panel, shallow and deep: the
        // product runs k in blocks of 128, so the deep ones read their panel from L1 too.
        ("64 rows, a 128-deep panel", [64, 64, 128], [128, 64, 64]),
        ("64 rows, a 384-deep panel", [64, 64, 384], [384, 64, 64]),
        (
            "64 rows, a 1,536-deep panel",
            [64, 64, 1536],
            [1536, 64, 64],
        ),
        // all-MiniLM-L6-v2's heads (d = 32) at 512 tokens, one 64-row block.
        ("Q·Kᵀ, d = 32, 512 keys", [64, 512, 32], [32, k512, 512]),
        (
            "Q·Kᵀ, 2,048 keys, Kᵀ at a spread stride",
            [30, 2048, 64],
            [64, kt, 2048],
        ),
        (
            "Q·Kᵀ, 2,048 keys, Kᵀ at 2,048",
            [30, 2048, 64],
            [64, 2048, 2048],
        ),
        ("P·V, 2,048 keys", [30, 64, 2048], [2048, 64, 64]),
        ("P·V, 512 keys", [60, 64, 512], [512, 64, 64]),
        ("P·V, d = 32, 512 keys", [64, 32, 512], [512, 32, 32]),
    ];
    for (what, [m, n, k], [lda, ldb, ldc]) in rows {
        let g = gflops(backend, [m, n, k], lda, ldb, ldc);
        println!("| {what} | {m} × {n} × {k} | {lda} / {ldb} / {ldc} | {g:.1} |");
    }
    // The same products with B in panels as wide as the tile: the weights as a model holds
    // them, and V as the materialised attention lays it out.
    let width = kernels::panel_width(backend);
    for (what, [m, n, k]) in [
        ("B in L1 (64 × 64), in panels", [600, 64, 64]),
        ("B in L2 (576 × 64), in panels", [600, 64, 576]),
        ("64 rows, 1,536-deep panels", [64, 64, 1536]),
    ] {
        let g = gflops_panels(backend, [m, n, k]);
        println!("| {what} | {m} × {n} × {k} | {k} / {width} / {n} | {g:.1} |");
    }
    // The score product as the materialised attention runs it: Kᵀ in panels of keys as wide
    // as the tile.
    for (m, n_k, d) in [(30usize, 2048usize, 64usize), (32, 512, 64), (64, 128, 64)] {
        let q: Vec<f32> = (0..m * d).map(|i| (i % 13) as f32 * 0.1).collect();
        let keys: Vec<f32> = (0..n_k * d).map(|i| (i % 7) as f32 * 0.1).collect();
        let kt = kernels::PackedB::transposed(backend, &keys, n_k, d);
        let mut c = vec![0.0; m * n_k];
        let flops = 2.0 * (m * n_k * d) as f64;
        let reps = (2e9 / flops) as usize + 1;
        let start = Instant::now();
        for _ in 0..reps {
            kernels::gemm_on_panels(backend, m, 1.0, &q, d, &kt, 0..d, n_k, &mut c, n_k);
        }
        let g = flops * reps as f64 / start.elapsed().as_secs_f64() / 1e9;
        println!(
            "| Q·Kᵀ, {n_k} keys, Kᵀ in {w}-key panels | {m} × {n_k} × {d} | {d} / {w} / {n_k} | {g:.1} |",
            w = kt.width()
        );
    }
    // The context product as the materialised attention runs it: V in panels.
    for (m, n_k, d) in [(30usize, 2048usize, 64usize), (60, 512, 64)] {
        let p: Vec<f32> = (0..m * n_k).map(|i| (i % 13) as f32 * 0.01).collect();
        let values: Vec<f32> = (0..n_k * d).map(|i| (i % 7) as f32 * 0.1).collect();
        let v = kernels::PackedB::new(backend, n_k, d, &values, d);
        let mut c = vec![0.0; m * d];
        let flops = 2.0 * (m * n_k * d) as f64;
        let reps = (2e9 / flops) as usize + 1;
        let start = Instant::now();
        for _ in 0..reps {
            kernels::gemm_on_panels(backend, m, 1.0, &p, n_k, &v, 0..n_k, d, &mut c, d);
        }
        let g = flops * reps as f64 / start.elapsed().as_secs_f64() / 1e9;
        println!(
            "| P·V, {n_k} keys, V in {w}-wide panels | {m} × {d} × {n_k} | {n_k} / {w} / {d} | {g:.1} |",
            w = v.width()
        );
    }
}
