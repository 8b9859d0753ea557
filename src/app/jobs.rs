//! Background jobs: one [`JobSlot`] per kind of work (a trace, the lab's head, a model load,
//! a model run). The UI asks a slot for the result of a key; the slot runs the job on its
//! thread unless that key was already asked for, only the newest request counts (queued older
//! ones are skipped, stale results dropped), and the result comes back typed.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use eframe::egui;

use crate::core::CoreError;
use crate::model::ModelError;

/// Why a background job failed; shown where the result would have been.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JobError {
    /// The attention core refused the input.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A model could not be loaded or run.
    #[error(transparent)]
    Model(Arc<ModelError>),
    /// What the job needed is gone (a layer or head that no longer exists).
    #[error("{0} does not exist")]
    Missing(&'static str),
    /// A model run that needs a lot of memory or time: it waits for the user's go-ahead
    /// (estimated on the worker after tokenizing, so typing never tokenizes on the UI thread).
    #[error("the run needs a go-ahead: {tokens} tokens")]
    NeedsGoAhead {
        /// Tokens after truncation.
        tokens: usize,
        /// Estimated memory (bytes).
        bytes: u128,
        /// Estimated time (seconds).
        secs: f64,
    },
    /// The job panicked: a bug, reported instead of taking the app down.
    #[error("internal error while computing (please report it)")]
    Panicked,
    /// The OS would not start the job's thread (out of threads or memory).
    #[error("the OS refused to start a worker thread: {0}")]
    NoThread(Arc<std::io::Error>),
}

impl From<ModelError> for JobError {
    fn from(e: ModelError) -> Self {
        JobError::Model(Arc::new(e))
    }
}

/// A finished job.
pub struct Done<T> {
    /// The result.
    pub result: Result<T, JobError>,
    /// Wall time on the worker.
    pub elapsed: Duration,
}

type JobFn<T> = Box<dyn FnOnce() -> Result<T, JobError> + Send>;

struct Job<T> {
    id: u64,
    run: JobFn<T>,
    ctx: egui::Context,
}

/// One worker thread, the key of the newest request, and how many results have landed.
pub struct JobSlot<K, T> {
    tx: Sender<Job<T>>,
    rx: Receiver<(u64, Done<T>)>,
    next_id: u64,
    waiting_for: Option<u64>,
    key: Option<K>,
    landed: u64,
}

impl<K: PartialEq, T: Send + 'static> JobSlot<K, T> {
    /// Starts the slot's worker thread.
    pub fn spawn(name: &str) -> Self {
        let (tx, job_rx) = channel::<Job<T>>();
        let (done_tx, rx) = channel();
        std::thread::Builder::new()
            .name(format!("attnscope-{name}"))
            .spawn(move || {
                while let Ok(mut job) = job_rx.recv() {
                    // Skip to the newest request: intermediate keystrokes are stale.
                    while let Ok(newer) = job_rx.try_recv() {
                        job = newer;
                    }
                    let start = Instant::now();
                    let run = job.run;
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
                        .unwrap_or(Err(JobError::Panicked));
                    let done = Done {
                        result,
                        elapsed: start.elapsed(),
                    };
                    if done_tx.send((job.id, done)).is_err() {
                        break;
                    }
                    job.ctx.request_repaint();
                }
            })
            .expect("the OS refused to start a worker thread");
        JobSlot {
            tx,
            rx,
            next_id: 0,
            waiting_for: None,
            key: None,
            landed: 0,
        }
    }

    /// Runs `job` for `key` unless `key` is what was asked for last. Returns whether it ran.
    pub fn request(
        &mut self,
        ctx: &egui::Context,
        key: K,
        job: impl FnOnce() -> Result<T, JobError> + Send + 'static,
    ) -> bool {
        if self.key.as_ref() == Some(&key) {
            return false;
        }
        self.submit(ctx, key, job);
        true
    }

    /// Runs `job` for `key` even if the same key was asked for before (File ▸ Open again).
    pub fn submit(
        &mut self,
        ctx: &egui::Context,
        key: K,
        job: impl FnOnce() -> Result<T, JobError> + Send + 'static,
    ) {
        self.next_id += 1;
        self.waiting_for = Some(self.next_id);
        self.key = Some(key);
        // The worker lives as long as the slot; a send can only fail if it died, and then the
        // request simply stays pending.
        let _ = self.tx.send(Job {
            id: self.next_id,
            run: Box::new(job),
            ctx: ctx.clone(),
        });
    }

    /// The key of the newest request.
    pub fn key(&self) -> Option<&K> {
        self.key.as_ref()
    }

    /// Forgets the newest request's key, so the next [`JobSlot::request`] runs whatever it is.
    pub fn forget(&mut self) {
        self.key = None;
        self.waiting_for = None;
    }

    /// Whether the newest request is still running.
    pub fn pending(&self) -> bool {
        self.waiting_for.is_some()
    }

    /// How many requests this slot has run (for tests: one forward pass per input).
    pub fn started(&self) -> u64 {
        self.next_id
    }

    /// How many successful results have landed; textures are keyed by it.
    pub fn generation(&self) -> u64 {
        self.landed
    }

    /// The newest request's result, if it arrived (older ones are dropped).
    pub fn poll(&mut self) -> Option<Done<T>> {
        let mut newest = None;
        while let Ok((id, done)) = self.rx.try_recv() {
            if Some(id) == self.waiting_for {
                self.waiting_for = None;
                if done.result.is_ok() {
                    self.landed += 1;
                }
                newest = Some(done);
            }
        }
        newest
    }
}
