//! Translate: an encoder–decoder model (BART, Marian; the tiny translator by default) on a
//! source and a target — typed, or written by the model greedily. A grid of every head in three
//! labelled groups (encoder self-attention, decoder masked self-attention, cross-attention),
//! the focused head as a heatmap (for cross-attention the Bahdanau picture: target tokens down
//! the side, source tokens across the top) or the cross-attention aggregated over heads, an
//! alignment view (source above, target below), and the translation step by step, each step's
//! written token with the cross-attention row that stood behind it.

use std::sync::Arc;

use eframe::egui::{self, Color32, RichText, Stroke, Vec2};
use ndarray::Array2;

use crate::app::AttnApp;
use crate::app::heatmap::{HeatImage, HeatSource, HeatmapWidget, TexKey};
use crate::app::i18n::{Lang, Msg, tr, trf};
use crate::app::state::TranslateState;
use crate::app::translate::TranslateOut;
use crate::export::matrix::MatrixKind;
use crate::model::seq2seq::{Aggregate, AttnKind};

use super::generate::MARK;

/// Side of a head's thumbnail in the grid (points).
const THUMB: f32 = 46.0;
/// Width of the left column (inputs' tokens, grid, steps).
const LEFT_W: f32 = 400.0;

/// Draws the view.
pub fn ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    inputs_ui(app, ui);
    if let Some(e) = &app.translator.error {
        ui.colored_label(ui.visuals().error_fg_color, e.text(lang));
    }
    let Some(out) = app.translator.out.clone() else {
        if app.translator.busy() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(t(Msg::TrLoading));
            });
        } else if app.translator.model.is_none() {
            ui.label(t(Msg::TrNoModel));
        }
        return;
    };
    tokens_ui(app, ui, &out);
    ui.separator();
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_width(LEFT_W);
            egui::ScrollArea::vertical()
                .id_salt("translate_left")
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    step_ui(app, ui, &out);
                    ui.separator();
                    grid_ui(app, ui, &out);
                    ui.separator();
                    stepthrough_ui(app, ui, &out);
                });
        });
        ui.separator();
        ui.vertical(|ui| focus_ui(app, ui, &out));
    });
}

/// The model's name, the source and target boxes, and what the target means.
fn inputs_ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    ui.horizontal(|ui| {
        if let Some(m) = &app.translator.model {
            let (el, eh, dl, dh) = m.shape();
            ui.label(RichText::new(&m.name).strong());
            ui.label(
                RichText::new(format!(
                    "{} · {} {el}×{eh} · {} {dl}×{dh} · d {}",
                    m.config.model_type,
                    t(Msg::TrEncoder),
                    t(Msg::TrDecoder),
                    m.config.d_model
                ))
                .weak(),
            );
        }
        if app.translator.busy() {
            ui.spinner();
        }
    });
    let tr_ = &mut app.state.tr;
    egui::Grid::new("translate_inputs")
        .num_columns(2)
        .show(ui, |ui| {
            let l = ui.label(t(Msg::TrSource));
            ui.add(egui::TextEdit::singleline(&mut tr_.source).desired_width(420.0))
                .labelled_by(l.id);
            ui.end_row();
            let l = ui.label(t(Msg::TrTarget));
            ui.add(
                egui::TextEdit::singleline(&mut tr_.target)
                    .desired_width(420.0)
                    .hint_text(t(Msg::TrTargetHint)),
            )
            .labelled_by(l.id);
            ui.end_row();
        });
    // The sample knows dates and numbers only: say so, and offer what it was trained on (any
    // other text comes out as confident nonsense, which is a lesson too, but not a surprise).
    let is_sample = app
        .translator
        .model
        .as_ref()
        .is_some_and(|m| m.dir.file_name().is_some_and(|n| n == "tiny-translator"));
    if is_sample {
        ui.horizontal_wrapped(|ui| {
            // Out-of-domain text gets confident nonsense: said where a class sees it.
            ui.colored_label(ui.visuals().warn_fg_color, t(Msg::TrSampleKnows));
            for example in TRANSLATOR_EXAMPLES {
                if ui.small_button(example).clicked() {
                    app.state.tr.source = example.to_owned();
                    app.state.tr.target.clear();
                }
            }
        });
    }
}

