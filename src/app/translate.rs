//! The Translate view's model and runs, off the UI thread: an encoder–decoder model loads on
//! its own worker (the single-stack model in the other views stays), and each (model, source,
//! target) runs once: with a target, the decoder reads it (teacher forcing); without, the
//! source is translated greedily on the decoder's KV cache and the decoder then replays the
//! translation, so every step's row is on screen.

use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui;
use ndarray::Array2;

use super::AttnApp;
use super::i18n::{Lang, Msg, tr};
use super::jobs::{JobError, JobSlot};
use super::state::View;
use crate::core::{ScoreKind, Trace};
use crate::model::seq2seq::{Aggregate, AttnKind, ForcedStep, Seq2Seq, Seq2SeqRun, Translation};

/// One run of the Translate view.
pub struct TranslateOut {
    /// Encoder, decoder and cross attention of every layer and head.
    pub run: Seq2SeqRun,
    /// The greedy translation, when no target was typed.
    pub translation: Option<Translation>,
    /// With a typed target, what the model predicted at each decoder row.
    pub forced: Vec<ForcedStep>,
}

/// (model generation, source, target).
type RunKey = (u64, String, String);

/// (run generation, kind, layer, head, score function).
type LabKey = (u64, AttnKind, usize, usize, ScoreKind);

/// An aggregate matrix and what it was made from: (run generation, aggregate).
type AggCache = ((u64, Aggregate), Arc<Array2<f32>>);

/// The encoder–decoder model, its run, and their workers.
pub struct Translator {
    load: JobSlot<PathBuf, Arc<Seq2Seq>>,
    run: JobSlot<RunKey, Arc<TranslateOut>>,
    lab: JobSlot<LabKey, Arc<Trace>>,
    /// The focused head re-run by the core for the step-through, and for which key.
    pub lab_trace: Option<(LabKey, Arc<Trace>)>,
    /// The loaded model.
    pub model: Option<Arc<Seq2Seq>>,
    /// The run on screen.
    pub out: Option<Arc<TranslateOut>>,
    /// Why the model could not be loaded or run (the previous ones stay on screen).
    pub error: Option<TranslateError>,
    /// The aggregate on screen, made once per (run, aggregate).
    aggregate: Option<AggCache>,
    /// Wall time of the run on screen (encoder, greedy translation and replay), ms.
    pub run_ms: f64,
}

impl Default for Translator {
    fn default() -> Self {
        Translator {
            load: JobSlot::spawn("translate-load"),
            run: JobSlot::spawn("translate-run"),
            lab: JobSlot::spawn("translate-lab"),
            lab_trace: None,
            model: None,
            out: None,
            error: None,
            aggregate: None,
            run_ms: 0.0,
        }
    }
}

impl Translator {
    /// Whether a load or a run is in progress.
    pub fn busy(&self) -> bool {
        self.load.pending() || self.run.pending() || self.lab.pending()
    }

    /// How many runs have landed (textures are keyed by it).
    pub fn run_generation(&self) -> u64 {
        self.run.generation()
    }

    /// The cross-attention aggregated over heads (and layers) for the run on screen.
    pub fn aggregate(&mut self, agg: Aggregate) -> Option<Arc<Array2<f32>>> {
        let key = (self.run.generation(), agg);
        if let Some((k, m)) = &self.aggregate
            && *k == key
        {
            return Some(Arc::clone(m));
        }
        let m = Arc::new(agg.of(&self.out.as_ref()?.run)?);
        self.aggregate = Some((key, Arc::clone(&m)));
        Some(m)
    }
}

/// Why the Translate view has no (new) result; said in the language on screen when drawn.
#[derive(Clone, Debug)]
pub struct TranslateError {
    /// The model did not open (else a run or the step-through failed).
    pub opening: bool,
    /// What went wrong.
    pub error: JobError,
}

impl TranslateError {
    /// The message in `lang`.
    pub fn text(&self, lang: Lang) -> String {
        let why = super::errors::job_text(lang, &self.error);
        if self.opening {
            format!("{} {why}", tr(lang, Msg::OpenFailed))
        } else {
            why
        }
    }
}

/// A matrix a view shows that is not a head of the trace (the Translate view's focus, the
/// rollout), as exported: its values, row and column labels and title.
pub struct ScreenMatrix {
    /// A head's probabilities, or the cross-attention aggregated over heads.
    pub values: Array2<f32>,
    /// Query tokens.
    pub rows: Vec<String>,
    /// Key tokens.
    pub cols: Vec<String>,
    /// What it is, in the UI language (the view's title).
    pub title: String,
    /// The cells its mask hides (drawn grey, without a number), if any.
    pub allowed: Option<Array2<bool>>,
}

/// The tiny translator shipped in `sample_models/`, if present.
pub fn default_translator() -> Option<PathBuf> {
    super::panels::sample_models()
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "tiny-translator"))
}

