//! Thousands of mutated specs through parsing and `compute` (stable Rust, runs in
//! `cargo test`): the committed specs of `tests/fixtures/specs` get byte flips, numbers
//! replaced by extremes (0, −1, 1e39, 2³¹, 2⁶³, 2⁶⁴−1, "NaN" …), inserted fields with extreme
//! values, and truncation. Every one must come back as a trace with finite weights in [0, 1]
//! whose non-empty rows sum to 1 (local-p reweights without renormalising, so ≤ 1 there), or
//! as a typed error; never a panic or an abort. The counts are printed (`--nocapture`).

use std::sync::atomic::{AtomicUsize, Ordering};

/// Prints a count on the real stderr: the test harness captures `eprintln!`, and these
/// counts are what shows that the checks ran, so they must appear in `cargo test` output.
macro_rules! report {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

use attnscope::core::kernels::Backend;
use attnscope::core::pipeline::compute_with_budget;
use attnscope::core::{SpanKind, Spec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Small enough that one case takes well under a millisecond.
const BUDGET_BYTES: u64 = 1 << 20;
const CASES: u32 = 40_000;

const EXTREMES: &[&str] = &[
    "0",
    "-1",
    "1",
    "-0",
    "1e39",
    "-1e39",
    "1e-45",
    "3.5",
    "2147483648",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "4097",
    "2049",
    "\"NaN\"",
    "null",
    "[]",
    "{}",
];

const FIELDS: &[&str] = &[
    "d_model",
    "heads",
    "window",
    "local_d",
    "max_tokens",
    "temperature",
    "score_scale",
    "seed",
    "padding",
];

#[derive(Clone, Debug)]
enum Mutation {
    /// XOR one byte.
    Flip { at: usize, mask: u8 },
    /// Replace the k-th number literal.
    Number { k: usize, with: usize },
    /// Set a top-level field to an extreme value.
    Field { field: usize, with: usize },
    /// Keep only a prefix.
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Weighted towards mutations that keep the JSON valid, so most cases reach `compute`.
    prop_oneof![
        2 => (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        5 => (any::<usize>(), 0..EXTREMES.len()).prop_map(|(k, with)| Mutation::Number { k, with }),
        4 => (0..FIELDS.len(), 0..EXTREMES.len())
            .prop_map(|(field, with)| Mutation::Field { field, with }),
        1 => any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

/// Byte ranges of number literals (a run of digits with sign, dot and exponent).
fn numbers(text: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii_digit()
            || (text[i] == b'-' && text.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < text.len() && (text[i].is_ascii_digit() || b".eE+-".contains(&text[i])) {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

fn apply(spec: &str, ms: &[Mutation]) -> Vec<u8> {
    let mut b = spec.as_bytes().to_vec();
    for m in ms {
        apply_one(&mut b, m);
    }
    b
}

fn apply_one(b: &mut Vec<u8>, m: &Mutation) {
    match *m {
        Mutation::Flip { at, mask } => {
            let at = at % b.len().max(1);
            if let Some(x) = b.get_mut(at) {
                *x ^= mask;
            }
        }
        Mutation::Number { k, with } => {
            let nums = numbers(b);
            if !nums.is_empty() {
                let (s, e) = nums[k % nums.len()];
                b.splice(s..e, EXTREMES[with].bytes());
            }
        }
        Mutation::Field { field, with } => {
            // Set the field (replacing it if present: a duplicate key would only test serde).
            let value: serde_json::Value =
                serde_json::from_str(EXTREMES[with]).unwrap_or(serde_json::Value::Null);
            if let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(b)
                && let Some(obj) = doc.as_object_mut()
            {
                obj.insert(FIELDS[field].to_owned(), value);
                *b = doc.to_string().into_bytes();
            }
        }
        Mutation::Truncate { at } => b.truncate(at % b.len().max(1)),
    }
}

#[test]
fn mutated_specs_compute_or_fail_with_a_typed_error() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/specs");
    let mut specs: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("fixture folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable spec");
            (p.display().to_string(), text)
        })
        .collect();
    specs.sort();
    assert!(specs.len() > 10, "too few seed specs in {dir}");

    let (run, computed, refused, unparsed) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(
        &(0..specs.len(), proptest::collection::vec(mutation(), 1..=3)),
        |(i, m)| {
            run.fetch_add(1, Ordering::Relaxed);
            let (name, text) = &specs[i];
            let bytes = apply(text, &m);
            let Ok(text) = std::str::from_utf8(&bytes) else {
                unparsed.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            };
            let spec = match Spec::from_json(text) {
                Ok(s) => s,
                Err(_) => {
                    unparsed.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
            };
            match compute_with_budget(&spec, Backend::best(), BUDGET_BYTES) {
                Err(e) => {
                    prop_assert!(!e.to_string().is_empty());
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                Ok(trace) => {
                    computed.fetch_add(1, Ordering::Relaxed);
                    for (h, t) in trace.head_traces.iter().enumerate() {
                        for (r, row) in t.weights.rows().into_iter().enumerate() {
                            prop_assert!(
                                row.iter()
                                    .all(|w| w.is_finite() && (0.0..=1.0 + 1e-4).contains(w)),
                                "{name} {m:?}: head {h} row {r} has weights {row:?}"
                            );
                            let sum: f32 = row.sum();
                            if t.empty_rows[r] {
                                prop_assert!(
                                    sum == 0.0,
                                    "{name} {m:?}: empty row {r} sums to {sum}"
                                );
                            } else if spec.span == SpanKind::LocalP {
                                prop_assert!(
                                    sum <= 1.0 + 1e-3,
                                    "{name} {m:?}: row {r} sums to {sum}"
                                );
                            } else {
                                prop_assert!(
                                    (sum - 1.0).abs() < 1e-3,
                                    "{name} {m:?}: head {h} row {r} sums to {sum}"
                                );
                            }
                        }
                    }
                }
            }
            Ok(())
        },
    );
    let [n, ok, err, bad] =
        [&run, &computed, &refused, &unparsed].map(|a| a.load(Ordering::Relaxed));
    report!(
        "mutated specs: {n} run, {ok} computed, {err} refused by compute, {bad} not a spec (JSON/serde error)"
    );
    result.unwrap();
    assert!(n >= CASES as usize, "only {n} cases ran");
    assert!(ok > 0 && err > 0, "mutations should both compute and fail");
}
