//! Encoder–decoder models against HuggingFace transformers (fixtures written by
//! `tools/make_encdec_fixtures.py`, float32, eager, output_attentions=True): the tiny
//! translator sample and tiny random-weight `bart` and `marian` models. Every encoder,
//! decoder and cross-attention head within 1e-4, the hidden states and logits, and the
//! greedy translation identical to `generate(do_sample=False)`, on the held-out examples too.

use std::path::PathBuf;

use attnscope::model::ModelError;
use attnscope::model::seq2seq::{AttnKind, Seq2Seq};
use ndarray::Array2;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> Value {
    let p = root()
        .join("tests/fixtures/models")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Largest |Δ| between a nested JSON matrix and ours.
fn worst(want: &Value, got: &Array2<f32>) -> f32 {
    let mut w = 0.0f32;
    for (i, row) in want.as_array().unwrap().iter().enumerate() {
        for (j, x) in row.as_array().unwrap().iter().enumerate() {
            w = w.max((got[[i, j]] - x.as_f64().unwrap() as f32).abs());
        }
    }
    w
}

fn check_case(model: &Seq2Seq, name: &str) {
    let fx = fixture(name);
    let source = fx["source"].as_str().unwrap();
    let src = model.source_tokens(source).unwrap();
    assert_eq!(
        src.iter().map(|t| t.id).collect::<Vec<_>>(),
        ids(&fx["source_ids"]),
        "{name}: source ids"
    );
    let dec = model.infos(&ids(&fx["decoder_ids"]));
    if let Some(t) = fx["target"].as_str() {
        let tgt = model.target_tokens(t).unwrap();
        assert_eq!(
            tgt.iter().map(|t| t.id).collect::<Vec<_>>(),
            ids(&fx["decoder_ids"]),
            "{name}: decoder ids from the target text"
        );
    }
    let run = model.run_tokens(src, dec).unwrap();
    for kind in AttnKind::ALL {
        let mut w = 0.0f32;
        for (l, layer) in fx[kind.key()].as_array().unwrap().iter().enumerate() {
            for (h, head) in layer.as_array().unwrap().iter().enumerate() {
                let got = run.probs(kind, l, h).unwrap();
                w = w.max(worst(head, got));
            }
        }
        assert!(w <= 1e-4, "{name}: {} attention |Δp| {w:e}", kind.key());
        eprintln!("{name}: {} max |Δp| {w:.1e}", kind.key());
    }
    let he = worst(&fx["encoder_last_hidden_state"], &run.encoder_out);
    let hd = worst(&fx["decoder_last_hidden_state"], &run.decoder_out);
    assert!(
        he <= 1e-3 && hd <= 1e-3,
        "{name}: hidden |Δ| {he:e} / {hd:e}"
    );
    let want_logits: Vec<f32> = fx["logits_last"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let dl = run
        .logits_last
        .iter()
        .zip(&want_logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(dl <= 1e-3, "{name}: logits |Δ| {dl:e}");
    // Teacher forcing: each row's next token is the decoder's next input; the last row's
    // (EOS) probability and rank are transformers' logits at the last position.
    let forced = model.teacher_forced(&run).unwrap();
    let dec_ids = ids(&fx["decoder_ids"]);
    for (i, f) in forced.iter().enumerate() {
        match dec_ids.get(i + 1) {
            Some(&next) => assert_eq!(f.next, next, "{name}: row {i}"),
            None => assert_eq!(Some(f.next), model.eos, "{name}: the last row"),
        }
        assert!(f.top.iter().all(|&(_, p)| p >= f.top.last().unwrap().1));
    }
    if let (Some(last), Some(eos)) = (forced.last(), model.eos) {
        assert_eq!(forced.len(), dec_ids.len(), "{name}: a row each");
        let max = want_logits
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        let z: f64 = want_logits.iter().map(|&l| f64::from(l - max).exp()).sum();
        let e = want_logits[eos as usize];
        let p = (f64::from(e - max).exp() / z) as f32;
        assert!(
            (last.p - p).abs() <= 1e-4,
            "{name}: p(EOS) {} vs {p}",
            last.p
        );
        let rank = 1 + want_logits.iter().filter(|&&l| l > e).count();
        assert_eq!(last.rank, rank, "{name}: rank of EOS");
    }
    let src_ids = ids(&fx["source_ids"]);
    let tr = model.translate(&src_ids, 24, None, &mut |_| {}).unwrap();
    let want = ids(&fx["greedy_ids"]);
    // transformers' output starts with the decoder start token.
    assert_eq!(tr.ids, want[1..], "{name}: greedy ids");
    eprintln!(
        "{name}: hidden |Δ| {he:.1e} / {hd:.1e}, logits {dl:.1e}, greedy {:?}",
        tr.text
    );
}

fn load(dir: &str) -> Seq2Seq {
    Seq2Seq::load(&root().join(dir)).unwrap()
}

#[test]
fn translator_matches_transformers() {
    let m = load("sample_models/tiny-translator");
    for case in ["dates", "numbers", "translate"] {
        check_case(&m, &format!("tiny-translator__{case}"));
    }
}

#[test]
fn random_bart_and_marian_match_transformers() {
    for fam in ["bart-tiny", "marian-tiny"] {
        let m = load(&format!("tests/fixtures/models/{fam}"));
        for case in ["dates", "numbers"] {
            check_case(&m, &format!("{fam}__{case}"));
        }
    }
}

#[test]
fn translator_translates_held_out_examples_like_transformers() {
    let m = load("sample_models/tiny-translator");
    let fx = fixture("tiny-translator__heldout");
    let items = fx["items"].as_array().unwrap();
    assert!(items.len() >= 40);
    let mut correct = 0;
    for it in items {
        let src = m.source_tokens(it["source"].as_str().unwrap()).unwrap();
        let src: Vec<u32> = src.iter().map(|t| t.id).collect();
        assert_eq!(src, ids(&it["source_ids"]));
        let tr = m.translate(&src, 24, None, &mut |_| {}).unwrap();
        assert_eq!(tr.ids, ids(&it["greedy_ids"])[1..], "{}", it["source"]);
        assert_eq!(tr.text, it["greedy_text"].as_str().unwrap());
        correct += usize::from(tr.text == it["reference"].as_str().unwrap());
        // Every step's cross-attention rows are distributions over the source.
        for st in &tr.steps {
            for layer in &st.cross {
                for row in layer {
                    assert_eq!(row.len(), src.len());
                    assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
                }
            }
        }
    }
    assert!(
        correct * 100 >= items.len() * 95,
        "{correct}/{}",
        items.len()
    );
}

#[test]
fn the_date_head_looks_at_the_year_when_writing_it() {
    // Decoder layer 1 head 1 aligns: the rows that write the year (the start token and the
    // first three digits, which predict the four digits) look at the year at the end of the
    // source, though it comes last there and first in the output.
    let m = load("sample_models/tiny-translator");
    let run = m.run("March 5, 2021", None).unwrap();
    let (rows, cols) = run.labels(AttnKind::Cross);
    assert_eq!(rows.concat(), "</s>2021年3月5日");
    let p = run.probs(AttnKind::Cross, 1, 1).unwrap();
    // Source: <s> M a r c h ▁ 5 , ▁ 2 0 2 1 </s>; the year is the four before </s>.
    let year: Vec<usize> = (cols.len() - 5..cols.len() - 1).collect();
    assert_eq!(
        year.iter().map(|&j| cols[j].as_str()).collect::<String>(),
        "2021"
    );
    let share: f32 = (0..4)
        .map(|i| year.iter().map(|&j| p[[i, j]]).sum::<f32>())
        .sum::<f32>()
        / 4.0;
    assert!(share > 0.4, "share of the year span {share}");
}

#[test]
fn bad_inputs_name_the_problem() {
    let m = load("sample_models/tiny-translator");
    assert!(matches!(m.run("", None), Err(ModelError::EmptyText)));
    let long = "1".repeat(500);
    let e = m.run(&long, None).unwrap_err().to_string();
    assert!(e.contains("positions"), "{e}");
    // A BART folder given to the single-stack loader says what it is.
    let e = attnscope::model::Model::load(&root().join("sample_models/tiny-translator"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("encoder–decoder"), "{e}");
    // SentencePiece files without tokenizer.json: the message says how to make one.
    let dir = tempdir("spm");
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(
            root().join("sample_models/tiny-translator").join(f),
            dir.join(f),
        )
        .unwrap();
    }
    std::fs::write(dir.join("source.spm"), b"x").unwrap();
    let e = Seq2Seq::load(&dir).err().unwrap().to_string();
    assert!(
        e.contains("source.spm") && e.contains("tokenizer.json"),
        "{e}"
    );
    let cfg = std::fs::read_to_string(dir.join("config.json"))
        .unwrap()
        .replace(
            "\"decoder_attention_heads\": 4",
            "\"decoder_attention_heads\": 5",
        );
    std::fs::write(dir.join("config.json"), cfg).unwrap();
    let e = Seq2Seq::load(&dir).err().unwrap().to_string();
    assert!(e.contains("decoder_attention_heads"), "{e}");
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("attnscope-s2s-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn each_translation_step_equals_the_full_decoder_pass_over_the_same_tokens() {
    // The KV-cached step's self- and cross-attention rows are row i of a full pass over the
    // decoder inputs that replay the translation.
    let m = load("sample_models/tiny-translator");
    for source in ["one thousand and five", "5 March 2021", "三"] {
        let (run, tr) = m.run_and_translate(source, None, None).unwrap();
        let tr = tr.unwrap();
        assert_eq!(
            run.target.iter().map(|t| t.id).collect::<Vec<_>>(),
            m.decoder_inputs(&tr)
        );
        let mut worst = 0.0f32;
        for (i, st) in tr.steps.iter().enumerate().take(run.target.len()) {
            for (l, layer) in st.cross.iter().enumerate() {
                for (h, row) in layer.iter().enumerate() {
                    let full = run.probs(AttnKind::Cross, l, h).unwrap();
                    for (j, p) in row.iter().enumerate() {
                        worst = worst.max((p - full[[i, j]]).abs());
                    }
                }
            }
            for (l, layer) in st.attention.iter().enumerate() {
                for (h, row) in layer.iter().enumerate() {
                    let full = run.probs(AttnKind::Decoder, l, h).unwrap();
                    for (j, p) in row.iter().enumerate() {
                        worst = worst.max((p - full[[i, j]]).abs());
                    }
                }
            }
        }
        assert!(worst <= 1e-5, "{source}: cached vs full |Δp| {worst:e}");
    }
}

#[test]
fn the_core_reruns_a_cross_head_on_its_real_q_k_v() {
    // The step-through's numbers come from the core's own attention on the head's Q (from
    // the decoder), K and V (from the encoder): with the scaled dot product they are the
    // model's probabilities; another score function changes them.
    use attnscope::core::ScoreKind;
    let m = load("sample_models/tiny-translator");
    let run = m.run("March 5, 2021", None).unwrap();
    for kind in AttnKind::ALL {
        let t = run.head_trace(kind, 1, 1, ScoreKind::ScaledDot).unwrap();
        let model = run.probs(kind, 1, 1).unwrap();
        let got = &t.head_traces[0].weights;
        assert_eq!(got.dim(), model.dim(), "{kind:?}");
        let d = got
            .iter()
            .zip(model.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(d <= 1e-5, "{kind:?}: |Δp| {d:e}");
        assert_eq!(t.self_attention, kind != AttnKind::Cross);
        assert_eq!(t.mechanism.causal, kind == AttnKind::Decoder);
    }
    let t = run
        .head_trace(AttnKind::Cross, 1, 1, ScoreKind::Cosine)
        .unwrap();
    let (rows, cols) = run.labels(AttnKind::Cross);
    assert_eq!((t.tokens_q.clone(), t.tokens_k.clone()), (rows, cols));
    let cos = &t.head_traces[0];
    assert!(
        cos.raw_scores
            .iter()
            .all(|s| (-1.0001..=1.0001).contains(s))
    );
    assert!(
        run.head_trace(AttnKind::Cross, 9, 0, ScoreKind::Dot)
            .is_err()
    );
}
