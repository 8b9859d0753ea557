//! The central views: the focused head's heatmap, the grid of all heads, the token-to-token
//! line view and the egui_plot panels. Matrices are drawn as one texture each.

use std::collections::HashMap;

use anyhow::Result;
use eframe::egui::{self, Color32, Pos2, Rect, Sense, Stroke, TextureHandle, Vec2};
use egui_plot::{Bar, BarChart, Legend, Plot};
use ndarray::Array2;

use crate::core::attend::softmax_at;
use crate::core::{Step, Trace};
use crate::export::colormap::{Colormap, Range};
use crate::export::heatmap::{Heatmap, abbreviate, fmt_value};

use super::i18n::{Msg, tr};
use super::state::View;
use super::{AttnApp, Command};

/// Which n_q × n_k matrix of a head a heatmap shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatrixKind {
    /// Raw scores.
    Raw,
    /// Scaled scores.
    Scaled,
    /// Masked logits.
    Logits,
    /// Weights.
    Weights,
}

impl MatrixKind {
    /// The matrix a step shows in the heatmap (weights for steps without an n_q × n_k one).
    pub fn for_step(step: Step) -> MatrixKind {
        match step {
            Step::Scores => MatrixKind::Raw,
            Step::Scale => MatrixKind::Scaled,
            Step::Mask => MatrixKind::Logits,
            _ => MatrixKind::Weights,
        }
    }

    /// The values of this matrix in a head.
    pub fn values(self, t: &crate::core::HeadTrace) -> &Array2<f32> {
        match self {
            MatrixKind::Raw => &t.raw_scores,
            MatrixKind::Scaled => &t.scaled,
            MatrixKind::Logits => &t.logits,
            MatrixKind::Weights => &t.weights,
        }
    }

    /// Weights use the chosen sequential map from 0; scores a diverging map centred on 0.
    pub fn colormap(self, chosen: Colormap) -> (Colormap, bool) {
        match self {
            MatrixKind::Weights => (chosen, false),
            _ => (Colormap::Diverging, true),
        }
    }

    fn legend(self) -> Msg {
        match self {
            MatrixKind::Weights => Msg::LegendWeights,
            _ => Msg::LegendScores,
        }
    }
}

/// Textures of heatmaps, keyed by what they show; rebuilt only when that changes, and
/// dropped when no view has drawn them for a few frames.
#[derive(Default)]
pub struct TextureCache {
    map: HashMap<String, (TextureHandle, Range, u64)>,
    frame: u64,
}

impl TextureCache {
    /// Starts a frame: forgets textures unused for more than two frames.
    pub fn begin_frame(&mut self) {
        self.frame += 1;
        let frame = self.frame;
        self.map.retain(|_, (_, _, used)| frame - *used <= 2);
    }

    /// The texture of `values` under `key`, made on first use.
    pub fn matrix(
        &mut self,
        ctx: &egui::Context,
        key: String,
        values: &Array2<f32>,
        kind: MatrixKind,
        chosen: Colormap,
    ) -> (TextureHandle, Range) {
        let frame = self.frame;
        let entry = self.map.entry(key).or_insert_with_key(|key| {
            let (cmap, centred) = kind.colormap(chosen);
            let range = weight_range(values, kind, centred);
            let tex = ctx.load_texture(
                key.clone(),
                color_image(values, cmap, range),
                egui::TextureOptions::NEAREST,
            );
            (tex, range, frame)
        });
        entry.2 = frame;
        (entry.0.clone(), entry.1)
    }

    fn get(
        &mut self,
        ctx: &egui::Context,
        generation: u64,
        trace: &Trace,
        head: usize,
        kind: MatrixKind,
        chosen: Colormap,
    ) -> Option<(TextureHandle, Range)> {
        let t = trace.head_traces.get(head)?;
        Some(self.matrix(
            ctx,
            format!("trace{generation}/h{head}/{kind:?}/{chosen:?}"),
            kind.values(t),
            kind,
            chosen,
        ))
    }
}

