//! The headless command line: computes specs, renders heatmaps, and rejects bad specs with
//! status 2 and one clear line on stderr (never a panic).

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};

/// The binary started with `args`, its stdin, stdout and stderr piped.
fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_attnscope"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs")
}

fn attnscope(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = spawn(args);
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
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot write"), "{err}");
    // One line that gives the OS's reason once (the error's message holds it; it is not
    // also chained as a cause, which `{:#}` would print a second time).
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(err.matches("os error").count(), 1, "{err}");
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
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_text.contains("天"));
    // Its title says what the picture is of.
    assert!(
        svg_text.contains(">wo_ai_beijing_tiananmen.json · head 0 · raw scores</text>"),
        "{}",
        &svg_text[..svg_text.len().min(600)]
    );
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

/// The kernel benchmark at a size that runs in milliseconds.
const TINY_BENCH: [&str; 9] = [
    "bench",
    "--n",
    "16",
    "--heads",
    "2",
    "--d",
    "8",
    "--seconds",
    "0",
];

#[test]
fn bench_runs_at_a_tiny_size() {
    let out = attnscope(&TINY_BENCH, None);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("attnscope scalar") && text.contains("ndarray-naive"),
        "{text}"
    );
    // The table names the machine it was measured on.
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("machine: ") && first.ends_with("logical CPUs"),
        "{first}"
    );
}

/// Output piped into a reader that stops early (`attnscope bench | head -3`) ends the run
/// quietly, as `cat` would: no panic and no backtrace on stderr.
#[test]
fn a_subcommand_whose_reader_is_gone_ends_quietly() {
    let mut child = spawn(&TINY_BENCH);
    // The reader is gone before the first line is written.
    drop(child.stdin.take());
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.is_empty(), "{err}");
    assert!(!out.status.success());
}

#[test]
fn run_writes_every_layer_and_head_as_json_and_npy() {
    let dir = tempfile::tempdir().unwrap();
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/tiny-gpt2-induction"
    );
    let json = dir.path().join("a.json");
    let out = run_text(model, "我爱北京", json.to_str().unwrap());
    assert_ok(&out);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["shape"], serde_json::json!([2, 4, 12, 12]));
    // The tokenizer's pieces (one byte each here), the app's labels, and byte ranges that
    // map every token back to the text.
    assert_eq!(doc["tokens"][0], "æ");
    assert_eq!(doc["labels"][0], "我");
    assert_eq!(doc["labels"][1], "我²");
    assert_eq!(doc["offsets"][0], serde_json::json!([0, 3]));
    assert_eq!(doc["offsets"][3], serde_json::json!([3, 6]));
    let row: f64 = doc["attentions"][1][3][5]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((row - 1.0).abs() < 1e-5);
    let npy = dir.path().join("a.npy");
    let out = run_text(model, "hello", npy.to_str().unwrap());
    assert_ok(&out);
    let bytes = std::fs::read(&npy).unwrap();
    assert!(bytes.starts_with(b"\x93NUMPY"));
    assert!(String::from_utf8_lossy(&bytes[..128]).contains("(2, 4, 5, 5)"));
    assert!(dir.path().join("a.tokens.json").is_file());
    // It says what it wrote, where, and how big.
    let said = String::from_utf8_lossy(&out.stderr);
    let mb = format!("({:.1} MB)", bytes.len() as f64 / 1e6);
    assert!(
        said.starts_with("wrote 2 layers × 4 heads × 5×5 probabilities to ")
            && said.contains(&mb)
            && said.trim_end().ends_with("a.tokens.json"),
        "{said}"
    );
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
                "render",
                "--model",
                model,
                "--text",
                "x",
                "--layer",
                "0",
                "--head",
                "12",
                "--out",
                "/tmp/x.png",
            ],
            "head 12 does not exist: the model has 12 head(s) per layer",
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
            "/no/such/model does not exist",
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
fn a_model_config_whose_fields_disagree_exits_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let src =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/qwen3-tiny");
    let m = dir.path().join("m");
    std::fs::create_dir_all(&m).unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(src.join(f), m.join(f)).unwrap();
    }
    let cfg = m.join("config.json");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let mut c: serde_json::Value = serde_json::from_str(&text).unwrap();
    c["num_key_value_heads"] = 3.into();
    std::fs::write(&cfg, c.to_string()).unwrap();
    let out = dir.path().join("x.json");
    let args = [
        "run",
        "--model",
        m.to_str().unwrap(),
        "--text",
        "x",
        "--out",
        out.to_str().unwrap(),
    ];
    assert_refused(
        &args,
        None,
        &["num_key_value_heads: 3 does not divide num_attention_heads = 4"],
    );
    // The same folder, repaired, runs.
    std::fs::write(&cfg, text).unwrap();
    assert_ok(&attnscope(&args, None));
}

