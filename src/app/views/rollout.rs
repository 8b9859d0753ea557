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
    // A decoder's first token is a sink in most layers, and multiplied through all of them
    // it takes nearly every row's whole weight: a column of 1.00 and nothing else. Say what
    // that is and how to see past it.
    if !skip_first && sink_takes_all(rollout) {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            tr(lang, Msg::RolloutSinkTakesAll),
        );
    }
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

/// Whether the first key holds at least 90% of the weight in at least 90% of the rows after
/// the first (row 0 of a causal model can only read itself).
fn sink_takes_all(rollout: &ndarray::Array2<f32>) -> bool {
    let (n, m) = rollout.dim();
    if n < 3 || m < 2 {
        return false;
    }
    let sunk = (1..n).filter(|&i| rollout[[i, 0]] >= 0.9).count();
    sunk * 10 >= (n - 1) * 9
}

#[cfg(test)]
mod tests {
    /// The rollout of a causal model whose first token is a sink is named as such; a spread
    /// one is not.
    #[test]
    fn a_rollout_that_sinks_into_the_first_token_is_recognised() {
        let n = 6;
        let sunk = ndarray::Array2::from_shape_fn((n, n), |(i, j)| match (i, j) {
            (_, 0) => 0.95,
            (i, j) if j == i => 0.05,
            _ => 0.0,
        });
        assert!(super::sink_takes_all(&sunk));
        let spread =
            ndarray::Array2::from_shape_fn(
                (n, n),
                |(i, j)| {
                    if j <= i { 1.0 / (i + 1) as f32 } else { 0.0 }
                },
            );
        assert!(!super::sink_takes_all(&spread));
    }
}