/// Weights map [0, max] (so a flat row is still visible); scores are centred on 0.
fn weight_range(values: &Array2<f32>, kind: MatrixKind, centred: bool) -> Range {
    let r = Range::of(values.iter(), centred);
    if kind == MatrixKind::Weights {
        Range {
            lo: 0.0,
            hi: r.hi.max(1e-6),
        }
    } else {
        r
    }
}

/// The colour-mapped pixels of a matrix (masked cells dark grey).
pub fn color_image(values: &Array2<f32>, cmap: Colormap, range: Range) -> egui::ColorImage {
    let (n, m) = values.dim();
    let mut pixels = Vec::with_capacity(n * m);
    for &v in values.iter() {
        pixels.push(if v.is_finite() {
            let [r, g, b] = cmap.rgb(range.t(v));
            Color32::from_rgb(r, g, b)
        } else {
            Color32::from_gray(64)
        });
    }
    egui::ColorImage::new(
        [m.max(1), n.max(1)],
        if n * m == 0 {
            vec![Color32::BLACK]
        } else {
            pixels
        },
    )
}

/// The heatmap the File ▸ Export items write: the focused head's matrix for the current step.
pub fn heatmap_for_export<'a>(app: &AttnApp, trace: &'a Trace) -> Result<Heatmap<'a>> {
    let kind = MatrixKind::for_step(app.state.step);
    let head = app.state.head.min(trace.heads.saturating_sub(1));
    let t = trace
        .head_traces
        .get(head)
        .ok_or_else(|| anyhow::anyhow!("head {head} does not exist"))?;
    let values = kind.values(t);
    let (cmap, centred) = kind.colormap(app.state.colormap);
    Ok(Heatmap {
        values,
        rows: &trace.tokens_q,
        cols: &trace.tokens_k,
        colormap: cmap,
        range: weight_range(values, kind, centred),
        title: format!(
            "{} {head} · {}",
            tr(app.lang(), Msg::Head),
            tr(app.lang(), kind.legend())
        ),
    })
}

/// The view tabs: the model views only when a model is the input.
pub fn view_tabs(model: bool) -> Vec<(View, Msg)> {
    let mut v = vec![
        (View::Heatmap, Msg::ViewHeatmap),
        (View::Grid, Msg::ViewGrid),
        (View::Lines, Msg::ViewLines),
        (View::Plots, Msg::ViewPlots),
        (View::Neuron, Msg::ViewNeuron),
    ];
    if model {
        v.splice(0..0, [(View::Model, Msg::ViewModel)]);
        v.extend([
            (View::Lab, Msg::ViewLab),
            (View::Stats, Msg::ViewStats),
            (View::Rollout, Msg::ViewRollout),
        ]);
    }
    v
}

/// The central panel: view tabs, head picker, then the view.
pub fn central(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    ui.horizontal_wrapped(|ui| {
        for (v, m) in view_tabs(app.state.embedding == super::state::EmbeddingMode::Model) {
            ui.selectable_value(&mut app.state.view, v, t(m));
        }
        if let Some(trace) = &app.trace
            && trace.heads > 1
        {
            ui.separator();
            ui.label(t(Msg::Head));
            for h in 0..trace.heads {
                if ui
                    .selectable_label(app.state.head == h, format!("{h}"))
                    .clicked()
                {
                    app.push(Command::FocusHead(h));
                }
            }
        }
    });
    ui.separator();
    if let Some(err) = &app.error {
        let msg = if err.contains("sequence is empty") {
            t(Msg::EmptyInput).to_owned()
        } else {
            format!("{} {err}", t(Msg::ErrorPrefix))
        };
        ui.colored_label(ui.visuals().error_fg_color, msg);
    }
    if app.state.embedding == super::state::EmbeddingMode::Model {
        if let Some(e) = &app.model_error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        match app.state.view {
            View::Model => return super::model_views::model_grid(app, ui),
            View::Stats => return super::model_views::stats_view(app, ui),
            View::Rollout => return super::model_views::rollout_view(app, ui),
            _ => {}
        }
    }
    let Some(trace) = app.trace.clone() else {
        ui.label(t(Msg::NoTrace));
        return;
    };
    match app.state.view {
        View::Heatmap => heatmap_view(app, ui, &trace),
        View::Grid => grid_view(app, ui, &trace),
        View::Lines => lines_view(app, ui, &trace),
        View::Plots => plots_view(app, ui, &trace),
        View::Model => super::model_views::model_grid(app, ui),
        View::Neuron => super::model_views::neuron_view(app, ui, &trace),
        View::Lab => super::model_views::lab_view(app, ui, &trace),
        View::Stats => super::model_views::stats_view(app, ui),
        View::Rollout => super::model_views::rollout_view(app, ui),
    }
}

