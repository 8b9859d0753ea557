//! Register-tile shapes and A layouts on one core, against the library's GEMM on panels:
//! whether the tile's shape or what surrounds it keeps the library below the FMA ceiling.
//! Each variant is a bare k loop (B one k × width panel in L1, no prefetch, no epilogue).
//! Run: cargo run --release --example tile_shapes   (AVX-512 only; BENCHMARKS.md has a
//! table, with the CPU). `TILE_FOCUS=1`: only the library's products against the bare
//! 6 × 64 loop, alternated three times.
#![cfg_attr(not(target_arch = "x86_64"), allow(unused))]

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::time::Instant;

use attnscope::core::kernels::{self, Backend};

/// One R × (NV·16) tile: C = A·B over k, B's rows NV·16 apart (one panel), A's rows at
/// `lda` or, `PACKED_A`, R values per k step.
///
/// # Safety
/// AVX-512F must be available; A, B and C must hold the shapes above (B 64-byte aligned).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile<const R: usize, const NV: usize, const PACKED_A: bool>(
    k: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
) {
    // SAFETY: the caller's contract.
    unsafe { tile_as::<R, NV, PACKED_A, false>(k, a, lda, b, c, ldc) }
}

/// [`tile`], with `LIB_LOADS` loading B as the library does: unaligned loads and the last
/// vector masked (by a mask the compiler cannot see through).
///
/// # Safety
/// As [`tile`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_as<const R: usize, const NV: usize, const PACKED_A: bool, const LIB_LOADS: bool>(
    k: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
) {
    let mut acc = [[_mm512_setzero_ps(); NV]; R];
    for p in 0..k {
        // SAFETY: the caller's shapes; B's rows are whole aligned vectors.
        unsafe {
            let brow = b.add(p * NV * 16);
            let mut bv = [_mm512_setzero_ps(); NV];
            let last: __mmask16 = if LIB_LOADS {
                std::hint::black_box(0xFFFF)
            } else {
                0xFFFF
            };
            for (v, s) in bv.iter_mut().enumerate() {
                *s = match (LIB_LOADS, v + 1 == NV) {
                    (false, _) => _mm512_load_ps(brow.add(v * 16)),
                    (true, false) => _mm512_loadu_ps(brow.add(v * 16)),
                    (true, true) => _mm512_maskz_loadu_ps(last, brow.add(v * 16)),
                };
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let x = if PACKED_A {
                    *a.add(p * R + r)
                } else {
                    *a.add(r * lda + p)
                };
                let av = _mm512_set1_ps(x);
                for (s, bb) in row.iter_mut().zip(bv) {
                    *s = _mm512_fmadd_ps(av, bb, *s);
                }
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, &x) in row.iter().enumerate() {
            // SAFETY: C holds R rows of NV·16 at `ldc`.
            unsafe { _mm512_storeu_ps(c.add(r * ldc + v * 16), x) };
        }
    }
}

fn aligned(len: usize, f: fn(usize) -> f32) -> kernels::AlignedVec {
    let v: Vec<f32> = (0..len).map(f).collect();
    kernels::AlignedVec::from_slice(&v)
}

/// A (m × k), B (k × n) and C (m × n), on 64-byte lines, filled as every variant fills them.
fn operands(
    m: usize,
    n: usize,
    k: usize,
) -> (
    kernels::AlignedVec,
    kernels::AlignedVec,
    kernels::AlignedVec,
) {
    (
        aligned(m * k, |i| (i % 13) as f32 * 0.1),
        aligned(k * n, |i| (i % 7) as f32 * 0.1),
        aligned(m * n, |_| 0.0),
    )
}

/// GFLOP/s of an m × n × k product `run` computes, repeated over about three GFLOP.
fn gflops([m, n, k]: [usize; 3], mut run: impl FnMut()) -> f64 {
    let flops = 2.0 * (m * n * k) as f64;
    let reps = (3e9 / flops) as usize + 1;
    let start = Instant::now();
    for _ in 0..reps {
        run();
    }
    flops * reps as f64 / start.elapsed().as_secs_f64() / 1e9
}

/// The bare 6 × 64 tile loading B as the library did before it kept masks to partial tiles:
/// unaligned loads, the last vector masked.
#[cfg(target_arch = "x86_64")]
fn lib_loads(m: usize, k: usize) -> f64 {
    let n = 64;
    let (a, b, mut c) = operands(m, n, k);
    let g = gflops([m, n, k], || {
        for i0 in (0..m).step_by(6) {
            // SAFETY: AVX-512F was detected in main; m is a multiple of 6 here.
            unsafe {
                let (ap, cp) = (a.as_ptr().add(i0 * k), c.as_mut_ptr().add(i0 * n));
                tile_as::<6, 4, false, true>(k, ap, k, b.as_ptr(), cp, n);
            }
        }
    });
    std::hint::black_box(&c);
    g
}

/// The library's `kernels::gemm` on a row-major B (no panels, no row blocks).
fn lib_gemm(m: usize, k: usize) -> f64 {
    let backend = Backend::best();
    let n = 64;
    let (a, b, mut c) = operands(m, n, k);
    gflops([m, n, k], || {
        kernels::gemm(backend, m, n, k, 1.0, &a, k, &b, n, &mut c, n);
    })
}

#[cfg(target_arch = "x86_64")]
/// m × (NV·16) × k, B one contiguous k × NV·16 panel, A strided (lda = k) or packed per tile.
fn variant<const R: usize, const NV: usize, const PACKED_A: bool>(m: usize, k: usize) -> f64 {
    let n = NV * 16;
    let m = m / R * R;
    let (a, b, mut c) = operands(m, n, k);
    let a = if PACKED_A {
        let mut v = vec![0.0f32; m * k];
        for i0 in (0..m).step_by(R) {
            for p in 0..k {
                for r in 0..R {
                    v[i0 * k + p * R + r] = a[(i0 + r) * k + p];
                }
            }
        }
        kernels::AlignedVec::from_slice(&v)
    } else {
        a
    };
    let g = gflops([m, n, k], || {
        for i0 in (0..m).step_by(R) {
            // SAFETY: AVX-512F was detected in main; every tile is inside A, B and C.
            unsafe {
                // A tile's rows of A: k values each (strided), or k × R packed; both i0 · k on.
                let ab = a.as_ptr().add(i0 * k);
                tile::<R, NV, PACKED_A>(k, ab, k, b.as_ptr(), c.as_mut_ptr().add(i0 * n), n);
            }
        }
    });
    std::hint::black_box(&c);
    g
}

#[cfg(target_arch = "x86_64")]
/// The plain 6 × 64 tile over blocks of `rb` rows, the ragged rows of each block in one
/// shorter tile (what the library's 64-row blocks do).
fn blocked(m: usize, k: usize, rb: usize) -> f64 {
    let n = 64;
    let (a, b, mut c) = operands(m, n, k);
    let g = gflops([m, n, k], || {
        for b0 in (0..m).step_by(rb) {
            let rows = rb.min(m - b0);
            for i0 in (b0..b0 + rows).step_by(6) {
                let r = 6.min(b0 + rows - i0);
                // SAFETY: AVX-512F was detected in main; every tile is inside A, B and C.
                unsafe {
                    let (ap, cp) = (a.as_ptr().add(i0 * k), c.as_mut_ptr().add(i0 * n));
                    match r {
                        6 => tile::<6, 4, false>(k, ap, k, b.as_ptr(), cp, n),
                        5 => tile::<5, 4, false>(k, ap, k, b.as_ptr(), cp, n),
                        4 => tile::<4, 4, false>(k, ap, k, b.as_ptr(), cp, n),
                        3 => tile::<3, 4, false>(k, ap, k, b.as_ptr(), cp, n),
                        2 => tile::<2, 4, false>(k, ap, k, b.as_ptr(), cp, n),
                        _ => tile::<1, 4, false>(k, ap, k, b.as_ptr(), cp, n),
                    }
                }
            }
        }
    });
    std::hint::black_box(&c);
    g
}

/// The library's `kernels::gemm_panels` on one thread, B laid out in panels.
fn lib(m: usize, k: usize) -> f64 {
    let backend = Backend::best();
    let n = 64;
    let (a, b, mut c) = operands(m, n, k);
    let b = kernels::PackedB::new(backend, k, n, &b, n);
    gflops([m, n, k], || {
        kernels::gemm_panels(backend, 1, m, 1.0, &a, k, &b, &mut c, n, &[]);
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    println!("tile_shapes measures AVX-512 tiles: x86-64 only");
}

#[cfg(target_arch = "x86_64")]
fn main() {
    if !std::arch::is_x86_feature_detected!("avx512f") {
        println!("tile_shapes measures AVX-512 tiles; this CPU has none");
        return;
    }
    println!("one thread; GFLOP/s of m × 64 (or the tile's width) × k, B in L1");
    if std::env::var_os("TILE_FOCUS").is_some() {
        // The library against the bare loop only, alternated.
        for &(m, k) in &[(600usize, 64usize), (600, 128)] {
            print!("m {m} k {k}:");
            for _ in 0..3 {
                print!(
                    " | lib {:.0} · gemm {:.0} · bare {:.0} · bare, lib loads {:.0}",
                    lib(m, k),
                    lib_gemm(m, k),
                    variant::<6, 4, false>(m, k),
                    lib_loads(m, k)
                );
            }
            println!();
        }
        return;
    }
    for &(m, k) in &[(600usize, 64usize), (600, 128)] {
        let rows: Vec<(&str, f64)> = vec![
            ("lib 6x64", lib(m, k)),
            ("6x64 strided", variant::<6, 4, false>(m, k)),
            ("blocks of 64", blocked(m, k, 64)),
            ("blocks of 60", blocked(m, k, 60)),
            ("8x48 strided", variant::<8, 3, false>(m, k)),
            ("8x48 packed", variant::<8, 3, true>(m, k)),
            ("12x32 packed", variant::<12, 2, true>(m, k)),
            ("4x96 packed", variant::<4, 6, true>(m, k)),
            ("14x32 packed", variant::<14, 2, true>(m, k)),
            ("lib again", lib(m, k)),
        ];
        print!("m {m} k {k}:");
        for (w, g) in rows {
            print!(" | {w} {g:.0}");
        }
        println!();
    }
}
