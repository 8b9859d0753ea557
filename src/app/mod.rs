//! The desktop app (eframe/egui). It reads everything it shows from the core's [`Trace`]; its
//! only maths is colour mapping and layout.
//!
//! Shape of a frame: panels draw and push [`Command`]s; after the frame, [`AttnApp::run_cmd`]
//! applies them. Computation runs on a worker thread ([`worker::Worker`]); the UI polls it
//! and repaints while it runs.

pub mod i18n;
mod model_views;
mod panels;
pub mod state;
mod steps;
mod views;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use eframe::egui;
use serde::{Deserialize, Serialize};

use crate::cli::{GuiArgs, LangArg, ThemeArg, ViewArg};
use crate::core::{Spec, Step, Trace};
use crate::export::{self, write_atomic};
use crate::model::stats::{HeadStat, head_stats, induction_scores, rollout};
use crate::model::{Model, ModelRun};

use i18n::{Lang, Msg, tr};
use state::{EmbeddingMode, State, ThemeChoice, View};
use views::TextureCache;
use worker::Worker;

/// Embedded fallback fonts, tried in order after egui's default font:
/// DejaVu Sans / Sans Mono (Bitstream Vera license + public domain) for maths symbols,
/// sub- and superscripts (qᵢ, kⱼ, dₖ, ‖q‖, ⁽ʰ⁾), and Droid Sans Fallback (Apache-2.0) for
/// Chinese, so nothing shows as a tofu box on a machine with no fonts installed.
pub const DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// See [`DEJAVU_SANS`].
pub const DEJAVU_SANS_MONO: &[u8] = include_bytes!("../../assets/fonts/DejaVuSansMono.ttf");
/// See [`DEJAVU_SANS`].
pub const CJK_FONT: &[u8] = include_bytes!("../../assets/fonts/DroidSansFallbackFull.ttf");

/// Installs the fallback fonts after egui's default ones (idempotent).
pub fn install_fonts(ctx: &egui::Context) {
    use egui::FontFamily::{Monospace, Proportional};
    use egui::epaint::text::{FontData, FontInsert, FontPriority, InsertFontFamily};
    let fallback = |family| InsertFontFamily {
        family,
        priority: FontPriority::Lowest,
    };
    for (name, data, families) in [
        ("dejavu-sans", DEJAVU_SANS, vec![fallback(Proportional)]),
        (
            "dejavu-sans-mono",
            DEJAVU_SANS_MONO,
            vec![fallback(Monospace)],
        ),
        (
            "droid-sans-fallback",
            CJK_FONT,
            vec![fallback(Proportional), fallback(Monospace)],
        ),
    ] {
        ctx.add_font(FontInsert::new(name, FontData::from_static(data), families));
    }
}

/// What the UI asked for during a frame; applied once after it.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Go to a step.
    SetStep(Step),
    /// Select a query row.
    SelectRow(usize),
    /// Focus a head.
    FocusHead(usize),
    /// Toggle a key's padding flag.
    TogglePadding(usize),
    /// Export the focused heatmap (PNG or SVG by extension).
    ExportHeatmap(ExportKind),
    /// Export the trace.
    ExportTrace(ExportKind),
    /// Save the window as PNG.
    ExportWindow,
    /// Save the session.
    SaveSession,
    /// Open a session.
    OpenSession,
    /// Open a spec file.
    OpenSpec,
    /// Load a built-in lesson by index.
    LoadLesson(usize),
    /// Open a model folder (a dialog when `None`).
    OpenModel(Option<PathBuf>),
    /// Focus a layer of the model.
    FocusLayer(usize),
    /// Select a (query, key) cell.
    SelectCell(usize, usize),
    /// Start or stop auto-advancing steps.
    TogglePlay,
    /// Quit.
    Quit,
}

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    /// PNG image.
    Png,
    /// SVG image.
    Svg,
    /// JSON data.
    Json,
    /// CSV data.
    Csv,
}

impl ExportKind {
    fn ext(self) -> &'static str {
        match self {
            ExportKind::Png => "png",
            ExportKind::Svg => "svg",
            ExportKind::Json => "json",
            ExportKind::Csv => "csv",
        }
    }
}