/// Label strip sizes around a heatmap.
const LABEL_W: f32 = 90.0;
const LABEL_H: f32 = 70.0;

fn heatmap_view(app: &mut AttnApp, ui: &mut egui::Ui, trace: &Trace) {
    let lang = app.lang();
    let kind = MatrixKind::for_step(app.state.step);
    let head = app.state.head.min(trace.heads.saturating_sub(1));
    let Some((tex, range)) = app.textures.get(
        ui.ctx(),
        app.generation,
        trace,
        head,
        kind,
        app.state.colormap,
    ) else {
        return;
    };
    let Some(ht) = trace.head_traces.get(head) else {
        return;
    };
    ui.horizontal(|ui| {
        ui.label(format!(
            "{} {head} · {}",
            tr(lang, Msg::Head),
            tr(lang, kind.legend())
        ));
        ui.separator();
        let cap = ui
            .label(tr(lang, Msg::HeatZoom))
            .on_hover_text(tr(lang, Msg::HeatZoomTip));
        ui.add(egui::Slider::new(&mut app.state.heat_zoom, 0.25..=8.0).logarithmic(true))
            .labelled_by(cap.id)
            .on_hover_text(tr(lang, Msg::HeatZoomTip));
    });
    let hm = HeatmapWidget {
        id: "main_heatmap",
        tex: &tex,
        range,
        values: kind.values(ht),
        head: Some(ht),
        rows: &trace.tokens_q,
        cols: &trace.tokens_k,
        cmap: kind.colormap(app.state.colormap).0,
        selected: (app.state.row, app.state.col),
        show_values: app.state.show_values,
        zoom: app.state.heat_zoom,
        lang,
    };
    let area = ui.available_rect_before_wrap();
    if let Some((i, j)) = hm.ui(ui) {
        app.push(Command::SelectCell(i, j));
    }
    // Ctrl + wheel over the heatmap zooms it (not the whole UI).
    let zoom = ui.input(|i| {
        if i.pointer.hover_pos().is_some_and(|p| area.contains(p)) {
            i.zoom_delta()
        } else {
            1.0
        }
    });
    if zoom != 1.0 {
        app.state.heat_zoom = (app.state.heat_zoom * zoom).clamp(0.25, 8.0);
    }
}

/// A matrix drawn as one texture with token labels, a legend, hover details and click-to-select.
pub struct HeatmapWidget<'a> {
    /// Scroll area id.
    pub id: &'a str,
    /// The colour-mapped texture of `values`.
    pub tex: &'a TextureHandle,
    /// Its value range.
    pub range: Range,
    /// The matrix.
    pub values: &'a Array2<f32>,
    /// The head it belongs to, for weight / raw score / mask in the tooltip.
    pub head: Option<&'a crate::core::HeadTrace>,
    /// Row labels.
    pub rows: &'a [String],
    /// Column labels.
    pub cols: &'a [String],
    /// The colour map of the texture (for the legend and text contrast).
    pub cmap: Colormap,
    /// Selected (row, column).
    pub selected: (usize, usize),
    /// Numbers in large cells.
    pub show_values: bool,
    /// Zoom factor over "fit".
    pub zoom: f32,
    /// UI language.
    pub lang: super::i18n::Lang,
}

