//! "What if this head were gone?": knock-outs and blocked edges, re-run from the first
//! affected layer, and the head-importance table.
//!
//! A knocked-out head's output (its slice of the concatenated context, before W_O) is either
//! zeroed or replaced by its mean over the prompt's positions (the "mean ablation" of the
//! interpretability literature); a blocked edge i → j sets head h's score from query i to key
//! j to −∞ before the softmax, so the row renormalises over its other keys. The clean run keeps
//! every layer's input, so an ablation recomputes only the layers from the first one it
//! touches.

use ndarray::{Array2, s};
use serde::{Deserialize, Serialize};

use super::generate::log_softmax;
use super::network::Ablate;
use super::{Model, ModelError};
use crate::core::kernels::Backend;

/// What replaces a knocked-out head's output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Knockout {
    /// Zeros: the head contributes nothing.
    #[default]
    Zero,
    /// The head's mean output over the prompt's positions: it keeps its average contribution
    /// but loses what depends on the token.
    Mean,
}

impl Knockout {
    /// The short name the CLI and the JSON use.
    pub fn name(self) -> &'static str {
        match self {
            Knockout::Zero => "zero",
            Knockout::Mean => "mean",
        }
    }

    /// Parses "zero" or "mean".
    pub fn parse(s: &str) -> Result<Knockout, String> {
        match s.trim() {
            "zero" => Ok(Knockout::Zero),
            "mean" => Ok(Knockout::Mean),
            other => Err(format!(
                "knock-out mode must be zero or mean, not {other:?}"
            )),
        }
    }
}

/// One head of one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HeadRef {
    /// Layer (0-based).
    pub layer: usize,
    /// Query head (0-based).
    pub head: usize,
}

/// "L1 H2", as the app's chips and tables name a head.
impl std::fmt::Display for HeadRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "L{} H{}", self.layer, self.head)
    }
}

/// Attention from query position `from` to key position `to` in one head, blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedEdge {
    /// Layer (0-based).
    pub layer: usize,
    /// Query head (0-based).
    pub head: usize,
    /// Query token position.
    pub from: usize,
    /// Key token position.
    pub to: usize,
}

impl BlockedEdge {
    /// The head it belongs to.
    pub fn head_ref(&self) -> HeadRef {
        HeadRef {
            layer: self.layer,
            head: self.head,
        }
    }
}

/// Heads knocked out and edges blocked.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ablation {
    /// Heads whose output is replaced.
    pub heads: Vec<HeadRef>,
    /// What replaces it.
    pub mode: Knockout,
    /// Edges whose attention is removed.
    pub blocked: Vec<BlockedEdge>,
}

impl Ablation {
    /// Knocks out `heads` with `mode`.
    pub fn heads(heads: Vec<HeadRef>, mode: Knockout) -> Ablation {
        Ablation {
            heads,
            mode,
            blocked: Vec::new(),
        }
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty() && self.blocked.is_empty()
    }

    /// The first layer it changes.
    pub fn first_layer(&self) -> Option<usize> {
        let heads = self.heads.iter().map(|h| h.layer);
        heads.chain(self.blocked.iter().map(|b| b.layer)).min()
    }

    /// Parses `L:H[,L:H…]` (0-based layer and head), as `--ablate` takes it.
    pub fn parse_heads(spec: &str) -> Result<Vec<HeadRef>, String> {
        let mut out = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (l, h) = part
                .split_once(':')
                .ok_or_else(|| format!("{part:?} is not LAYER:HEAD (e.g. 1:3)"))?;
            let num = |s: &str, what: &str| {
                s.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("{part:?}: {what} {s:?} is not a number"))
            };
            out.push(HeadRef {
                layer: num(l, "layer")?,
                head: num(h, "head")?,
            });
        }
        if out.is_empty() {
            return Err("no heads given: use LAYER:HEAD[,LAYER:HEAD…], e.g. 1:3".into());
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Checks every head and edge against a model of `layers` × `heads` and a sequence of
    /// `n` tokens.
    pub fn check(&self, layers: usize, heads: usize, n: usize) -> Result<(), ModelError> {
        let bad = |message: String| ModelError::Invalid {
            what: "ablation",
            message,
        };
        for h in &self.heads {
            if h.layer >= layers || h.head >= heads {
                return Err(bad(format!(
                    "head {}:{} is not in a model of {layers} layers × {heads} heads",
                    h.layer, h.head
                )));
            }
        }
        for b in &self.blocked {
            if b.layer >= layers || b.head >= heads {
                return Err(bad(format!(
                    "head {}:{} is not in a model of {layers} layers × {heads} heads",
                    b.layer, b.head
                )));
            }
            if b.from >= n || b.to >= n {
                return Err(bad(format!(
                    "edge {} → {} is outside the {n} tokens",
                    b.from, b.to
                )));
            }
        }
        Ok(())
    }

    /// A readable summary ("zeroed 1:3, 0:2; blocked 1:0 5→2").
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.heads.is_empty() {
            let heads: Vec<String> = self
                .heads
                .iter()
                .map(|h| format!("{}:{}", h.layer, h.head))
                .collect();
            let verb = match self.mode {
                Knockout::Zero => "zeroed",
                Knockout::Mean => "mean-replaced",
            };
            parts.push(format!("{verb} {}", heads.join(", ")));
        }
        if !self.blocked.is_empty() {
            let edges: Vec<String> = self
                .blocked
                .iter()
                .map(|b| format!("{}:{} {}→{}", b.layer, b.head, b.from, b.to))
                .collect();
            parts.push(format!("blocked {}", edges.join(", ")));
        }
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join("; ")
        }
    }
}

