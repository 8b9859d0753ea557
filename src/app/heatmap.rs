//! The heatmap widget: a matrix drawn as one texture with token labels, a legend, hover
//! details and click-to-select, and the cache of those textures, keyed by what they show.

use std::collections::HashMap;

use eframe::egui::{self, Color32, Pos2, Rect, Sense, Stroke, TextureHandle, Vec2};
use ndarray::Array2;

use crate::export::colormap::{Colormap, Range};
use crate::export::heatmap::{abbreviate, fmt_value};
use crate::export::matrix::MatrixKind;

use super::i18n::{Lang, Msg, tr};

/// What a texture shows. Generations come from the job slots, so a new result never reuses
/// an old texture, and nothing is keyed by a pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TexKey {
    /// A matrix of head `head` of the trace of generation `trace`.
    Head {
        /// Trace generation.
        trace: u64,
        /// Head.
        head: usize,
        /// Which matrix.
        kind: MatrixKind,
    },
    /// The lab's re-run head (generation `lab`).
    Lab {
        /// Lab generation.
        lab: u64,
    },
    /// A model head's probabilities from the run of generation `run`.
    ModelHead {
        /// Run generation.
        run: u64,
        /// Layer.
        layer: usize,
        /// Head.
        head: usize,
    },
    /// The attention rollout of the run of generation `run`.
    Rollout {
        /// Run generation.
        run: u64,
    },
}

/// Textures of heatmaps, keyed by what they show and the colour map; rebuilt only when that
/// changes, and dropped when no view has drawn them for a few frames.
#[derive(Default)]
pub struct TextureCache {
    map: HashMap<(TexKey, Colormap), (TextureHandle, Range, u64)>,
    frame: u64,
}

impl TextureCache {
    /// Starts a frame: forgets textures unused for more than two frames.
    pub fn begin_frame(&mut self) {
        self.frame += 1;
        let frame = self.frame;
        self.map.retain(|_, (_, _, used)| frame - *used <= 2);
    }

    /// The texture of `values` (a `kind` matrix) under `key`, made on first use.
    pub fn matrix(
        &mut self,
        ctx: &egui::Context,
        key: TexKey,
        values: &Array2<f32>,
        kind: MatrixKind,
        chosen: Colormap,
    ) -> (TextureHandle, Range) {
        let frame = self.frame;
        let cmap = kind.colormap(chosen);
        let entry = self.map.entry((key, cmap)).or_insert_with(|| {
            let range = kind.range(values);
            let tex = ctx.load_texture(
                format!("{key:?}/{cmap:?}"),
                color_image(values, cmap, range),
                egui::TextureOptions::NEAREST,
            );
            (tex, range, frame)
        });
        entry.2 = frame;
        (entry.0.clone(), entry.1)
    }

    /// The texture of matrix `kind` of head `head` of a trace of generation `generation`.
    pub fn head(
        &mut self,
        ctx: &egui::Context,
        generation: u64,
        trace: &crate::core::Trace,
        head: usize,
        kind: MatrixKind,
        chosen: Colormap,
    ) -> Option<(TextureHandle, Range)> {
        let t = trace.head_traces.get(head)?;
        let key = TexKey::Head {
            trace: generation,
            head,
            kind,
        };
        Some(self.matrix(ctx, key, kind.values(t), kind, chosen))
    }

    /// How many textures are alive (tests check that views drew what they should).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no texture is alive.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The pixel size of the texture under `key`, if one was drawn.
    pub fn size_of(&self, key: TexKey) -> Option<[usize; 2]> {
        self.map
            .iter()
            .find(|((k, _), _)| *k == key)
            .map(|(_, (t, _, _))| t.size())
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

/// Label strip sizes around a heatmap.
const LABEL_W: f32 = 90.0;
const LABEL_H: f32 = 70.0;

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
    pub lang: Lang,
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