/// A saved session: the documented JSON file of File ▸ Save session.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionFile {
    /// Always "attnscope-session".
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// The app state.
    pub state: State,
}

/// The lessons shipped in `sample_models/lessons/`, embedded so they work from any folder.
pub const LESSONS: &[(&str, &str)] = &[
    (
        "classic_three_tokens",
        include_str!("../../sample_models/lessons/classic_three_tokens.json"),
    ),
    (
        "toy_x123",
        include_str!("../../sample_models/lessons/toy_x123.json"),
    ),
    (
        "wo_ai_beijing_tiananmen",
        include_str!("../../sample_models/lessons/wo_ai_beijing_tiananmen.json"),
    ),
    (
        "translation_cross_attention",
        include_str!("../../sample_models/lessons/translation_cross_attention.json"),
    ),
    (
        "gpt_causal",
        include_str!("../../sample_models/lessons/gpt_causal.json"),
    ),
];

/// What the trace on screen was computed from (resubmitted when it changes).
#[derive(Clone, Debug, PartialEq)]
enum TraceKey {
    /// Toy embeddings or a typed matrix.
    Spec(Spec),
    /// A model layer, plus the lab's re-run of one head with the current axes.
    Layer {
        run: u64,
        layer: usize,
        head: usize,
        lab: Spec,
    },
}

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
}

/// A message in the status bar.
#[derive(Clone, Debug)]
pub struct Notice {
    /// Text.
    pub text: String,
    /// Error (red) or information.
    pub is_error: bool,
}

/// Timings shown in the status bar (and printed with `--timings`).
#[derive(Debug)]
struct Timings {
    start: Instant,
    first_frame: Option<Duration>,
    frame_cpu: Duration,
    /// Frame CPU times once a trace is on screen (for `ATTNSCOPE_TIMINGS`).
    samples: Vec<Duration>,
    print: bool,
}

/// Pending `--screenshot` / window export.
#[derive(Debug, Default)]
struct ScreenshotJob {
    path: Option<PathBuf>,
    quit_after: bool,
    frames_ready: u32,
    rx: Option<mpsc::Receiver<Arc<egui::ColorImage>>>,
}

/// The app.
pub struct AttnApp {
    /// Persisted settings and inputs.
    pub state: State,
    /// The latest computed trace.
    pub trace: Option<Arc<Trace>>,
    /// The last computation error (shown instead of stale numbers' silence).
    pub error: Option<String>,
    /// The last notice (saved, failed, …).
    pub notice: Option<Notice>,
    /// When set, file dialogs are skipped and this path is used (tests and scripting).
    pub dialog_override: Option<PathBuf>,
    /// Milliseconds the last computation took on the worker.
    pub last_compute_ms: f64,
    trace_worker: Worker<Arc<Trace>>,
    model_worker: Worker<Arc<LoadedModel>>,
    run_worker: Worker<Arc<ModelOutput>>,
    submitted: Option<TraceKey>,
    submitted_run: Option<(u64, String)>,
    submitted_model: Option<PathBuf>,
    /// The loaded model and its induction scores.
    pub model: Option<Arc<LoadedModel>>,
    /// The model's run on the current text.
    pub model_out: Option<Arc<ModelOutput>>,
    /// Why the model could not be loaded or run.
    pub model_error: Option<String>,
    /// The attention lab's modified head (the original is the focused head of `trace`).
    pub lab_trace: Option<Arc<Trace>>,
    model_generation: u64,
    run_generation: u64,
    generation: u64,
    /// Model loading progress in thousandths, written by the loader thread.
    load_progress: Arc<std::sync::atomic::AtomicU32>,
    textures: TextureCache,
    commands: Vec<Command>,
    playing: bool,
    last_play_secs: f64,
    show_about: bool,
    fonts_installed: bool,
    /// Whether eframe persistence saves the state on exit (off for scripted screenshots).
    remember: bool,
    timings: Timings,
    screenshot: ScreenshotJob,
}

