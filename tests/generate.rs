//! Generation on the KV cache: each cached step's attention rows and logits equal one full
//! forward pass over the same tokens, greedy ids and log-probabilities equal transformers'
//! `generate` (fixtures by `tools/make_generate_fixtures.py`), and seeded sampling repeats.

use std::path::PathBuf;

use attnscope::model::generate::Sampling;
use attnscope::model::{Model, ModelError};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ids(model: &Model, text: &str) -> Vec<u32> {
    model.tokens(text).unwrap().0.iter().map(|t| t.id).collect()
}

#[test]
fn cached_steps_equal_a_full_forward() {
    for dir in [
        "sample_models/tiny-gpt2-induction",
        "sample_models/tiny-llama-induction",
        "tests/fixtures/models/gemma3-tiny",
        "tests/fixtures/models/qwen3-tiny",
        "tests/fixtures/models/mistral-tiny",
        // GGUF Q8_0: decoding steps read the packed blocks, the forward the f32 copy (the
        // Llama file also reorders its q/k rows, packed rows included).
        "tests/fixtures/gguf/tiny-llama-induction-Q8_0.gguf",
        "tests/fixtures/gguf/tiny-qwen2-Q8_0.gguf",
    ] {
        let model = Model::load(&root().join(dir)).unwrap();
        assert!(model.can_generate(), "{dir}");
        let text = "a b c d e f g h i j k l m n o p q r s t 北京";
        let ids = ids(&model, text);
        let full = model.run_tokens(model.tokens(text).unwrap().0).unwrap();
        let steps = model.step_through(&ids).unwrap();
        let mut worst = 0.0f32;
        for (i, st) in steps.iter().enumerate() {
            for (l, layer) in st.attention.iter().enumerate() {
                for (h, row) in layer.iter().enumerate() {
                    assert_eq!(row.len(), i + 1);
                    let want = full.layers[l].heads[h].probs.row(i);
                    for (a, b) in row.iter().zip(want.iter()) {
                        worst = worst.max((a - b).abs());
                    }
                }
            }
        }
        assert!(worst <= 1e-5, "{dir}: attention rows max |Δ| = {worst}");
        let got = steps.last().unwrap().logits.clone().unwrap();
        let want = model.last_logits(&ids).unwrap();
        // Relative to the largest logit: a logit's rounding error scales with the size of
        // the terms of its dot products, not with the logit itself (one near 0 is a
        // cancellation). The packed Q8_0 steps and the f32 forward sum in different orders
        // (AVX-512 vs AVX2 machines differ too): tiny-qwen2's logits reach 23, and its worst
        // |Δ| on an AVX-512 machine was 1.1e-5, i.e. 4.8e-7 of that scale.
        let scale = want.iter().fold(1.0f32, |m, b| m.max(b.abs()));
        let d = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs() / scale)
            .fold(0.0f32, f32::max);
        assert!(d <= 1e-5, "{dir}: logits max |Δ| / max |logit| = {d}");
    }
}

#[test]
fn seeded_sampling_repeats_and_bert_cannot_generate() {
    let model = Model::load(&root().join("sample_models/tiny-llama-induction")).unwrap();
    let prompt = ids(&model, "Once upon a time");
    let s = Sampling {
        temperature: 0.9,
        top_k: 40,
        top_p: 0.95,
        seed: 42,
        ignore_eos: false,
    };
    let run = |s: &Sampling| -> Vec<u32> {
        model
            .generate(&prompt, 16, s, None, &mut |_| {})
            .unwrap()
            .iter()
            .map(|g| g.id)
            .collect()
    };
    assert_eq!(run(&s), run(&s));
    let bert = Model::load(&root().join("sample_models/all-MiniLM-L6-v2")).unwrap();
    let err = bert
        .generate(&[101, 102], 4, &Sampling::default(), None, &mut |_| {})
        .unwrap_err();
    assert!(
        err.to_string().contains("generation needs a causal LM"),
        "{err}"
    );
    let long = vec![65u32; 250];
    assert!(matches!(
        model.generate(&long, 20, &Sampling::default(), None, &mut |_| {}),
        Err(ModelError::GenerationTooLong {
            prompt: 250,
            new: 20,
            max: 256
        })
    ));
}

