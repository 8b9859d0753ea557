//! The central views, as a registry: each view is one file with a `ui` function and one
//! [`ViewDef`] line below saying what it needs. The central panel draws the tabs from the
//! registry, checks that what the view needs exists (or says why not), then calls it.

mod generate;
pub use generate::grown_matrix;
mod grid;
pub mod heatmap;
mod lab;
mod lines;
mod model_grid;
mod neuron;
mod plots;
mod rollout;
mod stats;
mod translate;
pub use translate::title as translate_title;
pub(crate) use translate::writing_rows;

/// A line saying what 我² means, when the tokens on screen have such labels: in a maths
/// class a superscript reads as a power, and nothing else on screen says that a byte-level
/// tokenizer cut the character into pieces.
pub(crate) fn byte_piece_note(
    ui: &mut eframe::egui::Ui,
    lang: crate::app::i18n::Lang,
    labels: &[String],
) {
    let piece = labels
        .iter()
        .find(|l| l.ends_with(['²', '³', '⁴']) && l.chars().count() > 1);
    if let Some(l) = piece {
        let base = l.trim_end_matches(['²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹']);
        let text = crate::app::i18n::trf(lang, crate::app::i18n::Msg::BytePieceNote, &[l, &base]);
        ui.label(eframe::egui::RichText::new(text).weak());
    }
}
mod whatif;

use eframe::egui::{self, RichText};

use super::i18n::{Lang, Msg, tr, trf};
use super::state::{EmbeddingMode, View};
use super::{AttnApp, Command};
use crate::core::CoreError;

use super::jobs::JobError;

/// What a view draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// A trace (toy input, or the focused layer of a model).
    Trace,
    /// A model run (every layer and head).
    ModelRun,
    /// Both: the focused layer's trace and the model run (the lab).
    TraceAndModelRun,
    /// A loaded model only (generation).
    Model,
    /// Nothing of the other views: it loads its own model (Translate).
    Own,
}

/// One entry of the registry.
#[derive(Clone, Copy)]
pub struct ViewDef {
    /// The view.
    pub view: View,
    /// Its tab label.
    pub label: Msg,
    /// Offered only when a real model is the input.
    pub model_only: bool,
    /// What it needs before it can draw.
    pub needs: Needs,
    /// Draws it.
    pub ui: fn(&mut AttnApp, &mut egui::Ui),
}

/// Every view, in tab order.
pub const VIEWS: &[ViewDef] = &[
    ViewDef {
        view: View::Model,
        label: Msg::ViewModel,
        model_only: true,
        needs: Needs::ModelRun,
        ui: model_grid::ui,
    },
    ViewDef {
        view: View::Heatmap,
        label: Msg::ViewHeatmap,
        model_only: false,
        needs: Needs::Trace,
        ui: heatmap::ui,
    },
    ViewDef {
        view: View::Grid,
        label: Msg::ViewGrid,
        model_only: false,
        needs: Needs::Trace,
        ui: grid::ui,
    },
    ViewDef {
        view: View::Lines,
        label: Msg::ViewLines,
        model_only: false,
        needs: Needs::Trace,
        ui: lines::ui,
    },
    ViewDef {
        view: View::Plots,
        label: Msg::ViewPlots,
        model_only: false,
        needs: Needs::Trace,
        ui: plots::ui,
    },
    ViewDef {
        view: View::Neuron,
        label: Msg::ViewNeuron,
        model_only: false,
        needs: Needs::Trace,
        ui: neuron::ui,
    },
    ViewDef {
        view: View::Lab,
        label: Msg::ViewLab,
        model_only: true,
        needs: Needs::TraceAndModelRun,
        ui: lab::ui,
    },
    ViewDef {
        view: View::Stats,
        label: Msg::ViewStats,
        model_only: true,
        needs: Needs::ModelRun,
        ui: stats::ui,
    },
    ViewDef {
        view: View::Rollout,
        label: Msg::ViewRollout,
        model_only: true,
        needs: Needs::ModelRun,
        ui: rollout::ui,
    },
    ViewDef {
        view: View::Generate,
        label: Msg::ViewGenerate,
        model_only: true,
        needs: Needs::Model,
        ui: generate::ui,
    },
    ViewDef {
        view: View::Translate,
        label: Msg::ViewTranslate,
        model_only: false,
        needs: Needs::Own,
        ui: translate::ui,
    },
];

/// The views offered for the current input (model views only with a model).
pub fn offered(model: bool) -> impl Iterator<Item = &'static ViewDef> {
    VIEWS.iter().filter(move |d| model || !d.model_only)
}

/// The message for a computation error: the empty-input hint, or the error itself.
pub fn error_text(app: &AttnApp, err: &JobError) -> String {
    let lang = app.lang();
    match err {
        JobError::Core(CoreError::EmptySequence(_)) => tr(lang, Msg::EmptyInput).to_owned(),
        other => format!(
            "{} {}",
            tr(lang, Msg::ErrorPrefix),
            crate::app::errors::job_text(lang, other)
        ),
    }
}

