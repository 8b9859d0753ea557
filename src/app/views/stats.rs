//! The sortable per-head statistics table of a model run.

use eframe::egui::{self, RichText};

use crate::app::i18n::{Msg, tr, trf};
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
    if let Some(line) = sink_summary(&out.stats, lang) {
        ui.label(line);
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
    // Both ways: at 1366 × 768 the induction column ran past the panel with no way to it.
    egui::ScrollArea::both().auto_shrink(false).show(ui, |ui| {
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

/// Attention sinks, heads that park most of their attention on the first token: a large
/// model has hundreds, so their count and the strongest few by name (the "first token"
/// column sorts them all). `None` when there are none.
fn sink_summary(stats: &[HeadStat], lang: crate::app::i18n::Lang) -> Option<String> {
    const NAMED: usize = 8;
    let mut sinks: Vec<&HeadStat> = stats.iter().filter(|s| s.first_token >= 0.5).collect();
    if sinks.is_empty() {
        return None;
    }
    sinks.sort_by(|a, b| b.first_token.total_cmp(&a.first_token));
    let named: Vec<String> = sinks
        .iter()
        .take(NAMED)
        .map(|s| format!("{} ({:.2})", s.head_ref(), s.first_token))
        .collect();
    let more = if sinks.len() > NAMED {
        trf(lang, Msg::SinkMore, &[&(sinks.len() - NAMED)])
    } else {
        String::new()
    };
    Some(trf(
        lang,
        Msg::SinkHeads,
        &[&sinks.len(), &stats.len(), &named.join(", "), &more],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::i18n::Lang;

    #[test]
    fn hundreds_of_sinks_are_counted_and_the_strongest_named() {
        let stat = |layer, head, first_token| HeadStat {
            layer,
            head,
            entropy: 1.0,
            mean_distance: 1.0,
            first_token,
            sep_share: 0.0,
            previous_token: 0.0,
            induction: None,
        };
        let stats: Vec<HeadStat> = (0..30)
            .flat_map(|l| (0..9).map(move |h| stat(l, h, ((l * 9 + h) % 10) as f32 / 10.0)))
            .collect();
        // 0.5 … 0.9: five in ten of 270 heads.
        let line = sink_summary(&stats, Lang::En).unwrap();
        assert!(
            line.contains("135 of 270 heads; the strongest: L1 H0 (0.90), L2 H1 (0.90)"),
            "{line}"
        );
        assert!(
            line.ends_with(" … and 127 more (sort the \"first token\" column to see them all)"),
            "{line}"
        );
        assert_eq!(line.matches(" (0.").count(), 8);
        assert!(sink_summary(&stats[..5], Lang::En).is_none(), "0.0 … 0.4");
        let zh = sink_summary(&stats, Lang::Zh).unwrap();
        assert!(zh.contains("135 / 270 个头"), "{zh}");
    }
}
