//! Views of a real model: the layers × heads grid, the neuron view, the attention lab, the
//! per-head statistics table and attention rollout. Everything comes from the model run and
//! the core's traces.

use eframe::egui::{self, Color32, RichText, Sense, Stroke, Vec2};
use egui_plot::{Bar, BarChart, Plot};

use crate::core::Trace;
use crate::export::colormap::Colormap;
use crate::model::stats::HeadStat;

use super::i18n::{Msg, tr};
use super::state::View;
use super::views::{HeatmapWidget, MatrixKind};
use super::{AttnApp, Command};

/// Shown instead of a model view when no model output exists yet.
fn model_status(app: &AttnApp, ui: &mut egui::Ui) -> bool {
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
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(tr(lang, Msg::RunningModel));
        });
        return false;
    }
    true
}

/// Layers × heads thumbnails; a click focuses that layer and head in the other views.
pub fn model_grid(app: &mut AttnApp, ui: &mut egui::Ui) {
    if !model_status(app, ui) {
        return;
    }
    let Some(out) = app.model_out.clone() else {
        return;
    };
    let lang = app.lang();
    let run = &out.run;
    let heads = run.heads;
    // Fit all heads across the panel (the layer labels take ~60 px).
    let avail = ui.available_width() - 60.0;
    let side = (avail / heads as f32 - 4.0).clamp(20.0, 160.0);
    egui::ScrollArea::both().auto_shrink(false).show(ui, |ui| {
        egui::Grid::new("model_grid")
            .spacing([4.0, 4.0])
            .show(ui, |ui| {
                ui.label("");
                for h in 0..heads {
                    ui.label(RichText::new(format!("{} {h}", tr(lang, Msg::Head))).small());
                }
                ui.end_row();
                for (l, layer) in run.layers.iter().enumerate() {
                    ui.label(RichText::new(format!("{} {l}", tr(lang, Msg::Layer))).small());
                    for (h, cap) in layer.heads.iter().enumerate() {
                        let (tex, _) = app.textures.matrix(
                            ui.ctx(),
                            format!(
                                "run{}/l{l}/h{h}/{:?}",
                                app.run_generation, app.state.colormap
                            ),
                            &cap.probs,
                            MatrixKind::Weights,
                            app.state.colormap,
                        );
                        let resp = ui.add(
                            egui::Image::new(&tex)
                                .fit_to_exact_size(Vec2::splat(side))
                                .sense(Sense::click()),
                        );
                        if l == app.state.layer && h == app.state.head {
                            ui.painter().rect_stroke(
                                resp.rect,
                                0.0,
                                Stroke::new(2.0, Color32::from_rgb(230, 60, 60)),
                                egui::StrokeKind::Outside,
                            );
                        }
                        let resp = resp.on_hover_text(format!(
                            "{} {l} · {} {h}",
                            tr(lang, Msg::Layer),
                            tr(lang, Msg::Head)
                        ));
                        if resp.clicked() {
                            app.push(Command::FocusLayer(l));
                            app.push(Command::FocusHead(h));
                        }
                        if resp.double_clicked() {
                            app.state.view = View::Heatmap;
                        }
                    }
                    ui.end_row();
                }
            });
    });
}