/// Shown instead of a model view while there is no model output; `true` when there is one.
fn model_ready(app: &AttnApp, ui: &mut egui::Ui) -> bool {
    let lang = app.lang();
    if app.model_loading() {
        ui.add(
            egui::ProgressBar::new(app.load_fraction())
                .show_percentage()
                .text(tr(lang, Msg::LoadingModel)),
        );
        return false;
    }
    if app.model.is_none() {
        if app.model_error.is_none() {
            ui.label(tr(lang, Msg::NoModel));
        }
        return false;
    }
    if app.model_out.is_none() {
        // Only while a run is on its way: a refused one (empty text, too long) has its
        // message above, and a spinner beside it would promise a result that is not coming.
        if app.model_running() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(tr(lang, Msg::RunningModel));
            });
        }
        return false;
    }
    true
}

/// "head 0 1 2 3", with a gap between the query heads that share a K/V head.
fn head_picker_ui(app: &mut AttnApp, ui: &mut egui::Ui, trace: &crate::core::Trace) {
    let lang = app.lang();
    ui.label(tr(lang, Msg::Head));
    let group = trace
        .mechanism
        .kv_heads
        .filter(|&kv| kv > 0 && kv < trace.heads)
        .map(|kv| trace.heads / kv);
    for h in 0..trace.heads {
        // Grouped-query attention: a gap between the groups that share a K/V head.
        if let Some(g) = group
            && h > 0
            && h % g == 0
        {
            ui.separator();
        }
        let mut resp = ui.selectable_label(app.state.head == h, format!("{h}"));
        if let Some(text) = super::describe::kv_sharing(&trace.mechanism, trace.heads, h, lang) {
            resp = resp.on_hover_text(text);
        }
        if resp.clicked() {
            app.push(Command::FocusHead(h));
        }
    }
}

/// The central panel: view tabs, head picker, then the view.
pub fn central(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let model = app.state.embedding == EmbeddingMode::Model;
    ui.horizontal_wrapped(|ui| {
        for d in offered(model) {
            ui.selectable_value(&mut app.state.view, d.view, t(d.label));
        }
    });
    // Its own row, so the label never wraps away from its heads. The rollout and the
    // Translate view are not one head of the trace: no picker there.
    if let Some(trace) = app.shown_trace()
        && trace.heads > 1
        && !matches!(app.state.view, View::Translate | View::Rollout)
    {
        ui.horizontal_wrapped(|ui| head_picker_ui(app, ui, &trace));
    }
    ui.separator();
    if app.state.view == View::Translate {
        // Its own model and errors: the other views' trace and model are not its business.
        translate::ui(app, ui);
        return;
    }
    if let Some(err) = &app.error {
        let msg = error_text(app, err);
        ui.colored_label(ui.visuals().error_fg_color, msg);
    }
    if model {
        run_bar_ui(app, ui);
    }
    if model && let Some(e) = &app.model_error {
        let text = match e {
            JobError::Model(m) if matches!(**m, crate::model::ModelError::Cancelled) => {
                t(Msg::RunCancelled).to_owned()
            }
            e => crate::app::errors::job_text(app.lang(), e),
        };
        ui.colored_label(ui.visuals().error_fg_color, text);
    }
    let def = offered(model)
        .find(|d| d.view == app.state.view)
        .or_else(|| offered(model).find(|d| d.view == View::Heatmap));
    let Some(def) = def else {
        return;
    };
    let needs_run = matches!(def.needs, Needs::ModelRun | Needs::TraceAndModelRun);
    let needs_trace = matches!(def.needs, Needs::Trace | Needs::TraceAndModelRun);
    // What stands where a model's view would be while none is open.
    let no_model = if app.model_loading() {
        Msg::LoadingModel
    } else {
        Msg::NoModel
    };
    if def.needs == Needs::Model && app.model.is_none() {
        ui.label(t(no_model));
        return;
    }
    if needs_run && !model_ready(app, ui) {
        return;
    }
    if needs_trace && app.shown_trace().is_none() {
        if model {
            // "Real model" picked before a model is open: not the toy's trace behind it.
            if app.model_error.is_none() {
                ui.label(t(no_model));
            }
        } else if app.error.is_none() {
            ui.label(t(Msg::NoTrace));
        }
        return;
    }
    if needs_trace {
        // A long run's layer trace, or a lean toy trace, holds one head's matrices: wait for
        // the focused one.
        let opening = app
            .trace
            .as_ref()
            .is_some_and(|tr_| !tr_.has_matrices(app.state.head.min(tr_.heads.saturating_sub(1))));
        if opening {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(t(if model {
                    Msg::OpeningHead
                } else {
                    Msg::OpeningToyHead
                }));
            });
            return;
        }
        if model {
            nonfinite_warning_ui(app, ui);
        }
    }
    if hidden_ahead_ui(app, ui) {
        return;
    }
    (def.ui)(app, ui);
}

