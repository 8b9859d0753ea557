//! A generation run in the background: the model writes token by token on its own thread,
//! each step lands in a shared list the Generate view reads every frame, and Cancel stops it
//! between tokens.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use eframe::egui;
use ndarray::Array2;

use crate::model::generate::{GenStep, Sampling};
use crate::model::tokenizer::TokenInfo;

use super::AttnApp;
use super::jobs::JobError;
use super::work::LoadedModel;

/// Serial numbers of generations, never reused while the app runs: a classroom guess is
/// kept by (serial, step), and a new model's first generation must not find the last
/// model's guesses.
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

/// What a generation was asked to do: the text it continues, how it samples and how far.
/// A paused run goes on only while these are what the controls show.
#[derive(Clone, Debug, PartialEq)]
pub struct GenAsk {
    /// The prompt as typed.
    pub text: String,
    /// Temperature, top-k, top-p and seed.
    pub sampling: Sampling,
    /// Most new tokens.
    pub max_new: usize,
}

/// One generation: its prompt, the steps so far, and how it ended.
pub struct GenSession {
    /// Counts sessions (textures and guesses are keyed by it).
    pub serial: u64,
    /// What it was asked to do.
    pub ask: GenAsk,
    /// The prompt's ids.
    pub prompt_ids: Vec<u32>,
    /// Every token's display text (the prompt's, then the generated ones as they land).
    pub labels: Mutex<Vec<String>>,
    /// The generated tokens' labels, running text and characters (byte-level pieces of one
    /// character joined), updated as each lands.
    pub written: Mutex<crate::model::tokenizer::Written>,
    /// The prompt as it reads, one piece per token (see [`prompt_pieces`]): the running text
    /// shows these, so that words keep their spaces.
    pub prompt_text: Vec<String>,
    /// The steps so far.
    pub steps: Mutex<Vec<GenStep>>,
    /// Set when the run ended (finished, cancelled or failed).
    pub done: AtomicBool,
    /// Why it failed or stopped early, if it did.
    pub error: Mutex<Option<JobError>>,
    /// Set to stop it before the next token.
    pub cancel: AtomicBool,
    /// Tokens it may write before it waits (Step raises it by one; Generate sets the maximum).
    pub budget: AtomicUsize,
    /// The prompt's attention matrices `[layer][head]` (n × n), for the growing causal heatmap:
    /// kept when they fit in [`PROMPT_MATRICES_BYTES`].
    pub prompt_attention: Mutex<Option<Vec<Vec<Array2<f32>>>>>,
    /// Each layer's mask (causal, and its sliding window if it has one): the growing heatmap
    /// draws the keys a layer masks grey.
    pub bands: Vec<crate::core::pool::Band>,
}

/// The most the prompt's matrices may take for the growing heatmap (a longer prompt shows the
/// generated rows only).
pub const PROMPT_MATRICES_BYTES: u128 = 128 << 20;

impl GenSession {
    /// The number of steps so far.
    pub fn len(&self) -> usize {
        self.steps.lock().map_or(0, |s| s.len())
    }

    /// Whether no step has landed yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether it is waiting for Step.
    pub fn waiting(&self) -> bool {
        !self.done.load(Ordering::Relaxed) && self.len() >= self.budget.load(Ordering::Relaxed)
    }
}

impl AttnApp {
    /// What the Generate view's controls ask for now.
    pub fn gen_ask(&self) -> GenAsk {
        let s = &self.state;
        GenAsk {
            text: s.text_q.clone(),
            sampling: Sampling {
                temperature: s.gen_temperature,
                top_k: s.gen_top_k,
                top_p: s.gen_top_p,
                seed: s.gen_seed,
                ignore_eos: false,
            },
            max_new: s.gen_max_new,
        }
    }

    /// Whether the run on screen is paused and the controls still ask for what it does:
    /// then Generate and Step go on with it, otherwise a new run starts (a paused run at
    /// temperature 0 does not go on at the 0.8 the controls show).
    fn goes_on(&self) -> bool {
        self.generation
            .as_ref()
            .is_some_and(|g| g.waiting() && g.ask == self.gen_ask())
    }