/// Inputs of the kinds the tiny translator was trained on (its README).
const TRANSLATOR_EXAMPLES: [&str; 5] = [
    "March 5, 2021",
    "5 March 2021",
    "three hundred and twelve",
    "forty-two",
    "one thousand and five",
];

/// Both token lists, and the translation when the model wrote it.
fn tokens_ui(app: &mut AttnApp, ui: &mut egui::Ui, out: &TranslateOut) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let run = &out.run;
    let step = app.state.tr.step;
    let chips = |ui: &mut egui::Ui, name: Msg, labels: &[String], mark: Option<usize>| {
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(t(name)).weak());
            ui.spacing_mut().item_spacing.x = 3.0;
            for (i, l) in labels.iter().enumerate() {
                let text = RichText::new(l).monospace();
                let text = if Some(i) == mark {
                    text.background_color(Color32::from_rgb(255, 220, 120))
                        .color(Color32::BLACK)
                } else {
                    text
                };
                ui.label(text).on_hover_text(format!("#{i}"));
            }
        });
    };
    let (rows, cols) = run.labels(AttnKind::Cross);
    chips(ui, Msg::TrSourceTokens, &cols, None);
    chips(ui, Msg::TrDecoderInputs, &rows, Some(step));
    if let Some(tr_) = &out.translation {
        ui.label(
            RichText::new(format!("{} {}", t(Msg::TrTranslation), tr_.text))
                .strong()
                .size(18.0),
        );
        ui.label(RichText::new(t(Msg::TrGreedy)).weak().small());
    } else {
        ui.label(RichText::new(t(Msg::TrTeacher)).weak().small());
    }
    let target = match &out.translation {
        Some(tr_) => tr_.text.clone(),
        None => app.state.tr.target.clone(),
    };
    if ui
        .button(t(Msg::TrCompareToy))
        .on_hover_text(t(Msg::TrCompareToyTip))
        .clicked()
    {
        app.push(crate::app::Command::CompareWithToy {
            target,
            source: app.state.tr.source.clone(),
        });
    }
}

/// The step slider: decoder row i reads token i and writes the next; in a greedy
/// translation, the token written, its probability and the runners-up; and where the row
/// looked in the source.
fn step_ui(app: &mut AttnApp, ui: &mut egui::Ui, out: &TranslateOut) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let run = &out.run;
    let n = run.target.len();
    if n == 0 {
        return;
    }
    let tr_ = &mut app.state.tr;
    tr_.step = tr_.step.min(n - 1);
    ui.horizontal(|ui| {
        let l = ui.label(RichText::new(t(Msg::TrStep)).strong());
        ui.add(egui::Slider::new(&mut tr_.step, 0..=n - 1))
            .labelled_by(l.id);
        if ui.button("◀").clicked() {
            tr_.step = tr_.step.saturating_sub(1);
        }
        if ui.button("▶").clicked() {
            tr_.step = (tr_.step + 1).min(n - 1);
        }
    });
    let i = tr_.step;
    let (rows, cols) = run.labels(AttnKind::Cross);
    let tok = |id: u32| {
        app.translator
            .model
            .as_ref()
            .map_or_else(String::new, |m| m.tokenizer.id_to_token(id))
    };
    match out.translation.as_ref().and_then(|tr_| tr_.steps.get(i)) {
        Some(st) => {
            ui.label(
                RichText::new(format!(
                    "{} «{}» → {} «{}»  p = {}",
                    t(Msg::TrReads),
                    rows[i],
                    t(Msg::TrWrites),
                    tok(st.id),
                    prob(st.p)
                ))
                .strong(),
            );
            top_bars(ui, &st.top[..st.top.len().min(4)], st.id, &tok);
        }
        None => {
            // Teacher forcing: the typed next token's probability and rank, and what the
            // model would have written instead.
            let forced = out.forced.get(i);
            let said = forced.map_or_else(String::new, |f| {
                format!(
                    "  p = {} · {}",
                    prob(f.p),
                    trf(lang, Msg::TrForcedRank, &[&f.rank])
                )
            });
            ui.label(
                RichText::new(format!(
                    "{} «{}» → {} «{}»{said}",
                    t(Msg::TrReads),
                    rows[i],
                    t(Msg::TrPredicts),
                    rows.get(i + 1).map_or("</s>", String::as_str)
                ))
                .strong(),
            );
            if let Some(f) = forced {
                ui.label(RichText::new(t(Msg::TrForcedTop)).weak());
                top_bars(ui, &f.top, f.next, &tok);
            }
        }
    }
    // The row of the cross-attention in focus (one head, or the aggregate).
    let (values, what) = cross_in_focus(app);
    let Some(values) = values else { return };
    ui.label(RichText::new(format!("{} ({what})", t(Msg::TrCrossRow))).weak());
    let row = values.row(i.min(values.nrows().saturating_sub(1)));
    cross_row_ui(ui, row.as_slice().unwrap_or(&[]), &cols);
}

