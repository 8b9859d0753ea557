//! The two shipped sample models against HuggingFace transformers (fixtures written by
//! `tools/make_model_fixtures.py` with output_attentions=True): token ids, every layer's and
//! head's probabilities (max |Δp| ≤ 1e-4) and the final hidden state; plus the bad-input
//! cases of model loading.

use std::path::{Path, PathBuf};

use attnscope::model::{Model, ModelError};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> Vec<(String, Value)> {
    let dir = root().join("tests/fixtures/models");
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                serde_json::from_str::<Value>(&std::fs::read_to_string(&p).unwrap()).unwrap(),
            )
        })
        // Encoder–decoder fixtures (a source, not a text) are tests/seq2seq.rs's.
        .filter(|(_, v)| v.get("text").is_some())
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn sample_models_match_transformers() {
    let mut models: std::collections::HashMap<String, Model> = Default::default();
    let cases = fixtures();
    assert!(cases.len() >= 8, "expected the committed model fixtures");
    for (name, fx) in cases {
        let dir = fx["model"].as_str().unwrap().to_owned();
        let model = models
            .entry(dir.clone())
            .or_insert_with(|| Model::load(&root().join(&dir)).unwrap());
        let run = model
            .run(fx["text"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let ids: Vec<u32> = fx["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(
            run.tokens.iter().map(|t| t.id).collect::<Vec<_>>(),
            ids,
            "{name}: token ids"
        );
        let rows: Option<Vec<usize>> = fx["rows"]
            .as_array()
            .map(|r| r.iter().map(|v| v.as_u64().unwrap() as usize).collect());
        let mut worst = 0.0f32;
        for (l, layer) in fx["attentions"].as_array().unwrap().iter().enumerate() {
            for (h, head) in layer.as_array().unwrap().iter().enumerate() {
                let got = &run.layers[l].heads[h].probs;
                for (r, want_row) in head.as_array().unwrap().iter().enumerate() {
                    let i = rows.as_ref().map_or(r, |rs| rs[r]);
                    for (j, w) in want_row.as_array().unwrap().iter().enumerate() {
                        let d = (got[[i, j]] - w.as_f64().unwrap() as f32).abs();
                        assert!(
                            d <= 1e-4,
                            "{name}: layer {l} head {h} p[{i}][{j}] = {} vs {w} (|Δ| {d:e})",
                            got[[i, j]]
                        );
                        worst = worst.max(d);
                    }
                }
            }
        }
        let mut worst_hidden = f32::NAN;
        if let Some(hidden) = fx["last_hidden_state"].as_array() {
            worst_hidden = 0.0;
            for (i, row) in hidden.iter().enumerate() {
                for (j, w) in row.as_array().unwrap().iter().enumerate() {
                    let d = (run.hidden[[i, j]] - w.as_f64().unwrap() as f32).abs();
                    worst_hidden = worst_hidden.max(d);
                    assert!(
                        d <= 2e-3,
                        "{name}: hidden[{i}][{j}] {} vs {w}",
                        run.hidden[[i, j]]
                    );
                }
            }
        }
        eprintln!("{name}: max |Δp| = {worst:e}, max |Δhidden| = {worst_hidden:e}");
    }
}

#[test]
fn chinese_byte_pieces_are_labelled_without_replacement_characters() {
    let m = Model::load(&root().join("sample_models/tiny-gpt2-induction")).unwrap();
    let toks = m.tokenizer.encode("我爱北京").unwrap();
    assert_eq!(toks.len(), 12, "3 UTF-8 bytes per character");
    assert!(toks.iter().all(|t| !t.label.contains('\u{FFFD}')));
    assert_eq!(toks[0].label, "我");
    assert_eq!(toks[1].label, "我²");
    let m = Model::load(&root().join("sample_models/all-MiniLM-L6-v2")).unwrap();
    let toks = m.tokenizer.encode("我爱北京").unwrap();
    assert_eq!(toks.first().unwrap().label, "[CLS]");
    assert!(toks.first().unwrap().special && toks.last().unwrap().special);
}

#[test]
fn generated_byte_pieces_read_as_the_characters_they_make() {
    // A model writes ids, not text: the app labels them as it labels a typed text, and the
    // running text is the decoded string (it showed "���" for every Chinese character).
    let m = Model::load(&root().join("sample_models/tiny-gpt2-induction")).unwrap();
    let tok = &m.tokenizer;
    let text = "The cat sat. 我爱北京\n ok";
    let typed = tok.encode(text).unwrap();
    let ids: Vec<u32> = typed.iter().map(|t| t.id).collect();
    let w = tok.written(None, &ids);
    assert_eq!(w.text.concat(), text);
    let typed_labels: Vec<&str> = typed.iter().map(|t| t.label.as_str()).collect();
    let written_labels: Vec<&str> = w.labels.iter().map(String::as_str).collect();
    assert_eq!(written_labels, typed_labels);
    assert!(written_labels.contains(&"我³"), "{written_labels:?}");
    // Token by token, as a generation lands, the labels come out the same.
    let mut grown = attnscope::model::tokenizer::Written::default();
    for k in 1..=ids.len() {
        tok.write_more(&mut grown, None, &ids[..k]);
        assert_eq!(grown, tok.written(None, &ids[..k]), "after {k} ids");
    }
    // A candidate byte piece is named by the character it would finish.
    let wo = tok.encode_plain("我").unwrap();
    assert_eq!(wo.len(), 3);
    assert_eq!(tok.candidate_label(&wo[..2], wo[2]), "我³");
    // Alone, it is a byte (我 is E6 88 91), not the letter the tokenizer's alphabet spells
    // it with (æ).
    assert_eq!(tok.id_to_token(wo[0]), "æ");
    assert_eq!(tok.candidate_label(&[], wo[0]), "<0xE6>");
    let cat = tok.encode_plain(" cat").unwrap();
    assert_eq!(
        tok.candidate_label(&[], cat[0]),
        " ",
        "a space stays a space"
    );
    let w = tok.written(None, &wo);
    assert_eq!((w.pending(2), w.pending(0)), (0..2, 0..0));
    // A stray first byte does not swallow the whole token after it.
    let a = tok.encode_plain("a").unwrap()[0];
    let w = tok.written(None, &[wo[0], a]);
    assert_eq!(w.labels, ["<0xE6>", "a"]);
    assert_eq!(w.run_start, [0, 1]);
    // After the prompt's last id, a run's text is what it adds to the text so far.
    let (prompt, more) = (
        tok.encode_plain("is").unwrap(),
        tok.encode_plain(" Paris 我").unwrap(),
    );
    let w = tok.written(prompt.last().copied(), &more);
    assert_eq!(w.text.concat(), " Paris 我");
}

#[test]
fn a_generated_word_keeps_its_space_under_a_decoder_that_strips_one() {
    // Llama 2, TinyLlama and Mistral folders decode with SentencePiece's "▁" and a final
    // Strip of one leading space: " Paris" decoded alone is "Paris", so the running text
    // read "isParis". Each run's text is taken after the id before it.
    let json = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
      "normalizer":null,"pre_tokenizer":null,"post_processor":null,
      "decoder":{"type":"Sequence","decoders":[
        {"type":"Replace","pattern":{"String":"▁"},"content":" "},
        {"type":"ByteFallback"},{"type":"Fuse"},
        {"type":"Strip","content":" ","start":1,"stop":0}]},
      "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,
        "end_of_word_suffix":null,"fuse_unk":true,"byte_fallback":true,"ignore_merges":false,
        "vocab":{"▁":0,"i":1,"s":2,"P":3,"a":4,"r":5,"<0xE6>":6,"<0x88>":7,"<0x91>":8},
        "merges":[]}}"#;
    let tok = attnscope::model::tokenizer::ModelTokenizer::from_json(json).unwrap();
    let is = 2; // "s", the prompt's last id
    let paris = [0, 3, 4, 5, 1, 2, 0, 6, 7, 8]; // ▁ P a r i s ▁ 我 (three byte pieces)
    assert_eq!(
        tok.decode(&paris[..1]),
        "",
        "the decoder strips a lone leading space"
    );
    let w = tok.written(Some(is), &paris);
    assert_eq!(w.text.concat(), " Paris 我");
    assert_eq!(w.labels[7..], ["我", "我²", "我³"]);
    assert_eq!(w.labels[0], "␣");
    let mut grown = attnscope::model::tokenizer::Written::default();
    for k in 1..=paris.len() {
        tok.write_more(&mut grown, Some(is), &paris[..k]);
    }
    assert_eq!(grown, w);
}

