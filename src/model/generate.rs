//! Generation, token by token, on a KV cache: each new token computes one query row per
//! layer ([`super::network::Transformer::step`]), and every step keeps the next-token
//! distribution and the new token's attention row in every layer and head.
//!
//! Sampling follows transformers' order: logits / temperature, then top-k, then top-p
//! (the smallest set of most likely tokens whose probability reaches p), then a draw from a
//! seeded stream (`core::rng`, the same numbers on every machine); temperature 0 is greedy.

use crate::core::kernels::Backend;
use crate::core::rng::Stream;

use super::ablate::{Ablation, Knockout};
use super::network::{Ablate, KvCache};
use super::{Model, ModelError};

/// How to pick tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampling {
    /// 0 = greedy (the most likely token; the lowest id on a tie).
    pub temperature: f32,
    /// Keep only the k most likely tokens (0 = all).
    pub top_k: usize,
    /// Keep the most likely tokens whose probabilities sum to at least p (1 = all).
    pub top_p: f32,
    /// Seed of the draw.
    pub seed: u64,
    /// Keep going past the end-of-text token (benchmarks: a fixed number of tokens).
    pub ignore_eos: bool,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            seed: 0,
            ignore_eos: false,
        }
    }
}

/// One generated token and what stood behind it.
#[derive(Clone, Debug)]
pub struct GenStep {
    /// The chosen token.
    pub id: u32,
    /// log p of the chosen token under the model (temperature 1, before top-k/top-p).
    pub logprob: f32,
    /// Its rank in that distribution (0 = the most likely).
    pub rank: usize,
    /// The most likely tokens and their probabilities (temperature 1), best first.
    pub top: Vec<(u32, f32)>,
    /// The attention row of the token that produced this distribution, per layer and head
    /// (over every token so far).
    pub attention: Vec<Vec<Vec<f32>>>,
}

/// Softmax of logits / t in f64 for the reported probabilities (stable, exact enough to
/// rank and to compare with transformers' log-softmax).
pub fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let z: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    let lz = z.ln() as f32;
    logits.iter().map(|&l| l - max - lz).collect()
}

/// The k most likely tokens of log-probabilities and their probabilities, best first (the
/// lower id first on a tie).
pub fn top_k(lp: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut order: Vec<usize> = (0..lp.len()).collect();
    let k = k.min(order.len());
    if k == 0 {
        return Vec::new();
    }
    let by_p = |a: &usize, b: &usize| lp[*b].total_cmp(&lp[*a]).then(a.cmp(b));
    order.select_nth_unstable_by(k - 1, by_p);
    order.truncate(k);
    order.sort_by(by_p);
    order.iter().map(|&i| (i as u32, lp[i].exp())).collect()
}

/// Picks the next token from logits.
pub fn pick(logits: &[f32], s: &Sampling, rng: &mut Stream) -> u32 {
    let argmax = || {
        let mut best = 0;
        for (i, &l) in logits.iter().enumerate() {
            if l > logits[best] {
                best = i;
            }
        }
        best as u32
    };
    if s.temperature.is_nan() || s.temperature <= 0.0 {
        return argmax();
    }
    let scaled: Vec<f32> = logits.iter().map(|&l| l / s.temperature).collect();
    let lp = log_softmax(&scaled);
    let mut order: Vec<usize> = (0..lp.len()).collect();
    order.sort_by(|&a, &b| lp[b].total_cmp(&lp[a]).then(a.cmp(&b)));
    if s.top_k > 0 {
        order.truncate(s.top_k);
    }
    let mut kept = Vec::with_capacity(order.len());
    let mut mass = 0.0f64;
    for &i in &order {
        kept.push(i);
        mass += f64::from(lp[i]).exp();
        if s.top_p < 1.0 && mass >= f64::from(s.top_p) {
            break;
        }
    }
    // A uniform draw in [0, mass) over the kept tokens, in order.
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * mass;
    let mut acc = 0.0f64;
    for &i in &kept {
        acc += f64::from(lp[i]).exp();
        if u < acc {
            return i as u32;
        }
    }
    kept.last().map_or_else(argmax, |&i| i as u32)
}

impl Model {
    /// Whether this model can generate (a causal model with an LM head).
    pub fn can_generate(&self) -> bool {
        self.arch.has_lm_head()
    }

    /// Generates up to `max_new` tokens after `prompt` (ids), stopping early at an EOS token
    /// of the config or when `cancel` is set; `on_step` hears each step as it lands. The
    /// prompt runs through the block forward once, filling the cache.
    pub fn generate(
        &self,
        prompt: &[u32],
        max_new: usize,
        sampling: &Sampling,
        cancel: Option<&std::sync::atomic::AtomicBool>,
        on_step: &mut dyn FnMut(&GenStep),
    ) -> Result<Vec<GenStep>, ModelError> {
        let none = Ablation::default();
        self.generate_ablated(prompt, max_new, sampling, &none, cancel, on_step)
    }