/// Runs `attnscope` and asserts status 2 with one `error: …` line holding every needle.
fn assert_refused(args: &[&str], stdin: Option<&str>, needles: &[&str]) {
    let out = attnscope(args, stdin);
    let err = String::from_utf8_lossy(&out.stderr);
    let what = stdin.unwrap_or_default();
    assert_eq!(out.status.code(), Some(2), "{args:?} {what}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?} {what}: {err}");
    assert!(err.starts_with("error: "), "{err}");
    for needle in needles {
        assert!(
            err.contains(needle),
            "{args:?} {what}: {err:?} lacks {needle:?}"
        );
    }
}

#[test]
fn huge_sizes_in_a_spec_are_refused_before_anything_is_allocated() {
    let words = vec!["w"; 2048].join(" ");
    let big_trace =
        serde_json::json!({"target": {"text": words}, "d_model": 4096, "heads": 256}).to_string();
    let wide = serde_json::json!({"target": {"vectors": [vec![0.5f32; 5000]]}}).to_string();
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            r#"{"target": {"text": "a b"}, "d_model": 2147483648}"#.into(),
            vec!["d_model = 2147483648", "limit of 4096", "would need 64 EiB"],
        ),
        (
            r#"{"target": {"text": "a b"}, "d_model": 9223372036854775808}"#.into(),
            vec![
                "d_model = 9223372036854775808",
                "limit of 4096",
                "would need 1.2e21 EiB",
            ],
        ),
        (
            r#"{"target": {"text": "a b"}, "heads": 1000000000000}"#.into(),
            vec!["heads = 1000000000000", "limit of 256"],
        ),
        (
            r#"{"target": {"text": "a b"}, "window": 9223372036854775807}"#.into(),
            vec!["window = 9223372036854775807", "limit of 4096"],
        ),
        (
            r#"{"target": {"text": "a b"}, "span": "local_m", "local_d": 1000000000000000}"#.into(),
            vec!["local_d = 1000000000000000", "limit"],
        ),
        (
            r#"{"target": {"text": "a b"}, "max_tokens": 18446744073709551615}"#.into(),
            vec!["max_tokens = 18446744073709551615", "limit of 4096"],
        ),
        (
            r#"{"target": {"text": "a b"}, "max_tokens": 18446744073709551616}"#.into(),
            vec!["expected usize", "column 62"],
        ),
        (wide, vec!["d_model = 5000", "limit of 4096"]),
        // Found by tests/mutated_specs.rs: 1/τ = ∞ made every weight NaN.
        (
            r#"{"target": {"text": "a b c"}, "temperature": 1e-45}"#.into(),
            vec![
                "head 0's weights",
                "overflow",
                "every number must be finite",
            ],
        ),
        (big_trace, vec!["would need", "GiB", "limit of 4 GiB"]),
    ];
    for (spec, needles) in &cases {
        assert_refused(&["compute", "--spec", "-"], Some(spec), needles);
    }
}

#[test]
fn huge_model_config_fields_are_refused_before_the_weights_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let gpt2 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/tiny-gpt2-induction"
    );
    let bert = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/all-MiniLM-L6-v2"
    );
    let cases: &[(&str, &str, serde_json::Value, &[&str])] = &[
        (
            gpt2,
            "n_layer",
            1_000_000_000_000u64.into(),
            &["n_layer = 1000000000000", "limit of 256"],
        ),
        (
            gpt2,
            "n_embd",
            (1u64 << 40).into(),
            &["n_embd = 1099511627776", "limit"],
        ),
        (
            gpt2,
            "vocab_size",
            u64::MAX.into(),
            &["vocab_size = 18446744073709551615", "limit"],
        ),
        (
            bert,
            "num_hidden_layers",
            (1u64 << 31).into(),
            &["num_hidden_layers = 2147483648"],
        ),
        (
            bert,
            "hidden_size",
            (1u64 << 31).into(),
            &["hidden_size = 2147483648"],
        ),
        (
            bert,
            "vocab_size",
            2_000_000u64.into(),
            &["would need", "limit of 16 GiB"],
        ),
    ];
    for (i, (src, field, value, needles)) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("m{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{src}/config.json")).unwrap())
                .unwrap();
        cfg[field] = value.clone();
        if *field == "vocab_size" && src == &bert {
            cfg["hidden_size"] = 16384.into();
            cfg["num_attention_heads"] = 16.into();
        }
        std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
        // Only config.json: the check must come before anything else is looked at.
        let out = dir.join("x.json");
        assert_refused(
            &[
                "run",
                "--model",
                dir.to_str().unwrap(),
                "--text",
                "hi",
                "--out",
                out.to_str().unwrap(),
            ],
            None,
            needles,
        );
    }
}

