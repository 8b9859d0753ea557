//! What the UI asks for: panels push [`Command`]s while drawing, and [`AttnApp::run_cmd`]
//! applies them once after the frame. File dialogs, exports, sessions, specs and lessons live
//! here; every failure becomes a notice in the status bar and leaves the state as it was.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use eframe::egui;

use super::errors::{ReadError, chain_text};
use super::i18n::{Lang, Msg, tr, trf};
use super::lessons::LESSONS;
use super::state::{EmbeddingMode, View};
use super::translate::ScreenMatrix;
use super::{AttnApp, Notice, session};
use crate::core::{Spec, Step};
use crate::export::matrix::MatrixKind;
use crate::export::{self, write_atomic};

/// The File menu's keyboard shortcuts (Ctrl on Linux and Windows, ⌘ on a Mac), shown beside
/// its items and taken even while a text box has focus.
pub const SHORTCUTS: [(egui::KeyboardShortcut, Command); 4] = {
    use egui::{Key, KeyboardShortcut as K, Modifiers as M};
    [
        (K::new(M::COMMAND, Key::O), Command::OpenSession),
        (K::new(M::COMMAND, Key::S), Command::SaveSession),
        (
            K::new(M::COMMAND, Key::E),
            Command::ExportHeatmap(ExportKind::Png),
        ),
        (K::new(M::COMMAND, Key::Q), Command::Quit),
    ]
};