/// A special token typed in the text (a chat template's <|im_start|>, GPT-2's
/// <|endoftext|>) is marked special, as one the post-processor adds ([CLS]) is; the text
/// around it is not.
#[test]
fn special_tokens_typed_in_the_text_are_marked_special() {
    let m = Model::load(&root().join("sample_models/tiny-gpt2-induction")).unwrap();
    let toks = m.tokenizer.encode("ab<|endoftext|>ab").unwrap();
    let marked: Vec<(&str, bool)> = toks.iter().map(|t| (t.label.as_str(), t.special)).collect();
    assert!(marked.contains(&("<|endoftext|>", true)), "{marked:?}");
    assert_eq!(marked.iter().filter(|(_, s)| *s).count(), 1, "{marked:?}");
    let bert = Model::load(&root().join("sample_models/all-MiniLM-L6-v2")).unwrap();
    let toks = bert.tokenizer.encode("hi [SEP] there").unwrap();
    let special: Vec<bool> = toks.iter().map(|t| t.special).collect();
    assert_eq!(special, [true, false, true, false, true], "{:?}", toks);
}

#[test]
fn a_character_after_a_space_counts_its_pieces_from_one() {
    // " 我" is three byte pieces; the first one's span takes the space in too.
    let m = Model::load(&root().join("sample_models/tiny-gpt2-induction")).unwrap();
    let labels: Vec<String> = m
        .tokenizer
        .encode("sat. 我")
        .unwrap()
        .into_iter()
        .map(|t| t.label)
        .collect();
    assert_eq!(
        labels[labels.len() - 3..],
        ["我", "我²", "我³"],
        "{labels:?}"
    );
}

