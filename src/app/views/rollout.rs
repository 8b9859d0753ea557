//! Attention rollout (Abnar & Zuidema) across a model's layers, as a heatmap.

use eframe::egui::{self, RichText};

use crate::app::heatmap::{HeatImage, HeatmapWidget, TexKey};
use crate::app::i18n::{Msg, tr};
use crate::app::{AttnApp, Command};
use crate::export::matrix::MatrixKind;

/// Attention rollout as a heatmap.
pub fn ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let Some(out) = app.model_out.clone() else {
        return;
    };
    let lang = app.lang();
    ui.label(RichText::new(tr(lang, Msg::RolloutHint)).weak());
    let Some(rollout) = out.rollout.as_ref() else {
        ui.label(tr(lang, Msg::RolloutLong));
        return;
    };
    let labels = out.run.labels();
    let (tex, range) = app.textures.matrix(
        ui.ctx(),
        TexKey::Rollout {
            run: app.run_generation(),
        },
        rollout,
        MatrixKind::Weights,
        app.state.colormap,
    );
    let clicked = HeatmapWidget {
        id: "rollout",
        image: HeatImage::Whole(&tex),
        range,
        values: rollout,
        head: None,
        rows: &labels,
        cols: &labels,
        cmap: app.state.colormap,
        selected: (app.state.row, app.state.col),
        mark_cell: false,
        show_values: app.state.show_values,
        zoom: app.state.heat_zoom,
        lang,
    }
    .ui(ui);
    if let Some((i, j)) = clicked {
        app.push(Command::SelectCell(i, j));
    }
}