/// The products qₘ·kₘ behind the selected cell's score, as bars.
pub fn neuron_view(app: &mut AttnApp, ui: &mut egui::Ui, trace: &Trace) {
    let lang = app.lang();
    let head = app.state.head.min(trace.heads.saturating_sub(1));
    let Some(ht) = trace.head_traces.get(head) else {
        return;
    };
    let (i, j) = (
        app.state.row.min(trace.n_q().saturating_sub(1)),
        app.state.col.min(trace.n_k().saturating_sub(1)),
    );
    ui.label(RichText::new(tr(lang, Msg::NeuronHint)).weak());
    let q = ht.q.row(i);
    let k = ht.k.row(j);
    let products: Vec<f32> = q.iter().zip(k.iter()).map(|(a, b)| a * b).collect();
    let sum: f32 = products.iter().sum();
    ui.label(
        RichText::new(format!(
            "q{i} «{}» · k{j} «{}»: Σₘ qₘkₘ = {:.4}   ({}: {:.4})",
            trace.tokens_q[i],
            trace.tokens_k[j],
            sum,
            tr(lang, Msg::HoverRaw),
            ht.raw_scores[[i, j]]
        ))
        .monospace(),
    );
    let bars = products
        .iter()
        .enumerate()
        .map(|(m, &p)| {
            let c = if p >= 0.0 {
                Color32::from_rgb(179, 88, 6)
            } else {
                Color32::from_rgb(33, 102, 172)
            };
            Bar::new(m as f64, p as f64).width(0.8).fill(c)
        })
        .collect();
    Plot::new("neuron_plot")
        .height((ui.available_height() * 0.6).max(160.0))
        .x_axis_label("m")
        .y_axis_label("qₘ·kₘ")
        .show(ui, |p| {
            p.bar_chart(BarChart::new(tr(lang, Msg::ScoreSum), bars))
        });
    // The pair is picked on the heatmap below (click a cell).
    let kind = MatrixKind::Raw;
    let (tex, range) = app.textures.matrix(
        ui.ctx(),
        format!("neuron{}/h{head}", app.generation),
        &ht.raw_scores,
        kind,
        app.state.colormap,
    );
    let clicked = HeatmapWidget {
        id: "neuron_heatmap",
        tex: &tex,
        range,
        values: &ht.raw_scores,
        head: Some(ht),
        rows: &trace.tokens_q,
        cols: &trace.tokens_k,
        cmap: Colormap::Diverging,
        selected: (i, j),
        show_values: false,
        zoom: 1.0,
        lang,
    }
    .ui(ui);
    if let Some((i, j)) = clicked {
        app.push(Command::SelectCell(i, j));
    }
}