#[test]
fn the_tiny_gpt2_has_the_induction_and_previous_token_heads_its_readme_names() {
    // sample_models/tiny-gpt2-induction/README.md: layer 1 head 0 is the induction head,
    // layer 0 head 0 the previous-token head. Each must be the strongest of its kind.
    use attnscope::model::stats::{head_stats, induction_scores};
    let m = Model::load(&root().join("sample_models/tiny-gpt2-induction")).unwrap();
    let ind = induction_scores(&m, 40, 7).unwrap();
    let ((bl, bh), best) = ind
        .indexed_iter()
        .map(|(i, &v)| (i, v))
        .fold(((0, 0), f32::MIN), |a, b| if b.1 > a.1 { b } else { a });
    assert_eq!((bl, bh), (1, 0), "induction scores {ind:?}");
    assert!(best >= 0.8, "L1H0 induction {best}");
    let run = m
        .run("the quick brown fox jumps over the lazy dog and the quick brown fox sleeps")
        .unwrap();
    let stats = head_stats(&run);
    let top = stats
        .iter()
        .max_by(|a, b| a.previous_token.total_cmp(&b.previous_token))
        .unwrap();
    assert_eq!((top.layer, top.head), (0, 0), "previous-token head");
    assert!(
        top.previous_token >= 0.5,
        "L0H0 previous-token {}",
        top.previous_token
    );
}

