//! A real model's layers × heads thumbnails; a click focuses that layer and head in the other views.

use eframe::egui::{self, Color32, RichText, Sense, Stroke, TextureHandle, Vec2};

use crate::app::heatmap::TexKey;
use crate::app::i18n::{Lang, Msg, tr, trf};
use crate::app::state::{ThumbScale, View};
use crate::app::{AttnApp, Command};
use crate::core::pool::{PoolMethod, Pooling};
use crate::export::matrix::MatrixKind;
use crate::model::arch::LayerRun;

/// How pooled thumbnails were made (`pooling`, e.g. "max-pooled 8192×8192 → 256×256") and
/// the colour-scale choice for them (linear, log, per-row normalised).
pub(crate) fn thumb_scale_picker(app: &mut AttnApp, ui: &mut egui::Ui, pooling: Option<Pooling>) {
    let lang = app.lang();
    ui.horizontal_wrapped(|ui| {
        if let Some(p) = pooling {
            ui.label(RichText::new(pooling_text(lang, &p)).small());
            ui.separator();
        }
        ui.label(RichText::new(tr(lang, Msg::ThumbScale)).small());
        for (scale, msg) in [
            (ThumbScale::Linear, Msg::ScaleLinear),
            (ThumbScale::Log, Msg::ScaleLog),
            (ThumbScale::RowNormalised, Msg::ScaleRow),
        ] {
            ui.selectable_value(&mut app.state.thumb_scale, scale, tr(lang, msg));
        }
    });
}

/// How the thumbnails are pooled, in the UI language.
pub(crate) fn pooling_text(lang: Lang, p: &Pooling) -> String {
    let ((n_q, n_k), (r, c)) = (p.from, p.to);
    if p.is_exact() {
        return trf(lang, Msg::PoolExact, &[&n_q, &n_k]);
    }
    let how = match p.method {
        PoolMethod::Max => Msg::PoolMax,
        PoolMethod::Mean => Msg::PoolMean,
    };
    trf(lang, how, &[&n_q, &n_k, &r, &c])
}