#[test]
fn bad_numbers_on_the_command_line_are_refused() {
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/tiny-gpt2-induction"
    );
    let cases: &[(&[&str], &[&str])] = &[
        (&["bench", "--model", model, "--n", "0"], &["--n ≥ 1"]),
        (&["bench", "--n", "0"], &["--n ≥ 1"]),
        (&["bench", "--n", "1000000"], &["N = 1000000", "would need"]),
        (&["bench", "--n", "16", "--heads", "0"], &["--heads"]),
        (&["bench", "--n", "16", "--d", "100000"], &["--d"]),
        (&["bench", "--n", "16", "--seconds", "NaN"], &["--seconds"]),
        (&["--heads", "99999999999"], &["--heads"]),
        (&["--max-tokens", "0"], &["--max-tokens"]),
        (&["--step", "10"], &["--step"]),
        (&["--size", "NaNx900"], &["--size"]),
    ];
    for (args, needles) in cases {
        assert_refused(args, None, needles);
    }
}

/// `attnscope run --model MODEL --text TEXT --out OUT`.
fn run_text(model: &str, text: &str, out: &str) -> std::process::Output {
    attnscope(
        &["run", "--model", model, "--text", text, "--out", out],
        None,
    )
}

/// Copies the tiny GPT-2 sample model (config, tokenizer, weights) into `dst`.
fn copy_tiny_gpt2(dst: &std::path::Path) {
    let src = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/tiny-gpt2-induction"
    );
    std::fs::create_dir_all(dst).unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(format!("{src}/{f}"), dst.join(f)).unwrap();
    }
}

/// Copies a sample model and writes NaN into one f32 of one tensor.
fn model_with_a_nan(dst: &std::path::Path, tensor: &str, index: usize) {
    copy_tiny_gpt2(dst);
    let st = dst.join("model.safetensors");
    let mut bytes = std::fs::read(&st).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let off = header[tensor]["data_offsets"][0].as_u64().unwrap() as usize;
    let at = 8 + header_len + off + 4 * index;
    bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&st, &bytes).unwrap();
}

#[test]
fn nan_weights_are_reported_and_never_written_as_zero_attention() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("m");
    // Column 3 of c_attn is a query column of head 0 in layer 0: every score of that head
    // becomes NaN, and nothing else does (its context is 0, so later layers stay finite).
    let tensor = "transformer.h.0.attn.c_attn.weight";
    model_with_a_nan(&model, tensor, 3);
    let json = tmp.path().join("a.json");
    let out = run_text(model.to_str().unwrap(), "abcab", json.to_str().unwrap());
    assert_ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "warning: {tensor}: 1 NaN/Inf value(s), first at flat index 3"
        )),
        "{err}"
    );
    assert!(
        err.contains("warning: layer 0 head 0: 5 of 5 query rows"),
        "{err}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(
        doc["nonfinite"],
        serde_json::json!([{"layer": 0, "head": 0, "rows": [0, 1, 2, 3, 4]}])
    );
    let att = &doc["attentions"];
    assert!(att[0][0][2][0].is_null(), "NaN must be null in JSON, not 0");
    assert!(att[0][1][2][0].is_number() && att[1][0][2][0].is_number());
    // .npy: NaN in the array, the list beside it in the tokens file.
    let npy = tmp.path().join("a.npy");
    let out = run_text(model.to_str().unwrap(), "abcab", npy.to_str().unwrap());
    assert_ok(&out);
    let arr: ndarray::ArrayD<f32> =
        ndarray_npy::ReadNpyExt::read_npy(std::fs::File::open(&npy).unwrap()).unwrap();
    assert!(arr[[0, 0, 2, 0]].is_nan());
    assert!(arr[[0, 1, 2, 0]].is_finite());
    let side: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("a.tokens.json")).unwrap()).unwrap();
    assert_eq!(side["nonfinite"], doc["nonfinite"]);
}

/// A NaN early on reaches every later head: stderr says so in one line (a 30-layer GGUF
/// printed 270), and the file still lists every head under "nonfinite".
#[test]
fn nan_in_every_head_is_one_line_on_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("m");
    // Position 0's embedding: the first token's hidden state, a key every query sees.
    model_with_a_nan(&model, "transformer.wpe.weight", 0);
    let json = tmp.path().join("a.json");
    let out = run_text(model.to_str().unwrap(), "abcab", json.to_str().unwrap());
    assert_ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("NaN/Inf scores"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("warning: 8 heads in 2 layers have NaN/Inf scores (first: layer 0 head 0, 5 of 5 query rows)"),
        "{err}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["nonfinite"].as_array().unwrap().len(), 8);
}

/// A config that claims fewer layers than the weights hold runs the first ones and says
/// which are left out (a file edited or mislabelled; transformers warns the same way).
#[test]
fn layers_the_config_leaves_out_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("m");
    copy_tiny_gpt2(&model);
    let cfg = model.join("config.json");
    let mut c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    c["n_layer"] = serde_json::json!(1);
    std::fs::write(&cfg, c.to_string()).unwrap();
    let json = tmp.path().join("a.json");
    let out = run_text(model.to_str().unwrap(), "ab", json.to_str().unwrap());
    assert_ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: the weights hold layers 0–1, but the config (block_count in a GGUF file) says 1: layer 1 is not used"),
        "{err}"
    );
}