/// Every layer trace of a run is consistent with itself: logits = scaled where allowed
/// (τ = 1), and softmax(logits) = weights, with the scale the model itself applied.
fn assert_layer_traces_consistent(run: &attnscope::model::ModelRun, want_scale: f32) {
    for l in 0..run.layers.len() {
        let t = run.layer_trace(l).unwrap();
        assert!(
            (t.scale - want_scale).abs() < 1e-7,
            "layer {l}: scale {}",
            t.scale
        );
        for ht in &t.head_traces {
            for ((i, j), &z) in ht.logits.indexed_iter() {
                if ht.allowed[[i, j]] {
                    let s = ht.scaled[[i, j]];
                    assert!(
                        (z - s).abs() <= 1e-4 * s.abs().max(1.0),
                        "L{l} [{i},{j}]: {z} vs {s}"
                    );
                }
            }
            for (i, row) in ht.logits.rows().into_iter().enumerate() {
                let p = attnscope::core::attend::softmax_at(
                    &row.to_vec(),
                    &ht.allowed.row(i).to_vec(),
                    1.0,
                );
                for (j, &pj) in p.iter().enumerate() {
                    assert!((pj - ht.weights[[i, j]]).abs() < 1e-5, "L{l} [{i},{j}]");
                }
            }
        }
    }
}

#[test]
fn the_scale_step_shows_the_scale_the_model_applied() {
    let m = Model::load(&root().join("sample_models/tiny-gpt2-induction")).unwrap();
    let run = m.run("scaled dot product").unwrap();
    assert_layer_traces_consistent(&run, 1.0 / (run.head_dim as f32).sqrt());
    // GPT-2 with scale_attn_weights = false multiplies q·k by 1, and the trace says so.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("m");
    copy_model("sample_models/tiny-gpt2-induction", &d);
    let cfg = d.join("config.json");
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    c["scale_attn_weights"] = Value::Bool(false);
    std::fs::write(&cfg, c.to_string()).unwrap();
    let m = Model::load(&d).unwrap();
    let run = m.run("scaled dot product").unwrap();
    assert_layer_traces_consistent(&run, 1.0);
    let t = run.layer_trace(0).unwrap();
    assert!(t.mechanism.causal && t.mechanism.qkv_bias);
    assert_eq!(t.mechanism.pre_norm, Some(attnscope::core::Norm::LayerNorm));
}

fn copy_model(src: &str, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(root().join(src).join(f), dst.join(f)).unwrap();
    }
}

