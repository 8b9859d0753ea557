//! The app object: persisted [`State`], the results on screen, the job slots, and one frame
//! ([`AttnApp::show`]): poll the jobs, draw the panels (which push commands), apply the
//! commands, then ask the jobs for whatever the new state needs.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use eframe::egui;

use super::commands::Command;
use super::heatmap::TextureCache;
use super::i18n::{Lang, Msg, tr};
use super::jobs::JobError;
use super::screenshot::{ScreenshotJob, Timings};
use super::state::{State, ThemeChoice};
use super::work::{Jobs, LoadedModel, ModelOutput};
use super::{fonts, panels, steps, views};
use crate::core::Trace;

/// A message in the status bar. It keeps what it reports (a path, an error), not a sentence,
/// and is said in the language on screen each time it is drawn: switching the language
/// re-says the notice already there.
#[derive(Clone)]
pub struct Notice {
    say: Arc<dyn Fn(Lang) -> String + Send + Sync>,
    /// Error (red) or information.
    pub is_error: bool,
}

impl Notice {
    /// A notice said by `say` in whichever language is on screen.
    pub fn new(is_error: bool, say: impl Fn(Lang) -> String + Send + Sync + 'static) -> Self {
        Self {
            say: Arc::new(say),
            is_error,
        }
    }

    /// The notice in `lang`.
    pub fn text(&self, lang: Lang) -> String {
        (self.say)(lang)
    }
}

impl std::fmt::Debug for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notice")
            .field("text", &self.text(Lang::En))
            .field("is_error", &self.is_error)
            .finish()
    }
}

