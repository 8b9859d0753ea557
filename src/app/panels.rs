//! Menu bar, the input and mechanism controls, the status bar and the About window.

use eframe::egui::{self, RichText};

use crate::core::{ScoreKind, SpanKind, Tokenizer};
use crate::export::colormap::Colormap;
use crate::export::matrix::WeightsRange;

use super::describe;
use super::i18n::{Lang, Msg, tr, trf};
use super::lessons::{LESSONS, in_lang};
use super::state::{EmbeddingMode, MAX_MATRIX, Preset, ThemeChoice, View};
use super::{AttnApp, Command, ExportKind};

/// A menu item that pushes `c` when clicked, with its keyboard shortcut beside it.
fn menu_item(app: &mut AttnApp, ui: &mut egui::Ui, text: &str, c: Command) {
    let mut button = egui::Button::new(text);
    if let Some(k) = super::commands::shortcut_of(&c) {
        button = button.shortcut_text(ui.ctx().format_shortcut(&k));
    }
    if ui.add(button).clicked() {
        app.push(c);
    }
}

/// File, View, Language, Help.
pub fn menu_bar(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    egui::Panel::top("menu").show(ui, |ui| {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button(t(Msg::MenuFile), |ui| {
                for (m, c) in [
                    (Msg::OpenSession, Command::OpenSession),
                    (Msg::SaveSession, Command::SaveSession),
                    (Msg::OpenSpec, Command::OpenSpec),
                ] {
                    menu_item(app, ui, t(m), c);
                }
                ui.menu_button(t(Msg::MenuLessons), |ui| {
                    for (i, lesson) in LESSONS.iter().enumerate() {
                        if ui
                            .button(lesson.title(lang))
                            .on_hover_text(lesson.description(lang))
                            .clicked()
                        {
                            app.push(Command::LoadLesson(i));
                        }
                    }
                });
                ui.separator();
                for (m, c) in [
                    (Msg::ExportPng, Command::ExportHeatmap(ExportKind::Png)),
                    (Msg::ExportSvg, Command::ExportHeatmap(ExportKind::Svg)),
                    (Msg::ExportJson, Command::ExportTrace(ExportKind::Json)),
                    (Msg::ExportCsv, Command::ExportTrace(ExportKind::Csv)),
                    (Msg::ExportWindow, Command::ExportWindow),
                ] {
                    menu_item(app, ui, t(m), c);
                }
                ui.separator();
                menu_item(app, ui, t(Msg::Quit), Command::Quit);
            });
            ui.menu_button(t(Msg::MenuModel), |ui| {
                ui.label(RichText::new(t(Msg::SampleModels)).weak());
                let samples = sample_models();
                for dir in &samples {
                    let name = dir
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if ui.button(name).clicked() {
                        app.push(Command::OpenModel(Some(dir.clone())));
                    }
                }
                if !samples.iter().any(|p| crate::model::from_gguf::is_gguf(p)) {
                    ui.label(RichText::new(t(Msg::FetchModelsHint)).weak().small());
                }
                ui.separator();
                if ui.button(t(Msg::OpenModelFolder)).clicked() {
                    app.push(Command::OpenModel(None));
                }
                if ui.button(t(Msg::OpenGgufFile)).clicked() {
                    app.push(Command::OpenGguf);
                }
                ui.menu_button(t(Msg::RecentModels), |ui| {
                    if app.state.recent_models.is_empty() {
                        ui.label(t(Msg::NoRecentModels));
                    }
                    for dir in app.state.recent_models.clone() {
                        if ui.button(dir.display().to_string()).clicked() {
                            app.push(Command::OpenModel(Some(dir)));
                        }
                    }
                });
                ui.menu_button(t(Msg::ModelsOnComputer), |ui| {
                    found_models_ui(app, ui, lang);
                });
            });
            ui.menu_button(t(Msg::MenuView), |ui| {
                for d in super::views::offered(app.state.embedding == EmbeddingMode::Model) {
                    ui.radio_value(&mut app.state.view, d.view, t(d.label));
                }
                ui.separator();
                ui.radio_value(&mut app.state.theme, ThemeChoice::Light, t(Msg::ThemeLight));
                ui.radio_value(&mut app.state.theme, ThemeChoice::Dark, t(Msg::ThemeDark));
                ui.separator();
                let ctx = ui.ctx().clone();
                if ui.button(t(Msg::ZoomIn)).clicked() {
                    ctx.set_zoom_factor((ctx.zoom_factor() + 0.1).min(3.0));
                }
                if ui.button(t(Msg::ZoomOut)).clicked() {
                    ctx.set_zoom_factor((ctx.zoom_factor() - 0.1).max(0.5));
                }
                if ui.button(t(Msg::ZoomReset)).clicked() {
                    ctx.set_zoom_factor(1.0);
                }
            });
            ui.menu_button(t(Msg::MenuLanguage), |ui| {
                ui.radio_value(&mut app.state.lang, Lang::En, "English");
                ui.radio_value(&mut app.state.lang, Lang::Zh, "简体中文");
            });
            ui.menu_button(t(Msg::MenuHelp), |ui| {
                if ui.button(t(Msg::KeysTitle)).clicked() {
                    app.show_keys = true;
                }
                if ui.button(t(Msg::About)).clicked() {
                    app.show_about = true;
                }
            });
        });
    });
}