impl AttnApp {
    /// A new app with the given state (the worker thread starts here).
    pub fn new(state: State) -> Self {
        AttnApp {
            state,
            trace: None,
            error: None,
            notice: None,
            dialog_override: None,
            last_compute_ms: 0.0,
            trace_worker: Worker::spawn("compute"),
            model_worker: Worker::spawn("model-load"),
            run_worker: Worker::spawn("model-run"),
            submitted: None,
            submitted_run: None,
            submitted_model: None,
            model: None,
            model_out: None,
            model_error: None,
            lab_trace: None,
            model_generation: 0,
            run_generation: 0,
            generation: 0,
            load_progress: Arc::default(),
            textures: TextureCache::default(),
            commands: Vec::new(),
            playing: false,
            last_play_secs: 0.0,
            show_about: false,
            fonts_installed: false,
            remember: true,
            timings: Timings {
                start: Instant::now(),
                first_frame: None,
                frame_cpu: Duration::ZERO,
                samples: Vec::new(),
                print: false,
            },
            screenshot: ScreenshotJob::default(),
        }
    }

    /// Whether a computation is still running.
    pub fn busy(&self) -> bool {
        self.trace_worker.pending() || self.model_worker.pending() || self.run_worker.pending()
    }

    /// Whether a model is being loaded.
    pub fn model_loading(&self) -> bool {
        self.model_worker.pending()
    }

    /// Loading progress in [0, 1].
    pub fn load_fraction(&self) -> f32 {
        self.load_progress
            .load(std::sync::atomic::Ordering::Relaxed) as f32
            / 1000.0
    }

    /// The current language.
    pub fn lang(&self) -> Lang {
        self.state.lang
    }