fn load_err(dir: &Path) -> String {
    match Model::load(dir) {
        Ok(_) => panic!("{} loaded but should not", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_model_folders_get_one_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("m");
    copy_model("sample_models/tiny-gpt2-induction", &d);
    // truncated safetensors
    let st = d.join("model.safetensors");
    let bytes = std::fs::read(&st).unwrap();
    std::fs::write(&st, &bytes[..bytes.len() / 2]).unwrap();
    assert!(load_err(&d).contains("model.safetensors is not valid"));
    // a header whose length lies
    let mut lying = bytes.clone();
    lying[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    std::fs::write(&st, &lying).unwrap();
    assert!(load_err(&d).contains("not valid"));
    std::fs::write(&st, &bytes).unwrap();
    // unsupported architecture, config missing fields
    let cfg = d.join("config.json");
    let good_cfg = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, good_cfg.replace("\"gpt2\"", "\"mamba\"")).unwrap();
    let e = load_err(&d);
    assert!(
        e.contains("\"mamba\" is not supported")
            && e.contains("bert, gpt2, llama, qwen2, qwen3, mistral, gemma3_text")
            && !e.contains('\n'),
        "{e}"
    );
    std::fs::write(&cfg, r#"{"model_type": "gpt2"}"#).unwrap();
    assert!(load_err(&d).contains("config.json: missing field"));
    // a config that disagrees with the weights
    let mut halved: Value = serde_json::from_str(&good_cfg).unwrap();
    halved["n_embd"] = (halved["n_embd"].as_u64().unwrap() / 2).into();
    std::fs::write(&cfg, halved.to_string()).unwrap();
    assert!(load_err(&d).contains("has shape"));
    std::fs::write(&cfg, &good_cfg).unwrap();
    // missing files, pickle only
    std::fs::remove_file(&st).unwrap();
    assert!(load_err(&d).contains("has no model.safetensors"));
    std::fs::write(d.join("pytorch_model.bin"), b"not really a pickle").unwrap();
    let e = load_err(&d);
    assert!(e.contains("pickle") && e.contains("safetensors"), "{e}");
    std::fs::remove_file(d.join("tokenizer.json")).unwrap();
    std::fs::copy(
        root().join("sample_models/tiny-gpt2-induction/model.safetensors"),
        &st,
    )
    .unwrap();
    assert!(load_err(&d).contains("has no tokenizer.json"));
    // A path that is not there is not a folder missing its files.
    assert!(matches!(
        Model::load(&tmp.path().join("nowhere")),
        Err(ModelError::NotFound { .. })
    ));
}

#[test]
fn nan_weights_load_with_a_warning_that_says_where() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("m");
    copy_model("sample_models/tiny-gpt2-induction", &d);
    let st = d.join("model.safetensors");
    let mut bytes = std::fs::read(&st).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let off = header["transformer.ln_f.weight"]["data_offsets"][0]
        .as_u64()
        .unwrap() as usize;
    let at = 8 + header_len + off + 4 * 3;
    bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&st, &bytes).unwrap();
    let m = Model::load(&d).unwrap();
    assert_eq!(m.warnings.len(), 1);
    assert!(
        m.warnings[0].contains("transformer.ln_f.weight") && m.warnings[0].contains("index 3"),
        "{:?}",
        m.warnings
    );
}

#[test]
fn text_longer_than_the_positions_is_truncated_with_a_notice_and_empty_text_is_refused() {
    let m = Model::load(&root().join("sample_models/tiny-gpt2-induction")).unwrap();
    let long = "abc ".repeat(200);
    let run = m.run(&long).unwrap();
    assert_eq!(run.n(), 256);
    assert_eq!(run.truncated_from, Some(800));
    assert!(matches!(m.run(""), Err(ModelError::EmptyText)));
    let bert = Model::load(&root().join("sample_models/all-MiniLM-L6-v2")).unwrap();
    let run = bert.run(&"word ".repeat(600)).unwrap();
    assert_eq!(run.n(), 512);
    assert_eq!(run.tokens.last().unwrap().label, "[SEP]");
    assert!(matches!(bert.run("   "), Err(ModelError::EmptyText)));
}

#[test]
fn hf_cache_layout_is_understood() {
    let tmp = tempfile::tempdir().unwrap();
    let entry = tmp.path().join("hub/models--acme--tiny");
    let snap = entry.join("snapshots/abc123");
    copy_model("sample_models/tiny-gpt2-induction", &snap);
    std::fs::create_dir_all(entry.join("refs")).unwrap();
    std::fs::write(entry.join("refs/main"), "abc123").unwrap();
    let m = Model::load(&entry).unwrap();
    assert_eq!(m.name, "acme/tiny");
    assert_eq!(m.dir, snap);
}

/// Rewrites the tiny model's safetensors with `edit` applied to its tensor list.
fn rewrite_weights(
    dir: &Path,
    edit: impl FnOnce(&mut Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)>),
) {
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    edit(&mut tensors);
    let views: Vec<_> = tensors
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn missing_keys_and_wrong_dtypes_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("m");
    copy_model("sample_models/tiny-gpt2-induction", &d);
    rewrite_weights(&d, |t| {
        t.retain(|(n, ..)| n != "transformer.h.1.mlp.c_fc.bias")
    });
    let e = load_err(&d);
    assert!(
        e.contains("no tensor") && e.contains("h.1.mlp.c_fc.bias"),
        "{e}"
    );
    copy_model("sample_models/tiny-gpt2-induction", &d);
    rewrite_weights(&d, |t| {
        let x = t
            .iter_mut()
            .find(|(n, ..)| n == "transformer.ln_f.bias")
            .unwrap();
        x.1 = safetensors::Dtype::I32;
    });
    let e = load_err(&d);
    assert!(
        e.contains("transformer.ln_f.bias") && e.contains("I32"),
        "{e}"
    );
}