/// Compute time, kernel, sizes, frame time and the last notice.
pub fn status_bar(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    egui::Panel::bottom("status").show(ui, |ui| {
        ui.horizontal_wrapped(|ui| {
            // Tiles being pooled for a zoom keep the line (a small note after it): only a
            // computation replaces it with the spinner.
            let tiles = app.textures().tiles_pending();
            if app.state.view == View::Translate {
                translate_status(app, ui);
            } else if app.computing() {
                ui.spinner();
                ui.label(t(Msg::Computing));
            } else if let Some(tr_) = &app.trace {
                // With a model: the forward pass, then the focused layer's trace made from
                // its kept input (at 8,192 tokens a minute, then seconds; the two are not
                // one number).
                let took = match (&app.model_out, app.state.embedding) {
                    (Some(_), EmbeddingMode::Model) => format!(
                        "{} {:.2} ms · {} {:.2} ms",
                        t(Msg::StatusForward),
                        app.model_run_ms,
                        trf(lang, Msg::StatusLayerTrace, &[&app.state.layer]),
                        app.last_compute_ms
                    ),
                    _ => format!("{} {:.2} ms", t(Msg::ComputedIn), app.last_compute_ms),
                };
                ui.label(format!(
                    "{took} · {} {} · {} {}×{} · h={} · d_model={} · {} {:.1} ms",
                    t(Msg::Kernel),
                    tr_.kernel,
                    t(Msg::Tokens),
                    tr_.n_q(),
                    tr_.n_k(),
                    tr_.heads,
                    tr_.d_model,
                    t(Msg::Frame),
                    app.timings.frame_cpu.as_secs_f64() * 1e3
                ));
                if tiles > 0 {
                    ui.separator();
                    ui.spinner();
                    ui.label(t(Msg::DrawingTiles));
                }
            }
            if let Some(n) = &app.notice {
                ui.separator();
                let lang = app.lang();
                let said = |ui: &mut egui::Ui, n: &super::shell::Notice| {
                    let color = if n.is_error {
                        ui.visuals().error_fg_color
                    } else {
                        ui.visuals().text_color()
                    };
                    ui.label(RichText::new(n.text(lang)).color(color));
                };
                if !app.earlier_notices.is_empty() {
                    let count = app.earlier_notices.len();
                    ui.menu_button(trf(lang, Msg::EarlierNotices, &[&count]), |ui| {
                        for old in &app.earlier_notices {
                            said(ui, old);
                        }
                    });
                }
                said(ui, n);
            }
        });
    });
}

/// The Translate view's status: its own run (the toy trace is not on screen there).
fn translate_status(app: &AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    if app.translator.busy() {
        ui.spinner();
        ui.label(t(Msg::Computing));
        return;
    }
    let Some(out) = &app.translator.out else {
        return;
    };
    let run = &out.run;
    let heads =
        |layers: &[crate::model::arch::LayerRun]| layers.first().map_or(0, |l| l.digests.len());
    ui.label(format!(
        "{} {:.2} ms · {} {} · {} {} · {} {} · {} {}×{} · {} {}×{} · {} {:.1} ms",
        t(Msg::ComputedIn),
        app.translator.run_ms,
        t(Msg::Kernel),
        crate::core::kernels::Backend::best(),
        t(Msg::TrSourceTokens),
        run.source.len(),
        t(Msg::TrDecoderInputs),
        run.target.len(),
        t(Msg::TrEncoder),
        run.encoder.len(),
        heads(&run.encoder),
        t(Msg::TrDecoder),
        run.decoder.len(),
        heads(&run.decoder),
        t(Msg::Frame),
        app.timings.frame_cpu.as_secs_f64() * 1e3
    ));
}

/// A captioned multi-line text box that scrolls instead of growing past ~7 lines, so a long
/// text never pushes the controls off screen.
fn text_box(ui: &mut egui::Ui, caption: &str, text: &mut String) {
    let label = ui.label(caption);
    egui::ScrollArea::vertical()
        .id_salt(caption)
        .max_height(130.0)
        .show(ui, |ui| {
            ui.add(
                egui::TextEdit::multiline(text)
                    .desired_rows(2)
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id);
        });
}

/// A label with a tooltip, used to caption a control.
fn caption(ui: &mut egui::Ui, text: &str, tip: &str) -> egui::Response {
    ui.label(text).on_hover_text(tip)
}

/// The widest a side panel may be: `share` of the window (at least 200 points), so that on a
/// small window or a projector's zoom the view in the middle keeps most of the width.
pub fn side_panel_max(ui: &egui::Ui, share: f32) -> f32 {
    (ui.ctx().content_rect().width() * share).max(200.0)
}