/// The app.
pub struct AttnApp {
    /// Persisted settings and inputs.
    pub state: State,
    /// The trace on screen (toy input, or the focused layer of a model).
    pub trace: Option<Arc<Trace>>,
    /// Why the last trace could not be computed (the previous trace stays on screen).
    pub error: Option<JobError>,
    /// The last notice (saved, failed, …).
    pub notice: Option<Notice>,
    /// The notices it replaced, newest first (a few; the status bar lists them).
    pub earlier_notices: std::collections::VecDeque<Notice>,
    /// When set, file dialogs are skipped and this path is used (tests and scripting).
    pub dialog_override: Option<PathBuf>,
    /// A command-line file the app started without (--spec, --text-file), in English: a
    /// scripted screenshot still exits 2 with it.
    pub(super) startup_failure: Option<String>,
    /// Milliseconds the last trace took on its worker.
    pub last_compute_ms: f64,
    /// Milliseconds the last model run (forward, statistics, rollout) took on its worker.
    pub model_run_ms: f64,
    /// The loaded model and its induction scores.
    pub model: Option<Arc<LoadedModel>>,
    /// The model's run on the current text.
    pub model_out: Option<Arc<ModelOutput>>,
    /// Why the model could not be loaded or run.
    pub model_error: Option<JobError>,
    /// The attention lab's re-run of the focused head (the original is in `trace`).
    pub lab_trace: Option<Arc<Trace>>,
    /// Why the lab could not re-run the head.
    pub lab_error: Option<JobError>,
    pub(super) jobs: Jobs,
    /// How many traces have been put on screen.
    pub(super) trace_serial: u64,
    /// What the trace on screen was computed from.
    pub(super) trace_key: Option<super::work::TraceKey>,
    /// The last toy spec asked about and whether its full trace would be too big (so the
    /// text is tokenized for the estimate once per edit, not once per frame).
    pub(super) lean_for: Option<(crate::core::Spec, bool)>,
    /// Layers recently opened from long runs.
    pub(super) opened: super::work::OpenedLayers,
    /// The generation on screen (running or finished).
    pub generation: Option<Arc<super::generation::GenSession>>,
    /// What-if work of the generation step on screen.
    pub whatif: Option<Arc<super::whatif::WhatIf>>,
    /// The Translate view's encoder–decoder model and runs.
    pub translator: super::translate::Translator,
    /// Guesses typed in the Generate view's classroom mode, per (session, step): the text.
    pub guesses: std::collections::HashMap<(u64, usize), String>,
    /// Start generating once the model has loaded (`--generate`).
    pub(super) generate_on_load: bool,
    /// Once the generation is done, run the what-if panel on its last step (`--whatif`).
    pub(super) whatif_on_done: bool,
    /// The step to show once the generation started by `--generate` has begun (`--gen-step`).
    pub(super) gen_step_on_load: Option<usize>,
    /// Big runs wait here for a go-ahead.
    pub run_gate: super::work::RunGate,
    /// Set to stop the model run in progress (between layers).
    pub(super) run_cancel: Arc<std::sync::atomic::AtomicBool>,
    /// Layers done of the run in progress, in thousandths.
    pub(super) run_progress: Arc<AtomicU32>,
    /// The last run's forward rate in MFLOP/s (for the next time estimate).
    pub(super) run_rate: Arc<AtomicU32>,
    /// The last scan of Model ▸ Models on this computer.
    pub(super) found_models: Option<Arc<Vec<crate::model::discover::Found>>>,
    /// Model loading progress in thousandths, written by the loader thread.
    pub(super) load_progress: Arc<AtomicU32>,
    pub(super) textures: TextureCache,
    pub(super) commands: Vec<Command>,
    pub(super) playing: bool,
    pub(super) last_play_secs: f64,
    pub(super) show_about: bool,
    /// Help ▸ Keyboard and mouse is open.
    pub(super) show_keys: bool,
    /// The layer and head the layers × heads grid last scrolled into view: a focus set
    /// elsewhere (--layer, Page Down, the statistics table) brings its tile on screen.
    pub(super) grid_scrolled_to: Option<(usize, usize)>,
    /// A causal model has just opened: its first run selects the last query row.
    pub(super) causal_fresh: bool,
    /// The query row chosen before an input too short for it came in (typing a new text
    /// passes through short ones): put back once an input has that row again.
    pub(super) row_wanted: Option<usize>,
    /// The query row and head asked for on the command line (--row, --head): the first toy
    /// trace says so when it has fewer, instead of showing another row or head silently.
    pub(super) focus_asked: Option<(usize, usize)>,
    fonts_installed: bool,
    /// Whether eframe persistence saves the state on exit (off for scripted screenshots).
    pub(super) remember: bool,
    pub(super) timings: Timings,
    pub(super) screenshot: ScreenshotJob,
    /// A window size asked for on the command line (`--size`, or the default size of a
    /// `--fresh` start), set on the first frame: eframe restores the remembered window over
    /// the size it was given.
    pub(super) size_asked: Option<[f32; 2]>,
}

impl AttnApp {
    /// A new app with the given state (its numbers brought into range; workers start here).
    pub fn new(mut state: State) -> Self {
        state.sanitize();
        AttnApp {
            state,
            trace: None,
            error: None,
            notice: None,
            earlier_notices: Default::default(),
            dialog_override: None,
            startup_failure: None,
            last_compute_ms: 0.0,
            model_run_ms: 0.0,
            model: None,
            model_out: None,
            model_error: None,
            lab_trace: None,
            lab_error: None,
            jobs: Jobs::spawn(),
            trace_serial: 0,
            generation: None,
            whatif: None,
            guesses: Default::default(),
            translator: Default::default(),
            generate_on_load: false,
            whatif_on_done: false,
            gen_step_on_load: None,
            trace_key: None,
            lean_for: None,
            opened: Default::default(),
            run_gate: Default::default(),
            run_cancel: Arc::default(),
            run_progress: Arc::default(),
            run_rate: Arc::default(),
            found_models: None,
            load_progress: Arc::default(),
            textures: TextureCache::default(),
            commands: Vec::new(),
            playing: false,
            last_play_secs: 0.0,
            show_about: false,
            show_keys: false,
            grid_scrolled_to: None,
            causal_fresh: false,
            row_wanted: None,
            focus_asked: None,
            fonts_installed: false,
            remember: true,
            timings: Timings::default(),
            screenshot: ScreenshotJob::default(),
            size_asked: None,
        }
    }