#[test]
fn induction_test_of_zero_tokens_is_an_error_and_of_one_token_scores_zero() {
    use attnscope::model::stats::induction_scores;
    let m = Model::load(&root().join("sample_models/tiny-gpt2-induction")).unwrap();
    assert!(matches!(
        induction_scores(&m, 0, 1),
        Err(ModelError::Invalid { .. })
    ));
    let one = induction_scores(&m, 1, 1).unwrap();
    assert!(one.iter().all(|&s| s == 0.0), "{one:?}");
    // Refused before any token is generated.
    assert!(induction_scores(&m, usize::MAX, 1).is_err());
}

#[test]
fn a_clean_run_has_no_nonfinite_heads() {
    let m = Model::load(&root().join("sample_models/tiny-gpt2-induction")).unwrap();
    assert!(m.run("abcab").unwrap().nonfinite_heads().is_empty());
}

const TINY: &str = "tests/fixtures/models";

/// Copies a tiny fixture model and rewrites its config.json with `edit`.
fn tiny_with(family: &str, dst: &Path, edit: impl FnOnce(&mut Value)) {
    copy_model(&format!("{TINY}/{family}-tiny"), dst);
    let cfg = dst.join("config.json");
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    edit(&mut c);
    std::fs::write(&cfg, c.to_string()).unwrap();
}

/// A change to a config.json.
type ConfigEdit = Box<dyn FnOnce(&mut Value)>;

#[test]
fn config_fields_that_disagree_get_one_line_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, ConfigEdit, &[&str])> = vec![
        (
            "llama",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("head_dim");
                c["num_attention_heads"] = 5.into();
                c["num_key_value_heads"] = 5.into();
            }),
            &["num_attention_heads: 5 does not divide hidden_size = 32"],
        ),
        (
            "llama",
            Box::new(|c| c["num_key_value_heads"] = 3.into()),
            &["num_key_value_heads: 3 does not divide num_attention_heads = 4"],
        ),
        (
            "llama",
            Box::new(|c| c["head_dim"] = 8.into()),
            &[
                "head_dim: 8 × 4 heads = 32",
                "model.layers.0.self_attn.q_proj.weight has 64 output rows",
            ],
        ),
        (
            "mistral",
            Box::new(|c| c["sliding_window"] = 0.into()),
            &["sliding_window: must be at least 1"],
        ),
        (
            "llama",
            Box::new(|c| c["rope_parameters"]["rope_type"] = "yarn".into()),
            &["rope_parameters.rope_type: \"yarn\" is not supported"],
        ),
        (
            "qwen2",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("rope_parameters");
                c["rope_theta"] = 10000.0.into();
                c["rope_scaling"] = serde_json::json!({"type": "dynamic", "factor": 2.0});
            }),
            &["rope_scaling.rope_type: \"dynamic\" is not supported"],
        ),
        (
            "llama",
            Box::new(|c| c["rope_parameters"]["low_freq_factor"] = Value::Null),
            &["rope_parameters.low_freq_factor: is required for rope_type \"llama3\""],
        ),
        (
            "gemma3",
            Box::new(|c| c["layer_types"] = serde_json::json!(["full_attention"])),
            &["layer_types: has 1 entries for 3 layers"],
        ),
        (
            "gemma3",
            Box::new(|c| c["hidden_activation"] = "swiglu".into()),
            &["hidden_activation: \"swiglu\" is not supported"],
        ),
    ];
    for (i, (family, edit, needles)) in cases.into_iter().enumerate() {
        let d = tmp.path().join(format!("m{i}"));
        tiny_with(family, &d, edit);
        let e = load_err(&d);
        assert!(!e.contains('\n'), "{e}");
        assert!(e.starts_with("config.json: "), "{e}");
        for n in needles {
            assert!(e.contains(n), "{family} case {i}: {e:?} lacks {n:?}");
        }
    }
}

