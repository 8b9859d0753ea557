//! Times the linear layers at the sample models' exact shapes: attnscope's own register-tiled
//! kernel (rows split over rayon) on the row-major weights and on the weights laid out in
//! panels as wide as the tile (what the models load on AVX-512 and AVX2 machines), against
//! the `gemm` crate (packing, runtime dispatch).
//! Run: cargo run --release --example linear_shapes   (torch.mm at the same shapes:
//! python3 tools/bench_linear_torch.py; BENCHMARKS.md has both, with the CPU).

use std::time::Instant;

use attnscope::core::kernels::{self, Backend};

/// attnscope's own kernel, rows split over every rayon thread (what `kernels::gemm_fast`
/// runs on AVX-512 and AVX2 machines).
fn own(backend: Backend, x: &[f32], w: &[f32], out: &mut [f32], k: usize, m: usize) {
    let threads = rayon::current_num_threads();
    let n = out.len() / m;
    kernels::gemm_rows(backend, threads, n, m, k, 1.0, x, k, w, m, out, m);
}

/// attnscope's own kernel on weights laid out in panels, rows split over every rayon thread
/// (what a model's linear maps run on AVX-512 and AVX2 machines).
fn panels(backend: Backend, x: &[f32], w: &kernels::PackedB, out: &mut [f32]) {
    let threads = rayon::current_num_threads();
    let n = out.len() / w.n();
    kernels::gemm_panels(backend, threads, n, 1.0, x, w.k(), w, out, w.n(), &[]);
}

/// The `gemm` crate through attnscope's one call site, on every rayon thread: the well-kept
/// crate the own kernels are measured against (the AVX2 machines ran on it until the own
/// AVX2 tile caught up with it).
fn crate_gemm(x: &[f32], w: &[f32], out: &mut [f32], n: usize, k: usize, m: usize) {
    let threads = rayon::current_num_threads();
    assert!(n > 0 && k > 0 && m > 0, "an empty product");
    assert!(x.len() >= n * k && w.len() >= k * m && out.len() >= n * m);
    // SAFETY: X is n × k, W is k × m and the output n × m, all contiguous (asserted above);
    // the output is a `&mut` borrow, so it aliases neither input.
    unsafe {
        gemm::gemm(
            n,
            m,
            k,
            out.as_mut_ptr(),
            1,
            m as isize,
            false,
            x.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            1,
            m as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(threads),
        );
    }
}

/// Best time of one call over five 0.2 s rounds, on the rayon pool with its other workers
/// polling (`on_pool_awake`), as a forward runs its products and as PyTorch's OpenMP
/// threads spin between calls: from the main thread every call was handed to the pool and
/// waited on waking a worker, which at 128 rows × 384 → 384 (0.13 ms) was a fifth of it.
fn time(mut f: impl FnMut() + Send) -> f64 {
    kernels::on_pool_awake(|| {
        f();
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            let mut reps = 0;
            while t.elapsed().as_secs_f64() < 0.2 {
                f();
                reps += 1;
            }
            best = best.min(t.elapsed().as_secs_f64() / reps as f64);
        }
        best
    })
}

fn main() {
    let backend = Backend::best();
    println!(
        "backend {backend:?}, {} threads",
        rayon::current_num_threads()
    );
    println!(
        "| n | k → m | own ms | own GFLOP/s | panels ms | panels GFLOP/s | gemm ms | gemm GFLOP/s | max |Δ| |"
    );
    for &(k, m) in &[
        (576, 576),
        (576, 192),
        (576, 1536),
        (1536, 576),
        (384, 384),
        (384, 1536),
        (1536, 384),
        (640, 1024),
        (640, 2048),
        (2048, 640),
    ] {
        for &n in &[128usize, 512] {
            let x: Vec<f32> = (0..n * k)
                .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 500.0)
                .collect();
            let w: Vec<f32> = (0..k * m)
                .map(|i| ((i * 104729 % 1000) as f32 - 500.0) / 5000.0)
                .collect();
            let mut a = vec![0.0; n * m];
            let mut b = vec![0.0; n * m];
            let t_own = time(|| own(backend, &x, &w, &mut a, k, m));
            let t_gemm = time(|| crate_gemm(&x, &w, &mut b, n, k, m));
            let pb = kernels::PackedB::new(backend, k, m, &w, m);
            let mut pc = vec![0.0; n * m];
            let t_p = time(|| panels(backend, &x, &pb, &mut pc));
            assert_eq!(pc, a, "panels and row-major give the same bits");
            let diff = a
                .iter()
                .zip(&b)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f32::max);
            let flops = 2.0 * (n * k * m) as f64;
            println!(
                "| {n} | {k} → {m} | {:.3} | {:.0} | {:.3} | {:.0} | {:.3} | {:.0} | {diff:.1e} |",
                t_own * 1e3,
                flops / t_own / 1e9,
                t_p * 1e3,
                flops / t_p / 1e9,
                t_gemm * 1e3,
                flops / t_gemm / 1e9
            );
        }
    }
}
