//! Starting the desktop app: window options, the remembered state, and the command-line
//! options applied on top of it.

use std::time::Instant;

use anyhow::{Context as _, Result};
use eframe::egui;

use super::AttnApp;
use super::screenshot::ScreenshotJob;
use super::state::{EmbeddingMode, State, View};
use crate::cli::GuiArgs;

impl AttnApp {
    /// Applies command-line options on top of the state. A spec or text file that cannot be
    /// used is reported in the window (and on stderr) and the app starts without it, as a
    /// file opened from the menu would be.
    pub fn apply_args(&mut self, args: &GuiArgs) -> Result<()> {
        // First: the messages below are said in it.
        if let Some(l) = args.lang {
            self.state.lang = l;
        }
        if let Some(path) = &args.spec {
            // A saved session opens too: without a file dialog (no desktop portal) this is
            // how one comes back.
            let opened = self.open_json_from(path);
            if let Err(e) = &opened {
                let line = format!("cannot open {}: {e:#}", path.display());
                say_once(args, &line);
                self.startup_failure = Some(line);
            }
            self.report_opened(path, opened);
        }
        if let Some(dir) = &args.model {
            if crate::model::seq2seq::Seq2Seq::is_seq2seq_dir(dir) {
                // An encoder–decoder model: the Translate view loads it.
                self.state.tr.model = Some(crate::model::resolve_dir(dir));
                self.state.view = View::Translate;
            } else {
                self.state.model_dir = Some(crate::model::resolve_dir(dir));
                self.state.embedding = EmbeddingMode::Model;
                self.state.view = View::Model;
            }
        }
        if let Some(s) = &args.source {
            self.state.tr.source = s.clone();
            self.state.view = View::Translate;
        }
        if let Some(t) = &args.target {
            self.state.tr.target = t.clone();
        }
        if let Some(s) = args.tr_step {
            self.state.tr.step = s;
        }
        if let Some(l) = args.layer {
            self.state.layer = l;
        }
        let from_file = match args.text_file.as_deref().map(read_text_file) {
            Some(Err(e)) => {
                let line = format!("{e:#}");
                say_once(args, &line);
                self.startup_failure = Some(line);
                self.fail_with(super::i18n::Msg::OpenFailed, e);
                None
            }
            Some(Ok(text)) => Some(text),
            None => None,
        };
        if args.run_big {
            self.run_gate.always = true;
        }
        if args.generate {
            self.generate_on_load = true;
            self.state.view = View::Generate;
        }
        if let Some(spec) = &args.ablate {
            self.state.gen_knock = crate::model::ablate::Ablation::parse_heads(spec)
                .map_err(|e| anyhow::anyhow!("--ablate: {e}"))?;
        }
        self.whatif_on_done = args.whatif;
        if args.guess {
            self.state.gen_guess_mode = true;
        }
        if let Some(step) = args.gen_step {
            self.gen_step_on_load = Some(step);
        }
        if let Some(text) = args.text.as_ref().or(from_file.as_ref()) {
            self.state.text_q = text.clone();
            if self.state.embedding == EmbeddingMode::Matrix {
                self.state.embedding = EmbeddingMode::Toy;
            }
        }
        if let Some(v) = args.view {
            self.state.view = v;
        }
        if let Some(s) = args.step {
            self.state.step = s;
        }
        if let Some(r) = args.row {
            self.state.row = r;
        }
        if let Some(m) = args.max_tokens {
            self.state.max_tokens = m;
        }
        if let Some(h) = args.head {
            self.state.head = h;
        }
        if args.row.is_some() || args.head.is_some() {
            self.focus_asked = Some((self.state.row, self.state.head));
        }
        let d_before = self.state.d_model;
        if let Some(h) = args.heads {
            self.state.heads = h;
        }
        if let Some(t) = args.theme {
            self.state.theme = t;
        }
        if let Some(z) = args.zoom {
            self.state.zoom = z;
        }
        self.state.sanitize();
        self.say_if_widened(d_before);
        if args.fresh {
            // A fresh start had overwritten the remembered session with the defaults at
            // quit: a student's sentence and settings were gone at the next start.
            self.remember = false;
            // Not on a scripted screenshot's status line.
            if self.startup_failure.is_none() && args.screenshot.is_none() {
                self.info(|lang| {
                    super::i18n::tr(lang, super::i18n::Msg::FreshNotRemembered).to_owned()
                });
            }
        }
        Ok(())
    }
}