    /// Whether a computation is still running, or heatmap tiles are being made (what the
    /// screenshots and tests wait for).
    pub fn busy(&self) -> bool {
        self.computing() || self.textures.tiles_pending() > 0
    }

    /// Whether a computation (a trace, a model run, generation, what-if, translation) is
    /// still running.
    pub fn computing(&self) -> bool {
        self.jobs.busy()
            || self.whatif_on_done
            || self
                .generation
                .as_ref()
                .is_some_and(|g| !g.done.load(Ordering::Relaxed) && !g.waiting())
            || self
                .whatif
                .as_ref()
                .is_some_and(|w| w.busy.iter().any(|b| b.load(Ordering::Relaxed)))
            || self.translator.busy()
    }

    /// The last scan of Model ▸ Models on this computer, once it has landed.
    pub fn found_models(&self) -> Option<&[crate::model::discover::Found]> {
        self.found_models.as_deref().map(Vec::as_slice)
    }

    /// Whether a model is being loaded.
    pub fn model_loading(&self) -> bool {
        self.jobs.load.pending()
    }

    /// Whether a forward pass of the model is running.
    pub fn model_running(&self) -> bool {
        self.jobs.run.pending()
    }

    /// How many forward passes the app has started (one per model and text).
    pub fn model_runs_started(&self) -> u64 {
        self.jobs.run.started()
    }

    /// The trace the views and the step panel show: none while "real model" is picked and no
    /// model is open (the toy's trace behind it is not what the panel describes), else the
    /// last one computed.
    pub fn shown_trace(&self) -> Option<Arc<Trace>> {
        if self.awaiting_model() {
            return None;
        }
        self.trace.clone()
    }

    /// "Real model" is picked and no model is open (yet).
    fn awaiting_model(&self) -> bool {
        self.state.embedding == super::state::EmbeddingMode::Model && self.model.is_none()
    }

    /// The model layer the trace on screen is, when it is one (a model is open and shown).
    pub fn model_layer(&self) -> Option<usize> {
        (self.state.embedding == super::state::EmbeddingMode::Model && self.model.is_some())
            .then_some(self.state.layer)
    }

    /// The trace an export writes, or why there is none to write: the inputs' own error (an
    /// empty sequence had exported the sentence before it), no model yet, or nothing
    /// computed.
    pub fn trace_to_export(&self) -> anyhow::Result<Arc<Trace>> {
        if let Some(e) = &self.error {
            anyhow::bail!(super::views::error_text(self, e));
        }
        if self.awaiting_model() {
            anyhow::bail!(super::i18n::tr(self.lang(), super::i18n::Msg::NoModel).to_owned());
        }
        self.trace.clone().ok_or_else(|| {
            anyhow::anyhow!(super::i18n::tr(self.lang(), super::i18n::Msg::NoTrace).to_owned())
        })
    }

    /// Generation of the trace on screen (textures are keyed by it): counts every trace put
    /// on screen, computed or taken from the opened layers.
    pub fn trace_generation(&self) -> u64 {
        self.trace_serial
    }

    /// How many layer traces were requested from the workers (a layer taken from the opened
    /// layers is not).
    pub fn trace_jobs_started(&self) -> u64 {
        self.jobs.trace.started()
    }

    /// Generation of the model run on screen.
    pub fn run_generation(&self) -> u64 {
        self.jobs.run.generation()
    }

    /// Generation of the lab's head.
    pub fn lab_generation(&self) -> u64 {
        self.jobs.lab.generation()
    }

    /// Whether the trace on screen has rotary heads (and so a rotation step).
    pub fn rotary(&self) -> bool {
        self.trace
            .as_ref()
            .is_some_and(|t| t.mechanism.rope.is_some())
    }

