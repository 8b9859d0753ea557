//! Properties of attention a user relies on, over random inputs: rows sum to 1, masked
//! weights are 0, self-attention without positions is permutation-equivariant, τ → 0 tends
//! to argmax and τ → ∞ to uniform.

use attnscope::core::spec::{ProjectionKind, Projections, Sequence};
use attnscope::core::{ScoreKind, SpanKind, Spec, compute};
use proptest::prelude::*;

fn spec_from(vectors: Vec<Vec<f32>>, score: ScoreKind, heads: i64) -> Spec {
    Spec {
        target: Sequence::vectors(vectors, None),
        projections: Projections::Named(ProjectionKind::Seeded),
        score,
        heads,
        ..Spec::default()
    }
}

fn vectors(n: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Vec<f32>>> {
    n.prop_flat_map(|n| prop::collection::vec(prop::collection::vec(-2.0f32..2.0, 4), n))
}

fn score_kind() -> impl Strategy<Value = ScoreKind> {
    prop::sample::select(ScoreKind::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn rows_sum_to_one_and_masked_weights_are_zero(
        x in vectors(1..9), score in score_kind(), causal: bool, window in prop::option::of(0i64..3),
        pad_last: bool, span in prop::sample::select(vec![SpanKind::Global, SpanKind::LocalM]),
    ) {
        let n = x.len();
        let mut spec = spec_from(x, score, 2);
        spec.causal = causal;
        spec.window = window;
        spec.span = span;
        spec.local_d = 1;
        if pad_last { spec.padding = Some((0..n).map(|j| j == n - 1).collect()); }
        let t = compute(&spec).unwrap();
        for h in &t.head_traces {
            for (i, row) in h.weights.rows().into_iter().enumerate() {
                let sum: f32 = row.sum();
                if h.empty_rows[i] {
                    prop_assert!(row.iter().all(|&w| w == 0.0));
                } else {
                    prop_assert!((sum - 1.0).abs() < 1e-5, "row {} sums to {}", i, sum);
                }
                for (j, &w) in row.iter().enumerate() {
                    prop_assert!(w.is_finite());
                    if !h.allowed[[i, j]] { prop_assert_eq!(w, 0.0); }
                    if causal && j > i { prop_assert_eq!(w, 0.0); }
                }
            }
        }
    }

    #[test]
    fn self_attention_without_positions_is_permutation_equivariant(
        x in vectors(2..8), score in score_kind(), shift in 1usize..7,
    ) {
        let n = x.len();
        let perm: Vec<usize> = (0..n).map(|i| (i + shift) % n).collect();
        let permuted: Vec<Vec<f32>> = perm.iter().map(|&p| x[p].clone()).collect();
        let a = compute(&spec_from(x, score, 2)).unwrap();
        let b = compute(&spec_from(permuted, score, 2)).unwrap();
        for (i, &p) in perm.iter().enumerate() {
            for m in 0..a.d_model {
                prop_assert!((b.output[[i, m]] - a.output[[p, m]]).abs() < 1e-4);
            }
            for (j, &q) in perm.iter().enumerate() {
                prop_assert!((b.head_traces[0].weights[[i, j]] - a.head_traces[0].weights[[p, q]]).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn temperature_limits(x in vectors(2..8), score in score_kind()) {
        let mut cold = spec_from(x.clone(), score, 1);
        cold.temperature = 1e-4;
        let mut hot = spec_from(x, score, 1);
        hot.temperature = 1e5;
        let (c, h) = (compute(&cold).unwrap(), compute(&hot).unwrap());
        let n = c.n_k() as f32;
        for (i, row) in c.head_traces[0].weights.rows().into_iter().enumerate() {
            let scaled = c.head_traces[0].scaled.row(i);
            let best = scaled.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            // Every key within a hair of the max shares the mass; the rest get ~0.
            for (j, &w) in row.iter().enumerate() {
                if scaled[j] < best - 1e-2 { prop_assert!(w < 1e-6, "cold weight {} on a non-max key", w); }
            }
        }
        for row in h.head_traces[0].weights.rows() {
            for &w in row { prop_assert!((w - 1.0 / n).abs() < 1e-3, "hot weight {} vs uniform {}", w, 1.0 / n); }
        }
    }
}
