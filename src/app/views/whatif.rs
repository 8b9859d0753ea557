//! The Generate view's what-if panel: the heads picked for a knock-out (zeroed or replaced by
//! their mean output over the prompt), blocked edges, the step re-run with them beside the
//! clean distribution (Δ log p of the top tokens), and the sortable head-importance table.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use eframe::egui::{self, RichText};

use crate::app::i18n::{Lang, Msg, tr};
use crate::app::{AttnApp, WhatIf, WhatIfJob};
use crate::model::ablate::{Ablation, BlockedEdge, HeadEffect, HeadRef, Knockout};
use crate::model::generate::top_k;

use super::generate::{MARK, pick_head};

/// A column of the importance table: its header and how to read it from a row.
type Column = (Msg, fn(&HeadEffect) -> f32);

/// Tokens compared side by side: the union of the clean and the knocked-out top ones.
const COMPARE_TOP: usize = 8;

/// Draws the panel for step `step_i`.
pub fn ui(app: &mut AttnApp, ui: &mut egui::Ui, step_i: usize, labels: &[String]) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let Some(w) = app.whatif_for(step_i) else {
        return;
    };
    ui.heading(t(Msg::WhatIfTitle));
    choice_ui(app, ui, &w, labels);
    let ablation = app.current_ablation();
    ui.horizontal_wrapped(|ui| {
        let busy = w.busy[1].load(Ordering::Relaxed);
        if ui
            .add_enabled(
                !ablation.is_empty() && !busy,
                egui::Button::new(t(Msg::RunWhatIf)),
            )
            .clicked()
        {
            app.start_whatif(
                ui.ctx(),
                Arc::clone(&w),
                WhatIfJob::Compare(ablation.clone()),
            );
        }
        if ablation.is_empty() {
            ui.label(RichText::new(t(Msg::WhatIfNone)).weak());
        }
        if busy {
            ui.spinner();
        }
    });
    compare_ui(app, ui, &w, &ablation);
    ui.separator();
    importance_ui(app, ui, &w);
}

impl AttnApp {
    /// The what-if panel's choice as an ablation.
    pub fn current_ablation(&self) -> Ablation {
        Ablation {
            heads: self.state.gen_knock.clone(),
            mode: self.state.gen_knock_mode,
            blocked: self.state.gen_blocked.clone(),
        }
    }
}

/// Picked heads, the knock-out mode, and the blocked edges with a row to add one.
fn choice_ui(app: &mut AttnApp, ui: &mut egui::Ui, w: &WhatIf, labels: &[String]) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let s = &mut app.state;
    ui.horizontal_wrapped(|ui| {
        ui.label(t(Msg::Knocked));
        if s.gen_knock.is_empty() {
            ui.label(RichText::new("—").weak());
        }
        let mut remove = None;
        for (k, h) in s.gen_knock.iter().enumerate() {
            if ui
                .button(RichText::new(format!("{h} ✖")).color(MARK))
                .clicked()
            {
                remove = Some(k);
            }
        }
        if let Some(k) = remove {
            s.gen_knock.remove(k);
        }
        if !s.gen_knock.is_empty() && ui.button(t(Msg::ClearItems)).clicked() {
            s.gen_knock.clear();
        }
    });
    ui.horizontal_wrapped(|ui| {
        ui.radio_value(&mut s.gen_knock_mode, Knockout::Zero, t(Msg::KnockZero));
        ui.radio_value(&mut s.gen_knock_mode, Knockout::Mean, t(Msg::KnockMean));
    });
    // A new blocked edge: head (layer, head), from query token i to key token j ≤ i.
    let n = w.ids.len();
    let id = ui.scope_id().with("block-edge");
    let mut e = ui.data_mut(|d| d.get_temp::<[usize; 4]>(id)).unwrap_or([
        app.state.layer,
        app.state.head,
        n.saturating_sub(1),
        0,
    ]);
    let name = |k: usize| labels.get(k).map_or("", String::as_str).replace('\n', "⏎");
    ui.horizontal_wrapped(|ui| {
        ui.label(t(Msg::BlockEdge));
        ui.add(egui::DragValue::new(&mut e[0]).prefix("L "));
        ui.add(egui::DragValue::new(&mut e[1]).prefix("H "));
        ui.label(t(Msg::BlockFrom));
        ui.add(egui::DragValue::new(&mut e[2]).range(0..=n.saturating_sub(1)));
        ui.label(format!("«{}»", name(e[2])));
        ui.label(t(Msg::BlockTo));
        let from = e[2];
        ui.add(egui::DragValue::new(&mut e[3]).range(0..=from));
        ui.label(format!("«{}»", name(e[3])));
        if ui.button(t(Msg::AddItem)).clicked() {
            let edge = BlockedEdge {
                layer: e[0],
                head: e[1],
                from: e[2],
                to: e[3],
            };
            if !app.state.gen_blocked.contains(&edge) {
                app.state.gen_blocked.push(edge);
            }
        }
    });
    ui.data_mut(|d| d.insert_temp(id, e));
    let mut remove = None;
    for (k, b) in app.state.gen_blocked.iter().enumerate() {
        ui.horizontal(|ui| {
            ui.label(format!(
                "{}: «{}» {} ↛ «{}» {}",
                b.head_ref(),
                name(b.from),
                b.from,
                name(b.to),
                b.to
            ));
            if ui.small_button("✖").clicked() {
                remove = Some(k);
            }
        });
    }
    if let Some(k) = remove {
        app.state.gen_blocked.remove(k);
    }
}

