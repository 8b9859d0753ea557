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
    let Some(layers) = out.rollouts.as_ref().map(Vec::len) else {
        ui.label(tr(lang, Msg::RolloutLong));
        return;
    };
    // Through which layer, and whether the first token (a sink in most decoders) is left out.
    ui.horizontal_wrapped(|ui| {
        let last = layers.saturating_sub(1);
        let mut upto = app.state.rollout_upto.unwrap_or(last).min(last);
        let label = ui.label(tr(lang, Msg::RolloutUpto));
        let changed = ui
            .add(egui::Slider::new(&mut upto, 0..=last))
            .labelled_by(label.id)
            .changed();
        if changed {
            app.state.rollout_upto = (upto < last).then_some(upto);
        }
        ui.checkbox(
            &mut app.state.rollout_skip_first,
            tr(lang, Msg::RolloutSkipFirst),
        )
        .on_hover_text(tr(lang, Msg::RolloutSkipFirstTip));
    });
    let upto = app
        .state
        .rollout_upto
        .unwrap_or(usize::MAX)
        .min(layers.saturating_sub(1));
    let skip_first = app.state.rollout_skip_first;
    let Some(rollout) = out.rollout(Some(upto), skip_first) else {
        return;
    };
    let rollout = &rollout;
    let labels = out.run.labels();
    let (tex, range) = app.textures.matrix(
        ui.ctx(),
        TexKey::Rollout {
            run: app.run_generation(),
            upto,
            skip_first,
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
        allowed: None,
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
