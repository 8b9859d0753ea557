//! What the screen needs, computed off the UI thread: each frame [`AttnApp::submit_jobs`]
//! asks the job slots for what the state implies (a toy trace; or a model load, one forward
//! pass per input, the focused layer's trace, and the lab's one re-run head), and
//! [`AttnApp::poll_jobs`] takes the results in. A slot only runs a key it was not already
//! asked for, so an unchanged input costs nothing.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use eframe::egui;

use super::AttnApp;
use super::i18n::{Msg, tr, trf};
use super::jobs::{JobError, JobSlot};
use super::state::{EmbeddingMode, View};
use crate::core::lab::{LabHead, lab_trace};
use crate::core::{Backend, Spec, Trace};
use crate::model::stats::{HeadStat, head_stats, induction_scores, rollout_by_layer};
use crate::model::{Model, ModelRun, NonFiniteHead};

/// A model with the numbers computed once per load.
pub struct LoadedModel {
    /// The model.
    pub model: Model,
    /// Induction scores, layers × heads (None if the model has too few positions).
    pub induction: Option<ndarray::Array2<f32>>,
}

/// A rollout as shown, keyed by its options (through layer, without the first token).
pub type ShownRollout = ((usize, bool), Arc<ndarray::Array2<f32>>);

/// A model run with its statistics and rollout.
pub struct ModelOutput {
    /// Captures of every layer.
    pub run: ModelRun,
    /// Per-head statistics (induction filled in from the model).
    pub stats: Vec<HeadStat>,
    /// Attention rollout (n × n) through the first 1, 2, … layers; `None` for a long run,
    /// which keeps no full matrices.
    pub rollouts: Option<Vec<ndarray::Array2<f32>>>,
    /// Heads whose attention is undefined (NaN/Inf) on some rows: the views mark them, since
    /// the kernels show such rows as zeros.
    pub nonfinite: Vec<NonFiniteHead>,
    /// The rollout last asked for by [`Self::rollout`], with its options: the view asks
    /// every frame.
    pub rollout_shown: std::sync::Mutex<Option<ShownRollout>>,
}

impl ModelOutput {
    /// The rollout as the Rollout view shows it: through layer `upto` (the last when
    /// `None` or beyond), and without the first token when `skip_first`.
    pub fn rollout(
        &self,
        upto: Option<usize>,
        skip_first: bool,
    ) -> Option<Arc<ndarray::Array2<f32>>> {
        let all = self.rollouts.as_ref()?;
        let layer = upto.unwrap_or(usize::MAX).min(all.len().checked_sub(1)?);
        let mut memo = self.rollout_shown.lock().ok()?;
        if let Some((key, m)) = memo.as_ref()
            && *key == (layer, skip_first)
        {
            return Some(Arc::clone(m));
        }
        let r = all.get(layer)?;
        let m = Arc::new(if skip_first {
            crate::model::stats::without_first_key(r)
        } else {
            r.clone()
        });
        *memo = Some(((layer, skip_first), Arc::clone(&m)));
        Some(m)
    }

    /// The undefined rows of one head, if it has any.
    pub fn nonfinite_rows(&self, layer: usize, head: usize) -> Option<&[usize]> {
        self.nonfinite
            .iter()
            .find(|h| h.layer == layer && h.head == head)
            .map(|h| h.rows.as_slice())
    }
}

/// The last few layers opened from long runs (recomputed traces), newest last.
#[derive(Default)]
pub struct OpenedLayers {
    items: std::collections::VecDeque<(TraceKey, Arc<Trace>)>,
}

impl OpenedLayers {
    /// How many opened layers are kept: each holds one head's n × n matrices.
    const KEEP: usize = 3;

