//! The linear layers of a SmolLM2-135M-shaped model (30 layers of 7 matrices, 424 MB of f32
//! weights in panels, more than most L3 caches) with every layer's own weights, so they
//! stream from memory as in a forward ("cold"), against one layer's weights reused 30 times
//! ("hot"). Rows are split over the rayon threads in blocks as a forward splits them.
//! Run: RAYON_NUM_THREADS=1 (or 2) cargo run --release --example cold_weights [rows]
//! PyTorch on the same products: python3 tools/bench_cold_weights_torch.py [rows] [threads]
//! (BENCHMARKS.md, Intel Xeon third and sixth sessions, records them with the CPU).

use std::time::Instant;

use attnscope::core::kernels::{self, Backend, PackedB};
use rayon::prelude::*;

fn main() {
    let backend = Backend::best();
    let threads = rayon::current_num_threads();
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(128);
    // q, k, v, o, gate, up, down: (in, out).
    let shapes = [
        (576, 576),
        (576, 192),
        (576, 192),
        (576, 576),
        (576, 1536),
        (576, 1536),
        (1536, 576),
    ];
    let layers: Vec<Vec<PackedB>> = (0..30)
        .map(|l| {
            shapes
                .iter()
                .map(|&(k, m)| {
                    let w: Vec<f32> = (0..k * m)
                        .map(|i| ((i * 7 + l) % 1000) as f32 / 5000.0)
                        .collect();
                    PackedB::new(backend, k, m, &w, m)
                })
                .collect()
        })
        .collect();
    let x: Vec<f32> = (0..n * 1536).map(|i| (i % 100) as f32 / 100.0).collect();
    let mut out = vec![0.0f32; n * 1536];
    let flops: f64 = 30.0
        * shapes
            .iter()
            .map(|&(k, m)| 2.0 * (n * k * m) as f64)
            .sum::<f64>();
    let rb = kernels::row_block(n, threads);
    println!("backend {backend}, {threads} threads, {n} rows in blocks of {rb}");
    for round in 0..6 {
        for (label, hot) in [("cold", false), ("hot", true)] {
            let start = Instant::now();
            for own in &layers {
                let layer = if hot { &layers[0] } else { own };
                for w in layer {
                    let m = w.n();
                    out[..n * m]
                        .par_chunks_mut(rb * m)
                        .enumerate()
                        .for_each(|(b, c)| {
                            let rows = c.len() / m;
                            let a = &x[b * rb * w.k()..];
                            kernels::gemm_panels(backend, 1, rows, 1.0, a, w.k(), w, c, m, &[]);
                        });
                }
            }
            let s = start.elapsed().as_secs_f64();
            println!(
                "round {round} {label}: {:.1} ms, {:.0} GFLOP/s",
                s * 1e3,
                flops / s / 1e9
            );
        }
    }
}