    /// The trace on screen and its focused head (clamped to the trace's heads).
    pub fn focused_head(&self) -> Option<(Arc<Trace>, usize)> {
        let trace = self.trace.clone()?;
        let head = self.state.head.min(trace.heads.saturating_sub(1));
        trace.has_matrices(head).then_some((trace, head))
    }

    /// The texture of matrix `kind` of a head of the trace on screen, in the chosen colours.
    pub(super) fn head_texture(
        &mut self,
        ctx: &egui::Context,
        trace: &Trace,
        head: usize,
        kind: crate::export::matrix::MatrixKind,
    ) -> Option<(egui::TextureHandle, crate::export::colormap::Range)> {
        let generation = self.trace_generation();
        let cmap = self.state.colormap;
        self.textures.head(ctx, generation, trace, head, kind, cmap)
    }

    /// How to draw matrix `kind` of a head of the trace on screen: one texture, or (a big
    /// matrix) tiles made at the zoom's resolution as they come into view.
    pub(super) fn head_image(
        &mut self,
        ctx: &egui::Context,
        trace: &Arc<Trace>,
        head: usize,
        kind: crate::export::matrix::MatrixKind,
    ) -> Option<(super::heatmap::HeatSource, crate::export::colormap::Range)> {
        let t = trace.head_traces.get(head)?;
        let values = kind.values(t);
        if values.len() <= super::heatmap::WHOLE_TEXTURE_CELLS {
            let (tex, range) = self.head_texture(ctx, trace, head, kind)?;
            return Some((super::heatmap::HeatSource::Whole(tex), range));
        }
        let key = super::heatmap::TileBase {
            trace: self.trace_generation(),
            head,
            kind,
            cmap: kind.colormap(self.state.colormap),
            weights: kind.weights_range(self.state.weights_range),
        };
        let range = self.textures.range_of(key, values, kind);
        Some((
            super::heatmap::HeatSource::Tiled(key, Arc::clone(trace)),
            range,
        ))
    }

    /// The heatmap textures alive after the last frame (tests check what views drew).
    pub fn textures(&self) -> &TextureCache {
        &self.textures
    }

    /// Loading progress in [0, 1].
    pub fn load_fraction(&self) -> f32 {
        self.load_progress.load(Ordering::Relaxed) as f32 / 1000.0
    }

    /// The current language.
    pub fn lang(&self) -> Lang {
        self.state.lang
    }

