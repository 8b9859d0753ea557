//! The attention lab: the focused real head beside its own Q, K, V re-run through the mechanism chosen on the left.

use eframe::egui::{self, RichText};

use crate::app::describe;
use crate::app::heatmap::{HeatImage, HeatmapWidget, TexKey};
use crate::app::i18n::{Msg, tr, trf};
use crate::app::{AttnApp, Command};
use crate::export::matrix::MatrixKind;

/// The focused real head beside the same Q, K, V through the chosen mechanism.
pub fn ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let Some((trace, head)) = app.focused_head() else {
        return;
    };
    let lang = app.lang();
    ui.label(RichText::new(tr(lang, Msg::LabHint)).weak());
    let Some(orig) = trace.head_traces.get(head) else {
        return;
    };
    let lab = app.lab_trace.clone();
    let selected = (app.state.row, app.state.col);
    // How far apart the two are: the same (the lab starts from the head's own settings), or
    // the largest change of a weight and where. Found once per pair of results (an n × n
    // scan is not a per-frame job at thousands of tokens), then kept in egui's memory.
    if let Some(modified) = lab.as_ref().and_then(|t| t.head_traces.first())
        && modified.weights.dim() == orig.weights.dim()
    {
        let id = ui.scope_id().with((
            "lab_change",
            app.trace_generation(),
            app.lab_generation(),
            head,
        ));
        let (worst, at) = match ui.data(|d| d.get_temp::<(f32, (usize, usize))>(id)) {
            Some(found) => found,
            None => {
                let found = largest_change(&orig.weights, &modified.weights);
                ui.data_mut(|d| d.insert_temp(id, found));
                found
            }
        };
        let text = if worst < 1e-6 {
            tr(lang, Msg::LabSame).to_owned()
        } else {
            let tok = |t: &[String], k: usize| t.get(k).cloned().unwrap_or_default();
            trf(
                lang,
                Msg::LabChanged,
                &[
                    &format!("{worst:.4}"),
                    &tok(&trace.tokens_q, at.0),
                    &tok(&trace.tokens_k, at.1),
                ],
            )
        };
        ui.label(RichText::new(text).strong());
    }
    let mut clicked = None;
    ui.columns(2, |cols| {
        let modified = lab.as_ref().and_then(|t| t.head_traces.first());
        let original_key = TexKey::Head {
            trace: app.trace_generation(),
            head,
            kind: MatrixKind::Weights,
        };
        let lab_key = TexKey::Lab {
            lab: app.lab_generation(),
        };
        let lab_mechanism = lab.as_ref().map(|t| (&t.mechanism, t.scale, t.temperature));
        for (ui, (title, ht, id, key, mech)) in cols.iter_mut().zip([
            (
                Msg::LabOriginal,
                Some(orig),
                "lab_left",
                original_key,
                Some((&trace.mechanism, trace.scale, trace.temperature)),
            ),
            (
                Msg::LabModified,
                modified,
                "lab_right",
                lab_key,
                lab_mechanism,
            ),
        ]) {
            // One line each (the whole title on hover), so the two heatmaps start level.
            ui.add(
                egui::Label::new(
                    RichText::new(format!(
                        "{} · {} {} · {} {head}",
                        tr(lang, title),
                        tr(lang, Msg::Layer),
                        app.state.layer,
                        tr(lang, Msg::Head)
                    ))
                    .strong(),
                )
                .truncate(),
            );
            if let Some((m, scale, tau)) = mech {
                ui.add(
                    egui::Label::new(
                        RichText::new(describe::one_line(m, scale, tau, app.lang()))
                            .monospace()
                            .small(),
                    )
                    .truncate(),
                );
            }
            let Some(ht) = ht else {
                match &app.lab_error {
                    Some(e) => {
                        ui.colored_label(
                            ui.visuals().error_fg_color,
                            crate::app::errors::job_text(app.lang(), e),
                        );
                    }
                    None => {
                        ui.spinner();
                    }
                }
                continue;
            };
            // Masked weights grey, as in the heatmap view, not the colour of weight 0.
            let (tex, range) = app.textures.head_matrix(
                ui.ctx(),
                key,
                ht,
                MatrixKind::Weights,
                app.state.colormap,
            );
            let c = HeatmapWidget {
                id,
                image: HeatImage::Whole(&tex),
                range,
                values: &ht.weights,
                head: Some(ht),
                allowed: None,
                rows: &trace.tokens_q,
                cols: &trace.tokens_k,
                cmap: app.state.colormap,
                selected,
                mark_cell: false,
                show_values: app.state.show_values,
                zoom: 1.0,
                lang,
            }
            .ui(ui);
            clicked = clicked.or(c);
        }
    });
    if let Some((i, j)) = clicked {
        app.push(Command::SelectCell(i, j));
    }
}

/// The largest |a − b| of two same-shaped matrices and its (row, column); (0, (0, 0)) when
/// they are equal.
fn largest_change(a: &ndarray::Array2<f32>, b: &ndarray::Array2<f32>) -> (f32, (usize, usize)) {
    let (mut worst, mut at) = (0.0f32, (0, 0));
    for ((ij, x), y) in a.indexed_iter().zip(b.iter()) {
        let d = (x - y).abs();
        if d > worst {
            (worst, at) = (d, ij);
        }
    }
    (worst, at)
}