    /// The trace opened for `key`, if kept.
    pub fn get(&self, key: &TraceKey) -> Option<Arc<Trace>> {
        self.items
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, t)| Arc::clone(t))
    }

    /// Keeps a newly opened trace (dropping the oldest beyond [`Self::KEEP`]).
    pub fn put(&mut self, key: TraceKey, trace: Arc<Trace>) {
        self.items.retain(|(k, _)| *k != key);
        self.items.push_back((key, trace));
        while self.items.len() > Self::KEEP {
            self.items.pop_front();
        }
    }

    /// Forgets everything (a new model).
    pub fn clear(&mut self) {
        self.items.clear();
    }
}

/// A run waiting for the user's go-ahead, with what it would cost.
#[derive(Clone, Debug, PartialEq)]
pub struct BigRun {
    /// (model generation, text).
    pub key: (u64, String),
    /// Tokens after truncation.
    pub tokens: usize,
    /// Estimated memory (bytes).
    pub bytes: u128,
    /// Estimated time (seconds) at the rate of the last run.
    pub secs: f64,
}

/// Runs that need a lot of memory or time wait until the user presses Run.
#[derive(Default)]
pub struct RunGate {
    /// The (model generation, text) the user allowed.
    pub allowed: Option<(u64, String)>,
    /// The run waiting, if one is.
    pub waiting: Option<BigRun>,
    /// Forward FLOP/s of the last run (for the time estimate).
    pub flops_per_sec: Option<f64>,
    /// A cancelled run: it waits for Run whatever its size.
    held: Option<(u64, String)>,
    /// Never ask (`--run-big`).
    pub always: bool,
}

impl RunGate {
    /// Runs estimated above this many bytes ask first.
    const ASK_BYTES: u128 = 1 << 30;
    /// Runs estimated above this many seconds ask first.
    const ASK_SECS: f64 = 5.0;
    /// The rate assumed before a run was measured (a 2-core laptop).
    const DEFAULT_FLOPS: f64 = 30e9;

    /// Keeps the run of `key` (just cancelled) waiting for Run.
    pub fn hold(&mut self, key: (u64, String)) {
        self.allowed = None;
        self.waiting = None;
        self.held = Some(key);
    }

    /// The user pressed Run on the waiting run.
    pub fn allow(&mut self) {
        if let Some(w) = self.waiting.take() {
            self.held = None;
            self.allowed = Some(w.key);
        }
    }

    /// Whether the run of `key` waits for Run: its estimate came back too big, or it was
    /// cancelled and held.
    pub fn waits(&self, key: &(u64, String)) -> bool {
        self.waiting.as_ref().is_some_and(|w| w.key == *key)
    }

    /// What the worker must check before running `key`: nothing when the user allowed it
    /// (or `--run-big`), else the thresholds, at the last measured rate, and whether it was
    /// held (cancelled runs ask whatever their size).
    pub fn check_for(&self, key: &(u64, String)) -> Option<GateCheck> {
        if self.allowed.as_ref() == Some(key) || self.always {
            return None;
        }
        Some(GateCheck {
            rate: self.flops_per_sec.unwrap_or(Self::DEFAULT_FLOPS),
            held: self.held.as_ref() == Some(key),
        })
    }
}

/// The go-ahead check a model run makes on the worker once it knows its token count.
#[derive(Clone, Copy, Debug)]
pub struct GateCheck {
    /// Forward FLOP/s assumed for the time estimate.
    rate: f64,
    /// A cancelled run: ask whatever the size.
    held: bool,
}

impl GateCheck {
    /// `Err(NeedsGoAhead)` with the estimate if a run of `n` tokens must ask first.
    fn check(&self, model: &Model, n: usize, full_limit: u64) -> Result<(), JobError> {
        let bytes = model.run_estimate(n, model.keeps_full_under(n, full_limit));
        let secs = model.config.forward_flops(n) / self.rate;
        if self.held || bytes > RunGate::ASK_BYTES || secs > RunGate::ASK_SECS {
            return Err(JobError::NeedsGoAhead {
                tokens: n,
                bytes,
                secs,
            });
        }
        Ok(())
    }
}