/// The trace of every layer shows that layer's own mask, scale and θ.
#[test]
fn rope_families_capture_kv_heads_pre_rope_windows_and_thetas() {
    let load = |f: &str| Model::load(&root().join(format!("{TINY}/{f}-tiny"))).unwrap();
    let text = "Sliding windows and rotary positions, step by step.";

    // llama: 4 query heads on 2 KV heads; K and V of a query head are its KV head's.
    let run = load("llama").run(text).unwrap();
    assert_eq!((run.heads, run.kv_heads, run.head_dim), (4, 2, 16));
    let kv: Vec<usize> = run.layers[0].heads.iter().map(|h| h.kv_head).collect();
    assert_eq!(kv, [0, 0, 1, 1]);
    let l0 = &run.layers[0];
    assert_eq!(l0.heads[0].k, l0.heads[1].k);
    assert_eq!(l0.heads[2].v, l0.heads[3].v);
    // Query heads of one KV head hold its K and V once, not a copy each.
    assert!(std::sync::Arc::ptr_eq(&l0.heads[0].k, &l0.heads[1].k));
    assert!(std::sync::Arc::ptr_eq(&l0.heads[2].v, &l0.heads[3].v));
    assert_ne!(l0.heads[1].k, l0.heads[2].k);
    for h in &l0.heads {
        // Position 0 is rotated by angle 0; later positions are not left as they were.
        let (q_pre, k_pre) = (
            h.q_pre_rope.as_ref().unwrap(),
            h.k_pre_rope.as_ref().unwrap(),
        );
        for j in 0..run.head_dim {
            assert!((q_pre[[0, j]] - h.q[[0, j]]).abs() <= 1e-6);
            assert!((k_pre[[0, j]] - h.k[[0, j]]).abs() <= 1e-6);
        }
        assert!((q_pre - &h.q).iter().any(|d| d.abs() > 1e-3));
        // RoPE rotates pairs: it keeps each pair's length.
        for p in 0..run.n() {
            for i in 0..run.head_dim / 2 {
                let a = q_pre[[p, i]].hypot(q_pre[[p, i + 8]]);
                let b = h.q[[p, i]].hypot(h.q[[p, i + 8]]);
                assert!((a - b).abs() <= 1e-4 * a.max(1.0));
            }
        }
    }
    let m = &run.mechanism;
    assert_eq!(m.kv_heads, Some(2));
    assert_eq!(m.pre_norm, Some(attnscope::core::Norm::RmsNorm));
    assert!(m.causal && !m.qkv_bias && !m.out_bias && m.qk_norm.is_none());
    let rope = m.rope.as_ref().unwrap();
    assert_eq!((rope.theta, rope.dims), (500000.0, 16));
    assert_eq!(rope.scaling.as_deref(), Some("llama3"));
    assert_layer_traces_consistent(&run, 0.25);

    // qwen2: q/k/v biases but none on o; qwen3: q/k norm, one KV head for all.
    let m = load("qwen2").mechanism();
    assert!(m.qkv_bias && !m.out_bias && m.rope.unwrap().theta == 1e6);
    let run = load("qwen3").run(text).unwrap();
    assert_eq!(run.kv_heads, 1);
    assert!(run.layers[1].heads.iter().all(|h| h.kv_head == 0));
    assert_eq!(run.mechanism.qk_norm, Some(attnscope::core::Norm::RmsNorm));
    assert_layer_traces_consistent(&run, 0.25);

    // mistral: every layer slides with W = 16 (the core's half width 15), keys beyond it
    // get exactly 0.
    let long = "abcdefghij".repeat(4);
    let run = load("mistral").run(&long).unwrap();
    for (l, layer) in run.layers.iter().enumerate() {
        assert_eq!(layer.window, Some(16));
        assert_eq!(layer.rope_theta, Some(10000.0));
        let t = run.layer_trace(l).unwrap();
        assert_eq!(t.mechanism.window, Some(15));
        assert!(t.mechanism.causal && t.mechanism.masks_anything());
        for h in &layer.heads {
            for ((i, j), &p) in h.probs.indexed_iter() {
                if j > i || j + 16 <= i {
                    assert_eq!(p, 0.0, "L{l} [{i},{j}]");
                }
            }
        }
    }
    assert_eq!(run.head_dim, 8, "mistral: hidden 32 / 4 heads");
    assert_layer_traces_consistent(&run, 1.0 / 8f32.sqrt());

    // gemma3: local (W 8, θ 10 000), global (θ 1 000 000), local; scale 24^-1/2.
    let run = load("gemma3").run(&long).unwrap();
    let w: Vec<_> = run.layers.iter().map(|l| l.window).collect();
    assert_eq!(w, [Some(8), None, Some(8)]);
    let th: Vec<_> = run.layers.iter().map(|l| l.rope_theta.unwrap()).collect();
    assert_eq!(th, [10000.0, 1e6, 10000.0]);
    let traces: Vec<_> = (0..3).map(|l| run.layer_trace(l).unwrap()).collect();
    assert_eq!(traces[0].mechanism.window, Some(7));
    assert_eq!(traces[1].mechanism.window, None);
    assert_eq!(traces[1].mechanism.rope.as_ref().unwrap().theta, 1e6);
    assert_eq!(traces[2].mechanism.rope.as_ref().unwrap().theta, 10000.0);
    assert!(traces[0].mechanism.norm_plus_one && traces[0].mechanism.qk_norm.is_some());
    assert_layer_traces_consistent(&run, 1.0 / 24f32.sqrt());

    // Learned positions: no RoPE captures, every head its own KV head.
    let run = Model::load(&root().join("sample_models/tiny-gpt2-induction"))
        .unwrap()
        .run("abc")
        .unwrap();
    assert_eq!(run.kv_heads, run.heads);
    for (h, cap) in run.layers[0].heads.iter().enumerate() {
        assert_eq!(cap.kv_head, h);
        assert!(cap.q_pre_rope.is_none() && cap.k_pre_rope.is_none());
    }
    assert!(run.mechanism.rope.is_none() && run.mechanism.kv_heads.is_none());
    assert_eq!(run.layers[0].window, None);
    assert_eq!(run.layers[0].rope_theta, None);
}

