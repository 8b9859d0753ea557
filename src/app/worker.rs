//! The background computation: the UI sends specs, a worker thread computes traces and wakes
//! the UI. Only the newest request matters, so queued older ones are skipped.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use eframe::egui;

use crate::core::{Spec, Trace, compute};

/// A finished computation.
pub struct Done {
    /// The trace, or the one-line reason it failed.
    pub result: Result<Arc<Trace>, String>,
    /// Wall time on the worker.
    pub elapsed: Duration,
}

struct Job {
    id: u64,
    spec: Spec,
    ctx: egui::Context,
}

/// Handle to the worker thread.
pub struct Worker {
    tx: Sender<Job>,
    rx: Receiver<(u64, Done)>,
    next_id: u64,
    waiting_for: Option<u64>,
}

impl Worker {
    /// Starts the worker thread.
    pub fn spawn() -> Self {
        let (tx, job_rx) = channel::<Job>();
        let (done_tx, rx) = channel();
        std::thread::Builder::new()
            .name("attnscope-compute".into())
            .spawn(move || {
                while let Ok(mut job) = job_rx.recv() {
                    // Skip to the newest request: intermediate keystrokes are stale.
                    while let Ok(newer) = job_rx.try_recv() {
                        job = newer;
                    }
                    let start = Instant::now();
                    let result = std::panic::catch_unwind(|| compute(&job.spec))
                        .map_err(|_| "internal error while computing (please report it)".to_owned())
                        .and_then(|r| r.map(Arc::new).map_err(|e| e.to_string()));
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
            .expect("cannot start the compute thread");
        Worker {
            tx,
            rx,
            next_id: 0,
            waiting_for: None,
        }
    }

    /// Queues a computation; its result replaces any older one.
    pub fn submit(&mut self, spec: Spec, ctx: egui::Context) {
        self.next_id += 1;
        self.waiting_for = Some(self.next_id);
        // A send error means the worker died; `poll` reports it as pending forever, so
        // surface it right away instead.
        let _ = self.tx.send(Job {
            id: self.next_id,
            spec,
            ctx,
        });
    }

    /// Whether the newest request is still running.
    pub fn pending(&self) -> bool {
        self.waiting_for.is_some()
    }

    /// The newest finished result, if it arrived (older ones are dropped).
    pub fn poll(&mut self) -> Option<Done> {
        let mut newest = None;
        while let Ok((id, done)) = self.rx.try_recv() {
            if Some(id) == self.waiting_for {
                self.waiting_for = None;
                newest = Some(done);
            }
        }
        newest
    }
}
