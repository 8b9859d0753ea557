//! The products qₘ·kₘ behind one score, as bars, above the raw-score heatmap to pick the pair.

use eframe::egui::{self, Color32, RichText};
use egui_plot::{Bar, BarChart, Plot};

use crate::app::heatmap::{HeatImage, HeatmapWidget};
use crate::app::i18n::{Msg, tr, trf};
use crate::app::{AttnApp, Command};
use crate::core::ScoreKind;
use crate::export::colormap::Colormap;
use crate::export::matrix::MatrixKind;

/// The products qₘ·kₘ behind the selected cell's score, as bars.
pub fn ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let Some((trace, head)) = app.focused_head() else {
        return;
    };
    let lang = app.lang();
    let Some(ht) = trace.head_traces.get(head) else {
        return;
    };
    let (i, j) = (
        app.state.row.min(trace.n_q().saturating_sub(1)),
        app.state.col.min(trace.n_k().saturating_sub(1)),
    );
    ui.label(RichText::new(tr(lang, Msg::NeuronHint)).weak());
    let q = ht.q.row(i);
    let k = ht.k.row(j);
    let products: Vec<f32> = q.iter().zip(k.iter()).map(|(a, b)| a * b).collect();
    let sum: f32 = products.iter().sum();
    let pair = format!(
        "q{i} «{}» · k{j} «{}»: Σₘ qₘkₘ = {sum:.4}",
        trace.tokens_q[i], trace.tokens_k[j]
    );
    // For a dot-product head the sum is the raw score, and the scale makes it the score the
    // softmax sees; another score function's raw score is said beside it for comparison.
    let dot = matches!(trace.mechanism.score, ScoreKind::Dot | ScoreKind::ScaledDot);
    // What the softmax sees is the trace's own logit: scaled, divided by τ, −∞ if masked.
    let logit = ht.logits.get((i, j)).copied().unwrap_or(f32::NAN);
    let (scale, scaled) = (
        format!("{:.4}", trace.scale),
        format!("{:.4}", sum * trace.scale),
    );
    let said = if dot && logit == f32::NEG_INFINITY {
        trf(lang, Msg::NeuronMasked, &[&pair])
    } else if dot && trace.temperature != 1.0 {
        let tau = crate::app::state::readable(trace.temperature);
        let logit = format!("{logit:.4}");
        trf(
            lang,
            Msg::NeuronDotSumTau,
            &[&pair, &scale, &scaled, &tau, &logit],
        )
    } else if dot {
        trf(lang, Msg::NeuronDotSum, &[&pair, &scale, &scaled])
    } else {
        format!(
            "{pair}   ({}: {:.4})",
            tr(lang, Msg::HoverRaw),
            ht.raw_scores[[i, j]]
        )
    };
    ui.label(RichText::new(said).monospace());
    let bars = products
        .iter()
        .enumerate()
        .map(|(m, &p)| {
            let c = if p >= 0.0 {
                Color32::from_rgb(179, 88, 6)
            } else {
                Color32::from_rgb(33, 102, 172)
            };
            Bar::new(m as f64, p as f64).width(0.8).fill(c)
        })
        .collect();
    // One bar per dimension of the head: the axis ends at dₖ − 1, not at a round number.
    Plot::new(("neuron_plot", trace.d_k))
        .height((ui.available_height() * 0.6).max(160.0))
        .default_x_bounds(-0.7, trace.d_k.max(1) as f64 - 0.3)
        .x_axis_label("m")
        .y_axis_label("qₘ·kₘ")
        .show(ui, |p| {
            p.bar_chart(BarChart::new(tr(lang, Msg::ScoreSum), bars))
        });
    // The pair is picked on the heatmap below (click a cell).
    ui.label(RichText::new(tr(lang, Msg::NeuronHeatCaption)).strong());
    let kind = MatrixKind::Raw;
    let Some((src, range)) = app.head_image(ui.ctx(), &trace, head, kind) else {
        return;
    };
    let clicked = HeatmapWidget {
        id: "neuron_heatmap",
        image: HeatImage::of(&src, &mut app.textures),
        range,
        values: &ht.raw_scores,
        head: Some(ht),
        allowed: None,
        rows: &trace.tokens_q,
        cols: &trace.tokens_k,
        cmap: Colormap::Diverging,
        selected: (i, j),
        mark_cell: true,
        show_values: false,
        zoom: 1.0,
        lang,
    }
    .ui(ui);
    if let Some((i, j)) = clicked {
        app.push(Command::SelectCell(i, j));
    }
}