/// What the trace on screen was computed from.
#[derive(Clone, Debug, PartialEq)]
pub enum TraceKey {
    /// Toy embeddings or a typed matrix.
    Spec(Box<Spec>),
    /// A toy spec too big to keep every head's matrices: a lean trace with those of `head`.
    Lean {
        /// The spec.
        spec: Box<Spec>,
        /// The head whose matrices are kept.
        head: usize,
    },
    /// Layer `layer` of the model run of generation `run`.
    Layer {
        /// Run generation.
        run: u64,
        /// Layer.
        layer: usize,
        /// For a long run (no full matrices kept), the one head recomputed with its matrices.
        head: Option<usize>,
    },
}

/// What the lab's head was computed from: one head of one run, and the lab's mechanism.
#[derive(Clone, Debug, PartialEq)]
pub struct LabKey {
    run: u64,
    layer: usize,
    head: usize,
    spec: Spec,
}

/// The four kinds of background work, one slot each, so a slow model load never delays a
/// recompute.
pub struct Jobs {
    /// The trace on screen.
    pub trace: JobSlot<TraceKey, Arc<Trace>>,
    /// The lab's re-run head.
    pub lab: JobSlot<LabKey, Arc<Trace>>,
    /// Loading a model folder.
    pub load: JobSlot<PathBuf, Arc<LoadedModel>>,
    /// One forward pass (with statistics and rollout) per (model, text).
    pub run: JobSlot<(u64, String), Arc<ModelOutput>>,
    /// Model ▸ Models on this computer, per scan request.
    pub scan: JobSlot<u64, Arc<Vec<crate::model::discover::Found>>>,
}

impl Jobs {
    /// Starts the five worker threads.
    pub fn spawn() -> Self {
        Jobs {
            trace: JobSlot::spawn("compute"),
            lab: JobSlot::spawn("lab"),
            load: JobSlot::spawn("model-load"),
            run: JobSlot::spawn("model-run"),
            scan: JobSlot::spawn("model-scan"),
        }
    }

    /// Whether any job is running.
    pub fn busy(&self) -> bool {
        self.trace.pending() || self.lab.pending() || self.load.pending() || self.run.pending()
    }
}

impl AttnApp {
    /// The user pressed Run on the waiting big run: it starts with no further check.
    pub fn allow_big_run(&mut self) {
        self.run_gate.allow();
        self.jobs.run.forget();
    }

    /// Sends whatever the screen needs and is not computed yet to the job slots.
    pub(super) fn submit_jobs(&mut self, ctx: &egui::Context) {
        if self.state.embedding == EmbeddingMode::Model {
            self.submit_model_jobs(ctx);
        } else {
            let spec = self.state.to_spec();
            if self.lean_wanted(&spec) {
                self.submit_lean(ctx, spec);
            } else {
                self.jobs
                    .trace
                    .request(ctx, TraceKey::Spec(Box::new(spec.clone())), move || {
                        Ok(Arc::new(crate::core::compute(&spec)?))
                    });
            }
        }
        if self.busy() {
            ctx.request_repaint_after(Duration::from_millis(16));
        }
    }

    /// Whether `spec`'s full trace is over the lean threshold (asked once per spec).
    fn lean_wanted(&mut self, spec: &Spec) -> bool {
        if let Some((s, lean)) = &self.lean_for
            && s == spec
        {
            return *lean;
        }
        let lean = crate::core::pipeline::wants_lean(spec);
        self.lean_for = Some((spec.clone(), lean));
        lean
    }

    /// A lean toy trace with the focused head's matrices: computed once per spec, then
    /// refocused (one head reopened from its kept Q, K, V) when another head is focused.
    fn submit_lean(&mut self, ctx: &egui::Context, spec: Spec) {
        let heads = usize::try_from(spec.heads).unwrap_or(1).max(1);
        let head = self.state.head.min(heads - 1);
        let prev = self.trace.clone().filter(
            |_| matches!(&self.trace_key, Some(TraceKey::Lean { spec: s, .. }) if **s == spec),
        );
        let key = TraceKey::Lean {
            spec: Box::new(spec.clone()),
            head,
        };
        self.jobs.trace.request(ctx, key, move || {
            let backend = crate::core::Backend::best();
            let trace = match prev {
                Some(p) => crate::core::pipeline::refocus_lean(&spec, backend, &p, head)?,
                None => crate::core::pipeline::compute_lean(&spec, backend, &[head])?,
            };
            Ok(Arc::new(trace))
        });
    }

