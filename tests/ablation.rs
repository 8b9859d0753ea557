//! Knock-outs and blocked edges: attnscope's re-run from the first affected layer gives the
//! next-token log-probabilities transformers gives with the same head zeroed or mean-replaced
//! before its output projection, or with the same edge at −∞ (fixtures by
//! `tools/make_ablation_fixtures.py`); the cached generation path applies the same ablation;
//! and knocking out the induction head of `tiny-gpt2-induction` hurts the copy.

use std::path::PathBuf;

use attnscope::model::Model;
use attnscope::model::ablate::{Ablation, BlockedEdge, HeadRef, Knockout};
use attnscope::model::generate::Sampling;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> Value {
    let path = root().join(format!("tests/fixtures/ablation/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ids_of(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn check_top(label: &str, lp: &[f32], top: &Value) {
    for pair in top.as_array().unwrap() {
        let id = pair[0].as_u64().unwrap() as usize;
        let want = pair[1].as_f64().unwrap() as f32;
        assert!(
            (lp[id] - want).abs() <= 1e-4,
            "{label}: token {id} log p {} vs transformers {want}",
            lp[id]
        );
    }
}

#[test]
fn knockouts_and_blocked_edges_equal_transformers() {
    for name in ["tiny-gpt2-induction", "tiny-llama-induction"] {
        let f = fixture(name);
        let model = Model::load(&root().join(f["model"].as_str().unwrap())).unwrap();
        let ids = ids_of(&f["ids"]);
        let target = f["target"].as_u64().unwrap() as u32;
        let base = model.ablation_base(&ids, ids.len(), None).unwrap();
        let clean = f["clean_logprob"].as_f64().unwrap() as f32;
        assert!(
            (base.logprobs[target as usize] - clean).abs() <= 1e-4,
            "{name}"
        );
        check_top(&format!("{name} clean"), &base.logprobs, &f["clean_top"]);
        for (mode, key) in [(Knockout::Zero, "zero"), (Knockout::Mean, "mean")] {
            let table = model
                .head_importance(&base, target, mode, None, None)
                .unwrap();
            assert_eq!(table.len(), f["heads"].as_array().unwrap().len());
            for (row, want) in table.iter().zip(f["heads"].as_array().unwrap()) {
                assert_eq!(row.head.layer as u64, want["layer"].as_u64().unwrap());
                assert_eq!(row.head.head as u64, want["head"].as_u64().unwrap());
                let w = want[key].as_f64().unwrap() as f32;
                assert!(
                    (row.logprob - w).abs() <= 1e-4,
                    "{name} {key} {}:{}: {} vs transformers {w}",
                    row.head.layer,
                    row.head.head,
                    row.logprob
                );
                assert!((row.drop - (clean - w)).abs() <= 2e-4);
            }
        }
        let zero = Ablation::heads(vec![HeadRef { layer: 1, head: 0 }], Knockout::Zero);
        let lp = model.ablated_logprobs(&base, &zero).unwrap();
        check_top(&format!("{name} zero 1:0"), &lp, &f["zero_1_0_top"]);
        let b = &f["blocked"];
        let edge = BlockedEdge {
            layer: b["layer"].as_u64().unwrap() as usize,
            head: b["head"].as_u64().unwrap() as usize,
            from: b["from"].as_u64().unwrap() as usize,
            to: b["to"].as_u64().unwrap() as usize,
        };
        let blocked = Ablation {
            blocked: vec![edge],
            ..Ablation::default()
        };
        let lp = model.ablated_logprobs(&base, &blocked).unwrap();
        check_top(&format!("{name} blocked"), &lp, &b["top"]);
    }
}

#[test]
fn the_induction_head_carries_the_copy() {
    let f = fixture("tiny-gpt2-induction");
    let model = Model::load(&root().join("sample_models/tiny-gpt2-induction")).unwrap();
    let ids = ids_of(&f["ids"]);
    let target = f["target"].as_u64().unwrap() as u32;
    // The copy: the token after the previous occurrence of the last token.
    let last = *ids.last().unwrap();
    let prev = ids.iter().position(|&t| t == last).unwrap();
    assert_eq!(target, ids[prev + 1], "the clean model copies");
    let base = model.ablation_base(&ids, ids.len(), None).unwrap();
    let table = model
        .head_importance(&base, target, Knockout::Zero, None, None)
        .unwrap();
    let drop = |l, h| {
        table
            .iter()
            .find(|e| e.head == HeadRef { layer: l, head: h })
            .unwrap()
            .drop
    };
    // The README's induction head (1.0) and previous-token head (0.0) carry the copy: each
    // alone costs over a nat, more than any other head of their layer.
    assert!(drop(1, 0) > 1.0, "induction head drop {}", drop(1, 0));
    assert!(drop(0, 0) > 1.0, "previous-token head drop {}", drop(0, 0));
    for h in 1..4 {
        assert!(drop(1, 0) > drop(1, h) && drop(0, 0) > drop(0, h));
    }
}

#[test]
fn generation_applies_the_ablation_on_the_cache() {
    let f = fixture("tiny-gpt2-induction");
    let model = Model::load(&root().join("sample_models/tiny-gpt2-induction")).unwrap();
    let ids = ids_of(&f["ids"]);
    let edge = BlockedEdge {
        layer: 1,
        head: 0,
        from: ids.len() - 1,
        to: 15,
    };
    for mode in [Knockout::Zero, Knockout::Mean] {
        let mut ab = Ablation::heads(
            vec![HeadRef { layer: 0, head: 2 }, HeadRef { layer: 1, head: 1 }],
            mode,
        );
        ab.blocked.push(edge);
        let base = model.ablation_base(&ids, ids.len(), None).unwrap();
        let want = model.ablated_logprobs(&base, &ab).unwrap();
        let steps = model
            .generate_ablated(&ids, 1, &Sampling::default(), &ab, None, &mut |_| {})
            .unwrap();
        let got = steps[0].logprob;
        let id = steps[0].id as usize;
        assert!(
            (got - want[id]).abs() <= 1e-5,
            "{mode:?}: cached {got} vs re-run {}",
            want[id]
        );
        // The blocked edge has no weight in the step's row of that head.
        assert_eq!(steps[0].attention[1][0][15], 0.0);
        assert!(steps[0].attention[1][1][15] > 0.0);
    }
    // An ablation naming a head the model does not have is refused.
    let bad = Ablation::heads(vec![HeadRef { layer: 2, head: 0 }], Knockout::Zero);
    let base = model.ablation_base(&ids, ids.len(), None).unwrap();
    assert!(model.ablated_logprobs(&base, &bad).is_err());
}
