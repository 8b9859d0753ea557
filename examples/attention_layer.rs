//! One layer's attention of a SmolLM2-135M-shaped model (9 query heads over 3 KV heads,
//! head dim 64, RoPE θ = 100,000, causal) with every head's probabilities kept, as a
//! forward pass runs it between the QKV projection and the output projection: the heads'
//! region alone, without the linear layers that dominate a whole forward.
//! Run: RAYON_NUM_THREADS=2 cargo run --release --example attention_layer [n …]
//! (BENCHMARKS.md records it with the CPU).

use std::time::Instant;

use attnscope::core::kernels::{self, Backend};
use attnscope::model::nn::{AttnParams, RopeTable, attention_heads};
use ndarray::Array2;

/// SmolLM2-135M's layers.
const LAYERS: usize = 30;

fn main() {
    // The app's allocator settings: freed blocks are kept, so that repeated runs reuse their
    // pages as the app's do (with glibc's defaults, page faults were 40% of a 128-token
    // layer's samples and the layer took 0.55 ms instead of 0.35 on two threads).
    attnscope::keep_freed_memory();
    let ns: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let ns = if ns.is_empty() {
        vec![128, 512, 2048]
    } else {
        ns
    };
    let (heads, kv_heads, dh) = (9usize, 3usize, 64usize);
    let backend = Backend::best();
    let inv_freq: Vec<f32> = (0..dh / 2)
        .map(|i| 100_000f32.powf(-2.0 * i as f32 / dh as f32))
        .collect();
    println!(
        "backend {backend}, {} threads; ms per layer (median of 30-layer runs)",
        rayon::current_num_threads()
    );
    println!("| n | ms | min ms | GFLOP/s (scores + context, causal) |");
    println!("|---:|---:|---:|---:|");
    for n in ns {
        let fill = |cols: usize, seed: usize| {
            Array2::from_shape_fn((n, cols), |(i, j)| {
                ((i * 31 + j * 17 + seed) % 29) as f32 * 0.05 - 0.7
            })
        };
        let (q, k, v) = (
            fill(heads * dh, 1),
            fill(kv_heads * dh, 2),
            fill(kv_heads * dh, 3),
        );
        let rope = RopeTable::new(&inv_freq, n);
        let p = AttnParams {
            heads,
            kv_heads,
            head_dim: dh,
            scale: 1.0 / (dh as f32).sqrt(),
            softcap: None,
            causal: true,
            window: None,
            q_norm: None,
            k_norm: None,
            rope: Some(&rope),
            special_keys: &[],
            digests: true,
            blocked: &[],
        };
        let capture = vec![true; heads];
        let mut times = Vec::new();
        kernels::on_pool_awake(|| {
            let start = Instant::now();
            while times.len() < 3 || (start.elapsed().as_secs_f64() < 3.0 && times.len() < 200) {
                // 30 layers' worth, every result held as a forward holds them (in memory
                // the previous round freed, as a repeated forward's is).
                let t = Instant::now();
                let outs: Vec<_> = (0..LAYERS)
                    .map(|_| attention_heads(backend, &q, &k, &v, &p, &capture))
                    .collect();
                times.push(t.elapsed().as_secs_f64() * 1e3 / LAYERS as f64);
                drop(outs);
            }
        });
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        // Causal: about half of n² scores, each 2·dh flops for q·k and 2·dh for p·v.
        let flops = heads as f64 * (n * (n + 1) / 2) as f64 * 4.0 * dh as f64;
        println!(
            "| {n} | {median:.3} | {:.3} | {:.0} |",
            times[0],
            flops / median / 1e6
        );
    }
}