    fn t(&self, m: Msg) -> &'static str {
        tr(self.state.lang, m)
    }

    /// Queues a command (applied after the frame).
    pub fn push(&mut self, c: Command) {
        self.commands.push(c);
    }

    /// Draws the whole UI into `ui` (used by eframe and by the UI tests).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let frame_start = Instant::now();
        let ctx = ui.ctx().clone();
        self.textures.begin_frame();
        if !self.fonts_installed {
            install_fonts(&ctx);
            self.fonts_installed = true;
        }
        ctx.set_theme(match self.state.theme {
            ThemeChoice::Light => egui::Theme::Light,
            ThemeChoice::Dark => egui::Theme::Dark,
        });
        self.poll_worker();
        self.handle_keys(&ctx);
        if let Some(path) = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .find(|p| !p.as_os_str().is_empty())
        }) {
            self.push(Command::OpenModel(Some(path)));
        }
        self.tick_play(&ctx);

        panels::menu_bar(self, ui);
        panels::status_bar(self, ui);
        panels::controls_panel(self, ui);
        steps::steps_panel(self, ui);
        egui::CentralPanel::default().show(ui, |ui| views::central(self, ui));
        panels::about_window(self, &ctx);

        for c in std::mem::take(&mut self.commands) {
            self.run_cmd(&ctx, c);
        }
        // After the panels: an edit made this frame is computed now, not one frame later.
        self.submit_if_changed(&ctx);
        self.state.zoom = ctx.zoom_factor();
        self.timings.frame_cpu = frame_start.elapsed();
        if self.timings.print && self.trace.is_some() && !self.busy() {
            self.timings.samples.push(self.timings.frame_cpu);
        }
        if self.timings.first_frame.is_none() {
            let first = self.timings.start.elapsed();
            self.timings.first_frame = Some(first);
            if self.timings.print {
                eprintln!(
                    "timing: start-up to first frame {:.1} ms",
                    first.as_secs_f64() * 1e3
                );
            }
        }
        self.drive_screenshot(&ctx);
    }

    /// Sends whatever the screen needs and is not computed yet to the workers: a model load,
    /// a model run on the text, a trace (toy spec, or a model layer plus the lab's re-run).
    fn submit_if_changed(&mut self, ctx: &egui::Context) {
        if self.state.embedding == EmbeddingMode::Model {
            self.submit_model_jobs(ctx);
        } else {
            let key = TraceKey::Spec(self.state.to_spec());
            if self.submitted.as_ref() != Some(&key) {
                if let TraceKey::Spec(spec) = key.clone() {
                    self.trace_worker.submit(ctx, move || {
                        crate::core::compute(&spec)
                            .map(Arc::new)
                            .map_err(|e| e.to_string())
                    });
                }
                self.submitted = Some(key);
            }
        }
        if self.busy() {
            ctx.request_repaint_after(Duration::from_millis(16));
        }
    }

    fn submit_model_jobs(&mut self, ctx: &egui::Context) {
        // 1. load the remembered model folder (once; File ▸ Open model starts its own load)
        if let Some(dir) = self.state.model_dir.clone()
            && self.submitted_model.is_none()
        {
            self.start_model_load(ctx, dir);
        }
        let Some(loaded) = self.model.clone() else {
            return;
        };
        // 2. run it on the text
        let run_key = (self.model_generation, self.state.text_q.clone());
        if self.submitted_run.as_ref() != Some(&run_key) {
            self.submitted_run = Some(run_key);
            let text = self.state.text_q.clone();
            let print = self.timings.print;
            self.run_worker.submit(ctx, move || {
                let t0 = Instant::now();
                let run = loaded.model.run(&text).map_err(|e| e.to_string())?;
                let t1 = Instant::now();
                let mut stats = head_stats(&run);
                if let Some(ind) = &loaded.induction {
                    for s in &mut stats {
                        s.induction = ind.get([s.layer, s.head]).copied();
                    }
                }
                let t2 = Instant::now();
                let rollout = rollout(&run);
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
                }))
            });
            return;
        }
        // 3. the focused layer as a trace, and the lab's re-run of the focused head
        let Some(out) = self.model_out.clone() else {
            return;
        };
        let layer = self.state.layer.min(out.run.layers.len().saturating_sub(1));
        let head = self.state.head.min(out.run.heads.saturating_sub(1));
        let lab = self.state.lab_spec(out.run.head_dim, out.run.n());
        let key = TraceKey::Layer {
            run: self.run_generation,
            layer,
            head,
            lab: lab.clone(),
        };
        if self.submitted.as_ref() != Some(&key) {
            self.submitted = Some(key);
            self.trace_worker.submit(ctx, move || {
                let trace = out.run.layer_trace(layer).ok_or("no such layer")?;
                Ok(Arc::new(trace))
            });
        }
    }

    /// Loads a model folder in the background; the current model stays until it succeeds.
    fn start_model_load(&mut self, ctx: &egui::Context, dir: PathBuf) {
        self.submitted_model = Some(dir.clone());
        let progress = Arc::clone(&self.load_progress);
        progress.store(0, std::sync::atomic::Ordering::Relaxed);
        let ctx2 = ctx.clone();
        self.model_worker.submit(ctx, move || {
            let report = |f: f32| {
                progress.store((f * 1000.0) as u32, std::sync::atomic::Ordering::Relaxed);
                ctx2.request_repaint();
            };
            let model = Model::load_with_progress(&dir, &report).map_err(|e| e.to_string())?;
            let induction = induction_scores(&model, 24, 1).ok();
            Ok(Arc::new(LoadedModel { model, induction }))
        });
    }

    fn poll_worker(&mut self) {
        if let Some(done) = self.model_worker.poll() {
            match done.result {
                Ok(m) => {
                    if self.timings.print {
                        eprintln!(
                            "timing: model load {:.1} ms",
                            done.elapsed.as_secs_f64() * 1e3
                        );
                    }
                    self.model_generation += 1;
                    self.model_error = None;
                    let name = m.model.name.clone();
                    self.state.remember_model(m.model.dir.clone());
                    self.model = Some(m);
                    self.model_out = None;
                    self.info(format!("{} {name}", self.t(Msg::Opened)));
                }
                Err(e) => {
                    self.model_error = Some(e.clone());
                    self.fail(format!("{} {e}", self.t(Msg::OpenFailed)));
                }
            }
        }
        if let Some(done) = self.run_worker.poll() {
            if self.timings.print {
                eprintln!(
                    "timing: model forward {:.1} ms",
                    done.elapsed.as_secs_f64() * 1e3
                );
            }
            match done.result {
                Ok(out) => {
                    self.run_generation += 1;
                    self.model_error = None;
                    self.state.row = self.state.row.min(out.run.n().saturating_sub(1));
                    self.state.col = self.state.col.min(out.run.n().saturating_sub(1));
                    self.state.layer = self.state.layer.min(out.run.layers.len().saturating_sub(1));
                    self.model_out = Some(out);
                }
                Err(e) => self.model_error = Some(e),
            }
        }
        if let Some(done) = self.trace_worker.poll() {
            self.last_compute_ms = done.elapsed.as_secs_f64() * 1e3;
            if self.timings.print {
                eprintln!(
                    "timing: recompute {:.2} ms for {} tokens × {} heads",
                    self.last_compute_ms,
                    done.result.as_ref().map_or(0, |t| t.n_q()),
                    done.result.as_ref().map_or(0, |t| t.heads)
                );
            }
            match done.result {
                Ok(trace) => {
                    self.generation += 1;
                    self.state.head = self.state.head.min(trace.heads.saturating_sub(1));
                    self.state.row = self.state.row.min(trace.n_q().saturating_sub(1));
                    self.state.col = self.state.col.min(trace.n_k().saturating_sub(1));
                    if let Some(TraceKey::Layer { head, lab, .. }) = &self.submitted {
                        self.lab_trace = lab_trace(&trace, *head, lab).ok().map(Arc::new);
                    }
                    self.trace = Some(trace);
                    self.error = None;
                }
                Err(e) => self.error = Some(e),
            }
        }
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        if ctx.memory(|m| m.focused().is_some()) {
            return; // typing in a text box: arrows and space belong to it
        }
        let (left, right, space) = ctx.input(|i| {
            (
                i.key_pressed(egui::Key::ArrowLeft),
                i.key_pressed(egui::Key::ArrowRight),
                i.key_pressed(egui::Key::Space),
            )
        });
        let idx = self.state.step.index();
        if left && idx > 0 {
            self.push(Command::SetStep(Step::ALL[idx - 1]));
        }
        if right && idx + 1 < Step::ALL.len() {
            self.push(Command::SetStep(Step::ALL[idx + 1]));
        }
        if space {
            self.push(Command::TogglePlay);
        }
    }

    fn tick_play(&mut self, ctx: &egui::Context) {
        if !self.playing {
            return;
        }
        let now = ctx.input(|i| i.time);
        if now - self.last_play_secs >= 1.5 {
            self.last_play_secs = now;
            let idx = self.state.step.index();
            if idx + 1 < Step::ALL.len() {
                self.state.step = Step::ALL[idx + 1];
            } else {
                self.playing = false;
            }
        }
        ctx.request_repaint_after(Duration::from_millis(100));
    }

    /// Applies one command.
    pub fn run_cmd(&mut self, ctx: &egui::Context, c: Command) {
        match c {
            Command::SetStep(s) => self.state.step = s,
            Command::SelectRow(r) => self.state.row = r,
            Command::FocusHead(h) => self.state.head = h,
            Command::TogglePadding(j) => {
                if let Some(pos) = self.state.padded.iter().position(|&p| p == j) {
                    self.state.padded.remove(pos);
                } else {
                    self.state.padded.push(j);
                }
            }
            Command::TogglePlay => {
                self.playing = !self.playing;
                self.last_play_secs = ctx.input(|i| i.time);
                if self.playing && self.state.step == Step::Output {
                    self.state.step = Step::Embed;
                }
            }
            Command::ExportHeatmap(kind) => {
                let r = self.pick_save_path("heatmap", kind.ext()).map(|p| {
                    let res = self.export_heatmap_to(&p, kind);
                    (p, res)
                });
                self.report_save(r);
            }
            Command::ExportTrace(kind) => {
                let r = self.pick_save_path("trace", kind.ext()).map(|p| {
                    let res = self.export_trace_to(&p, kind);
                    (p, res)
                });
                self.report_save(r);
            }
            Command::ExportWindow => {
                if let Some(p) = self.pick_save_path("attnscope-window", "png") {
                    self.start_screenshot(ctx, p, false);
                }
            }
            Command::SaveSession => {
                let r = self.pick_save_path("session.attnscope", "json").map(|p| {
                    let res = self.save_session_to(&p);
                    (p, res)
                });
                self.report_save(r);
            }
            Command::OpenSession => {
                if let Some(p) = self.pick_open_path("json") {
                    match self.open_session_from(&p) {
                        Ok(()) => self.info(format!("{} {}", self.t(Msg::Opened), p.display())),
                        Err(e) => self.fail(format!("{} {e:#}", self.t(Msg::OpenFailed))),
                    }
                }
            }
            Command::OpenSpec => {
                if let Some(p) = self.pick_open_path("json") {
                    let r = std::fs::read_to_string(&p)
                        .with_context(|| format!("cannot read {}", p.display()))
                        .and_then(|text| Spec::from_json(&text).map_err(anyhow::Error::from));
                    match r {
                        Ok(spec) => {
                            self.state.load_spec(&spec);
                            self.info(format!("{} {}", self.t(Msg::Opened), p.display()));
                        }
                        Err(e) => self.fail(format!("{} {e:#}", self.t(Msg::OpenFailed))),
                    }
                }
            }
            Command::LoadLesson(i) => {
                if let Some((name, text)) = LESSONS.get(i) {
                    match Spec::from_json(text) {
                        Ok(spec) => {
                            self.state.load_spec(&spec);
                            self.state.step = Step::Embed;
                            self.state.row = 0;
                            self.info(format!("{} {name}", self.t(Msg::Opened)));
                        }
                        Err(e) => self.fail(format!("{} {name}: {e}", self.t(Msg::OpenFailed))),
                    }
                }
            }
            Command::OpenModel(path) => {
                let path = path.or_else(|| {
                    if let Some(p) = &self.dialog_override {
                        return Some(p.clone());
                    }
                    rfd::FileDialog::new().pick_folder()
                });
                if let Some(p) = path {
                    if self.state.embedding != EmbeddingMode::Model {
                        self.state.embedding = EmbeddingMode::Model;
                        self.state.view = View::Model;
                    }
                    self.start_model_load(ctx, crate::model::resolve_dir(&p));
                }
            }
            Command::FocusLayer(l) => self.state.layer = l,
            Command::SelectCell(i, j) => {
                self.state.row = i;
                self.state.col = j;
            }
            Command::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
        }
    }

    fn info(&mut self, text: String) {
        self.notice = Some(Notice {
            text,
            is_error: false,
        });
    }

    fn fail(&mut self, text: String) {
        self.notice = Some(Notice {
            text,
            is_error: true,
        });
    }

    fn report_save(&mut self, r: Option<(PathBuf, Result<()>)>) {
        match r {
            None => {}
            Some((p, Ok(()))) => self.info(format!("{} {}", self.t(Msg::Saved), p.display())),
            Some((_, Err(e))) => self.fail(format!("{} {e:#}", self.t(Msg::SaveFailed))),
        }
    }

    fn pick_save_path(&self, stem: &str, ext: &str) -> Option<PathBuf> {
        if let Some(p) = &self.dialog_override {
            return Some(p.clone());
        }
        rfd::FileDialog::new()
            .set_file_name(format!("{stem}.{ext}"))
            .add_filter(ext, &[ext])
            .save_file()
    }

    fn pick_open_path(&self, ext: &str) -> Option<PathBuf> {
        if let Some(p) = &self.dialog_override {
            return Some(p.clone());
        }
        rfd::FileDialog::new().add_filter(ext, &[ext]).pick_file()
    }

    /// Writes the focused head's heatmap (the current step's matrix) as PNG or SVG.
    pub fn export_heatmap_to(&self, path: &Path, kind: ExportKind) -> Result<()> {
        let trace = self.trace.as_ref().context("nothing computed yet")?;
        let hm = views::heatmap_for_export(self, trace)?;
        let bytes = match kind {
            ExportKind::Svg => hm.to_svg()?.into_bytes(),
            _ => hm.to_png(hm.default_cell_px())?,
        };
        write_atomic(path, &bytes)?;
        Ok(())
    }

    /// Writes the trace as JSON, or every head's weights as CSV.
    pub fn export_trace_to(&self, path: &Path, kind: ExportKind) -> Result<()> {
        let trace = self.trace.as_ref().context("nothing computed yet")?;
        let text = match kind {
            ExportKind::Csv => export::trace_weights_csv(trace),
            _ => export::trace_json(trace)?,
        };
        write_atomic(path, text.as_bytes())?;
        Ok(())
    }

    /// Writes the session file.
    pub fn save_session_to(&self, path: &Path) -> Result<()> {
        let file = SessionFile {
            format: "attnscope-session".into(),
            version: 1,
            state: self.state.clone(),
        };
        write_atomic(path, serde_json::to_string_pretty(&file)?.as_bytes())?;
        Ok(())
    }

    /// Reads a session file; on error the current state is untouched.
    pub fn open_session_from(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let file: SessionFile = serde_json::from_str(&text)
            .with_context(|| format!("{} is not an attnscope session", path.display()))?;
        if file.format != "attnscope-session" {
            anyhow::bail!(
                "{} is not an attnscope session (format {:?})",
                path.display(),
                file.format
            );
        }
        self.state = file.state;
        Ok(())
    }

    fn start_screenshot(&mut self, ctx: &egui::Context, path: PathBuf, quit_after: bool) {
        self.screenshot = ScreenshotJob {
            path: Some(path),
            quit_after,
            frames_ready: 0,
            rx: None,
        };
        ctx.request_repaint();
    }

    /// Requests the screenshot once the trace is on screen for a few frames, then saves it.
    fn drive_screenshot(&mut self, ctx: &egui::Context) {
        let Some(path) = self.screenshot.path.clone() else {
            return;
        };
        ctx.request_repaint();
        if let Some(rx) = &self.screenshot.rx {
            if let Ok(img) = rx.try_recv() {
                let result = save_color_image(&img, &path);
                if self.timings.print {
                    let mut v: Vec<f64> = self
                        .timings
                        .samples
                        .iter()
                        .map(|d| d.as_secs_f64() * 1e3)
                        .collect();
                    let first = v.first().copied();
                    v.sort_by(f64::total_cmp);
                    if let (Some(first), Some(max)) = (first, v.last()) {
                        eprintln!(
                            "timing: frame CPU over {} frames with the trace on screen: first {first:.2} ms, median {:.2} ms, max {max:.2} ms",
                            v.len(),
                            v[v.len() / 2]
                        );
                    }
                }
                match result {
                    Ok(()) => self.info(format!("{} {}", self.t(Msg::Saved), path.display())),
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        self.fail(format!("{} {e:#}", self.t(Msg::SaveFailed)));
                    }
                }
                if self.screenshot.quit_after {
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
                self.screenshot = ScreenshotJob::default();
            }
            return;
        }
        if self.trace.is_some() && !self.busy() {
            self.screenshot.frames_ready += 1;
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

    /// Applies command-line options on top of the state.
    pub fn apply_args(&mut self, args: &GuiArgs) -> Result<()> {
        if let Some(path) = &args.spec {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read spec {}", path.display()))?;
            let spec =
                Spec::from_json(&text).with_context(|| format!("bad spec {}", path.display()))?;
            self.state.load_spec(&spec);
        }
        if let Some(dir) = &args.model {
            self.state.model_dir = Some(crate::model::resolve_dir(dir));
            self.state.embedding = EmbeddingMode::Model;
            self.state.view = View::Model;
        }
        if let Some(l) = args.layer {
            self.state.layer = l;
        }
        if let Some(text) = &args.text {
            self.state.text_q = text.clone();
            if self.state.embedding == EmbeddingMode::Matrix {
                self.state.embedding = EmbeddingMode::Toy;
            }
        }
        if let Some(l) = args.lang {
            self.state.lang = match l {
                LangArg::En => Lang::En,
                LangArg::Zh => Lang::Zh,
            };
        }
        if let Some(v) = args.view {
            self.state.view = match v {
                ViewArg::Heatmap => View::Heatmap,
                ViewArg::Grid => View::Grid,
                ViewArg::Lines => View::Lines,
                ViewArg::Plots => View::Plots,
                ViewArg::Model => View::Model,
                ViewArg::Neuron => View::Neuron,
                ViewArg::Lab => View::Lab,
                ViewArg::Stats => View::Stats,
                ViewArg::Rollout => View::Rollout,
            };
        }
        if let Some(s) = args.step {
            let i = s.clamp(1, Step::ALL.len()) - 1;
            self.state.step = Step::ALL[i];
        }
        if let Some(r) = args.row {
            self.state.row = r;
        }
        if let Some(m) = args.max_tokens {
            self.state.max_tokens = m.clamp(1, crate::core::spec::MAX_TOKENS);
        }
        if let Some(h) = args.head {
            self.state.head = h;
        }
        if let Some(h) = args.heads {
            self.state.heads = h.max(1) as usize;
            self.state.fit_d_model_to_heads();
        }
        if let Some(t) = args.theme {
            self.state.theme = match t {
                ThemeArg::Light => ThemeChoice::Light,
                ThemeArg::Dark => ThemeChoice::Dark,
            };
        }
        Ok(())
    }
}

/// The lab: the focused head of a model layer re-run with the current axes, as a one-head
/// trace (Q, K, V are the real ones; everything after them follows the chosen mechanism).
fn lab_trace(layer: &Trace, head: usize, spec: &Spec) -> Result<Trace, String> {
    let h = layer.head_traces.get(head).ok_or("no such head")?;
    let cfg = crate::core::pipeline::head_config(spec, head, layer.heads, layer.d_k, layer.n_k())
        .map_err(|e| e.to_string())?;
    let t = crate::core::attend_head(
        crate::core::Backend::best(),
        h.q.view(),
        h.k.view(),
        h.v.view(),
        &cfg,
    );
    let mut out = layer.clone();
    out.heads = 1;
    out.scale = cfg.scale;
    out.temperature = spec.temperature;
    out.concat = t.context.clone();
    out.output = t.context.clone();
    out.head_traces = vec![t];
    Ok(out)
}

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

impl eframe::App for AttnApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        // A scripted run (--screenshot) must not overwrite the user's remembered session.
        if self.remember {
            eframe::set_value(storage, eframe::APP_KEY, &self.state);
        }
    }
}

