//! Criterion benchmarks of the materialised attention softmax(QKᵀ/√d)·V (keeping P) on every
//! kernel backend this CPU has, at h = 12, d = 64. Throughput is in elements of P, and the
//! README turns the times into GFLOP/s (4·h·N²·d flops per call).
//!
//! Run: `cargo bench --bench attention` (the comparison with PyTorch is `tools/bench_compare.sh`).

use attnscope::core::kernels::{AttnShape, Backend, attention_forward};
use attnscope::core::rng::Stream;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn random(len: usize, label: &str) -> Vec<f32> {
    let mut s = Stream::new(label, 1);
    (0..len).map(|_| s.next_sym(1.0)).collect()
}

fn attention(c: &mut Criterion) {
    let (heads, d) = (12, 64);
    let mut group = c.benchmark_group("attention_h12_d64");
    group.sample_size(10);
    for n in [128usize, 512, 2048] {
        let shape = AttnShape {
            heads,
            n_q: n,
            n_k: n,
            d,
        };
        let (q, k, v) = (
            random(heads * n * d, "q"),
            random(heads * n * d, "k"),
            random(heads * n * d, "v"),
        );
        let mut p = vec![0.0; heads * n * n];
        let mut o = vec![0.0; heads * n * d];
        group.throughput(Throughput::Elements((heads * n * n) as u64));
        for backend in Backend::supported() {
            if backend == Backend::Scalar && n > 512 {
                continue; // minutes per sample; the oracle is not a contender
            }
            group.bench_with_input(BenchmarkId::new(backend.name(), n), &n, |b, _| {
                b.iter(|| {
                    attention_forward(backend, shape, &q, &k, &v, 0.125, false, &mut p, &mut o)
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, attention);
criterion_main!(benches);
