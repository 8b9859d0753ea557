//! The headless command line: computes specs, renders heatmaps, and rejects bad specs with
//! status 2 and one clear line on stderr (never a panic).

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn attnscope(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_attnscope"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// Fails the test with the program's stderr when it did not succeed.
fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn compute_writes_a_trace_for_every_lesson() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sample_models/lessons");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let out = attnscope(&["compute", "--spec", path.to_str().unwrap()], None);
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let trace: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(!trace["head_traces"].as_array().unwrap().is_empty());
        n += 1;
    }
    assert!(n >= 3);
}

#[test]
fn chinese_by_characters_gives_seven_tokens_from_stdin() {
    let spec = r#"{"target": {"text": "我爱北京天安门"}, "tokenizer": "chars", "heads": 2}"#;
    let out = attnscope(&["compute", "--spec", "-"], Some(spec));
    assert_ok(&out);
    let trace: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(trace["tokens_q"].as_array().unwrap().len(), 7);
    assert_eq!(trace["tokens_q"][0], "我");
}

#[test]
fn masked_logits_are_null_in_json() {
    let spec = r#"{"target": {"text": "a b c"}, "causal": true}"#;
    let out = attnscope(&["compute", "--spec", "-"], Some(spec));
    let trace: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(trace["head_traces"][0]["logits"][0][2].is_null());
    assert_eq!(trace["head_traces"][0]["weights"][0][2], 0.0);
}

