//! All heads of the trace side by side; a click focuses one.

use eframe::egui::{self, Color32, Sense, Stroke, TextureHandle, Vec2};

use crate::app::heatmap::{TexKey, TokenLabels, WHOLE_TEXTURE_CELLS, label_width};

use crate::app::i18n::{Msg, tr, trf};
use crate::app::state::{EmbeddingMode, View};
use crate::app::{AttnApp, Command};
use crate::core::Trace;
use crate::core::pool::{OVERVIEW_SIDE, PoolMethod, pool};
use crate::export::heatmap::fmt_value;
use crate::export::matrix::MatrixKind;

/// Cell side (points) from which a tile's tokens are labelled (a 10-point label needs it).
const TILE_LABEL_MIN_CELL: f32 = 10.0;
/// Room above the first row of tiles for the column labels.
const TILE_LABEL_H: f32 = 70.0;

/// Draws the view.
pub fn ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let Some(trace) = app.shown_trace() else {
        return;
    };
    let lang = app.lang();
    let kind = MatrixKind::for_step(app.state.step);
    let heads = trace.heads;
    let cols = (heads as f32).sqrt().ceil().max(1.0) as usize;
    let avail = ui.available_width();
    // The first column's tiles may carry the row labels: leave them room.
    let side = (((avail - label_width(&trace.tokens_q)) / cols as f32) - 16.0).clamp(60.0, 360.0);
    if app.state.embedding != EmbeddingMode::Model && (0..heads).any(|h| !trace.has_matrices(h)) {
        ui.label(egui::RichText::new(tr(lang, Msg::LeanToyNote)).small());
        let pooling = trace
            .head_traces
            .iter()
            .find_map(|t| t.overview.as_ref())
            .map(|o| o.describe());
        super::model_grid::thumb_scale_picker(app, ui, pooling);
    }
    ui.label(egui::RichText::new(tr(lang, Msg::GridCaption)).weak());
    egui::ScrollArea::vertical().show(ui, |ui| {
        egui::Grid::new("heads_grid")
            .spacing([10.0, 10.0])
            .show(ui, |ui| {
                for h in 0..heads {
                    // A long model run: heads without matrices, or too big for one texture,
                    // show their pooled overview.
                    let big = trace
                        .head_traces
                        .get(h)
                        .is_some_and(|t| t.weights.len() > WHOLE_TEXTURE_CELLS);
                    // An exact head also gives its colour range and its cells for hover.
                    let exact = trace.has_matrices(h) && !big;
                    let (tex, range) = if exact {
                        match app.head_texture(ui.ctx(), &trace, h, kind) {
                            Some((t, r)) => (Some(t), Some(r)),
                            None => (None, None),
                        }
                    } else {
                        (overview_texture(app, ui.ctx(), &trace, h), None)
                    };
                    let Some(tex) = tex else {
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
                        // Token labels on the grid's outer edges: rows left of the first
                        // column's tiles, columns above the first row's (an exact tile only:
                        // a pooled one's texels are not tokens).
                        let (n_q, n_k) = kind.values(&trace.head_traces[h]).dim();
                        let cell = side / n_q.max(n_k).max(1) as f32;
                        let labelled = exact && cell >= TILE_LABEL_MIN_CELL;
                        let rows: &[String] = if labelled && h % cols == 0 {
                            &trace.tokens_q
                        } else {
                            &[]
                        };
                        let tokens_k: &[String] = if labelled && h < cols {
                            &trace.tokens_k
                        } else {
                            &[]
                        };
                        let margin = Vec2::new(
                            if rows.is_empty() {
                                0.0
                            } else {
                                label_width(rows)
                            },
                            if tokens_k.is_empty() {
                                0.0
                            } else {
                                TILE_LABEL_H
                            },
                        );
                        let (area, mut resp) =
                            ui.allocate_exact_size(margin + Vec2::splat(side), Sense::click());
                        // An exact tile keeps its matrix's shape (cross-attention is not
                        // square), so labels and hover meet the cells they name.
                        let shape = if exact {
                            Vec2::new(n_k as f32, n_q as f32) * cell
                        } else {
                            Vec2::splat(side)
                        };
                        let image = egui::Rect::from_min_size(area.min + margin, shape);
                        ui.painter().image(
                            tex.id(),
                            image,
                            egui::Rect::from_min_max(egui::Pos2::ZERO, egui::pos2(1.0, 1.0)),
                            Color32::WHITE,
                        );
                        // The step-through's query row, on every exact tile (as the heatmap
                        // frames it), so a class sees which row the arithmetic is about.
                        let row = app.state.row;
                        if exact && row < n_q {
                            ui.painter().rect_stroke(
                                egui::Rect::from_min_size(
                                    image.min + Vec2::new(0.0, row as f32 * cell),
                                    Vec2::new(shape.x, cell),
                                ),
                                0.0,
                                Stroke::new(1.5, Color32::from_rgb(230, 60, 60)),
                                egui::StrokeKind::Outside,
                            );
                        }
                        TokenLabels {
                            rows,
                            cols: tokens_k,
                            cell,
                            selected_row: exact.then_some(row),
                            col_room: TILE_LABEL_H,
                            pin: None,
                        }
                        .paint(
                            ui.painter(),
                            ui.visuals(),
                            image.min,
                            (0..n_q, 0..n_k),
                        );
                        // The colours' range, and the cell under the pointer by its tokens.
                        if let Some(r) = range {
                            ui.label(
                                egui::RichText::new(trf(
                                    lang,
                                    Msg::ColourRange,
                                    &[
                                        &tr(lang, super::heatmap::legend_msg(kind)),
                                        &fmt_value(r.lo),
                                        &fmt_value(r.hi),
                                    ],
                                ))
                                .small()
                                .weak(),
                            );
                        }
                        if exact
                            && let Some(pos) = resp.hover_pos()
                            && image.contains(pos)
                        {
                            let m = kind.values(&trace.head_traces[h]);
                            let rel = (pos - image.min) / image.size();
                            let i = ((rel.y * n_q as f32) as usize).min(n_q.saturating_sub(1));
                            let j = ((rel.x * n_k as f32) as usize).min(n_k.saturating_sub(1));
                            let tok =
                                |t: &[String], k: usize| t.get(k).cloned().unwrap_or_default();
                            resp = resp.on_hover_text(format!(
                                "«{}» {i} → «{}» {j}: {}",
                                tok(&trace.tokens_q, i),
                                tok(&trace.tokens_k, j),
                                fmt_value(m[[i, j]])
                            ));
                        }
                        if focused {
                            ui.painter().rect_stroke(
                                image,
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

/// The pooled overview of head `h`: of the focused layer of the model run on screen, or of
/// a toy trace's head (kept by a lean trace, or pooled here from a matrix too big for one
/// texture).
fn overview_texture(
    app: &mut AttnApp,
    ctx: &egui::Context,
    trace: &Trace,
    h: usize,
) -> Option<TextureHandle> {
    let scale = app.state.thumb_scale;
    let cmap = app.state.colormap;
    if app.state.embedding != EmbeddingMode::Model {
        let head = trace.head_traces.get(h)?;
        let key = TexKey::ToyOverview {
            trace: app.trace_generation(),
            head: h,
            scale,
        };
        let (tex, _) = app.textures.matrix_with(
            ctx,
            key,
            || match &head.overview {
                Some(p) => scale.apply(&p.values),
                // Masked weights grey, as in the focused heatmap (a block is grey only when
                // all of its cells are masked).
                None => {
                    let masked = MatrixKind::Weights
                        .masked_cells(head)
                        .map(|a| crate::app::heatmap::masked_as_such(&head.weights, a));
                    let w = masked.as_ref().unwrap_or(&head.weights);
                    scale.apply(&pool(w.view(), OVERVIEW_SIDE, PoolMethod::Max).values)
                }
            },
            MatrixKind::Weights,
            cmap,
        );
        return Some(tex);
    }
    let out = app.model_out.clone()?;
    let l = app.state.layer;
    super::model_grid::head_texture(app, ctx, out.run.layers.get(l)?, l, h)
}