/// A side panel's id for the window's width: a small window's panels (squeezed to
/// [`side_panel_max`]) keep their width apart from a large one's, so that a window made
/// small and then large again gets its wide panels back (they had stayed squeezed: 255
/// points where 320 and 436 had been, the step arithmetic wrapped word by word).
pub fn side_panel_id(ui: &egui::Ui, name: &'static str) -> (&'static str, bool) {
    (name, ui.ctx().content_rect().width() < 1100.0)
}

/// The left panel: inputs and mechanism.
pub fn controls_panel(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    egui::Panel::left(side_panel_id(ui, "controls"))
        .resizable(true)
        .default_size(320.0)
        .max_size(side_panel_max(ui, 0.26))
        .show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                lesson_ui(app, ui);
                ui.heading(t(Msg::Input));
                input_ui(app, ui);
                imported_ui(app, ui);
                ui.separator();
                if app.state.embedding == EmbeddingMode::Model {
                    real_head_ui(app, ui);
                    if app.state.view != View::Lab {
                        return;
                    }
                    ui.separator();
                    ui.heading(t(Msg::LabMechanism));
                } else {
                    ui.heading(t(Msg::Mechanism));
                }
                mechanism_ui(app, ui);
            });
        });
}

/// The open lesson's title and description, in the UI language.
fn lesson_ui(app: &AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    // A lesson from the menu, or any spec with a title however it was opened.
    let Some((title, description)) = &app.state.spec_text else {
        return;
    };
    // A real model on screen is not the lesson.
    if app.state.embedding == EmbeddingMode::Model {
        return;
    }
    ui.label(RichText::new(trf(lang, Msg::LessonTitle, &[&in_lang(title, lang)])).strong());
    let description = in_lang(description, lang);
    if !description.is_empty() {
        ui.label(description);
    }
    ui.separator();
}

/// What a spec file brought beyond the controls, with a way back to seeded parameters.
fn imported_ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let Some(imp) = &app.state.imported else {
        return;
    };
    let fields = imp.fields();
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(tr(lang, Msg::ImportedFields)).small());
        ui.label(RichText::new(fields.join(", ")).small().monospace());
        if ui.small_button(tr(lang, Msg::ForgetImported)).clicked() {
            app.push(Command::ForgetImported);
        }
    });
}

/// With a real model: what the focused head computes (read from the model's own trace, not
/// editable), and the way into the lab, where the mechanism can be changed.
fn real_head_ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    // The rollout combines every head of every layer: no one head is on screen to describe.
    if app.state.view == View::Rollout {
        return;
    }
    let lang = app.lang();
    ui.heading(tr(lang, Msg::ThisHead))
        .on_hover_text(tr(lang, Msg::ThisHeadTip));
    let Some(trace) = app.shown_trace() else {
        return;
    };
    let head = app.state.head.min(trace.heads.saturating_sub(1));
    for line in describe::summary(&trace, head, lang) {
        ui.label(RichText::new(line).monospace());
    }
    if app.state.view != View::Lab
        && ui
            .button(tr(lang, Msg::RerunInLab))
            .on_hover_text(tr(lang, Msg::ThisHeadTip))
            .clicked()
    {
        app.push(Command::ShowView(View::Lab));
    }
}

fn input_ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let s = &mut app.state;
    let before = s.embedding;
    ui.horizontal_wrapped(|ui| {
        caption(ui, t(Msg::Embeddings), t(Msg::EmbTip));
        ui.selectable_value(&mut s.embedding, EmbeddingMode::Toy, t(Msg::ToyEmbeddings))
            .on_hover_text(t(Msg::EmbTip));
        ui.selectable_value(&mut s.embedding, EmbeddingMode::Matrix, t(Msg::HandMatrix))
            .on_hover_text(t(Msg::EmbTip));
        ui.selectable_value(&mut s.embedding, EmbeddingMode::Model, t(Msg::RealModel))
            .on_hover_text(t(Msg::RealModelTip));
    });
    if before == EmbeddingMode::Model && s.embedding != EmbeddingMode::Model {
        s.restore_toy();
    }
    match s.embedding {
        EmbeddingMode::Toy => {
            text_box(ui, t(Msg::TargetText), &mut s.text_q);
            if s.cross {
                text_box(ui, t(Msg::SourceText), &mut s.text_k);
            }
            ui.horizontal_wrapped(|ui| {
                caption(ui, t(Msg::Tokenizer), t(Msg::TokTip));
                for (tok, m) in [
                    (Tokenizer::Words, Msg::TokWords),
                    (Tokenizer::Whitespace, Msg::TokWhitespace),
                    (Tokenizer::Chars, Msg::TokChars),
                ] {
                    ui.selectable_value(&mut s.tokenizer, tok, t(m))
                        .on_hover_text(t(Msg::TokTip));
                }
            });
            ui.horizontal(|ui| {
                let cap = caption(ui, t(Msg::DModel), t(Msg::DModelTip));
                let step = s.heads.max(1);
                if ui
                    .add(
                        egui::DragValue::new(&mut s.d_model)
                            .range(step..=512)
                            .speed(step as f64),
                    )
                    .on_hover_text(t(Msg::DModelTip))
                    .labelled_by(cap.id)
                    .changed()
                {
                    s.set_d_model();
                }
                let cap = caption(ui, t(Msg::Seed), t(Msg::EmbTip));
                ui.add(egui::DragValue::new(&mut s.seed))
                    .labelled_by(cap.id);
            });
            ui.horizontal_wrapped(|ui| {
                ui.checkbox(&mut s.positions, t(Msg::Positions))
                    .on_hover_text(t(Msg::PositionsTip));
                let cap = caption(ui, t(Msg::MaxTokens), t(Msg::MaxTokensTip));
                ui.add(
                    egui::DragValue::new(&mut s.max_tokens)
                        .range(1..=crate::core::spec::MAX_TOKENS),
                )
                .labelled_by(cap.id);
            });
        }
        EmbeddingMode::Matrix => {
            matrix_ui(app, ui);
            if app.state.cross
                && app
                    .state
                    .imported
                    .as_ref()
                    .is_none_or(|i| i.source.is_none())
            {
                text_box(ui, t(Msg::SourceText), &mut app.state.text_k);
            }
        }
        EmbeddingMode::Model => model_input_ui(app, ui),
    }
    token_chips(app, ui);
}