    /// The step of `g` the Generate view shows: the one picked, or with none picked the
    /// newest, except in classroom mode, where it is the first step not yet guessed (a run
    /// written to the end must not show the class what it is about to guess).
    pub fn shown_gen_step(&self, g: &GenSession) -> usize {
        self.state.gen_step.min(self.gen_step_limit(g))
    }

    /// The last step of `g` that may be shown: the newest; in classroom mode the first step
    /// not yet guessed, so the scrubber cannot show the class the tokens it is to guess.
    pub fn gen_step_limit(&self, g: &GenSession) -> usize {
        let last = g.len().saturating_sub(1);
        if self.state.gen_guess_mode {
            (0..g.len())
                .find(|&i| !self.guesses.contains_key(&(g.serial, i)))
                .unwrap_or(last)
        } else {
            last
        }
    }

    /// Generate: a run waiting for Step goes on to the maximum; otherwise a new run starts.
    pub fn generate_all(&mut self, ctx: &egui::Context) {
        match &self.generation {
            Some(g) if self.goes_on() => {
                g.budget.store(usize::MAX, Ordering::Relaxed);
                self.state.gen_step = usize::MAX;
            }
            _ => self.start_generation(ctx, usize::MAX),
        }
    }

    /// One more token: a run waiting for Step writes it; otherwise a new run starts that
    /// writes one token and waits.
    pub fn step_generation(&mut self, ctx: &egui::Context) {
        match &self.generation {
            Some(g) if self.goes_on() => {
                g.budget.fetch_add(1, Ordering::Relaxed);
                self.state.gen_step = usize::MAX;
            }
            Some(g) if !g.done.load(Ordering::Relaxed) && !g.waiting() => {}
            _ => self.start_generation(ctx, 1),
        }
    }

    /// Starts generating from the model input text with the Generate view's settings, writing
    /// up to `budget` tokens before it waits for Step (the previous run, if any, is
    /// cancelled).
    pub fn start_generation(&mut self, ctx: &egui::Context, budget: usize) {
        let Some(loaded) = self.model.clone() else {
            return;
        };
        if let Some(old) = &self.generation {
            old.cancel.store(true, Ordering::Relaxed);
        }
        let ask = self.gen_ask();
        let (sampling, max_new) = (ask.sampling.clone(), ask.max_new);
        let tokens = loaded.model.tokenizer.encode(&ask.text).unwrap_or_default();
        let prompt_text = prompt_pieces(&ask.text, &tokens);
        let serial = NEXT_SERIAL.fetch_add(1, Ordering::Relaxed);
        let session = Arc::new(GenSession {
            serial,
            ask,
            prompt_ids: tokens.iter().map(|t| t.id).collect(),
            labels: Mutex::new(tokens.iter().map(|t| t.label.clone()).collect()),
            written: Mutex::new(Default::default()),
            prompt_text,
            steps: Mutex::new(Vec::new()),
            done: AtomicBool::new(false),
            error: Mutex::new(None),
            cancel: AtomicBool::new(false),
            budget: AtomicUsize::new(budget),
            prompt_attention: Mutex::new(None),
            bands: layer_bands(&loaded.model.config),
        });
        self.state.gen_step = usize::MAX;
        self.generation = Some(Arc::clone(&session));
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("attnscope-generate".into())
            .spawn(move || run(&loaded, &session, tokens, &sampling, max_new, &ctx));
        // Without its thread the session is over before it began: said where its tokens
        // would have been, so nothing waits for them.
        if let (Err(e), Some(g)) = (spawned, &self.generation) {
            if let Ok(mut slot) = g.error.lock() {
                *slot = Some(JobError::NoThread(Arc::new(e)));
            }
            g.done.store(true, Ordering::Relaxed);
        }
    }
}

/// Each layer's mask, as the growing heatmap draws it.
pub fn layer_bands(config: &crate::model::config::ModelConfig) -> Vec<crate::core::pool::Band> {
    let causal = config.causal();
    config
        .network
        .layers
        .iter()
        .map(|l| crate::core::pool::Band {
            causal,
            window: l.window,
        })
        .collect()
}