/// A probability as the step panel prints it: three decimals, and a small one in scientific
/// notation (a typed token ranked second read p = 0.000).
fn prob(p: f32) -> String {
    if p >= 0.001 || p == 0.0 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

/// The most likely tokens as bars with their probabilities, `marked` (the token written, or
/// the one typed) in orange.
fn top_bars(ui: &mut egui::Ui, top: &[(u32, f32)], marked: u32, tok: &dyn Fn(u32) -> String) {
    for &(id, p) in top {
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("{:>6}", tok(id))).monospace());
            let bar = egui::ProgressBar::new(p).desired_width(200.0);
            ui.add(if id == marked { bar.fill(MARK) } else { bar });
            ui.label(RichText::new(prob(p)).monospace().small());
        });
    }
}

/// One cross-attention row as bars over the source tokens (the largest in orange), the
/// tokens under them; hover gives the number.
fn cross_row_ui(ui: &mut egui::Ui, row: &[f32], cols: &[String]) {
    let n = row.len().min(cols.len());
    if n == 0 {
        return;
    }
    let w = ui.available_width().min(LEFT_W);
    let (rect, resp) = ui.allocate_exact_size(Vec2::new(w, 96.0), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let text_color = ui.visuals().text_color();
    let slot = rect.width() / n as f32;
    let base = rect.bottom() - 18.0;
    let best = row.iter().copied().fold(0.0f32, f32::max);
    // Where the last label drawn ends: a label that would run into it is left out (hover
    // still names every token); 26 source tokens in 330 points ran "<s>t" together.
    let mut label_end = f32::NEG_INFINITY;
    for (j, &p) in row.iter().take(n).enumerate() {
        let x = rect.left() + j as f32 * slot;
        let bar = egui::Rect::from_min_max(
            egui::pos2(
                x + slot * 0.15,
                base - p.clamp(0.0, 1.0) * (base - rect.top() - 12.0),
            ),
            egui::pos2(x + slot * 0.85, base),
        );
        let fill = if p == best {
            MARK
        } else {
            ui.visuals().selection.bg_fill
        };
        painter.rect_filled(bar, 1.0, fill);
        if p >= 0.1 {
            painter.text(
                egui::pos2(bar.center().x, bar.top() - 1.0),
                egui::Align2::CENTER_BOTTOM,
                format!("{p:.2}"),
                egui::FontId::proportional(9.0),
                text_color,
            );
        }
        // The end tokens (<s>, </s>) are wider than a slot: keep them inside the strip.
        let (at, align) = match j {
            0 => (x, egui::Align2::LEFT_BOTTOM),
            _ if j + 1 == n => (x + slot, egui::Align2::RIGHT_BOTTOM),
            _ => (x + slot * 0.5, egui::Align2::CENTER_BOTTOM),
        };
        let galley =
            painter.layout_no_wrap(cols[j].clone(), egui::FontId::monospace(12.0), text_color);
        let place = align.anchor_size(egui::pos2(at, rect.bottom()), galley.size());
        if place.left() >= label_end + 2.0 {
            label_end = place.right();
            painter.galley(place.min, galley, text_color);
        }
    }
    if let Some(pos) = resp.hover_pos() {
        let j = (((pos.x - rect.left()) / slot) as usize).min(n - 1);
        resp.on_hover_text(format!("«{}» #{j}: {:.4}", cols[j], row[j]));
    }
}

/// The focused head's row, step by step, as the core computes it on the head's real Q, K and
/// V (for a cross head: Q from the decoder, K and V from the encoder output), through the
/// model's scaled dot product or another score function (the lab).
fn stepthrough_ui(app: &mut AttnApp, ui: &mut egui::Ui, out: &TranslateOut) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let s = app.state.tr.clone();
    if s.aggregate.is_some() {
        return;
    }
    let (group, _) = kind_msgs(s.kind);
    ui.label(
        RichText::new(format!(
            "{} · {} {} · {} {}",
            t(Msg::TrStepThrough),
            t(Msg::Layer),
            s.layer,
            t(Msg::Head),
            s.head
        ))
        .strong(),
    );
    ui.label(RichText::new(t(group)).weak().small());
    ui.horizontal(|ui| {
        let l = ui.label(t(Msg::Score));
        egui::ComboBox::from_id_salt("translate_score")
            .selected_text(t(crate::app::describe::score_msg(s.score)))
            .show_ui(ui, |ui| {
                for k in crate::core::ScoreKind::ALL {
                    ui.selectable_value(
                        &mut app.state.tr.score,
                        k,
                        t(crate::app::describe::score_msg(k)),
                    );
                }
            })
            .response
            .labelled_by(l.id);
    });
    let Some(trace) = app.translate_lab_trace() else {
        ui.spinner();
        return;
    };
    let Some(h) = trace.head_traces.first() else {
        return;
    };
    let i = match s.kind {
        AttnKind::Encoder => 0,
        _ => s.step.min(h.weights.nrows().saturating_sub(1)),
    };
    let (rows, cols) = (&trace.tokens_q, &trace.tokens_k);
    let f = |step| crate::app::describe::formula(step, &trace, lang);
    use crate::core::Step;
    let q_src = if s.kind == AttnKind::Cross {
        t(Msg::TrQFromDecoder)
    } else {
        t(Msg::TrQkvSame)
    };
    ui.label(RichText::new(q_src).small());
    let dims = |v: ndarray::ArrayView1<f32>| {
        let shown: Vec<String> = v.iter().take(6).map(|x| format!("{x:.3}")).collect();
        let more = if v.len() > 6 { ", …" } else { "" };
        format!("[{}{more}]", shown.join(", "))
    };
    ui.label(
        RichText::new(format!(
            "q{i} («{}») = {}",
            rows.get(i).map_or("", String::as_str),
            dims(h.q.row(i))
        ))
        .monospace()
        .small(),
    );
    for step in [Step::Scores, Step::Scale, Step::Mask, Step::Softmax] {
        ui.label(RichText::new(f(step)).monospace().small());
    }
    egui::Grid::new("translate_arith")
        .striped(true)
        .num_columns(4)
        .show(ui, |ui| {
            for head in ["j", "sᵢⱼ", "s′ᵢⱼ", "pᵢⱼ"] {
                ui.label(RichText::new(head).small().strong());
            }
            ui.end_row();
            for (j, c) in cols.iter().enumerate() {
                let p = h.weights[[i, j]];
                ui.label(RichText::new(format!("{j} «{c}»")).monospace().small());
                ui.label(RichText::new(format!("{:.3}", h.raw_scores[[i, j]])).small());
                let z = h.logits[[i, j]];
                ui.label(
                    RichText::new(if z.is_finite() {
                        format!("{z:.3}")
                    } else {
                        "−∞".into()
                    })
                    .small(),
                );
                let text = RichText::new(format!("{p:.3}")).small();
                ui.label(if p >= 0.3 {
                    text.strong().color(MARK)
                } else {
                    text
                });
                ui.end_row();
            }
        });
    ui.label(RichText::new(f(Step::WeightedSum)).monospace().small());
    ui.label(
        RichText::new(format!("o{i} = {}", dims(h.context.row(i))))
            .monospace()
            .small(),
    );
    // How far this score function's row is from the model's own.
    if let Some(model) = out.run.probs(s.kind, s.layer, s.head) {
        let d = h
            .weights
            .row(i)
            .iter()
            .zip(model.row(i))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let msg = if s.score == crate::core::ScoreKind::ScaledDot {
            format!("{} (max |Δp| = {d:.1e})", t(Msg::TrSameAsModel))
        } else {
            format!("{} max |Δp| = {d:.3}", t(Msg::TrVsModel))
        };
        ui.label(RichText::new(msg).small().weak());
    }
}