impl HeatmapWidget<'_> {
    /// Draws it; returns the clicked cell.
    pub fn ui(self, ui: &mut egui::Ui) -> Option<(usize, usize)> {
        let lang = self.lang;
        let (n, m) = self.values.dim();
        let avail = ui.available_size() - Vec2::new(LABEL_W + 80.0, LABEL_H + 10.0);
        let fit = (avail.x / m.max(1) as f32)
            .min(avail.y / n.max(1) as f32)
            .clamp(1.0, 64.0);
        let cell = (fit * self.zoom).max(0.25);
        let mut clicked = None;
        egui::ScrollArea::both()
            .id_salt(self.id)
            .auto_shrink(false)
            .show(ui, |ui| {
                let size = Vec2::new(
                    LABEL_W + m as f32 * cell + 80.0,
                    LABEL_H + n as f32 * cell + 10.0,
                );
                let (rect, resp) = ui.allocate_exact_size(size, Sense::click());
                let painter = ui.painter_at(rect);
                let origin = rect.min + Vec2::new(LABEL_W, LABEL_H);
                let grid = Rect::from_min_size(origin, Vec2::new(m as f32 * cell, n as f32 * cell));
                painter.image(
                    self.tex.id(),
                    grid,
                    Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
                    Color32::WHITE,
                );
                let text_color = ui.visuals().text_color();
                let font = egui::FontId::proportional(cell.clamp(9.0, 14.0));
                // Labels only where they are legible: every k-th token so they never overlap.
                let every = ((13.0 / cell).ceil() as usize).max(1);
                for (i, tok) in self.rows.iter().enumerate().step_by(every) {
                    let y = origin.y + (i as f32 + 0.5) * cell;
                    let color = if i == self.selected.0 {
                        ui.visuals().strong_text_color()
                    } else {
                        text_color
                    };
                    painter.text(
                        Pos2::new(origin.x - 4.0, y),
                        egui::Align2::RIGHT_CENTER,
                        abbreviate(tok, 10),
                        font.clone(),
                        color,
                    );
                }
                for (j, tok) in self.cols.iter().enumerate().step_by(every) {
                    let x = origin.x + (j as f32 + 0.5) * cell;
                    let galley =
                        painter.layout_no_wrap(abbreviate(tok, 10), font.clone(), text_color);
                    let pos = Pos2::new(x - galley.size().y / 2.0, origin.y - 4.0);
                    painter.add(
                        egui::epaint::TextShape::new(pos, galley, text_color)
                            .with_angle(-std::f32::consts::FRAC_PI_2),
                    );
                }
                if self.selected.0 < n {
                    let y = origin.y + self.selected.0 as f32 * cell;
                    painter.rect_stroke(
                        Rect::from_min_size(
                            Pos2::new(origin.x, y),
                            Vec2::new(m as f32 * cell, cell),
                        ),
                        0.0,
                        Stroke::new(2.0, Color32::from_rgb(230, 60, 60)),
                        egui::StrokeKind::Outside,
                    );
                }
                if self.show_values && cell >= 34.0 {
                    for ((i, j), &v) in self.values.indexed_iter() {
                        let c = Pos2::new(
                            origin.x + (j as f32 + 0.5) * cell,
                            origin.y + (i as f32 + 0.5) * cell,
                        );
                        let dark = v.is_finite() && self.cmap.dark_text_on(self.range.t(v));
                        let color = if dark { Color32::BLACK } else { Color32::WHITE };
                        painter.text(
                            c,
                            egui::Align2::CENTER_CENTER,
                            fmt_value(v),
                            egui::FontId::monospace((cell * 0.28).min(14.0)),
                            color,
                        );
                    }
                }
                legend(
                    &painter,
                    Rect::from_min_size(
                        Pos2::new(grid.max.x + 16.0, origin.y),
                        Vec2::new(14.0, (n as f32 * cell).max(60.0)),
                    ),
                    self.cmap,
                    self.range,
                    text_color,
                );
                if let Some(pos) = resp.hover_pos()
                    && grid.contains(pos)
                {
                    let j = (((pos.x - origin.x) / cell) as usize).min(m.saturating_sub(1));
                    let i = (((pos.y - origin.y) / cell) as usize).min(n.saturating_sub(1));
                    let (rows, cols, values, head) = (self.rows, self.cols, self.values, self.head);
                    resp.clone().on_hover_ui_at_pointer(|ui| {
                        ui.label(format!(
                            "{}: {}  ({i})",
                            tr(lang, Msg::HoverQuery),
                            rows.get(i).map_or("", String::as_str)
                        ));
                        ui.label(format!(
                            "{}: {}  ({j})",
                            tr(lang, Msg::HoverKey),
                            cols.get(j).map_or("", String::as_str)
                        ));
                        match head {
                            Some(ht) => {
                                ui.label(format!(
                                    "{}: {:.4}",
                                    tr(lang, Msg::HoverWeight),
                                    ht.weights[[i, j]]
                                ));
                                ui.label(format!(
                                    "{}: {:.4}",
                                    tr(lang, Msg::HoverRaw),
                                    ht.raw_scores[[i, j]]
                                ));
                                if !ht.allowed[[i, j]] {
                                    ui.label(tr(lang, Msg::Masked));
                                }
                            }
                            None => {
                                ui.label(format!("{:.4}", values[[i, j]]));
                            }
                        }
                    });
                    if resp.clicked() {
                        clicked = Some((i, j));
                    }
                }
            });
        clicked
    }
}

