//! The window's own screenshot (File ▸ Save window screenshot, and `--screenshot` runs that
//! regenerate the README's pictures), and the frame timings `ATTNSCOPE_TIMINGS` prints.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use eframe::egui;

use super::AttnApp;
use super::i18n::Msg;
use crate::export::write_atomic;

/// Timings shown in the status bar (and printed with `ATTNSCOPE_TIMINGS`).
#[derive(Debug)]
pub struct Timings {
    /// Process start (for start-up to first frame).
    pub start: Instant,
    /// Start-up to first frame, once drawn.
    pub first_frame: Option<Duration>,
    /// CPU time of the last frame.
    pub frame_cpu: Duration,
    /// Frame CPU times once a trace is on screen.
    pub samples: Vec<Duration>,
    /// Print timings on stderr.
    pub print: bool,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            start: Instant::now(),
            first_frame: None,
            frame_cpu: Duration::ZERO,
            samples: Vec::new(),
            print: false,
        }
    }
}

impl Timings {
    /// Prints a timing line when timings are on.
    pub fn report(&self, line: impl FnOnce() -> String) {
        if self.print {
            eprintln!("timing: {}", line());
        }
    }

    /// The first, median and largest frame CPU time with a trace on screen.
    fn frame_summary(&self) -> Option<String> {
        let mut v: Vec<f64> = self.samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        let first = *v.first()?;
        v.sort_by(f64::total_cmp);
        Some(format!(
            "frame CPU over {} frames with the trace on screen: first {first:.2} ms, median {:.2} ms, max {:.2} ms",
            v.len(),
            v[v.len() / 2],
            v[v.len() - 1]
        ))
    }
}

/// Why a scripted `--screenshot` run failed (its window is closed by then): the launcher
/// reports it and exits non-zero.
pub(super) static SCRIPT_FAILURE: Mutex<Option<String>> = Mutex::new(None);

/// A pending screenshot of the window.
#[derive(Debug, Default)]
pub struct ScreenshotJob {
    /// Where to save it (`None`: no screenshot pending).
    pub path: Option<PathBuf>,
    /// Close the window once saved (`--screenshot`).
    pub quit_after: bool,
    frames_ready: u32,
    rx: Option<mpsc::Receiver<Arc<egui::ColorImage>>>,
}

impl ScreenshotJob {
    /// A screenshot to `path`, taken once the screen has settled.
    pub fn to(path: PathBuf, quit_after: bool) -> Self {
        ScreenshotJob {
            path: Some(path),
            quit_after,
            ..Default::default()
        }
    }
}

impl AttnApp {
    /// Starts a screenshot of the window.
    pub(super) fn start_screenshot(&mut self, ctx: &egui::Context, path: PathBuf, quit: bool) {
        self.screenshot = ScreenshotJob::to(path, quit);
        ctx.request_repaint();
    }

    /// The error the view on screen shows in place of its result, in English (the CLI's line).
    fn failure_on_screen(&self) -> Option<String> {
        use super::state::View;
        if let Some(f) = &self.startup_failure {
            return Some(f.clone());
        }
        let own = match self.state.view {
            View::Translate => self
                .translator
                .error
                .as_ref()
                .map(|e| e.text(super::i18n::Lang::En)),
            View::Generate => self
                .generation
                .as_ref()
                .and_then(|g| g.error.lock().ok()?.clone())
                .map(|e| e.to_string()),
            _ => None,
        };
        own.or_else(|| match (&self.trace, &self.model_error, &self.error) {
            (None, Some(e), _) | (None, None, Some(e)) => Some(e.to_string()),
            // The model asked for did not open (the toy sentence stands in for it).
            (Some(_), Some(e), _) if self.model.is_none() => Some(e.to_string()),
            _ => None,
        })
    }

    /// Requests the screenshot once the trace has been on screen for a few frames with no
    /// work running, then saves it.
    pub(super) fn drive_screenshot(&mut self, ctx: &egui::Context) {
        let Some(path) = self.screenshot.path.clone() else {
            return;
        };
        ctx.request_repaint();
        if let Some(rx) = &self.screenshot.rx {
            if let Ok(img) = rx.try_recv() {
                let result = save_color_image(&img, &path);
                if let Some(line) = self.timings.frame_summary() {
                    self.timings.report(|| line);
                }
                match result {
                    Ok(()) => self.info_done(Msg::Saved, path.display()),
                    Err(e) => {
                        // A scripted run has no one to read the status bar: it exits 2.
                        if self.screenshot.quit_after
                            && let Ok(mut slot) = SCRIPT_FAILURE.lock()
                        {
                            *slot = Some(format!("{e:#}"));
                        }
                        self.fail_with(Msg::SaveFailed, e);
                    }
                }
                if self.screenshot.quit_after {
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
                self.screenshot = ScreenshotJob::default();
            }
            return;
        }
        // What failed instead of computing (a model that does not open, an input the core
        // refuses, a translation or generation that stopped) is on screen too: the shot shows
        // it, and a scripted run reports it.
        let failed = self.failure_on_screen();
        // A run waiting for its go-ahead is settled too: the shot shows the estimate.
        let waiting = self.run_gate.waiting.is_some();
        if (self.trace.is_some() || failed.is_some() || waiting) && !self.busy() {
            self.screenshot.frames_ready += 1;
        }
        if self.screenshot.frames_ready >= 30
            && self.screenshot.quit_after
            && let (Some(why), Ok(mut slot)) = (failed, SCRIPT_FAILURE.lock())
        {
            *slot = Some(why);
        }
        if self.screenshot.frames_ready >= 30 {
            let (tx, rx) = mpsc::channel();
            let ctx2 = ctx.clone();
            ctx.request_screenshot(move |img| {
                let _ = tx.send(img);
                ctx2.request_repaint();
            });
            self.screenshot.rx = Some(rx);
        }
    }
}

/// Encodes a screenshot as PNG and writes it atomically.
fn save_color_image(img: &egui::ColorImage, path: &Path) -> Result<()> {
    let [w, h] = img.size;
    let rgba = image::RgbaImage::from_raw(w as u32, h as u32, img.as_raw().to_vec())
        .context("screenshot has the wrong size")?;
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgba8(rgba)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .context("cannot encode the screenshot")?;
    write_atomic(path, &bytes)?;
    Ok(())
}