fn nums<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> T {
    serde_json::from_value(v.clone()).unwrap()
}

/// Greedy generation against transformers: the same 20 new ids on five prompts (English,
/// an induction copy, Chinese, two code-like), each step's log p of the chosen token and
/// the attention row behind it within 1e-4. Returns the worst differences.
fn matches_transformers(model: &Model, fixture: &str, attention: bool) -> (f32, f32) {
    let fx: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/generate").join(fixture)).unwrap(),
    )
    .unwrap();
    let (mut worst_lp, mut worst_att) = (0.0f32, 0.0f32);
    for case in fx["cases"].as_array().unwrap() {
        let prompt = case["prompt"].as_str().unwrap();
        let want_prompt: Vec<u32> = nums(&case["prompt_ids"]);
        assert_eq!(
            ids(model, prompt),
            want_prompt,
            "{fixture} {prompt:?}: prompt ids"
        );
        let want_ids: Vec<u32> = nums(&case["generated_ids"]);
        let want_lp: Vec<f32> = nums(&case["logprobs"]);
        let steps = model
            .generate(
                &want_prompt,
                want_ids.len(),
                &Sampling::default(),
                None,
                &mut |_| {},
            )
            .unwrap();
        let got: Vec<u32> = steps.iter().map(|s| s.id).collect();
        assert_eq!(got, want_ids, "{fixture} {prompt:?}: greedy ids");
        for (s, lp) in steps.iter().zip(&want_lp) {
            worst_lp = worst_lp.max((s.logprob - lp).abs());
            assert_eq!(s.rank, 0, "greedy picks the most likely token");
        }
        if attention {
            let want_att: Vec<Vec<Vec<Vec<f32>>>> = nums(&case["attention"]);
            for (s, w) in steps.iter().zip(&want_att) {
                for (a, b) in s.attention.iter().flatten().zip(w.iter().flatten()) {
                    assert_eq!(a.len(), b.len());
                    for (x, y) in a.iter().zip(b) {
                        worst_att = worst_att.max((x - y).abs());
                    }
                }
            }
        }
    }
    (worst_lp, worst_att)
}

#[test]
fn greedy_generation_matches_transformers() {
    for name in ["tiny-gpt2-induction", "tiny-llama-induction"] {
        let model = Model::load(&root().join("sample_models").join(name)).unwrap();
        let (lp, att) = matches_transformers(&model, &format!("{name}.json"), true);
        eprintln!("{name}: log p max |Δ| = {lp:e}, attention max |Δ| = {att:e}");
        assert!(lp <= 1e-4, "{name}: log p max |Δ| = {lp}");
        assert!(att <= 1e-4, "{name}: attention max |Δ| = {att}");
    }
}

/// SmolLM2-135M-Instruct (the fetched GGUF file): required in CI, skipped elsewhere.
#[test]
fn smollm2_greedy_generation_matches_transformers() {
    let p = root().join("sample_models/SmolLM2-135M-Instruct-Q4_1.gguf");
    if !p.is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing: CI must run tools/fetch_models.sh first",
            p.display()
        );
        eprintln!(
            "SKIPPED: {} is absent (run tools/fetch_models.sh)",
            p.display()
        );
        return;
    }
    let model = Model::load(&p).unwrap();
    let (lp, _) = matches_transformers(&model, "SmolLM2.json", false);
    eprintln!("SmolLM2: log p max |Δ| = {lp:e}");
    assert!(lp <= 1e-4, "SmolLM2: log p max |Δ| = {lp}");
}
