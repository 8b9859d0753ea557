//! Long inputs in bounded memory: a run that keeps no n × n matrices (only each layer's
//! hidden state and each head's digest: statistics and a pooled overview) computes what the
//! full run computes, its overviews equal NumPy's pooling of transformers' attention
//! (fixture by `tools/make_pool_fixtures.py`), and opening a layer recomputes it bit for bit.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use attnscope::model::stats::{head_stats, rollout};
use attnscope::model::{Model, ModelError, ModelRun};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn minilm() -> Model {
    Model::load(&root().join("sample_models/all-MiniLM-L6-v2")).unwrap()
}

fn long_text() -> String {
    let fx: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            root().join("tests/fixtures/models/all-MiniLM-L6-v2__long512.json"),
        )
        .unwrap(),
    )
    .unwrap();
    fx["text"].as_str().unwrap().to_owned()
}

/// The same text run twice: keeping every matrix, and keeping digests only.
fn both(model: &Model, text: &str) -> (ModelRun, ModelRun) {
    let (tokens, _) = model.tokens(text).unwrap();
    let full = model
        .run_tokens_with(tokens.clone(), true, None, None)
        .unwrap();
    let lean = model.run_tokens_with(tokens, false, None, None).unwrap();
    (full, lean)
}

fn tiny_llama() -> Model {
    Model::load(&root().join("sample_models/tiny-llama-induction")).unwrap()
}

/// 200 bytes of a repeated pattern: the tiny Llama's byte tokenizer makes 200 tokens.
fn tiny_text() -> String {
    "the cat sat on the mat; 北京 1234. "
        .repeat(8)
        .chars()
        .take(150)
        .collect()
}

#[test]
fn a_lean_run_keeps_what_the_full_run_computes() {
    for (model, text) in [(minilm(), long_text()), (tiny_llama(), tiny_text())] {
        let (full, lean) = both(&model, &text);
        let name = &model.name;
        assert!(full.full && !lean.full);
        assert_eq!(full.hidden, lean.hidden, "{name}: final hidden state");
        for (l, (a, b)) in full.layers.iter().zip(&lean.layers).enumerate() {
            assert_eq!(a.input, b.input, "{name} L{l}: kept hidden state");
            assert!(
                b.heads.is_empty(),
                "{name} L{l}: a lean layer keeps no matrices"
            );
            assert_eq!(b.attn_out.len(), 0);
            assert_eq!(a.heads.len(), full.heads);
            for (h, (da, db)) in a.digests.iter().zip(&b.digests).enumerate() {
                assert_eq!(da.summary, db.summary, "{name} L{l}H{h}");
                // The full run pools its kept matrix when drawn; the lean run pooled as
                // it went: the same overview.
                assert!(
                    da.overview.is_none(),
                    "{name} L{l}H{h}: a kept head pools later"
                );
                assert_eq!(
                    a.overview(h).map(|o| o.into_owned()),
                    db.overview.clone(),
                    "{name} L{l}H{h}"
                );
                assert_eq!(a.overview_description(h), b.overview_description(h));
                assert_eq!(da.previous_token, db.previous_token);
                assert_eq!(da.later_special, db.later_special);
            }
        }
        assert_eq!(head_stats(&full), head_stats(&lean), "{name}: statistics");
        assert!(lean.attentions().is_none() && rollout(&lean).is_none());
        assert!(full.attentions().is_some() && rollout(&full).is_some());
        assert!(
            lean.layer_trace(0).is_none(),
            "{name}: a lean layer has no trace"
        );
    }
}

/// Entropies (nats) computed two ways agree to float rounding: within 1e-5 of ln n's scale.
fn assert_entropy_close(got: f32, want: f32) {
    assert!(
        (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
        "entropy {got} vs {want}"
    );
}

#[test]
fn statistics_from_digests_equal_those_of_the_full_matrices() {
    use attnscope::core::RowStats;
    let model = minilm();
    let run = model.run(&long_text()).unwrap();
    let specials: Vec<usize> = (1..run.n()).filter(|&j| run.tokens[j].special).collect();
    assert!(!specials.is_empty(), "MiniLM ends with [SEP]");
    for s in head_stats(&run) {
        let p = &run.layers[s.layer].heads[s.head].probs;
        let n = p.nrows();
        let want = RowStats::of(p).summary(&vec![false; n]);
        // The digest's entropy comes from the scores (one ln per row), the full matrix's
        // from −Σ p ln p: the same within float rounding; the other statistics bit for bit.
        assert_entropy_close(s.entropy, want.entropy);
        assert_eq!(s.mean_distance, want.mean_distance);
        assert_eq!(s.first_token, want.first_key_share);
        let prev = (1..n).map(|i| p[[i, i - 1]]).sum::<f32>() / (n - 1) as f32;
        assert_eq!(s.previous_token, prev);
        let sep = (0..n)
            .map(|i| specials.iter().map(|&j| p[[i, j]]).sum::<f32>())
            .sum::<f32>()
            / n as f32;
        assert_eq!(s.sep_share, sep);
    }
}

#[test]
fn overviews_equal_numpy_pooling_of_transformers_attention() {
    let model = minilm();
    let (tokens, _) = model.tokens(&long_text()).unwrap();
    assert_eq!(tokens.len(), 512);
    let run = model.run_tokens_with(tokens, false, None, None).unwrap();
    let want: ndarray::Array3<f32> = ndarray_npy::read_npy(
        root().join("tests/fixtures/models/all-MiniLM-L6-v2__long512_pooled.npy"),
    )
    .unwrap();
    for (k, (l, h)) in [(0, 0), (3, 5), (5, 11)].into_iter().enumerate() {
        let o = run.layers[l].digests[h].overview.as_ref().unwrap();
        assert_eq!(o.describe().to_string(), "max-pooled 512×512 → 256×256");
        let worst = o
            .values
            .iter()
            .zip(want.index_axis(ndarray::Axis(0), k))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "L{l}H{h}: max |Δ| = {worst}");
    }
}

