//! Generate: the model writes after the input text, token by token; a scrubber picks a step,
//! which shows the next-token distribution (the chosen token marked, with its rank) and the
//! new token's attention row in every layer and head, and where the focused head looked.

use std::sync::atomic::Ordering;

use eframe::egui::{self, Color32, RichText, Vec2};

use crate::app::heatmap::TexKey;
use crate::app::i18n::{Msg, tr};
use crate::app::{AttnApp, Command};
use crate::export::matrix::MatrixKind;

/// Draws the view.
pub fn ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let can = app.model.as_ref().is_some_and(|m| m.model.can_generate());
    if !can {
        ui.label(t(Msg::GenNeedsCausal));
        return;
    }
    let running = app
        .generation
        .as_ref()
        .is_some_and(|g| !g.done.load(Ordering::Relaxed));
    ui.horizontal_wrapped(|ui| {
        let s = &mut app.state;
        ui.label(t(Msg::GenMaxNew));
        ui.add(egui::DragValue::new(&mut s.gen_max_new).range(1..=512));
        ui.label(t(Msg::GenTemperature));
        ui.add(
            egui::DragValue::new(&mut s.gen_temperature)
                .range(0.0..=5.0)
                .speed(0.05),
        );
        ui.label("top-k");
        ui.add(egui::DragValue::new(&mut s.gen_top_k).range(0..=1000));
        ui.label("top-p");
        ui.add(
            egui::DragValue::new(&mut s.gen_top_p)
                .range(0.01..=1.0)
                .speed(0.01),
        );
        ui.label(t(Msg::GenSeed));
        ui.add(egui::DragValue::new(&mut s.gen_seed));
        if ui
            .add_enabled(!running, egui::Button::new(t(Msg::GenStart)))
            .clicked()
        {
            app.push(Command::Generate);
        }
        if running && ui.button(t(Msg::CancelRun)).clicked() {
            app.push(Command::CancelGeneration);
        }
    });
    let Some(gen_) = app.generation.clone() else {
        ui.label(RichText::new(t(Msg::GenHint)).weak());
        return;
    };
    if let Ok(e) = gen_.error.lock()
        && let Some(e) = e.as_ref()
    {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    // Only the step on screen is copied out (a long run holds every step's attention rows).
    let n_steps = gen_.len();
    let labels = gen_.labels.lock().map(|l| l.clone()).unwrap_or_default();
    let n_prompt = gen_.prompt_ids.len();
    if running {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(format!("{} {n_steps}", t(Msg::GenWriting)));
        });
    }
    if n_steps == 0 {
        return;
    }
    // `usize::MAX` follows the newest token (a new run starts there); the scrubber and the
    // arrows pick a step.
    let step_i = app.state.gen_step.min(n_steps - 1);
    ui.horizontal(|ui| {
        ui.label(t(Msg::GenStep));
        if ui.button("◀").clicked() && step_i > 0 {
            app.state.gen_step = step_i - 1;
        }
        let mut v = step_i;
        if ui.add(egui::Slider::new(&mut v, 0..=n_steps - 1)).changed() {
            app.state.gen_step = v;
        }
        if ui.button("▶").clicked() && step_i + 1 < n_steps {
            app.state.gen_step = step_i + 1;
        }
    });
    let Some(step) = gen_.steps.lock().ok().and_then(|s| s.get(step_i).cloned()) else {
        return;
    };
    let step = &step;
    // The text: prompt, generated tokens up to this step (the step's token framed).
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing = egui::vec2(0.0, 2.0);
        for (i, l) in labels.iter().enumerate().take(n_prompt + step_i + 1) {
            let text = RichText::new(l.replace('\n', "⏎"));
            let text = if i < n_prompt {
                text.weak()
            } else if i == n_prompt + step_i {
                text.strong()
                    .background_color(Color32::from_rgb(255, 220, 120))
                    .color(Color32::BLACK)
            } else {
                text.strong()
            };
            ui.label(text);
        }
    });
    ui.separator();
    ui.columns(2, |cols| {
        // The distribution: the top tokens as bars, the chosen one marked.
        let ui = &mut cols[0];
        ui.label(
            RichText::new(format!(
                "{}: «{}» · p = {:.3} · {} {}",
                t(Msg::GenChosen),
                labels.get(n_prompt + step_i).map_or("", String::as_str),
                step.logprob.exp(),
                t(Msg::GenRank),
                step.rank + 1
            ))
            .strong(),
        );
        let tok = |id: u32| {
            app.model
                .as_ref()
                .map_or_else(String::new, |m| m.model.tokenizer.decode(&[id]))
        };
        for &(id, p) in &step.top {
            let chosen = id == step.id;
            ui.horizontal(|ui| {
                let label = format!("{:>8}", tok(id).replace('\n', "⏎"));
                ui.label(if chosen {
                    RichText::new(label).strong().monospace()
                } else {
                    RichText::new(label).monospace()
                });
                let bar = egui::ProgressBar::new(p)
                    .desired_width(220.0)
                    .text(format!("{p:.3}"));
                ui.add(if chosen {
                    bar.fill(Color32::from_rgb(230, 120, 30))
                } else {
                    bar
                });
            });
        }
        // Where each head of the focused layer looked from the new token.
        let ui = &mut cols[1];
        let layer = app.state.layer.min(step.attention.len().saturating_sub(1));
        ui.label(
            RichText::new(format!(
                "{} {layer}: {}",
                t(Msg::Layer),
                t(Msg::GenTopSources)
            ))
            .strong(),
        );
        if let Some(rows) = step.attention.get(layer) {
            for (h, row) in rows.iter().enumerate() {
                let mut idx: Vec<usize> = (0..row.len()).collect();
                idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
                let top: Vec<String> = idx
                    .iter()
                    .take(3)
                    .map(|&j| {
                        format!(
                            "«{}» {:.2}",
                            labels.get(j).map_or("", String::as_str).replace('\n', "⏎"),
                            row[j]
                        )
                    })
                    .collect();
                ui.label(
                    RichText::new(format!("{} {h}: {}", t(Msg::Head), top.join(", "))).small(),
                );
            }
        }
    });
    ui.separator();
    // Every layer's heads: the new token's attention row over all tokens so far.
    ui.label(RichText::new(t(Msg::GenRows)).weak());
    let width = ui.available_width() - 80.0;
    egui::ScrollArea::vertical().show(ui, |ui| {
        for (l, rows) in step.attention.iter().enumerate() {
            let n = rows.first().map_or(0, Vec::len);
            let values = ndarray::Array2::from_shape_fn((rows.len(), n), |(h, j)| rows[h][j]);
            let key = TexKey::GenLayer {
                session: gen_.serial,
                step: step_i,
                layer: l,
            };
            let (tex, _) = app.textures.matrix_with(
                ui.ctx(),
                key,
                || values,
                MatrixKind::Weights,
                app.state.colormap,
            );
            ui.horizontal(|ui| {
                ui.label(RichText::new(format!("{} {l}", t(Msg::Layer))).small());
                let resp = ui.add(
                    egui::Image::new(&tex)
                        .fit_to_exact_size(Vec2::new(width, rows.len() as f32 * 7.0))
                        .sense(egui::Sense::click()),
                );
                if resp.clicked() {
                    app.push(Command::FocusLayer(l));
                }
            });
        }
    });
}