/// The sample models (beside the executable's checkout, or the working folder): the shipped
/// folders, and the GGUF files `tools/fetch_models.sh` installs.
pub fn sample_models() -> Vec<std::path::PathBuf> {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models");
    let base = if base.is_dir() {
        base
    } else {
        std::path::PathBuf::from("sample_models")
    };
    let mut out: Vec<_> = std::fs::read_dir(&base)
        .map(|it| {
            it.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("config.json").is_file() || crate::model::from_gguf::is_gguf(p))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Model ▸ Models on this computer: the last scan (started when the menu first opens), each
/// entry with its size and whether it opens (and why not), plus Rescan and Add folder.
fn found_models_ui(app: &mut AttnApp, ui: &mut egui::Ui, lang: Lang) {
    let t = |m| tr(lang, m);
    app.push(Command::ScanModels(false));
    match app.found_models.clone() {
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(t(Msg::Scanning));
            });
        }
        Some(found) if found.is_empty() => {
            ui.label(t(Msg::NoneFound));
        }
        Some(found) => {
            let mut store = None;
            for f in found.iter() {
                if store != Some(f.store) {
                    store = Some(f.store);
                    let name = match f.store {
                        crate::model::discover::Store::Folder => t(Msg::StoreFolder),
                        s => s.name(),
                    };
                    ui.label(RichText::new(name).weak());
                }
                let text = format!("{} · {:.0} MB", f.label, f.bytes as f64 / 1e6);
                match &f.status {
                    Ok(info) => {
                        if ui
                            .button(format!("{text} · {info}"))
                            .on_hover_text(f.path.display().to_string())
                            .clicked()
                        {
                            app.push(Command::OpenModel(Some(f.path.clone())));
                        }
                    }
                    Err(why) => {
                        let why = super::errors::unusable_text(lang, why);
                        ui.add_enabled(false, egui::Button::new(text))
                            .on_disabled_hover_text(&why);
                        ui.label(RichText::new(format!("  ✗ {why}")).weak().small());
                    }
                }
            }
        }
    }
    ui.separator();
    if ui.button(t(Msg::Rescan)).clicked() {
        app.push(Command::ScanModels(true));
    }
    if ui.button(t(Msg::AddModelFolder)).clicked() {
        app.push(Command::AddModelFolder);
    }
}

/// What a GGUF file says about itself, and what the loaded model holds in memory.
fn gguf_card_ui(
    ui: &mut egui::Ui,
    lang: Lang,
    m: &crate::model::Model,
    card: &crate::model::from_gguf::GgufCard,
) {
    let t = |msg| tr(lang, msg);
    let mb = |b: u64| format!("{:.1} MB", b as f64 / 1e6);
    let mix: Vec<String> = card
        .quant_mix
        .iter()
        .map(|(ty, n)| format!("{ty} × {n}"))
        .collect();
    egui::Grid::new("gguf_card").num_columns(2).show(ui, |ui| {
        let mut row = |k: &str, v: String| {
            ui.label(RichText::new(k).weak());
            ui.add(egui::Label::new(v).wrap());
            ui.end_row();
        };
        row(
            t(Msg::CardArchitecture),
            format!("{} (GGUF v{})", card.architecture, card.version),
        );
        let quant = match card.file_type {
            Some(ft) => format!("{ft}: {}", mix.join(", ")),
            None => mix.join(", "),
        };
        row(t(Msg::CardQuantization), quant);
        if let Some(c) = card.context_length {
            row(t(Msg::CardContext), c.to_string());
        }
        if let Some(l) = &card.license {
            row(t(Msg::CardLicense), l.clone());
        }
        row(t(Msg::CardFile), mb(m.file_bytes));
        row(
            t(Msg::CardMemory),
            format!(
                "{} f32 + {} {}",
                mb(m.held_bytes),
                mb(card.mapped_bytes),
                t(Msg::CardMapped)
            ),
        );
    });
}

/// The largest "keep full matrices up to" setting (the model run limit is 8 GiB).
const MAX_FULL_CAPTURE_MIB: u64 = 6 << 10;