    pub(super) fn t(&self, m: Msg) -> &'static str {
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
        self.textures.begin_frame(&ctx, self.state.weights_range);
        if !self.fonts_installed {
            fonts::install_fonts(&ctx);
            fonts::install_text_sizes(&ctx);
            self.fonts_installed = true;
        }
        ctx.set_theme(match self.state.theme {
            ThemeChoice::Light => egui::Theme::Light,
            ThemeChoice::Dark => egui::Theme::Dark,
        });
        if let Some([w, h]) = self.size_asked.take() {
            // `--size` is the window on the screen; the command takes points, which the zoom
            // enlarges: at --zoom 1.4, 1280 × 720 had opened a 1792 × 1008 window.
            let zoom = ctx.zoom_factor();
            ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(egui::vec2(
                w / zoom,
                h / zoom,
            )));
        }
        self.poll_jobs();
        self.poll_translate();
        self.leave_a_missing_step();
        for (shortcut, c) in super::commands::SHORTCUTS {
            if ctx.input_mut(|i| i.consume_shortcut(&shortcut)) {
                self.push(c);
            }
        }
        self.handle_keys(&ctx);
        if let Some(path) = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .find(|p| !p.as_os_str().is_empty())
        }) {
            self.push(Command::OpenDropped(path));
        }
        self.tick_play(&ctx);

        panels::menu_bar(self, ui);
        panels::status_bar(self, ui);
        // The Translate view has its own inputs and no toy pipeline: it takes the width.
        if self.state.view != super::state::View::Translate {
            panels::controls_panel(self, ui);
            steps::steps_panel(self, ui);
        }
        egui::CentralPanel::default().show(ui, |ui| views::central(self, ui));
        panels::about_window(self, &ctx);
        panels::keys_window(self, &ctx);
        self.drop_hint(&ctx);

        for c in std::mem::take(&mut self.commands) {
            self.run_cmd(&ctx, c);
        }
        // After the panels: an edit made this frame is computed now, not one frame later.
        self.submit_jobs(&ctx);
        self.submit_translate(&ctx);
        self.state.zoom = ctx.zoom_factor();
        self.timings.frame_cpu = frame_start.elapsed();
        if self.timings.print && self.trace.is_some() && !self.busy() {
            self.timings.samples.push(self.timings.frame_cpu);
        }
        if self.timings.first_frame.is_none() {
            let first = self.timings.start.elapsed();
            self.timings.first_frame = Some(first);
            self.timings.report(|| {
                format!(
                    "start-up to first frame {:.1} ms",
                    first.as_secs_f64() * 1e3
                )
            });
        }
        self.drive_screenshot(&ctx);
    }

    /// While files are dragged over the window, what dropping them does.
    fn drop_hint(&self, ctx: &egui::Context) {
        if ctx.input(|i| i.raw.hovered_files.is_empty()) {
            return;
        }
        let painter = ctx.layer_painter(egui::LayerId::new(
            egui::Order::Foreground,
            egui::Id::unique("drop_hint"),
        ));
        let screen = ctx.content_rect();
        painter.rect_filled(screen, 0.0, egui::Color32::from_black_alpha(170));
        painter.text(
            screen.center(),
            egui::Align2::CENTER_CENTER,
            tr(self.lang(), Msg::DropHint),
            egui::FontId::proportional(22.0),
            egui::Color32::WHITE,
        );
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        if ctx.memory(|m| m.focused().is_some()) {
            return; // typing in a text box: arrows and space belong to it
        }
        // Presses, not "pressed this frame": a presenter's clicker sends → → → faster than
        // frames come, and each press is a step.
        let (left, right, space) = ctx.input(|i| {
            (
                i.num_presses(egui::Key::ArrowLeft),
                i.num_presses(egui::Key::ArrowRight),
                i.key_pressed(egui::Key::Space),
            )
        });
        let sideways = right as isize - left as isize;
        self.view_keys(ctx);
        // In the Translate view the arrows walk the decoder's rows (the translation's steps).
        if self.state.view == super::state::View::Translate {
            let n = self
                .translator
                .out
                .as_ref()
                .map_or(0, |o| o.run.target.len());
            if let Some(at) = walk(self.state.tr.step, n, sideways) {
                self.state.tr.step = at;
            }
            return;
        }
        // In the Generate view the arrows walk the generation's steps.
        if self.state.view == super::state::View::Generate
            && let Some(g) = &self.generation
        {
            let steps = self.gen_step_limit(g) + usize::from(!g.is_empty());
            if let Some(at) = walk(self.shown_gen_step(g), steps, sideways) {
                self.state.gen_step = at;
            }
            return;
        }
        let rotary = self.rotary();
        let mut step = self.state.step;
        for _ in 0..sideways.unsigned_abs() {
            match step.neighbour(rotary, sideways.signum()) {
                Some(s) => step = s,
                None => break,
            }
        }
        if step != self.state.step {
            self.push(Command::SetStep(step));
        }
        if space {
            self.push(Command::TogglePlay);
        }
        let (home, end) = ctx.input(|i| {
            (
                i.key_pressed(egui::Key::Home),
                i.key_pressed(egui::Key::End),
            )
        });
        let steps = crate::core::Step::sequence(rotary);
        if home && let Some(&s) = steps.first() {
            self.push(Command::SetStep(s));
        }
        if end && let Some(&s) = steps.last() {
            self.push(Command::SetStep(s));
        }
        // ↑ ↓ choose the query row the step-through, the lines and the neuron view follow.
        let (up, down) = ctx.input(|i| {
            (
                i.num_presses(egui::Key::ArrowUp),
                i.num_presses(egui::Key::ArrowDown),
            )
        });
        let rows = self.trace.as_ref().map_or(0, |t| t.n_q());
        if let Some(r) = walk(self.state.row, rows, down as isize - up as isize) {
            self.push(Command::SelectRow(r));
        }
    }

    /// Step 2′ (RoPE) on a head without rotary positions (`--step rotate` on BERT, or a
    /// Llama left for GPT-2) has no place in the steps: Previous, Next and every step
    /// button went dark. Step 2 is shown instead, with a word why.
    fn leave_a_missing_step(&mut self) {
        if self.state.step == crate::core::Step::Rotate
            && !self.busy()
            && self.trace.is_some()
            && !self.rotary()
        {
            self.state.step = crate::core::Step::Project;
            self.info(|lang| tr(lang, Msg::NoRotaryStep).to_owned());
        }
    }

    /// Keys every view answers (outside a text box): 1 … 9 and 0 pick the view tabs in
    /// their order, [ and ] the previous and next head, Page Up and Page Down the previous
    /// and next layer of a model.
    fn view_keys(&mut self, ctx: &egui::Context) {
        use egui::Key;
        const DIGITS: [Key; 10] = [
            Key::Num1,
            Key::Num2,
            Key::Num3,
            Key::Num4,
            Key::Num5,
            Key::Num6,
            Key::Num7,
            Key::Num8,
            Key::Num9,
            Key::Num0,
        ];
        let (digit, prev_head, next_head, prev_layer, next_layer) = ctx.input(|i| {
            let plain = i.modifiers.is_none();
            (
                DIGITS.iter().position(|&k| plain && i.key_pressed(k)),
                i.num_presses(Key::OpenBracket),
                i.num_presses(Key::CloseBracket),
                i.num_presses(Key::PageUp),
                i.num_presses(Key::PageDown),
            )
        });
        let model = self.state.embedding == super::state::EmbeddingMode::Model;
        if let Some(d) = digit.and_then(|k| views::offered(model).nth(k)) {
            self.push(Command::ShowView(d.view));
        }
        // The Translate view has its own layer and head pickers over its own model.
        if self.state.view == super::state::View::Translate {
            return;
        }
        let loaded = self.model.as_ref().filter(|_| model);
        let layers = loaded.map_or(0, |m| m.model.config.layers());
        let heads = loaded
            .map(|m| m.model.config.heads())
            .or_else(|| self.trace.as_ref().map(|t| t.heads))
            .unwrap_or(0);
        let by = |back: usize, forward: usize| forward as isize - back as isize;
        if let Some(h) = walk(self.state.head, heads, by(prev_head, next_head)) {
            self.push(Command::FocusHead(h));
        }
        if let Some(l) = walk(self.state.layer, layers, by(prev_layer, next_layer)) {
            self.push(Command::FocusLayer(l));
        }
    }

    fn tick_play(&mut self, ctx: &egui::Context) {
        if !self.playing {
            return;
        }
        let now = ctx.input(|i| i.time);
        if now - self.last_play_secs >= 1.5 {
            self.last_play_secs = now;
            match self.state.step.neighbour(self.rotary(), 1) {
                Some(s) => self.state.step = s,
                None => self.playing = false,
            }
        }
        ctx.request_repaint_after(Duration::from_millis(100));
    }
}

/// Index `at` of `n` (clamped into them) moved `by` places (back when negative) and kept
/// inside them; `None` when nothing moves it or there is nothing to walk.
fn walk(at: usize, n: usize, by: isize) -> Option<usize> {
    let last = n.checked_sub(1)?;
    (by != 0).then(|| at.min(last).saturating_add_signed(by).min(last))
}

impl eframe::App for AttnApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    /// Panel sizes, scroll positions and the like are remembered with the session, except by
    /// a scripted run.
    fn persist_egui_memory(&self) -> bool {
        self.remember
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        // A scripted run (--screenshot) must not overwrite the user's remembered session.
        if self.remember {
            eframe::set_value(storage, eframe::APP_KEY, &self.state);
        }
    }
}
