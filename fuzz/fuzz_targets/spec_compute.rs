//! The spec JSON → `compute`: arbitrary bytes are parsed as a spec and computed under a
//! small memory budget (so each run is fast). A result must be a trace whose weights are
//! finite, in [0, 1], and (outside local-p, which reweights without renormalising) sum to 1
//! on every non-empty row; anything else must be a typed error, never a panic or abort.
#![no_main]

use attnscope::core::kernels::Backend;
use attnscope::core::pipeline::{check, compute_with_budget};
use attnscope::core::{Spec, SpanKind};
use libfuzzer_sys::fuzz_target;

/// 16 MiB per trace keeps one execution in the milliseconds.
const BUDGET_BYTES: u64 = 16 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = Spec::from_json(text) else {
        return;
    };
    let Ok(trace) = compute_with_budget(&spec, Backend::best(), BUDGET_BYTES) else {
        return;
    };
    // The app's check before it opens a spec never refuses one that computes.
    assert!(check(&spec).is_ok(), "check refused a spec that computes");
    for (h, t) in trace.head_traces.iter().enumerate() {
        for (i, row) in t.weights.rows().into_iter().enumerate() {
            assert!(
                row.iter().all(|w| w.is_finite() && (0.0..=1.0 + 1e-4).contains(w)),
                "head {h} row {i}: {row:?}"
            );
            if spec.span != SpanKind::LocalP && !t.empty_rows[i] {
                let sum: f32 = row.sum();
                assert!((sum - 1.0).abs() < 1e-3, "head {h} row {i} sums to {sum}");
            }
        }
    }
});