    fn submit_model_jobs(&mut self, ctx: &egui::Context) {
        // 1. load the remembered model folder (once; File ▸ Open model starts its own load)
        if let Some(dir) = self.state.model_dir.clone()
            && self.jobs.load.key().is_none()
        {
            self.start_model_load(ctx, dir);
        }
        let Some(loaded) = self.model.clone() else {
            return;
        };
        let loaded_for_open = Arc::clone(&loaded);
        if std::mem::take(&mut self.generate_on_load) {
            self.start_generation(ctx, usize::MAX);
            if let Some(step) = self.gen_step_on_load.take() {
                self.state.gen_step = step;
            }
        }
        self.whatif_when_done(ctx);
        // 2. one forward pass per (model, text)
        let text = self.state.text_q.clone();
        let print = self.timings.print;
        let key = (self.jobs.load.generation(), text.clone());
        let full_limit = self.state.full_capture_mib.saturating_mul(1 << 20);
        if self.jobs.run.key() != Some(&key) && self.run_gate.waits(&key) {
            // A run that needs a lot of memory or time waits for the user's go-ahead.
            return;
        }
        let gate = self.run_gate.check_for(&key);
        let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let progress = Arc::clone(&self.run_progress);
        progress.store(0, Ordering::Relaxed);
        let (cancel2, ctx2) = (Arc::clone(&cancel), ctx.clone());
        let rate = Arc::clone(&self.run_rate);
        let submitted = self.jobs.run.request(ctx, key, move || {
            let t0 = Instant::now();
            let (tokens, truncated_from) = loaded.model.tokens(&text)?;
            if let Some(g) = gate {
                g.check(&loaded.model, tokens.len(), full_limit)?;
            }
            let full = loaded.model.keeps_full_under(tokens.len(), full_limit);
            let report = |f: f32| {
                progress.store((f * 1000.0) as u32, Ordering::Relaxed);
                ctx2.request_repaint();
            };
            let mut run =
                loaded
                    .model
                    .run_tokens_with(tokens, full, Some(&cancel2), Some(&report))?;
            run.truncated_from = truncated_from;
            let t1 = Instant::now();
            let mut stats = head_stats(&run);
            if let Some(ind) = &loaded.induction {
                for s in &mut stats {
                    s.induction = ind.get([s.layer, s.head]).copied();
                }
            }
            let t2 = Instant::now();
            let rollouts = rollout_by_layer(&run);
            let flops = loaded.model.config.forward_flops(run.n());
            rate.store(
                (flops / (t1 - t0).as_secs_f64().max(1e-6) / 1e6) as u32,
                Ordering::Relaxed,
            );
            let nonfinite = run.nonfinite_heads();
            if print {
                eprintln!(
                    "timing: model forward {:.1} ms, head statistics {:.1} ms, rollout {:.1} ms ({} tokens)",
                    (t1 - t0).as_secs_f64() * 1e3,
                    (t2 - t1).as_secs_f64() * 1e3,
                    t2.elapsed().as_secs_f64() * 1e3,
                    run.n()
                );
            }
            Ok(Arc::new(ModelOutput {
                run,
                stats,
                rollouts,
                nonfinite,
                rollout_shown: Default::default(),
            }))
        });
        if submitted {
            self.run_cancel = cancel;
        }
        let Some(out) = self.model_out.clone() else {
            return;
        };
        let run = self.jobs.run.generation();
        let layer = self.state.layer.min(out.run.layers.len().saturating_sub(1));
        let head = self.state.head.min(out.run.heads.saturating_sub(1));
        // 3. the focused layer as a trace; a long run recomputes it (with the focused head's
        //    matrices) from the hidden state it kept, and keeps the last few opened.
        let for_layer = Arc::clone(&out);
        let key = TraceKey::Layer {
            run,
            layer,
            head: (!out.run.full).then_some(head),
        };
        if let Some(t) = self.opened.get(&key) {
            if self.trace_key.as_ref() != Some(&key) {
                self.jobs.trace.forget();
                self.trace = Some(t);
                self.trace_key = Some(key);
                self.trace_serial += 1;
            }
        } else {
            self.jobs.trace.request(ctx, key, move || {
                let trace = if for_layer.run.full {
                    for_layer.run.layer_trace(layer)
                } else {
                    let opened =
                        loaded_for_open
                            .model
                            .open_layer(&for_layer.run, layer, &[head])?;
                    for_layer.run.trace_of(layer, opened)
                };
                Ok(Arc::new(trace.ok_or(JobError::Missing("the layer"))?))
            });
        }
        // 4. the lab: only the focused head, and only while the lab is on screen
        if self.state.view == View::Lab {
            let spec = self.state.lab_spec(out.run.head_dim, out.run.n());
            let key = LabKey {
                run,
                layer,
                head,
                spec: spec.clone(),
            };
            // The head's real Q, K, V and input come from the layer trace on screen (a long
            // run has them only there, recomputed).
            let Some(trace) = self.trace.clone().filter(|_| {
                matches!(self.trace_key, Some(TraceKey::Layer { run: r, layer: l, .. }) if r == run && l == layer)
            }) else {
                return;
            };
            self.jobs.lab.request(ctx, key, move || {
                let run = &out.run;
                let h = trace
                    .head_traces
                    .get(head)
                    .filter(|h| h.q.nrows() == run.n())
                    .ok_or(JobError::Missing("the head"))?;
                let tokens = run.labels();
                let mut real = run.mechanism.clone();
                if let crate::core::Source::Model { layer: slot, .. } = &mut real.source {
                    *slot = layer;
                }
                let input = LabHead {
                    tokens: &tokens,
                    x: trace.x_q.view(),
                    q: h.q.view(),
                    k: h.k.view(),
                    v: h.v.view(),
                    keys: None,
                    head,
                    heads: run.heads,
                    real: &real,
                };
                Ok(Arc::new(lab_trace(input, &spec, Backend::best())?))
            });
        }
    }