/// Parses `--size WxH`.
fn parse_size(s: &str) -> Result<[f32; 2]> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .context("--size must look like 1400x900")?;
    Ok([w.trim().parse()?, h.trim().parse()?])
}

/// Starts the desktop app.
pub fn run(args: GuiArgs) -> Result<()> {
    let size = match &args.size {
        Some(s) => parse_size(s)?,
        None => [1440.0, 900.0],
    };
    let screenshot = args.screenshot.clone();
    let print_timings = std::env::var_os("ATTNSCOPE_TIMINGS").is_some();
    let start = Instant::now();
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("attnscope")
            .with_inner_size(size)
            .with_min_inner_size([800.0, 560.0]),
        // A scripted screenshot must not read or write the user's remembered session.
        persist_window: screenshot.is_none(),
        ..Default::default()
    };
    let fresh = args.fresh || screenshot.is_some();
    eframe::run_native(
        "attnscope",
        options,
        Box::new(move |cc| {
            let state = if fresh {
                State::default()
            } else {
                cc.storage
                    .and_then(|s| eframe::get_value::<State>(s, eframe::APP_KEY))
                    .unwrap_or_default()
            };
            cc.egui_ctx.set_zoom_factor(state.zoom.clamp(0.5, 3.0));
            let mut app = AttnApp::new(state);
            app.timings.start = start;
            app.timings.print = print_timings;
            app.apply_args(&args)?;
            if let Some(p) = screenshot {
                app.remember = false;
                app.screenshot = ScreenshotJob {
                    path: Some(p),
                    quit_after: true,
                    frames_ready: 0,
                    rx: None,
                };
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot start the window: {e}"))
}