#[test]
fn bad_specs_exit_2_with_one_clear_line() {
    let cases: &[(&str, &str)] = &[
        (r#"{"target": {"text": ""}}"#, "empty"),
        (r#"{"target": {"text": "   "}}"#, "empty"),
        (r#"{"target": {"vectors": [[1, 2], [3]]}}"#, "wrong shape"),
        (r#"{"target": {"vectors": []}}"#, "empty"),
        (
            r#"{"target": {"text": "a b"}, "score": "dott"}"#,
            "unknown variant",
        ),
        (
            r#"{"target": {"text": "a b"}, "scroe": "dot"}"#,
            "unknown field",
        ),
        (r#"{"target": {"vectors": [[1e39, 0]]}}"#, "finite"),
        (
            r#"{"target": {"text": "a b"}, "d_model": 6, "heads": 4}"#,
            "not divisible",
        ),
        (r#"{"target": {"text": "a b"}, "window": -1}"#, "window"),
        (r#"{"target": {"text": "a b"}, "temperature": 0}"#, "τ"),
        (r#"{"target": {"text": "a b"}, "temperature": -2}"#, "τ"),
        (r#"{"target": {"text": "a b"}, "heads": 0}"#, "heads"),
        (
            r#"{"target": {"text": "a b"}, "span": "local_p", "local_d": 0}"#,
            "local_d",
        ),
        (
            r#"{"target": {"text": "a b"}, "padding": [true]}"#,
            "padding",
        ),
        (
            r#"{"target": {"text": "a b"}, "projections": {"w_q": [[1, 0], [0, 1]]}}"#,
            "wrong shape",
        ),
        (r#"not json"#, "expected"),
    ];
    for (spec, needle) in cases {
        let out = attnscope(&["compute", "--spec", "-"], Some(spec));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{spec}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{spec}: not one line: {err}"
        );
        assert!(err.contains(needle), "{spec}: {err:?} lacks {needle:?}");
        assert!(!err.contains("panicked"), "{spec}: {err}");
    }
}

#[test]
fn enormous_text_is_refused_not_a_crash() {
    let words = vec!["w"; 5000].join(" ");
    let spec = serde_json::json!({"target": {"text": words}}).to_string();
    let out = attnscope(&["compute", "--spec", "-"], Some(&spec));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than the limit"));
    // …unless the spec asks for truncation.
    let spec = serde_json::json!({"target": {"text": words}, "max_tokens": 64}).to_string();
    let out = attnscope(&["compute", "--spec", "-"], Some(&spec));
    assert!(out.status.success());
    let trace: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(trace["truncated_q"], 5000);
    assert_eq!(trace["tokens_q"].as_array().unwrap().len(), 64);
}

#[test]
fn missing_spec_file_and_unwritable_output_fail_cleanly() {
    let out = attnscope(&["compute", "--spec", "/no/such/spec.json"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read spec"));
    let lesson = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/lessons/toy_x123.json"
    );
    let out = attnscope(
        &["compute", "--spec", lesson, "--out", "/no/such/dir/t.json"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write"));
}

#[test]
fn render_writes_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let lesson = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/lessons/wo_ai_beijing_tiananmen.json"
    );
    let png = dir.path().join("h.png");
    let out = attnscope(
        &[
            "render",
            "--spec",
            lesson,
            "--head",
            "1",
            "--out",
            png.to_str().unwrap(),
        ],
        None,
    );
    assert_ok(&out);
    let img = image::open(&png).unwrap();
    assert!(img.width() > 7 && img.height() >= 7);
    let svg = dir.path().join("h.svg");
    let out = attnscope(
        &[
            "render",
            "--spec",
            lesson,
            "--matrix",
            "scores",
            "--out",
            svg.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&svg).unwrap().contains("天"));
    let out = attnscope(
        &[
            "render",
            "--spec",
            lesson,
            "--head",
            "9",
            "--out",
            png.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bench_runs_at_a_tiny_size() {
    let out = attnscope(
        &[
            "bench",
            "--n",
            "16",
            "--heads",
            "2",
            "--d",
            "8",
            "--seconds",
            "0",
        ],
        None,
    );
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("attnscope scalar") && text.contains("ndarray-naive"),
        "{text}"
    );
}

#[test]
fn run_writes_every_layer_and_head_as_json_and_npy() {
    let dir = tempfile::tempdir().unwrap();
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/tiny-gpt2-induction"
    );
    let json = dir.path().join("a.json");
    let out = attnscope(
        &[
            "run",
            "--model",
            model,
            "--text",
            "我爱北京",
            "--out",
            json.to_str().unwrap(),
        ],
        None,
    );
    assert_ok(&out);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["shape"], serde_json::json!([2, 4, 12, 12]));
    assert_eq!(doc["tokens"][0], "我");
    let row: f64 = doc["attentions"][1][3][5]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((row - 1.0).abs() < 1e-5);
    let npy = dir.path().join("a.npy");
    let out = attnscope(
        &[
            "run",
            "--model",
            model,
            "--text",
            "hello",
            "--out",
            npy.to_str().unwrap(),
        ],
        None,
    );
    assert_ok(&out);
    let bytes = std::fs::read(&npy).unwrap();
    assert!(bytes.starts_with(b"\x93NUMPY"));
    assert!(String::from_utf8_lossy(&bytes[..128]).contains("(2, 4, 5, 5)"));
    assert!(dir.path().join("a.tokens.json").is_file());
}

#[test]
fn render_draws_a_model_head_and_bad_models_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/all-MiniLM-L6-v2"
    );
    let png = dir.path().join("heat.png");
    let out = attnscope(
        &[
            "render",
            "--model",
            model,
            "--text",
            "The cat sat on the mat.",
            "--layer",
            "5",
            "--head",
            "3",
            "--out",
            png.to_str().unwrap(),
        ],
        None,
    );
    assert_ok(&out);
    assert!(image::open(&png).is_ok());
    for (args, needle) in [
        (
            vec![
                "render",
                "--model",
                model,
                "--text",
                "x",
                "--layer",
                "9",
                "--out",
                "/tmp/x.png",
            ],
            "layer 9 does not exist",
        ),
        (
            vec![
                "run",
                "--model",
                "/no/such/model",
                "--text",
                "x",
                "--out",
                "/tmp/x.json",
            ],
            "has no config.json",
        ),
        (
            vec![
                "run",
                "--model",
                model,
                "--text",
                "",
                "--out",
                "/tmp/x.json",
            ],
            "text is empty",
        ),
        (
            vec![
                "run",
                "--model",
                model,
                "--text",
                "x",
                "--out",
                "/tmp/x.txt",
            ],
            ".json or .npy",
        ),
    ] {
        let out = attnscope(&args, None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn bad_local_p_options_exit_2_with_one_clear_line() {
    let lp = r#""target": {"text": "a b c"}, "d_model": 4, "heads": 2, "span": "local_p""#;
    let cases: Vec<(String, &str)> = vec![
        // D = 0 would make σ = D/2 = 0
        (
            format!(r#"{{{lp}, "local_d": 0}}"#),
            "needs an explicit local_sigma",
        ),
        (format!(r#"{{{lp}, "local_sigma": 0}}"#), "local_sigma"),
        (format!(r#"{{{lp}, "local_sigma": -1.5}}"#), "local_sigma"),
        // too big for f32: infinite
        (format!(r#"{{{lp}, "local_sigma": 1e39}}"#), "local_sigma"),
        // JSON has no NaN: the parser refuses it
        (format!(r#"{{{lp}, "local_sigma": NaN}}"#), "expected value"),
        (format!(r#"{{{lp}, "local_p_dim": 0}}"#), "local_p_dim"),
        (format!(r#"{{{lp}, "local_p_dim": -3}}"#), "local_p_dim"),
        (
            format!(r#"{{{lp}, "local_p_source": "output"}}"#),
            "unknown variant",
        ),
        // input source: W_p is d_p × d_model = 4×4, not d_k×d_k = 2×2
        (
            format!(
                r#"{{{lp}, "local_p_source": "input",
                "local_p_params": {{"w_p": [[[1, 0], [0, 1]], [[1, 0], [0, 1]]]}}}}"#
            ),
            "local_p_params.w_p[0] has the wrong shape: expected 4×4",
        ),
        // d_p = 3: W_p is 3×2 per head
        (
            format!(
                r#"{{{lp}, "local_p_dim": 3,
                "local_p_params": {{"w_p": [[[1, 0], [0, 1]], [[1, 0], [0, 1]]]}}}}"#
            ),
            "expected 3×2",
        ),
        (
            format!(r#"{{{lp}, "local_p_dim": 3, "local_p_params": {{"v_p": [[1, 2], [3, 4]]}}}}"#),
            "local_p_params.v_p[0] has the wrong shape",
        ),
        (
            format!(r#"{{{lp}, "local_p_params": {{"w_p": [[[1, 0], [0, 1]]]}}}}"#),
            "one entry per head (2)",
        ),
    ];
    for (spec, needle) in &cases {
        let out = attnscope(&["compute", "--spec", "-"], Some(spec));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{spec}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{spec}: not one line: {err}"
        );
        assert!(err.starts_with("error:"), "{spec}: {err}");
        assert!(err.contains(needle), "{spec}: {err:?} lacks {needle:?}");
        assert!(!err.contains("panicked"), "{spec}: {err}");
    }
}

#[test]
fn local_p_trace_says_what_it_used() {
    let spec = r#"{"target": {"text": "a b c d"}, "d_model": 4, "heads": 2,
        "span": "local_p", "local_d": 0, "local_sigma": 0.5, "local_p_source": "input",
        "local_p_dim": 3}"#;
    let out = attnscope(&["compute", "--spec", "-"], Some(spec));
    assert_ok(&out);
    let trace: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let lp = &trace["head_traces"][1]["local_p"];
    assert_eq!(lp["source"], "input");
    assert_eq!(lp["d"], 0);
    assert_eq!(lp["sigma"], 0.5);
    assert_eq!(lp["d_p"], 3);
    assert_eq!(lp["d_in"], 4);
    // other spans carry no local_p entry
    let out = attnscope(
        &["compute", "--spec", "-"],
        Some(r#"{"target": {"text": "a b"}}"#),
    );
    let trace: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(trace["head_traces"][0].get("local_p").is_none());
}
