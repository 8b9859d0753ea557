//! Every input a fuzz target ever crashed on, replayed through the same code as the target
//! (`fuzz/fuzz_targets/*.rs`), so `cargo test --release` keeps them fixed. The inputs live in
//! `tests/fixtures/fuzz/TARGET/`; `tools/fuzz.sh` also uses them as seeds.

use std::path::PathBuf;

/// Prints a count on the real stderr: the test harness captures `eprintln!`, and these
/// counts are what shows that the checks ran, so they must appear in `cargo test` output.
macro_rules! report {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

use attnscope::core::Spec;
use attnscope::core::kernels::Backend;
use attnscope::core::pipeline::compute_with_budget;
use attnscope::model::arch::Transformer;
use attnscope::model::config::ModelConfig;
use attnscope::model::tokenizer::ModelTokenizer;
use attnscope::model::weights::Weights;

/// The crash inputs of one target (none yet is fine: the folder may not exist).
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("readable fixture");
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn tokenizer_json_crashes_stay_fixed() {
    let cases = inputs("tokenizer_json");
    for (path, bytes) in &cases {
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        // Each known crash input is malformed (its JSON, or a template naming a special token
        // it lacks): it must be refused, not panic.
        let r = ModelTokenizer::from_json(text);
        assert!(r.is_err(), "{} loaded", path.display());
    }
    report!("tokenizer_json: {} regression input(s)", cases.len());
}

#[test]
fn model_files_crashes_stay_fixed() {
    let cases = inputs("model_files");
    for (_, data) in &cases {
        let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
        let (config, weights) = data.split_at(split);
        let weights = weights.get(1..).unwrap_or_default();
        let config = std::str::from_utf8(config).ok().map(ModelConfig::from_json);
        let Ok(mut w) = Weights::from_bytes(weights, &|_| {}) else {
            continue;
        };
        let Some(Ok(config)) = config else {
            continue;
        };
        let n = config.max_positions().min(3);
        let ids: Vec<u32> = (0..n as u32).collect();
        if let Ok(m) = Transformer::load(&config.network, &mut w) {
            let _ = m.forward(
                Backend::best(),
                &ids,
                &attnscope::model::network::ForwardOpts {
                    full: true,
                    ..Default::default()
                },
            );
        }
    }
    report!("model_files: {} regression input(s)", cases.len());
}

#[test]
fn cli_args_crashes_stay_fixed() {
    let cases = inputs("cli_args");
    for (_, data) in &cases {
        let Ok(text) = std::str::from_utf8(data) else {
            continue;
        };
        let argv = std::iter::once("attnscope").chain(text.split('\0'));
        let _ = attnscope::cli::parse_args(argv);
    }
    report!("cli_args: {} regression input(s)", cases.len());
}

#[test]
fn spec_compute_crashes_stay_fixed() {
    let cases = inputs("spec_compute");
    for (path, data) in &cases {
        let Ok(text) = std::str::from_utf8(data) else {
            continue;
        };
        let Ok(spec) = Spec::from_json(text) else {
            continue;
        };
        if let Ok(trace) = compute_with_budget(&spec, Backend::best(), 16 << 20) {
            for t in &trace.head_traces {
                assert!(
                    t.weights.iter().all(|w| w.is_finite()),
                    "{}: non-finite weights",
                    path.display()
                );
            }
        }
    }
    report!("spec_compute: {} regression input(s)", cases.len());
}

/// The model_files seeds must get past parsing into a forward pass, or the fuzzer would only
/// ever explore error paths.
#[test]
fn model_files_seeds_load_and_run() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/model_files");
    for name in ["gpt2_tiny", "bert_tiny", "qwen3_tiny", "gemma3_tiny"] {
        let data = std::fs::read(dir.join(name)).expect("seed");
        let split = data.iter().position(|&b| b == 0).expect("NUL separator");
        let config = ModelConfig::from_json(std::str::from_utf8(&data[..split]).expect("utf-8"))
            .expect("config parses");
        let mut w = Weights::from_bytes(&data[split + 1..], &|_| {}).expect("weights parse");
        let runs = Transformer::load(&config.network, &mut w)
            .expect(name)
            .forward(
                Backend::best(),
                &[0, 1, 2],
                &attnscope::model::network::ForwardOpts {
                    full: true,
                    ..Default::default()
                },
            );
        let (layers, _) = runs.expect("forward");
        assert_eq!(layers.len(), 1, "{name}");
    }
}

