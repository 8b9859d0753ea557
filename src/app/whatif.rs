//! What-if work for one step of a generation, on worker threads: the clean run of the tokens
//! before that step (computed once, shared by the guess, the knock-outs and the importance
//! table), the next-token distribution with heads knocked out or edges blocked, and the
//! head-importance table with its progress.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use eframe::egui;

use crate::model::ablate::{Ablation, AblationBase, HeadEffect, Knockout};

use super::AttnApp;
use super::jobs::JobError;
use super::work::LoadedModel;

/// A result that may still be computing: `None` while running.
pub type Slot<T> = Mutex<Option<Result<T, JobError>>>;

/// What-if state of one step.
pub struct WhatIf {
    /// Generation session the step belongs to.
    pub session: u64,
    /// The step (0 = the first generated token).
    pub step: usize,
    /// The token the model chose at this step.
    pub target: u32,
    /// The tokens before it (prompt + earlier generated tokens).
    pub ids: Vec<u32>,
    /// How many of them are the prompt.
    pub prompt_len: usize,
    base: OnceLock<Result<Arc<AblationBase>, JobError>>,
    /// The last knock-out comparison: the ablation and its next-token log-probabilities.
    pub compare: Slot<(Ablation, Vec<f32>)>,
    /// The head-importance table and the mode it was computed with.
    pub importance: Slot<(Knockout, Vec<HeadEffect>)>,
    /// Heads done of the importance table, in thousandths.
    pub progress: AtomicU32,
    /// Jobs running: the clean run (a guess), the comparison, the importance table.
    pub busy: [AtomicBool; 3],
    /// Set to stop the importance table.
    pub cancel: AtomicBool,
}

impl WhatIf {
    /// Says `error` where job `kind`'s result would have been (0 the clean run, 1 the
    /// comparison, 2 the importance table), so nothing waits for it.
    fn fail(&self, kind: usize, error: JobError) {
        match kind {
            0 => {
                let _ = self.base.set(Err(error));
            }
            1 => set(&self.compare, Some(Err(error))),
            _ => set(&self.importance, Some(Err(error))),
        }
    }

    /// The clean distribution, once its run has landed.
    pub fn base(&self) -> Option<&Result<Arc<AblationBase>, JobError>> {
        self.base.get()
    }

    fn ensure_base(&self, loaded: &LoadedModel) -> Result<Arc<AblationBase>, JobError> {
        self.base
            .get_or_init(|| {
                loaded
                    .model
                    .ablation_base(&self.ids, self.prompt_len, Some(&self.cancel))
                    .map(Arc::new)
                    .map_err(JobError::from)
            })
            .clone()
    }
}

/// What a what-if job computes.
pub enum WhatIfJob {
    /// Only the clean distribution (a guess needs its rank and probability).
    Base,
    /// The distribution with this ablation.
    Compare(Ablation),
    /// The head-importance table.
    Importance(Knockout),
}

impl WhatIfJob {
    /// Its place in [`WhatIf::busy`].
    pub fn index(&self) -> usize {
        match self {
            WhatIfJob::Base => 0,
            WhatIfJob::Compare(_) => 1,
            WhatIfJob::Importance(_) => 2,
        }
    }
}

impl AttnApp {
    /// The what-if state of step `step` of the generation on screen, made fresh when the
    /// step or the generation changed; `None` before the step has landed.
    pub fn whatif_for(&mut self, step: usize) -> Option<Arc<WhatIf>> {
        let g = self.generation.clone()?;
        if let Some(w) = &self.whatif
            && w.session == g.serial
            && w.step == step
        {
            return Some(Arc::clone(w));
        }
        let steps = g.steps.lock().ok()?;
        let target = steps.get(step)?.id;
        let ids: Vec<u32> = g
            .prompt_ids
            .iter()
            .copied()
            .chain(steps.iter().take(step).map(|s| s.id))
            .collect();
        drop(steps);
        if let Some(old) = &self.whatif {
            old.cancel.store(true, Ordering::Relaxed);
        }
        let w = Arc::new(WhatIf {
            session: g.serial,
            step,
            target,
            prompt_len: g.prompt_ids.len(),
            ids,
            base: OnceLock::new(),
            compare: Mutex::new(None),
            importance: Mutex::new(None),
            progress: AtomicU32::new(0),
            busy: Default::default(),
            cancel: AtomicBool::new(false),
        });
        self.whatif = Some(Arc::clone(&w));
        Some(w)
    }