/// A command-line file the window starts without, on stderr too; a scripted screenshot
/// says it once, when it exits with it.
fn say_once(args: &GuiArgs, line: &str) {
    if args.screenshot.is_none() {
        eprintln!("attnscope: {line}");
    }
}

/// Parses `--size WxH`.
fn parse_size(s: &str) -> Result<[f32; 2]> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .context("--size must look like 1400x900")?;
    let (w, h): (f32, f32) = (w.trim().parse()?, h.trim().parse()?);
    if !(200.0..=16384.0).contains(&w) || !(200.0..=16384.0).contains(&h) {
        anyhow::bail!("--size {s}: each side must be between 200 and 16384");
    }
    Ok([w, h])
}

/// Starts the desktop app.
pub fn run(args: GuiArgs) -> Result<()> {
    let size = match &args.size {
        Some(s) => parse_size(s)?,
        None => [1440.0, 900.0],
    };
    let asked_size = args.size.is_some();
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
            let mut unreadable = None;
            let state = if fresh {
                // Also the window's remembered panel sizes: a fresh start (and every
                // screenshot) looks the same on every machine, whatever ran before.
                cc.egui_ctx.memory_mut(|m| *m = egui::Memory::default());
                State::default()
            } else {
                let stored = cc
                    .storage
                    .filter(|s| s.get_string(eframe::APP_KEY).is_some());
                match stored.map(|s| eframe::get_value::<State>(s, eframe::APP_KEY)) {
                    Some(Some(state)) => state,
                    // Said, not dropped without a word: the user's last lesson is gone.
                    Some(None) => {
                        unreadable = Some(eframe::storage_dir("attnscope"));
                        State::default()
                    }
                    // No session in the store at all, though its file is there and not
                    // empty: the file is cut off or damaged as a whole (a crash while it
                    // was written), which eframe reads as empty.
                    None => {
                        let dir = eframe::storage_dir("attnscope");
                        let file = dir.as_ref().map(|d| d.join("app.ron"));
                        // eframe keeps the window ("window") and egui's memory ("egui")
                        // there too: with any of them read, the file itself was whole.
                        let read_any = cc.storage.is_some_and(|s| {
                            ["window", "egui"].iter().any(|k| s.get_string(k).is_some())
                        });
                        let non_empty =
                            file.is_some_and(|f| f.metadata().is_ok_and(|m| m.len() > 0));
                        if non_empty && !read_any {
                            unreadable = Some(dir);
                        }
                        State::default()
                    }
                }
            };
            let mut app = AttnApp::new(state);
            if let Some(why) = unreadable {
                app.warn_remembered_unreadable(why);
            }
            if fresh || asked_size {
                app.size_asked = Some(size);
            }
            app.timings.start = start;
            app.timings.print = print_timings;
            app.apply_args(&args)?;
            // The remembered zoom, or `--zoom`.
            cc.egui_ctx.set_zoom_factor(app.state.zoom.clamp(0.5, 3.0));
            if let Some(p) = screenshot {
                app.remember = false;
                app.screenshot = ScreenshotJob::to(p, true);
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot start the window: {e}"))?;
    match super::screenshot::SCRIPT_FAILURE
        .lock()
        .ok()
        .and_then(|mut f| f.take())
    {
        Some(why) => anyhow::bail!("{why} (the screenshot shows it)"),
        None => Ok(()),
    }
}

/// The longest text file `--text-file` reads (a model's context is at most a few hundred
/// thousand characters).
const MAX_TEXT_FILE_BYTES: u64 = 4 << 20;

/// A UTF-8 text file, refused when larger than [`MAX_TEXT_FILE_BYTES`].
pub(super) fn read_text_file(path: &std::path::Path) -> Result<String> {
    Ok(super::commands::read_capped(path, MAX_TEXT_FILE_BYTES)?)
}