/// A vertical colour bar with its end values.
fn legend(painter: &egui::Painter, rect: Rect, cmap: Colormap, range: Range, text: Color32) {
    let steps = 32;
    for k in 0..steps {
        let t0 = k as f32 / steps as f32;
        let y0 = rect.max.y - t0 * rect.height();
        let y1 = rect.max.y - (k + 1) as f32 / steps as f32 * rect.height();
        let [r, g, b] = cmap.rgb(t0 + 0.5 / steps as f32);
        painter.rect_filled(
            Rect::from_x_y_ranges(rect.x_range(), y1..=y0),
            0.0,
            Color32::from_rgb(r, g, b),
        );
    }
    let font = egui::FontId::proportional(11.0);
    painter.text(
        Pos2::new(rect.max.x + 4.0, rect.min.y),
        egui::Align2::LEFT_TOP,
        fmt_value(range.hi),
        font.clone(),
        text,
    );
    painter.text(
        Pos2::new(rect.max.x + 4.0, rect.max.y),
        egui::Align2::LEFT_BOTTOM,
        fmt_value(range.lo),
        font,
        text,
    );
}

fn grid_view(app: &mut AttnApp, ui: &mut egui::Ui, trace: &Trace) {
    let lang = app.lang();
    let kind = MatrixKind::for_step(app.state.step);
    let heads = trace.heads;
    let cols = (heads as f32).sqrt().ceil().max(1.0) as usize;
    let avail = ui.available_width();
    let side = ((avail / cols as f32) - 16.0).clamp(60.0, 360.0);
    egui::ScrollArea::vertical().show(ui, |ui| {
        egui::Grid::new("heads_grid")
            .spacing([10.0, 10.0])
            .show(ui, |ui| {
                for h in 0..heads {
                    let Some((tex, _)) = app.textures.get(
                        ui.ctx(),
                        app.generation,
                        trace,
                        h,
                        kind,
                        app.state.colormap,
                    ) else {
                        continue;
                    };
                    ui.vertical(|ui| {
                        let focused = h == app.state.head;
                        let s = &trace.head_traces[h].summary;
                        let label = format!(
                            "{} {h} · H={:.2} · d={:.1}",
                            tr(lang, Msg::Head),
                            s.entropy,
                            s.mean_distance
                        );
                        if ui.selectable_label(focused, label).clicked() {
                            app.push(Command::FocusHead(h));
                        }
                        let img = egui::Image::new(&tex)
                            .fit_to_exact_size(Vec2::splat(side))
                            .sense(Sense::click());
                        let resp = ui.add(img);
                        if focused {
                            ui.painter().rect_stroke(
                                resp.rect,
                                0.0,
                                Stroke::new(2.0, Color32::from_rgb(230, 60, 60)),
                                egui::StrokeKind::Outside,
                            );
                        }
                        if resp.clicked() {
                            app.push(Command::FocusHead(h));
                            app.state.view = View::Heatmap;
                        }
                    });
                    if (h + 1) % cols == 0 {
                        ui.end_row();
                    }
                }
            });
    });
}

