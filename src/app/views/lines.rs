//! Token-to-token lines: line opacity is the weight; hover a token to isolate its lines.

use eframe::egui::{self, Color32, Pos2, Rect, Sense, Stroke, Vec2};

use crate::app::i18n::{Msg, tr};
use crate::app::{AttnApp, Command};
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
    // Room above the rows for the two columns' headings.
    const HEAD_H: f32 = 22.0;
    let height = rows as f32 * row_h + 20.0 + HEAD_H;
    let selected = app.state.row.min(n.saturating_sub(1));
    let mut clicked_row = None;
    egui::ScrollArea::vertical()
        .auto_shrink(false)
        .show(ui, |ui| {
            let width = ui.available_width().min(900.0);
            let (whole, resp) = ui.allocate_exact_size(Vec2::new(width, height), Sense::click());
            let painter = ui.painter_at(whole);
            let rect = Rect::from_min_max(whole.min + Vec2::new(0.0, HEAD_H), whole.max);
            let (xl, xr) = (rect.min.x + 150.0, rect.max.x - 150.0);
            let y_of = |i: usize| rect.min.y + 10.0 + (i as f32 + 0.5) * row_h;
            let font = egui::FontId::proportional(14.0);
            let text = ui.visuals().text_color();
            let weak = ui.visuals().weak_text_color();
            // Which side is which: queries look (left), keys are looked at (right).
            for (x, align, m) in [
                (xl, egui::Align2::RIGHT_TOP, Msg::LinesQueries),
                (xr, egui::Align2::LEFT_TOP, Msg::LinesKeys),
            ] {
                let at = Pos2::new(x, whole.min.y + 2.0);
                painter.text(
                    at,
                    align,
                    tr(lang, m),
                    egui::FontId::proportional(13.0),
                    weak,
                );
            }
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
            // A lighter blue on a dark background, where the light theme's reads as black.
            let accent = if ui.visuals().dark_mode {
                Color32::from_rgb(120, 180, 255)
            } else {
                Color32::from_rgb(40, 110, 220)
            };
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
            // Opacity follows the weight; the selected query's lines keep at least `floor`, so
            // its light weights stay visible on a projector (they are what its row is about).
            let line = |i: usize, j: usize, colour: Color32, floor: u8| {
                let w = ht.weights[[i, j]];
                if w < 0.01 {
                    return;
                }
                let alpha = ((w.clamp(0.0, 1.0) * 255.0) as u8).max(floor);
                painter.line_segment(
                    [Pos2::new(xl + 4.0, y_of(i)), Pos2::new(xr - 4.0, y_of(j))],
                    Stroke::new(
                        1.0 + 3.0 * w,
                        Color32::from_rgba_unmultiplied(colour.r(), colour.g(), colour.b(), alpha),
                    ),
                );
            };
            for (i, j) in pairs {
                if i != selected || hover.is_some() {
                    line(i, j, accent, 0);
                }
            }
            // The selected query's lines in orange, on top, as the step panel's row.
            if hover.is_none() && n > 0 {
                for j in 0..m {
                    line(selected, j, super::generate::MARK, 110);
                }
            }
            for (i, tok) in trace.tokens_q.iter().enumerate().take(v1).skip(v0) {
                let strong = matches!(hover, Some((true, q)) if q == i);
                let c = if i == selected {
                    super::generate::MARK
                } else if strong {
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
            // A click on a query picks it, as on the heatmap.
            if resp.clicked()
                && let Some((true, q)) = hover
            {
                clicked_row = Some(q);
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
    if let Some(i) = clicked_row {
        app.push(Command::SelectRow(i));
    }
}