/// What the focused matrix is: the attention kind, layer and head, or the aggregate.
pub fn title(lang: Lang, s: &TranslateState) -> String {
    let t = |m| tr(lang, m);
    match s.aggregate {
        Some(a) => format!("{} · {}", t(Msg::TrCrossGroup), t(agg_msg(a))),
        None => format!(
            "{} · {} {} · {} {}",
            t(kind_msgs(s.kind).0),
            t(Msg::Layer),
            s.layer,
            t(Msg::Head),
            s.head
        ),
    }
}

/// The cross-attention matrix the alignment views show: the focused cross head, or the
/// chosen aggregate (mean over all heads when the focus is on a self-attention head), and
/// its name.
fn cross_in_focus(app: &mut AttnApp) -> (Option<Arc<Array2<f32>>>, String) {
    let lang = app.lang();
    let s = &app.state.tr;
    if s.kind == AttnKind::Cross && s.aggregate.is_none() {
        let (l, h) = (s.layer, s.head);
        let m = app
            .translator
            .out
            .as_ref()
            .and_then(|o| o.run.probs(AttnKind::Cross, l, h).cloned())
            .map(Arc::new);
        return (
            m,
            format!("{} {l} · {} {h}", tr(lang, Msg::Layer), tr(lang, Msg::Head)),
        );
    }
    let agg = s.aggregate.unwrap_or(Aggregate::Mean);
    (
        app.translator.aggregate(agg),
        tr(lang, agg_msg(agg)).to_owned(),
    )
}