fn lines_view(app: &mut AttnApp, ui: &mut egui::Ui, trace: &Trace) {
    let lang = app.lang();
    let head = app.state.head.min(trace.heads.saturating_sub(1));
    let Some(ht) = trace.head_traces.get(head) else {
        return;
    };
    ui.label(tr(lang, Msg::LinesHint));
    let (n, m) = ht.weights.dim();
    let rows = n.max(m).max(1);
    // Rows share the panel's height, between 12 and 40 px each.
    let row_h = ((ui.available_height() - 40.0) / rows as f32).clamp(12.0, 40.0);
    let height = rows as f32 * row_h + 20.0;
    egui::ScrollArea::vertical()
        .auto_shrink(false)
        .show(ui, |ui| {
            let width = ui.available_width().min(900.0);
            let (rect, resp) = ui.allocate_exact_size(Vec2::new(width, height), Sense::hover());
            let painter = ui.painter_at(rect);
            let (xl, xr) = (rect.min.x + 150.0, rect.max.x - 150.0);
            let y_of = |i: usize| rect.min.y + 10.0 + (i as f32 + 0.5) * row_h;
            let font = egui::FontId::proportional(14.0);
            let text = ui.visuals().text_color();
            // Which token is hovered: a query on the left or a key on the right.
            let hover = resp.hover_pos().and_then(|p| {
                let i = ((p.y - rect.min.y - 10.0) / row_h).floor();
                if i < 0.0 {
                    return None;
                }
                let i = i as usize;
                if p.x < xl + 10.0 && i < n {
                    Some((true, i))
                } else if p.x > xr - 10.0 && i < m {
                    Some((false, i))
                } else {
                    None
                }
            });
            let accent = Color32::from_rgb(40, 110, 220);
            for ((i, j), &w) in ht.weights.indexed_iter() {
                if w < 0.01 {
                    continue;
                }
                let visible = match hover {
                    Some((true, q)) => q == i,
                    Some((false, k)) => k == j,
                    None => true,
                };
                if !visible {
                    continue;
                }
                let alpha = (w.clamp(0.0, 1.0) * 255.0) as u8;
                painter.line_segment(
                    [Pos2::new(xl + 4.0, y_of(i)), Pos2::new(xr - 4.0, y_of(j))],
                    Stroke::new(
                        1.0 + 3.0 * w,
                        Color32::from_rgba_unmultiplied(accent.r(), accent.g(), accent.b(), alpha),
                    ),
                );
            }
            for (i, tok) in trace.tokens_q.iter().enumerate() {
                let strong = matches!(hover, Some((true, q)) if q == i);
                let c = if strong {
                    ui.visuals().strong_text_color()
                } else {
                    text
                };
                painter.text(
                    Pos2::new(xl, y_of(i)),
                    egui::Align2::RIGHT_CENTER,
                    abbreviate(tok, 14),
                    font.clone(),
                    c,
                );
            }
            for (j, tok) in trace.tokens_k.iter().enumerate() {
                let strong = matches!(hover, Some((false, k)) if k == j);
                let c = if strong {
                    ui.visuals().strong_text_color()
                } else {
                    text
                };
                painter.text(
                    Pos2::new(xr, y_of(j)),
                    egui::Align2::LEFT_CENTER,
                    abbreviate(tok, 14),
                    font.clone(),
                    c,
                );
            }
        });
}

