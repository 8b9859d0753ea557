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
use super::i18n::Msg;
use super::jobs::{JobError, JobSlot};
use super::state::{EmbeddingMode, View};
use crate::core::lab::{LabHead, lab_trace};
use crate::core::{Backend, Spec, Trace};
use crate::model::stats::{HeadStat, head_stats, induction_scores, rollout};
use crate::model::{Model, ModelRun, NonFiniteHead};

/// A model with the numbers computed once per load.
pub struct LoadedModel {
    /// The model.
    pub model: Model,
    /// Induction scores, layers × heads (None if the model has too few positions).
    pub induction: Option<ndarray::Array2<f32>>,
}

/// A model run with its statistics and rollout.
pub struct ModelOutput {
    /// Captures of every layer.
    pub run: ModelRun,
    /// Per-head statistics (induction filled in from the model).
    pub stats: Vec<HeadStat>,
    /// Attention rollout (n × n).
    pub rollout: ndarray::Array2<f32>,
    /// Heads whose attention is undefined (NaN/Inf) on some rows: the views mark them, since
    /// the kernels show such rows as zeros.
    pub nonfinite: Vec<NonFiniteHead>,
}

impl ModelOutput {
    /// The undefined rows of one head, if it has any.
    pub fn nonfinite_rows(&self, layer: usize, head: usize) -> Option<&[usize]> {
        self.nonfinite
            .iter()
            .find(|h| h.layer == layer && h.head == head)
            .map(|h| h.rows.as_slice())
    }
}

/// What the trace on screen was computed from.
#[derive(Clone, Debug, PartialEq)]
pub enum TraceKey {
    /// Toy embeddings or a typed matrix.
    Spec(Box<Spec>),
    /// Layer `layer` of the model run of generation `run`.
    Layer {
        /// Run generation.
        run: u64,
        /// Layer.
        layer: usize,
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
    /// Sends whatever the screen needs and is not computed yet to the job slots.
    pub(super) fn submit_jobs(&mut self, ctx: &egui::Context) {
        if self.state.embedding == EmbeddingMode::Model {
            self.submit_model_jobs(ctx);
        } else {
            let spec = self.state.to_spec();
            self.jobs
                .trace
                .request(ctx, TraceKey::Spec(Box::new(spec.clone())), move || {
                    Ok(Arc::new(crate::core::compute(&spec)?))
                });
        }
        if self.busy() {
            ctx.request_repaint_after(Duration::from_millis(16));
        }
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
        // 2. one forward pass per (model, text)
        let text = self.state.text_q.clone();
        let print = self.timings.print;
        let key = (self.jobs.load.generation(), text.clone());
        self.jobs.run.request(ctx, key, move || {
            let t0 = Instant::now();
            let run = loaded.model.run(&text)?;
            let t1 = Instant::now();
            let mut stats = head_stats(&run);
            if let Some(ind) = &loaded.induction {
                for s in &mut stats {
                    s.induction = ind.get([s.layer, s.head]).copied();
                }
            }
            let t2 = Instant::now();
            let rollout = rollout(&run);
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
                rollout,
                nonfinite,
            }))
        });
        let Some(out) = self.model_out.clone() else {
            return;
        };
        let run = self.jobs.run.generation();
        let layer = self.state.layer.min(out.run.layers.len().saturating_sub(1));
        let head = self.state.head.min(out.run.heads.saturating_sub(1));
        // 3. the focused layer as a trace
        let for_layer = Arc::clone(&out);
        self.jobs
            .trace
            .request(ctx, TraceKey::Layer { run, layer }, move || {
                let trace = for_layer
                    .run
                    .layer_trace(layer)
                    .ok_or(JobError::Missing("the layer"))?;
                Ok(Arc::new(trace))
            });
        // 4. the lab: only the focused head, and only while the lab is on screen
        if self.state.view == View::Lab {
            let spec = self.state.lab_spec(out.run.head_dim, out.run.n());
            let key = LabKey {
                run,
                layer,
                head,
                spec: spec.clone(),
            };
            self.jobs.lab.request(ctx, key, move || {
                let run = &out.run;
                let l = run
                    .layers
                    .get(layer)
                    .ok_or(JobError::Missing("the layer"))?;
                let h = l.heads.get(head).ok_or(JobError::Missing("the head"))?;
                let tokens = run.labels();
                let mut real = run.mechanism.clone();
                if let crate::core::Source::Model { layer: slot, .. } = &mut real.source {
                    *slot = layer;
                }
                let input = LabHead {
                    tokens: &tokens,
                    x: l.input.view(),
                    q: h.q.view(),
                    k: h.k.view(),
                    v: h.v.view(),
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
                    self.state.remember_model(m.model.dir.clone());
                    self.model = Some(m);
                    self.model_out = None;
                    self.lab_trace = None;
                    self.info(format!("{} {name}", self.t(Msg::Opened)));
                }
                Err(e) => {
                    self.fail(format!("{} {e}", self.t(Msg::OpenFailed)));
                    self.model_error = Some(e);
                }
            }
        }
        if let Some(done) = self.jobs.run.poll() {
            self.timings.report(|| {
                format!(
                    "model job (forward, statistics, rollout) {:.1} ms",
                    done.elapsed.as_secs_f64() * 1e3
                )
            });
            match done.result {
                Ok(out) => {
                    self.model_error = None;
                    let n = out.run.n();
                    self.state.row = self.state.row.min(n.saturating_sub(1));
                    self.state.col = self.state.col.min(n.saturating_sub(1));
                    self.state.layer = self.state.layer.min(out.run.layers.len().saturating_sub(1));
                    self.model_out = Some(out);
                }
                Err(e) => self.model_error = Some(e),
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
                    self.state.row = self.state.row.min(trace.n_q().saturating_sub(1));
                    self.state.col = self.state.col.min(trace.n_k().saturating_sub(1));
                    self.trace = Some(trace);
                    self.error = None;
                }
                Err(e) => self.error = Some(e),
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