/// Predict first: before the scores (step 3) every view that would show the weights or the
/// scores ahead of their step says so instead, with the switch to show them; the heatmap
/// view does the same under its own toolbar. True when the view is hidden.
fn hidden_ahead_ui(app: &mut AttnApp, ui: &mut egui::Ui) -> bool {
    let ahead = matches!(
        app.state.view,
        View::Grid
            | View::Lines
            | View::Plots
            | View::Neuron
            | View::Model
            | View::Lab
            | View::Rollout
    );
    if !(ahead && app.state.weights_hidden_ahead()) {
        return false;
    }
    let lang = app.lang();
    hide_ahead_switch(app, ui);
    hidden_ahead_note(ui, lang);
    true
}

/// The "predict first" switch.
pub(crate) fn hide_ahead_switch(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    ui.checkbox(&mut app.state.hide_ahead, tr(lang, Msg::HideAhead))
        .on_hover_text(tr(lang, Msg::HideAheadTip));
}

/// What a view shows instead of weights hidden by "predict first".
pub(crate) fn hidden_ahead_note(ui: &mut egui::Ui, lang: Lang) {
    ui.add_space(24.0);
    ui.label(RichText::new(tr(lang, Msg::HiddenAhead)).size(18.0));
}

/// A model run in progress (layers done, Cancel), a big run waiting for its go-ahead (tokens,
/// memory and time estimates, Run), and the note that a long run keeps digests only.
fn run_bar_ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    if app.jobs.run.pending() {
        ui.horizontal(|ui| {
            let f = app.run_progress.load(std::sync::atomic::Ordering::Relaxed) as f32 / 1000.0;
            // Which layer is being computed, of how many.
            let layers = app.model.as_ref().map_or(0, |m| m.model.config.layers());
            let text = if layers > 0 {
                let at = ((f * layers as f32).floor() as usize + 1).min(layers);
                format!(
                    "{} · {}",
                    t(Msg::RunLayers),
                    trf(lang, Msg::RunLayerOf, &[&at, &layers])
                )
            } else {
                t(Msg::RunLayers).to_owned()
            };
            ui.add(
                egui::ProgressBar::new(f)
                    .show_percentage()
                    .desired_width(360.0)
                    .text(text),
            );
            if ui.button(t(Msg::CancelRun)).clicked() {
                app.run_cancel
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
    } else if let Some(big) = app.run_gate.waiting.clone() {
        ui.horizontal_wrapped(|ui| {
            ui.label(egui::RichText::new(t(Msg::BigRunAsk)).strong());
            ui.label(format!(
                "{} {} · {} {} · {} {:.0} s",
                big.tokens,
                t(Msg::BigRunTokens),
                t(Msg::BigRunMemory),
                crate::core::limits::human_bytes(big.bytes),
                t(Msg::BigRunTime),
                big.secs.max(1.0)
            ));
            if ui.button(t(Msg::RunIt)).clicked() {
                app.allow_big_run();
            }
        });
    }
    if app.model_out.as_ref().is_some_and(|o| !o.run.full) {
        ui.label(egui::RichText::new(t(Msg::LongRunNote)).weak().small());
    }
}

/// Says so when the focused model head's attention is undefined on some rows: the kernels
/// draw such rows as zeros, and a zero must not pass for attention.
fn nonfinite_warning_ui(app: &AttnApp, ui: &mut egui::Ui) {
    let Some(out) = &app.model_out else {
        return;
    };
    let Some(rows) = out.nonfinite_rows(app.state.layer, app.state.head) else {
        return;
    };
    let lang = app.lang();
    let mut list: Vec<String> = rows.iter().take(12).map(usize::to_string).collect();
    if rows.len() > 12 {
        list.push(format!("… ({})", rows.len()));
    }
    ui.colored_label(
        ui.visuals().warn_fg_color,
        format!(
            "{} {}: {}",
            tr(lang, Msg::NonFiniteHead),
            list.join(", "),
            tr(lang, Msg::NonFiniteShownAsZero)
        ),
    );
}

/// A sortable table's column header: shows ▼ / ▲ on the sorted column; a click sorts by it
/// (a second click reverses).
pub fn sort_header(ui: &mut egui::Ui, idx: usize, text: &str, sort: &mut (usize, bool)) {
    let arrow = match (sort.0 == idx, sort.1) {
        (true, true) => " ▼",
        (true, false) => " ▲",
        _ => "",
    };
    if ui
        .button(egui::RichText::new(format!("{text}{arrow}")).strong())
        .clicked()
    {
        *sort = (idx, sort.0 == idx && !sort.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_is_registered_once() {
        let mut seen = Vec::new();
        for d in VIEWS {
            assert!(!seen.contains(&d.view), "{:?} twice", d.view);
            seen.push(d.view);
        }
        use clap::ValueEnum;
        for v in View::value_variants() {
            assert!(seen.contains(v), "{v:?} has no ViewDef");
        }
    }
}
