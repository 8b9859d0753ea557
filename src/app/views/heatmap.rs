//! The focused head's heatmap for the current step (scores, logits or weights), with zoom.

use eframe::egui;

use crate::app::heatmap::{HeatImage, HeatSource, HeatmapWidget};
use crate::app::i18n::{Msg, tr, trf};
use crate::app::state::EmbeddingMode;
use crate::app::{AttnApp, Command};
use crate::core::Step;
use crate::export::matrix::MatrixKind;

/// The largest zoom of a tiled heatmap: an 8,192-token matrix fitted to ~800 px reaches
/// ~50 px per cell.
pub const MAX_TILED_ZOOM: f32 = 512.0;

/// The legend caption of a matrix kind.
pub fn legend_msg(kind: MatrixKind) -> Msg {
    match kind {
        MatrixKind::Weights => Msg::LegendWeights,
        _ => Msg::LegendScores,
    }
}

/// Draws the view.
pub fn ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let Some((trace, head)) = app.focused_head() else {
        return;
    };
    let lang = app.lang();
    let kind = MatrixKind::for_step(app.state.step);
    let Some((src, range)) = app.head_image(ui.ctx(), &trace, head, kind) else {
        return;
    };
    let Some(ht) = trace.head_traces.get(head) else {
        return;
    };
    // A big matrix zooms from the whole (pooled) down to single cells.
    // A tiled matrix starts fitted whole: zooming out of that shows nothing more (a slider
    // left at 0.25 looked as if zoom did nothing).
    let (min_zoom, max_zoom) = if matches!(src, HeatSource::Tiled(..)) {
        (1.0, MAX_TILED_ZOOM)
    } else {
        (0.25, 8.0)
    };
    // A model's trace is one of its layers: say which.
    let layer = if app.state.embedding == EmbeddingMode::Model && app.model_out.is_some() {
        format!("{} {} · ", tr(lang, Msg::Layer), app.state.layer)
    } else {
        String::new()
    };
    // Wrapped: on an 800-point window one row ran past the panel, and everything below it
    // (the note, the heatmap and its colour bar) was laid out for that width.
    let narrow = ui.available_width() < 480.0;
    ui.horizontal_wrapped(|ui| {
        ui.label(format!(
            "{layer}{} {head} · {}",
            tr(lang, Msg::Head),
            tr(lang, legend_msg(kind))
        ));
        // The zoom slider does not wrap by itself: on a narrow panel it starts a row.
        if narrow {
            ui.end_row();
        } else {
            ui.separator();
        }
        let cap = ui
            .label(tr(lang, Msg::HeatZoom))
            .on_hover_text(tr(lang, Msg::HeatZoomTip));
        ui.add(egui::Slider::new(&mut app.state.heat_zoom, min_zoom..=max_zoom).logarithmic(true))
            .labelled_by(cap.id)
            .on_hover_text(tr(lang, Msg::HeatZoomTip));
        ui.separator();
        super::hide_ahead_switch(app, ui);
    });
    // Predict first: before the scores the weights it would show ahead of their step stay
    // hidden.
    if app.state.weights_hidden_ahead() {
        super::hidden_ahead_note(ui, lang);
        return;
    }
    // Steps without an n × n matrix of their own show the weights: say which, and where the
    // step's own matrices are (a class at step 2 should not think these are Q or K).
    let note = match app.state.step {
        Step::Embed | Step::Project | Step::Rotate => Some(Msg::HeatAheadOfStep),
        Step::WeightedSum | Step::Concat | Step::Output => Some(Msg::HeatWeightsUsed),
        _ => None,
    };
    if let Some(m) = note {
        ui.label(egui::RichText::new(tr(lang, m)).weak());
    }
    // Rows that see no key are 0, not a distribution: say how many (a toy trace; a model's
    // undefined rows have their own warning above the views).
    let empty = ht.empty_rows.iter().filter(|&&e| e).count();
    if empty > 0 && app.state.embedding != EmbeddingMode::Model && app.state.step >= Step::Mask {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            trf(lang, Msg::RowsEmpty, &[&empty, &ht.empty_rows.len()]),
        );
    }
    let hm = HeatmapWidget {
        id: "main_heatmap",
        image: HeatImage::of(&src, &mut app.textures),
        range,
        values: kind.values(ht),
        head: Some(ht),
        allowed: None,
        rows: &trace.tokens_q,
        cols: &trace.tokens_k,
        cmap: kind.colormap(app.state.colormap),
        selected: (app.state.row, app.state.col),
        mark_cell: false,
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
        app.state.heat_zoom = (app.state.heat_zoom * zoom).clamp(min_zoom, max_zoom);
    }
}