/// `run --layers --heads` writes the chosen heads only, recomputed from a run that kept no
/// matrices: bit for bit the same probabilities as the full run's, with the axes named.
#[test]
fn run_writes_the_chosen_layers_and_heads_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/tiny-llama-induction"
    );
    let text = "Xq7#Lp2 Zu9! then again Xq7#";
    let run = |extra: &[&str], name: &str| {
        let out = tmp.path().join(name);
        let mut args = vec![
            "run",
            "--model",
            model,
            "--text",
            text,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = attnscope(&args, None);
        assert_ok(&o);
        let arr: ndarray::Array4<f32> =
            ndarray_npy::ReadNpyExt::read_npy(std::fs::File::open(&out).unwrap()).unwrap();
        let side: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.with_extension("tokens.json")).unwrap())
                .unwrap();
        (arr, side)
    };
    let (all, side_all) = run(&[], "all.npy");
    assert_eq!(side_all["layers"], serde_json::json!([0, 1]));
    assert_eq!(side_all["heads"], serde_json::json!([0, 1, 2, 3]));
    let (some, side) = run(&["--layers", "1", "--heads", "3,0"], "some.npy");
    assert_eq!(some.dim(), (1, 2, all.dim().2, all.dim().3));
    assert_eq!(side["layers"], serde_json::json!([1]));
    assert_eq!(side["heads"], serde_json::json!([3, 0]));
    assert_eq!(
        side["shape"],
        serde_json::json!([1, 2, all.dim().2, all.dim().3])
    );
    for (b, h) in [(0, 3), (1, 0)] {
        let want = all.slice(ndarray::s![1, h, .., ..]);
        let got = some.slice(ndarray::s![0, b, .., ..]);
        assert!(
            want.iter()
                .zip(got.iter())
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "layer 1 head {h}"
        );
    }
    // A layer the model does not have: one line, exit 2.
    let o = attnscope(
        &[
            "run",
            "--model",
            model,
            "--text",
            text,
            "--out",
            tmp.path().join("x.npy").to_str().unwrap(),
            "--layers",
            "2",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.trim(),
        "error: --layers 2: the model has 2 layers (0 to 1)"
    );
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

#[test]
fn bench_sizes_that_overflow_or_exceed_the_model_are_refused() {
    // N² overflowed the kernel bench's u128 estimate and could wrap under the budget (found
    // by the cli_args fuzzer); a model bench skipped N beyond the positions without a word.
    for n in ["18446744073709551615", "12184604477431075956"] {
        let out = attnscope(&["bench", "--n", n], None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains("more than the limit"), "{err}");
    }
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/tiny-gpt2-induction"
    );
    let out = attnscope(&["bench", "--model", model, "--n", "128,4096"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("N = 4096 is more than") && err.contains("256 positions"),
        "{err}"
    );
}

#[test]
fn generate_writes_steps_and_attention_rows_and_refuses_what_cannot_generate() {
    let dir = tempfile::tempdir().unwrap();
    let (json, npy) = (dir.path().join("g.json"), dir.path().join("g.npy"));
    let tiny = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/tiny-gpt2-induction"
    );
    let out = attnscope(
        &[
            "generate",
            "--model",
            tiny,
            "--prompt",
            "abc abc ab",
            "--max-new",
            "5",
            "--out",
            json.to_str().unwrap(),
            "--attn-out",
            npy.to_str().unwrap(),
        ],
        None,
    );
    assert_ok(&out);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["prompt_ids"].as_array().unwrap().len(), 10);
    let steps = doc["steps"].as_array().unwrap();
    assert!(!steps.is_empty() && steps.len() <= 5);
    assert_eq!(doc["generated_ids"].as_array().unwrap().len(), steps.len());
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s["top"].as_array().unwrap().len(), 10);
        assert_eq!(s["attention_len"].as_u64().unwrap() as usize, 10 + i);
        assert_eq!(s["rank"], 0, "greedy");
    }
    // One label per token, the prompt's as typed (a space reads ␣), the chosen ones' too.
    let labels = doc["labels"].as_array().unwrap();
    for (i, s) in steps.iter().enumerate() {
        let l = labels[10 + i].as_str().unwrap();
        let said = s["label"].as_str().unwrap();
        assert!(
            said == l || (l == "␣" && said.trim().is_empty()),
            "{said:?} vs {l:?}"
        );
    }
    assert_eq!(labels.len(), 10 + steps.len());
    assert_eq!(labels[3], "␣");
    assert_eq!(labels[4], "a");
    let att: ndarray::Array4<f32> = ndarray_npy::read_npy(&npy).unwrap();
    assert_eq!(att.shape(), &[steps.len(), 2, 4, 10 + steps.len() - 1]);
    for (i, step) in att.outer_iter().enumerate() {
        for row in step.rows() {
            let s: f32 = row.iter().take(10 + i).sum();
            assert!((s - 1.0).abs() < 1e-5, "step {i}: a row sums to {s}");
            assert!(row.iter().skip(10 + i).all(|&p| p == 0.0), "zero padding");
        }
    }
    let bert = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/all-MiniLM-L6-v2"
    );
    for (args, needle) in [
        (
            vec![
                "generate",
                "--model",
                bert,
                "--prompt",
                "x",
                "--out",
                "/tmp/x.json",
            ],
            "generation needs a causal LM",
        ),
        (
            vec![
                "generate",
                "--model",
                tiny,
                "--prompt",
                "",
                "--out",
                "/tmp/x.json",
            ],
            "the prompt is empty",
        ),
        (
            vec![
                "generate",
                "--model",
                tiny,
                "--prompt",
                "a",
                "--max-new",
                "999",
                "--out",
                "/tmp/x.json",
            ],
            "exceed the model's 256 positions",
        ),
        (
            vec![
                "generate",
                "--model",
                tiny,
                "--prompt",
                "a",
                "--temperature=-1",
                "--out",
                "/tmp/x.json",
            ],
            "--temperature",
        ),
        (
            vec![
                "generate",
                "--model",
                tiny,
                "--prompt",
                "a",
                "--ablate",
                "2:0",
                "--out",
                "/tmp/x.json",
            ],
            "head 2:0 is not in a model of 2 layers × 4 heads",
        ),
        (
            vec![
                "generate",
                "--model",
                tiny,
                "--prompt",
                "a",
                "--ablate",
                "1-0",
                "--out",
                "/tmp/x.json",
            ],
            "--ablate",
        ),
        (
            vec![
                "generate",
                "--model",
                tiny,
                "--prompt",
                "a",
                "--ablate",
                "1:0",
                "--ablate-mode",
                "half",
                "--out",
                "/tmp/x.json",
            ],
            "--ablate-mode",
        ),
    ] {
        let out = attnscope(&args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// `--ablate` knocks the induction head out while generating: on a repeated random segment the
/// copy's log p falls, and the JSON says which heads were knocked out and how.
#[test]
fn generate_with_the_induction_head_knocked_out_loses_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/tiny-gpt2-induction"
    );
    let prompt = "orzxqsgfvpubhecwiatdymklorzxqsgfvpubhec";
    let run = |extra: &[&str]| {
        let json = dir.path().join("g.json");
        let mut args = vec![
            "generate",
            "--model",
            tiny,
            "--prompt",
            prompt,
            "--max-new",
            "1",
            "--out",
            json.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        assert_ok(&attnscope(&args, None));
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        doc
    };
    let clean = run(&[]);
    let knocked = run(&["--ablate", "1:0", "--ablate-mode", "zero"]);
    assert_eq!(clean["steps"][0]["token"], "w", "the clean model copies");
    assert_eq!(knocked["ablation"]["heads"], serde_json::json!([[1, 0]]));
    assert_eq!(knocked["ablation"]["mode"], "zero");
    let p_of = |doc: &serde_json::Value| {
        doc["steps"][0]["top"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["token"] == "w")
            .map_or(0.0, |t| t["p"].as_f64().unwrap())
    };
    assert!(
        p_of(&knocked) < p_of(&clean) / 3.0,
        "p(copy) {} knocked out vs {} clean",
        p_of(&knocked),
        p_of(&clean)
    );
}

#[test]
fn run_on_the_translator_writes_encoder_decoder_and_cross_attention() {
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/sample_models/tiny-translator");
    let dir = std::env::temp_dir().join(format!("attnscope-cli-s2s-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("t.json");
    // Without --target: translated greedily, the decoder runs on the translation.
    let o = attnscope(
        &[
            "run",
            "--model",
            model,
            "--source",
            "March 5, 2021",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_ok(&o);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(doc["translation"]["text"], "2021年3月5日");
    assert_eq!(doc["source"]["tokens"].as_array().unwrap().len(), 15);
    assert_eq!(doc["encoder_shape"], serde_json::json!([2, 4, 15, 15]));
    assert_eq!(doc["decoder_shape"], serde_json::json!([2, 4, 10, 10]));
    assert_eq!(doc["cross_shape"], serde_json::json!([2, 4, 10, 15]));
    // Each cross row is a distribution over the 15 source tokens.
    for row in doc["cross"][1][1].as_array().unwrap() {
        let s: f64 = row
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .sum();
        assert!((s - 1.0).abs() < 1e-4);
    }
    // With --target: teacher forcing on the given text.
    let o = attnscope(
        &[
            "run",
            "--model",
            model,
            "--source",
            "forty-two",
            "--target",
            "四十二",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_ok(&o);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        doc["target"]["tokens"],
        serde_json::json!(["</s>", "四", "十", "二"])
    );
    assert!(doc.get("translation").is_none());
    for ext in ["png", "svg"] {
        let img = dir.join(format!("cross.{ext}"));
        let o = attnscope(
            &[
                "render",
                "--model",
                model,
                "--source",
                "March 5, 2021",
                "--kind",
                "cross",
                "--layer",
                "1",
                "--head",
                "1",
                "--out",
                img.to_str().unwrap(),
            ],
            None,
        );
        assert_ok(&o);
        assert!(std::fs::metadata(&img).unwrap().len() > 100);
    }
    let svg = std::fs::read_to_string(dir.join("cross.svg")).unwrap();
    assert!(svg.contains("年"), "the target labels are drawn");
    // Bad input: one line, exit 2.
    assert_refused(
        &[
            "run",
            "--model",
            model,
            "--text",
            "hi",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
        &["encoder–decoder"],
    );
    assert_refused(
        &[
            "run",
            "--model",
            model,
            "--source",
            "",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
        &["empty"],
    );
    assert_refused(
        &[
            "render",
            "--model",
            model,
            "--source",
            "x",
            "--kind",
            "cross",
            "--layer",
            "5",
            "--out",
            out.with_extension("png").to_str().unwrap(),
        ],
        None,
        &["layer 5"],
    );
    assert_refused(
        &[
            "render",
            "--model",
            model,
            "--source",
            "x",
            "--kind",
            "sideways",
            "--out",
            out.with_extension("png").to_str().unwrap(),
        ],
        None,
        &["--kind"],
    );
}

/// The argument parser's errors keep what makes them useful on their one line: which flags
/// are missing, which values are possible; and a negative number reaches the range check.
#[test]
fn argument_errors_name_the_missing_flag_and_the_possible_values() {
    assert_refused(
        &["compute"],
        None,
        &["required arguments were not provided: --spec <FILE.json>"],
    );
    assert_refused(
        &["--lang", "fr"],
        None,
        &[
            "invalid value 'fr' for '--lang <LANG>'",
            "[possible values: en, zh]",
        ],
    );
    assert_refused(
        &["bench", "--seconds", "-1"],
        None,
        &["--seconds must be between 0 and 3600, got -1"],
    );
}

/// A model file that is empty, or a model of the wrong kind for the option, gets a message
/// that says so rather than a parser's complaint.
#[test]
fn a_missing_empty_or_wrong_kind_of_model_says_which() {
    // (A path that does not exist: `render_draws_a_model_head_and_bad_models_exit_2`.)
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    let out = dir.path().join("o.json");
    assert_refused(
        &[
            "run",
            "--model",
            empty.to_str().unwrap(),
            "--text",
            "hi",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
        &["the file is empty"],
    );
    let gpt2 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/tiny-gpt2-induction"
    );
    let png = dir.path().join("h.png");
    assert_refused(
        &[
            "render",
            "--model",
            gpt2,
            "--source",
            "hi",
            "--out",
            png.to_str().unwrap(),
        ],
        None,
        &["\"gpt2\" is not an encoder–decoder", "give this one --text"],
    );
}

/// Outputs are checked before the work: a wrong extension or a missing folder ends at once
/// with one line, and an empty --target translates as the app does.
#[test]
fn outputs_are_checked_before_the_work_and_an_empty_target_translates() {
    let gpt2 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/tiny-gpt2-induction"
    );
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (g_txt, g_json, a_json) = (at("g.txt"), at("g.json"), at("a.json"));
    assert_refused(
        &[
            "generate", "--model", gpt2, "--prompt", "hi", "--out", &g_txt,
        ],
        None,
        &["g.txt: the output must end in .json"],
    );
    assert_refused(
        &[
            "generate",
            "--model",
            gpt2,
            "--prompt",
            "hi",
            "--out",
            &g_json,
            "--attn-out",
            &a_json,
        ],
        None,
        &["a.json: the output must end in .npy"],
    );
    assert!(
        !std::path::Path::new(&g_json).exists(),
        "nothing was generated"
    );
    assert_refused(
        &["bench", "--n", "64", "--json", "/no/such/dir/b.json"],
        None,
        &["cannot write /no/such/dir/b.json", "os error"],
    );
    // Options of an encoder–decoder run, given to a single-stack one, are refused.
    let png = at("h.png");
    assert_refused(
        &[
            "render", "--model", gpt2, "--text", "hi", "--kind", "encoder", "--out", &png,
        ],
        None,
        &["--target and --kind are for an encoder–decoder model with --source"],
    );
    assert_refused(
        &[
            "run", "--model", gpt2, "--text", "hi", "--target", "x", "--out", &g_json,
        ],
        None,
        &["--target is for an encoder–decoder model with --source"],
    );
    let translator = concat!(env!("CARGO_MANIFEST_DIR"), "/sample_models/tiny-translator");
    let t = at("t.json");
    let out = attnscope(
        &[
            "run",
            "--model",
            translator,
            "--source",
            "March 5, 2021",
            "--target",
            "",
            "--out",
            &t,
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&t).unwrap()).unwrap();
    assert_eq!(
        doc["translation"]["text"].as_str(),
        Some("2021年3月5日"),
        "{}",
        doc["target_note"]
    );
}

/// `render --range unit` ends the weights' colour bar at 1, as the app's "0 … 1" does; the
/// default ends it at the matrix's largest weight, so the two pictures differ.
#[test]
fn render_colours_weights_on_the_range_asked_for() {
    let lesson = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/lessons/classic_three_tokens.json"
    );
    let dir = tempfile::tempdir().unwrap();
    let svg = |range: &str| {
        let out = dir.path().join(format!("{range}.svg"));
        let o = out.to_str().unwrap();
        assert_ok(&attnscope(
            &[
                "render", "--spec", lesson, "--head", "0", "--range", range, "--out", o,
            ],
            None,
        ));
        std::fs::read_to_string(&out).unwrap()
    };
    // The lesson's largest weight is 0.87 (q2 on itself).
    let (unit, max) = (svg("unit"), svg("max"));
    assert!(unit.contains(r#"font-size="11">1.00</text>"#), "{unit}");
    assert!(max.contains(r#"font-size="11">0.87</text>"#), "{max}");
}

/// `render --scale`: on the log scale the colour bar runs from 10⁻⁴ to 1, on the per-row
/// scale every row's largest weight has the top colour (viridis' #fde725), where the linear
/// scale gives it to the matrix's largest weight alone; the cells keep their weights as
/// numbers. A scale for scores is refused, and the translator's decoder self-attention
/// is drawn with its causal mask grey.
#[test]
fn render_colours_weights_on_the_scale_asked_for() {
    let lesson = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/lessons/classic_three_tokens.json"
    );
    let dir = tempfile::tempdir().unwrap();
    let svg = |args: &[&str], name: &str| {
        let out = dir.path().join(name);
        let mut all = vec!["render"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--out", out.to_str().unwrap()]);
        assert_ok(&attnscope(&all, None));
        std::fs::read_to_string(&out).unwrap()
    };
    // The rows (by their y) that have a cell in the top colour.
    let top = |s: &str| {
        let rows: std::collections::BTreeSet<&str> = s
            .lines()
            .filter(|l| l.starts_with("<rect") && l.contains(r##"fill="#fde725""##))
            .filter_map(|l| l.split(" y=\"").nth(1)?.split('"').next())
            .collect();
        rows.len()
    };
    let linear = svg(&["--spec", lesson, "--scale", "linear"], "linear.svg");
    let row = svg(&["--spec", lesson, "--scale", "row"], "row.svg");
    let log = svg(&["--spec", lesson, "--scale", "log"], "log.svg");
    assert_eq!(top(&linear), 1, "{linear}");
    assert_eq!(top(&row), 3, "the top colour in every row: {row}");
    assert!(row.contains("each row ÷ its max"), "{row}");
    assert!(log.contains(r#"font-size="11">≤ 0.0001</text>"#), "{log}");
    assert!(log.contains("log colour scale"), "{log}");
    for s in [&linear, &row, &log] {
        assert!(
            s.contains(">0.87</text>"),
            "the weights stay the numbers: {s}"
        );
    }
    let png = dir.path().join("s.png");
    let args = [
        "render",
        "--spec",
        lesson,
        "--matrix",
        "scores",
        "--scale",
        "log",
        "--out",
        png.to_str().unwrap(),
    ];
    refused_with(
        &attnscope(&args, None),
        "--scale log colours attention weights",
    );
    let translator = concat!(env!("CARGO_MANIFEST_DIR"), "/sample_models/tiny-translator");
    let dec = svg(
        &[
            "--model",
            translator,
            "--source",
            "May 1, 2020",
            "--kind",
            "decoder",
        ],
        "dec.svg",
    );
    assert!(
        dec.contains(r##"fill="#404040""##),
        "masked cells grey: {dec}"
    );
}

/// One line on stderr and status 2: what every refused command gives.
fn refused_with(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A spec from a pipe that never ends (or a device like /dev/zero, whose size the file
/// system does not tell) is refused at the reader's limit, not read until memory runs out.
#[test]
fn a_spec_stream_without_end_is_refused_at_the_limit() {
    let mut child = spawn(&["compute", "--spec", "-"]);
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let block = vec![b' '; 1 << 20];
        // 64 MiB at most; the program stops reading (and the pipe breaks) at 16 MiB.
        for _ in 0..64 {
            if stdin.write_all(&block).is_err() {
                break;
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    refused_with(&out, "more than 16 MiB");
}

/// `render` refuses options it would not use (a figure made with them would be the wrong
/// figure) and output it cannot write, before any work; a model's NaN head is said and
/// drawn grey, never as zero attention.
#[test]
fn render_refuses_options_it_would_ignore_and_says_what_is_undefined() {
    let lesson = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/lessons/gpt_causal.json"
    );
    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("h.png");
    let p = png.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["render", "--spec", lesson, "--layer", "3", "--out", p],
            "--layer is for --model",
        ),
        (
            &["render", "--spec", lesson, "--text", "hi", "--out", p],
            "--text is for --model",
        ),
        (
            &["render", "--spec", lesson, "--out", "/proc/h.png"],
            "cannot write /proc/h.png",
        ),
        (
            &[
                "render",
                "--spec",
                lesson,
                "--out",
                tmp.path().to_str().unwrap(),
            ],
            "must end in",
        ),
    ];
    for (args, needle) in cases {
        refused_with(&attnscope(args, None), needle);
    }
    let translator = concat!(env!("CARGO_MANIFEST_DIR"), "/sample_models/tiny-translator");
    let args = [
        "render",
        "--model",
        translator,
        "--source",
        "May 1, 2020",
        "--kind",
        "decoder",
        "--matrix",
        "logits",
        "--out",
        p,
    ];
    refused_with(&attnscope(&args, None), "--matrix logits is not kept");
    assert!(!png.exists(), "nothing is written by a refused command");
    // A head whose scores are NaN: a warning, and its rows drawn in the masked grey.
    let model = tmp.path().join("nan");
    model_with_a_nan(&model, "transformer.h.0.attn.c_attn.weight", 3);
    let out = attnscope(
        &[
            "render",
            "--model",
            model.to_str().unwrap(),
            "--text",
            "abcab",
            "--out",
            p,
        ],
        None,
    );
    assert_ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: layer 0 head 0: 5 of 5 query rows"),
        "{err}"
    );
    let img = image::open(&png).unwrap().to_rgb8();
    let grey = img.pixels().filter(|p| p.0 == [64, 64, 64]).count();
    assert!(
        grey > 5 * 5 * 10,
        "the undefined rows are grey: {grey} grey pixels"
    );
}

/// `run --out a.npy` writes the array and its tokens beside it, or neither: when the tokens
/// cannot be written the array is removed again. `bench --json` and `--screenshot` are
/// checked before the work.
#[test]
fn outputs_are_written_whole_or_not_at_all() {
    let tmp = tempfile::tempdir().unwrap();
    let npy = tmp.path().join("a.npy");
    // A folder where the tokens file would go: renaming onto it fails.
    std::fs::create_dir(tmp.path().join("a.tokens.json")).unwrap();
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/tiny-gpt2-induction"
    );
    let out = run_text(model, "abc", npy.to_str().unwrap());
    refused_with(&out, "a.tokens.json");
    assert!(!npy.exists(), "a.npy without its tokens was left behind");
    let out = attnscope(&["bench", "--n", "8", "--json", "/proc/b.json"], None);
    refused_with(&out, "cannot write /proc/b.json");
    assert!(out.stdout.is_empty(), "the benchmark ran before the check");
    let out = attnscope(&["--screenshot", "x.jpg"], None);
    refused_with(&out, "must end in .png");
}

/// A PNG of a causal head draws its masked cells grey (their 0 is the mask's, not a
/// weight), writes each cell's number when cells are large, and a model's config with a
/// negative norm ε is refused naming the field.
#[test]
fn masked_weights_are_grey_and_a_bad_epsilon_is_named() {
    let lesson = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/lessons/gpt_causal.json"
    );
    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("c.png");
    assert_ok(&attnscope(
        &["render", "--spec", lesson, "--out", png.to_str().unwrap()],
        None,
    ));
    let img = image::open(&png).unwrap().to_rgb8();
    let grey = img.pixels().filter(|p| p.0 == [64, 64, 64]).count();
    // 6 tokens: 15 masked cells of at least 30 × 30 pixels each.
    assert!(
        grey >= 15 * 30 * 30,
        "masked cells are grey: {grey} grey pixels"
    );
    let model = tmp.path().join("eps");
    model_with_a_nan(&model, "transformer.h.0.attn.c_attn.weight", 3);
    let cfg = model.join("config.json");
    let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    c["layer_norm_epsilon"] = serde_json::json!(-1.0);
    std::fs::write(&cfg, c.to_string()).unwrap();
    let out = run_text(model.to_str().unwrap(), "ab", "/tmp/x.json");
    refused_with(&out, "layer_norm_epsilon: must be a number above 0, got -1");
}