#[test]
fn the_tiny_llama_has_the_heads_its_readme_names() {
    // sample_models/tiny-llama-induction/README.md: layer 0 head 3 is the previous-token
    // head, layer 1 heads 3 and 2 are induction heads (they share KV head 1), scored on the
    // 48-token sequence the app builds (induction_scores(model, 24, seed 1)).
    use attnscope::model::stats::{head_stats, induction_scores};
    let m = Model::load(&root().join("sample_models/tiny-llama-induction")).unwrap();
    let ind = induction_scores(&m, 24, 1).unwrap();
    assert!(ind[[1, 3]] >= 0.8, "L1H3 induction {}", ind[[1, 3]]);
    assert!(ind[[1, 2]] >= 0.8, "L1H2 induction {}", ind[[1, 2]]);
    for ((l, h), &v) in ind.indexed_iter() {
        if l != 1 || h < 2 {
            assert!(v < 0.5, "L{l}H{h} should not be an induction head: {v}");
        }
    }
    let run = m
        .run("the quick brown fox jumps over the lazy dog and the quick brown fox sleeps")
        .unwrap();
    assert_eq!(run.kv_heads, 2);
    assert_eq!(
        run.layers[1].heads[3].kv_head,
        run.layers[1].heads[2].kv_head
    );
    let top = head_stats(&run)
        .into_iter()
        .max_by(|a, b| a.previous_token.total_cmp(&b.previous_token))
        .unwrap();
    assert_eq!((top.layer, top.head), (0, 3), "previous-token head");
    assert!(
        top.previous_token >= 0.5,
        "L0H3 previous-token {}",
        top.previous_token
    );
}
