//! The sortable per-head statistics table of a model run.

use eframe::egui::{self, RichText};

use crate::app::i18n::{Msg, tr};
use crate::app::{AttnApp, Command};
use crate::model::stats::HeadStat;

/// A column of the table: its header and how to read it from a head's statistics.
type Column = (Msg, fn(&HeadStat) -> f32);

/// The sortable statistics table.
pub fn ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let Some(out) = app.model_out.clone() else {
        return;
    };
    let lang = app.lang();
    ui.label(RichText::new(tr(lang, Msg::StatsHint)).weak());
    // Attention sinks: heads that park most of their attention on the first token.
    let sinks: Vec<String> = out
        .stats
        .iter()
        .filter(|s| s.first_token >= 0.5)
        .map(|s| s.head_ref().to_string())
        .collect();
    if !sinks.is_empty() {
        ui.label(format!("{} {}", tr(lang, Msg::SinkHeads), sinks.join(", ")));
    }
    let cols: [Column; 6] = [
        (Msg::ColEntropy, |s| s.entropy),
        (Msg::ColDistance, |s| s.mean_distance),
        (Msg::ColFirst, |s| s.first_token),
        (Msg::ColSep, |s| s.sep_share),
        (Msg::ColPrev, |s| s.previous_token),
        (Msg::ColInduction, |s| s.induction.unwrap_or(f32::NAN)),
    ];
    // The [SEP] column only for a model whose text has special tokens after the first (BERT's
    // [SEP]); for GPT-2 or Llama it would be a column of zeros.
    let no_sep = out.stats.iter().all(|s| s.sep_share == 0.0);
    // (sort index, column): the index stays the column's place in `cols`.
    let shown: Vec<(usize, &Column)> = cols
        .iter()
        .enumerate()
        .filter(|(_, (m, _))| !(no_sep && *m == Msg::ColSep))
        .collect();
    let (sort_col, desc) = app.state.stats_sort;
    let mut rows: Vec<&HeadStat> = out.stats.iter().collect();
    if let Some((_, key)) = cols.get(sort_col.wrapping_sub(1)) {
        rows.sort_by(|a, b| key(a).total_cmp(&key(b)));
        if desc {
            rows.reverse();
        }
    }
    egui::ScrollArea::vertical()
        .auto_shrink(false)
        .show(ui, |ui| {
            egui::Grid::new("stats")
                .striped(true)
                .spacing([14.0, 4.0])
                .show(ui, |ui| {
                    let sort = &mut app.state.stats_sort;
                    let first = format!("{} · {}", tr(lang, Msg::Layer), tr(lang, Msg::Head));
                    super::sort_header(ui, 0, &first, sort);
                    for (k, (m, _)) in &shown {
                        super::sort_header(ui, k + 1, tr(lang, *m), sort);
                    }
                    ui.end_row();
                    for s in rows {
                        let focused = s.layer == app.state.layer && s.head == app.state.head;
                        if ui
                            .selectable_label(focused, s.head_ref().to_string())
                            .clicked()
                        {
                            app.push(Command::FocusLayer(s.layer));
                            app.push(Command::FocusHead(s.head));
                        }
                        for (_, (_, key)) in &shown {
                            let v = key(s);
                            ui.label(
                                RichText::new(if v.is_nan() {
                                    "—".into()
                                } else {
                                    format!("{v:.3}")
                                })
                                .monospace(),
                            );
                        }
                        ui.end_row();
                    }
                });
        });
}