    /// Loads a model folder in the background; the current model stays until it succeeds.
    pub(super) fn start_model_load(&mut self, ctx: &egui::Context, dir: PathBuf) {
        let progress = Arc::clone(&self.load_progress);
        progress.store(0, Ordering::Relaxed);
        let ctx2 = ctx.clone();
        self.jobs.load.submit(ctx, dir.clone(), move || {
            let report = |f: f32| {
                progress.store((f * 1000.0) as u32, Ordering::Relaxed);
                ctx2.request_repaint();
            };
            let model = Model::load_with_progress(&dir, &report)?;
            let induction = induction_scores(&model, 24, 1).ok();
            Ok(Arc::new(LoadedModel { model, induction }))
        });
    }

    /// Scans this computer for models (again, when `rescan`), off the UI thread.
    pub(super) fn scan_models(&mut self, ctx: &egui::Context, rescan: bool) {
        if self.jobs.scan.key().is_some() && !rescan {
            return;
        }
        let generation = self.jobs.scan.started() + 1;
        let roots = crate::model::discover::Roots::usual(&self.state.model_folders);
        self.jobs.scan.submit(ctx, generation, move || {
            Ok(Arc::new(crate::model::discover::scan(&roots)))
        });
    }

    /// Keeps the query row inside an input of `n` rows: a row past its end is remembered and
    /// comes back when an input has it again (typing a new text passes through short ones;
    /// q58 became q3 and stayed so).
    fn fit_row(&mut self, n: usize) {
        let want = self.row_wanted.unwrap_or(self.state.row);
        if n > want {
            self.state.row = want;
            self.row_wanted = None;
        } else {
            self.row_wanted = Some(want);
            self.state.row = n.saturating_sub(1);
        }
    }