/// The session target: replays its crash inputs, and checks that its committed seeds are
/// real sessions that compute (so the fuzzer starts past the parser).
#[test]
fn session_crashes_stay_fixed_and_seeds_compute() {
    use attnscope::app::session;
    let replay = |data: &[u8]| -> Option<bool> {
        let text = std::str::from_utf8(data).ok()?;
        let state = session::parse(text).ok()?;
        let again = session::parse(&session::to_json(&state)).expect("a saved session parses");
        assert_eq!(again, state, "save → open changes nothing");
        Some(compute_with_budget(&state.to_spec(), Backend::best(), 16 << 20).is_ok())
    };
    let cases = inputs("session");
    for (_, data) in &cases {
        replay(data);
    }
    let seeds = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/session");
    let mut n = 0;
    for e in std::fs::read_dir(&seeds).expect("fuzz/seeds/session") {
        let p = e.expect("entry").path();
        let data = std::fs::read(&p).expect("readable seed");
        assert_eq!(
            replay(&data),
            Some(true),
            "{} should parse and compute",
            p.display()
        );
        n += 1;
    }
    assert!(n >= 4, "{n} session seeds");
    report!("session: {} regression input(s), {n} seeds", cases.len());
}

/// The `gguf` target's checks on one input: a file that parses keeps its promises (every
/// tensor inside the file, readable types dequantise, the last row alone equals the end of
/// the whole). Returns whether it parsed.
fn replay_gguf(data: &[u8]) -> bool {
    use attnscope::gguf::GgufFile;
    let Ok(f) = GgufFile::from_bytes(data.to_vec()) else {
        return false;
    };
    for (key, _) in f.metadata() {
        assert!(f.get(key).is_some(), "{key} listed but not found");
        let _ = (
            f.get_u64(key),
            f.get_f32(key),
            f.get_str(key),
            f.get_bool(key),
        );
        let _ = (
            f.get_str_array(key),
            f.get_f32_array(key),
            f.get_i64_array(key),
        );
    }
    for t in f.tensors() {
        assert!(
            t.offset + t.n_bytes <= f.file_bytes(),
            "{} out of the file",
            t.name
        );
        assert_eq!(f.tensor_bytes(t).len() as u64, t.n_bytes);
        if t.n_elements() > 1 << 20 {
            continue;
        }
        match f.dequantize(t) {
            Ok(all) => {
                let (row_len, last) = (t.row_len(), t.n_rows() - 1);
                let mut row = vec![0f32; row_len];
                f.dequantize_rows(t, last, &mut row).expect("the last row");
                let same = row
                    .iter()
                    .zip(&all[last * row_len..])
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{}: last row differs", t.name);
            }
            Err(e) => assert!(!t.ggml_type.can_dequantize(), "{}: {e}", t.name),
        }
    }
    true
}

#[test]
fn gguf_crashes_stay_fixed_and_seeds_parse() {
    let cases = inputs("gguf");
    for (_, data) in &cases {
        replay_gguf(data);
    }
    let seeds = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/gguf");
    let mut n = 0;
    for e in std::fs::read_dir(&seeds).expect("fuzz/seeds/gguf") {
        let p = e.expect("entry").path();
        let data = std::fs::read(&p).expect("readable seed");
        assert!(replay_gguf(&data), "{} should parse", p.display());
        n += 1;
    }
    assert!(n >= 2, "{n} gguf seeds");
    report!("gguf: {} regression input(s), {n} seeds", cases.len());
}
