//! egui_plot panels: the selected row's softmax (with the τ = 1 overlay), entropy and mean attention distance per head.

use eframe::egui::{self, Color32};
use egui_plot::{AxisHints, Bar, BarChart, GridInput, GridMark, Legend, Plot, log_grid_spacer};

use crate::app::AttnApp;
use crate::app::i18n::{Msg, tr};
use crate::core::attend::softmax_at;
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
        // Grey: the reference, not the focused head (orange in the panels below).
        .color(Color32::from_gray(150))
    });
    if overlay.is_some() {
        current = current.name(format!(
            "{} ({:.2})",
            tr(lang, Msg::PlotAtTau),
            trace.temperature
        ));
    }
    let n_k = tokens_k.len();
    let mut plot = Plot::new("row_plot")
        .height(h)
        .include_y(0.0)
        .include_y(1.0)
        // A mark (and its token) under every bar, or every k-th of a long row.
        .x_grid_spacer(bar_marks(n_k, n_k.div_ceil(40).max(1)))
        // egui_plot hides tick labels closer than 60 points: a bar's token is named as long
        // as it fits its bar.
        .custom_x_axes(vec![
            AxisHints::new_x()
                .label_spacing(6.0..=10.0)
                .formatter(move |mark, _| {
                    let j = mark.value.round();
                    if (mark.value - j).abs() < 1e-6 && j >= 0.0 {
                        tokens_k
                            .get(j as usize)
                            .map(|t| abbreviate(t, 6))
                            .unwrap_or_default()
                    } else {
                        String::new()
                    }
                }),
        ]);
    // A legend only when there is something to tell apart (the τ = 1 overlay).
    if overlay.is_some() {
        plot = plot.legend(Legend::default());
    }
    plot.show(ui, |p| {
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
            // The head on screen in the app's focus colour, named in the legend.
            let (focused, others): (Vec<Bar>, Vec<Bar>) = heads
                .iter()
                .enumerate()
                .map(|(k, t)| Bar::new(k as f64, f(&t.summary) as f64).width(0.6))
                .partition(|b| b.argument.round() as usize == head);
            let top = heads.iter().map(|t| f(&t.summary)).fold(0.0f32, f32::max);
            Plot::new(format!("summary_{title:?}"))
                .height(h - 20.0)
                .include_y(0.0)
                // Headroom, so the legend in the corner sits above the bars.
                .include_y(f64::from(top) * 1.3)
                .legend(Legend::default())
                .x_grid_spacer(bar_marks(heads.len(), 1))
                .y_grid_spacer(log_grid_spacer(5))
                .custom_x_axes(vec![
                    AxisHints::new_x()
                        .label(tr(lang, Msg::Head))
                        .label_spacing(6.0..=10.0),
                ])
                .show(ui, |p| {
                    p.bar_chart(
                        BarChart::new(tr(lang, Msg::OtherHeads), others)
                            .color(Color32::from_rgb(40, 110, 220)),
                    );
                    p.bar_chart(
                        BarChart::new(format!("{} {head}", tr(lang, Msg::Head)), focused)
                            .color(super::generate::MARK),
                    );
                });
        }
    });
}

/// Grid marks under bars 0, `step`, 2·`step`, … of `n` (egui_plot's own spacing labels only
/// some), for the x axis's formatter to name.
fn bar_marks(n: usize, step: usize) -> impl Fn(GridInput) -> Vec<GridMark> {
    move |input| {
        let (lo, hi) = input.bounds;
        (0..n)
            .step_by(step)
            .map(|j| j as f64)
            .filter(|&x| x >= lo && x <= hi)
            .map(|value| GridMark {
                value,
                step_size: step as f64,
            })
            .collect()
    }
}