fn agg_msg(a: Aggregate) -> Msg {
    match a {
        Aggregate::Mean => Msg::TrAggMean,
        Aggregate::Max => Msg::TrAggMax,
        Aggregate::LastLayerMean => Msg::TrAggLast,
    }
}

fn kind_msgs(kind: AttnKind) -> (Msg, Msg) {
    match kind {
        AttnKind::Encoder => (Msg::TrEncoderGroup, Msg::TrFormulaEncoder),
        AttnKind::Decoder => (Msg::TrDecoderGroup, Msg::TrFormulaDecoder),
        AttnKind::Cross => (Msg::TrCrossGroup, Msg::TrFormulaCross),
    }
}

/// Every head in three labelled groups, a row per layer; a click focuses a head. The cross
/// group also offers its aggregates.
fn grid_ui(app: &mut AttnApp, ui: &mut egui::Ui, out: &TranslateOut) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let gen_ = app.translator.run_generation();
    let ctx = ui.ctx().clone();
    for kind in AttnKind::ALL {
        let (group, _) = kind_msgs(kind);
        ui.label(RichText::new(t(group)).strong());
        // The heads' numbers over their columns (a layer's label, "L0", is as wide as "  ").
        let heads = out
            .run
            .layers(kind)
            .first()
            .map_or(0, |layer| layer.heads.len());
        ui.horizontal(|ui| {
            ui.label(RichText::new("  ").monospace());
            for h in 0..heads {
                ui.add_sized(
                    Vec2::new(THUMB, 12.0),
                    egui::Label::new(
                        RichText::new(format!("{} {h}", t(Msg::Head)))
                            .small()
                            .weak(),
                    ),
                );
            }
        });
        for (l, layer) in out.run.layers(kind).iter().enumerate() {
            ui.horizontal(|ui| {
                ui.label(RichText::new(format!("L{l}")).monospace().weak());
                for cap in &layer.heads {
                    let h = cap.head;
                    let key = TexKey::Translate {
                        run: gen_,
                        kind,
                        layer: l,
                        head: h,
                        aggregate: None,
                    };
                    let (tex, _) = app.textures.matrix_with(
                        &ctx,
                        key,
                        || grey_where_masked(kind, &cap.probs),
                        MatrixKind::Weights,
                        app.state.colormap,
                    );
                    let (nq, nk) = cap.probs.dim();
                    let aspect = nk.max(1) as f32 / nq.max(1) as f32;
                    let size = if aspect >= 1.0 {
                        Vec2::new(THUMB, THUMB / aspect)
                    } else {
                        Vec2::new(THUMB * aspect, THUMB)
                    };
                    let resp = ui
                        .add(
                            egui::Image::new(&tex)
                                .fit_to_exact_size(size)
                                .sense(egui::Sense::click()),
                        )
                        .on_hover_text(format!(
                            "{} · {} {l} · {} {h}",
                            t(group),
                            t(Msg::Layer),
                            t(Msg::Head)
                        ));
                    let s = &app.state.tr;
                    if s.kind == kind && s.layer == l && s.head == h && s.aggregate.is_none() {
                        ui.painter().rect_stroke(
                            resp.rect.expand(2.0),
                            2.0,
                            Stroke::new(2.0, MARK),
                            egui::StrokeKind::Outside,
                        );
                    }
                    if resp.clicked() {
                        let s = &mut app.state.tr;
                        (s.kind, s.layer, s.head, s.aggregate) = (kind, l, h, None);
                    }
                }
            });
        }
    }
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(t(Msg::TrAggregate)).weak());
        for a in Aggregate::ALL {
            let on = app.state.tr.aggregate == Some(a);
            if ui.selectable_label(on, t(agg_msg(a))).clicked() {
                let s = &mut app.state.tr;
                s.kind = AttnKind::Cross;
                s.aggregate = Some(a);
            }
        }
    });
}

