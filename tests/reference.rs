//! The core against the independent NumPy reference (`tools/numpy_reference.py`): every
//! committed spec in `tests/fixtures/specs/` and every lesson, on every kernel backend this CPU
//! has. Tolerance: max |Δ| ≤ 1e-5 on weights and outputs (the bar), 1e-4 on the
//! intermediate scores.

use std::path::Path;

use attnscope::core::{Backend, Spec, compute_with};
use ndarray::Array2;
use serde_json::Value;

fn matrix(v: &Value) -> Array2<f32> {
    let rows = v.as_array().expect("matrix is a list of rows");
    let n = rows.len();
    let m = rows.first().and_then(|r| r.as_array()).map_or(0, Vec::len);
    let flat: Vec<f32> = rows
        .iter()
        .flat_map(|r| r.as_array().expect("row").iter())
        .map(|x| x.as_f64().map_or(f32::NEG_INFINITY, |f| f as f32))
        .collect();
    Array2::from_shape_vec((n, m), flat).expect("rectangular")
}

/// Asserts max |Δ| ≤ tol and returns that max |Δ|.
fn assert_close(label: &str, got: &Array2<f32>, want: &Array2<f32>, tol: f32) -> f32 {
    assert_eq!(got.dim(), want.dim(), "{label}: shape");
    let mut worst = (0.0f32, (0, 0));
    for ((idx, g), w) in got.indexed_iter().zip(want.iter()) {
        if g.is_infinite() || w.is_infinite() {
            assert_eq!(g, w, "{label} at {idx:?}");
            continue;
        }
        let d = (g - w).abs();
        if d > worst.0 {
            worst = (d, idx);
        }
    }
    assert!(
        worst.0 <= tol,
        "{label}: max |Δ| = {:e} at {:?} (tolerance {tol:e})",
        worst.0,
        worst.1
    );
    worst.0
}

#[test]
fn core_matches_numpy_reference_on_every_spec() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures folder")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 60,
        "expected the committed fixtures, found {}",
        files.len()
    );
    let mut checked = 0;
    // max |Δ| seen on the 1e-5 quantities (inputs, q/k/v, weights, context, concat, output)
    // and on the 1e-4 ones (raw and scaled scores), reported with --nocapture
    let (mut worst_fine, mut worst_scores) = (0.0f32, 0.0f32);
    for path in files {
        let fixture: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let spec_path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture["spec_path"].as_str().unwrap());
        let spec = Spec::from_json(&std::fs::read_to_string(&spec_path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", spec_path.display()));
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        for backend in Backend::supported() {
            let label = format!("{name} [{backend}]");
            let trace = compute_with(&spec, backend).unwrap_or_else(|e| panic!("{label}: {e}"));
            let tokens = |k: &str| -> Vec<String> {
                fixture[k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_owned())
                    .collect()
            };
            assert_eq!(trace.tokens_q, tokens("tokens_q"), "{label}: query tokens");
            assert_eq!(trace.tokens_k, tokens("tokens_k"), "{label}: key tokens");
            worst_fine = worst_fine.max(assert_close(
                &format!("{label} x_q"),
                &trace.x_q,
                &matrix(&fixture["x_q"]),
                1e-5,
            ));
            worst_fine = worst_fine.max(assert_close(
                &format!("{label} x_k"),
                &trace.x_k,
                &matrix(&fixture["x_k"]),
                1e-5,
            ));
            let heads = fixture["heads"].as_array().unwrap();
            assert_eq!(trace.head_traces.len(), heads.len(), "{label}: heads");
            for (h, (got, want)) in trace.head_traces.iter().zip(heads).enumerate() {
                let l = format!("{label} head {h}");
                for (k, g, tol) in [
                    ("q", &got.q, 1e-5),
                    ("k", &got.k, 1e-5),
                    ("v", &got.v, 1e-5),
                    ("raw_scores", &got.raw_scores, 1e-4),
                    ("scaled", &got.scaled, 1e-4),
                    ("weights", &got.weights, 1e-5),
                    ("context", &got.context, 1e-5),
                ] {
                    let d = assert_close(&format!("{l} {k}"), g, &matrix(&want[k]), tol);
                    if tol > 1e-5 {
                        worst_scores = worst_scores.max(d);
                    } else {
                        worst_fine = worst_fine.max(d);
                    }
                }
                let allowed: Vec<bool> = want["allowed"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|r| r.as_array().unwrap().iter().map(|b| b.as_bool().unwrap()))
                    .collect();
                assert_eq!(
                    got.allowed.iter().copied().collect::<Vec<_>>(),
                    allowed,
                    "{l}: mask"
                );
                let empty: Vec<bool> = want["empty_rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b.as_bool().unwrap())
                    .collect();
                assert_eq!(got.empty_rows, empty, "{l}: empty rows");
                for (key, got_v) in [
                    ("entropy", &got.row_stats.entropy),
                    ("max_weight", &got.row_stats.max_weight),
                    ("mean_distance", &got.row_stats.mean_distance),
                    ("first_key_share", &got.row_stats.first_key_share),
                ] {
                    let want_v = want["row_stats"][key].as_array().unwrap();
                    for (i, (a, b)) in got_v.iter().zip(want_v).enumerate() {
                        let b = b.as_f64().unwrap() as f32;
                        assert!((a - b).abs() <= 2e-5, "{l}: {key}[{i}] = {a} vs {b}");
                    }
                }
                if let Some(c) = want["centers"].as_array() {
                    let got_c = got
                        .centers
                        .as_ref()
                        .unwrap_or_else(|| panic!("{l}: no centres"));
                    for (a, b) in got_c.iter().zip(c) {
                        assert!(
                            (a - b.as_f64().unwrap() as f32).abs() < 1e-4,
                            "{l}: centre {a} vs {b}"
                        );
                    }
                }
                // what local_p used (in fixtures whose spec sets a local_p option)
                if let Some(lp) = want.get("local_p") {
                    let got_lp = got
                        .local_p
                        .as_ref()
                        .unwrap_or_else(|| panic!("{l}: no local_p in the trace"));
                    let got_json = serde_json::to_value(got_lp).unwrap();
                    assert_eq!(got_json["source"], lp["source"], "{l}: local_p source");
                    for key in ["d", "d_p", "d_in"] {
                        assert_eq!(got_json[key], lp[key], "{l}: local_p {key}");
                    }
                    let sigma = lp["sigma"].as_f64().unwrap() as f32;
                    assert!(
                        (got_lp.sigma - sigma).abs() <= 1e-6 * sigma,
                        "{l}: σ {} vs {sigma}",
                        got_lp.sigma
                    );
                }
            }
            worst_fine = worst_fine.max(assert_close(
                &format!("{label} concat"),
                &trace.concat,
                &matrix(&fixture["concat"]),
                1e-5,
            ));
            worst_fine = worst_fine.max(assert_close(
                &format!("{label} output"),
                &trace.output,
                &matrix(&fixture["output"]),
                1e-5,
            ));
            checked += 1;
        }
    }
    assert!(checked > 0);
    println!(
        "{checked} fixture × backend runs: max |Δ| {worst_fine:e} (tolerance 1e-5), \
         scores {worst_scores:e} (tolerance 1e-4)"
    );
}