/// Text, model facts and the layer picker when a real model is the input.
fn model_input_ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    text_box(ui, t(Msg::TargetText), &mut app.state.text_q);
    if app.model_loading() {
        ui.add(egui::ProgressBar::new(app.load_fraction()).text(t(Msg::LoadingModel)));
    }
    match &app.model {
        None => {
            if app.state.model_dir.is_none() {
                ui.label(RichText::new(t(Msg::NoModel)).weak());
            }
        }
        Some(m) => {
            let m = &m.model;
            ui.label(RichText::new(&m.name).strong());
            // A GGUF's own name ("Smollm2 135M 8k Lc100K Mix1 Ep2") may not be the file's.
            if let Some(file) = m.dir.file_name().map(|f| f.to_string_lossy())
                && file != m.name.as_str()
            {
                ui.label(RichText::new(file).weak().small())
                    .on_hover_text(m.dir.display().to_string());
            }
            ui.label(format!(
                "{} · {} {} × {} {} · d={} · {} · {:.1} MB",
                m.config.model_type(),
                m.config.layers(),
                t(Msg::Layers),
                m.config.heads(),
                t(Msg::HeadsCount),
                m.config.hidden(),
                m.dtype,
                m.file_bytes as f64 / 1e6
            ));
            if let Some(card) = &m.gguf {
                gguf_card_ui(ui, lang, m, card);
            }
            if !m.warnings.is_empty() {
                ui.colored_label(ui.visuals().warn_fg_color, t(Msg::ModelWarnings));
                for w in &m.warnings {
                    ui.label(RichText::new(w).small().color(ui.visuals().warn_fg_color));
                }
            }
            // Up to this size a run keeps every head's matrices; beyond, digests only.
            ui.horizontal_wrapped(|ui| {
                let cap = ui
                    .label(t(Msg::KeepFullUpTo))
                    .on_hover_text(t(Msg::KeepFullTip));
                ui.add(
                    egui::DragValue::new(&mut app.state.full_capture_mib)
                        .range(0..=MAX_FULL_CAPTURE_MIB)
                        .suffix(" MiB"),
                )
                .labelled_by(cap.id)
                .on_hover_text(t(Msg::KeepFullTip));
            });
            let layers = m.config.layers();
            ui.horizontal_wrapped(|ui| {
                ui.label(t(Msg::Layer));
                for l in 0..layers {
                    if ui
                        .selectable_label(app.state.layer == l, format!("{l}"))
                        .clicked()
                    {
                        app.push(Command::FocusLayer(l));
                    }
                }
            });
        }
    }
    if let Some(out) = &app.model_out
        && !out.nonfinite.is_empty()
    {
        let heads: Vec<String> = out
            .nonfinite
            .iter()
            .map(|h| h.head_ref().to_string())
            .collect();
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!("{} {}", t(Msg::NonFiniteHeads), heads.join(", ")),
        );
    }
    if let Some(out) = &app.model_out
        && let Some(n) = out.run.truncated_from
    {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!("{} {n} → {}", t(Msg::Truncated), out.run.n()),
        );
    }
}

/// The hand-typed X: size controls and a grid of numbers.
fn matrix_ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let m = &mut app.state.matrix;
    let (mut rows, mut cols) = (m.values.len(), m.values.first().map_or(2, Vec::len));
    ui.horizontal(|ui| {
        let cap = ui.label(t(Msg::Rows));
        // A spec file may bring a larger X than the hand-typed limit: keep it whole.
        let (max_rows, max_cols) = (rows.max(MAX_MATRIX), cols.max(MAX_MATRIX));
        // A typed size applies when it is complete (Enter or leaving the field): typing "12"
        // into cols had applied "1" first and cut every row to one column, its numbers gone.
        ui.add(
            egui::DragValue::new(&mut rows)
                .range(1..=max_rows)
                .update_while_editing(false),
        )
        .labelled_by(cap.id);
        let cap = ui.label(t(Msg::Cols));
        ui.add(
            egui::DragValue::new(&mut cols)
                .range(1..=max_cols)
                .update_while_editing(false),
        )
        .labelled_by(cap.id);
    });
    if rows != m.values.len() || cols != m.values.first().map_or(0, Vec::len) {
        m.resize(rows, cols);
    }
    // Sideways scrolling: eight columns are wider than the panel, and the last was hidden.
    egui::ScrollArea::horizontal()
        .id_salt("matrix_input_scroll")
        .show(ui, |ui| {
            egui::Grid::new("matrix_input")
                .striped(true)
                .show(ui, |ui| {
                    for (i, (label, row)) in
                        m.labels.iter_mut().zip(m.values.iter_mut()).enumerate()
                    {
                        let name = ui.add(egui::TextEdit::singleline(label).desired_width(36.0));
                        for (j, v) in row.iter_mut().enumerate() {
                            ui.add(egui::DragValue::new(v).speed(0.1).max_decimals(3))
                                .labelled_by(name.id)
                                .on_hover_text(format!("X[{i}][{j}]"));
                        }
                        ui.end_row();
                    }
                });
        });
}