/// The focused matrix: what it is and how it is computed, its heatmap, and the alignment
/// lines of the cross-attention.
fn focus_ui(app: &mut AttnApp, ui: &mut egui::Ui, out: &TranslateOut) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let s = app.state.tr.clone();
    let (_, formula) = kind_msgs(s.kind);
    ui.label(RichText::new(title(lang, &s)).strong().size(16.0));
    ui.label(t(formula));
    let dk = app.translator.model.as_ref().map_or(0, |m| {
        m.config.d_model / m.config.decoder_attention_heads.max(1)
    });
    let (rows, cols) = out.run.labels(s.kind);
    let cross = s.kind == AttnKind::Cross || s.aggregate.is_some();
    let rows = if cross { writing_rows(&rows) } else { rows };
    ui.label(
        RichText::new(format!(
            "softmax(Q·Kᵀ / √{dk}) · V   ·   Q: {} × {dk}, K, V: {} × {dk}   ·   {}",
            rows.len(),
            cols.len(),
            formula_note(lang, s.kind)
        ))
        .monospace()
        .small(),
    );
    let agg_arc;
    let values: &Array2<f32> = match s.aggregate {
        Some(a) => {
            let Some(m) = app.translator.aggregate(a) else {
                return;
            };
            agg_arc = m;
            &agg_arc
        }
        None => {
            let Some(p) = out.run.probs(s.kind, s.layer, s.head) else {
                return;
            };
            p
        }
    };
    let key = TexKey::Translate {
        run: app.translator.run_generation(),
        kind: s.kind,
        layer: if s.aggregate.is_some() { 0 } else { s.layer },
        head: if s.aggregate.is_some() { 0 } else { s.head },
        aggregate: s.aggregate,
    };
    let kind = if s.aggregate.is_some() {
        AttnKind::Cross
    } else {
        s.kind
    };
    let allowed = kind.allowed(values.dim());
    let (tex, range) = app.textures.matrix_with(
        ui.ctx(),
        key,
        || grey_where_masked(kind, values),
        MatrixKind::Weights,
        app.state.colormap,
    );
    let src = HeatSource::Whole(tex);
    let avail = ui.available_size();
    let heat_h = (avail.y * 0.62).max(160.0);
    let selected_row = if s.kind == AttnKind::Encoder {
        0
    } else {
        s.step
    };
    let clicked = ui
        .allocate_ui(Vec2::new(avail.x, heat_h), |ui| {
            HeatmapWidget {
                id: "translate_heatmap",
                image: HeatImage::of(&src, &mut app.textures),
                range,
                values,
                head: None,
                allowed: allowed.as_ref(),
                rows: &rows,
                cols: &cols,
                cmap: MatrixKind::Weights.colormap(app.state.colormap),
                selected: (selected_row, 0),
                mark_cell: false,
                show_values: app.state.show_values,
                zoom: 1.0,
                lang,
            }
            .ui(ui)
        })
        .inner;
    if let Some((i, _)) = clicked
        && s.kind != AttnKind::Encoder
    {
        app.state.tr.step = i;
    }
    ui.separator();
    alignment_ui(app, ui, out);
}