#[test]
fn an_opened_layer_equals_the_full_forward_bit_for_bit() {
    for (model, text) in [(minilm(), long_text()), (tiny_llama(), tiny_text())] {
        let (full, lean) = both(&model, &text);
        let name = &model.name;
        for l in 0..full.layers.len() {
            let h = (l * 5 + 1) % full.heads;
            let opened = model.open_layer(&lean, l, &[h]).unwrap();
            let (got, want) = (opened.head(h).unwrap(), &full.layers[l].heads[h]);
            assert_eq!(opened.heads.len(), 1, "{name} L{l}: only the opened head");
            assert_eq!(got.probs, want.probs, "{name} L{l}H{h}: probabilities");
            assert_eq!((&got.q, &got.k, &got.v), (&want.q, &want.k, &want.v));
            assert_eq!(got.context, want.context);
            assert_eq!(
                opened.attn_out, full.layers[l].attn_out,
                "{name} L{l}: output"
            );
            let t = lean.trace_of(l, opened.clone()).unwrap();
            let ft = full.layer_trace(l).unwrap();
            assert_eq!(
                t.head_traces[h], ft.head_traces[h],
                "{name} L{l}H{h}: trace"
            );
            assert_eq!(t.concat, ft.concat);
            // The layer's context side by side holds each head's context in its columns.
            for (g, head) in ft.head_traces.iter().enumerate() {
                let dh = head.context.ncols();
                assert_eq!(
                    ft.concat.slice(ndarray::s![.., g * dh..(g + 1) * dh]),
                    head.context,
                    "{name} L{l}H{g}: the head's context in the layer's"
                );
            }
            assert_eq!(t.output, ft.output);
            let other = (h + 1) % full.heads;
            assert_eq!(t.head_traces[other].weights.len(), 0, "not opened");
            let (got, want) = (t.head_traces[other].summary, ft.head_traces[other].summary);
            assert_entropy_close(got.entropy, want.entropy);
            assert_eq!(
                (got.max_weight, got.mean_distance, got.first_key_share),
                (want.max_weight, want.mean_distance, want.first_key_share)
            );
        }
        assert!(matches!(
            model.open_layer(&lean, 99, &[0]),
            Err(ModelError::Invalid { .. })
        ));
    }
}

#[test]
fn a_cancelled_run_stops_with_cancelled() {
    let model = tiny_llama();
    let (tokens, _) = model.tokens(&tiny_text()).unwrap();
    let stop = AtomicBool::new(true);
    let r = model.run_tokens_with(tokens, false, Some(&stop), None);
    assert!(matches!(r, Err(ModelError::Cancelled)));
}

#[test]
fn an_8k_smollm2_shaped_run_fits_in_bounded_memory() {
    // SmolLM2-135M's config.json (llama, 30 layers, 9 query / 3 KV heads, 8,192 positions).
    let config = attnscope::model::config::ModelConfig::from_json(
        r#"{"model_type": "llama", "vocab_size": 49152, "hidden_size": 576,
            "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
            "num_key_value_heads": 3, "max_position_embeddings": 8192,
            "rms_norm_eps": 1e-5, "rope_theta": 100000, "tie_word_embeddings": true}"#,
    )
    .unwrap();
    for n in [4096, 8192] {
        // Every head's probabilities would be 30 × 9 × n² floats: 18 GB at 4,096 tokens.
        assert!(config.matrix_bytes(n) > 16 << 30);
        let lean = config.lean_run_bytes(n);
        assert!(lean < 2_500_000_000, "{n} tokens: {lean} bytes");
    }
}
