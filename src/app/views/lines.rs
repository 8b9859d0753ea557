//! Token-to-token lines: line opacity is the weight; hover a token to isolate its lines.

use eframe::egui::{self, Color32, Pos2, Sense, Stroke, Vec2};

use crate::app::AttnApp;
use crate::app::i18n::{Msg, tr};
use crate::export::heatmap::abbreviate;

/// Draws the view.
pub fn ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let Some((trace, head)) = app.focused_head() else {
        return;
    };
    let lang = app.lang();
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
            // Only the rows in view (a long input has thousands): lines from the queries in
            // view, or every line into a hovered key.
            let clip = ui.clip_rect();
            let row_at = |y: f32| ((y - rect.min.y - 10.0) / row_h).max(0.0) as usize;
            let (v0, v1) = (row_at(clip.min.y), row_at(clip.max.y) + 1);
            let pairs: Box<dyn Iterator<Item = (usize, usize)>> = match hover {
                Some((true, q)) => Box::new((0..m).map(move |j| (q, j))),
                Some((false, k)) => Box::new((0..n).map(move |i| (i, k))),
                None => {
                    Box::new((v0.min(n)..v1.min(n)).flat_map(move |i| (0..m).map(move |j| (i, j))))
                }
            };
            for (i, j) in pairs {
                let w = ht.weights[[i, j]];
                if w < 0.01 {
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
            for (i, tok) in trace.tokens_q.iter().enumerate().take(v1).skip(v0) {
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
            for (j, tok) in trace.tokens_k.iter().enumerate().take(v1).skip(v0) {
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
