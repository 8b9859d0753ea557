//! Per-head statistics of a model run, the induction test, and attention rollout.

use ndarray::Array2;

use crate::core::attend::matmul;
use crate::core::kernels::Backend;

use crate::core::rng::Stream;

use super::ablate::HeadRef;
use super::tokenizer::TokenInfo;
use super::{Model, ModelError, ModelRun};

/// One head's numbers, as the statistics table shows them.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct HeadStat {
    /// Layer index.
    pub layer: usize,
    /// Head index.
    pub head: usize,
    /// Mean row entropy (nats).
    pub entropy: f32,
    /// Mean attention distance (positions).
    pub mean_distance: f32,
    /// Mean weight on the first token ([CLS] for BERT).
    pub first_token: f32,
    /// Mean weight on special tokens other than the first ([SEP] for BERT).
    pub sep_share: f32,
    /// Mean weight from token i to token i − 1.
    pub previous_token: f32,
    /// Mean weight to "the token after my previous occurrence" on a repeated random
    /// sequence (filled in by [`induction_scores`]).
    pub induction: Option<f32>,
}

impl HeadStat {
    /// Which head this is ("L1 H2").
    pub fn head_ref(&self) -> HeadRef {
        HeadRef {
            layer: self.layer,
            head: self.head,
        }
    }
}

/// Statistics of every head of a run, from the digests its forward pass kept (the same
/// numbers as `RowStats::of` on each full matrix, at any length).
pub fn head_stats(run: &ModelRun) -> Vec<HeadStat> {
    run.layers
        .iter()
        .enumerate()
        .flat_map(|(l, layer)| {
            layer
                .digests
                .iter()
                .enumerate()
                .map(move |(h, d)| HeadStat {
                    layer: l,
                    head: h,
                    entropy: d.summary.entropy,
                    mean_distance: d.summary.mean_distance,
                    first_token: d.summary.first_key_share,
                    sep_share: d.later_special,
                    previous_token: d.previous_token,
                    induction: None,
                })
        })
        .collect()
}

/// Runs the induction test: a random token sequence of `half` tokens, repeated once; a
/// head's score is the mean weight from each token of the second copy to the token that
/// followed its earlier occurrence (Olsson et al. 2022). Returns layers × heads.
/// `half = 0` is an error; `half = 1` has no such pair and scores every head 0.
pub fn induction_scores(model: &Model, half: usize, seed: u64) -> Result<Array2<f32>, ModelError> {
    if half == 0 {
        return Err(ModelError::Invalid {
            what: "induction test",
            message: "needs a sequence of at least 1 token to repeat (half = 0)".into(),
        });
    }
    // Refuse before generating anything: `half` may come from a user.
    if half.saturating_mul(2) > model.config.max_positions() {
        return Err(ModelError::TooManyTokens {
            what: "the induction test",
            n: half.saturating_mul(2),
            max: model.config.max_positions(),
        });
    }
    let tok = &model.tokenizer;
    let vocab = model.tokenizer.vocab_size().min(model.config.vocab_size()) as u64;
    // Ordinary word pieces only: alphanumeric tokens (after a "Ġ" / "##" / "▁" marker), which
    // skips special, reserved ([unused…]) and control-byte tokens a model never saw in text.
    let candidates: Vec<u32> = (0..vocab as u32)
        .filter(|&id| {
            let t = tok.id_to_token(id);
            let t = t.trim_start_matches(['Ġ', '▁']).trim_start_matches("##");
            !t.is_empty() && t.chars().all(char::is_alphanumeric)
        })
        .collect();
    if candidates.len() < 2 {
        return Err(ModelError::Tokenizer(
            "no ordinary tokens for the induction test".into(),
        ));
    }
    let mut s = Stream::new("induction", seed);
    let first: Vec<u32> = (0..half)
        .map(|_| candidates[(s.next_u64() % candidates.len() as u64) as usize])
        .collect();
    let body: Vec<u32> = first.iter().chain(first.iter()).copied().collect();
    let special = |name: &str| tok.token_id(name);
    let (prefix, suffix) = match (special("[CLS]"), special("[SEP]")) {
        (Some(c), Some(sep)) => (vec![c], vec![sep]),
        _ => (Vec::new(), Vec::new()),
    };
    let ids: Vec<u32> = prefix.iter().chain(&body).chain(&suffix).copied().collect();
    let max = model.config.max_positions();
    if ids.len() > max {
        return Err(ModelError::TooManyTokens {
            what: "the induction test",
            n: ids.len(),
            max,
        });
    }
    let tokens: Vec<TokenInfo> = ids
        .iter()
        .map(|&id| TokenInfo {
            id,
            piece: tok.id_to_token(id),
            label: tok.id_to_token(id),
            offsets: (0, 0),
            special: false,
        })
        .collect();
    let run = model.run_tokens(tokens)?;
    let off = prefix.len();
    let mut scores = Array2::zeros((run.layers.len(), run.heads));
    for (l, layer) in run.layers.iter().enumerate() {
        for (h, cap) in layer.heads.iter().enumerate() {
            // The query at off+half+t (second copy) holds the same token as off+t; an
            // induction head looks at the token that followed it: off+t+1.
            let mut sum = 0.0;
            let mut count = 0;
            for t in 0..half - 1 {
                let i = off + half + t;
                let j = off + t + 1;
                sum += cap.probs[[i, j]];
                count += 1;
            }
            scores[[l, h]] = if count > 0 { sum / count as f32 } else { 0.0 };
        }
    }
    Ok(scores)
}

/// Attention rollout (Abnar & Zuidema 2020): Â_l = ½·mean_h P_l + ½·I with rows
/// renormalised, and R = Â_L ⋯ Â_1. Row i says how much each input token flows into
/// position i at the top. `None` for a run without full matrices (rollout multiplies n × n
/// matrices of every layer: n³ per layer).
pub fn rollout(run: &ModelRun) -> Option<Array2<f32>> {
    rollout_by_layer(run)?.pop()
}

/// [`rollout`] through the first 1, 2, … L layers: entry l is the rollout up to and
/// including layer l (so a layer range can be looked at without a recomputation).
pub fn rollout_by_layer(run: &ModelRun) -> Option<Vec<Array2<f32>>> {
    if !run.full {
        return None;
    }
    let n = run.n();
    let mut r = Array2::<f32>::eye(n);
    let mut out = Vec::with_capacity(run.layers.len());
    for layer in &run.layers {
        let mut a = Array2::<f32>::zeros((n, n));
        for cap in &layer.heads {
            a += &cap.probs;
        }
        a /= layer.heads.len().max(1) as f32;
        a *= 0.5;
        for i in 0..n {
            a[[i, i]] += 0.5;
        }
        for mut row in a.rows_mut() {
            let s = row.sum();
            if s > 0.0 {
                row /= s;
            }
        }
        // R ← Â·R on the SIMD kernels (n³ per layer: 0.27 GFLOP at 512 tokens).
        r = matmul(Backend::best(), a.view(), r.view());
        out.push(r.clone());
    }
    if out.is_empty() {
        out.push(r);
    }
    Some(out)
}

/// `m` with its first column set to 0 and each row renormalised over the others: a
/// rollout without the first token, which in a model with attention sinks takes nearly
/// all of every row and leaves the rest of the picture black. A row with nothing left
/// stays 0.
pub fn without_first_key(m: &Array2<f32>) -> Array2<f32> {
    let mut out = m.clone();
    for mut row in out.rows_mut() {
        if let Some(first) = row.first_mut() {
            *first = 0.0;
        }
        let s = row.sum();
        if s > 0.0 {
            row /= s;
        }
    }
    out
}