/// The clean and the knocked-out next-token distributions side by side.
fn compare_ui(app: &mut AttnApp, ui: &mut egui::Ui, w: &WhatIf, current: &Ablation) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let (Ok(slot), Some(Ok(base)), Some(loaded)) = (w.compare.lock(), w.base(), app.model.clone())
    else {
        return;
    };
    let Some(result) = slot.as_ref() else {
        return;
    };
    let (ablation, lp) = match result {
        Ok(r) => r,
        Err(e) => {
            ui.colored_label(
                ui.visuals().error_fg_color,
                crate::app::errors::job_text(lang, e),
            );
            return;
        }
    };
    let mut line = ablation_text(lang, ablation);
    if let Some(l) = ablation.first_layer() {
        line = format!("{line} · {} {l}", t(Msg::RecomputedFrom));
    }
    ui.label(RichText::new(line).strong());
    if ablation != current {
        ui.label(RichText::new(t(Msg::WhatIfStale)).weak());
    }
    let clean = &base.logprobs;
    let mut ids: Vec<u32> = top_k(clean, COMPARE_TOP)
        .into_iter()
        .chain(top_k(lp, COMPARE_TOP))
        .map(|(id, _)| id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.sort_by(|&a, &b| {
        let best = |i: u32| clean[i as usize].max(lp[i as usize]);
        best(b).total_cmp(&best(a))
    });
    let tokz = &loaded.model.tokenizer;
    egui::Grid::new("whatif-compare")
        .striped(true)
        .spacing([12.0, 3.0])
        .show(ui, |ui| {
            for m in [
                Msg::ColToken,
                Msg::ColPClean,
                Msg::ColPAfter,
                Msg::ColDeltaLogp,
            ] {
                ui.label(RichText::new(t(m)).strong());
            }
            ui.end_row();
            for id in ids {
                let (a, b) = (clean[id as usize], lp[id as usize]);
                let chosen = id == w.target;
                let name = format!("«{}»", tokz.decode(&[id]).replace('\n', "⏎"));
                ui.label(if chosen {
                    RichText::new(name).strong().color(MARK)
                } else {
                    RichText::new(name)
                });
                for p in [a.exp(), b.exp()] {
                    ui.add(
                        egui::ProgressBar::new(p)
                            .desired_width(80.0)
                            .text(format!("{p:.3}")),
                    );
                }
                let d = b - a;
                let color = if d < 0.0 {
                    ui.visuals().error_fg_color
                } else {
                    ui.visuals().text_color()
                };
                ui.label(RichText::new(format!("{d:+.3}")).monospace().color(color));
                ui.end_row();
            }
        });
}