/// The cross-attention's rows named by the token each one writes ("→3"): row i reads
/// decoder input i and writes the next one (the last writes </s>). Bahdanau's picture
/// reads "writing 3, it looks at March"; labelled by the token read, every row was one off.
pub(crate) fn writing_rows(read: &[String]) -> Vec<String> {
    (0..read.len())
        .map(|i| format!("→{}", read.get(i + 1).map_or("</s>", String::as_str)))
        .collect()
}

/// What the mask is for each kind, in a few words.
fn formula_note(lang: Lang, kind: AttnKind) -> &'static str {
    tr(
        lang,
        match kind {
            AttnKind::Encoder => Msg::TrNoteEncoder,
            AttnKind::Decoder => Msg::TrNoteDecoder,
            AttnKind::Cross => Msg::TrNoteCross,
        },
    )
}

/// Source tokens along the top, target tokens along the bottom, a line from each target
/// token to each source token it attends to, as strong as the weight (the focused step's
/// lines in orange).
fn alignment_ui(app: &mut AttnApp, ui: &mut egui::Ui, out: &TranslateOut) {
    let lang = app.lang();
    let (values, what) = cross_in_focus(app);
    let Some(values) = values else { return };
    ui.label(
        RichText::new(format!("{} ({what})", tr(lang, Msg::TrLines)))
            .weak()
            .small(),
    );
    let (rows, cols) = out.run.labels(AttnKind::Cross);
    let rows = writing_rows(&rows);
    let w = ui.available_width().max(200.0);
    let h = ui.available_height().clamp(90.0, 220.0);
    let (rect, _) = ui.allocate_exact_size(Vec2::new(w, h), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let text_color = ui.visuals().text_color();
    let font = egui::FontId::monospace(13.0);
    let x_of = |k: usize, n: usize| rect.left() + (k as f32 + 0.5) * rect.width() / n.max(1) as f32;
    let (top, bottom) = (rect.top() + 18.0, rect.bottom() - 18.0);
    let step = app.state.tr.step;
    for (i, row) in values.rows().into_iter().enumerate() {
        for (j, &p) in row.iter().enumerate() {
            if p < 0.04 {
                continue;
            }
            let colour = if i == step {
                MARK.gamma_multiply(p.clamp(0.15, 1.0))
            } else {
                text_color.gamma_multiply((p * 0.8).clamp(0.05, 0.8))
            };
            painter.line_segment(
                [
                    egui::pos2(x_of(j, cols.len()), top + 2.0),
                    egui::pos2(x_of(i, rows.len()), bottom - 2.0),
                ],
                Stroke::new(0.5 + 3.0 * p, colour),
            );
        }
    }
    for (j, c) in cols.iter().enumerate() {
        painter.text(
            egui::pos2(x_of(j, cols.len()), rect.top()),
            egui::Align2::CENTER_TOP,
            c,
            font.clone(),
            text_color,
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let colour = if i == step { MARK } else { text_color };
        painter.text(
            egui::pos2(x_of(i, rows.len()), rect.bottom()),
            egui::Align2::CENTER_BOTTOM,
            r,
            font.clone(),
            colour,
        );
    }
}

/// A head's weights as drawn: the decoder self-attention's masked cells (keys after the
/// token) grey, as in every other heatmap, not as weight 0.
fn grey_where_masked(kind: AttnKind, probs: &Array2<f32>) -> Array2<f32> {
    match kind.allowed(probs.dim()) {
        Some(allowed) => crate::app::heatmap::masked_as_such(probs, &allowed),
        None => probs.clone(),
    }
}

#[cfg(test)]
mod tests {
    /// Each cross-attention row is named by the token it writes: the one after the token it
    /// reads, and </s> after the last.
    #[test]
    fn rows_are_named_by_the_token_they_write() {
        let read: Vec<String> = ["</s>", "2", "0"].map(String::from).to_vec();
        assert_eq!(super::writing_rows(&read), ["→2", "→0", "→</s>"]);
    }
}
