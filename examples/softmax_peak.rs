//! Softmax rows on one core, in cache: ns per key for the backend's softmax of two rows at a
//! time (what the attention passes run), at 512 and 2,048 keys, with the sums a digest's
//! entropy needs and without.
//! Run: cargo run --release --example softmax_peak
use std::time::Instant;

use attnscope::core::kernels::{self, Backend};

fn main() {
    let backend = Backend::best();
    println!("backend {backend}, one thread");
    for n in [512usize, 2048] {
        // Softmax again and again in place: after the first, rows of probabilities.
        let mut rows: Vec<f32> = (0..2 * n)
            .map(|i| ((i * 7919) % 1000) as f32 / 100.0 - 5.0)
            .collect();
        let reps = 200_000_000 / n;
        // With the sums an entropy needs (the model's digests) and without (the weights
        // alone, as the materialised attention keeps them).
        for sums in [true, false] {
            let mut best = f64::MAX;
            for _ in 0..5 {
                let start = Instant::now();
                for _ in 0..reps / 5 {
                    let (a, b) = rows.split_at_mut(n);
                    if sums {
                        std::hint::black_box(kernels::softmax_row_sums2(backend, a, b));
                    } else {
                        std::hint::black_box(kernels::softmax_rows2(backend, a, b));
                    }
                }
                best = best.min(start.elapsed().as_secs_f64() / (reps / 5) as f64);
            }
            let what = if sums { "with sums" } else { "weights only" };
            let ns = best * 1e9 / (2 * n) as f64;
            println!("| {n} keys, {what} | {ns:.3} ns per key |");
        }
    }
}