/// The head-importance table: every head knocked out alone, sortable; a row click picks the
/// head.
fn importance_ui(app: &mut AttnApp, ui: &mut egui::Ui, w: &Arc<WhatIf>) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    ui.label(RichText::new(t(Msg::Importance)).strong());
    ui.label(RichText::new(t(Msg::ImportanceHint)).weak());
    let busy = w.busy[2].load(Ordering::Relaxed);
    ui.horizontal(|ui| {
        let mode = app.state.gen_knock_mode;
        // The heading above says what it is; the button says what it does, and how.
        let label = format!("{} ({})", t(Msg::MeasureHeads), t(knockout_msg(mode)));
        if ui
            .add_enabled(!busy, egui::Button::new(label).wrap())
            .clicked()
        {
            app.start_whatif(ui.ctx(), Arc::clone(w), WhatIfJob::Importance(mode));
        }
        if busy {
            let f = w.progress.load(Ordering::Relaxed) as f32 / 1000.0;
            ui.add(
                egui::ProgressBar::new(f)
                    .desired_width(200.0)
                    .show_percentage(),
            );
            if ui.button(t(Msg::CancelRun)).clicked() {
                w.cancel.store(true, Ordering::Relaxed);
            }
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(50));
        }
    });
    let table: Vec<HeadEffect> = match w.importance.lock().ok().and_then(|s| s.clone()) {
        Some(Ok((_, table))) => table,
        Some(Err(e)) => {
            ui.colored_label(
                ui.visuals().error_fg_color,
                crate::app::errors::job_text(lang, &e),
            );
            return;
        }
        None => return,
    };
    let cols: [Column; 3] = [
        (Msg::ColDrop, |e| e.drop),
        (Msg::ColPAfter, |e| e.logprob.exp()),
        (Msg::ColRankAfter, |e| e.rank as f32),
    ];
    let mut rows = table;
    let (sort, desc) = app.state.gen_importance_sort;
    match sort {
        0 => rows.sort_by_key(|e| e.head),
        k => {
            if let Some((_, key)) = cols.get(k - 1) {
                rows.sort_by(|a, b| key(a).total_cmp(&key(b)));
            }
        }
    }
    if desc {
        rows.reverse();
    }
    egui::Grid::new("importance")
        .striped(true)
        .spacing([14.0, 3.0])
        .show(ui, |ui| {
            let sort = &mut app.state.gen_importance_sort;
            let first = format!("{} · {}", t(Msg::Layer), t(Msg::Head));
            super::sort_header(ui, 0, &first, sort);
            for (k, (m, _)) in cols.iter().enumerate() {
                super::sort_header(ui, k + 1, t(*m), sort);
            }
            ui.end_row();
            for e in rows {
                let picked = app.state.gen_knock.contains(&e.head);
                if ui.selectable_label(picked, e.head.to_string()).clicked() {
                    pick_head(app, e.head, ui.input(|i| i.modifiers.shift));
                }
                ui.label(RichText::new(format!("{:+.3}", e.drop)).monospace());
                ui.label(RichText::new(format!("{:.4}", e.logprob.exp())).monospace());
                ui.label(RichText::new(format!("{}", e.rank + 1)).monospace());
                ui.end_row();
            }
        });
}

/// What a what-if run changed, in the notation of its chips ("zeroed L1 H2, L1 H3; blocked
/// L1 H0 5→2"), in the UI language.
fn ablation_text(lang: Lang, a: &Ablation) -> String {
    let mut parts = Vec::new();
    if !a.heads.is_empty() {
        let heads: Vec<String> = a.heads.iter().map(HeadRef::to_string).collect();
        parts.push(format!(
            "{} {}",
            tr(lang, knockout_msg(a.mode)),
            heads.join(", ")
        ));
    }
    if !a.blocked.is_empty() {
        let edges: Vec<String> = a
            .blocked
            .iter()
            .map(|b| {
                let head = HeadRef {
                    layer: b.layer,
                    head: b.head,
                };
                format!("{head} {}→{}", b.from, b.to)
            })
            .collect();
        parts.push(format!(
            "{} {}",
            tr(lang, Msg::AblBlocked),
            edges.join(", ")
        ));
    }
    parts.join("; ")
}

/// A knock-out mode in a few words ("zeroed").
fn knockout_msg(mode: Knockout) -> Msg {
    match mode {
        Knockout::Zero => Msg::AblZeroed,
        Knockout::Mean => Msg::AblMeaned,
    }
}