/// The focused real head beside the same Q, K, V through the chosen mechanism.
pub fn lab_view(app: &mut AttnApp, ui: &mut egui::Ui, trace: &Trace) {
    if !model_status(app, ui) {
        return;
    }
    let lang = app.lang();
    ui.label(RichText::new(tr(lang, Msg::LabHint)).weak());
    let head = app.state.head.min(trace.heads.saturating_sub(1));
    let Some(orig) = trace.head_traces.get(head) else {
        return;
    };
    let lab = app.lab_trace.clone();
    let selected = (app.state.row, app.state.col);
    let mut clicked = None;
    ui.columns(2, |cols| {
        let modified = lab.as_ref().and_then(|t| t.head_traces.first());
        for (ui, (title, ht, id)) in cols.iter_mut().zip([
            (Msg::LabOriginal, Some(orig), "lab_left"),
            (Msg::LabModified, modified, "lab_right"),
        ]) {
            ui.label(
                RichText::new(format!(
                    "{} · {} {} · {} {head}",
                    tr(lang, title),
                    tr(lang, Msg::Layer),
                    app.state.layer,
                    tr(lang, Msg::Head)
                ))
                .strong(),
            );
            let Some(ht) = ht else {
                ui.spinner();
                continue;
            };
            let key = format!("{id}/{}/{:p}", app.generation, ht as *const _);
            let (tex, range) = app.textures.matrix(
                ui.ctx(),
                key,
                &ht.weights,
                MatrixKind::Weights,
                app.state.colormap,
            );
            let c = HeatmapWidget {
                id,
                tex: &tex,
                range,
                values: &ht.weights,
                head: Some(ht),
                rows: &trace.tokens_q,
                cols: &trace.tokens_k,
                cmap: app.state.colormap,
                selected,
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

/// The sortable statistics table.
pub fn stats_view(app: &mut AttnApp, ui: &mut egui::Ui) {
    if !model_status(app, ui) {
        return;
    }
    let Some(out) = app.model_out.clone() else {
        return;
    };
    let lang = app.lang();
    ui.label(RichText::new(tr(lang, Msg::StatsHint)).weak());
    let cols: [(Msg, fn(&HeadStat) -> f32); 6] = [
        (Msg::ColEntropy, |s| s.entropy),
        (Msg::ColDistance, |s| s.mean_distance),
        (Msg::ColFirst, |s| s.first_token),
        (Msg::ColSep, |s| s.sep_share),
        (Msg::ColPrev, |s| s.previous_token),
        (Msg::ColInduction, |s| s.induction.unwrap_or(f32::NAN)),
    ];
    let (sort_col, desc) = app.state.stats_sort;
    let mut rows: Vec<&HeadStat> = out.stats.iter().collect();
    if let Some((_, key)) = cols.get(sort_col.wrapping_sub(1)) {
        rows.sort_by(|a, b| key(a).total_cmp(&key(b)));
        if desc {
            rows.reverse();
        }
    }
    egui::ScrollArea::vertical()
        .auto_shrink(false)
        .show(ui, |ui| {
            egui::Grid::new("stats")
                .striped(true)
                .spacing([14.0, 4.0])
                .show(ui, |ui| {
                    let header =
                        |ui: &mut egui::Ui, idx: usize, text: String, app: &mut AttnApp| {
                            let arrow = if app.state.stats_sort.0 == idx {
                                if app.state.stats_sort.1 {
                                    " ▼"
                                } else {
                                    " ▲"
                                }
                            } else {
                                ""
                            };
                            if ui
                                .button(RichText::new(format!("{text}{arrow}")).strong())
                                .clicked()
                            {
                                app.state.stats_sort = (
                                    idx,
                                    app.state.stats_sort.0 == idx && !app.state.stats_sort.1,
                                );
                            }
                        };
                    header(
                        ui,
                        0,
                        format!("{} · {}", tr(lang, Msg::Layer), tr(lang, Msg::Head)),
                        app,
                    );
                    for (k, (m, _)) in cols.iter().enumerate() {
                        header(ui, k + 1, tr(lang, *m).to_owned(), app);
                    }
                    ui.end_row();
                    for s in rows {
                        let focused = s.layer == app.state.layer && s.head == app.state.head;
                        if ui
                            .selectable_label(focused, format!("L{} H{}", s.layer, s.head))
                            .clicked()
                        {
                            app.push(Command::FocusLayer(s.layer));
                            app.push(Command::FocusHead(s.head));
                        }
                        for (_, key) in &cols {
                            let v = key(s);
                            ui.label(
                                RichText::new(if v.is_nan() {
                                    "—".into()
                                } else {
                                    format!("{v:.3}")
                                })
                                .monospace(),
                            );
                        }
                        ui.end_row();
                    }
                });
        });
}

/// Attention rollout as a heatmap.
pub fn rollout_view(app: &mut AttnApp, ui: &mut egui::Ui) {
    if !model_status(app, ui) {
        return;
    }
    let Some(out) = app.model_out.clone() else {
        return;
    };
    let lang = app.lang();
    ui.label(RichText::new(tr(lang, Msg::RolloutHint)).weak());
    let labels = out.run.labels();
    let (tex, range) = app.textures.matrix(
        ui.ctx(),
        format!("rollout{}/{:?}", app.run_generation, app.state.colormap),
        &out.rollout,
        MatrixKind::Weights,
        app.state.colormap,
    );
    let clicked = HeatmapWidget {
        id: "rollout",
        tex: &tex,
        range,
        values: &out.rollout,
        head: None,
        rows: &labels,
        cols: &labels,
        cmap: app.state.colormap,
        selected: (app.state.row, app.state.col),
        show_values: app.state.show_values,
        zoom: app.state.heat_zoom,
        lang,
    }
    .ui(ui);
    if let Some((i, j)) = clicked {
        app.push(Command::SelectCell(i, j));
    }
}