    /// Takes in whatever results have arrived.
    pub(super) fn poll_jobs(&mut self) {
        if let Some(done) = self.jobs.scan.poll()
            && let Ok(found) = done.result
        {
            self.found_models = Some(found);
        }
        if let Some(done) = self.jobs.load.poll() {
            self.timings
                .report(|| format!("model load {:.1} ms", done.elapsed.as_secs_f64() * 1e3));
            match done.result {
                Ok(m) => {
                    self.model_error = None;
                    let name = m.model.name.clone();
                    let (layers, heads) = (m.model.config.layers(), m.model.config.heads());
                    self.state.remember_model(m.model.dir.clone());
                    self.state.lab_from(&m.model.mechanism());
                    self.causal_fresh = m.model.mechanism().causal;
                    // Heads knocked out in another model are not this one's: kept only from
                    // the command line or a session, for the model they came with.
                    if self
                        .model
                        .as_ref()
                        .is_some_and(|old| old.model.dir != m.model.dir)
                    {
                        self.state.gen_knock.clear();
                        self.state.gen_blocked.clear();
                        // The last model's zoom (4.76 on a 28-token input) is not this one's.
                        self.state.heat_zoom = 1.0;
                    }
                    self.model = Some(m);
                    self.model_out = None;
                    self.opened.clear();
                    if let Some(g) = self.generation.take() {
                        g.cancel.store(true, Ordering::Relaxed);
                    }
                    self.lab_trace = None;
                    let left_out = self.state.fit_knockout(layers, heads);
                    if left_out.is_empty() {
                        self.info_done(Msg::Opened, name);
                    } else {
                        // Heads asked for (--ablate, a session) that this model does not have.
                        self.info(move |lang| {
                            let why = trf(lang, Msg::KnockLeftOut, &[&layers, &heads, &left_out]);
                            super::commands::opened_and(lang, &name, &why)
                        });
                    }
                }
                Err(e) => {
                    let error = e.clone();
                    self.fail(move |lang| {
                        let why = super::errors::job_text(lang, &error);
                        format!("{} {why}", tr(lang, Msg::OpenFailed))
                    });
                    self.model_error = Some(e);
                    // With no model to fall back on, the toy sentence comes back rather
                    // than empty model panels; the status bar keeps the reason.
                    if self.model.is_none() && self.state.embedding == EmbeddingMode::Model {
                        self.state.embedding = EmbeddingMode::Toy;
                        self.state.restore_toy();
                        let model_only = super::views::VIEWS
                            .iter()
                            .any(|d| d.view == self.state.view && d.model_only);
                        if model_only {
                            self.state.view = View::Heatmap;
                        }
                    }
                }
            }
        }
        if let Some(done) = self.jobs.run.poll() {
            self.model_run_ms = done.elapsed.as_secs_f64() * 1e3;
            self.timings.report(|| {
                format!(
                    "model job (forward, statistics, rollout) {:.1} ms",
                    done.elapsed.as_secs_f64() * 1e3
                )
            });
            match done.result {
                Ok(out) => {
                    self.model_error = None;
                    let mflops = self.run_rate.load(Ordering::Relaxed);
                    if mflops > 0 {
                        self.run_gate.flops_per_sec = Some(f64::from(mflops) * 1e6);
                    }
                    let n = out.run.n();
                    self.fit_row(n);
                    // A causal model's first query sees only itself (softmax [1], angle 0):
                    // a freshly opened one starts on its last query, which sees every token.
                    if std::mem::take(&mut self.causal_fresh) && self.state.row == 0 {
                        self.state.row = n.saturating_sub(1);
                    }
                    self.state.col = self.state.col.min(n.saturating_sub(1));
                    // A layer or head asked for from outside (--layer, --head, a session)
                    // that this model does not have: the last one, and say so.
                    let (layers, heads) = (out.run.layers.len(), out.run.heads);
                    let asked = (self.state.layer, self.state.head);
                    if layers > 0 && heads > 0 && (asked.0 >= layers || asked.1 >= heads) {
                        self.state.layer = asked.0.min(layers - 1);
                        self.state.head = asked.1.min(heads - 1);
                        let shown = (self.state.layer, self.state.head);
                        self.info(move |lang| {
                            trf(
                                lang,
                                Msg::FocusNotInModel,
                                &[&asked.0, &asked.1, &layers, &heads, &shown.0, &shown.1],
                            )
                        });
                    }
                    self.model_out = Some(out);
                }
                Err(JobError::NeedsGoAhead {
                    tokens,
                    bytes,
                    secs,
                }) => {
                    // Nothing ran: the estimate waits on screen for Run (the slot keeps the
                    // key, so the same text does not start again by itself).
                    if let Some(key) = self.jobs.run.key().cloned() {
                        self.run_gate.waiting = Some(BigRun {
                            key,
                            tokens,
                            bytes,
                            secs,
                        });
                    }
                }
                Err(e) => {
                    if let JobError::Model(m) = &e
                        && matches!(**m, crate::model::ModelError::Cancelled)
                        && let Some(key) = self.jobs.run.key().cloned()
                    {
                        // Cancelled: the same text runs again only when the user says so.
                        self.jobs.run.forget();
                        self.run_gate.hold(key);
                    }
                    self.model_error = Some(e);
                }
            }
        }
        if let Some(done) = self.jobs.trace.poll() {
            self.last_compute_ms = done.elapsed.as_secs_f64() * 1e3;
            match done.result {
                Ok(trace) => {
                    self.timings.report(|| {
                        format!(
                            "recompute {:.2} ms for {} tokens × {} heads",
                            self.last_compute_ms,
                            trace.n_q(),
                            trace.heads
                        )
                    });
                    self.state.head = self.state.head.min(trace.heads.saturating_sub(1));
                    self.fit_row(trace.n_q());
                    self.state.col = self.state.col.min(trace.n_k().saturating_sub(1));
                    // A row or head from the command line that this input does not have:
                    // say what is shown instead (once, for the first trace).
                    if let Some((row, head)) = self.focus_asked.take()
                        && self.state.embedding != EmbeddingMode::Model
                        && (row, head) != (self.state.row, self.state.head)
                    {
                        let (n, heads) = (trace.n_q(), trace.heads);
                        let shown = (self.state.row, self.state.head);
                        self.info(move |lang| {
                            trf(
                                lang,
                                Msg::FocusNotInInput,
                                &[&row, &head, &n, &heads, &shown.0, &shown.1],
                            )
                        });
                    }
                    let key = self.jobs.trace.key().cloned();
                    if let Some(k @ TraceKey::Layer { head: Some(_), .. }) = &key {
                        self.opened.put(k.clone(), Arc::clone(&trace));
                    }
                    self.trace = Some(trace);
                    self.trace_key = key;
                    self.trace_serial += 1;
                    self.error = None;
                }
                Err(e) => {
                    if matches!(e, JobError::Core(crate::core::CoreError::EmptySequence(_))) {
                        // Nothing to show: the sentence before it was on screen under "Type a
                        // sentence to begin", and File ▸ Export wrote it.
                        self.trace = None;
                        self.trace_key = None;
                        self.trace_serial += 1;
                    }
                    self.error = Some(e);
                }
            }
        }
        if let Some(done) = self.jobs.lab.poll() {
            match done.result {
                Ok(t) => {
                    self.lab_trace = Some(t);
                    self.lab_error = None;
                }
                Err(e) => {
                    self.lab_trace = None;
                    self.lab_error = Some(e);
                }
            }
        }
    }
}