/// Tokens as chips; key chips toggle padding.
fn token_chips(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let Some(trace) = app.shown_trace() else {
        return;
    };
    // A model's truncation is reported with the model (its positions, not the toy limit).
    if let Some(n) = trace.truncated_q.or(trace.truncated_k)
        && app.state.embedding != EmbeddingMode::Model
    {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!(
                "{} {} → {}",
                tr(lang, Msg::Truncated),
                n,
                trace.n_q().max(trace.n_k())
            ),
        );
    }
    let chips = |app: &mut AttnApp, ui: &mut egui::Ui| {
        ui.label(RichText::new(tr(lang, Msg::PaddingTip)).small().weak());
        ui.horizontal_wrapped(|ui| {
            ui.spacing_mut().item_spacing = egui::vec2(3.0, 3.0);
            for (j, tok) in trace.tokens_k.iter().enumerate().take(256) {
                let padded = app.state.padded.contains(&j);
                let text = if padded {
                    RichText::new(tok).strikethrough()
                } else {
                    RichText::new(tok)
                };
                if ui
                    .selectable_label(padded, text)
                    .on_hover_text(tr(lang, Msg::PaddingTip))
                    .clicked()
                {
                    app.push(Command::TogglePadding(j));
                }
            }
        });
    };
    // A long input's chips fold away: hundreds of them pushed the head's description and
    // the lab's controls far below the window.
    let n = trace.tokens_k.len();
    if n <= CHIPS_OPEN_UP_TO {
        chips(app, ui);
    } else {
        egui::CollapsingHeader::new(trf(lang, Msg::TokenChips, &[&n]))
            .id_salt("token_chips")
            .default_open(false)
            .show(ui, |ui| chips(app, ui));
    }
}

/// Inputs up to this many tokens list their chips open; longer ones fold them.
const CHIPS_OPEN_UP_TO: usize = 48;