    /// `--whatif`: once the generation is done, the shown step re-run with the picked heads
    /// knocked out, and the head-importance table.
    pub(super) fn whatif_when_done(&mut self, ctx: &egui::Context) {
        let Some(g) = self.generation.clone() else {
            return;
        };
        if !self.whatif_on_done || !g.done.load(Ordering::Relaxed) {
            return;
        }
        self.whatif_on_done = false;
        let shown = g
            .len()
            .checked_sub(1)
            .map(|last| self.state.gen_step.min(last));
        let Some(w) = shown.and_then(|s| self.whatif_for(s)) else {
            return;
        };
        let ablation = Ablation::heads(self.state.gen_knock.clone(), self.state.gen_knock_mode);
        if !ablation.is_empty() {
            self.start_whatif(ctx, Arc::clone(&w), WhatIfJob::Compare(ablation));
        }
        self.start_whatif(ctx, w, WhatIfJob::Importance(self.state.gen_knock_mode));
    }

    /// Runs a what-if job for the step on a worker thread.
    pub fn start_whatif(&mut self, ctx: &egui::Context, w: Arc<WhatIf>, job: WhatIfJob) {
        let Some(loaded) = self.model.clone() else {
            return;
        };
        match &job {
            WhatIfJob::Compare(_) => set(&w.compare, None),
            WhatIfJob::Importance(_) => {
                w.progress.store(0, Ordering::Relaxed);
                set(&w.importance, None);
            }
            WhatIfJob::Base => {}
        }
        let kind = job.index();
        w.busy[kind].store(true, Ordering::Relaxed);
        let ctx = ctx.clone();
        let slots = Arc::clone(&w);
        let spawned = std::thread::Builder::new()
            .name("attnscope-whatif".into())
            .spawn(move || {
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run(&loaded, &w, job)
                }));
                // A bug in the job: said where its result would have been (an unfinished
                // base would leave a guess waiting for ever).
                if out.is_err() {
                    w.fail(kind, JobError::Panicked);
                }
                w.busy[kind].store(false, Ordering::Relaxed);
                ctx.request_repaint();
            });
        if let Err(e) = spawned {
            slots.fail(kind, JobError::NoThread(Arc::new(e)));
            slots.busy[kind].store(false, Ordering::Relaxed);
        }
    }
}

fn set<T>(slot: &Slot<T>, value: Option<Result<T, JobError>>) {
    if let Ok(mut s) = slot.lock() {
        *s = value;
    }
}

fn run(loaded: &LoadedModel, w: &WhatIf, job: WhatIfJob) {
    let model = &loaded.model;
    let base = w.ensure_base(loaded);
    match job {
        WhatIfJob::Base => {}
        WhatIfJob::Compare(ab) => {
            let out = base.and_then(|b| {
                model
                    .ablated_logprobs(&b, &ab)
                    .map(|lp| (ab, lp))
                    .map_err(JobError::from)
            });
            set(&w.compare, Some(out));
        }
        WhatIfJob::Importance(mode) => {
            let progress = |f: f32| w.progress.store((f * 1000.0) as u32, Ordering::Relaxed);
            let out = base.and_then(|b| {
                model
                    .head_importance(&b, w.target, mode, Some(&w.cancel), Some(&progress))
                    .map(|t| (mode, t))
                    .map_err(JobError::from)
            });
            set(&w.importance, Some(out));
        }
    }
}
