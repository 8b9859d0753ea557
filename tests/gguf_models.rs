//! GGUF files as models, against transformers loading the same files (`gguf_file=`, which
//! dequantises to float32; fixtures by `tools/make_gguf_fixtures.py`): token ids identical,
//! attention probabilities within 1e-4. The committed tiny files run everywhere; the two
//! real models (`tools/fetch_models.sh`) are required in CI and skipped, saying so, elsewhere.
//! Also: the model card, the quantised embedding left in the file, and bad metadata.

use std::path::{Path, PathBuf};

use attnscope::model::Model;
use ndarray::{Array4, Axis};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture_dir() -> PathBuf {
    root().join("tests/fixtures/gguf")
}

/// Every `MODEL__CASE.json` fixture with its probabilities (`.npy` beside it).
fn fixtures() -> Vec<(String, Value, Array4<f32>)> {
    let mut out: Vec<_> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_stem()
                    .is_some_and(|s| s.to_string_lossy().contains("__"))
        })
        .map(|p| {
            let fx: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let npy = p.with_file_name(fx["attentions_npy"].as_str().unwrap());
            let probs: Array4<f32> = ndarray_npy::read_npy(&npy).unwrap();
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                fx,
                probs,
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A fetched model: `Some(path)`, or `None` outside CI (with a note on stderr). In CI a
/// missing model fails the test: `.ci/run` fetches them.
fn fetched(file: &str) -> Option<PathBuf> {
    let p = root().join("sample_models").join(file);
    if p.is_file() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: CI must run tools/fetch_models.sh first",
        p.display()
    );
    eprintln!(
        "SKIPPED: {} is absent (run tools/fetch_models.sh); the test runs in CI",
        p.display()
    );
    None
}

fn usizes(v: &Value) -> Option<Vec<usize>> {
    v.as_array()
        .map(|a| a.iter().map(|x| x.as_u64().unwrap() as usize).collect())
}

/// Runs every fixture whose model is at hand; returns how many ran.
fn check_fixtures(only_committed: bool) -> usize {
    let mut ran = 0;
    let mut models: std::collections::HashMap<PathBuf, Model> = Default::default();
    for (name, fx, expected) in fixtures() {
        let rel = fx["model"].as_str().unwrap();
        let committed = rel.starts_with("tests/");
        if committed != only_committed {
            continue;
        }
        let path = if committed {
            root().join(rel)
        } else {
            match fetched(Path::new(rel).file_name().unwrap().to_str().unwrap()) {
                Some(p) => p,
                None => continue,
            }
        };
        let model = models
            .entry(path.clone())
            .or_insert_with(|| Model::load(&path).unwrap_or_else(|e| panic!("{name}: {e}")));
        let run = model
            .run(fx["text"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let ids: Vec<u32> = usizes(&fx["input_ids"])
            .unwrap()
            .into_iter()
            .map(|i| i as u32)
            .collect();
        assert_eq!(
            run.tokens.iter().map(|t| t.id).collect::<Vec<_>>(),
            ids,
            "{name}: token ids differ from transformers'"
        );
        let n = ids.len();
        let layers = usizes(&fx["layers"]).unwrap_or_else(|| (0..run.layers.len()).collect());
        let rows = usizes(&fx["rows"]).unwrap_or_else(|| (0..n).collect());
        assert_eq!(expected.len_of(Axis(0)), layers.len(), "{name}: layers");
        let mut worst = 0.0f32;
        for (li, &l) in layers.iter().enumerate() {
            for (h, head) in run.layers[l].heads.iter().enumerate() {
                for (ri, &r) in rows.iter().enumerate() {
                    for j in 0..n {
                        let d = (head.probs[[r, j]] - expected[[li, h, ri, j]]).abs();
                        worst = worst.max(d);
                    }
                }
            }
        }
        assert!(worst <= 1e-4, "{name}: max |Δp| = {worst:e} > 1e-4");
        eprintln!("{name}: {n} tokens, max |Δp| = {worst:.2e}");
        ran += 1;
    }
    ran
}

#[test]
fn committed_gguf_files_match_transformers() {
    let ran = check_fixtures(true);
    assert!(
        ran >= 15,
        "expected the committed tiny GGUF fixtures, ran {ran}"
    );
}

#[test]
fn fetched_gguf_models_match_transformers() {
    check_fixtures(false);
}

#[test]
fn model_card_describes_the_file() {
    let m = Model::load(&fixture_dir().join("tiny-llama-induction-Q8_0.gguf")).unwrap();
    let card = m.gguf.as_ref().expect("a GGUF card");
    assert_eq!(card.architecture, "llama");
    assert!(card.version == 3 || card.version == 2);
    assert!(
        card.quant_mix.iter().any(|(t, n)| t == "Q8_0" && *n > 0),
        "{:?}",
        card.quant_mix
    );
    assert_eq!(m.config.model_type(), "llama");
    assert!(m.file_bytes > 100_000);
    // The embedding stays quantised in the file: memory holds the rest in f32.
    assert!(card.mapped_bytes > 0);
    let (v, d) = (m.config.vocab_size() as u64, m.config.hidden() as u64);
    assert!(m.held_bytes > 0);
    assert!(
        card.mapped_bytes < 4 * v * d / 3,
        "the embedding is quantised in the file, not expanded to f32"
    );
}

#[test]
fn real_models_cards_and_memory() {
    for (file, arch, license, quant) in [
        (
            "SmolLM2-135M-Instruct-Q4_1.gguf",
            "llama",
            "apache-2.0",
            "Q4_1",
        ),
        ("gemma-3-270m-Q4_K_M.gguf", "gemma3", "gemma", "Q4_K_M"),
    ] {
        let Some(path) = fetched(file) else { continue };
        let m = Model::load(&path).unwrap();
        let card = m.gguf.as_ref().unwrap();
        assert_eq!(card.architecture, arch);
        // The quantisation the file is named for, though most of Gemma's tensors are F32
        // and Q5_0.
        assert_eq!(card.file_type, Some(quant));
        assert_eq!(m.dtype, quant);
        assert_eq!(card.license.as_deref(), Some(license));
        assert!(card.context_length.unwrap_or(0) >= 8192);
        let embed_f32 = 4 * m.config.vocab_size() as u64 * m.config.hidden() as u64;
        assert!(
            card.mapped_bytes < embed_f32 / 3,
            "{file}: the embedding is not expanded to f32"
        );
        // Chinese text and a long input run.
        let run = m.run("注意力机制让模型看见上下文。").unwrap();
        assert!(run.n() > 3);
        let long = "attention ".repeat(300);
        let run = m.run(&long).unwrap();
        assert!(run.n() >= 300);
    }
}

#[test]
fn real_tokenizers_label_chinese_as_typed_and_as_written() {
    // SmolLM2's byte-level BPE puts the space before 我 into its first piece, and Gemma's
    // SentencePiece falls back to bytes for rare characters: both must read 我, 我², 我³
    // whether the text is typed (offsets) or written by the model (ids alone).
    for file in [
        "SmolLM2-135M-Instruct-Q4_1.gguf",
        "gemma-3-270m-Q4_K_M.gguf",
    ] {
        let Some(path) = fetched(file) else { continue };
        let m = Model::load(&path).unwrap();
        let text = "The cat sat. 我爱北京，龘靐齉。<ok>";
        let typed = m.tokenizer.encode(text).unwrap();
        let typed: Vec<_> = typed.iter().filter(|t| !t.special).collect();
        let labels: Vec<&str> = typed.iter().map(|t| t.label.as_str()).collect();
        for l in &labels {
            assert!(
                !l.contains('\u{FFFD}') && !l.is_empty(),
                "{file}: {labels:?}"
            );
        }
        // No piece count restarts inside a character: 我 then 我², never 我 twice in a row.
        for pair in labels.windows(2) {
            assert_ne!(pair[0], pair[1], "{file}: {labels:?}");
        }
        let ids: Vec<u32> = typed.iter().map(|t| t.id).collect();
        let w = m.tokenizer.written(None, &ids);
        assert_eq!(w.labels, labels, "{file}");
        assert_eq!(w.text.concat().trim_start(), text, "{file}");
    }
}

#[test]
fn gguf_paths_resolve_to_the_file() {
    let f = fixture_dir().join("tiny-llama-induction-Q8_0.gguf");
    assert_eq!(attnscope::model::resolve_dir(&f), f);
    assert!(attnscope::model::from_gguf::is_gguf(&f));
    assert!(!attnscope::model::from_gguf::is_gguf(&fixture_dir()));
}

/// The tiny GGUF file's bytes with `edit` applied to the bytes right after metadata key `key`
/// (the value's type tag, then the value).
fn patched(key: &str, edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut bytes = std::fs::read(fixture_dir().join("tiny-llama-induction-Q8_0.gguf")).unwrap();
    let mut needle = (key.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(key.as_bytes());
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .unwrap_or_else(|| panic!("{key} is in the file"));
    edit(&mut bytes[at + needle.len()..]);
    bytes
}

/// Sets a u32 metadata value (type tag 4).
fn with_u32(key: &str, value: u32) -> Vec<u8> {
    patched(key, |b| {
        assert_eq!(&b[..4], &4u32.to_le_bytes(), "{key} is a u32");
        b[4..8].copy_from_slice(&value.to_le_bytes());
    })
}

/// Loading these bytes fails with one line containing every word of `want`.
fn refused(bytes: Vec<u8>, want: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.gguf");
    std::fs::write(&p, bytes).unwrap();
    let e = Model::load(&p).err().expect("refused").to_string();
    for w in want {
        assert!(e.contains(w), "{want:?} not in: {e}");
    }
    assert!(!e.contains('\n'), "one line: {e}");
}

#[test]
fn absurd_metadata_gets_one_clear_line() {
    refused(
        with_u32("llama.block_count", 4_000_000_000),
        &["llama.block_count", "4000000000", "out of range"],
    );
    refused(
        with_u32("llama.attention.head_count", 0),
        &["llama.attention.head_count", "out of range"],
    );
    refused(
        with_u32("llama.embedding_length", 1 << 30),
        &["llama.embedding_length"],
    );
    refused(
        with_u32("tokenizer.ggml.bos_token_id", 1_000_000),
        &["tokenizer.ggml.bos_token_id", "outside the vocabulary"],
    );
    // Head counts that disagree with each other or with the tensors.
    refused(
        with_u32("llama.attention.head_count", 3),
        &["GGUF", "num_key_value_heads"],
    );
    refused(
        with_u32("llama.attention.head_count", 2),
        &["GGUF", "blk.0.attn_q.weight"],
    );
    // No tokenizer: the key renamed (same length) so the reader still parses the file.
    let mut no_tok = std::fs::read(fixture_dir().join("tiny-llama-induction-Q8_0.gguf")).unwrap();
    let key = b"tokenizer.ggml.tokens";
    let at = no_tok.windows(key.len()).position(|w| w == key).unwrap();
    no_tok[at + key.len() - 1] = b'z';
    refused(no_tok, &["no tokenizer", "tokenizer.ggml.tokens"]);
}

/// A copy of the tiny GGUF file with `general.architecture` changed (same length).
fn with_architecture(arch: &str) -> Vec<u8> {
    let mut bytes = std::fs::read(fixture_dir().join("tiny-llama-induction-Q8_0.gguf")).unwrap();
    let key = b"general.architecture";
    let at = bytes
        .windows(key.len())
        .position(|w| w == key)
        .expect("the key is in the file");
    // key, then the value's type (u32 = 8, string) and length (u64 = 5), then "llama".
    let value = at + key.len() + 4 + 8;
    assert_eq!(&bytes[value..value + 5], b"llama");
    assert_eq!(arch.len(), 5);
    bytes[value..value + 5].copy_from_slice(arch.as_bytes());
    bytes
}

#[test]
fn unsupported_architecture_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.gguf");
    std::fs::write(&p, with_architecture("mamba")).unwrap();
    let e = Model::load(&p).err().expect("refused").to_string();
    assert!(
        e.contains("\"mamba\"") && e.contains("not supported"),
        "{e}"
    );
    assert!(!e.contains('\n'));
}

#[test]
fn models_on_this_computer_are_found_in_each_store() {
    use attnscope::model::discover::{Roots, Store, scan};
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let tiny = std::fs::read(fixture_dir().join("tiny-llama-induction-Q8_0.gguf")).unwrap();
    // Ollama: a manifest per tag naming its model layer by digest; blobs by "sha256-HEX".
    let ollama = t.join("ollama");
    let manifest = |model: &str, tag: &str, digest: &str| {
        let dir = ollama
            .join("manifests/registry.ollama.ai/library")
            .join(model);
        std::fs::create_dir_all(&dir).unwrap();
        let json = serde_json::json!({"schemaVersion": 2, "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": digest, "size": 1},
            {"mediaType": "application/vnd.ollama.image.license", "digest": "sha256:0", "size": 1}]});
        std::fs::write(dir.join(tag), json.to_string()).unwrap();
    };
    std::fs::create_dir_all(ollama.join("blobs")).unwrap();
    std::fs::write(ollama.join("blobs/sha256-aaaa"), &tiny).unwrap();
    std::fs::write(ollama.join("blobs/sha256-bbbb"), b"not a gguf file at all").unwrap();
    manifest("tinyllama", "q8", "sha256:aaaa");
    manifest("other", "latest", "sha256:bbbb");
    manifest("gone", "latest", "sha256:cccc");
    // LM Studio: publisher/repo/*.gguf, one of an architecture attnscope does not run.
    let lms = t.join("lmstudio");
    std::fs::create_dir_all(lms.join("me/tiny")).unwrap();
    std::fs::write(lms.join("me/tiny/tiny-Q8_0.gguf"), &tiny).unwrap();
    std::fs::write(lms.join("me/tiny/mamba.gguf"), with_architecture("mamba")).unwrap();
    // HuggingFace cache entry, and a user folder holding the sample models.
    let hub = t.join("hub");
    let snap = hub.join("models--me--tiny-gpt2/snapshots/abc");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(hub.join("models--me--tiny-gpt2/refs")).unwrap();
    std::fs::write(hub.join("models--me--tiny-gpt2/refs/main"), "abc").unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(
            root().join("sample_models/tiny-gpt2-induction").join(f),
            snap.join(f),
        )
        .unwrap();
    }
    let roots = Roots {
        huggingface: Some(hub),
        ollama: vec![ollama.clone()],
        lmstudio: vec![lms],
        folders: vec![root().join("sample_models")],
    };
    let found = scan(&roots);
    let get = |store: Store, label: &str| {
        found
            .iter()
            .find(|f| f.store == store && f.label == label)
            .unwrap_or_else(|| panic!("{label} not found in {found:#?}"))
    };
    let ok = get(Store::Ollama, "tinyllama:q8");
    assert_eq!(ok.status.as_deref(), Ok("llama · Q8_0"));
    assert_eq!(ok.path, ollama.join("blobs/sha256-aaaa"));
    assert_eq!(ok.bytes, tiny.len() as u64);
    assert!(
        get(Store::Ollama, "other:latest")
            .status
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("not a GGUF")
    );
    assert!(
        get(Store::Ollama, "gone:latest")
            .status
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("missing")
    );
    assert!(
        get(Store::LmStudio, "me/tiny/tiny-Q8_0.gguf")
            .status
            .is_ok()
    );
    let mamba = get(Store::LmStudio, "me/tiny/mamba.gguf");
    assert!(
        mamba
            .status
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("not supported")
    );
    assert_eq!(
        get(Store::HuggingFace, "me/tiny-gpt2").status.as_deref(),
        Ok("gpt2 · safetensors")
    );
    assert!(get(Store::Folder, "tiny-llama-induction").status.is_ok());
    // What the scan says opens, opens.
    Model::load(&ok.path).unwrap();
}

#[test]
fn nan_scales_load_with_a_warning_naming_the_tensor() {
    let mut bytes = std::fs::read(fixture_dir().join("tiny-llama-induction-Q8_0.gguf")).unwrap();
    let file = attnscope::gguf::GgufFile::from_bytes(bytes.clone()).unwrap();
    let t = file.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!(t.ggml_type.name(), "Q8_0");
    // A Q8_0 block starts with its f16 scale: make the first one NaN (0x7E00).
    let at = t.offset as usize;
    bytes[at..at + 2].copy_from_slice(&0x7E00u16.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nan.gguf");
    std::fs::write(&p, bytes).unwrap();
    let m = Model::load(&p).expect("loads, with a warning");
    assert!(
        m.warnings
            .iter()
            .any(|w| w.contains("blk.0.attn_q.weight") && w.contains("32 NaN/Inf")),
        "{:?}",
        m.warnings
    );
    // The heads that read it are marked, not shown as attention.
    let run = m.run("The cat sat on the mat").unwrap();
    assert!(!run.nonfinite_heads().is_empty());
}