/// The shortcut of `c`, if it has one.
pub fn shortcut_of(c: &Command) -> Option<egui::KeyboardShortcut> {
    SHORTCUTS.iter().find(|(_, s)| s == c).map(|(k, _)| *k)
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
    /// Export the focused heatmap (PNG or SVG).
    ExportHeatmap(ExportKind),
    /// Export the trace (JSON) or its weights (CSV).
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
    /// The toy-vs-trained lesson on the Translate tab's own source and target (the toy's
    /// cross-attention over the same characters).
    CompareWithToy {
        /// Target (the toy's queries).
        target: String,
        /// Source (the toy's keys and values).
        source: String,
    },
    /// Open a model folder (a dialog when `None`).
    OpenModel(Option<PathBuf>),
    /// Open a file or folder dropped on the window: a session, a spec, a text file or a
    /// model, told apart by what it is.
    OpenDropped(PathBuf),
    /// Pick a GGUF file and load it.
    OpenGguf,
    /// Scan this computer for models (`true`: again, even if scanned before).
    ScanModels(bool),
    /// Pick a folder to add to the scan.
    AddModelFolder,
    /// Focus a layer of the model.
    FocusLayer(usize),
    /// Generate from the model input text (the Generate view's settings).
    Generate,
    /// One more token (a run waiting for Step continues; otherwise a new run writes one).
    StepGeneration,
    /// Stop the generation in progress before its next token.
    CancelGeneration,
    /// Select a (query, key) cell.
    SelectCell(usize, usize),
    /// Start or stop auto-advancing steps.
    TogglePlay,
    /// Show a view.
    ShowView(View),
    /// Forget the explicit parameters a spec file brought (back to seeded ones).
    ForgetImported,
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

impl AttnApp {
    /// Applies one command.
    pub fn run_cmd(&mut self, ctx: &egui::Context, c: Command) {
        match c {
            Command::SetStep(s) => self.state.step = s,
            Command::SelectRow(r) => {
                self.state.row = r;
                self.row_wanted = None;
            }
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
                // "weights.csv" beside "trace.json": one name for both was easy to mix up.
                let name = match (kind, self.model_layer()) {
                    (ExportKind::Csv, Some(l)) => format!("weights-layer{l}"),
                    (ExportKind::Csv, None) => "weights".to_owned(),
                    (_, Some(l)) => format!("trace-layer{l}"),
                    (_, None) => "trace".to_owned(),
                };
                let r = self.pick_save_path(&name, kind.ext()).map(|p| {
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
                    let opened = self.open_session_from(&p);
                    self.report_opened(&p, opened);
                }
            }
            Command::OpenSpec => {
                if let Some(p) = self.pick_open_path("json") {
                    let opened = self.open_spec_from(&p);
                    self.report_opened(&p, opened);
                }
            }
            Command::LoadLesson(i) => {
                if let Some(lesson) = LESSONS.get(i) {
                    match lesson.spec() {
                        Ok(spec) => {
                            self.state.load_spec(&spec);
                            self.state.step = Step::Embed;
                            self.state.row = 0;
                            if self.state.view == View::Translate {
                                self.state.view = View::Heatmap;
                            }
                            self.info(move |lang| {
                                format!("{} {}", tr(lang, Msg::Opened), lesson.title(lang))
                            });
                        }
                        Err(e) => self.fail(move |lang| {
                            let why = super::errors::core_text(lang, &e);
                            let title = lesson.title(lang);
                            format!("{} {title}: {why}", tr(lang, Msg::OpenFailed))
                        }),
                    }
                }
            }
            Command::OpenModel(path) => {
                let path = path.or_else(|| self.pick_folder());
                if let Some(p) = &path
                    && crate::model::seq2seq::Seq2Seq::is_seq2seq_dir(p)
                {
                    // An encoder–decoder model opens in the Translate view; the model of the
                    // other views stays.
                    self.open_translator(ctx, crate::model::resolve_dir(p));
                } else if let Some(p) = path {
                    if self.state.embedding != EmbeddingMode::Model {
                        self.state.embedding = EmbeddingMode::Model;
                        self.state.view = View::Model;
                    }
                    self.start_model_load(ctx, crate::model::resolve_dir(&p));
                }
            }
            Command::OpenDropped(path) => self.open_dropped(ctx, path),
            Command::CompareWithToy { target, source } => {
                let found = LESSONS.iter().find(|l| l.name == "toy_vs_trained_cross");
                if let Some(l) = found
                    && let Ok(mut spec) = l.spec()
                {
                    // Other sentences than the lesson's: its description (the year, «M»,
                    // the day of its own date) would not describe them.
                    let own = spec.target.text.as_deref() == Some(target.as_str())
                        && spec.source.as_ref().and_then(|s| s.text.as_deref())
                            == Some(source.as_str());
                    if !own {
                        let say = |lang| tr(lang, Msg::TrCompareToyText);
                        spec.description = Some(format!("{} / {}", say(Lang::En), say(Lang::Zh)));
                    }
                    spec.target.text = Some(target);
                    spec.source = Some(crate::core::Sequence {
                        text: Some(source),
                        ..Default::default()
                    });
                    self.state.load_spec(&spec);
                    self.state.step = Step::Softmax;
                    self.state.row = 0;
                    self.state.view = View::Heatmap;
                }
            }
            Command::OpenGguf => {
                let path = self.pick_open_path("gguf");
                if let Some(p) = path {
                    self.push(Command::OpenModel(Some(p)));
                }
            }
            Command::ScanModels(again) => self.scan_models(ctx, again),
            Command::AddModelFolder => {
                let dir = self.pick_folder();
                if let Some(d) = dir {
                    if !self.state.model_folders.contains(&d) {
                        self.state.model_folders.push(d);
                    }
                    self.scan_models(ctx, true);
                }
            }
            Command::FocusLayer(l) => self.state.layer = l,
            Command::Generate => self.generate_all(ctx),
            Command::StepGeneration => self.step_generation(ctx),
            Command::CancelGeneration => {
                if let Some(g) = &self.generation {
                    g.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Command::SelectCell(i, j) => {
                self.state.row = i;
                self.row_wanted = None;
                self.state.col = j;
            }
            Command::ShowView(v) => self.state.view = v,
            Command::ForgetImported => self.state.imported = None,
            Command::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
        }
    }

    /// Shows an information notice, said in the language on screen.
    pub(super) fn info(&mut self, say: impl Fn(Lang) -> String + Send + Sync + 'static) {
        self.show_notice(Notice::new(false, say));
    }

    /// Says so when d_model is no longer `before`: a head count that does not divide it
    /// widened it, and every number changed with it.
    pub(super) fn say_if_widened(&mut self, before: usize) {
        let (after, heads) = (self.state.d_model, self.state.heads);
        if after > before {
            self.info(move |lang| trf(lang, Msg::DModelWidened, &[&before, &after, &heads]));
        } else if after < before {
            self.info(move |lang| trf(lang, Msg::DModelRestored, &[&before, &after, &heads]));
        }
    }

    /// Shows an error notice, said in the language on screen.
    pub(super) fn fail(&mut self, say: impl Fn(Lang) -> String + Send + Sync + 'static) {
        self.show_notice(Notice::new(true, say));
    }

    /// Puts `n` in the status bar; the one it replaces stays readable in the list of
    /// earlier notices (several can land at once: a spec's changes, then the model's load).
    fn show_notice(&mut self, n: Notice) {
        if let Some(old) = self.notice.replace(n) {
            self.earlier_notices.push_front(old);
            self.earlier_notices.truncate(EARLIER_NOTICES);
        }
    }

    /// A file or folder dropped on the window. A JSON file in a model's folder, a folder and
    /// any other file open as a model (a GGUF, or the folder of a safetensors file); a JSON
    /// file with a `format` field as a session, another JSON file as a spec; a `.txt` file
    /// becomes the text.
    fn open_dropped(&mut self, ctx: &egui::Context, path: PathBuf) {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let in_model = path
            .parent()
            .is_some_and(|d| d.join("config.json").is_file());
        let opened = match ext.as_deref() {
            // Read once: the text tells a session from a spec.
            Some("json") if !in_model => self.open_json_from(&path),
            Some("txt") => super::launch::read_text_file(&path).map(|text| {
                self.state.text_q = text;
                Vec::new()
            }),
            _ => return self.run_cmd(ctx, Command::OpenModel(Some(path))),
        };
        self.report_opened(&path, opened);
    }

    /// "Opened …", with the settings the controls' range changed (`changed`), or "Could not
    /// open: …".
    pub(super) fn report_opened(&mut self, path: &Path, opened: Result<Vec<String>>) {
        match opened {
            Ok(changed) if changed.is_empty() => self.info_done(Msg::Opened, path.display()),
            Ok(changed) => {
                let (path, changed) = (path.display().to_string(), changed.join(", "));
                self.info(move |lang| {
                    opened_and(lang, &path, &trf(lang, Msg::SpecAdjusted, &[&changed]))
                });
            }
            Err(e) => self.fail_with(Msg::OpenFailed, e),
        }
    }

    /// "Opened …" / "Saved …" and what (a path or a name).
    pub(super) fn info_done(&mut self, what: Msg, subject: impl std::fmt::Display) {
        let subject = subject.to_string();
        self.info(move |lang| format!("{} {subject}", tr(lang, what)));
    }

    /// The remembered session (in `dir`, if known) could not be read: the app started on its
    /// default, and says so.
    pub(super) fn warn_remembered_unreadable(&mut self, dir: Option<std::path::PathBuf>) {
        let dir = dir.map_or_else(String::new, |d| d.display().to_string());
        self.fail(move |lang| trf(lang, Msg::RememberedUnreadable, &[&dir]));
    }

    /// "Could not open:" / "Could not save:" and the error with its causes.
    pub(super) fn fail_with(&mut self, what: Msg, e: anyhow::Error) {
        self.fail(move |lang| format!("{} {}", tr(lang, what), chain_text(lang, &e)));
    }

    fn report_save(&mut self, r: Option<(PathBuf, Result<()>)>) {
        match r {
            None => {}
            // Saved where no dialog could ask: the one line says both.
            Some((p, Ok(()))) if !dialogs_available() && self.dialog_override.is_none() => {
                let path = p.display().to_string();
                self.info(move |lang| trf(lang, Msg::SavedNoDialog, &[&path]));
            }
            Some((p, Ok(()))) => self.info_done(Msg::Saved, p.display()),
            Some((_, Err(e))) => self.fail_with(Msg::SaveFailed, e),
        }
    }

    /// Where to save: the file dialog's choice; where no dialog can open (no desktop
    /// portal, as on a bare X server) a new file in the documents folder, said, rather than
    /// nothing happening at all.
    fn pick_save_path(&mut self, stem: &str, ext: &str) -> Option<PathBuf> {
        if let Some(p) = &self.dialog_override {
            return Some(p.clone());
        }
        if !dialogs_available() {
            // Said with the result (see `report_save`).
            return Some(unused_path(&fallback_dir(), stem, ext));
        }
        rfd::FileDialog::new()
            .set_file_name(format!("{stem}.{ext}"))
            .add_filter(ext, &[ext])
            .save_file()
    }

    /// A file to open, from the file dialog (see [`Self::pick_with`]).
    fn pick_open_path(&mut self, ext: &str) -> Option<PathBuf> {
        self.pick_with(|| rfd::FileDialog::new().add_filter(ext, &[ext]).pick_file())
    }

    /// A folder, from the folder dialog (see [`Self::pick_with`]).
    fn pick_folder(&mut self) -> Option<PathBuf> {
        self.pick_with(|| rfd::FileDialog::new().pick_folder())
    }

    /// Something to open, from `dialog`, or the tests' override; where no dialog can open, a
    /// word on the other ways in instead of nothing happening.
    fn pick_with(&mut self, dialog: impl FnOnce() -> Option<PathBuf>) -> Option<PathBuf> {
        if let Some(p) = &self.dialog_override {
            return Some(p.clone());
        }
        if !dialogs_available() {
            self.fail(|lang| tr(lang, Msg::NoDialogOpening).to_owned());
            return None;
        }
        dialog()
    }

    /// Writes the focused head's heatmap (the current step's matrix) as PNG or SVG, with the
    /// same colour rule as `attnscope render`.
    pub fn export_heatmap_to(&self, path: &Path, kind: ExportKind) -> Result<()> {
        if let Some(f) = self.screen_matrix()? {
            let hm = crate::export::heatmap::Heatmap {
                values: &f.values,
                allowed: f.allowed.as_ref(),
                rows: &f.rows,
                cols: &f.cols,
                colormap: MatrixKind::Weights.colormap(self.state.colormap),
                range: MatrixKind::Weights.range(&f.values, self.state.weights_range),
                scale: crate::export::matrix::ColourScale::Linear,
                title: f.title,
            };
            return write_heatmap(path, kind, &hm);
        }
        let trace = &self.trace_to_export()?;
        let matrix = MatrixKind::for_step(self.state.step);
        let head = self.state.head.min(trace.heads.saturating_sub(1));
        if !trace.has_matrices(head) {
            anyhow::bail!(trf(self.lang(), Msg::ErrHeadOpening, &[&head]));
        }
        // What the picture is of: with a model, its name and layer too.
        let model = match (&self.model, self.state.embedding) {
            (Some(m), EmbeddingMode::Model) => format!(
                "{} · {} {} · ",
                m.model.name,
                self.t(Msg::Layer),
                self.state.layer
            ),
            _ => String::new(),
        };
        let title = format!(
            "{model}{} {head} · {}",
            self.t(Msg::Head),
            self.t(super::views::heatmap::legend_msg(matrix))
        );
        let hm = matrix
            .heatmap(
                trace,
                head,
                self.state.colormap,
                self.state.weights_range,
                title,
            )
            .with_context(|| trf(self.lang(), Msg::ErrHeadMissing, &[&head]))?;
        write_heatmap(path, kind, &hm)
    }

    /// Writes the trace as JSON, or every head's weights as CSV.
    pub fn export_trace_to(&self, path: &Path, kind: ExportKind) -> Result<()> {
        if kind == ExportKind::Csv
            && let Some(f) = self.screen_matrix()?
        {
            let text = export::matrix_csv(&f.values, &f.rows, &f.cols);
            write_atomic(path, text.as_bytes())?;
            return Ok(());
        }
        if self.state.view == View::Translate {
            // The focused head's whole computation, as the step-through shows it.
            if self.translator.out.is_none() {
                anyhow::bail!(self.t(Msg::NoTrace));
            }
            if self.state.tr.aggregate.is_some() {
                anyhow::bail!(self.t(Msg::ErrAggregateTrace));
            }
            let trace = self.translate_lab_trace();
            let trace = trace.as_deref().context(self.t(Msg::ErrHeadComputing))?;
            write_atomic(path, export::trace_json(trace)?.as_bytes())?;
            return Ok(());
        }
        let trace = &self.trace_to_export()?;
        let text = match kind {
            ExportKind::Csv => export::trace_weights_csv(trace, self.model_layer()),
            _ => export::trace_json(trace)?,
        };
        write_atomic(path, text.as_bytes())?;
        Ok(())
    }

    /// The matrix on screen when the view shows something other than a head of the trace:
    /// the Translate view's focus (not the toy trace behind it), a model's rollout and the
    /// Generate view's heatmap grown with the text.
    /// `Ok(None)`: the view shows a head of the trace. An error: its matrix is not ready.
    fn screen_matrix(&self) -> Result<Option<ScreenMatrix>> {
        let m = match self.state.view {
            View::Translate => self.translate_focus(),
            View::Rollout if self.state.embedding == EmbeddingMode::Model => {
                match self.model_out.as_ref() {
                    None => None,
                    // A long run keeps no full matrices to roll out (the view says so).
                    Some(out) => {
                        let values = out
                            .rollout(self.state.rollout_upto, self.state.rollout_skip_first)
                            .context(self.t(Msg::RolloutLong))?
                            .as_ref()
                            .clone();
                        let labels = out.run.labels();
                        Some(ScreenMatrix {
                            values,
                            rows: labels.clone(),
                            cols: labels,
                            title: rollout_title(
                                self.lang(),
                                out.rollouts.as_ref().map_or(0, Vec::len),
                                self.state.rollout_upto,
                                self.state.rollout_skip_first,
                            ),
                            allowed: None,
                        })
                    }
                }
            }
            // Before a generation the view shows the prompt's focused head, which is the
            // trace; after it, the exact matrix grown with the text (pooled on screen past
            // its texture side).
            View::Generate => return Ok(super::views::grown_matrix(self)),
            _ => return Ok(None),
        };
        Ok(Some(m.context(self.t(Msg::NoTrace))?))
    }

    /// Writes the session file.
    pub fn save_session_to(&self, path: &Path) -> Result<()> {
        write_atomic(path, session::to_json(&self.state).as_bytes())?;
        Ok(())
    }

    /// Reads a session file; on error the current state is untouched.
    /// Returns what had to change to fit the model on screen (see `open_session_text`).
    pub fn open_session_from(&mut self, path: &Path) -> Result<Vec<String>> {
        let text = read_capped(path, session::MAX_BYTES)?;
        self.open_session_text(path, &text)
    }

    /// A session file's text (read from `path`) into the state.
    /// A session's knock-out list is fitted to the model on screen when the session names
    /// that model (another model is fitted when it loads): the heads it does not have are
    /// returned as a change ("knock-out L9 H9 → —").
    fn open_session_text(&mut self, path: &Path, text: &str) -> Result<Vec<String>> {
        self.state = session::parse(text).with_context(|| path.display().to_string())?;
        let same_model = self.model.as_ref().is_some_and(|m| {
            let dir = self
                .state
                .model_dir
                .as_deref()
                .map(crate::model::resolve_dir);
            dir.as_deref() == Some(m.model.dir.as_path())
        });
        let mut changed = Vec::new();
        if let Some(m) = self.model.as_ref().filter(|_| same_model) {
            let (layers, heads) = (m.model.config.layers(), m.model.config.heads());
            let left_out = self.state.fit_knockout(layers, heads);
            if !left_out.is_empty() {
                changed.push(format!("knock-out {left_out} → —"));
            }
        }
        Ok(changed)
    }

    /// A JSON file that is a saved session or a spec, told apart by its text (read once).
    pub fn open_json_from(&mut self, path: &Path) -> Result<Vec<String>> {
        let text = read_capped(path, session::MAX_BYTES)?;
        if session::has_format_field(&text) {
            self.open_session_text(path, &text)
        } else {
            self.open_spec_text(path, &text)
        }
    }

    /// Reads a spec file into the state (everything it holds; see [`super::state::State::load_spec`]).
    /// Returns the settings brought into the controls' range (see
    /// [`super::state::State::open_spec`]); a spec the core would refuse changes nothing.
    pub fn open_spec_from(&mut self, path: &Path) -> Result<Vec<String>> {
        let text = read_capped(path, session::MAX_BYTES)?;
        self.open_spec_text(path, &text)
    }

    /// A spec file's text (read from `path`) into the state.
    fn open_spec_text(&mut self, path: &Path, text: &str) -> Result<Vec<String>> {
        let lang = self.lang();
        let bad = || trf(lang, Msg::ErrBadSpec, &[&path.display()]);
        let spec = Spec::from_json(text).with_context(bad)?;
        self.state.open_spec(&spec).map_err(|e| e.context(bad()))
    }
}

/// How many replaced notices the status bar keeps for its list.
const EARLIER_NOTICES: usize = 20;

/// "Opened `subject`." and a second sentence, `more`, with the language's full stop.
pub(super) fn opened_and(lang: Lang, subject: &str, more: &str) -> String {
    let stop = if lang == Lang::Zh { "。" } else { ". " };
    format!("{} {subject}{stop}{more}", tr(lang, Msg::Opened))
}

/// An exported rollout's title: through which layer, and whether the first token is left
/// out ("Rollout · through layer 3 · leave out the first token").
fn rollout_title(lang: Lang, layers: usize, upto: Option<usize>, skip_first: bool) -> String {
    let last = layers.saturating_sub(1);
    let mut t = format!(
        "{} · {} {}",
        tr(lang, Msg::ViewRollout),
        tr(lang, Msg::RolloutUpto),
        upto.unwrap_or(last).min(last)
    );
    if skip_first {
        t = format!("{t} · {}", tr(lang, Msg::RolloutSkipFirst));
    }
    t
}

/// A heatmap as PNG or SVG (exact cells, token labels, title, colour bar), written atomically.
fn write_heatmap(
    path: &Path,
    kind: ExportKind,
    hm: &crate::export::heatmap::Heatmap,
) -> Result<()> {
    let bytes = match kind {
        ExportKind::Svg => hm.to_svg()?.into_bytes(),
        _ => hm.to_png(hm.default_cell_px())?,
    };
    write_atomic(path, &bytes)?;
    Ok(())
}

/// A text file's contents, refusing files larger than `max` bytes before reading them.
pub(super) fn read_capped(path: &Path, max: u64) -> Result<String, ReadError> {
    let io = |error| ReadError::Io {
        path: path.to_owned(),
        error,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > max {
        return Err(ReadError::TooLarge {
            path: path.to_owned(),
            len,
            max,
        });
    }
    // A pipe or a device has no size to check beforehand: the read itself stops at `max`.
    crate::core::limits::read_text(path, max).map_err(io)
}

/// Whether a native file dialog can open. On Linux rfd asks the desktop portal over the
/// D-Bus session bus; without a session bus (a bare X server, a kiosk, Xvfb) the dialog
/// returns nothing at once, exactly as if it had been cancelled.
fn dialogs_available() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
        || std::env::var_os("XDG_RUNTIME_DIR")
            .is_some_and(|d| std::path::Path::new(&d).join("bus").exists())
}

/// Where files go without a dialog: the documents folder, else home, else the current one.
fn fallback_dir() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let docs = home.as_ref().map(|h| h.join("Documents"));
    docs.filter(|d| d.is_dir())
        .or(home.filter(|h| h.is_dir()))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `dir/stem.ext`, or `dir/stem-2.ext`, `-3`, … : the first name not taken, so nothing is
/// overwritten.
fn unused_path(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    let first = dir.join(format!("{stem}.{ext}"));
    if !first.exists() {
        return first;
    }
    (2..10_000)
        .map(|k| dir.join(format!("{stem}-{k}.{ext}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_without_a_dialog_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let first = unused_path(dir.path(), "heatmap", "png");
        assert_eq!(first, dir.path().join("heatmap.png"));
        std::fs::write(&first, b"x").unwrap();
        let second = unused_path(dir.path(), "heatmap", "png");
        assert_eq!(second, dir.path().join("heatmap-2.png"));
    }
}