    /// [`Model::generate`] with heads knocked out and edges blocked at every step (a mean
    /// knock-out uses the head's mean output over the prompt, from one clean prompt run).
    pub fn generate_ablated(
        &self,
        prompt: &[u32],
        max_new: usize,
        sampling: &Sampling,
        ablation: &Ablation,
        cancel: Option<&std::sync::atomic::AtomicBool>,
        on_step: &mut dyn FnMut(&GenStep),
    ) -> Result<Vec<GenStep>, ModelError> {
        if !self.can_generate() {
            return Err(ModelError::Invalid {
                what: "generate",
                message: format!("generation needs a causal LM; {} is not one", self.name),
            });
        }
        if prompt.is_empty() {
            return Err(ModelError::EmptyText);
        }
        let max = self.config.max_positions();
        if prompt.len() + max_new > max {
            return Err(ModelError::GenerationTooLong {
                prompt: prompt.len(),
                new: max_new,
                max,
            });
        }
        let backend = Backend::best();
        ablation.check(
            self.config.layers(),
            self.config.heads(),
            prompt.len() + max_new,
        )?;
        let means = if ablation.mode == Knockout::Mean && !ablation.heads.is_empty() {
            self.arch
                .clean_layers(backend, prompt, prompt.len(), cancel)?
                .1
        } else {
            Vec::new()
        };
        let ab = Ablate {
            ablation,
            means: &means,
        };
        let ab = (!ablation.is_empty()).then_some(&ab);
        let mut cache = KvCache::default();
        let mut rng = Stream::new("generate", sampling.seed);
        // The prompt but its last token through the block forward, filling the cache; the
        // last token through a step, which gives the first distribution and its attention.
        let (head, last) = prompt.split_at(prompt.len() - 1);
        self.arch.prefill(backend, &mut cache, head, ab)?;
        let mut out = self.arch.step(backend, &mut cache, last[0], ab)?;
        let mut steps = Vec::with_capacity(max_new);
        for _ in 0..max_new {
            if cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
                return Err(ModelError::Cancelled);
            }
            let logits = out
                .logits
                .take()
                .expect("a model that generates has a head");
            let id = pick(&logits, sampling, &mut rng);
            let lp = log_softmax(&logits);
            let rank = lp.iter().filter(|&&x| x > lp[id as usize]).count();
            let step = GenStep {
                id,
                logprob: lp[id as usize],
                rank,
                top: top_k(&lp, 10),
                attention: std::mem::take(&mut out.attention),
            };
            on_step(&step);
            steps.push(step);
            if !sampling.ignore_eos && self.config.eos.contains(&id) {
                break;
            }
            out = self.arch.step(backend, &mut cache, id, ab)?;
        }
        Ok(steps)
    }

    /// The next-token logits and attention rows for a whole sequence through the cache, step
    /// by step (tests compare it with one full forward pass).
    pub fn step_through(&self, ids: &[u32]) -> Result<Vec<super::network::StepOut>, ModelError> {
        let mut cache = KvCache::default();
        ids.iter()
            .map(|&id| self.arch.step(Backend::best(), &mut cache, id, None))
            .collect()
    }

    /// Logits of the last token of a full forward pass (no cache).
    pub fn last_logits(&self, ids: &[u32]) -> Result<Vec<f32>, ModelError> {
        let opts = super::network::ForwardOpts::default();
        let (_, hidden) = self.arch.forward(Backend::best(), ids, &opts)?;
        let last = hidden.row(hidden.nrows().saturating_sub(1));
        self.arch.logits(&last.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_argmax_and_sampling_is_seeded() {
        let logits = [0.1, 2.0, 1.9, -1.0];
        let mut rng = Stream::new("t", 1);
        assert_eq!(pick(&logits, &Sampling::default(), &mut rng), 1);
        let s = Sampling {
            temperature: 1.0,
            seed: 7,
            ..Sampling::default()
        };
        let draw = |seed| {
            let mut r = Stream::new("generate", seed);
            (0..50)
                .map(|_| pick(&logits, &s, &mut r))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        // top-k 1 is greedy whatever the draw.
        let k1 = Sampling {
            top_k: 1,
            ..s.clone()
        };
        let mut r = Stream::new("generate", 3);
        assert!((0..20).all(|_| pick(&logits, &k1, &mut r) == 1));
        // top-p 0.5: tokens 1 and 2 only (each ~0.46 of the mass).
        let p = Sampling { top_p: 0.5, ..s };
        let mut r = Stream::new("generate", 3);
        assert!((0..200).all(|_| matches!(pick(&logits, &p, &mut r), 1 | 2)));
    }
}