/// A clean run an ablation starts from: every layer's input, every head's mean output over
/// the prompt, and the next-token log-probabilities after the last token.
#[derive(Clone, Debug)]
pub struct AblationBase {
    /// The tokens run.
    pub ids: Vec<u32>,
    /// How many of them are the prompt (the rows the mean knock-out averages).
    pub prompt_len: usize,
    /// Per layer: its input (n × d).
    pub(super) inputs: Vec<Array2<f32>>,
    /// Per layer: the mean of each head's context over the prompt (h·dh).
    pub(super) means: Vec<Vec<f32>>,
    /// Clean next-token log-probabilities after the last token.
    pub logprobs: Vec<f32>,
}

/// What knocking out one head does to the next token.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct HeadEffect {
    /// The head.
    pub head: HeadRef,
    /// log p of the target token with the head knocked out.
    pub logprob: f32,
    /// Clean log p minus knocked-out log p: how much the head helped (positive = it helped).
    pub drop: f32,
    /// The target's rank (0 = most likely) with the head knocked out.
    pub rank: usize,
}

/// The rank of token `id` under `lp` (0 = most likely; ties go to the lower id).
pub fn rank_of(lp: &[f32], id: u32) -> usize {
    let i = id as usize;
    let Some(&x) = lp.get(i) else { return lp.len() };
    lp.iter()
        .enumerate()
        .filter(|&(j, &y)| y > x || (y == x && j < i))
        .count()
}

impl Model {
    fn checked_base_ids(&self, ids: &[u32], prompt_len: usize) -> Result<(), ModelError> {
        if !self.can_generate() {
            return Err(ModelError::Invalid {
                what: "ablation",
                message: format!("ablation needs a causal LM; {} is not one", self.name),
            });
        }
        if ids.is_empty() {
            return Err(ModelError::EmptyText);
        }
        if prompt_len == 0 || prompt_len > ids.len() {
            return Err(ModelError::Invalid {
                what: "ablation",
                message: format!("prompt length {prompt_len} of {} tokens", ids.len()),
            });
        }
        Ok(())
    }

    /// The clean run of `ids` an ablation re-runs from; `prompt_len` of them are the prompt.
    pub fn ablation_base(
        &self,
        ids: &[u32],
        prompt_len: usize,
        cancel: Option<&std::sync::atomic::AtomicBool>,
    ) -> Result<AblationBase, ModelError> {
        self.checked_base_ids(ids, prompt_len)?;
        let (inputs, means, last) =
            self.arch
                .clean_layers(Backend::best(), ids, prompt_len, cancel)?;
        let logprobs = log_softmax(&self.arch.logits(&last)?);
        Ok(AblationBase {
            ids: ids.to_vec(),
            prompt_len,
            inputs,
            means,
            logprobs,
        })
    }

    /// Next-token log-probabilities after the base's last token with `ablation` applied,
    /// recomputing only the layers from the first one it changes.
    pub fn ablated_logprobs(
        &self,
        base: &AblationBase,
        ablation: &Ablation,
    ) -> Result<Vec<f32>, ModelError> {
        let layers = self.config.layers();
        ablation.check(layers, self.config.heads(), base.ids.len())?;
        if base.inputs.len() != layers {
            return Err(ModelError::Invalid {
                what: "ablation",
                message: format!("the clean run is not from {}", self.name),
            });
        }
        let Some(first) = ablation.first_layer() else {
            return Ok(base.logprobs.clone());
        };
        let ab = Ablate {
            ablation,
            means: &base.means,
        };
        let last = self
            .arch
            .forward_from(Backend::best(), first, &base.inputs[first], &ab);
        Ok(log_softmax(&self.arch.logits(&last)?))
    }

