//! Background jobs: the UI submits closures, a worker thread runs them and wakes the UI.
//! Only the newest request of a worker matters, so queued older ones are skipped. The app
//! keeps one worker per kind of job (traces, model loading, model runs), so a slow model
//! load never delays a recompute.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use eframe::egui;

/// A finished job.
pub struct Done<T> {
    /// The result, or the one-line reason it failed.
    pub result: Result<T, String>,
    /// Wall time on the worker.
    pub elapsed: Duration,
}

type JobFn<T> = Box<dyn FnOnce() -> Result<T, String> + Send>;

struct Job<T> {
    id: u64,
    run: JobFn<T>,
    ctx: egui::Context,
}

/// Handle to one worker thread.
pub struct Worker<T> {
    tx: Sender<Job<T>>,
    rx: Receiver<(u64, Done<T>)>,
    next_id: u64,
    waiting_for: Option<u64>,
}

impl<T: Send + 'static> Worker<T> {
    /// Starts the worker thread.
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
                        .unwrap_or_else(|_| {
                            Err("internal error while computing (please report it)".to_owned())
                        });
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
            .expect("cannot start a worker thread");
        Worker {
            tx,
            rx,
            next_id: 0,
            waiting_for: None,
        }
    }

    /// Queues a job; its result replaces any older one.
    pub fn submit(
        &mut self,
        ctx: &egui::Context,
        run: impl FnOnce() -> Result<T, String> + Send + 'static,
    ) {
        self.next_id += 1;
        self.waiting_for = Some(self.next_id);
        let _ = self.tx.send(Job {
            id: self.next_id,
            run: Box::new(run),
            ctx: ctx.clone(),
        });
    }

    /// Whether the newest request is still running.
    pub fn pending(&self) -> bool {
        self.waiting_for.is_some()
    }

    /// The newest finished result, if it arrived (older ones are dropped).
    pub fn poll(&mut self) -> Option<Done<T>> {
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