fn plots_view(app: &mut AttnApp, ui: &mut egui::Ui, trace: &Trace) {
    let lang = app.lang();
    let head = app.state.head.min(trace.heads.saturating_sub(1));
    let Some(ht) = trace.head_traces.get(head) else {
        return;
    };
    let row = app.state.row.min(trace.n_q().saturating_sub(1));
    let h = (ui.available_height() / 2.0 - 30.0).max(120.0);
    ui.label(format!(
        "{} — {} {row} «{}»",
        tr(lang, Msg::PlotRow),
        tr(lang, Msg::SelectedRow),
        trace.tokens_q[row]
    ));
    let weights: Vec<f32> = ht.weights.row(row).to_vec();
    let tokens_k = trace.tokens_k.clone();
    let mut current = BarChart::new(
        tr(lang, Msg::PlotAtTau),
        weights
            .iter()
            .enumerate()
            .map(|(j, &w)| Bar::new(j as f64, w as f64).width(0.7))
            .collect(),
    )
    .color(Color32::from_rgb(40, 110, 220));
    let overlay = ((trace.temperature - 1.0).abs() > 1e-6).then(|| {
        let scaled: Vec<f32> = ht.scaled.row(row).to_vec();
        let allowed: Vec<bool> = ht.allowed.row(row).to_vec();
        let base = softmax_at(&scaled, &allowed, 1.0);
        BarChart::new(
            tr(lang, Msg::PlotAtTau1),
            base.iter()
                .enumerate()
                .map(|(j, &w)| Bar::new(j as f64, w as f64).width(0.3))
                .collect(),
        )
        .color(Color32::from_rgb(230, 120, 30))
    });
    if overlay.is_some() {
        current = current.name(format!(
            "{} ({:.2})",
            tr(lang, Msg::PlotAtTau),
            trace.temperature
        ));
    }
    Plot::new("row_plot")
        .height(h)
        .legend(Legend::default())
        .include_y(0.0)
        .include_y(1.0)
        .x_axis_formatter(move |mark, _| {
            let j = mark.value.round();
            if (mark.value - j).abs() < 1e-6 && j >= 0.0 {
                tokens_k
                    .get(j as usize)
                    .map(|t| abbreviate(t, 8))
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |p| {
            p.bar_chart(current);
            if let Some(o) = overlay {
                p.bar_chart(o);
            }
        });
    ui.columns(2, |cols| {
        let heads = &trace.head_traces;
        for (ui, (title, f)) in cols.iter_mut().zip([
            (
                Msg::PlotEntropy,
                (|s: &crate::core::trace::HeadSummary| s.entropy) as fn(&_) -> f32,
            ),
            (Msg::PlotDistance, |s| s.mean_distance),
        ]) {
            ui.label(tr(lang, title));
            let bars = heads
                .iter()
                .enumerate()
                .map(|(k, t)| {
                    let b = Bar::new(k as f64, f(&t.summary) as f64).width(0.6);
                    if k == head {
                        b.fill(Color32::from_rgb(230, 60, 60))
                    } else {
                        b
                    }
                })
                .collect();
            Plot::new(format!("summary_{title:?}"))
                .height(h - 20.0)
                .include_y(0.0)
                .show(ui, |p| {
                    p.bar_chart(
                        BarChart::new(tr(lang, title), bars).color(Color32::from_rgb(40, 110, 220)),
                    )
                });
        }
    });
}