    /// For every head alone, knocked out with `mode`: the target token's log p, its drop from
    /// the clean run, and its rank; `progress` hears the fraction done, `cancel` stops it.
    pub fn head_importance(
        &self,
        base: &AblationBase,
        target: u32,
        mode: Knockout,
        cancel: Option<&std::sync::atomic::AtomicBool>,
        progress: Option<&(dyn Fn(f32) + Sync)>,
    ) -> Result<Vec<HeadEffect>, ModelError> {
        let (layers, heads) = (self.config.layers(), self.config.heads());
        let clean = *base
            .logprobs
            .get(target as usize)
            .ok_or_else(|| ModelError::Invalid {
                what: "head importance",
                message: format!("token {target} is not in the vocabulary"),
            })?;
        let total = (layers * heads).max(1);
        let mut out = Vec::with_capacity(total);
        for layer in 0..layers {
            for head in 0..heads {
                if cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
                    return Err(ModelError::Cancelled);
                }
                let h = HeadRef { layer, head };
                let lp = self.ablated_logprobs(base, &Ablation::heads(vec![h], mode))?;
                let logprob = lp[target as usize];
                out.push(HeadEffect {
                    head: h,
                    logprob,
                    drop: clean - logprob,
                    rank: rank_of(&lp, target),
                });
                if let Some(report) = progress {
                    report(out.len() as f32 / total as f32);
                }
            }
        }
        Ok(out)
    }
}

impl Ablate<'_> {
    /// Replaces the knocked-out heads' columns of layer `l`'s concatenated context (n × h·dh).
    pub(super) fn knock(&self, l: usize, dh: usize, concat: &mut Array2<f32>) {
        for h in self.ablation.heads.iter().filter(|h| h.layer == l) {
            let cols = h.head * dh..(h.head + 1) * dh;
            if cols.end > concat.ncols() {
                continue;
            }
            let mut block = concat.slice_mut(s![.., cols.clone()]);
            match (self.ablation.mode, self.means.get(l)) {
                (Knockout::Mean, Some(m)) if m.len() >= cols.end => {
                    for mut row in block.rows_mut() {
                        row.assign(&ndarray::ArrayView1::from(&m[cols.clone()]));
                    }
                }
                _ => block.fill(0.0),
            }
        }
    }

    /// Layer `l`'s blocked edges as (head, query, key).
    pub(super) fn blocked(&self, l: usize) -> Vec<(usize, usize, usize)> {
        self.ablation
            .blocked
            .iter()
            .filter(|b| b.layer == l)
            .map(|b| (b.head, b.from, b.to))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_and_describe() {
        let h = Ablation::parse_heads("1:3, 0:2,1:3").unwrap();
        assert_eq!(
            h,
            vec![HeadRef { layer: 0, head: 2 }, HeadRef { layer: 1, head: 3 }]
        );
        assert!(Ablation::parse_heads("1-3").is_err());
        assert!(Ablation::parse_heads("x:1").is_err());
        assert!(Ablation::parse_heads(" , ").is_err());
        let mut a = Ablation::heads(h, Knockout::Mean);
        a.blocked.push(BlockedEdge {
            layer: 1,
            head: 0,
            from: 5,
            to: 2,
        });
        assert_eq!(a.describe(), "mean-replaced 0:2, 1:3; blocked 1:0 5→2");
        assert_eq!(a.first_layer(), Some(0));
        assert!(a.check(2, 4, 6).is_ok());
        assert!(a.check(2, 3, 6).is_err());
        assert!(a.check(2, 4, 5).is_err());
    }

    #[test]
    fn ranks_and_log_softmax() {
        let lp = log_softmax(&[1.0, 3.0, 2.0, 3.0]);
        let total: f32 = lp.iter().map(|x| x.exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert_eq!(rank_of(&lp, 1), 0);
        assert_eq!(rank_of(&lp, 3), 1);
        assert_eq!(rank_of(&lp, 0), 3);
        assert_eq!(rank_of(&lp, 9), 4);
    }
}