/// Layers × heads thumbnails; a click focuses that layer and head in the other views.
pub fn ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let Some(out) = app.model_out.clone() else {
        return;
    };
    let lang = app.lang();
    let run = &out.run;
    let heads = run.heads;
    let grouped = run.kv_heads > 0 && run.kv_heads < heads;
    let any_local = run.layers.iter().any(|l| l.window.is_some());
    // What the thumbnails show: every head's pooled overview, on the chosen colour scale.
    let pooling = run.layers.first().and_then(|l| l.overview_description(0));
    thumb_scale_picker(app, ui, pooling);
    super::byte_piece_note(ui, lang, &run.labels());
    // Each row's label: the layer, and whether it is local (sliding-window) attention, as
    // the lessons teach it.
    let row_labels: Vec<RichText> = run
        .layers
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            let kind = match layer.window {
                Some(w) => format!("\n{}", trf(lang, Msg::LocalWindow, &[&w])),
                None if any_local => format!("\n{}", tr(lang, Msg::GlobalAttention)),
                None => String::new(),
            };
            RichText::new(format!("{} {l}{kind}", tr(lang, Msg::Layer))).small()
        })
        .collect();
    // Fit all heads across the panel, beside the widest label.
    let label_w = row_labels
        .iter()
        .map(|t| {
            egui::WidgetText::from(t.clone())
                .into_galley(
                    ui,
                    Some(egui::TextWrapMode::Extend),
                    f32::INFINITY,
                    egui::TextStyle::Small,
                )
                .size()
                .x
        })
        .fold(0.0, f32::max);
    let avail = ui.available_width() - label_w - 24.0;
    let side = (avail / heads as f32 - 4.0).clamp(20.0, 160.0);
    // A wide model's square thumbnails leave the panel's lower part empty: there, the
    // focused head is drawn large with its tokens (when its matrices are at hand).
    let grid_h = 24.0 + run.layers.len() as f32 * (side + 8.0);
    let preview = ui.available_height() - grid_h >= PREVIEW_MIN_H && app.focused_head().is_some();
    let mut area = egui::ScrollArea::both().auto_shrink(false);
    if preview {
        area = area.max_height(grid_h);
    }
    area.show(ui, |ui| {
        egui::Grid::new("model_grid")
            .spacing([4.0, 4.0])
            .show(ui, |ui| {
                ui.label("");
                for h in 0..heads {
                    // With grouped-query attention, say which K/V head each query head reads.
                    let text = match layer0_kv(run, h).filter(|_| grouped) {
                        Some(g) => format!("{} {h} · kv {g}", tr(lang, Msg::Head)),
                        None => format!("{} {h}", tr(lang, Msg::Head)),
                    };
                    ui.label(RichText::new(text).small());
                }
                ui.end_row();
                for (l, layer) in run.layers.iter().enumerate() {
                    ui.label(row_labels[l].clone());
                    for h in 0..layer.digests.len() {
                        let Some(tex) = head_texture(app, ui.ctx(), layer, l, h) else {
                            // Nothing to draw (never in a run's own layers): keep the column.
                            ui.label("");
                            continue;
                        };
                        let resp = ui.add(
                            egui::Image::new(&tex)
                                .fit_to_exact_size(Vec2::splat(side))
                                .sense(Sense::click()),
                        );
                        if l == app.state.layer && h == app.state.head {
                            if app.grid_scrolled_to != Some((l, h)) {
                                resp.scroll_to_me(None);
                                app.grid_scrolled_to = Some((l, h));
                            }
                            ui.painter().rect_stroke(
                                resp.rect,
                                0.0,
                                Stroke::new(2.0, Color32::from_rgb(230, 60, 60)),
                                egui::StrokeKind::Outside,
                            );
                        }
                        if out.nonfinite_rows(l, h).is_some() {
                            ui.painter().text(
                                resp.rect.left_top() + Vec2::splat(2.0),
                                egui::Align2::LEFT_TOP,
                                "⚠ NaN",
                                egui::FontId::proportional(12.0),
                                Color32::from_rgb(230, 60, 60),
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
    if preview {
        ui.separator();
        super::heatmap::ui(app, ui);
    }
}

/// The least height (points) left under the grid for the focused head's heatmap.
const PREVIEW_MIN_H: f32 = 280.0;

/// Head `h` of run layer `l` (`layer`) as its pooled overview on the thumbnail colour scale,
/// the cells the model masks grey:
/// one texture, cached, for the layers × heads grid and the all-heads view. The overview is
/// the digest's, or, for a kept head, its matrix pooled when the texture is first made;
/// `None` when the layer has neither for that head.
pub(super) fn head_texture(
    app: &mut AttnApp,
    ctx: &egui::Context,
    layer: &LayerRun,
    l: usize,
    h: usize,
) -> Option<TextureHandle> {
    if !layer.has_overview(h) {
        return None;
    }
    let scale = app.state.thumb_scale;
    // The model's mask drawn grey: the keys after each query, and those a sliding window
    // leaves out.
    let band = crate::core::pool::Band {
        causal: app.model_out.as_ref().is_some_and(|o| o.run.causal),
        window: layer.window,
    };
    let key = TexKey::ModelHead {
        run: app.run_generation(),
        layer: l,
        head: h,
        scale,
    };
    let (tex, _) = app.textures.matrix_with(
        ctx,
        key,
        || match layer.overview(h) {
            Some(o) => {
                let mut o = o.into_owned();
                o.mask_outside(band);
                scale.apply(&o.values)
            }
            None => ndarray::Array2::zeros((0, 0)),
        },
        MatrixKind::Weights,
        app.state.colormap,
    );
    Some(tex)
}

/// The KV head query head `h` reads (every layer groups alike: h / (heads / kv_heads)).
fn layer0_kv(run: &crate::model::ModelRun, h: usize) -> Option<usize> {
    (h < run.heads && run.kv_heads > 0).then(|| h / (run.heads / run.kv_heads).max(1))
}