fn mechanism_ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let s = &mut app.state;
    // A head count that does not divide d_model widens it (said below).
    let d_before = s.d_model;
    // Presets set cross-attention and head counts: a real head's lab has neither to set.
    let presets = s.embedding != EmbeddingMode::Model;
    // The family the settings describe is lit, however they were set.
    let kind = s.mechanism_kind();
    ui.horizontal_wrapped(|ui| {
        for (p, m) in [
            (Preset::Global, Msg::PresetGlobal),
            (Preset::LocalM, Msg::PresetLocalM),
            (Preset::LocalP, Msg::PresetLocalP),
            (Preset::SelfAttention, Msg::PresetSelf),
            (Preset::Cross, Msg::PresetCross),
            (Preset::MultiHead, Msg::PresetMulti),
        ]
        .into_iter()
        .filter(|_| presets)
        {
            if ui
                .selectable_label(kind == p, t(m))
                .on_hover_text(t(Msg::PresetTip))
                .clicked()
            {
                s.apply_preset(p);
            }
        }
    });
    ui.add_space(4.0);
    egui::Grid::new("axes")
        .num_columns(2)
        .spacing([8.0, 6.0])
        .show(ui, |ui| {
            let cap = caption(ui, t(Msg::Score), t(Msg::ScoreTip));
            egui::ComboBox::from_id_salt("score")
                .selected_text(t(super::describe::score_msg(s.score)))
                // As wide as the panel allows: a fixed 220 pushed "local-p" and the slider
                // values out of a narrow panel.
                .width(ui.available_width().clamp(120.0, 220.0))
                .show_ui(ui, |ui| {
                    for k in ScoreKind::ALL {
                        if ui
                            .selectable_value(&mut s.score, k, t(super::describe::score_msg(k)))
                            .clicked()
                        {
                            match k {
                                ScoreKind::ScaledDot => s.scale_sqrt_dk = true,
                                ScoreKind::Dot => s.scale_sqrt_dk = false,
                                _ => {}
                            }
                        }
                    }
                })
                .response
                .labelled_by(cap.id)
                .on_hover_text(t(Msg::ScoreTip));
            ui.end_row();

            caption(ui, "", t(Msg::ScaleTip));
            ui.checkbox(&mut s.scale_sqrt_dk, t(Msg::ScaleSqrt))
                .on_hover_text(t(Msg::ScaleTip));
            ui.end_row();

            caption(ui, t(Msg::Span), t(Msg::SpanTip));
            ui.horizontal_wrapped(|ui| {
                for (k, m) in [
                    (SpanKind::Global, Msg::SpanGlobal),
                    (SpanKind::LocalM, Msg::SpanLocalM),
                    (SpanKind::LocalP, Msg::SpanLocalP),
                ] {
                    ui.selectable_value(&mut s.span, k, t(m))
                        .on_hover_text(t(Msg::SpanTip));
                }
            });
            ui.end_row();

            if s.span != SpanKind::Global {
                let cap = caption(ui, t(Msg::HalfWidth), t(Msg::SpanTip));
                // σ = D/2 needs D ≥ 1; with an explicit σ, D = 0 is allowed.
                let min = usize::from(s.span == SpanKind::LocalP && s.local_sigma.is_none());
                ui.add(egui::Slider::new(&mut s.local_d, min..=16))
                    .labelled_by(cap.id);
                ui.end_row();
            }
            if s.span == SpanKind::LocalP {
                local_p_ui(ui, s, lang);
            }

            caption(ui, t(Msg::Masks), t(Msg::CausalTip));
            ui.horizontal_wrapped(|ui| {
                // Between two sequences a causal mask compares unrelated positions (a
                // decoder's cross-attention has none): offered only for self-attention, and
                // left to untick when a spec set it. The lab re-runs a real model's
                // self-attention head, which the toy's cross setting does not concern.
                let cross = s.cross && s.embedding != EmbeddingMode::Model;
                let causal_ok = !cross || s.causal;
                let tip = if cross {
                    Msg::CausalCrossTip
                } else {
                    Msg::CausalTip
                };
                ui.add_enabled(
                    causal_ok,
                    egui::Checkbox::new(&mut s.causal, t(Msg::Causal)),
                )
                .on_hover_text(t(tip))
                .on_disabled_hover_text(t(tip));
                let window = ui
                    .checkbox(&mut s.window_on, t(Msg::Window))
                    .on_hover_text(t(Msg::WindowTip));
                if s.window_on {
                    ui.add(egui::DragValue::new(&mut s.window).range(0..=512))
                        .on_hover_text(t(Msg::WindowTip))
                        .labelled_by(window.id);
                }
            });
            ui.end_row();

            let cap = caption(ui, t(Msg::Temperature), t(Msg::TemperatureTip));
            ui.add(
                egui::Slider::new(&mut s.temperature, 0.05..=10.0)
                    .logarithmic(true)
                    .fixed_decimals(2),
            )
            .on_hover_text(t(Msg::TemperatureTip))
            .labelled_by(cap.id);
            ui.end_row();

            // A model's heads are its own; the slider is for toy inputs.
            if s.embedding != EmbeddingMode::Model {
                let cap = caption(ui, t(Msg::Heads), t(Msg::HeadsTip));
                if ui
                    .add(egui::Slider::new(&mut s.heads, 1..=16))
                    .on_hover_text(t(Msg::HeadsTip))
                    .labelled_by(cap.id)
                    .changed()
                {
                    s.fit_d_model_to_heads();
                }
                ui.end_row();
            }

            let cap = caption(ui, t(Msg::Colormap), t(Msg::ColormapTip));
            egui::ComboBox::from_id_salt("colormap")
                .selected_text(t(cmap_msg(s.colormap)))
                .show_ui(ui, |ui| {
                    for c in Colormap::ALL {
                        ui.selectable_value(&mut s.colormap, c, t(cmap_msg(c)));
                    }
                })
                .response
                .labelled_by(cap.id)
                .on_hover_text(t(Msg::ColormapTip));
            ui.end_row();

            let cap = caption(ui, t(Msg::WeightsRange), t(Msg::WeightsRangeTip));
            ui.horizontal(|ui| {
                for (rule, m) in [
                    (WeightsRange::Max, Msg::RangeMax),
                    (WeightsRange::Unit, Msg::RangeUnit),
                ] {
                    ui.selectable_value(&mut s.weights_range, rule, t(m))
                        .on_hover_text(t(Msg::WeightsRangeTip));
                }
            })
            .response
            .labelled_by(cap.id);
            ui.end_row();
        });
    ui.checkbox(&mut s.show_values, t(Msg::ShowValues))
        .on_hover_text(t(Msg::ShowValuesTip));
    // Cross-attention switch lives with the presets, but keep it reachable directly too.
    if s.embedding == EmbeddingMode::Toy {
        ui.checkbox(&mut s.cross, t(Msg::CrossToggle));
    }
    app.say_if_widened(d_before);
}

/// Luong local-p's predictor: what it reads (query or input row), its size d_p, and σ.
fn local_p_ui(ui: &mut egui::Ui, s: &mut super::state::State, lang: Lang) {
    use crate::core::spec::LocalPSource;
    let t = |m| tr(lang, m);
    let cap = caption(ui, t(Msg::LocalPSource), t(Msg::LocalPSourceTip));
    ui.horizontal_wrapped(|ui| {
        for (src, m) in [
            (LocalPSource::Query, Msg::LocalPFromQuery),
            (LocalPSource::Input, Msg::LocalPFromInput),
        ] {
            ui.selectable_value(&mut s.local_p_source, src, t(m))
                .on_hover_text(t(Msg::LocalPSourceTip));
        }
    })
    .response
    .labelled_by(cap.id);
    ui.end_row();

    caption(ui, "", t(Msg::LocalPDimTip));
    optional_ui(
        ui,
        t(Msg::LocalPDim),
        t(Msg::LocalPDimTip),
        &mut s.local_p_dim,
        4,
        |ui, v| ui.add(egui::DragValue::new(v).range(1..=64)),
    );
    ui.end_row();

    caption(ui, "", t(Msg::LocalSigmaTip));
    let default_sigma = (s.local_d as f32 / 2.0).max(0.5);
    optional_ui(
        ui,
        t(Msg::LocalSigma),
        t(Msg::LocalSigmaTip),
        &mut s.local_sigma,
        default_sigma,
        |ui, v| ui.add(egui::Slider::new(v, 0.1..=16.0).logarithmic(true)),
    );
    ui.end_row();
}