/// The prompt as text, one piece per token: the token's span with the whitespace before it
/// (which its label trims: "capital" of " capital"), nothing for the later tokens of one
/// character split into several, and the label of a special token.
pub fn prompt_pieces(text: &str, tokens: &[TokenInfo]) -> Vec<String> {
    let mut end = 0;
    tokens
        .iter()
        .map(|t| {
            let (a, b) = t.offsets;
            if t.special || a == b {
                return t.label.clone();
            }
            if b <= end {
                return String::new();
            }
            let piece = text.get(end.min(a)..b).unwrap_or(&t.label).to_owned();
            end = b;
            piece
        })
        .collect()
}

/// The worker: generates, appending each step as it lands.
fn run(
    loaded: &LoadedModel,
    session: &GenSession,
    tokens: Vec<TokenInfo>,
    sampling: &Sampling,
    max_new: usize,
    ctx: &egui::Context,
) {
    let model = &loaded.model;
    let n_prompt = session.prompt_ids.len();
    let mut ids = Vec::with_capacity(max_new);
    let last_prompt = session.prompt_ids.last().copied();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        keep_prompt_attention(loaded, session, tokens);
        model.generate(
            &session.prompt_ids,
            max_new,
            sampling,
            Some(&session.cancel),
            &mut |step| {
                // A new byte piece may finish the character of the ones before it: the
                // last character's tokens are labelled again, here and in `labels`.
                ids.push(step.id);
                if let Ok(mut w) = session.written.lock() {
                    let from = w.run_start.last().copied().unwrap_or(0);
                    model.tokenizer.write_more(&mut w, last_prompt, &ids);
                    if let Ok(mut l) = session.labels.lock() {
                        l.truncate(n_prompt + from);
                        l.extend(w.labels[from..].iter().cloned());
                    }
                }
                if let Ok(mut s) = session.steps.lock() {
                    s.push(step.clone());
                }
                ctx.request_repaint();
                // Step mode: wait here (the next token is not computed) until Step or Cancel.
                while session.waiting() && !session.cancel.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(15));
                }
            },
        )
    }));
    let error = match result {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(JobError::from(e)),
        Err(_) => Some(JobError::Panicked),
    };
    if let Ok(mut slot) = session.error.lock() {
        *slot = error;
    }
    session.done.store(true, Ordering::Relaxed);
    ctx.request_repaint();
}

/// The prompt's attention matrices, for the heatmap that grows as the text grows: one full
/// forward of the prompt when its matrices fit in [`PROMPT_MATRICES_BYTES`].
fn keep_prompt_attention(loaded: &LoadedModel, session: &GenSession, tokens: Vec<TokenInfo>) {
    let model = &loaded.model;
    let n = tokens.len();
    if n == 0 || model.config.matrix_bytes(n) > PROMPT_MATRICES_BYTES {
        return;
    }
    if let Ok(run) = model.run_tokens_with(tokens, true, Some(&session.cancel), None) {
        let probs = run
            .layers
            .into_iter()
            .map(|l| l.heads.into_iter().map(|h| h.probs).collect())
            .collect();
        if let Ok(mut slot) = session.prompt_attention.lock() {
            *slot = Some(probs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(label: &str, offsets: (usize, usize), special: bool) -> TokenInfo {
        TokenInfo {
            id: 0,
            piece: label.into(),
            label: label.into(),
            offsets,
            special,
        }
    }

    /// The running text keeps the spaces a BPE label trims, shows a character split into
    /// byte tokens once, and a special token by its label.
    #[test]
    fn the_prompt_reads_as_typed() {
        let text = "The capital  北京";
        let tokens = [
            tok("<s>", (0, 0), true),
            tok("The", (0, 3), false),
            tok("capital", (4, 11), false),
            tok("北", (13, 16), false),
            tok("北²", (13, 16), false),
            tok("京", (16, 19), false),
        ];
        assert_eq!(
            prompt_pieces(text, &tokens),
            ["<s>", "The", " capital", "  北", "", "京"]
        );
        assert_eq!(prompt_pieces(text, &tokens).concat(), format!("<s>{text}"));
    }
}