impl AttnApp {
    /// Loads an encoder–decoder folder for the Translate view and shows that view.
    pub(super) fn open_translator(&mut self, ctx: &egui::Context, dir: PathBuf) {
        // Absolute, as a remembered session may start from another folder.
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        self.state.tr.model = Some(dir.clone());
        self.state.view = View::Translate;
        self.translator.load.submit(ctx, dir.clone(), move || {
            Ok(Arc::new(Seq2Seq::load(&dir).map_err(JobError::from)?))
        });
    }

    /// What the Translate view needs: its model (the remembered one, or the sample), then one
    /// run per (model, source, target).
    pub(super) fn submit_translate(&mut self, ctx: &egui::Context) {
        if self.state.view != View::Translate {
            return;
        }
        if self.translator.load.key().is_none()
            && let Some(dir) = self.state.tr.model.clone().or_else(default_translator)
        {
            self.open_translator(ctx, dir);
        }
        let Some(model) = self.translator.model.clone() else {
            return;
        };
        let (source, target) = (self.state.tr.source.clone(), self.state.tr.target.clone());
        let key = (
            self.translator.load.generation(),
            source.clone(),
            target.clone(),
        );
        self.translator.run.request(ctx, key, move || {
            let target = Some(target.as_str()).filter(|t| !t.trim().is_empty());
            let (run, translation) = model.run_and_translate(&source, target, None)?;
            let forced = if translation.is_none() {
                model.teacher_forced(&run)?
            } else {
                Vec::new()
            };
            Ok(Arc::new(TranslateOut {
                run,
                translation,
                forced,
            }))
        });
        // The step-through: the focused head re-run by the core (not for an aggregate).
        if let Some(out) = self.translator.out.clone()
            && self.state.tr.aggregate.is_none()
        {
            let key = self.lab_key();
            let (_, kind, layer, head, score) = key;
            self.translator.lab.request(ctx, key, move || {
                Ok(Arc::new(out.run.head_trace(kind, layer, head, score)?))
            });
        }
    }

    /// The core's re-run of the focused head (kind, layer, head, score function), once it has
    /// landed.
    pub(super) fn translate_lab_trace(&self) -> Option<Arc<Trace>> {
        let (key, trace) = self.translator.lab_trace.as_ref()?;
        (*key == self.lab_key()).then(|| Arc::clone(trace))
    }

    /// The step-through's head as it is chosen now.
    fn lab_key(&self) -> LabKey {
        let s = &self.state.tr;
        let run = self.translator.run.generation();
        (run, s.kind, s.layer, s.head, s.score)
    }

    /// The Translate view's matrix in focus, for export.
    pub(super) fn translate_focus(&self) -> Option<ScreenMatrix> {
        let s = &self.state.tr;
        let run = &self.translator.out.as_ref()?.run;
        let (values, kind) = match s.aggregate {
            Some(a) => (a.of(run)?, AttnKind::Cross),
            None => (run.probs(s.kind, s.layer, s.head)?.clone(), s.kind),
        };
        let (rows, cols) = run.labels(kind);
        // Cross-attention rows by the token they write, as the view names them.
        let rows = match kind {
            AttnKind::Cross => super::views::writing_rows(&rows),
            _ => rows,
        };
        Some(ScreenMatrix {
            allowed: kind.allowed(values.dim()),
            values,
            rows,
            cols,
            title: super::views::translate_title(self.lang(), s),
        })
    }

    /// Takes in the Translate view's results.
    pub(super) fn poll_translate(&mut self) {
        if let Some(done) = self.translator.load.poll() {
            match done.result {
                Ok(m) => {
                    self.info_done(Msg::Opened, &m.name);
                    // Listed under Model ▸ Recent models as the other models are (opening
                    // it from there comes back to this view).
                    if let Some(dir) = self.state.tr.model.clone() {
                        self.state.remember_model(dir);
                    }
                    self.translator.model = Some(m);
                    self.translator.out = None;
                    self.translator.error = None;
                }
                Err(error) => {
                    let e = TranslateError {
                        opening: true,
                        error,
                    };
                    let error = e.clone();
                    self.fail(move |lang| error.text(lang));
                    self.translator.error = Some(e);
                }
            }
        }
        if let Some(done) = self.translator.lab.poll()
            && let Some(key) = self.translator.lab.key().copied()
        {
            match done.result {
                Ok(t) => self.translator.lab_trace = Some((key, t)),
                Err(error) => {
                    self.translator.error = Some(TranslateError {
                        opening: false,
                        error,
                    })
                }
            }
        }
        if let Some(done) = self.translator.run.poll() {
            match done.result {
                Ok(out) => {
                    let tr = &mut self.state.tr;
                    let run = &out.run;
                    let kinds = run.layers(tr.kind);
                    tr.layer = tr.layer.min(kinds.len().saturating_sub(1));
                    let heads = kinds.get(tr.layer).map_or(1, |l| l.heads.len());
                    tr.head = tr.head.min(heads.saturating_sub(1));
                    tr.step = tr.step.min(run.target.len().saturating_sub(1));
                    self.translator.out = Some(out);
                    self.translator.run_ms = done.elapsed.as_secs_f64() * 1e3;
                    self.translator.error = None;
                }
                Err(error) => {
                    self.translator.error = Some(TranslateError {
                        opening: false,
                        error,
                    })
                }
            }
        }
    }
}