/// A checkbox that turns an optional setting on (with its widget) or off (`None`: the
/// default rule applies).
fn optional_ui<T: Copy>(
    ui: &mut egui::Ui,
    label: &str,
    tip: &str,
    value: &mut Option<T>,
    default: T,
    widget: impl FnOnce(&mut egui::Ui, &mut T) -> egui::Response,
) {
    ui.horizontal(|ui| {
        let mut on = value.is_some();
        let check = ui.checkbox(&mut on, label).on_hover_text(tip);
        let mut v = value.unwrap_or(default);
        if on {
            widget(ui, &mut v).labelled_by(check.id);
        }
        *value = on.then_some(v);
    });
}

fn cmap_msg(c: Colormap) -> Msg {
    match c {
        Colormap::Viridis => Msg::CmapViridis,
        Colormap::Diverging => Msg::CmapDiverging,
        Colormap::Greys => Msg::CmapGreys,
    }
}

/// Help ▸ Keyboard and mouse: every key and gesture the app answers, in one table.
pub fn keys_window(app: &mut AttnApp, ctx: &egui::Context) {
    if !app.show_keys {
        return;
    }
    let lang = app.lang();
    let shortcut = |c: Command| {
        super::commands::shortcut_of(&c).map_or_else(String::new, |k| ctx.format_shortcut(&k))
    };
    let rows = [
        ("← →".to_owned(), Msg::KeysArrows),
        (tr(lang, Msg::KeysSpaceKey).to_owned(), Msg::KeysSpace),
        ("Home End".to_owned(), Msg::KeysHomeEnd),
        ("↑ ↓".to_owned(), Msg::KeysUpDown),
        ("[ ]".to_owned(), Msg::KeysHeads),
        ("PgUp PgDn".to_owned(), Msg::KeysLayers),
        ("1 … 9, 0".to_owned(), Msg::KeysViews),
        (shortcut(Command::OpenSession), Msg::OpenSession),
        (shortcut(Command::SaveSession), Msg::SaveSession),
        (
            shortcut(Command::ExportHeatmap(ExportKind::Png)),
            Msg::ExportPng,
        ),
        (shortcut(Command::Quit), Msg::Quit),
        ("Ctrl + / Ctrl − / Ctrl 0".to_owned(), Msg::KeysZoom),
        (tr(lang, Msg::KeysWheelKey).to_owned(), Msg::KeysWheel),
        (tr(lang, Msg::KeysDropKey).to_owned(), Msg::KeysDrop),
    ];
    let mut open = true;
    // As wide as the window allows, the descriptions wrapped: long Chinese lines ran past
    // the window's edge at 1600 points.
    let room = (ctx.content_rect().width() - 80.0).clamp(320.0, 760.0);
    egui::Window::new(tr(lang, Msg::KeysTitle))
        .pivot(egui::Align2::CENTER_CENTER)
        .default_pos(ctx.content_rect().center())
        .open(&mut open)
        .collapsible(false)
        .resizable(false)
        .max_width(room)
        .show(ctx, |ui| {
            egui::Grid::new("keys").striped(true).show(ui, |ui| {
                for (keys, what) in rows {
                    ui.label(RichText::new(keys).monospace().strong());
                    ui.scope(|ui| {
                        ui.set_max_width(room - 200.0);
                        ui.add(egui::Label::new(tr(lang, what)).wrap());
                    });
                    ui.end_row();
                }
            });
        });
    // Esc closes it, as it closes a dialog (the × alone is far to reach on a projector).
    app.show_keys = open && !ctx.input(|i| i.key_pressed(egui::Key::Escape));
}

/// Help ▸ About.
pub fn about_window(app: &mut AttnApp, ctx: &egui::Context) {
    if !app.show_about {
        return;
    }
    let lang = app.lang();
    let mut open = true;
    egui::Window::new(tr(lang, Msg::About))
        .open(&mut open)
        .collapsible(false)
        .resizable(false)
        // In the middle of the window like the key list, not in a corner over the menus;
        // as wide as the licence text reads well, narrower on a small window.
        .pivot(egui::Align2::CENTER_CENTER)
        .default_pos(ctx.content_rect().center())
        .default_width((ctx.content_rect().width() - 80.0).clamp(320.0, 560.0))
        .show(ctx, |ui| {
            ui.heading("attnscope");
            ui.label(format!(
                "{} {}",
                tr(lang, Msg::AboutText),
                env!("CARGO_PKG_VERSION")
            ));
            ui.label(format!(
                "{} {}",
                tr(lang, Msg::Kernel),
                crate::core::Backend::best()
            ));
            ui.separator();
            ui.label(tr(lang, Msg::AboutLicenses));
        });
    app.show_about = open && !ctx.input(|i| i.key_pressed(egui::Key::Escape));
}
